/*
 * Cluster objects: routes, intentions, revocations and kinds to come,
 * keyed by (kind, name).  Last writer wins by hybrid logical clock, the
 * signer's key id breaking ties (and the signature bytes after that, so
 * that every node picks the same winner whatever order copies arrive in).
 * A deletion is a signed tombstone that wins like a write and is
 * forgotten after tombstone_ttl_ms.  Routes and intentions need a signer
 * whose certificate carries the operator group; a revocation needs its
 * statement signed by a CA, and any member may carry it in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hex.h"
#include "gossip/internal.h"

#define OBJ_TAB_INIT 64

static uint64_t
obj_key(uint8_t kind, const char *name)
{
	uint8_t t[1 + GOSSIP_OBJ_NAME_MAX];
	size_t n = strlen(name);

	t[0] = kind;
	memcpy(t + 1, name, n);
	return store_hash(t, n + 1);
}

static uint64_t
obj_dig(const struct obj *o)
{
	return store_hash(o->msg, o->msg_len) ^ o->key;
}

int
objects_init(struct gossip *g)
{
	g->ocap = OBJ_TAB_INIT;
	g->otab = calloc(g->ocap, sizeof(*g->otab));
	g->rcap = 64;
	g->revoked = calloc(g->rcap, sizeof(*g->revoked));
	return g->otab && g->revoked ? 0 : WEFT_ENOMEM;
}

static void
obj_free(struct obj *o)
{
	free(o->msg);
	free(o->cert);
	free(o->name_buf);
	free(o->value_buf);
	free(o);
}

void
objects_fini(struct gossip *g)
{
	for (size_t i = 0; i < g->ocap; i++) {
		struct obj *o = g->otab ? g->otab[i] : NULL, *n;

		for (; o; o = n) {
			n = o->next;
			obj_free(o);
		}
	}
	free(g->otab);
	free(g->revoked);
}

struct obj *
objects_first(const struct gossip *g, size_t *bucket)
{
	for (*bucket = 0; *bucket < g->ocap; (*bucket)++)
		if (g->otab[*bucket])
			return g->otab[*bucket];
	return NULL;
}

struct obj *
objects_next(const struct gossip *g, struct obj *o, size_t *bucket)
{
	if (o->next)
		return o->next;
	for ((*bucket)++; *bucket < g->ocap; (*bucket)++)
		if (g->otab[*bucket])
			return g->otab[*bucket];
	return NULL;
}

static struct obj *
find(const struct gossip *g, uint64_t key, uint8_t kind, const char *name)
{
	struct obj *o = g->otab[key & (g->ocap - 1)];

	for (; o; o = o->next)
		if (o->key == key && o->o.kind == kind && strcmp(o->o.name, name) == 0)
			return o;
	return NULL;
}

static void
unlink_obj(struct gossip *g, struct obj *o)
{
	struct obj **pp = &g->otab[o->key & (g->ocap - 1)];

	while (*pp != o)
		pp = &(*pp)->next;
	*pp = o->next;
	g->ocount--;
	if (!o->o.deleted)
		g->olive--;
	g->odig[o->key % WIRE_DIGEST_OBJECTS] ^= o->dig;
}

static int
grow(struct gossip *g)
{
	size_t ncap = g->ocap * 2;
	struct obj **t = calloc(ncap, sizeof(*t));

	if (t == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < g->ocap; i++) {
		struct obj *o = g->otab[i], *n;

		for (; o; o = n) {
			n = o->next;
			o->next = t[o->key & (ncap - 1)];
			t[o->key & (ncap - 1)] = o;
		}
	}
	free(g->otab);
	g->otab = t;
	g->ocap = ncap;
	return 0;
}

/* --- the revoked key set (open addressing on the id's first 8 bytes) --- */

bool
gossip_revocations_has(void *ctx, const uint8_t id[KEY_ID_LEN])
{
	const struct gossip *g = ctx;
	uint64_t v = id_u64(id) | 1; /* 0 marks an empty slot */
	size_t h = store_hash(id, KEY_ID_LEN) & (g->rcap - 1);

	for (; g->revoked[h]; h = (h + 1) & (g->rcap - 1))
		if (g->revoked[h] == v)
			return true;
	return false;
}

bool
gossip_is_revoked(const struct gossip *g, const uint8_t id[KEY_ID_LEN])
{
	return gossip_revocations_has((void *)(uintptr_t)g, id);
}

