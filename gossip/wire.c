#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mpcheck.h"
#include "crypto/envelope.h"
#include "gossip/wire.h"

/* Nesting of the deepest message: compound > message > (nothing deeper
 * than the push-pull entries); records are bins, parsed on their own. */
#define WIRE_MAX_DEPTH 6

static int
buf_write(void *data, const char *p, size_t n)
{
	return buf_put(data, p, n) ? -1 : 0;
}

void
wire_packer_init(msgpack_packer *pk, struct buf *b)
{
	msgpack_packer_init(pk, b, buf_write);
}

void
wire_put_bin(msgpack_packer *pk, const void *p, size_t n)
{
	msgpack_pack_bin(pk, n);
	if (n)
		msgpack_pack_bin_body(pk, p, n);
}

void
wire_put_addr(msgpack_packer *pk, const struct gossip_addr *a)
{
	uint8_t t[WIRE_ADDR_LEN];

	t[0] = a->family;
	memcpy(t + 1, a->ip, 16);
	put_u16be(t + 17, a->port);
	wire_put_bin(pk, t, sizeof(t));
}

void
wire_put_ping(struct buf *b, uint8_t type, uint32_t seq,
              const uint8_t id[KEY_ID_LEN], const struct gossip_addr *addr)
{
	msgpack_packer pk;

	wire_packer_init(&pk, b);
	msgpack_pack_array(&pk, addr ? 4 : 3);
	msgpack_pack_uint8(&pk, type);
	msgpack_pack_uint32(&pk, seq);
	wire_put_bin(&pk, id, KEY_ID_LEN);
	if (addr)
		wire_put_addr(&pk, addr);
}

void
wire_put_ack(struct buf *b, uint8_t type, uint32_t seq)
{
	msgpack_packer pk;

	wire_packer_init(&pk, b);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, type);
	msgpack_pack_uint32(&pk, seq);
}

void
wire_put_claim(struct buf *b, uint8_t type, const uint8_t id[KEY_ID_LEN],
               uint32_t inc, const uint8_t from[KEY_ID_LEN])
{
	msgpack_packer pk;

	wire_packer_init(&pk, b);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, type);
	wire_put_bin(&pk, id, KEY_ID_LEN);
	msgpack_pack_uint32(&pk, inc);
	wire_put_bin(&pk, from, KEY_ID_LEN);
}

void
wire_put_pair(struct buf *b, uint8_t type, const uint8_t *a, size_t a_len,
              const uint8_t *c, size_t c_len)
{
	msgpack_packer pk;

	wire_packer_init(&pk, b);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, type);
	wire_put_bin(&pk, a, a_len);
	if (c)
		wire_put_bin(&pk, c, c_len);
	else
		msgpack_pack_nil(&pk);
}

void
wire_put_leave_msg(struct buf *b, const uint8_t *leave, size_t len)
{
	msgpack_packer pk;

	wire_packer_init(&pk, b);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, WIRE_LEAVE);
	wire_put_bin(&pk, leave, len);
}

/* --- decoding helpers: each checks type and size before use --- */

static bool
get_uint(const msgpack_object *o, uint64_t max, uint64_t *v)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
		return false;
	*v = o->via.u64;
	return true;
}

static bool
get_u32(const msgpack_object *o, uint32_t *v)
{
	uint64_t t;

	if (!get_uint(o, UINT32_MAX, &t))
		return false;
	*v = (uint32_t)t;
	return true;
}

static bool
get_bin(const msgpack_object *o, size_t max, const uint8_t **p, size_t *n)
{
	if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size > max)
		return false;
	*p = (const uint8_t *)o->via.bin.ptr;
	*n = o->via.bin.size;
	return true;
}

static bool
get_bin_opt(const msgpack_object *o, size_t max, const uint8_t **p, size_t *n)
{
	if (o->type == MSGPACK_OBJECT_NIL) {
		*p = NULL;
		*n = 0;
		return true;
	}
	return get_bin(o, max, p, n) && *n > 0;
}

static bool
get_id(const msgpack_object *o, uint8_t id[KEY_ID_LEN])
{
	if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != KEY_ID_LEN)
		return false;
	memcpy(id, o->via.bin.ptr, KEY_ID_LEN);
	return true;
}

