/*
 * Entry points: creation, the packet and stream inputs, the timer, and
 * the output queues.  Everything below the packet layer is in the other
 * files (see internal.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "gossip/internal.h"

/* After a join: this many push-pulls with random members, this far
 * apart, before the regular interval takes over. */
#define JOIN_FOLLOWUPS 2
#define JOIN_FOLLOWUP_MS 2000
/* At most this many push-pulls in a row at JOIN_FOLLOWUP_MS while the
 * membership keeps growing (a minute). */
#define NEWS_FOLLOWUPS 30
#define CHURN_PULL_MS 3000

/* Compound framing: array header, type, list header (at most 5). */
#define COMPOUND_HDR_MAX 8

bool
gossip_addr_eq(const struct gossip_addr *a, const struct gossip_addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->ip, b->ip, 16) == 0;
}

const char *
gossip_state_name(enum gossip_state s)
{
	switch (s) {
	case GOSSIP_ALIVE: return "alive";
	case GOSSIP_SUSPECT: return "suspect";
	case GOSSIP_DEAD: return "dead";
	case GOSSIP_LEFT: return "left";
	}
	return "unknown";
}

const char *
gossip_event_name(enum gossip_event_kind k)
{
	switch (k) {
	case GOSSIP_EV_JOINED: return "joined";
	case GOSSIP_EV_UPDATED: return "updated";
	case GOSSIP_EV_SUSPECT: return "suspect";
	case GOSSIP_EV_ALIVE: return "alive";
	case GOSSIP_EV_FAILED: return "failed";
	case GOSSIP_EV_LEFT: return "left";
	case GOSSIP_EV_REAPED: return "reaped";
	case GOSSIP_EV_OBJECT_PUT: return "object-put";
	case GOSSIP_EV_OBJECT_DELETED: return "object-deleted";
	}
	return "unknown";
}

void
gossip_config_default(struct gossip_config *c, enum gossip_profile p)
{
	memset(c, 0, sizeof(*c));
	/* memberlist's DefaultLANConfig. */
	c->probe_interval_ms = 1000;
	c->probe_timeout_ms = 500;
	c->indirect_checks = 3;
	c->gossip_interval_ms = 200;
	c->fanout = 3;
	c->retransmit_mult = 4;
	c->suspicion_mult = 4;
	c->suspicion_max_mult = 6;
	c->suspicion_confirm = 0;
	c->awareness_max = 8;
	c->pushpull_interval_ms = 30000;
	c->reconnect_interval_ms = 10000;
	c->gossip_to_dead_ms = 30000;
	c->reap_after_ms = 24ll * 3600 * 1000;
	c->tombstone_ttl_ms = 24ll * 3600 * 1000;
	c->join_grace_ms = 0;
	c->unknown_pull_ms = 5000;
	c->cert_skew_s = 300;
	c->mtu = 1400;
	c->queue_cap = 4096;
	c->seal_cache = 1024;
	if (p == GOSSIP_PROFILE_WEFT) {
		/*
		 * Chosen in the simulator (docs/BENCHMARKS.md, "Gossip
		 * simulator"): probing twice as often finds a crash sooner.
		 * Six indirect checks instead of three cost packets only when
		 * a probe fails, and at 30% loss they cut false suspicions
		 * (and the refutations each one costs everyone) by half.
		 *
		 * The suspicion's minimum counts gossip intervals, not probe
		 * intervals: what it must cover is a refutation travelling
		 * back through gossip, log N rounds of it, whatever the probe
		 * interval (6 x log10(N) x 200 ms: 2.5 s at N = 128).  It can
		 * be that short because a crash is confirmed fast and a live
		 * member is rarely confirmed: about six members that hear of a
		 * suspicion probe the suspect next (suspicion_probers), so a
		 * dead one has its two independent confirmations within a
		 * probe interval or two, while a live one answers those
		 * probes and refutes.  An unconfirmed suspicion keeps 20x the
		 * minimum and, before it ends, is checked by a push-pull with
		 * another member (a refutation we alone missed).
		 */
		c->probe_interval_ms = 500;
		c->probe_timeout_ms = 250;
		c->indirect_checks = 6;
		c->suspicion_mult = 6;
		c->suspicion_max_mult = 20;
		c->suspicion_confirm = 2;
		c->suspicion_unit = GOSSIP_SUSPICION_PER_GOSSIP;
		c->suspicion_probers = 6;
		c->suspicion_guard = true;
		c->join_grace_ms = 5000;
	}
}

