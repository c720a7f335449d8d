/*
 * Cluster behaviour of the gossip core in the simulated network: N real
 * cores, a virtual clock, a fixed seed.  Most tests run the real crypto
 * provider (Ed25519 records, certificates against a CA bundle, sealed
 * packets); none sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/hex.h"
#include "crypto/revoke.h"
#include "crypto/seal.h"
#include "gossip/gossip.h"
#include "gossip/wire.h"
#include "simnet.h"

#define MAXN 256

struct tracker {
	size_t n;
	unsigned failed[MAXN];   /* FAILED events about node i, anywhere */
	unsigned suspect[MAXN];  /* SUSPECT events about node i */
	unsigned left[MAXN];
	unsigned reaped[MAXN];
	unsigned objects;
	struct simnet *net;
};

static void
track(void *ctx, size_t node, int64_t t, const struct gossip_event *ev)
{
	struct tracker *tr = ctx;
	size_t about;

	(void)node;
	(void)t;
	if (ev->key_id == NULL) {
		tr->objects++;
		return;
	}
	about = simnet_find(tr->net, ev->key_id);
	if (about >= MAXN)
		return;
	switch (ev->kind) {
	case GOSSIP_EV_FAILED:
		tr->failed[about]++;
		break;
	case GOSSIP_EV_SUSPECT:
		tr->suspect[about]++;
		break;
	case GOSSIP_EV_LEFT:
		tr->left[about]++;
		break;
	case GOSSIP_EV_REAPED:
		tr->reaped[about]++;
		break;
	default:
		break;
	}
}

static struct simnet *
make_net(struct tracker *tr, size_t n, bool real, double loss, uint64_t seed,
         void (*tune)(struct gossip_config *))
{
	struct simnet_config c;
	struct simnet *s;

	memset(tr, 0, sizeof(*tr));
	memset(&c, 0, sizeof(c));
	c.nodes = n;
	c.seed = seed;
	c.loss = loss;
	c.delay_min_ms = 1;
	c.delay_max_ms = 10;
	c.real_crypto = real;
	c.share_store = !real;
	c.operators = 2;
	gossip_config_default(&c.gossip, GOSSIP_PROFILE_WEFT);
	if (tune)
		tune(&c.gossip);
	c.on_event = track;
	c.ev_ctx = tr;
	assert_int_equal(simnet_new(&s, &c), 0);
	tr->net = s;
	tr->n = n;
	return s;
}

/* How many up nodes other than `about` see it in state st. */
static size_t
seen_as(struct simnet *s, size_t about, int st)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n; i++)
		if (i != about && simnet_is_up(s, i) && simnet_view(s, i, about) == st)
			k++;
	return k;
}

static size_t
up_count(struct simnet *s, size_t except)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n; i++)
		if (i != except && simnet_is_up(s, i))
			k++;
	return k;
}

/* Runs in steps until every up node but `about` sees it as st, or until
 * limit; returns the time it took (or -1). */
static int64_t
run_until_seen(struct simnet *s, size_t about, int st, int64_t limit)
{
	int64_t start = s->now;

	while (s->now - start <= limit) {
		if (seen_as(s, about, st) == up_count(s, about))
			return s->now - start;
		simnet_run_until(s, s->now + 100);
	}
	return -1;
}

static bool
all_alive(struct simnet *s)
{
	for (size_t i = 0; i < s->n; i++) {
		if (!simnet_is_up(s, i))
			continue;
		for (size_t j = 0; j < s->n; j++)
			if (simnet_is_up(s, j) && simnet_view(s, i, j) != GOSSIP_ALIVE)
				return false;
	}
	return true;
}

static void
frequent_pushpull(struct gossip_config *c)
{
	c->pushpull_interval_ms = 2000;
}

/* Between agents in sync a push-pull is two digests; after the first
 * exchange with a peer they are sparse: at 16 members about 150 bytes
 * each instead of 2.5 KB.  The state stays whole. */
static void
test_pushpull_sparse_digests(void **state)
{
	struct tracker tr;
	struct simnet *s = make_net(&tr, 16, true, 0.0, 21, frequent_pushpull);
	uint64_t b0 = 0, b1 = 0, n0 = 0, n1 = 0;

	(void)state;
	assert_int_equal(simnet_bootstrap(s, 16), 0);
	simnet_run_until(s, 20000);
	assert_true(all_alive(s));
	for (size_t i = 0; i < 16; i++) {
		b0 += gossip_get_stats(simnet_gossip(s, i))->stream_bytes_out;
		n0 += gossip_get_stats(simnet_gossip(s, i))->streams_out;
	}
	simnet_run_until(s, s->now + 60000);
	assert_true(all_alive(s));
	for (size_t i = 0; i < 16; i++) {
		b1 += gossip_get_stats(simnet_gossip(s, i))->stream_bytes_out;
		n1 += gossip_get_stats(simnet_gossip(s, i))->streams_out;
	}
	print_message("in sync: %llu stream messages, %llu bytes (%.0f each)\n",
	              (unsigned long long)(n1 - n0),
	              (unsigned long long)(b1 - b0),
	              (double)(b1 - b0) / (double)(n1 - n0));
	assert_true(n1 - n0 >= 16 * 20); /* requests and responses */
	/* Dense digests alone would be 2.5 KB a message. */
	assert_true(b1 - b0 < (n1 - n0) * 512);
	for (size_t i = 0; i < 16; i++)
		assert_int_equal(tr.failed[i], 0);
	simnet_free(s);
}