static bool
get_addr(const msgpack_object *o, struct gossip_addr *a)
{
	const uint8_t *p;

	if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != WIRE_ADDR_LEN)
		return false;
	p = (const uint8_t *)o->via.bin.ptr;
	if (p[0] != 0 && p[0] != 4 && p[0] != 6)
		return false;
	a->family = p[0];
	memcpy(a->ip, p + 1, 16);
	a->port = get_u16be(p + 17);
	return true;
}

static bool
get_array(const msgpack_object *o, size_t min, size_t max)
{
	return o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size >= min &&
	       o->via.array.size <= max;
}

/* Unpacks exactly one object filling all of p[0..len). */
static int
unpack_whole(const uint8_t *p, size_t len, msgpack_unpacked *u,
             const char **why)
{
	size_t objlen, off = 0;
	int rc = mpcheck_object(p, len, WIRE_MAX_DEPTH, &objlen);

	if (rc) {
		*why = rc == WEFT_ETRUNC ? "truncated msgpack" :
		                           "malformed msgpack";
		return rc;
	}
	if (objlen != len) {
		*why = "trailing bytes after message";
		return WEFT_EMALFORMED;
	}
	msgpack_unpacked_init(u);
	if (msgpack_unpack_next(u, (const char *)p, len, &off) !=
	    MSGPACK_UNPACK_SUCCESS) {
		msgpack_unpacked_destroy(u);
		*why = "msgpack unpack failed";
		return WEFT_EMALFORMED;
	}
	return 0;
}

/* One message (not a compound).  Returns 1 for an unknown type. */
static int
decode_one(const msgpack_object *o, struct wire_msg *m, const char **why)
{
	const msgpack_object *f;
	uint64_t t;
	size_t n;

	if (!get_array(o, 1, 16)) {
		*why = "message is not an array";
		return WEFT_EMALFORMED;
	}
	f = o->via.array.ptr;
	n = o->via.array.size;
	if (!get_uint(&f[0], 255, &t)) {
		*why = "message type is not a small integer";
		return WEFT_EMALFORMED;
	}
	memset(m, 0, sizeof(*m));
	m->type = (uint8_t)t;
	switch (m->type) {
	case WIRE_PING:
	case WIRE_PING_REQ:
		if (n != (m->type == WIRE_PING ? 3u : 4u) ||
		    !get_u32(&f[1], &m->seq) || !get_id(&f[2], m->id) ||
		    (m->type == WIRE_PING_REQ && !get_addr(&f[3], &m->addr))) {
			*why = "bad ping or ping-req";
			return WEFT_EMALFORMED;
		}
		return 0;
	case WIRE_ACK:
	case WIRE_NACK:
		if (n != 2 || !get_u32(&f[1], &m->seq)) {
			*why = "bad ack or nack";
			return WEFT_EMALFORMED;
		}
		return 0;
	case WIRE_SUSPECT:
	case WIRE_DEAD:
		if (n != 4 || !get_id(&f[1], m->id) || !get_u32(&f[2], &m->inc) ||
		    !get_id(&f[3], m->from)) {
			*why = "bad suspect or dead";
			return WEFT_EMALFORMED;
		}
		return 0;
	case WIRE_ALIVE:
	case WIRE_OBJECT:
		if (n != 3 ||
		    !get_bin(&f[1],
		             m->type == WIRE_ALIVE ? WIRE_MAX_RECORD : WIRE_MAX_OBJECT,
		             &m->a, &m->a_len) ||
		    m->a_len == 0 ||
		    !get_bin_opt(&f[2], WIRE_MAX_CERT, &m->b, &m->b_len)) {
			*why = "bad alive or object";
			return WEFT_EMALFORMED;
		}
		return 0;
	case WIRE_LEAVE:
		if (n != 2 || !get_bin(&f[1], WIRE_MAX_LEAVE, &m->a, &m->a_len) ||
		    m->a_len == 0) {
			*why = "bad leave";
			return WEFT_EMALFORMED;
		}
		return 0;
	case WIRE_COMPOUND:
		*why = "compound inside compound";
		return WEFT_EMALFORMED;
	case WIRE_PP_REQ:
	case WIRE_PP_RESP:
	case WIRE_PP_PUSH:
		*why = "stream message in a packet";
		return WEFT_EMALFORMED;
	default:
		return 1;
	}
}

