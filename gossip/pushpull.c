/*
 * Push-pull anti-entropy, over a stream the caller carries.  A full state
 * exchange at every period would cost each node its whole member list
 * (records and certificates) every few minutes, which alone breaks the
 * traffic budget at ten thousand members.  So the exchange starts with a
 * digest: members hash into 256 buckets by key id (objects into 64), each
 * bucket summarised by the XOR of its members' (id, incarnation, version,
 * state) hashes, kept up to date on every change.  Only buckets that
 * differ travel:
 *
 *   A -> B  PP_REQ   A's digest
 *   B -> A  PP_RESP  B's digest, B's entries in buckets that differ
 *   A -> B  PP_PUSH  A's entries in buckets still differing after A merged
 *
 * A joining node has an empty digest, so it receives everything: a join
 * is a full state transfer, a periodic exchange between nodes in sync is
 * two digests: 2.5 KB each dense, or 9 bytes per non-zero bucket sparse
 * (about 150 bytes at 16 members).  Sparse digests go only to a peer
 * that said it takes them (WIRE_PP_SPARSE_OK in any push-pull message
 * from its address), so agents from before them still understand every
 * message sent to them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "gossip/internal.h"

/* Dense: every bucket, u64 big-endian. */
static void
pack_digest(msgpack_packer *pk, const uint64_t *d, size_t n)
{
	uint8_t t[WIRE_DIGEST_MEMBERS * 9];

	for (size_t i = 0; i < n; i++)
		for (int j = 0; j < 8; j++)
			t[i * 8 + (size_t)j] = (uint8_t)(d[i] >> (56 - 8 * j));
	wire_put_bin(pk, t, n * 8);
}

/* Sparse when smaller: the non-zero buckets, (index, u64) each. */
static void
pack_digest_sparse(msgpack_packer *pk, const uint64_t *d, size_t n)
{
	uint8_t t[WIRE_DIGEST_MEMBERS * 9];
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		if (d[i] == 0)
			continue;
		if (len + 9 > n * 8) {
			pack_digest(pk, d, n);
			return;
		}
		t[len++] = (uint8_t)i;
		for (int j = 0; j < 8; j++)
			t[len++] = (uint8_t)(d[i] >> (56 - 8 * j));
	}
	wire_put_bin(pk, t, len);
}

/* Peers known to take sparse digests, by a hash of their gossip address:
 * an open-addressing set, grown as needed. */
static uint64_t
addr_key(const struct gossip_addr *a)
{
	uint8_t b[19];

	b[0] = a->family;
	memcpy(b + 1, a->ip, 16);
	b[17] = (uint8_t)(a->port >> 8);
	b[18] = (uint8_t)a->port;
	return store_hash(b, sizeof(b)) | 1;
}

static bool
sparse_peer(const struct gossip *g, const struct gossip_addr *a)
{
	uint64_t k = addr_key(a);

	if (g->sparse_cap == 0)
		return false;
	for (size_t h = k & (g->sparse_cap - 1); g->sparse_peers[h];
	     h = (h + 1) & (g->sparse_cap - 1))
		if (g->sparse_peers[h] == k)
			return true;
	return false;
}

static void
sparse_insert(uint64_t *set, size_t cap, uint64_t k)
{
	size_t h = k & (cap - 1);

	while (set[h] != 0 && set[h] != k)
		h = (h + 1) & (cap - 1);
	set[h] = k;
}

/* A peer that stops saying so (an older agent on the same address) is
 * never sent one again. */
