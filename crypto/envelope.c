#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mpcheck.h"
#include "crypto/envelope.h"

#define WHY(s) do { if (why) *why = (s); } while (0)

int
envelope_wrap(const uint8_t *body, size_t body_len,
              const uint8_t sig[static KEY_SIG_LEN], uint8_t **out,
              size_t *out_len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (msgpack_pack_array(&pk, 2) || msgpack_pack_bin(&pk, body_len) ||
	    msgpack_pack_bin_body(&pk, body, body_len) ||
	    msgpack_pack_bin(&pk, KEY_SIG_LEN) ||
	    msgpack_pack_bin_body(&pk, sig, KEY_SIG_LEN)) {
		msgpack_sbuffer_destroy(&sb);
		return WEFT_ENOMEM;
	}
	*out = (uint8_t *)sb.data;
	*out_len = sb.size;
	return 0;
}

int
envelope_unwrap(const uint8_t *p, size_t len, const uint8_t **body,
                size_t *body_len, uint8_t sig[static KEY_SIG_LEN],
                const char **why)
{
	msgpack_unpacked u;
	const msgpack_object *a;
	size_t objlen, off = 0;
	int rc;

	rc = mpcheck_object(p, len, 2, &objlen);
	if (rc == WEFT_ETRUNC) {
		WHY("truncated");
		return rc;
	}
	if (rc) {
		WHY("not a msgpack envelope");
		return WEFT_EMALFORMED;
	}
	if (objlen != len) {
		WHY("trailing bytes after the signature");
		return WEFT_EMALFORMED;
	}
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)p, len, &off) !=
	    MSGPACK_UNPACK_SUCCESS) {
		msgpack_unpacked_destroy(&u);
		WHY("not a msgpack envelope");
		return WEFT_EMALFORMED;
	}
	a = &u.data;
	rc = WEFT_EMALFORMED;
	if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size != 2)
		WHY("envelope is not [body, signature]");
	else if (a->via.array.ptr[0].type != MSGPACK_OBJECT_BIN)
		WHY("envelope body is not bytes");
	else if (a->via.array.ptr[1].type != MSGPACK_OBJECT_BIN ||
	         a->via.array.ptr[1].via.bin.size != KEY_SIG_LEN)
		WHY("signature is not 64 bytes");
	else {
		/* msgpack-c points bin objects into p, so body stays valid
		 * after the unpacked object is gone. */
		*body = (const uint8_t *)a->via.array.ptr[0].via.bin.ptr;
		*body_len = a->via.array.ptr[0].via.bin.size;
		memcpy(sig, a->via.array.ptr[1].via.bin.ptr, KEY_SIG_LEN);
		rc = 0;
	}
	msgpack_unpacked_destroy(&u);
	return rc;
}

int
envelope_unpack_map(const uint8_t *p, size_t len, msgpack_unpacked *u,
                    const char **why)
{
	size_t objlen, off = 0;
	int rc = mpcheck_object(p, len, 3, &objlen);

	if (rc == WEFT_ETRUNC) {
		WHY("body truncated");
		return rc;
	}
	if (rc) {
		WHY("body is not msgpack");
		return WEFT_EMALFORMED;
	}
	if (objlen != len) {
		WHY("trailing bytes in body");
		return WEFT_EMALFORMED;
	}
	if (msgpack_unpack_next(u, (const char *)p, len, &off) !=
	    MSGPACK_UNPACK_SUCCESS) {
		WHY("body is not msgpack");
		return WEFT_EMALFORMED;
	}
	if (u->data.type != MSGPACK_OBJECT_MAP) {
		WHY("body is not a map");
		return WEFT_EMALFORMED;
	}
	return 0;
}

int
envelope_int(const msgpack_object *o, int64_t *v)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > INT64_MAX)
			return WEFT_ERANGE;
		*v = (int64_t)o->via.u64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return 0;
	}
	return WEFT_EMALFORMED;
}

int
envelope_bin(const msgpack_object *o, uint8_t *out, size_t n)
{
	if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != n)
		return WEFT_EMALFORMED;
	if (n > 0)
		memcpy(out, o->via.bin.ptr, n);
	return 0;
}

int
envelope_str(const msgpack_object *o, char *out, size_t max)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return WEFT_EMALFORMED;
	if (o->via.str.size > max)
		return WEFT_ETOOBIG;
	/* msgpack-c gives an empty string a NULL pointer. */
	if (o->via.str.size > 0) {
		if (memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
			return WEFT_EMALFORMED;
		memcpy(out, o->via.str.ptr, o->via.str.size);
	}
	out[o->via.str.size] = '\0';
	return 0;
}

void
envelope_sbuffer_wipe(msgpack_sbuffer *sb)
{
	if (sb->data)
		sodium_memzero(sb->data, sb->alloc);
	msgpack_sbuffer_destroy(sb);
}