int
wire_decode_packet(const uint8_t *p, size_t len, struct wire_msg *msgs,
                   size_t *n, size_t *skipped, const char **why)
{
	msgpack_unpacked u;
	const msgpack_object *top, *list;
	size_t count, out = 0;
	int rc;

	*n = 0;
	*skipped = 0;
	if (len > WIRE_MAX_PACKET) {
		*why = "packet too large";
		return WEFT_ETOOBIG;
	}
	rc = unpack_whole(p, len, &u, why);
	if (rc)
		return rc;
	top = &u.data;
	if (get_array(top, 2, 2) &&
	    top->via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    top->via.array.ptr[0].via.u64 == WIRE_COMPOUND) {
		list = &top->via.array.ptr[1];
		if (!get_array(list, 1, WIRE_MAX_MSGS)) {
			*why = "compound list empty, too long or not an array";
			rc = WEFT_EMALFORMED;
			goto out;
		}
		count = list->via.array.size;
		for (size_t i = 0; i < count; i++) {
			rc = decode_one(&list->via.array.ptr[i], &msgs[out], why);
			if (rc < 0)
				goto out;
			if (rc == 1)
				(*skipped)++;
			else
				out++;
		}
	} else {
		rc = decode_one(top, &msgs[0], why);
		if (rc < 0)
			goto out;
		if (rc == 1)
			(*skipped)++;
		else
			out++;
	}
	rc = 0;
	*n = out;
out:
	msgpack_unpacked_destroy(&u);
	return rc;
}

static bool
get_entry(const msgpack_object *o, struct wire_entry *e)
{
	const msgpack_object *f;
	uint64_t st;

	if (!get_array(o, 5, 5))
		return false;
	f = o->via.array.ptr;
	if (!get_uint(&f[0], GOSSIP_LEFT, &st) || !get_u32(&f[1], &e->inc) ||
	    !get_bin(&f[2], WIRE_MAX_RECORD, &e->rec, &e->rec_len) ||
	    e->rec_len == 0 ||
	    !get_bin_opt(&f[3], WIRE_MAX_CERT, &e->cert, &e->cert_len) ||
	    !get_bin_opt(&f[4], WIRE_MAX_LEAVE, &e->leave, &e->leave_len))
		return false;
	e->state = (uint8_t)st;
	return true;
}

static bool
get_obj_entry(const msgpack_object *o, struct wire_obj_entry *e)
{
	const msgpack_object *f;

	if (!get_array(o, 2, 2))
		return false;
	f = o->via.array.ptr;
	return get_bin(&f[0], WIRE_MAX_OBJECT, &e->obj, &e->obj_len) &&
	       e->obj_len > 0 &&
	       get_bin_opt(&f[1], WIRE_MAX_CERT, &e->cert, &e->cert_len);
}

/*
 * A digest is dense (buckets x u64 big-endian) or, in a message flagged
 * WIRE_PP_SPARSE, may instead list its non-zero buckets: (index u8, u64
 * big-endian) each, indices rising.  The two lengths never coincide
 * (a multiple of 9 against 2048 or 512).
 */
static bool
get_digest(const msgpack_object *o, size_t buckets, bool sparse_ok,
           uint64_t *out)
{
	const uint8_t *p;
	size_t n;
	int last = -1;

	if (!get_bin(o, buckets * 9, &p, &n))
		return false;
	memset(out, 0, buckets * sizeof(*out));
	if (n == buckets * 8) {
		for (size_t i = 0; i < buckets; i++)
			for (int j = 0; j < 8; j++)
				out[i] = out[i] << 8 | p[i * 8 + (size_t)j];
		return true;
	}
	if (!sparse_ok || n % 9 != 0)
		return false;
	for (size_t k = 0; k < n; k += 9) {
		uint64_t v = 0;

		if ((size_t)p[k] >= buckets || (int)p[k] <= last)
			return false;
		for (int j = 1; j <= 8; j++)
			v = v << 8 | p[k + (size_t)j];
		if (v == 0)
			return false; /* a zero bucket is not listed */
		out[p[k]] = v;
		last = p[k];
	}
	return true;
}

