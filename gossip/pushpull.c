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
 * two digests (2.5 KB).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "gossip/internal.h"

static void
pack_digest(msgpack_packer *pk, const uint64_t *d, size_t n)
{
	uint8_t t[WIRE_DIGEST_MEMBERS * 8];

	for (size_t i = 0; i < n; i++)
		for (int j = 0; j < 8; j++)
			t[i * 8 + (size_t)j] = (uint8_t)(d[i] >> (56 - 8 * j));
	wire_put_bin(pk, t, n * 8);
}

static uint64_t
digest_at(const uint8_t *p, size_t i)
{
	uint64_t v = 0;

	for (int j = 0; j < 8; j++)
		v = v << 8 | p[i * 8 + (size_t)j];
	return v;
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
	msgpack_pack_uint32(&pk, flags);
	if (type == WIRE_PP_REQ || type == WIRE_PP_RESP) {
		pack_digest(&pk, g->mdig, WIRE_DIGEST_MEMBERS);
		pack_digest(&pk, g->odig, WIRE_DIGEST_OBJECTS);
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
	int rc = pushpull_encode(g, WIRE_PP_REQ, flags, NULL, NULL, &p, &n);

	(void)now;
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
		if (g->mdig[i] != digest_at(s->mdigest, i)) {
			want_m[i / 64] |= 1ull << (i % 64);
			any = true;
		}
	for (size_t i = 0; i < WIRE_DIGEST_OBJECTS; i++)
		if (g->odig[i] != digest_at(s->odigest, i)) {
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
	switch (s.type) {
	case WIRE_PP_REQ:
		diff(g, &s, want_m, want_o);
		rc = pushpull_encode(g, WIRE_PP_RESP, 0, want_m, want_o, &out,
		                     &out_len);
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