/* How many (observer, member) pairs of up nodes are not yet alive. */
static size_t
missing_pairs(struct simnet *s)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n; i++)
		for (size_t j = 0; j < s->n; j++)
			if (i != j && simnet_is_up(s, i) && simnet_is_up(s, j) &&
			    simnet_view(s, i, j) != GOSSIP_ALIVE)
				k++;
	return k;
}

/* 256 agents started at once, all through one seed (issue 5: converge
 * in under 10 s with no storm of suspicions). */
static void
test_storm_converges(void **state)
{
	struct tracker tr;
	struct simnet *s = make_net(&tr, 256, false, 0.10, 22, NULL);
	int64_t t0, conv = -1;
	size_t sus = 0;

	(void)state;
	assert_int_equal(simnet_bootstrap(s, 1), 0);
	simnet_run_until(s, 1000);
	t0 = s->now;
	/* Started over 6 s, as 256 processes spawned in a loop are: the
	 * first joiners' follow-up push-pulls come before the last ones
	 * exist, and UDP gossip alone (10% lost) must not be all that
	 * carries the late ones to them. */
	for (size_t i = 1; i < 256; i++) {
		simnet_run_until(s, t0 + (int64_t)i * 6000 / 256);
		assert_int_equal(simnet_join(s, i, 0), 0);
	}
	while (s->now - t0 <= 60000) {
		simnet_run_until(s, s->now + 250);
		if (getenv("STORM_TRACE"))
			print_message("t=%lld missing %zu seen-255 %zu\n",
			              (long long)(s->now - t0), missing_pairs(s),
			              seen_as(s, 255, GOSSIP_ALIVE));
		if (missing_pairs(s) == 0) {
			conv = s->now - t0;
			break;
		}
	}
	for (size_t i = 0; i < 256; i++)
		sus += tr.suspect[i];
	print_message("256 at once: all see all after %lld ms (%zu pairs "
	              "missing at the end), %zu suspicions\n", (long long)conv,
	              missing_pairs(s), sus);
	assert_true(conv >= 0);
	/* 8.2 s for this seed; 9.5 s without the push-pulls that follow
	 * members arriving in numbers (gossip.c, NEWS_FOLLOWUPS). */
	assert_true(conv <= 9000);
	assert_int_equal(sus, 0);
	for (size_t i = 0; i < 256; i++)
		assert_int_equal(tr.failed[i], 0);
	simnet_free(s);
}

static void
serf_timing(struct gossip_config *c)
{
	c->probe_interval_ms = 1000;
	c->probe_timeout_ms = 500;
	c->gossip_interval_ms = 200;
}

/* ms until every up node sees node 5 of 16 dead after its crash, with or
 * without the host's ICMP port unreachable for packets to it. */
static int64_t
crash_time(uint64_t seed, bool icmp, size_t *false_deaths)
{
	struct tracker tr;
	struct simnet *s;
	struct simnet_config c;
	int64_t t;

	memset(&tr, 0, sizeof(tr));
	memset(&c, 0, sizeof(c));
	c.nodes = 16;
	c.seed = seed;
	c.delay_min_ms = 1;
	c.delay_max_ms = 5;
	c.share_store = true;
	c.icmp = icmp;
	gossip_config_default(&c.gossip, GOSSIP_PROFILE_WEFT);
	serf_timing(&c.gossip);
	c.on_event = track;
	c.ev_ctx = &tr;
	assert_int_equal(simnet_new(&s, &c), 0);
	tr.net = s;
	tr.n = 16;
	assert_int_equal(simnet_bootstrap(s, 16), 0);
	/* Past the join grace: a new node suspects no one. */
	simnet_run_until(s, 15000 + (int64_t)(seed * 137 % 1000));
	simnet_crash(s, 5);
	t = run_until_seen(s, 5, GOSSIP_DEAD, 30000);
	for (size_t i = 0; i < 16; i++)
		if (i != 5)
			*false_deaths += tr.failed[i];
	simnet_free(s);
	return t;
}