static int
get_lists(const msgpack_object *el, const msgpack_object *ol,
          struct wire_stream *s, const char **why)
{
	if (!get_array(el, 0, GOSSIP_MAX_MEMBERS) ||
	    !get_array(ol, 0, GOSSIP_MAX_OBJECTS)) {
		*why = "push-pull lists missing or too long";
		return WEFT_EMALFORMED;
	}
	s->n_entries = el->via.array.size;
	s->n_objs = ol->via.array.size;
	if (s->n_entries) {
		s->entries = calloc(s->n_entries, sizeof(*s->entries));
		if (s->entries == NULL)
			return WEFT_ENOMEM;
	}
	if (s->n_objs) {
		s->objs = calloc(s->n_objs, sizeof(*s->objs));
		if (s->objs == NULL)
			return WEFT_ENOMEM;
	}
	for (size_t i = 0; i < s->n_entries; i++)
		if (!get_entry(&el->via.array.ptr[i], &s->entries[i])) {
			*why = "bad push-pull member entry";
			return WEFT_EMALFORMED;
		}
	for (size_t i = 0; i < s->n_objs; i++)
		if (!get_obj_entry(&ol->via.array.ptr[i], &s->objs[i])) {
			*why = "bad push-pull object entry";
			return WEFT_EMALFORMED;
		}
	return 0;
}

int
wire_decode_stream(const uint8_t *p, size_t len, struct wire_stream *s,
                   const char **why)
{
	msgpack_unpacked u;
	const msgpack_object *f;
	uint64_t t, flags;
	size_t n;
	bool sparse;
	int rc;

	memset(s, 0, sizeof(*s));
	if (len > WIRE_MAX_STREAM) {
		*why = "stream message too large";
		return WEFT_ETOOBIG;
	}
	rc = unpack_whole(p, len, &u, why);
	if (rc)
		return rc;
	rc = WEFT_EMALFORMED;
	if (!get_array(&u.data, 2, 8)) {
		*why = "stream message is not an array";
		goto out;
	}
	f = u.data.via.array.ptr;
	n = u.data.via.array.size;
	if (!get_uint(&f[0], 255, &t) || !get_uint(&f[1], UINT32_MAX, &flags)) {
		*why = "bad stream message type or flags";
		goto out;
	}
	s->type = (uint8_t)t;
	s->flags = (uint32_t)flags;
	sparse = (s->flags & WIRE_PP_SPARSE) != 0;
	switch (s->type) {
	case WIRE_PP_REQ:
		if (n != 4 || !get_digest(&f[2], WIRE_DIGEST_MEMBERS, sparse,
		                          s->mdigest) ||
		    !get_digest(&f[3], WIRE_DIGEST_OBJECTS, sparse, s->odigest)) {
			*why = "bad push-pull request";
			goto out;
		}
		rc = 0;
		break;
	case WIRE_PP_RESP:
		if (n != 6 || !get_digest(&f[2], WIRE_DIGEST_MEMBERS, sparse,
		                          s->mdigest) ||
		    !get_digest(&f[3], WIRE_DIGEST_OBJECTS, sparse, s->odigest)) {
			*why = "bad push-pull response";
			goto out;
		}
		rc = get_lists(&f[4], &f[5], s, why);
		break;
	case WIRE_PP_PUSH:
		if (n != 4) {
			*why = "bad push-pull push";
			goto out;
		}
		rc = get_lists(&f[2], &f[3], s, why);
		break;
	default:
		*why = "unknown stream message type";
		break;
	}
out:
	msgpack_unpacked_destroy(&u);
	if (rc)
		wire_stream_fini(s);
	return rc;
}

void
wire_stream_fini(struct wire_stream *s)
{
	free(s->entries);
	free(s->objs);
	s->entries = NULL;
	s->objs = NULL;
	s->n_entries = 0;
	s->n_objs = 0;
}