uint64_t
gossip_rand(struct gossip *g)
{
	uint64_t v = 0;

	weft_rng_fill(&g->rng, &v, sizeof(v));
	return v;
}

uint32_t
gossip_rand_below(struct gossip *g, uint32_t n)
{
	if (n == 0)
		return 0;
	return (uint32_t)(gossip_rand(g) % n);
}

void
gossip_emit(struct gossip *g, enum gossip_event_kind k, const struct member *m,
            const struct gossip_object *o)
{
	struct gossip_event ev;

	if (g->cb.on_event == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = k;
	if (m) {
		ev.key_id = member_id(m);
		ev.rec = m->rec->r;
	}
	ev.obj = o;
	g->cb.on_event(g->cb.ctx, &ev);
}

void
gossip_refuse(struct gossip *g, uint64_t *counter, const char *why)
{
	(*counter)++;
	g->stats.last_reason = why;
}

size_t
gossip_live_count(const struct gossip *g)
{
	return g->counts[GOSSIP_ALIVE] + g->counts[GOSSIP_SUSPECT];
}

unsigned
gossip_retransmit_limit(const struct gossip *g)
{
	double n = (double)gossip_live_count(g);

	return g->cfg.retransmit_mult * (unsigned)ceil(log10(n + 1));
}

int
gossip_cert_check(struct gossip *g, int64_t now, const uint8_t *cert,
                  size_t len, const char *const *services, size_t n,
                  struct gossip_ident *out)
{
	struct cert_revocations rv = { gossip_revocations_has, g };

	return g->crypto.cert_check(g->crypto.ctx, cert, len, now / 1000, &rv,
	                            services, n, out);
}

/* --- output --- */

static int
push_packet(struct gossip *g, const struct gossip_addr *to, uint8_t *data,
            size_t len)
{
	struct gossip_packet *slot;

	if (g->out_n == g->out_cap) {
		size_t ncap = g->out_cap ? g->out_cap * 2 : 8;
		struct gossip_packet *n;

		if (ncap > GOSSIP_MAX_OUT_PACKETS) {
			free(data);
			return WEFT_ENOSPACE;
		}
		n = malloc(ncap * sizeof(*n));
		if (n == NULL) {
			free(data);
			return WEFT_ENOMEM;
		}
		for (size_t i = 0; i < g->out_n; i++)
			n[i] = g->out[(g->out_head + i) % g->out_cap];
		free(g->out);
		g->out = n;
		g->out_cap = ncap;
		g->out_head = 0;
	}
	slot = &g->out[(g->out_head + g->out_n) % g->out_cap];
	slot->to = *to;
	slot->data = data;
	slot->len = len;
	g->out_n++;
	g->stats.pkts_out++;
	g->stats.bytes_out += len;
	return 0;
}

bool
gossip_pop_packet(struct gossip *g, struct gossip_packet *out)
{
	if (g->out_n == 0)
		return false;
	*out = g->out[g->out_head];
	g->out_head = (g->out_head + 1) % g->out_cap;
	g->out_n--;
	return true;
}

int
gossip_send_stream(struct gossip *g, const struct gossip_addr *to,
                   uint8_t *data, size_t len)
{
	if (g->sout_n == g->sout_cap) {
		size_t ncap = g->sout_cap ? g->sout_cap * 2 : 4;
		struct gossip_stream_msg *n;

		if (ncap > GOSSIP_MAX_OUT_STREAMS) {
			free(data);
			return WEFT_ENOSPACE;
		}
		n = realloc(g->sout, ncap * sizeof(*n));
		if (n == NULL) {
			free(data);
			return WEFT_ENOMEM;
		}
		g->sout = n;
		g->sout_cap = ncap;
	}
	g->sout[g->sout_n].to = *to;
	g->sout[g->sout_n].data = data;
	g->sout[g->sout_n].len = len;
	g->sout_n++;
	g->stats.streams_out++;
	g->stats.stream_bytes_out += len;
	return 0;
}

bool
gossip_pop_stream(struct gossip *g, struct gossip_stream_msg *out)
{
	if (g->sout_n == 0)
		return false;
	*out = g->sout[0];
	memmove(g->sout, g->sout + 1, (g->sout_n - 1) * sizeof(*g->sout));
	g->sout_n--;
	return true;
}

/* Direct-mapped cache of derived keys: a miss costs one X25519. */
static const struct seal_keys *
keys_for(struct gossip *g, const struct member *to)
{
	const uint8_t *id = member_id(to);
	struct seal_slot *s = &g->seal[(id_u64(id) * 0x9e3779b97f4a7c15ull >> 20) %
	                               g->cfg.seal_cache];

	if (s->used && memcmp(s->id, id, KEY_ID_LEN) == 0)
		return &s->keys;
	if (g->crypto.derive(g->crypto.ctx, to->rec->cert->ident.dh_pk,
	                     &s->keys) != 0) {
		s->used = false;
		return NULL;
	}
	memcpy(s->id, id, KEY_ID_LEN);
	s->used = true;
	return &s->keys;
}

int
gossip_send(struct gossip *g, const struct member *to,
            const struct gossip_addr *addr, const uint8_t *msg, size_t len,
            size_t n_msgs, bool piggyback)
{
	size_t budget = g->cfg.mtu - SEAL_OVERHEAD;
	uint8_t plain[WIRE_MAX_PACKET];
	size_t used, n = n_msgs, body = COMPOUND_HDR_MAX;
	const struct seal_keys *k;
	uint8_t *pkt;
	size_t pkt_len;
	int rc;

	if (budget > sizeof(plain))
		budget = sizeof(plain);
	if (len + COMPOUND_HDR_MAX > budget)
		return WEFT_ETOOBIG;
	/* Build the compound's messages after room for its header, then put
	 * the header right before them once their count is known. */
	if (len)
		memcpy(plain + body, msg, len);
	used = body + len;
	if (piggyback)
		n += bqueue_fill(&g->q, plain, budget, &used,
		                 gossip_retransmit_limit(g), WIRE_MAX_MSGS - n);
	if (n == 0)
		return 0;
	if (n > 1 || len == 0) {
		struct buf b;
		msgpack_packer pk;
		uint8_t hdr[COMPOUND_HDR_MAX];

		buf_init(&b, hdr, sizeof(hdr));
		wire_packer_init(&pk, &b);
		msgpack_pack_array(&pk, 2);
		msgpack_pack_uint8(&pk, WIRE_COMPOUND);
		msgpack_pack_array(&pk, n);
		body -= b.len;
		memcpy(plain + body, hdr, b.len);
	}
	k = keys_for(g, to);
	if (k == NULL)
		return WEFT_ECRYPTO;
	pkt = malloc(used - body + SEAL_OVERHEAD);
	if (pkt == NULL)
		return WEFT_ENOMEM;
	rc = g->crypto.seal(g->crypto.ctx, k, g->self_id, &g->rng, plain + body,
	                    used - body, pkt, used - body + SEAL_OVERHEAD,
	                    &pkt_len);
	if (rc) {
		free(pkt);
		return rc;
	}
	return push_packet(g, addr, pkt, pkt_len);
}

/* --- creation --- */

static int
check_config(const struct gossip_config *c)
{
	if (c->probe_interval_ms <= 0 || c->probe_timeout_ms <= 0 ||
	    c->probe_timeout_ms > c->probe_interval_ms ||
	    c->gossip_interval_ms <= 0 || c->pushpull_interval_ms <= 0 ||
	    c->reconnect_interval_ms <= 0 || c->suspicion_mult == 0 ||
	    c->suspicion_max_mult == 0 || c->retransmit_mult == 0 ||
	    c->mtu < 256 || c->mtu > WIRE_MAX_PACKET || c->queue_cap == 0 ||
	    c->seal_cache == 0 || c->reap_after_ms <= 0 ||
	    c->tombstone_ttl_ms <= 0 || c->fanout > 64 ||
	    c->indirect_checks > 16 ||
	    c->suspicion_unit > GOSSIP_SUSPICION_PER_GOSSIP)
		return WEFT_EINVAL;
	return 0;
}

static int64_t
housekeeping_interval(const struct gossip *g)
{
	int64_t t = g->cfg.reap_after_ms < g->cfg.tombstone_ttl_ms ?
		g->cfg.reap_after_ms : g->cfg.tombstone_ttl_ms;

	t /= 10;
	if (t < 1000)
		t = 1000;
	if (t > 60000)
		t = 60000;
	return t;
}

int
gossip_new(struct gossip **out, const struct gossip_config *cfg,
           const struct gossip_identity *id, const struct gossip_crypto *crypto,
           const struct weft_rng *rng, const struct gossip_callbacks *cb,
           int64_t now)
{
	struct gossip *g;
	struct gossip_record tmpl;
	struct gossip_ident ident;
	const char **names = NULL;
	int rc;

	if (check_config(cfg) || id->name == NULL || id->cert == NULL ||
	    id->n_services > WIRE_MAX_SERVICES || id->n_tags > WIRE_MAX_TAGS)
		return WEFT_EINVAL;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return WEFT_ENOMEM;
	g->cfg = *cfg;
	g->crypto = *crypto;
	g->rng = *rng;
	if (cb)
		g->cb = *cb;
	g->created = now;
	list_init(&g->suspicions);
	g->aw.max = cfg->awareness_max;
	if (cfg->store) {
		g->store = cfg->store;
	} else {
		rc = gossip_store_new(&g->store);
		if (rc) {
			free(g);
			return rc;
		}
		g->store->owned_by_state = true;
	}
	g->store->users++;
	g->idx_cap = 16;
	g->idx = calloc(g->idx_cap, sizeof(*g->idx));
	g->seal = calloc(cfg->seal_cache, sizeof(*g->seal));
	rc = bqueue_init(&g->q, cfg->queue_cap);
	if (rc == 0)
		rc = objects_init(g);
	if (rc == 0 && (g->idx == NULL || g->seal == NULL))
		rc = WEFT_ENOMEM;
	if (rc)
		goto fail;

	if (id->n_services) {
		names = malloc(id->n_services * sizeof(*names));
		if (names == NULL) {
			rc = WEFT_ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < id->n_services; i++)
			names[i] = id->services[i].name;
	}
	rc = gossip_cert_check(g, now, id->cert, id->cert_len, names,
	                       id->n_services, &ident);
	free(names);
	if (rc)
		goto fail;
	rc = store_put_cert(g->store, id->cert, id->cert_len, &ident,
	                    &g->self_cert);
	if (rc)
		goto fail;
	cert_ref(g->self_cert);
	memcpy(g->self_id, ident.key_id, KEY_ID_LEN);

	memset(&tmpl, 0, sizeof(tmpl));
	memcpy(tmpl.key_id, ident.key_id, KEY_ID_LEN);
	tmpl.name = id->name;
	tmpl.incarnation = id->incarnation;
	/* The clock makes a restarted node's records sort after its old
	 * ones without any state on disk. */
	tmpl.version = (uint64_t)now;
	tmpl.addr = id->addr;
	tmpl.mesh_addr = id->mesh_addr;
	tmpl.services = id->services;
	tmpl.n_services = id->n_services;
	tmpl.tags = id->tags;
	tmpl.n_tags = id->n_tags;
	rc = member_publish_self(g, &tmpl);
	if (rc)
		goto fail;

	g->next_probe = now + gossip_rand_below(g, (uint32_t)cfg->probe_interval_ms);
	g->next_gossip = now + cfg->gossip_interval_ms;
	g->next_pushpull = now + cfg->pushpull_interval_ms +
	                   gossip_rand_below(g, (uint32_t)cfg->pushpull_interval_ms);
	g->next_reconnect = now + cfg->reconnect_interval_ms;
	g->next_reap = now + housekeeping_interval(g);
	g->deadline = now;
	*out = g;
	return 0;
fail:
	gossip_free(g);
	return rc;
}

void
gossip_free(struct gossip *g)
{
	struct gossip_packet p;

	if (g == NULL)
		return;
	while (gossip_pop_packet(g, &p))
		free(p.data);
	free(g->out);
	for (size_t i = 0; i < g->sout_n; i++)
		free(g->sout[i].data);
	free(g->sout);
	if (g->m)
		member_free_all(g);
	free(g->m);
	free(g->free_slots);
	free(g->sparse_peers);
	free(g->idx);
	free(g->order);
	if (g->self_cert)
		cert_unref(g->store, g->self_cert);
	if (g->q.tab)
		bqueue_fini(&g->q);
	objects_fini(g);
	if (g->seal) {
		for (size_t i = 0; i < g->cfg.seal_cache; i++)
			seal_keys_wipe(&g->seal[i].keys);
		free(g->seal);
	}
	if (g->store) {
		g->store->users--;
		if (g->store->owned_by_state)
			gossip_store_free(g->store);
	}
	free(g);
}

/* --- inputs --- */

int
gossip_join(struct gossip *g, int64_t now, const struct gossip_addr *seeds,
            size_t n)
{
	int rc = 0;

	g->joining = true;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = pushpull_start(g, now, &seeds[i], WIRE_PP_JOIN);
	g->join_followups = JOIN_FOLLOWUPS;
	if (g->next_pushpull > now + JOIN_FOLLOWUP_MS)
		g->next_pushpull = now + JOIN_FOLLOWUP_MS;
	g->deadline = now;
	return rc;
}

int
gossip_leave(struct gossip *g, int64_t now)
{
	uint8_t body[64], sig[KEY_SIG_LEN], *env, tmp[WIRE_MAX_LEAVE + 16];
	size_t body_len, env_len;
	struct member *self = &g->m[g->self];
	struct buf b;
	uint8_t *copy;
	int rc;

	if (g->leaving)
		return WEFT_ESTATE;
	rc = wire_encode_leave_body(g->self_id, g->self_inc, body, sizeof(body),
	                            &body_len);
	if (rc == 0)
		rc = g->crypto.sign(g->crypto.ctx, KEY_SIG_LEAVE, body, body_len,
		                    sig);
	if (rc == 0)
		rc = wire_envelope(body, body_len, sig, &env, &env_len);
	if (rc)
		return rc;
	copy = malloc(2 + env_len);
	if (copy == NULL) {
		free(env);
		return WEFT_ENOMEM;
	}
	put_u16be(copy, (uint16_t)env_len);
	memcpy(copy + 2, env, env_len);
	g->leaving = true;
	member_set_state(g, self, GOSSIP_LEFT, g->self_inc, now);
	self->susp = (struct suspicion *)(void *)copy;
	self->has_leave = 1;
	buf_init(&b, tmp, sizeof(tmp));
	wire_put_leave_msg(&b, env, env_len);
	if (b.err == 0)
		bqueue_put(&g->q, BKEY_MEMBER(g->self_id), tmp, b.len);
	free(env);
	g->deadline = now;
	return 0;
}

int
gossip_set_services(struct gossip *g, int64_t now,
                    const struct gossip_service *services, size_t n)
{
	struct gossip_record r = *g->self_rec->r;
	struct gossip_ident ident;
	const char **names = NULL;
	int rc;

	if (n > WIRE_MAX_SERVICES || g->leaving)
		return WEFT_EINVAL;
	if (n) {
		names = malloc(n * sizeof(*names));
		if (names == NULL)
			return WEFT_ENOMEM;
		for (size_t i = 0; i < n; i++)
			names[i] = services[i].name;
	}
	rc = gossip_cert_check(g, now, g->self_cert->bytes, g->self_cert->len,
	                       names, n, &ident);
	free(names);
	if (rc)
		return rc;
	r.services = services;
	r.n_services = n;
	r.version = g->self_version + 1 > (uint64_t)now ? g->self_version + 1 :
	                                                  (uint64_t)now;
	rc = member_publish_self(g, &r);
	g->deadline = now;
	return rc;
}

int
gossip_set_cert(struct gossip *g, int64_t now, const uint8_t *cert,
                size_t len)
{
	struct gossip_record r = *g->self_rec->r;
	struct gossip_ident ident;
	struct certent *ce;
	const char **names = NULL;
	int rc;

	if (g->leaving)
		return WEFT_ESTATE;
	if (r.n_services) {
		names = malloc(r.n_services * sizeof(*names));
		if (names == NULL)
			return WEFT_ENOMEM;
		for (size_t i = 0; i < r.n_services; i++)
			names[i] = r.services[i].name;
	}
	rc = gossip_cert_check(g, now, cert, len, names, r.n_services, &ident);
	free(names);
	if (rc)
		return rc;
	/* Records are signed by the key the certificate names: the same
	 * key, or this is another node. */
	if (memcmp(ident.key_id, g->self_id, KEY_ID_LEN) != 0)
		return WEFT_EINVAL;
	rc = store_put_cert(g->store, cert, len, &ident, &ce);
	if (rc)
		return rc;
	if (ce != g->self_cert) {
		cert_ref(ce);
		cert_unref(g->store, g->self_cert);
		g->self_cert = ce;
	}
	/* A new record version, so that it travels with the new certificate
	 * and every member's copy names the new end. */
	r.version = g->self_version + 1 > (uint64_t)now ? g->self_version + 1 :
	                                                  (uint64_t)now;
	g->self_cert_until = r.version + 60000;
	rc = member_publish_self(g, &r);
	g->deadline = now;
	return rc;
}

static void
apply(struct gossip *g, int64_t now, const struct gossip_addr *from,
      const struct member *sender, const struct wire_msg *m)
{
	switch (m->type) {
	case WIRE_PING:
		probe_on_ping(g, now, from, sender, m);
		break;
	case WIRE_PING_REQ:
		probe_on_ping_req(g, now, from, sender, m);
		break;
	case WIRE_ACK:
		probe_on_ack(g, now, m);
		break;
	case WIRE_NACK:
		probe_on_nack(g, now, m);
		break;
	case WIRE_SUSPECT:
		member_on_suspect(g, now, m->id, m->inc, m->from);
		break;
	case WIRE_DEAD:
		member_on_dead(g, now, m->id, m->inc, m->from);
		break;
	case WIRE_ALIVE:
		member_on_alive(g, now, m->a, m->a_len, m->b, m->b_len, false);
		break;
	case WIRE_LEAVE:
		member_on_leave(g, now, m->a, m->a_len);
		break;
	case WIRE_OBJECT:
		objects_on_msg(g, now, m->a, m->a_len, m->b, m->b_len, true);
		break;
	default:
		break;
	}
}

static void recompute_deadline(struct gossip *g);

void
gossip_recv_refused(struct gossip *g, int64_t now,
                    const struct gossip_addr *to)
{
	g->stats.refusals++;
	probe_on_refused(g, now, to);
	recompute_deadline(g);
}

int
gossip_recv_packet(struct gossip *g, int64_t now,
                   const struct gossip_addr *from, const uint8_t *p,
                   size_t len)
{
	uint8_t id[KEY_ID_LEN];
	uint8_t plain[WIRE_MAX_PACKET];
	struct wire_msg msgs[WIRE_MAX_MSGS];
	size_t plen, n, skipped;
	const struct seal_keys *k;
	struct member *sender;
	const char *why = NULL;
	uint32_t sender_idx;
	int rc;

	g->stats.pkts_in++;
	g->stats.bytes_in += len;
	rc = seal_peek_sender(p, len, id);
	if (rc) {
		gossip_refuse(g, &g->stats.drop_bad_seal,
		              "packet too short or unknown seal version");
		return rc;
	}
	if (gossip_revocations_has(g, id)) {
		gossip_refuse(g, &g->stats.drop_revoked_key,
		              "packet sealed by a revoked key");
		return WEFT_EREVOKED;
	}
	sender = member_find(g, id);
	if (sender == NULL || member_index(g, sender) == g->self) {
		gossip_refuse(g, &g->stats.drop_unknown_key,
		              "packet sealed by an unknown key id");
		if (sender == NULL)
			pushpull_unknown_key(g, now, from);
		recompute_deadline(g);
		return WEFT_ENOENT;
	}
	k = keys_for(g, sender);
	if (k == NULL || len - SEAL_OVERHEAD > sizeof(plain) ||
	    g->crypto.open(g->crypto.ctx, k, p, len, plain, sizeof(plain),
	                   &plen) != 0) {
		gossip_refuse(g, &g->stats.drop_bad_seal,
		              "packet does not open with the sender's key");
		return WEFT_ECRYPTO;
	}
	/* Decode the whole packet before acting on any of it. */
	rc = wire_decode_packet(plain, plen, msgs, &n, &skipped, &why);
	if (rc) {
		gossip_refuse(g, &g->stats.drop_malformed, why);
		return rc;
	}
	/* Applying a message can reap or move members; keep the sender by
	 * index and look it up again. */
	sender_idx = member_index(g, sender);
	for (size_t i = 0; i < n; i++) {
		sender = &g->m[sender_idx];
		if (sender->rec == NULL ||
		    memcmp(member_id(sender), id, KEY_ID_LEN) != 0)
			break;
		apply(g, now, from, sender, &msgs[i]);
	}
	recompute_deadline(g);
	return 0;
}

int
gossip_recv_stream(struct gossip *g, int64_t now,
                   const struct gossip_addr *from, const uint8_t *p,
                   size_t len)
{
	int rc;

	g->stats.streams_in++;
	g->stats.stream_bytes_in += len;
	rc = pushpull_recv(g, now, from, p, len);
	recompute_deadline(g);
	return rc;
}

int
gossip_export_state(struct gossip *g, uint8_t **out, size_t *out_len)
{
	return pushpull_encode(g, WIRE_PP_PUSH, 0, NULL, NULL, out, out_len);
}

/* --- timers --- */

static bool
gossip_target_ok(const struct gossip *g, uint32_t i, int64_t now)
{
	const struct member *m = &g->m[i];

	if (m->rec == NULL || i == g->self)
		return false;
	if (m->state == GOSSIP_ALIVE || m->state == GOSSIP_SUSPECT)
		return true;
	/* The newly dead still hear from us for a while, so that a live
	 * node declared dead learns it and refutes. */
	return m->state == GOSSIP_DEAD && now - m->since < g->cfg.gossip_to_dead_ms;
}

static void
gossip_round(struct gossip *g, int64_t now)
{
	uint32_t picked[64];
	unsigned n = 0, tries = 0;

	while (n < g->cfg.fanout && tries++ < 4 * g->cfg.fanout + 8 &&
	       g->q.count > 0 && g->n_slots > 1) {
		uint32_t i = gossip_rand_below(g, g->n_slots);
		bool dup = false;

		if (!gossip_target_ok(g, i, now))
			continue;
		for (unsigned j = 0; j < n; j++)
			dup |= picked[j] == i;
		if (dup)
			continue;
		picked[n++] = i;
		gossip_send(g, &g->m[i], &g->m[i].rec->r->addr, NULL, 0, 0, true);
	}
}

/*
 * Members met through gossip mean others are joining, and gossip alone
 * leaves gaps when many join at once: each new record competes for the
 * same few packets a round, and a member that missed one would wait for
 * the periodic push-pull (two minutes at 256 members).  So a push-pull
 * with a random member comes a few seconds after such news, at most one
 * every 2 x CHURN_PULL_MS: digests make it cheap when there is no gap.
 */
void
gossip_pull_soon(struct gossip *g, int64_t now)
{
	if (g->leaving || (g->churn_pull_at != 0 &&
	                   now - g->churn_pull_at < CHURN_PULL_MS))
		return;
	g->churn_pull_at = now + CHURN_PULL_MS;
	if (g->next_pushpull > g->churn_pull_at)
		g->next_pushpull = g->churn_pull_at;
}

bool
gossip_random_member(struct gossip *g, uint8_t state, uint32_t *out)
{
	size_t want = g->counts[state] - (state == GOSSIP_ALIVE ? 1 : 0);

	if (want == 0 || g->n_slots == 0)
		return false;
	for (unsigned t = 0; t < 32; t++) {
		uint32_t i = gossip_rand_below(g, g->n_slots);

		if (g->m[i].rec && g->m[i].state == state && i != g->self) {
			*out = i;
			return true;
		}
	}
	/* Sparse: fall back to a walk from a random place. */
	{
		uint32_t start = gossip_rand_below(g, g->n_slots);

		for (uint32_t k = 0; k < g->n_slots; k++) {
			uint32_t i = (start + k) % g->n_slots;

			if (g->m[i].rec && g->m[i].state == state && i != g->self) {
				*out = i;
				return true;
			}
		}
	}
	return false;
}

static void
recompute_deadline(struct gossip *g)
{
	int64_t d = probe_deadline(g);
	struct list *pos;

	if (g->q.count > 0 && g->next_gossip < d)
		d = g->next_gossip;
	if (g->next_pushpull < d)
		d = g->next_pushpull;
	if (g->next_reconnect < d)
		d = g->next_reconnect;
	if (g->next_reap < d)
		d = g->next_reap;
	list_foreach(pos, &g->suspicions) {
		struct suspicion *s = list_entry(pos, struct suspicion, link);

		if (s->deadline < d)
			d = s->deadline;
		if (!s->asked && suspicion_ask_at(g, s) < d)
			d = suspicion_ask_at(g, s);
	}
	g->deadline = d;
}

/* Growth since the last push-pull that counts as members arriving in
 * numbers: an eighth of the cluster, at least 4. */
static size_t
news_threshold(size_t live)
{
	return live / 8 > 4 ? live / 8 : 4;
}

int
gossip_tick(struct gossip *g, int64_t now)
{
	uint32_t i;

	/* A tick far behind the deadline it was armed for: this process
	 * did not get the CPU when it asked (a host's worth of agents
	 * starting at once).  Lifeguard's local health covers missed nacks;
	 * its own lateness is the same evidence, seen sooner, and keeps a
	 * starved node from taking its slowness for others' deaths. */
	if (now - g->deadline > g->cfg.probe_timeout_ms / 2)
		awareness_apply(&g->aw, 1);
	probe_tick(g, now);
	member_suspicion_tick(g, now);
	if (now >= g->next_gossip) {
		gossip_round(g, now);
		g->next_gossip += g->cfg.gossip_interval_ms;
		if (g->next_gossip <= now)
			g->next_gossip = now + g->cfg.gossip_interval_ms;
	}
	if (now >= g->next_pushpull) {
		size_t live = gossip_live_count(g);

		if (!g->leaving && gossip_random_member(g, GOSSIP_ALIVE, &i))
			pushpull_start(g, now, &g->m[i].rec->r->addr, 0);
		g->next_pushpull = now + pushpull_interval(g);
		if (g->join_followups > 0) {
			g->join_followups--;
			g->next_pushpull = now + JOIN_FOLLOWUP_MS;
		} else if (live >= g->pp_live_last + news_threshold(live) &&
		           g->news_followups < NEWS_FOLLOWUPS) {
			/* Members still arriving in numbers (a host's worth
			 * started at once, a partition healing): UDP gossip
			 * drops what its queues cannot hold, so another
			 * push-pull soon, for as long as they keep coming.  A
			 * single join in a steady cluster stays below this. */
			g->news_followups++;
			g->next_pushpull = now + JOIN_FOLLOWUP_MS;
		} else if (live < g->pp_live_last + news_threshold(live)) {
			g->news_followups = 0;
		}
		g->pp_live_last = live;
	}
	if (now >= g->next_reconnect) {
		/* Dead members may be alive behind a healed partition: try
		 * one, so the two sides merge again. */
		if (!g->leaving && gossip_random_member(g, GOSSIP_DEAD, &i))
			pushpull_start(g, now, &g->m[i].rec->r->addr, 0);
		g->next_reconnect = now + g->cfg.reconnect_interval_ms;
	}
	if (now >= g->next_reap) {
		member_reap(g, now);
		objects_expire(g, now);
		g->next_reap = now + housekeeping_interval(g);
	}
	g->stats.queue_dropped = g->q.dropped;
	recompute_deadline(g);
	return 0;
}

int64_t
gossip_next_deadline(const struct gossip *g)
{
	return g->deadline;
}

/* --- queries --- */

size_t
gossip_member_count(const struct gossip *g, enum gossip_state s)
{
	return (unsigned)s < 4 ? g->counts[s] : 0;
}

int
gossip_member_get(const struct gossip *g, const uint8_t id[KEY_ID_LEN],
                  enum gossip_state *state, const struct gossip_record **rec)
{
	const struct member *m = member_find(g, id);

	if (m == NULL)
		return WEFT_ENOENT;
	if (state)
		*state = m->state;
	if (rec)
		*rec = m->rec->r;
	return 0;
}

void
gossip_member_foreach(const struct gossip *g,
                      void (*fn)(void *ctx, enum gossip_state s,
                                 const struct gossip_record *rec),
                      void *ctx)
{
	for (uint32_t i = 0; i < g->n_slots; i++)
		if (g->m[i].rec)
			fn(ctx, g->m[i].state, g->m[i].rec->r);
}

const uint8_t *
gossip_self_id(const struct gossip *g)
{
	return g->self_id;
}

const struct gossip_stats *
gossip_get_stats(const struct gossip *g)
{
	return &g->stats;
}

unsigned
gossip_health_score(const struct gossip *g)
{
	return g->aw.score;
}

/* From a loopback hop to a congested WAN link; timeouts are above. */
static const int64_t rtt_bounds_ms[GOSSIP_RTT_BUCKETS] = {
	1, 2, 5, 10, 25, 50, 100, 250, 500, 1000,
};

const int64_t *
gossip_rtt_bounds_ms(size_t *n)
{
	*n = GOSSIP_RTT_BUCKETS;
	return rtt_bounds_ms;
}

void
gossip_note_rtt(struct gossip *g, int64_t rtt_ms)
{
	size_t i = 0;

	if (rtt_ms < 0)
		rtt_ms = 0;
	while (i < GOSSIP_RTT_BUCKETS && rtt_ms > rtt_bounds_ms[i])
		i++;
	g->stats.probe_rtt_le[i]++;
	g->stats.probe_rtt_count++;
	g->stats.probe_rtt_sum_ms += (uint64_t)rtt_ms;
}

size_t
gossip_queue_depth(const struct gossip *g)
{
	return g->q.count;
}

size_t
gossip_mem_usage(const struct gossip *g)
{
	size_t n = sizeof(*g);

	n += g->cap_slots * sizeof(*g->m) + g->cap_free * sizeof(*g->free_slots);
	n += g->idx_cap * sizeof(*g->idx);
	n += g->order_cap * sizeof(*g->order);
	n += g->cfg.seal_cache * sizeof(*g->seal);
	n += g->q.tcap * sizeof(*g->q.tab) + g->q.count * (sizeof(struct bcast) + 64);
	n += objects_mem(g);
	if (g->store->owned_by_state)
		n += store_mem(g->store);
	return n;
}