/* A crashed agent on a live host is found through the ICMP port
 * unreachable its host sends back: on Serf's timing at N = 16 the crash
 * is known to all well sooner than by probe timeouts alone (issue 5: at
 * most half of Serf's 8.4 s). */
static void
test_crash_refused_sooner(void **state)
{
	int64_t with = 0, without = 0;
	size_t fd = 0;

	(void)state;
	for (uint64_t seed = 1; seed <= 8; seed++) {
		int64_t a = crash_time(seed, false, &fd);
		int64_t b = crash_time(seed, true, &fd);

		assert_true(a >= 0);
		assert_true(b >= 0);
		without += a;
		with += b;
	}
	print_message("crash known to all, mean of 8: %lld ms by timeouts, "
	              "%lld ms with ICMP refusals\n", (long long)(without / 8),
	              (long long)(with / 8));
	assert_int_equal(fd, 0);
	assert_true(with / 8 <= 4200);
	assert_true(with + 8 * 1000 <= without);
}

static void
test_join_converges(void **state)
{
	struct tracker tr;
	struct simnet *s = make_net(&tr, 50, true, 0.0, 1, NULL);
	int64_t t;

	(void)state;
	assert_int_equal(simnet_bootstrap(s, 49), 0);
	simnet_run_until(s, 5000);
	assert_true(all_alive(s));
	assert_int_equal(simnet_join(s, 49, 3), 0);
	t = run_until_seen(s, 49, GOSSIP_ALIVE, 20000);
	print_message("join known alive by all after %lld ms\n", (long long)t);
	assert_true(t >= 0);
	assert_true(t <= 5000);
	/* And the joiner knows everyone, alive. */
	simnet_run_until(s, s->now + 2000);
	assert_true(all_alive(s));
	/* Nobody suspected the newcomer for being new. */
	assert_int_equal(tr.suspect[49], 0);
	for (size_t i = 0; i < 50; i++)
		assert_int_equal(tr.failed[i], 0);
	simnet_free(s);
}

static void
test_crash_detected(void **state)
{
	struct tracker tr;
	struct simnet *s = make_net(&tr, 60, true, 0.05, 2, NULL);
	int64_t t;

	(void)state;
	assert_int_equal(simnet_bootstrap(s, 60), 0);
	simnet_run_until(s, 5000);
	simnet_crash(s, 7);
	t = run_until_seen(s, 7, GOSSIP_DEAD, 60000);
	print_message("crash known by all after %lld ms\n", (long long)t);
	assert_true(t > 0);
	/* Only the crashed node was declared dead, anywhere. */
	for (size_t i = 0; i < 60; i++)
		if (i != 7)
			assert_int_equal(tr.failed[i], 0);
	assert_int_equal(tr.failed[7], 59);
	simnet_free(s);
}

static void
test_refutation(void **state)
{
	struct tracker tr;
	struct simnet *s = make_net(&tr, 40, true, 0.0, 3, NULL);
	const struct gossip_stats *st;
	const struct gossip_record *rec;
	enum gossip_state gs;

	(void)state;
	assert_int_equal(simnet_bootstrap(s, 40), 0);
	simnet_run_until(s, 3000);
	/* Stalled long enough to miss probes, not long enough to die. */
	simnet_pause(s, 11, 2500);
	simnet_run_until(s, s->now + 10000);
	print_message("suspected %u times, refuted %llu times\n", tr.suspect[11],
	              (unsigned long long)gossip_get_stats(simnet_gossip(s, 11))->refutations);
	assert_true(tr.suspect[11] > 0);
	assert_int_equal(tr.failed[11], 0);
	st = gossip_get_stats(simnet_gossip(s, 11));
	assert_true(st->refutations >= 1);
	assert_int_equal(gossip_member_get(simnet_gossip(s, 0), simnet_id(s, 11),
	                                   &gs, &rec), 0);
	assert_int_equal(gs, GOSSIP_ALIVE);
	assert_true(rec->incarnation >= 1);
	assert_true(all_alive(s));
	simnet_free(s);
}

static void
test_leave(void **state)
{
	struct tracker tr;
	struct simnet *s = make_net(&tr, 40, true, 0.0, 4, NULL);
	int64_t t;

	(void)state;
	assert_int_equal(simnet_bootstrap(s, 40), 0);
	simnet_run_until(s, 3000);
	assert_int_equal(simnet_leave(s, 5), 0);
	simnet_run_until(s, s->now + 1000);
	simnet_crash(s, 5); /* the process exits after its leave went out */
	t = run_until_seen(s, 5, GOSSIP_LEFT, 10000);
	assert_true(t >= 0);
	assert_int_equal(tr.left[5], 39);
	simnet_run_until(s, s->now + 30000);
	assert_int_equal(tr.failed[5], 0);
	assert_int_equal(seen_as(s, 5, GOSSIP_LEFT), 39);
	simnet_free(s);
}