static void
note_sparse_peer(struct gossip *g, const struct gossip_addr *a, bool ok)
{
	uint64_t k = addr_key(a);

	if (!ok) {
		if (!sparse_peer(g, a))
			return;
		/* Rebuilt without it: removals are rare. */
		uint64_t *old = g->sparse_peers;
		size_t cap = g->sparse_cap;

		g->sparse_peers = calloc(cap, sizeof(*old));
		g->sparse_n = 0;
		if (g->sparse_peers == NULL) {
			g->sparse_cap = 0;
			free(old);
			return;
		}
		for (size_t i = 0; i < cap; i++)
			if (old[i] != 0 && old[i] != k) {
				sparse_insert(g->sparse_peers, cap, old[i]);
				g->sparse_n++;
			}
		free(old);
		return;
	}
	if (sparse_peer(g, a))
		return;
	if (2 * (g->sparse_n + 1) > g->sparse_cap) {
		size_t cap = g->sparse_cap ? 2 * g->sparse_cap : 16;
		uint64_t *n;

		if (cap > 4 * (size_t)GOSSIP_MAX_MEMBERS)
			return; /* bounded: the rest get dense digests */
		if ((n = calloc(cap, sizeof(*n))) == NULL)
			return;
		for (size_t i = 0; i < g->sparse_cap; i++)
			if (g->sparse_peers[i] != 0)
				sparse_insert(n, cap, g->sparse_peers[i]);
		free(g->sparse_peers);
		g->sparse_peers = n;
		g->sparse_cap = cap;
	}
	sparse_insert(g->sparse_peers, g->sparse_cap, k);
	g->sparse_n++;
}

static bool
bit(const uint64_t *set, size_t i)
{
	return set == NULL || (set[i / 64] >> (i % 64) & 1);
}

static void
pack_entries(struct gossip *g, msgpack_packer *pk, const uint64_t *want_m)
{
	size_t n = 0;

	for (uint32_t i = 0; i < g->n_slots; i++)
		if (g->m[i].rec && bit(want_m, member_id(&g->m[i])[0]))
			n++;
	msgpack_pack_array(pk, n);
	for (uint32_t i = 0; i < g->n_slots; i++) {
		const struct member *m = &g->m[i];

		if (m->rec == NULL || !bit(want_m, member_id(m)[0]))
			continue;
		msgpack_pack_array(pk, 5);
		msgpack_pack_uint8(pk, m->state);
		msgpack_pack_uint32(pk, m->inc);
		wire_put_bin(pk, m->rec->bytes, m->rec->len);
		wire_put_bin(pk, m->rec->cert->bytes, m->rec->cert->len);
		if (m->state == GOSSIP_LEFT && m->has_leave) {
			const uint8_t *lv = (const uint8_t *)(void *)m->susp;

			wire_put_bin(pk, lv + 2, get_u16be(lv));
		} else {
			msgpack_pack_nil(pk);
		}
	}
}

static void
pack_objects(struct gossip *g, msgpack_packer *pk, const uint64_t *want_o)
{
	size_t n = 0, b;
	struct obj *o;

	for (o = objects_first(g, &b); o; o = objects_next(g, o, &b))
		if (bit(want_o, o->key % WIRE_DIGEST_OBJECTS))
			n++;
	msgpack_pack_array(pk, n);
	for (o = objects_first(g, &b); o; o = objects_next(g, o, &b)) {
		if (!bit(want_o, o->key % WIRE_DIGEST_OBJECTS))
			continue;
		msgpack_pack_array(pk, 2);
		wire_put_bin(pk, o->msg, o->msg_len);
		if (o->cert)
			wire_put_bin(pk, o->cert, o->cert_len);
		else
			msgpack_pack_nil(pk);
	}
}

