#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hex.h"
#include "crypto/armor.h"
#include "crypto/envelope.h"
#include "crypto/key.h"

#define KEY_FILE_VERSION 1
#define KEY_ARMOR_LABEL "PRIVATE KEY"
#define SIG_PREFIX "weft-sig-v1"

enum key_field {
	KF_VERSION = 1,
	KF_KIND = 2,
	KF_SIGN_SEED = 3,
	KF_DH_SK = 4,
};

static int
system_fill(void *ctx, void *out, size_t n)
{
	(void)ctx;
	randombytes_buf(out, n);
	return 0;
}

const struct weft_rng key_system_rng = {system_fill, NULL};

void
key_id_of(uint8_t id[static KEY_ID_LEN],
          const uint8_t sign_pk[static KEY_PK_LEN])
{
	uint8_t h[32];

	crypto_generichash(h, sizeof(h), sign_pk, KEY_PK_LEN, NULL, 0);
	memcpy(id, h, KEY_ID_LEN);
}

void
key_id_hex(char *out, const uint8_t id[static KEY_ID_LEN])
{
	hex_encode(out, id, KEY_ID_LEN);
}

int
key_id_parse(uint8_t id[static KEY_ID_LEN], const char *hex)
{
	return hex_decode(id, KEY_ID_LEN, hex);
}

/* Builds both halves from their seeds; dh_sk may be NULL for a CA. */
static int
key_from_seeds(struct key_pair *k, enum key_kind kind,
               const uint8_t seed[static 32], const uint8_t *dh_sk)
{
	memset(k, 0, sizeof(*k));
	k->kind = kind;
	if (crypto_sign_seed_keypair(k->sign_pk, k->sign_sk, seed) != 0)
		return WEFT_ECRYPTO;
	if (kind == KEY_KIND_NODE) {
		memcpy(k->dh_sk, dh_sk, KEY_DH_SK_LEN);
		if (crypto_scalarmult_base(k->dh_pk, k->dh_sk) != 0)
			return WEFT_ECRYPTO;
	}
	key_id_of(k->id, k->sign_pk);
	return 0;
}

int
key_generate(struct key_pair *out, enum key_kind kind,
             const struct weft_rng *rng)
{
	uint8_t seeds[64];
	int rc;

	if (kind != KEY_KIND_CA && kind != KEY_KIND_NODE)
		return WEFT_EINVAL;
	rc = weft_rng_fill(rng, seeds, sizeof(seeds));
	if (rc == 0)
		rc = key_from_seeds(out, kind, seeds, seeds + 32);
	sodium_memzero(seeds, sizeof(seeds));
	if (rc)
		key_wipe(out);
	return rc;
}

void
key_wipe(struct key_pair *k)
{
	sodium_memzero(k, sizeof(*k));
}

/* The signed bytes: prefix, domain, message.  Small messages (records,
 * certificates) are assembled on the stack. */
static int
sig_input(enum key_sig_domain domain, const uint8_t *msg, size_t len,
          uint8_t *stack, size_t stack_cap, uint8_t **in, size_t *in_len)
{
	size_t n = sizeof(SIG_PREFIX) + 1 + len;
	uint8_t *p = stack;

	if (n > stack_cap) {
		p = malloc(n);
		if (p == NULL)
			return WEFT_ENOMEM;
	}
	memcpy(p, SIG_PREFIX, sizeof(SIG_PREFIX)); /* with its NUL */
	p[sizeof(SIG_PREFIX)] = (uint8_t)domain;
	if (len)
		memcpy(p + sizeof(SIG_PREFIX) + 1, msg, len);
	*in = p;
	*in_len = n;
	return 0;
}

int
key_sign(const struct key_pair *k, enum key_sig_domain domain,
         const uint8_t *msg, size_t len, uint8_t sig[static KEY_SIG_LEN])
{
	uint8_t stack[2048], *in;
	size_t in_len;
	int rc = sig_input(domain, msg, len, stack, sizeof(stack), &in, &in_len);

	if (rc)
		return rc;
	if (crypto_sign_detached(sig, NULL, in, in_len, k->sign_sk) != 0)
		rc = WEFT_ECRYPTO;
	if (in != stack)
		free(in);
	return rc;
}

int
key_verify(const uint8_t pk[static KEY_PK_LEN], enum key_sig_domain domain,
           const uint8_t *msg, size_t len,
           const uint8_t sig[static KEY_SIG_LEN])
{
	uint8_t stack[2048], *in;
	size_t in_len;
	int rc = sig_input(domain, msg, len, stack, sizeof(stack), &in, &in_len);

	if (rc)
		return rc;
	if (crypto_sign_verify_detached(sig, in, in_len, pk) != 0)
		rc = WEFT_EBADSIG;
	if (in != stack)
		free(in);
	return rc;
}

