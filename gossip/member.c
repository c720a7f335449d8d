/*
 * The member table and its one state machine: alive, suspect, dead, left,
 * driven by incarnations.  Every claim about a member (an alive record, a
 * suspicion, a death, a leave) comes through one of the member_on_*
 * functions, whatever carried it (a packet, a relay, push-pull).
 *
 * Ordering: a claim counts only if its incarnation is at least the
 * member's current one; an alive record refutes suspicion or death only
 * with a strictly higher incarnation, which only the member itself can
 * sign.  A record with the same incarnation and a higher version is a
 * content update (services, tags) and leaves the state as it is.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "gossip/internal.h"

static const uint8_t zero_id[KEY_ID_LEN];

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

const uint8_t *
member_id(const struct member *m)
{
	return m->id;
}

uint32_t
member_index(const struct gossip *g, const struct member *m)
{
	return (uint32_t)(m - g->m);
}

/* Alive and suspect look the same to anti-entropy: suspicion is a
 * transient local opinion, and comparing it would make every suspicion
 * cost a push-pull bucket. */
uint64_t
member_digest(const struct member *m)
{
	uint64_t coarse = m->state == GOSSIP_SUSPECT ? GOSSIP_ALIVE : m->state;

	return mix64(id_u64(member_id(m)) ^ mix64((uint64_t)m->inc << 8 | coarse) ^
	             mix64(m->rec->r->version + 0x9e3779b97f4a7c15ull));
}

static void
digest_flip(struct gossip *g, const struct member *m)
{
	g->mdig[member_id(m)[0]] ^= member_digest(m);
}

struct member *
member_find(const struct gossip *g, const uint8_t id[KEY_ID_LEN])
{
	size_t mask = g->idx_cap - 1;
	size_t h = mix64(id_u64(id)) & mask;

	for (; g->idx[h]; h = (h + 1) & mask) {
		struct member *m = &g->m[g->idx[h] - 1];

		if (memcmp(member_id(m), id, KEY_ID_LEN) == 0)
			return m;
	}
	return NULL;
}

static void
idx_insert(uint32_t *idx, size_t cap, uint64_t idv, uint32_t slot)
{
	size_t h = mix64(idv) & (cap - 1);

	while (idx[h])
		h = (h + 1) & (cap - 1);
	idx[h] = slot + 1;
}

static int
idx_grow(struct gossip *g)
{
	size_t ncap = g->idx_cap * 2;
	uint32_t *n = calloc(ncap, sizeof(*n));

	if (n == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < g->idx_cap; i++)
		if (g->idx[i])
			idx_insert(n, ncap, id_u64(member_id(&g->m[g->idx[i] - 1])),
			           g->idx[i] - 1);
	free(g->idx);
	g->idx = n;
	g->idx_cap = ncap;
	return 0;
}

/* Linear probing deletion by backward shift: no tombstones to age. */
static void
idx_delete(struct gossip *g, uint32_t slot)
{
	size_t mask = g->idx_cap - 1;
	size_t h = mix64(id_u64(member_id(&g->m[slot]))) & mask;
	size_t j;

	while (g->idx[h] != slot + 1)
		h = (h + 1) & mask;
	g->idx[h] = 0;
	j = h;
	for (;;) {
		size_t k;

		j = (j + 1) & mask;
		if (g->idx[j] == 0)
			break;
		k = mix64(id_u64(member_id(&g->m[g->idx[j] - 1]))) & mask;
		/* Move j back to h unless its home k lies cyclically in (h, j]. */
		if ((h <= j) ? (h < k && k <= j) : (h < k || k <= j))
			continue;
		g->idx[h] = g->idx[j];
		g->idx[j] = 0;
		h = j;
	}
}

