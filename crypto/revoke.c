#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/envelope.h"
#include "crypto/revoke.h"

#define REVOKE_VERSION 1

enum revoke_field {
	RF_VERSION = 1,
	RF_KEY_ID = 2,
	RF_REVOKED_AT = 3,
	RF_UNTIL = 4,
	RF_REASON = 5,
	RF_ISSUER = 6,
};

static int
encode_body(msgpack_sbuffer *sb, const uint8_t key_id[KEY_ID_LEN],
            int64_t revoked_at, int64_t until, const char *reason,
            const uint8_t issuer[KEY_ID_LEN])
{
	msgpack_packer pk;
	size_t n = strlen(reason);

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	if (msgpack_pack_map(&pk, 6) || msgpack_pack_uint8(&pk, RF_VERSION) ||
	    msgpack_pack_uint8(&pk, REVOKE_VERSION) ||
	    msgpack_pack_uint8(&pk, RF_KEY_ID) ||
	    msgpack_pack_bin(&pk, KEY_ID_LEN) ||
	    msgpack_pack_bin_body(&pk, key_id, KEY_ID_LEN) ||
	    msgpack_pack_uint8(&pk, RF_REVOKED_AT) ||
	    msgpack_pack_int64(&pk, revoked_at) ||
	    msgpack_pack_uint8(&pk, RF_UNTIL) || msgpack_pack_int64(&pk, until) ||
	    msgpack_pack_uint8(&pk, RF_REASON) || msgpack_pack_str(&pk, n) ||
	    msgpack_pack_str_body(&pk, reason, n) ||
	    msgpack_pack_uint8(&pk, RF_ISSUER) ||
	    msgpack_pack_bin(&pk, KEY_ID_LEN) ||
	    msgpack_pack_bin_body(&pk, issuer, KEY_ID_LEN))
		return WEFT_ENOMEM;
	return 0;
}

int
revoke_create(const uint8_t key_id[static KEY_ID_LEN], int64_t revoked_at,
              int64_t until, const char *reason, const struct key_pair *ca,
              uint8_t **out, size_t *out_len)
{
	uint8_t sig[KEY_SIG_LEN];
	msgpack_sbuffer sb;
	int rc;

	if (reason == NULL)
		reason = "";
	if (strlen(reason) > REVOKE_REASON_MAX || until < revoked_at ||
	    ca->kind != KEY_KIND_CA)
		return WEFT_EINVAL;
	msgpack_sbuffer_init(&sb);
	rc = encode_body(&sb, key_id, revoked_at, until, reason, ca->id);
	if (rc == 0)
		rc = key_sign(ca, KEY_SIG_REVOKE, (const uint8_t *)sb.data, sb.size,
		              sig);
	if (rc == 0)
		rc = envelope_wrap((const uint8_t *)sb.data, sb.size, sig, out,
		                   out_len);
	msgpack_sbuffer_destroy(&sb);
	if (rc == 0 && *out_len > REVOKE_ENCODED_MAX) {
		free(*out);
		rc = WEFT_ETOOBIG;
	}
	return rc;
}

static int
decode_body(struct revoke *r, const uint8_t *body, size_t len)
{
	msgpack_unpacked u;
	msgpack_sbuffer sb;
	const msgpack_object_map *m;
	int64_t version = 0;
	uint64_t last = 0;
	int rc;

	msgpack_unpacked_init(&u);
	msgpack_sbuffer_init(&sb);
	rc = envelope_unpack_map(body, len, &u, NULL);
	if (rc)
		goto out;
	m = &u.data.via.map;
	rc = WEFT_EMALFORMED;
	/* Exactly these six fields, in this order. */
	if (m->size != 6)
		goto out;
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
		int bad = 0;

		if (k->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    k->via.u64 != last + 1)
			goto out;
		last = k->via.u64;
		switch (k->via.u64) {
		case RF_VERSION:
			if (envelope_int(v, &version) || version != REVOKE_VERSION) {
				rc = WEFT_EVERSION;
				goto out;
			}
			break;
		case RF_KEY_ID:
			bad = envelope_bin(v, r->key_id, KEY_ID_LEN);
			break;
		case RF_REVOKED_AT:
			bad = envelope_int(v, &r->revoked_at);
			break;
		case RF_UNTIL:
			bad = envelope_int(v, &r->until);
			break;
		case RF_REASON:
			bad = envelope_str(v, r->reason, REVOKE_REASON_MAX);
			break;
		case RF_ISSUER:
			bad = envelope_bin(v, r->issuer, KEY_ID_LEN);
			break;
		}
		if (bad)
			goto out;
	}
	if (r->until < r->revoked_at)
		goto out;
	rc = encode_body(&sb, r->key_id, r->revoked_at, r->until, r->reason,
	                 r->issuer);
	if (rc == 0 && (sb.size != len || memcmp(sb.data, body, len) != 0))
		rc = WEFT_EMALFORMED;
out:
	msgpack_sbuffer_destroy(&sb);
	msgpack_unpacked_destroy(&u);
	return rc;
}

int
revoke_decode(const uint8_t *p, size_t len, struct revoke *out)
{
	struct revoke r;
	const uint8_t *body;
	size_t body_len;
	int rc;

	if (len > REVOKE_ENCODED_MAX)
		return WEFT_ETOOBIG;
	memset(&r, 0, sizeof(r));
	rc = envelope_unwrap(p, len, &body, &body_len, r.sig, NULL);
	if (rc)
		return rc;
	memcpy(r.encoded, p, len);
	r.encoded_len = len;
	r.body_off = (size_t)(body - p);
	r.body_len = body_len;
	rc = decode_body(&r, r.encoded + r.body_off, r.body_len);
	if (rc == 0)
		*out = r;
	return rc;
}

int
revoke_verify(const struct revoke *r, const struct bundle *b)
{
	const struct cert *ca = bundle_find(b, r->issuer);

	if (ca == NULL || !ca->is_ca)
		return WEFT_EUNTRUSTED;
	return key_verify(ca->sign_pk, KEY_SIG_REVOKE, r->encoded + r->body_off,
	                  r->body_len, r->sig);
}