static void
short_timers(struct gossip_config *c)
{
	c->reap_after_ms = 20000;
	c->reconnect_interval_ms = 2000;
	c->tombstone_ttl_ms = 30000;
}

static void
test_partition_heal(void **state)
{
	struct tracker tr;
	struct simnet *s = make_net(&tr, 50, true, 0.0, 5, NULL);
	int group[50];

	(void)state;
	assert_int_equal(simnet_bootstrap(s, 50), 0);
	simnet_run_until(s, 3000);
	for (size_t i = 0; i < 50; i++)
		group[i] = i < 25 ? 0 : 1;
	simnet_partition(s, group);
	simnet_run_until(s, s->now + 60000);
	/* Each side declared the other dead. */
	assert_int_equal(simnet_view(s, 0, 30), GOSSIP_DEAD);
	assert_int_equal(simnet_view(s, 30, 0), GOSSIP_DEAD);
	assert_int_equal(simnet_view(s, 0, 1), GOSSIP_ALIVE);
	simnet_heal(s);
	{
		int64_t t0 = s->now;

		for (int i = 0; i < 120 && !all_alive(s); i++)
			simnet_run_until(s, s->now + 1000);
		print_message("healed in %lld ms\n", (long long)(s->now - t0));
	}
	assert_true(all_alive(s));
	simnet_free(s);
}

static void
test_reaping(void **state)
{
	struct tracker tr;
	struct simnet *s = make_net(&tr, 30, true, 0.0, 6, short_timers);

	(void)state;
	assert_int_equal(simnet_bootstrap(s, 30), 0);
	simnet_run_until(s, 3000);
	simnet_crash(s, 9);
	assert_true(run_until_seen(s, 9, GOSSIP_DEAD, 60000) >= 0);
	assert_int_equal(seen_as(s, 9, -1), 0);
	simnet_run_until(s, s->now + 25000);
	/* Forgotten everywhere, and not brought back by push-pull. */
	assert_int_equal(seen_as(s, 9, -1), 29);
	assert_int_equal(tr.reaped[9], 29);
	simnet_run_until(s, s->now + 60000);
	assert_int_equal(seen_as(s, 9, -1), 29);
	for (size_t i = 0; i < 30; i++)
		assert_int_equal(gossip_member_count(simnet_gossip(s, i == 9 ? 0 : i),
		                                     GOSSIP_ALIVE), 29);
	simnet_free(s);
}

static int64_t
abs_now(const struct simnet *s)
{
	return SIMNET_T0 + s->now;
}

static void
test_revocation(void **state)
{
	struct tracker tr;
	struct simnet *s = make_net(&tr, 30, true, 0.0, 7, NULL);
	uint8_t *rv, *msg;
	size_t rv_len, len, clen;
	char hex[KEY_ID_HEX_LEN + 1];
	uint64_t drops = 0;
	struct gossip *g0;
	const uint8_t *cert;

	(void)state;
	assert_int_equal(simnet_bootstrap(s, 30), 0);
	simnet_run_until(s, 3000);
	g0 = simnet_gossip(s, 0);
	key_id_hex(hex, simnet_id(s, 9));
	assert_int_equal(revoke_create(simnet_id(s, 9), SIMNET_T0 / 1000,
	                               SIMNET_T0 / 1000 + 86400, "stolen laptop",
	                               &s->ca, &rv, &rv_len), 0);
	/* A statement from a CA outside the bundle is refused, whoever
	 * carries it in. */
	{
		struct key_pair rogue;
		uint8_t *bad;
		size_t bad_len;

		assert_int_equal(key_generate(&rogue, KEY_KIND_CA,
		                              &key_system_rng), 0);
		assert_int_equal(revoke_create(simnet_id(s, 9), SIMNET_T0 / 1000,
		                               SIMNET_T0 / 1000 + 86400, "forged",
		                               &rogue, &bad, &bad_len), 0);
		cert = simnet_cert(s, 0, &clen);
		assert_int_equal(gossip_object_make(simnet_key(s, 0), cert, clen,
		                                    GOSSIP_OBJ_REVOCATION, hex,
		                                    gossip_hlc_next(g0, abs_now(s)),
		                                    false, bad, bad_len, &msg,
		                                    &len), 0);
		assert_int_not_equal(gossip_object_put(g0, abs_now(s), msg, len), 0);
		free(msg);
		free(bad);
	}
	assert_false(gossip_is_revoked(g0, simnet_id(s, 9)));
	/* The CA's statement, carried in by a member (as `weft revoke apply`
	 * does through its agent), is accepted and spreads. */
	assert_int_equal(gossip_object_make(simnet_key(s, 0), cert, clen,
	                                    GOSSIP_OBJ_REVOCATION, hex,
	                                    gossip_hlc_next(g0, abs_now(s)),
	                                    false, rv, rv_len, &msg, &len), 0);
	assert_int_equal(gossip_object_put(g0, abs_now(s), msg, len), 0);
	free(msg);
	free(rv);
	simnet_run_until(s, s->now + 10000);
	for (size_t i = 0; i < 30; i++) {
		if (i == 9)
			continue;
		assert_true(gossip_is_revoked(simnet_gossip(s, i), simnet_id(s, 9)));
		assert_int_equal(simnet_view(s, i, 9), -1);
	}
	/* Node 9 keeps talking; its packets are dropped before parsing and
	 * its record is refused by push-pull: it stays out. */
	simnet_run_until(s, s->now + 60000);
	for (size_t i = 0; i < 30; i++) {
		if (i == 9)
			continue;
		assert_int_equal(simnet_view(s, i, 9), -1);
		drops += gossip_get_stats(simnet_gossip(s, i))->drop_revoked_key;
	}
	assert_true(drops > 0);
	assert_int_equal(tr.reaped[9], 29);
	simnet_free(s);
}