int
member_add(struct gossip *g, struct rec *r, uint32_t *out)
{
	uint32_t slot;
	struct member *m;

	if (g->n_slots - g->n_free >= GOSSIP_MAX_MEMBERS)
		return WEFT_ETOOBIG;
	if (4 * (g->n_slots - g->n_free + 1) > 3 * g->idx_cap &&
	    idx_grow(g) != 0)
		return WEFT_ENOMEM;
	if (g->n_free > 0) {
		slot = g->free_slots[--g->n_free];
	} else {
		if (g->n_slots == g->cap_slots) {
			/* 1.5x: at ten thousand members per node and ten
			 * thousand nodes in the simulator, slack is memory. */
			uint32_t ncap = g->cap_slots ? g->cap_slots + g->cap_slots / 2 :
			                               16;
			struct member *nm = realloc(g->m, ncap * sizeof(*nm));

			if (nm == NULL)
				return WEFT_ENOMEM;
			g->m = nm;
			g->cap_slots = ncap;
		}
		slot = g->n_slots++;
	}
	m = &g->m[slot];
	memset(m, 0, sizeof(*m));
	m->rec = r;
	memcpy(m->id, r->r->key_id, KEY_ID_LEN);
	m->inc = r->r->incarnation;
	m->state = GOSSIP_ALIVE;
	idx_insert(g->idx, g->idx_cap, id_u64(r->r->key_id), slot);
	g->counts[GOSSIP_ALIVE]++;
	digest_flip(g, m);
	*out = slot;
	return 0;
}

static void
drop_extra(struct gossip *g, struct member *m)
{
	if (m->state == GOSSIP_SUSPECT && m->susp) {
		list_remove(&m->susp->link);
		free(m->susp);
	} else if (m->has_leave) {
		free((void *)m->susp);
		m->has_leave = 0;
	}
	m->susp = NULL;
}

void
member_remove(struct gossip *g, uint32_t i)
{
	struct member *m = &g->m[i];

	if (g->n_free == g->cap_free) {
		uint32_t ncap = g->cap_free ? 2 * g->cap_free : 16;
		uint32_t *nf = realloc(g->free_slots, ncap * sizeof(*nf));

		if (nf == NULL)
			return; /* keeps the member rather than lose track */
		g->free_slots = nf;
		g->cap_free = ncap;
	}
	digest_flip(g, m);
	g->counts[m->state]--;
	idx_delete(g, i);
	drop_extra(g, m);
	rec_unref(g->store, m->rec);
	m->rec = NULL;
	g->free_slots[g->n_free++] = i;
}

void
member_set_state(struct gossip *g, struct member *m, uint8_t st, uint32_t inc,
                 int64_t now)
{
	digest_flip(g, m);
	g->counts[m->state]--;
	if (m->state != st)
		m->since = now;
	if (st != GOSSIP_SUSPECT || m->state != GOSSIP_SUSPECT)
		drop_extra(g, m);
	m->state = st;
	m->inc = inc;
	g->counts[st]++;
	digest_flip(g, m);
}

static void
replace_rec(struct gossip *g, struct member *m, struct rec *r)
{
	digest_flip(g, m);
	rec_unref(g->store, m->rec);
	m->rec = r;
	digest_flip(g, m);
}

int64_t
member_suspicion_min(const struct gossip *g)
{
	double n = (double)gossip_live_count(g);
	double scale = n > 1 ? log10(n) : 1;

	int64_t unit = g->cfg.suspicion_unit == GOSSIP_SUSPICION_PER_GOSSIP ?
	               g->cfg.gossip_interval_ms : g->cfg.probe_interval_ms;

	if (scale < 1)
		scale = 1;
	return (int64_t)((double)g->cfg.suspicion_mult * scale * (double)unit);
}

int64_t
member_suspicion_max(const struct gossip *g)
{
	return (int64_t)g->cfg.suspicion_max_mult * member_suspicion_min(g);
}

/* --- verification through the store --- */

static bool
cert_in_window(const struct gossip *g, const struct gossip_ident *id,
               int64_t now)
{
	int64_t s = now / 1000;

	return s + g->cfg.cert_skew_s >= id->not_before &&
	       s - g->cfg.cert_skew_s <= id->not_after;
}

