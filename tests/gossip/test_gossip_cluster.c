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

#define MAXN 200

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