/* [body: bin, sig: bin 64] */
/* The signed envelope is crypto's, as for certificates: one decoder. */
static int
unwrap(const uint8_t *p, size_t len, const uint8_t **body, size_t *body_len,
       uint8_t sig[KEY_SIG_LEN], const char **why)
{
	int rc = envelope_unwrap(p, len, body, body_len, sig, why);

	if (rc == 0 && *body_len == 0) {
		*why = "envelope body is empty";
		rc = WEFT_EMALFORMED;
	}
	return rc;
}

/* Copies a str into the arena; NULs inside are refused. */
static bool
get_str(const msgpack_object *o, char **arena, char *end, const char **out)
{
	size_t n;

	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > WIRE_MAX_STR ||
	    o->via.str.size == 0)
		return false;
	n = o->via.str.size;
	if (memchr(o->via.str.ptr, '\0', n) != NULL || (size_t)(end - *arena) < n + 1)
		return false;
	memcpy(*arena, o->via.str.ptr, n);
	(*arena)[n] = '\0';
	*out = *arena;
	*arena += n + 1;
	return true;
}

static bool
get_strs(const msgpack_object *o, size_t max, const char ***slots,
         size_t *n, char **arena, char *end)
{
	if (!get_array(o, 0, max))
		return false;
	*n = o->via.array.size;
	for (size_t i = 0; i < *n; i++)
		if (!get_str(&o->via.array.ptr[i], arena, end, &(*slots)[i]))
			return false;
	*slots += *n;
	return true;
}

/*
 * Record body: [1, key id, name, incarnation, version, addr, mesh addr,
 * [[name, port, weight, health, [tag...], [label...]]...], [tag...]].
 * Everything lands in one allocation: the struct, the services, the
 * string pointer slots, then the characters.
 */
static int
decode_record_body(const uint8_t *p, size_t len, struct gossip_record **out,
                   const char **why)
{
	msgpack_unpacked u;
	const msgpack_object *f, *sl;
	struct gossip_record *r = NULL;
	struct gossip_service *svc;
	const char **slots;
	char *arena, *end;
	size_t n_svc, n_slots = 0, size;
	uint64_t v;
	int rc = unpack_whole(p, len, &u, why);

	if (rc)
		return rc;
	rc = WEFT_EMALFORMED;
	if (!get_array(&u.data, 9, 9)) {
		*why = "record body is not a 9-element array";
		goto out;
	}
	f = u.data.via.array.ptr;
	if (!get_uint(&f[0], 255, &v) || v != WIRE_FORMAT_VERSION) {
		*why = "record format version unknown";
		rc = WEFT_EVERSION;
		goto out;
	}
	sl = &f[7];
	if (!get_array(sl, 0, WIRE_MAX_SERVICES) ||
	    !get_array(&f[8], 0, WIRE_MAX_TAGS)) {
		*why = "record services or tags not arrays or too many";
		goto out;
	}
	n_svc = sl->via.array.size;
	for (size_t i = 0; i < n_svc; i++) {
		const msgpack_object *s = &sl->via.array.ptr[i];

		if (!get_array(s, 6, 6) ||
		    !get_array(&s->via.array.ptr[4], 0, WIRE_MAX_TAGS) ||
		    !get_array(&s->via.array.ptr[5], 0, WIRE_MAX_TAGS)) {
			*why = "record service malformed";
			goto out;
		}
		n_slots += s->via.array.ptr[4].via.array.size +
		           s->via.array.ptr[5].via.array.size;
	}
	n_slots += f[8].via.array.size;
	/* Strings cannot be longer than the input, so len bounds the arena. */
	size = sizeof(*r) + n_svc * sizeof(*svc) + n_slots * sizeof(char *) +
	       len + 64;
	r = calloc(1, size);
	if (r == NULL) {
		rc = WEFT_ENOMEM;
		goto out;
	}
	svc = (struct gossip_service *)(r + 1);
	slots = (const char **)(svc + n_svc);
	arena = (char *)(slots + n_slots);
	end = (char *)r + size;
	if (!get_id(&f[1], r->key_id) ||
	    !get_str(&f[2], &arena, end, &r->name) ||
	    !get_u32(&f[3], &r->incarnation) ||
	    !get_uint(&f[4], UINT64_MAX, &r->version) ||
	    !get_addr(&f[5], &r->addr) || !get_addr(&f[6], &r->mesh_addr)) {
		*why = "record field has the wrong type";
		goto out;
	}
	r->services = svc;
	r->n_services = n_svc;
	for (size_t i = 0; i < n_svc; i++) {
		const msgpack_object *s = sl->via.array.ptr[i].via.array.ptr;
		uint64_t port, weight, health;

		if (!get_str(&s[0], &arena, end, &svc[i].name) ||
		    !get_uint(&s[1], UINT16_MAX, &port) ||
		    !get_uint(&s[2], UINT16_MAX, &weight) ||
		    !get_uint(&s[3], 3, &health)) {
			*why = "record service field has the wrong type";
			goto out;
		}
		svc[i].port = (uint16_t)port;
		svc[i].weight = (uint16_t)weight;
		svc[i].health = (uint8_t)health;
		svc[i].tags = slots;
		if (!get_strs(&s[4], WIRE_MAX_TAGS, &slots, &svc[i].n_tags, &arena,
		              end)) {
			*why = "record service tag malformed";
			goto out;
		}
		svc[i].labels = slots;
		if (!get_strs(&s[5], WIRE_MAX_TAGS, &slots, &svc[i].n_labels,
		              &arena, end)) {
			*why = "record service label malformed";
			goto out;
		}
	}
	r->tags = slots;
	if (!get_strs(&f[8], WIRE_MAX_TAGS, &slots, &r->n_tags, &arena, end)) {
		*why = "record tag malformed";
		goto out;
	}
	*out = r;
	r = NULL;
	rc = 0;
out:
	free(r);
	msgpack_unpacked_destroy(&u);
	return rc;
}