/* Seals plain from node `from` to node `to` with real keys. */
static size_t
seal_real(struct simnet *s, size_t from, size_t to, const uint8_t *plain,
          size_t len, uint8_t *out, size_t cap)
{
	const struct key_pair *f = simnet_key(s, from), *t = simnet_key(s, to);
	struct seal_keys k;
	size_t n;

	assert_int_equal(seal_derive(&k, f->dh_pk, f->dh_sk, t->dh_pk), 0);
	assert_int_equal(seal_packet(&k, f->id, &key_system_rng, plain, len, out,
	                             cap, &n), 0);
	return n;
}

/* An alive message for node `about` with incarnation inc, listing
 * service svc, signed by node `signer`'s key. */
static size_t
alive_msg(struct simnet *s, size_t about, size_t signer, uint32_t inc,
          const char *svc, uint8_t *out, size_t cap)
{
	struct gossip_service sv = { .name = svc, .port = 80, .weight = 1 };
	struct gossip_record r;
	char name[16];
	uint8_t *body, *env, sig[KEY_SIG_LEN];
	size_t body_len, env_len, clen;
	const uint8_t *cert = simnet_cert(s, about, &clen);
	struct buf b;

	memset(&r, 0, sizeof(r));
	snprintf(name, sizeof(name), "n%zu", about);
	memcpy(r.key_id, simnet_id(s, about), KEY_ID_LEN);
	r.name = name;
	r.incarnation = inc;
	r.version = (uint64_t)abs_now(s);
	r.addr.family = 4;
	r.addr.ip[0] = 10;
	r.addr.ip[3] = (uint8_t)about;
	r.addr.port = 7370;
	r.services = &sv;
	r.n_services = 1;
	assert_int_equal(wire_encode_record_body(&r, &body, &body_len), 0);
	assert_int_equal(key_sign(simnet_key(s, signer), KEY_SIG_RECORD, body,
	                          body_len, sig), 0);
	assert_int_equal(wire_envelope(body, body_len, sig, &env, &env_len), 0);
	buf_init(&b, out, cap);
	wire_put_pair(&b, WIRE_ALIVE, env, env_len, cert, clen);
	assert_int_equal(b.err, 0);
	free(body);
	free(env);
	return b.len;
}

static uint32_t
inc_at(struct simnet *s, size_t at, size_t about)
{
	const struct gossip_record *r;

	assert_int_equal(gossip_member_get(simnet_gossip(s, at), simnet_id(s, about),
	                                   NULL, &r), 0);
	return r->incarnation;
}