static int
encode_body(const struct key_pair *k, msgpack_sbuffer *sb)
{
	msgpack_packer pk;
	uint8_t seed[32];
	int bad;

	/* The seed is the first half of libsodium's Ed25519 secret key. */
	crypto_sign_ed25519_sk_to_seed(seed, k->sign_sk);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	bad = msgpack_pack_map(&pk, k->kind == KEY_KIND_NODE ? 4 : 3) ||
	      msgpack_pack_uint8(&pk, KF_VERSION) ||
	      msgpack_pack_uint8(&pk, KEY_FILE_VERSION) ||
	      msgpack_pack_uint8(&pk, KF_KIND) ||
	      msgpack_pack_uint8(&pk, (uint8_t)k->kind) ||
	      msgpack_pack_uint8(&pk, KF_SIGN_SEED) ||
	      msgpack_pack_bin(&pk, sizeof(seed)) ||
	      msgpack_pack_bin_body(&pk, seed, sizeof(seed));
	if (!bad && k->kind == KEY_KIND_NODE)
		bad = msgpack_pack_uint8(&pk, KF_DH_SK) ||
		      msgpack_pack_bin(&pk, KEY_DH_SK_LEN) ||
		      msgpack_pack_bin_body(&pk, k->dh_sk, KEY_DH_SK_LEN);
	sodium_memzero(seed, sizeof(seed));
	return bad ? WEFT_ENOMEM : 0;
}

int
key_encode_text(const struct key_pair *k, char **out, size_t *out_len)
{
	msgpack_sbuffer sb;
	int rc;

	msgpack_sbuffer_init(&sb);
	rc = encode_body(k, &sb);
	if (rc == 0)
		rc = armor_encode(KEY_ARMOR_LABEL, (const uint8_t *)sb.data,
		                  sb.size, out, out_len);
	envelope_sbuffer_wipe(&sb);
	return rc;
}

void
key_text_free(char *text, size_t len)
{
	if (text == NULL)
		return;
	sodium_memzero(text, len);
	free(text);
}

static int
decode_body(const uint8_t *p, size_t len, struct key_pair *out)
{
	msgpack_unpacked u;
	const msgpack_object_map *m;
	uint8_t seed[32] = {0}, dh[KEY_DH_SK_LEN] = {0};
	int64_t version = 0, kind = 0;
	unsigned seen = 0;
	uint64_t last = 0;
	int rc;

	msgpack_unpacked_init(&u);
	rc = envelope_unpack_map(p, len, &u, NULL);
	if (rc)
		goto out;
	m = &u.data.via.map;
	rc = WEFT_EMALFORMED;
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *key = &m->ptr[i].key, *v = &m->ptr[i].val;

		if (key->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    key->via.u64 <= last)
			goto out; /* unordered, duplicate or not an integer */
		last = key->via.u64;
		switch (key->via.u64) {
		case KF_VERSION:
			if (envelope_int(v, &version))
				goto out;
			if (version != KEY_FILE_VERSION) {
				rc = WEFT_EVERSION;
				goto out;
			}
			break;
		case KF_KIND:
			if (envelope_int(v, &kind) ||
			    (kind != KEY_KIND_CA && kind != KEY_KIND_NODE))
				goto out;
			break;
		case KF_SIGN_SEED:
			if (envelope_bin(v, seed, sizeof(seed)))
				goto out;
			break;
		case KF_DH_SK:
			if (envelope_bin(v, dh, sizeof(dh)))
				goto out;
			break;
		default:
			goto out;
		}
		seen |= 1u << key->via.u64;
	}
	if (version == 0) {
		rc = WEFT_EVERSION;
		goto out;
	}
	if (!(seen & (1u << KF_KIND)) || !(seen & (1u << KF_SIGN_SEED)))
		goto out;
	/* A node key has both halves, a CA key only the signing one. */
	if ((kind == KEY_KIND_NODE) != !!(seen & (1u << KF_DH_SK)))
		goto out;
	rc = key_from_seeds(out, (enum key_kind)kind, seed, dh);
out:
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(dh, sizeof(dh));
	msgpack_unpacked_destroy(&u);
	return rc;
}

int
key_decode_text(const char *text, size_t len, struct key_pair *out)
{
	struct key_pair k;
	uint8_t *bin;
	size_t bin_len, pos = 0;
	int rc = armor_decode_next(text, len, &pos, KEY_ARMOR_LABEL, &bin,
	                           &bin_len);

	if (rc == WEFT_ENOENT)
		return WEFT_EMALFORMED;
	if (rc)
		return rc;
	rc = decode_body(bin, bin_len, &k);
	sodium_memzero(bin, bin_len);
	free(bin);
	if (rc == 0)
		*out = k;
	key_wipe(&k);
	return rc;
}