int
wire_decode_record(const uint8_t *p, size_t len, struct gossip_record **rec,
                   const uint8_t **body, size_t *body_len,
                   uint8_t sig[KEY_SIG_LEN], const char **why)
{
	int rc = unwrap(p, len, body, body_len, sig, why);

	if (rc)
		return rc;
	return decode_record_body(*body, *body_len, rec, why);
}

int
wire_decode_leave(const uint8_t *p, size_t len, struct wire_leave *out,
                  const char **why)
{
	msgpack_unpacked u;
	const msgpack_object *f;
	uint64_t v;
	int rc = unwrap(p, len, &out->body, &out->body_len, out->sig, why);

	if (rc)
		return rc;
	rc = unpack_whole(out->body, out->body_len, &u, why);
	if (rc)
		return rc;
	rc = WEFT_EMALFORMED;
	f = u.data.via.array.ptr;
	if (!get_array(&u.data, 3, 3) || !get_uint(&f[0], 255, &v) ||
	    v != WIRE_FORMAT_VERSION || !get_id(&f[1], out->key_id) ||
	    !get_u32(&f[2], &out->inc))
		*why = "leave body malformed";
	else
		rc = 0;
	msgpack_unpacked_destroy(&u);
	return rc;
}

int
wire_decode_object(const uint8_t *p, size_t len, struct wire_object *out,
                   const char **why)
{
	msgpack_unpacked u;
	const msgpack_object *f;
	uint64_t v, kind;
	int rc = unwrap(p, len, &out->body, &out->body_len, out->sig, why);

	if (rc)
		return rc;
	rc = unpack_whole(out->body, out->body_len, &u, why);
	if (rc)
		return rc;
	rc = WEFT_EMALFORMED;
	f = u.data.via.array.ptr;
	if (!get_array(&u.data, 7, 7) || !get_uint(&f[0], 255, &v) ||
	    v != WIRE_FORMAT_VERSION || !get_uint(&f[1], 255, &kind) ||
	    kind == 0 || f[2].type != MSGPACK_OBJECT_STR ||
	    f[2].via.str.size == 0 || f[2].via.str.size > GOSSIP_OBJ_NAME_MAX ||
	    memchr(f[2].via.str.ptr, '\0', f[2].via.str.size) != NULL ||
	    !get_uint(&f[3], UINT64_MAX, &out->o.hlc) ||
	    !get_id(&f[4], out->o.signer) || f[5].type != MSGPACK_OBJECT_BOOLEAN ||
	    !get_bin(&f[6], GOSSIP_OBJ_VALUE_MAX, &out->o.value,
	             &out->o.value_len)) {
		*why = "object body malformed";
		goto out;
	}
	out->o.kind = (uint8_t)kind;
	memcpy(out->name, f[2].via.str.ptr, f[2].via.str.size);
	out->name[f[2].via.str.size] = '\0';
	out->o.name = out->name;
	out->o.deleted = f[5].via.boolean;
	if (out->o.deleted && out->o.value_len != 0) {
		*why = "object tombstone carries a value";
		goto out;
	}
	rc = 0;
out:
	msgpack_unpacked_destroy(&u);
	return rc;
}