int
member_verify(struct gossip *g, int64_t now, const uint8_t *p, size_t len,
              const uint8_t *cert, size_t cert_len, struct rec **out)
{
	struct gossip_record *gr = NULL;
	const uint8_t *body;
	size_t body_len;
	uint8_t sig[KEY_SIG_LEN];
	struct gossip_ident ident;
	struct certent *ce;
	struct rec *r;
	uint64_t h = store_hash(p, len);
	const char *why = NULL;
	const char **names = NULL;
	uint8_t *copy;
	int rc;

	r = store_find_rec(g->store, p, len, h);
	if (r != NULL) {
		g->stats.sig_cache_hits++;
		rec_ref(r);
		*out = r;
		return 0;
	}
	rc = wire_decode_record(p, len, &gr, &body, &body_len, sig, &why);
	if (rc) {
		g->stats.last_reason = why;
		return rc;
	}
	if (gossip_revocations_has(g, gr->key_id)) {
		g->stats.last_reason = "record of a revoked key";
		rc = WEFT_EREVOKED;
		goto fail;
	}
	if (cert == NULL) {
		ce = store_find_cert(g->store, gr->key_id);
		if (ce == NULL) {
			g->stats.last_reason = "record without a known certificate";
			rc = WEFT_ENOENT;
			goto fail;
		}
		cert = ce->bytes;
		cert_len = ce->len;
	}
	if (gr->n_services) {
		names = malloc(gr->n_services * sizeof(*names));
		if (names == NULL) {
			rc = WEFT_ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < gr->n_services; i++)
			names[i] = gr->services[i].name;
	}
	rc = gossip_cert_check(g, now, cert, cert_len, names, gr->n_services,
	                       &ident);
	free(names);
	if (rc) {
		g->stats.last_reason = rc == WEFT_EPOLICY ?
			"record lists a service its certificate does not allow" :
			"record certificate does not verify";
		goto fail;
	}
	if (memcmp(ident.key_id, gr->key_id, KEY_ID_LEN) != 0) {
		g->stats.last_reason = "record key id differs from its certificate";
		rc = WEFT_EAUTH;
		goto fail;
	}
	g->stats.sig_verifies++;
	rc = g->crypto.verify(g->crypto.ctx, ident.sign_pk, KEY_SIG_RECORD, body,
	                      body_len, sig);
	if (rc) {
		g->stats.last_reason = "record signature does not verify";
		goto fail;
	}
	rc = store_put_cert(g->store, cert, cert_len, &ident, &ce);
	if (rc)
		goto fail;
	copy = malloc(len);
	if (copy == NULL) {
		rc = WEFT_ENOMEM;
		goto fail;
	}
	memcpy(copy, p, len);
	rc = store_add_rec(g->store, copy, len, h, gr, ce, &r);
	if (rc) {
		free(copy);
		goto fail;
	}
	*out = r;
	return 0;
fail:
	free(gr);
	return rc;
}

/* --- broadcasting claims --- */

void
member_broadcast_alive(struct gossip *g, const struct member *m, bool cert)
{
	const struct rec *r = m->rec;
	size_t budget = g->cfg.mtu - SEAL_OVERHEAD - 16;
	size_t cap = r->len + r->cert->len + 32;
	uint8_t *tmp = malloc(cap);
	struct buf b;

	if (tmp == NULL)
		return;
	buf_init(&b, tmp, cap);
	/*
	 * The certificate rides along with a member's first record, when it
	 * fits, so that receivers can check a member they never met.  Later
	 * records (refutations, updates) go without: everyone who knows the
	 * member has its certificate, and whoever does not learns both from
	 * push-pull.  That keeps refutations small, and they are most of the
	 * gossip at high loss.
	 */
	if (cert && r->len + r->cert->len + 16 <= budget)
		wire_put_pair(&b, WIRE_ALIVE, r->bytes, r->len, r->cert->bytes,
		              r->cert->len);
	else
		wire_put_pair(&b, WIRE_ALIVE, r->bytes, r->len, NULL, 0);
	if (b.err == 0 && b.len <= budget)
		bqueue_put(&g->q, BKEY_MEMBER(r->r->key_id), tmp, b.len);
	free(tmp);
}