static int
revoked_add(struct gossip *g, const uint8_t id[KEY_ID_LEN])
{
	size_t h;

	if (gossip_revocations_has(g, id))
		return 0;
	if (2 * (g->rcount + 1) > g->rcap) {
		/* Rehashing needs the ids; keep them as the stored values'
		 * source: the revocation objects themselves. */
		size_t ncap = g->rcap * 2;
		uint64_t *t = calloc(ncap, sizeof(*t));
		size_t b;
		struct obj *o;

		if (t == NULL)
			return WEFT_ENOMEM;
		free(g->revoked);
		g->revoked = t;
		g->rcap = ncap;
		g->rcount = 0;
		for (o = objects_first(g, &b); o; o = objects_next(g, o, &b)) {
			uint8_t rid[KEY_ID_LEN];

			if (o->o.kind != GOSSIP_OBJ_REVOCATION || o->o.deleted ||
			    hex_decode(rid, KEY_ID_LEN, o->o.name) != 0)
				continue;
			h = store_hash(rid, KEY_ID_LEN) & (g->rcap - 1);
			while (g->revoked[h])
				h = (h + 1) & (g->rcap - 1);
			g->revoked[h] = id_u64(rid) | 1;
			g->rcount++;
		}
		if (gossip_revocations_has(g, id))
			return 0;
	}
	h = store_hash(id, KEY_ID_LEN) & (g->rcap - 1);
	while (g->revoked[h])
		h = (h + 1) & (g->rcap - 1);
	g->revoked[h] = id_u64(id) | 1;
	g->rcount++;
	return 0;
}

/* --- ordering and checks --- */

/* > 0 when a wins over b. */
static int
lww_cmp(const struct gossip_object *a, const uint8_t *asig,
        const struct gossip_object *b, const uint8_t *bsig)
{
	int c;

	if (a->hlc != b->hlc)
		return a->hlc > b->hlc ? 1 : -1;
	c = memcmp(a->signer, b->signer, KEY_ID_LEN);
	if (c)
		return c;
	return memcmp(asig, bsig, KEY_SIG_LEN);
}

static int
check_signer(struct gossip *g, int64_t now, const struct wire_object *wo,
             const uint8_t *cert, size_t cert_len, const char **why)
{
	uint8_t pk[KEY_PK_LEN];
	int rc;

	if (g->crypto.ca_key(g->crypto.ctx, wo->o.signer, pk) != 0) {
		struct gossip_ident id;
		int64_t s = now / 1000;

		if (cert == NULL) {
			*why = "object signer is neither a CA nor sent a certificate";
			return WEFT_EUNTRUSTED;
		}
		rc = gossip_cert_check(g, now, cert, cert_len, NULL, 0, &id);
		if (rc) {
			*why = "object signer certificate does not verify";
			return rc;
		}
		if (memcmp(id.key_id, wo->o.signer, KEY_ID_LEN) != 0) {
			*why = "object signer differs from its certificate";
			return WEFT_EAUTH;
		}
		if (s + g->cfg.cert_skew_s < id.not_before ||
		    s - g->cfg.cert_skew_s > id.not_after) {
			*why = "object signer certificate outside its validity";
			return WEFT_EEXPIRED;
		}
		if (gossip_revocations_has(g, id.key_id)) {
			*why = "object signer is revoked";
			return WEFT_EREVOKED;
		}
		/* A revocation carries its own CA signature (checked by the
		 * caller): any member may bring one in, as `weft revoke apply`
		 * does through its local agent.  Everything else needs an
		 * operator. */
		if (!(id.flags & GOSSIP_IDENT_OPERATOR) &&
		    wo->o.kind != GOSSIP_OBJ_REVOCATION) {
			*why = "object signer is not in the operator group";
			return WEFT_EPOLICY;
		}
		memcpy(pk, id.sign_pk, KEY_PK_LEN);
	}
	g->stats.sig_verifies++;
	rc = g->crypto.verify(g->crypto.ctx, pk, KEY_SIG_OBJECT, wo->body,
	                      wo->body_len, wo->sig);
	if (rc)
		*why = "object signature does not verify";
	return rc;
}

static void
broadcast(struct gossip *g, const struct obj *o)
{
	size_t budget = g->cfg.mtu - SEAL_OVERHEAD - 16;
	size_t cap = o->msg_len + o->cert_len + 32;
	uint8_t *tmp = malloc(cap);
	struct buf b;

	if (tmp == NULL)
		return;
	buf_init(&b, tmp, cap);
	wire_put_pair(&b, WIRE_OBJECT, o->msg, o->msg_len, o->cert, o->cert_len);
	if (b.err == 0 && b.len > budget) {
		buf_reset(&b);
		wire_put_pair(&b, WIRE_OBJECT, o->msg, o->msg_len, NULL, 0);
	}
	/* Too large for any packet: push-pull carries it. */
	if (b.err == 0 && b.len <= budget)
		bqueue_put(&g->q, BKEY_OBJECT(o->key), tmp, b.len);
	free(tmp);
}