static void
test_forged_record_refused(void **state)
{
	struct tracker tr;
	struct simnet *s = make_net(&tr, 20, true, 0.0, 8, NULL);
	const struct gossip_stats *st;
	uint8_t msg[4096], pkt[4200];
	size_t n, p;

	(void)state;
	assert_int_equal(simnet_bootstrap(s, 20), 0);
	simnet_run_until(s, 2000);
	st = gossip_get_stats(simnet_gossip(s, 0));
	/* Node 4 relays a record of node 3 that node 4 signed itself. */
	n = alive_msg(s, 3, 4, 100, "web", msg, sizeof(msg));
	p = seal_real(s, 4, 0, msg, n, pkt, sizeof(pkt));
	assert_int_equal(simnet_inject(s, 0, 4, pkt, p), 0);
	assert_int_equal(st->refused_records, 1);
	assert_int_equal(inc_at(s, 0, 3), 0);
	/* Node 3's own signature, but a service its certificate does not
	 * allow. */
	n = alive_msg(s, 3, 3, 100, "db", msg, sizeof(msg));
	p = seal_real(s, 4, 0, msg, n, pkt, sizeof(pkt));
	assert_int_equal(simnet_inject(s, 0, 4, pkt, p), 0);
	assert_int_equal(st->refused_records, 2);
	assert_int_equal(inc_at(s, 0, 3), 0);
	/* A leave for node 5 signed by node 4. */
	{
		uint8_t body[64], sig[KEY_SIG_LEN], *env;
		size_t bl, el;
		struct buf b;

		assert_int_equal(wire_encode_leave_body(simnet_id(s, 5), 0, body,
		                                        sizeof(body), &bl), 0);
		assert_int_equal(key_sign(simnet_key(s, 4), KEY_SIG_LEAVE, body, bl,
		                          sig), 0);
		assert_int_equal(wire_envelope(body, bl, sig, &env, &el), 0);
		buf_init(&b, msg, sizeof(msg));
		wire_put_leave_msg(&b, env, el);
		free(env);
		p = seal_real(s, 4, 0, msg, b.len, pkt, sizeof(pkt));
		assert_int_equal(simnet_inject(s, 0, 4, pkt, p), 0);
		assert_int_equal(st->refused_records, 3);
		assert_int_equal(simnet_view(s, 0, 5), GOSSIP_ALIVE);
	}
	/* Sealed by node 4 but claiming node 6 in the header. */
	n = alive_msg(s, 3, 3, 100, "web", msg, sizeof(msg));
	p = seal_real(s, 4, 0, msg, n, pkt, sizeof(pkt));
	memcpy(pkt + 1, simnet_id(s, 6), KEY_ID_LEN);
	assert_int_equal(simnet_inject(s, 0, 6, pkt, p), WEFT_ECRYPTO);
	assert_int_equal(inc_at(s, 0, 3), 0);
	/* The genuine record passes the same path: the checks can tell. */
	p = seal_real(s, 4, 0, msg, n, pkt, sizeof(pkt));
	assert_int_equal(simnet_inject(s, 0, 4, pkt, p), 0);
	assert_int_equal(st->refused_records, 3);
	assert_int_equal(inc_at(s, 0, 3), 100);
	simnet_free(s);
}

struct objsum {
	uint64_t h;
	size_t n;
};

static void
sum_obj(void *ctx, const struct gossip_object *o)
{
	struct objsum *sum = ctx;
	uint64_t h = o->hlc * 31 + o->kind;

	for (const char *c = o->name; *c; c++)
		h = h * 131 + (uint8_t)*c;
	for (size_t i = 0; i < o->value_len; i++)
		h = h * 137 + o->value[i];
	h = h * 3 + o->deleted;
	for (size_t i = 0; i < KEY_ID_LEN; i++)
		h = h * 139 + o->signer[i];
	/* Order-free: the tables may iterate differently. */
	sum->h += h * 0x9e3779b97f4a7c15ull;
	sum->n++;
}

static struct objsum
objsum_of(struct simnet *s, size_t i)
{
	struct objsum sum = { 0, 0 };

	gossip_object_foreach(simnet_gossip(s, i), sum_obj, &sum);
	return sum;
}

static void
put_obj(struct simnet *s, size_t at, size_t signer, const char *name,
        uint64_t hlc, bool deleted, const char *value, int want)
{
	size_t clen, len;
	const uint8_t *cert = simnet_cert(s, signer, &clen);
	uint8_t *msg;

	assert_int_equal(gossip_object_make(simnet_key(s, signer), cert, clen,
	                                    GOSSIP_OBJ_ROUTE, name, hlc, deleted,
	                                    (const uint8_t *)value,
	                                    value ? strlen(value) : 0, &msg, &len),
	                 0);
	assert_int_equal(gossip_object_put(simnet_gossip(s, at), abs_now(s), msg,
	                                   len), want);
	free(msg);
}