static void
broadcast_claim(struct gossip *g, uint8_t type, const uint8_t id[KEY_ID_LEN],
                uint32_t inc, const uint8_t from[KEY_ID_LEN])
{
	uint8_t tmp[64];
	struct buf b;

	buf_init(&b, tmp, sizeof(tmp));
	wire_put_claim(&b, type, id, inc, from);
	if (b.err == 0)
		bqueue_put(&g->q, BKEY_MEMBER(id), tmp, b.len);
}

/* --- this node's own record --- */

/*
 * Signs and installs a record for this node made from tmpl (which names
 * its incarnation and version), and queues it for broadcast.
 */
int
member_publish_self(struct gossip *g, const struct gossip_record *tmpl)
{
	uint8_t *body, *env, sig[KEY_SIG_LEN];
	size_t body_len, env_len;
	struct gossip_record *gr;
	const uint8_t *b2;
	size_t b2_len;
	const char *why;
	struct rec *nr;
	struct member *m;
	uint64_t h;
	uint32_t slot;
	bool first = g->self_rec == NULL;
	int rc;

	rc = wire_encode_record_body(tmpl, &body, &body_len);
	if (rc)
		return rc;
	rc = g->crypto.sign(g->crypto.ctx, KEY_SIG_RECORD, body, body_len, sig);
	if (rc == 0)
		rc = wire_envelope(body, body_len, sig, &env, &env_len);
	free(body);
	if (rc)
		return rc;
	if (env_len > WIRE_MAX_RECORD) {
		free(env);
		return WEFT_ETOOBIG;
	}
	rc = wire_decode_record(env, env_len, &gr, &b2, &b2_len, sig, &why);
	if (rc) {
		free(env);
		return rc;
	}
	h = store_hash(env, env_len);
	nr = store_find_rec(g->store, env, env_len, h);
	if (nr != NULL) {
		rec_ref(nr);
		free(env);
		free(gr);
	} else {
		rc = store_add_rec(g->store, env, env_len, h, gr, g->self_cert,
		                   &nr);
		if (rc) {
			free(env);
			free(gr);
			return rc;
		}
	}
	if (g->self_rec == NULL) {
		rc = member_add(g, nr, &slot);
		if (rc) {
			rec_unref(g->store, nr);
			return rc;
		}
		g->self = slot;
	} else {
		replace_rec(g, &g->m[g->self], nr);
	}
	g->self_rec = nr;
	g->self_inc = tmpl->incarnation;
	g->self_version = tmpl->version;
	m = &g->m[g->self];
	digest_flip(g, m);
	m->inc = tmpl->incarnation;
	digest_flip(g, m);
	/* Others know this node's certificate by its key id; a renewed one
	 * must travel with the record, or they keep checking it against the
	 * old one. */
	member_broadcast_alive(g, m, first ||
	                       tmpl->version <= g->self_cert_until);
	return 0;
}

int
member_sign_self(struct gossip *g, uint32_t inc, uint64_t version)
{
	struct gossip_record r = *g->self_rec->r;

	r.incarnation = inc;
	r.version = version;
	return member_publish_self(g, &r);
}

void
member_free_all(struct gossip *g)
{
	for (uint32_t i = 0; i < g->n_slots; i++) {
		struct member *m = &g->m[i];

		if (m->rec == NULL)
			continue;
		drop_extra(g, m);
		rec_unref(g->store, m->rec);
		m->rec = NULL;
	}
}

int
member_refute(struct gossip *g, int64_t now, uint32_t claimed)
{
	uint32_t inc = (claimed > g->self_inc ? claimed : g->self_inc) + 1;

	(void)now;
	g->stats.refutations++;
	/* Being suspected is a sign we are the slow one (Lifeguard). */
	awareness_apply(&g->aw, 1);
	return member_sign_self(g, inc, g->self_version);
}

/* --- claims --- */