int
pushpull_encode(struct gossip *g, uint8_t type, uint32_t flags,
                const uint64_t *want_m, const uint64_t *want_o, uint8_t **out,
                size_t *out_len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	switch (type) {
	case WIRE_PP_REQ:
		msgpack_pack_array(&pk, 4);
		break;
	case WIRE_PP_RESP:
		msgpack_pack_array(&pk, 6);
		break;
	default:
		msgpack_pack_array(&pk, 4);
		break;
	}
	msgpack_pack_uint8(&pk, type);
	msgpack_pack_uint32(&pk, flags | WIRE_PP_SPARSE_OK);
	if (type == WIRE_PP_REQ || type == WIRE_PP_RESP) {
		if (flags & WIRE_PP_SPARSE) {
			pack_digest_sparse(&pk, g->mdig, WIRE_DIGEST_MEMBERS);
			pack_digest_sparse(&pk, g->odig, WIRE_DIGEST_OBJECTS);
		} else {
			pack_digest(&pk, g->mdig, WIRE_DIGEST_MEMBERS);
			pack_digest(&pk, g->odig, WIRE_DIGEST_OBJECTS);
		}
	}
	if (type == WIRE_PP_RESP || type == WIRE_PP_PUSH) {
		pack_entries(g, &pk, want_m);
		pack_objects(g, &pk, want_o);
	}
	if (sb.data == NULL) {
		msgpack_sbuffer_destroy(&sb);
		return WEFT_ENOMEM;
	}
	*out = (uint8_t *)sb.data;
	*out_len = sb.size;
	return 0;
}

int
pushpull_start(struct gossip *g, int64_t now, const struct gossip_addr *to,
               uint32_t flags)
{
	uint8_t *p;
	size_t n;
	int rc;

	(void)now;
	if (sparse_peer(g, to))
		flags |= WIRE_PP_SPARSE;
	rc = pushpull_encode(g, WIRE_PP_REQ, flags, NULL, NULL, &p, &n);
	if (rc)
		return rc;
	return gossip_send_stream(g, to, p, n);
}

/* Which buckets differ between our digest and theirs; false if none. */
static bool
diff(const struct gossip *g, const struct wire_stream *s, uint64_t *want_m,
     uint64_t *want_o)
{
	bool any = false;

	memset(want_m, 0, WIRE_DIGEST_MEMBERS / 8);
	memset(want_o, 0, WIRE_DIGEST_OBJECTS / 8);
	for (size_t i = 0; i < WIRE_DIGEST_MEMBERS; i++)
		if (g->mdig[i] != s->mdigest[i]) {
			want_m[i / 64] |= 1ull << (i % 64);
			any = true;
		}
	for (size_t i = 0; i < WIRE_DIGEST_OBJECTS; i++)
		if (g->odig[i] != s->odigest[i]) {
			want_o[i / 64] |= 1ull << (i % 64);
			any = true;
		}
	return any;
}

static void
merge(struct gossip *g, int64_t now, const struct wire_stream *s)
{
	for (size_t i = 0; i < s->n_entries; i++) {
		const struct wire_entry *e = &s->entries[i];
		struct gossip_record *gr;
		const uint8_t *body;
		size_t body_len;
		uint8_t sig[KEY_SIG_LEN], id[KEY_ID_LEN];
		const char *why;
		struct rec *r;

		/* Dead and left members we do not know stay unknown: that is
		 * how reaped members stay reaped. */
		if (e->state == GOSSIP_DEAD || e->state == GOSSIP_LEFT) {
			r = store_find_rec(g->store, e->rec, e->rec_len,
			                   store_hash(e->rec, e->rec_len));
			if (r != NULL) {
				memcpy(id, r->r->key_id, KEY_ID_LEN);
			} else {
				if (wire_decode_record(e->rec, e->rec_len, &gr, &body,
				                       &body_len, sig, &why) != 0) {
					g->stats.refused_records++;
					g->stats.last_reason = why;
					continue;
				}
				memcpy(id, gr->key_id, KEY_ID_LEN);
				free(gr);
			}
			if (member_find(g, id) == NULL)
				continue;
		}
		if (member_on_alive(g, now, e->rec, e->rec_len, e->cert,
		                    e->cert_len, !(s->flags & WIRE_PP_JOIN)) != 0)
			continue;
		r = store_find_rec(g->store, e->rec, e->rec_len,
		                   store_hash(e->rec, e->rec_len));
		if (r == NULL)
			continue;
		memcpy(id, r->r->key_id, KEY_ID_LEN);
		switch (e->state) {
		case GOSSIP_SUSPECT:
			member_on_suspect(g, now, id, e->inc, member_zero_id());
			break;
		case GOSSIP_DEAD:
			/* Someone else's old verdict is only a suspicion here:
			 * the member gets its chance to refute (memberlist
			 * does the same). */
			member_on_suspect(g, now, id, e->inc, member_zero_id());
			break;
		case GOSSIP_LEFT:
			if (e->leave)
				member_on_leave(g, now, e->leave, e->leave_len);
			break;
		default:
			break;
		}
	}
	for (size_t i = 0; i < s->n_objs; i++)
		objects_on_msg(g, now, s->objs[i].obj, s->objs[i].obj_len,
		               s->objs[i].cert, s->objs[i].cert_len, true);
}