static void
test_objects_converge(void **state)
{
	struct tracker tr;
	struct simnet *s = make_net(&tr, 30, true, 0.05, 9, short_timers);
	struct gossip *g0;
	const struct gossip_object *o;
	struct objsum ref;
	uint64_t h1, h2;
	int cmp;

	(void)state;
	assert_int_equal(simnet_bootstrap(s, 30), 0);
	simnet_run_until(s, 2000);
	g0 = simnet_gossip(s, 0);
	h1 = gossip_hlc_next(g0, abs_now(s));
	/* Two operators write the same route at the same clock, on two
	 * different nodes: the signer id decides, the same way everywhere. */
	put_obj(s, 10, 0, "web", h1, false, "v-from-0", 0);
	put_obj(s, 20, 1, "web", h1, false, "v-from-1", 0);
	/* A route written, then deleted. */
	put_obj(s, 0, 0, "api", h1 + 1, false, "api-v1", 0);
	h2 = gossip_hlc_next(g0, abs_now(s));
	put_obj(s, 5, 1, "api", h2, true, NULL, 0);
	/* A node outside the operator group may not write routes. */
	put_obj(s, 7, 7, "evil", h2 + 5, false, "x", WEFT_EPOLICY);
	simnet_run_until(s, s->now + 15000);
	ref = objsum_of(s, 0);
	assert_int_equal(ref.n, 2);
	for (size_t i = 1; i < 30; i++) {
		struct objsum x = objsum_of(s, i);

		assert_int_equal(x.n, ref.n);
		assert_true(x.h == ref.h);
		assert_int_equal(gossip_object_count(simnet_gossip(s, i), false), 1);
	}
	cmp = memcmp(simnet_id(s, 0), simnet_id(s, 1), KEY_ID_LEN);
	o = gossip_object_get(simnet_gossip(s, 29), GOSSIP_OBJ_ROUTE, "web");
	assert_non_null(o);
	assert_memory_equal(o->value, cmp > 0 ? "v-from-0" : "v-from-1", 8);
	o = gossip_object_get(simnet_gossip(s, 29), GOSSIP_OBJ_ROUTE, "api");
	assert_non_null(o);
	assert_true(o->deleted);
	assert_null(gossip_object_get(simnet_gossip(s, 29), GOSSIP_OBJ_ROUTE,
	                              "evil"));
	/* The older write, replayed late, loses to the tombstone. */
	put_obj(s, 12, 0, "api", h1 + 1, false, "api-v1", 0);
	simnet_run_until(s, s->now + 5000);
	assert_true(gossip_object_get(simnet_gossip(s, 12), GOSSIP_OBJ_ROUTE,
	                              "api")->deleted);
	/* Tombstones expire after their time, everywhere alike. */
	simnet_run_until(s, s->now + 40000);
	ref = objsum_of(s, 0);
	assert_int_equal(ref.n, 1);
	for (size_t i = 1; i < 30; i++) {
		struct objsum x = objsum_of(s, i);

		assert_int_equal(x.n, 1);
		assert_true(x.h == ref.h);
		assert_null(gossip_object_get(simnet_gossip(s, i), GOSSIP_OBJ_ROUTE,
		                              "api"));
	}
	simnet_free(s);
}

static void
test_lifeguard_paused(void **state)
{
	struct tracker tr;
	struct simnet *s = make_net(&tr, 150, false, 0.10, 10, NULL);
	bool paused[150] = { false };
	unsigned suspected_paused = 0;

	(void)state;
	assert_int_equal(simnet_bootstrap(s, 150), 0);
	simnet_run_until(s, 3000);
	/* Five nodes at a time stop for 5 s, twelve times over, at 10% loss:
	 * the stalled ones may be declared dead, nobody else may. */
	for (int round = 0; round < 12; round++) {
		for (int i = 0; i < 5; i++) {
			size_t v = (size_t)(simnet_rand(s) % 150);

			paused[v] = true;
			simnet_pause(s, v, 5000);
		}
		simnet_run_until(s, s->now + 5100);
	}
	simnet_run_until(s, s->now + 20000);
	for (size_t i = 0; i < 150; i++) {
		if (paused[i])
			suspected_paused += tr.suspect[i];
		else
			assert_int_equal(tr.failed[i], 0);
	}
	/* The pauses were long enough to be noticed. */
	assert_true(suspected_paused > 0);
	assert_true(all_alive(s));
	simnet_free(s);
}

static void
test_restart_rejoins(void **state)
{
	struct tracker tr;
	struct simnet *s = make_net(&tr, 40, true, 0.0, 11, NULL);
	const struct gossip_record *r;

	(void)state;
	assert_int_equal(simnet_bootstrap(s, 40), 0);
	simnet_run_until(s, 2000);
	simnet_crash(s, 12);
	assert_true(run_until_seen(s, 12, GOSSIP_DEAD, 60000) >= 0);
	/* It comes back from nothing, with the same key, at incarnation 0:
	 * the cluster's dead verdict is newer, so it must outbid it. */
	assert_int_equal(simnet_restart(s, 12, 3), 0);
	assert_true(run_until_seen(s, 12, GOSSIP_ALIVE, 10000) >= 0);
	assert_int_equal(gossip_member_get(simnet_gossip(s, 0), simnet_id(s, 12),
	                                   NULL, &r), 0);
	assert_true(r->incarnation >= 1);
	simnet_run_until(s, s->now + 3000);
	assert_true(all_alive(s));
	simnet_free(s);
}

/* Long suspicions, so that a crashed member stays probeable while the
 * probes of it are counted; probers as the test wants. */
static unsigned probers_wanted;