int
member_on_alive(struct gossip *g, int64_t now, const uint8_t *p, size_t len,
                const uint8_t *cert, size_t cert_len, bool quiet_new)
{
	struct rec *r;
	struct member *m;
	const struct gossip_record *cur;
	uint32_t slot;
	uint8_t prev;
	int rc = member_verify(g, now, p, len, cert, cert_len, &r);

	if (rc) {
		g->stats.refused_records++;
		return rc;
	}
	if (!cert_in_window(g, &r->cert->ident, now)) {
		g->stats.refused_records++;
		g->stats.last_reason = "record certificate outside its validity";
		rec_unref(g->store, r);
		return WEFT_EEXPIRED;
	}
	m = member_find(g, r->r->key_id);
	if (m == NULL) {
		rc = member_add(g, r, &slot);
		if (rc) {
			rec_unref(g->store, r);
			return rc;
		}
		m = &g->m[slot];
		m->since = now;
		probe_add_member(g, slot);
		gossip_emit(g, GOSSIP_EV_JOINED, m, NULL);
		/* A member first met in a periodic push-pull is already known
		 * to the cluster it came from; spreading it again would make
		 * every exchange a storm.  A joiner's own push is news. */
		if (!quiet_new) {
			member_broadcast_alive(g, m, true);
			gossip_pull_soon(g, now);
		}
		return 0;
	}
	if (member_index(g, m) == g->self) {
		/* A record of ours we no longer hold, from an earlier life:
		 * outbid it so the cluster keeps the current one. */
		if (r != g->self_rec && !g->leaving &&
		    (r->r->incarnation > g->self_inc ||
		     (r->r->incarnation == g->self_inc &&
		      r->r->version > g->self_version))) {
			if (r->r->version > g->self_version)
				g->self_version = r->r->version + 1;
			member_refute(g, now, r->r->incarnation);
		}
		rec_unref(g->store, r);
		return 0;
	}
	cur = m->rec->r;
	if (r == m->rec) {
		rec_unref(g->store, r);
		return 0;
	}
	if (r->r->incarnation > m->inc) {
		prev = m->state;
		replace_rec(g, m, r);
		member_set_state(g, m, GOSSIP_ALIVE, r->r->incarnation, now);
		if (prev == GOSSIP_SUSPECT)
			gossip_emit(g, GOSSIP_EV_ALIVE, m, NULL);
		else if (prev == GOSSIP_DEAD || prev == GOSSIP_LEFT)
			gossip_emit(g, GOSSIP_EV_JOINED, m, NULL);
		else
			gossip_emit(g, GOSSIP_EV_UPDATED, m, NULL);
		if (prev == GOSSIP_DEAD || prev == GOSSIP_LEFT)
			probe_add_member(g, member_index(g, m));
		member_broadcast_alive(g, m, false);
		return 0;
	}
	if (r->r->incarnation == cur->incarnation &&
	    r->r->incarnation == m->inc && r->r->version > cur->version) {
		replace_rec(g, m, r);
		if (m->state == GOSSIP_ALIVE || m->state == GOSSIP_SUSPECT)
			gossip_emit(g, GOSSIP_EV_UPDATED, m, NULL);
		member_broadcast_alive(g, m, false);
		return 0;
	}
	rec_unref(g->store, r);
	return 0;
}

static unsigned
confirmations_wanted(const struct gossip *g)
{
	unsigned k = g->cfg.suspicion_confirm;
	size_t n = gossip_live_count(g);

	if (k == 0)
		k = g->cfg.suspicion_mult > 2 ? g->cfg.suspicion_mult - 2 : 0;
	/* Too few members to confirm anything: go straight to min. */
	if (n < 2 || n - 2 < k)
		k = 0;
	return k;
}

/*
 * A claim about us with an incarnation we already outbid: its sender
 * missed our refutation, and would go on to declare us dead at the end of
 * its timer while acks from us change nothing.  Queue our record again so
 * it rides on the very next packet, the ack to that sender's probe among
 * them (buddy system).
 */
static bool
stale_claim_about_self(struct gossip *g, const struct member *m, uint32_t inc)
{
	if (member_index(g, m) != g->self || inc >= m->inc || g->leaving)
		return false;
	member_broadcast_alive(g, m, false);
	return true;
}