/* --- encoders of signed bodies (sbuffer: records may be large) --- */

static int
finish_sbuffer(msgpack_sbuffer *sb, uint8_t **out, size_t *out_len)
{
	if (sb->data == NULL) {
		msgpack_sbuffer_destroy(sb);
		return WEFT_ENOMEM;
	}
	*out = (uint8_t *)sb->data;
	*out_len = sb->size;
	return 0;
}

static void
pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void
put_addr_sb(msgpack_packer *pk, const struct gossip_addr *a)
{
	wire_put_addr(pk, a);
}

int
wire_encode_record_body(const struct gossip_record *r, uint8_t **out,
                        size_t *out_len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 9);
	msgpack_pack_uint8(&pk, WIRE_FORMAT_VERSION);
	wire_put_bin(&pk, r->key_id, KEY_ID_LEN);
	pack_str(&pk, r->name);
	msgpack_pack_uint32(&pk, r->incarnation);
	msgpack_pack_uint64(&pk, r->version);
	put_addr_sb(&pk, &r->addr);
	put_addr_sb(&pk, &r->mesh_addr);
	msgpack_pack_array(&pk, r->n_services);
	for (size_t i = 0; i < r->n_services; i++) {
		const struct gossip_service *s = &r->services[i];

		msgpack_pack_array(&pk, 6);
		pack_str(&pk, s->name);
		msgpack_pack_uint16(&pk, s->port);
		msgpack_pack_uint16(&pk, s->weight);
		msgpack_pack_uint8(&pk, s->health);
		msgpack_pack_array(&pk, s->n_tags);
		for (size_t j = 0; j < s->n_tags; j++)
			pack_str(&pk, s->tags[j]);
		msgpack_pack_array(&pk, s->n_labels);
		for (size_t j = 0; j < s->n_labels; j++)
			pack_str(&pk, s->labels[j]);
	}
	msgpack_pack_array(&pk, r->n_tags);
	for (size_t i = 0; i < r->n_tags; i++)
		pack_str(&pk, r->tags[i]);
	return finish_sbuffer(&sb, out, out_len);
}

int
wire_encode_leave_body(const uint8_t id[KEY_ID_LEN], uint32_t inc,
                       uint8_t *out, size_t cap, size_t *out_len)
{
	struct buf b;
	msgpack_packer pk;

	buf_init(&b, out, cap);
	wire_packer_init(&pk, &b);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, WIRE_FORMAT_VERSION);
	wire_put_bin(&pk, id, KEY_ID_LEN);
	msgpack_pack_uint32(&pk, inc);
	*out_len = b.len;
	return b.err;
}

int
wire_encode_object_body(const struct gossip_object *o, uint8_t **out,
                        size_t *out_len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 7);
	msgpack_pack_uint8(&pk, WIRE_FORMAT_VERSION);
	msgpack_pack_uint8(&pk, o->kind);
	pack_str(&pk, o->name);
	msgpack_pack_uint64(&pk, o->hlc);
	wire_put_bin(&pk, o->signer, KEY_ID_LEN);
	if (o->deleted)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	wire_put_bin(&pk, o->value, o->value_len);
	return finish_sbuffer(&sb, out, out_len);
}

int
wire_envelope(const uint8_t *body, size_t body_len,
              const uint8_t sig[KEY_SIG_LEN], uint8_t **out, size_t *out_len)
{
	return envelope_wrap(body, body_len, sig, out, out_len);
}