static void
slow_death(struct gossip_config *c)
{
	c->probe_interval_ms = 1000;
	c->probe_timeout_ms = 500;
	c->suspicion_mult = 100;
	c->suspicion_probers = probers_wanted;
}

static uint64_t
failed_probes(struct simnet *s)
{
	uint64_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		if (simnet_is_up(s, i))
			n += gossip_get_stats(simnet_gossip(s, i))->probe_fails;
	return n;
}

/* Failed probes of a crashed member in the 3 s after it is first
 * suspected (the only probes that fail: no loss). */
static uint64_t
probes_after_suspicion(unsigned probers)
{
	struct tracker tr;
	struct simnet *s;
	uint64_t before;

	probers_wanted = probers;
	s = make_net(&tr, 40, false, 0.0, 12, slow_death);
	assert_int_equal(simnet_bootstrap(s, 40), 0);
	simnet_run_until(s, 6000);
	simnet_crash(s, 9);
	while (tr.suspect[9] == 0 && s->now < 60000)
		simnet_run_until(s, s->now + 10);
	assert_true(tr.suspect[9] > 0);
	before = failed_probes(s);
	simnet_run_until(s, s->now + 3000);
	before = failed_probes(s) - before;
	assert_int_equal(tr.failed[9], 0);
	simnet_free(s);
	return before;
}

static void
test_suspect_probed_soon(void **state)
{
	uint64_t none, all;

	(void)state;
	/* Round robin alone: about one probe of any member a second. */
	none = probes_after_suspicion(0);
	/* Everyone who hears of the suspicion probes the suspect next. */
	all = probes_after_suspicion(1000);
	print_message("failed probes of the suspect in 3 s: %llu by round "
	              "robin, %llu when hearing of it makes it next\n",
	              (unsigned long long)none, (unsigned long long)all);
	assert_true(none <= 12);
	assert_true(all >= 30);
}

/* No periodic push-pull to repair what the test wants repaired, and no
 * local health: the isolated node would otherwise stretch its timers
 * eightfold, and the test would take minutes of simulated time. */
static void
quiet_pushpull(struct gossip_config *c)
{
	c->pushpull_interval_ms = 600000;
	c->reconnect_interval_ms = 600000;
	c->awareness_max = 1;
}

static void
test_unconfirmed_suspicion_cross_checked(void **state)
{
	struct tracker tr;
	struct simnet *s = make_net(&tr, 10, false, 0.0, 13, quiet_pushpull);
	int group[10] = { 0 };
	const struct gossip_record *r;
	enum gossip_state st;

	(void)state;
	assert_int_equal(simnet_bootstrap(s, 10), 0);
	simnet_run_until(s, 6000);
	/* Node 3 loses UDP with everyone (its streams still go through),
	 * while node 5 stalls, is suspected by the others and refutes: all
	 * but node 3 learn incarnation 1. */
	group[3] = 1;
	simnet_partition_udp(s, group);
	simnet_pause(s, 5, 1000);
	simnet_run_until(s, s->now + 8000);
	assert_int_equal(gossip_member_get(simnet_gossip(s, 0), simnet_id(s, 5),
	                                   &st, &r), 0);
	assert_true(r->incarnation >= 1);
	assert_int_equal(gossip_member_get(simnet_gossip(s, 3), simnet_id(s, 5),
	                                   &st, &r), 0);
	/* Node 3 suspects 5 at incarnation 0, alone: nothing confirms it and
	 * no refutation reaches it by UDP.  Before that suspicion ends, the
	 * push-pull it makes to check brings incarnation 1. */
	assert_int_equal(r->incarnation, 0);
	simnet_run_until(s, s->now + 30000);
	assert_int_equal(tr.failed[5], 0);
	assert_int_equal(gossip_member_get(simnet_gossip(s, 3), simnet_id(s, 5),
	                                   &st, &r), 0);
	assert_true(r->incarnation >= 1);
	simnet_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_join_converges),
		cmocka_unit_test(test_crash_detected),
		cmocka_unit_test(test_refutation),
		cmocka_unit_test(test_leave),
		cmocka_unit_test(test_partition_heal),
		cmocka_unit_test(test_reaping),
		cmocka_unit_test(test_revocation),
		cmocka_unit_test(test_forged_record_refused),
		cmocka_unit_test(test_objects_converge),
		cmocka_unit_test(test_lifeguard_paused),
		cmocka_unit_test(test_restart_rejoins),
		cmocka_unit_test(test_suspect_probed_soon),
		cmocka_unit_test(test_unconfirmed_suspicion_cross_checked),
		cmocka_unit_test(test_pushpull_sparse_digests),
		cmocka_unit_test(test_storm_converges),
		cmocka_unit_test(test_crash_refused_sooner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