int
objects_on_msg(struct gossip *g, int64_t now, const uint8_t *p, size_t len,
               const uint8_t *cert, size_t cert_len, bool rebroadcast)
{
	struct wire_object wo;
	const char *why = NULL;
	struct obj *old, *o;
	uint64_t key;
	uint8_t rid[KEY_ID_LEN];
	int64_t until = 0;
	int rc = wire_decode_object(p, len, &wo, &why);

	if (rc)
		goto refuse;
	key = obj_key(wo.o.kind, wo.o.name);
	old = find(g, key, wo.o.kind, wo.o.name);
	if (old != NULL) {
		const uint8_t *oldsig = old->msg + old->msg_len - KEY_SIG_LEN;

		/* Known or older: nothing to verify, nothing to spread. */
		if (lww_cmp(&wo.o, wo.sig, &old->o, oldsig) <= 0)
			return 0;
	}
	if (wo.o.deleted &&
	    (int64_t)(wo.o.hlc >> 16) + g->cfg.tombstone_ttl_ms <= now)
		return 0; /* an expired tombstone: forgotten everywhere */
	rc = check_signer(g, now, &wo, cert, cert_len, &why);
	if (rc)
		goto refuse;
	if (wo.o.kind == GOSSIP_OBJ_REVOCATION) {
		char hex[KEY_ID_HEX_LEN + 1];

		if (wo.o.deleted) {
			why = "a revocation cannot be deleted";
			rc = WEFT_EPOLICY;
			goto refuse;
		}
		rc = g->crypto.revoke_check(g->crypto.ctx, wo.o.value,
		                            wo.o.value_len, rid, &until);
		if (rc) {
			why = "revocation statement does not verify";
			goto refuse;
		}
		key_id_hex(hex, rid);
		if (strcmp(hex, wo.o.name) != 0) {
			why = "revocation object name is not the revoked key id";
			rc = WEFT_EMALFORMED;
			goto refuse;
		}
	}
	if (old == NULL && g->ocount >= GOSSIP_MAX_OBJECTS) {
		why = "object table full";
		rc = WEFT_ETOOBIG;
		goto refuse;
	}
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return WEFT_ENOMEM;
	o->msg = malloc(len);
	o->name_buf = strdup(wo.o.name);
	o->value_buf = malloc(wo.o.value_len ? wo.o.value_len : 1);
	if (cert) {
		o->cert = malloc(cert_len);
		o->cert_len = cert_len;
	}
	if (o->msg == NULL || o->name_buf == NULL || o->value_buf == NULL ||
	    (o->cert_len && o->cert == NULL)) {
		obj_free(o);
		return WEFT_ENOMEM;
	}
	memcpy(o->msg, p, len);
	o->msg_len = len;
	if (o->cert)
		memcpy(o->cert, cert, cert_len);
	if (wo.o.value_len)
		memcpy(o->value_buf, wo.o.value, wo.o.value_len);
	o->o = wo.o;
	o->o.name = o->name_buf;
	o->o.value = o->value_buf;
	o->key = key;
	o->dig = obj_dig(o);
	if (wo.o.deleted)
		o->expires = (int64_t)(wo.o.hlc >> 16) + g->cfg.tombstone_ttl_ms;
	else if (wo.o.kind == GOSSIP_OBJ_REVOCATION)
		o->expires = until * 1000;
	if (old != NULL) {
		unlink_obj(g, old);
		obj_free(old);
	}
	if (g->ocount >= g->ocap && grow(g) != 0) {
		obj_free(o);
		return WEFT_ENOMEM;
	}
	o->next = g->otab[key & (g->ocap - 1)];
	g->otab[key & (g->ocap - 1)] = o;
	g->ocount++;
	if (!o->o.deleted)
		g->olive++;
	g->odig[key % WIRE_DIGEST_OBJECTS] ^= o->dig;
	if (wo.o.hlc > g->hlc)
		g->hlc = wo.o.hlc;
	if (wo.o.kind == GOSSIP_OBJ_REVOCATION) {
		revoked_add(g, rid);
		member_revoke(g, now, rid);
	}
	gossip_emit(g, o->o.deleted ? GOSSIP_EV_OBJECT_DELETED :
	                              GOSSIP_EV_OBJECT_PUT, NULL, &o->o);
	if (rebroadcast)
		broadcast(g, o);
	return 0;
refuse:
	g->stats.refused_objects++;
	g->stats.last_reason = why;
	return rc;
}