void
member_on_suspect(struct gossip *g, int64_t now, const uint8_t id[KEY_ID_LEN],
                  uint32_t inc, const uint8_t from[KEY_ID_LEN])
{
	struct member *m = member_find(g, id);
	struct suspicion *s;
	int64_t min, max;

	if (m != NULL && stale_claim_about_self(g, m, inc))
		return;
	if (m == NULL || inc < m->inc || m->state == GOSSIP_DEAD ||
	    m->state == GOSSIP_LEFT)
		return;
	if (member_index(g, m) == g->self) {
		if (!g->leaving)
			member_refute(g, now, inc);
		return;
	}
	if (m->state == GOSSIP_SUSPECT) {
		if (m->susp && suspicion_confirm(m->susp, from))
			broadcast_claim(g, WIRE_SUSPECT, id, inc, from);
		return;
	}
	/* Lifeguard's local health stretches the timer as it does the
	 * probes: a node that misses nacks (overloaded, or its own network
	 * lossy) gives the suspect longer, so that when many members are
	 * starved at once (a host's worth of agents starting) their late
	 * answers end in refutations, not in deaths. */
	min = member_suspicion_min(g);
	max = member_suspicion_max(g);
	if (g->cfg.suspicion_guard) {
		min = awareness_scale(&g->aw, min);
		max = awareness_scale(&g->aw, max);
	}
	s = suspicion_new(member_index(g, m), confirmations_wanted(g), min, max,
	                  now, from);
	if (s == NULL)
		return;
	member_set_state(g, m, GOSSIP_SUSPECT, inc, now);
	m->susp = s;
	list_insert_tail(&g->suspicions, &s->link);
	g->stats.suspicions++;
	gossip_emit(g, GOSSIP_EV_SUSPECT, m, NULL);
	broadcast_claim(g, WIRE_SUSPECT, id, inc, from);
	if (memcmp(from, g->self_id, KEY_ID_LEN) != 0)
		probe_suspect_soon(g, now, member_index(g, m));
}

void
member_on_dead(struct gossip *g, int64_t now, const uint8_t id[KEY_ID_LEN],
               uint32_t inc, const uint8_t from[KEY_ID_LEN])
{
	struct member *m = member_find(g, id);

	if (m != NULL && stale_claim_about_self(g, m, inc))
		return;
	if (m == NULL || inc < m->inc || m->state == GOSSIP_DEAD ||
	    m->state == GOSSIP_LEFT)
		return;
	if (member_index(g, m) == g->self) {
		if (!g->leaving)
			member_refute(g, now, inc);
		return;
	}
	member_set_state(g, m, GOSSIP_DEAD, inc, now);
	if (memcmp(from, g->self_id, KEY_ID_LEN) == 0)
		g->stats.deaths_declared++;
	gossip_emit(g, GOSSIP_EV_FAILED, m, NULL);
	broadcast_claim(g, WIRE_DEAD, id, inc, from);
}

int
member_on_leave(struct gossip *g, int64_t now, const uint8_t *p, size_t len)
{
	struct wire_leave lv;
	struct member *m;
	const char *why;
	uint8_t *copy, tmp[WIRE_MAX_LEAVE + 16];
	struct buf b;
	int rc = wire_decode_leave(p, len, &lv, &why);

	if (rc) {
		g->stats.last_reason = why;
		g->stats.refused_records++;
		return rc;
	}
	m = member_find(g, lv.key_id);
	if (m == NULL || lv.inc < m->inc ||
	    (m->state == GOSSIP_LEFT && lv.inc == m->inc))
		return 0;
	/* Only the leaving node can sign its leave: a relay cannot make a
	 * live member leave. */
	g->stats.sig_verifies++;
	rc = g->crypto.verify(g->crypto.ctx, m->rec->cert->ident.sign_pk,
	                      KEY_SIG_LEAVE, lv.body, lv.body_len, lv.sig);
	if (rc) {
		g->stats.refused_records++;
		g->stats.last_reason = "leave signature does not verify";
		return WEFT_EBADSIG;
	}
	if (member_index(g, m) == g->self) {
		if (!g->leaving)
			member_refute(g, now, lv.inc);
		return 0;
	}
	copy = malloc(sizeof(uint16_t) + len);
	if (copy == NULL)
		return WEFT_ENOMEM;
	put_u16be(copy, (uint16_t)len);
	memcpy(copy + 2, p, len);
	member_set_state(g, m, GOSSIP_LEFT, lv.inc, now);
	m->susp = (struct suspicion *)(void *)copy;
	m->has_leave = 1;
	gossip_emit(g, GOSSIP_EV_LEFT, m, NULL);
	buf_init(&b, tmp, sizeof(tmp));
	wire_put_leave_msg(&b, p, len);
	if (b.err == 0)
		bqueue_put(&g->q, BKEY_MEMBER(lv.key_id), tmp, b.len);
	return 0;
}