int
pushpull_recv(struct gossip *g, int64_t now, const struct gossip_addr *from,
              const uint8_t *p, size_t len)
{
	struct wire_stream s;
	uint64_t want_m[WIRE_DIGEST_MEMBERS / 64];
	uint64_t want_o[1];
	const char *why = NULL;
	uint8_t *out;
	size_t out_len;
	int rc = wire_decode_stream(p, len, &s, &why);

	if (rc) {
		g->stats.drop_malformed++;
		g->stats.last_reason = why;
		return rc;
	}
	note_sparse_peer(g, from, (s.flags & WIRE_PP_SPARSE_OK) != 0);
	switch (s.type) {
	case WIRE_PP_REQ:
		diff(g, &s, want_m, want_o);
		rc = pushpull_encode(g, WIRE_PP_RESP,
		                     s.flags & WIRE_PP_SPARSE_OK ? WIRE_PP_SPARSE : 0,
		                     want_m, want_o, &out, &out_len);
		if (rc == 0)
			rc = gossip_send_stream(g, from, out, out_len);
		break;
	case WIRE_PP_RESP:
		merge(g, now, &s);
		if (diff(g, &s, want_m, want_o)) {
			/* A joiner's push is news the receiver must spread. */
			uint32_t fl = g->joining ? WIRE_PP_JOIN : 0;

			rc = pushpull_encode(g, WIRE_PP_PUSH, fl, want_m, want_o, &out,
			                     &out_len);
			if (rc == 0)
				rc = gossip_send_stream(g, from, out, out_len);
		}
		g->joining = false;
		break;
	case WIRE_PP_PUSH:
		merge(g, now, &s);
		break;
	default:
		break;
	}
	wire_stream_fini(&s);
	return rc;
}

int64_t
pushpull_interval(const struct gossip *g)
{
	size_t n = gossip_live_count(g);
	double mult;

	if (n <= 32)
		return g->cfg.pushpull_interval_ms;
	/* memberlist's pushPullScale: one more period per doubling past 32,
	 * so the cluster's total push-pull rate grows like N / log N. */
	mult = ceil(log2((double)n) - log2(32.0)) + 1.0;
	return (int64_t)(mult * (double)g->cfg.pushpull_interval_ms);
}

static size_t
addr_slot(const struct gossip_addr *a)
{
	return store_hash((const uint8_t *)a->ip, 16) ^ a->port ^ a->family;
}

/*
 * A packet sealed by a key id we do not know comes from a node that
 * learned of us before we learned of it (typically a fresh joiner).
 * Dropping it silently would let it fail its probes of us; instead we
 * pull state from its address, which brings its record and certificate.
 * Rate-limited per address and overall, since the packet is unauthenticated.
 */
void
pushpull_unknown_key(struct gossip *g, int64_t now,
                     const struct gossip_addr *from)
{
	struct pull_slot *s = &g->pulls[addr_slot(from) % PULL_SLOTS];

	if (gossip_addr_eq(&s->addr, from) && now - s->at < g->cfg.unknown_pull_ms)
		return;
	if (now - g->pull_window >= 1000) {
		g->pull_window = now;
		g->pulls_in_window = 0;
	}
	if (g->pulls_in_window >= 8)
		return;
	g->pulls_in_window++;
	s->addr = *from;
	s->at = now;
	g->stats.unknown_pulls++;
	pushpull_start(g, now, from, 0);
}