void
objects_expire(struct gossip *g, int64_t now)
{
	for (size_t i = 0; i < g->ocap; i++) {
		struct obj *o = g->otab[i], *n;

		for (; o; o = n) {
			n = o->next;
			if (o->expires == 0 || o->expires > now)
				continue;
			/* Revoked keys stay refused: their certificates are
			 * past their validity by now anyway. */
			unlink_obj(g, o);
			obj_free(o);
		}
	}
}

size_t
objects_mem(const struct gossip *g)
{
	size_t n = g->ocap * sizeof(*g->otab) + g->rcap * sizeof(*g->revoked);
	size_t b;

	for (struct obj *o = objects_first(g, &b); o; o = objects_next(g, o, &b))
		n += sizeof(*o) + o->msg_len + o->cert_len + o->o.value_len +
		     strlen(o->o.name) + 1;
	return n;
}

/* --- API --- */

uint64_t
gossip_hlc_next(struct gossip *g, int64_t now)
{
	uint64_t pt = (uint64_t)now << 16;

	g->hlc = pt > g->hlc ? pt : g->hlc + 1;
	return g->hlc;
}

int
gossip_object_make(const struct key_pair *sign, const uint8_t *cert,
                   size_t cert_len, uint8_t kind, const char *name,
                   uint64_t hlc, bool deleted, const uint8_t *value,
                   size_t value_len, uint8_t **out, size_t *out_len)
{
	struct gossip_object o;
	uint8_t *body, *env, sig[KEY_SIG_LEN];
	size_t body_len, env_len;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	if (kind == 0 || name == NULL || strlen(name) == 0 ||
	    strlen(name) > GOSSIP_OBJ_NAME_MAX || value_len > GOSSIP_OBJ_VALUE_MAX ||
	    (deleted && value_len))
		return WEFT_EINVAL;
	memset(&o, 0, sizeof(o));
	o.kind = kind;
	o.name = name;
	o.hlc = hlc;
	memcpy(o.signer, sign->id, KEY_ID_LEN);
	o.deleted = deleted;
	o.value = value;
	o.value_len = value_len;
	rc = wire_encode_object_body(&o, &body, &body_len);
	if (rc)
		return rc;
	rc = key_sign(sign, KEY_SIG_OBJECT, body, body_len, sig);
	if (rc == 0)
		rc = wire_envelope(body, body_len, sig, &env, &env_len);
	free(body);
	if (rc)
		return rc;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, WIRE_OBJECT);
	wire_put_bin(&pk, env, env_len);
	if (cert)
		wire_put_bin(&pk, cert, cert_len);
	else
		msgpack_pack_nil(&pk);
	free(env);
	if (sb.data == NULL)
		return WEFT_ENOMEM;
	*out = (uint8_t *)sb.data;
	*out_len = sb.size;
	return 0;
}

int
gossip_object_put(struct gossip *g, int64_t now, const uint8_t *msg,
                  size_t len)
{
	struct wire_msg m[WIRE_MAX_MSGS];
	size_t n, skipped;
	const char *why = NULL;
	int rc = wire_decode_packet(msg, len, m, &n, &skipped, &why);

	if (rc == 0 && (n != 1 || m[0].type != WIRE_OBJECT)) {
		why = "not one object message";
		rc = WEFT_EMALFORMED;
	}
	if (rc) {
		g->stats.refused_objects++;
		g->stats.last_reason = why;
		return rc;
	}
	return objects_on_msg(g, now, m[0].a, m[0].a_len, m[0].b, m[0].b_len,
	                      true);
}

const struct gossip_object *
gossip_object_get(const struct gossip *g, uint8_t kind, const char *name)
{
	struct obj *o;

	if (strlen(name) > GOSSIP_OBJ_NAME_MAX)
		return NULL;
	o = find(g, obj_key(kind, name), kind, name);
	return o ? &o->o : NULL;
}

size_t
gossip_object_count(const struct gossip *g, bool with_tombstones)
{
	return with_tombstones ? g->ocount : g->olive;
}

void
gossip_object_foreach(const struct gossip *g,
                      void (*fn)(void *ctx, const struct gossip_object *o),
                      void *ctx)
{
	size_t b;

	for (struct obj *o = objects_first(g, &b); o; o = objects_next(g, o, &b))
		fn(ctx, &o->o);
}