/*
 * A suspicion that fewer than k others confirmed is more likely ours
 * alone: the member refuted it and we missed every copy of the
 * refutation (at 30% loss gossip reaches each node with high
 * probability, not certainty), and the last-chance pings can all be
 * lost too.  Before it ends in a death, a push-pull with a random live
 * member brings that member's view of the suspect, over the reliable
 * stream: a newer incarnation there ends the suspicion here.
 */
static void
suspicion_cross_check(struct gossip *g, int64_t now,
                      const struct suspicion *s)
{
	uint32_t i;
	bool found;

	/* At most one a second: when suspicions come in hundreds (agents
	 * starved of CPU), stream handshakes would starve them further. */
	if (!g->cfg.suspicion_guard || s->n >= s->k || g->leaving ||
	    (g->last_cross_check != 0 && now - g->last_cross_check < 1000))
		return;
	/* A member we suspect too is still likely up, and its stream is
	 * reliable: better than no check when we suspect everyone (our own
	 * network is the problem then). */
	found = gossip_random_member(g, GOSSIP_ALIVE, &i);
	for (int t = 0; !found && t < 4; t++)
		found = gossip_random_member(g, GOSSIP_SUSPECT, &i) &&
		        i != s->member;
	if (!found)
		return;
	g->last_cross_check = now;
	pushpull_start(g, now, &g->m[i].rec->r->addr, 0);
}

void
member_suspicion_tick(struct gossip *g, int64_t now)
{
	struct list *pos, *tmp;

	list_foreach_safe(pos, tmp, &g->suspicions) {
		struct suspicion *s = list_entry(pos, struct suspicion, link);
		struct member *m = &g->m[s->member];

		if (!s->asked && suspicion_ask_at(g, s) <= now) {
			/* A confirmation can bring the deadline to now: the
			 * answer still gets its time. */
			int64_t wait = now + (s->deadline - suspicion_ask_at(g, s));

			s->asked = true;
			s->floor = wait;
			if (s->deadline < wait)
				s->deadline = wait;
			probe_last_chance(g, m);
			suspicion_cross_check(g, now, s);
		}
		if (s->deadline > now)
			continue;
		member_on_dead(g, now, member_id(m), m->inc, g->self_id);
	}
}

void
member_reap(struct gossip *g, int64_t now)
{
	if (g->counts[GOSSIP_DEAD] + g->counts[GOSSIP_LEFT] == 0)
		return;
	for (uint32_t i = 0; i < g->n_slots; i++) {
		struct member *m = &g->m[i];

		if (m->rec == NULL ||
		    (m->state != GOSSIP_DEAD && m->state != GOSSIP_LEFT) ||
		    now - m->since < g->cfg.reap_after_ms)
			continue;
		gossip_emit(g, GOSSIP_EV_REAPED, m, NULL);
		member_remove(g, i);
	}
}

void
member_revoke(struct gossip *g, int64_t now, const uint8_t id[KEY_ID_LEN])
{
	struct member *m = member_find(g, id);

	(void)now;
	if (m == NULL || member_index(g, m) == g->self)
		return;
	gossip_emit(g, GOSSIP_EV_REAPED, m, NULL);
	member_remove(g, member_index(g, m));
	for (size_t i = 0; i < g->cfg.seal_cache; i++)
		if (g->seal[i].used &&
		    memcmp(g->seal[i].id, id, KEY_ID_LEN) == 0) {
			seal_keys_wipe(&g->seal[i].keys);
			g->seal[i].used = false;
		}
}

/* Used by push-pull for claims whose origin is not known. */
const uint8_t *
member_zero_id(void)
{
	return zero_id;
}
