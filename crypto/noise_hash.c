/*
 * The Noise spec's hash functions, HMAC and HKDF over libsodium's SHA256
 * and BLAKE2b.  HMAC is built here rather than taken from libsodium
 * because libsodium has no HMAC-BLAKE2b, and BLAKE2b's keyed mode is not
 * what the spec means by HMAC-BLAKE2b.
 */
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "crypto/noise.h"

#define BLOCKLEN_MAX 128

struct hstate {
	enum noise_hash h;
	union {
		crypto_hash_sha256_state sha;
		crypto_generichash_blake2b_state b2;
	} u;
};

size_t
noise_hash_len(enum noise_hash h)
{
	return h == NOISE_HASH_SHA256 ? 32 : 64;
}

static size_t
block_len(enum noise_hash h)
{
	return h == NOISE_HASH_SHA256 ? 64 : 128;
}

static void
h_init(struct hstate *s, enum noise_hash h)
{
	s->h = h;
	if (h == NOISE_HASH_SHA256)
		crypto_hash_sha256_init(&s->u.sha);
	else
		crypto_generichash_blake2b_init(&s->u.b2, NULL, 0, 64);
}

static void
h_update(struct hstate *s, const uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	if (s->h == NOISE_HASH_SHA256)
		crypto_hash_sha256_update(&s->u.sha, p, n);
	else
		crypto_generichash_blake2b_update(&s->u.b2, p, n);
}

static void
h_final(struct hstate *s, uint8_t *out)
{
	if (s->h == NOISE_HASH_SHA256)
		crypto_hash_sha256_final(&s->u.sha, out);
	else
		crypto_generichash_blake2b_final(&s->u.b2, out, 64);
	sodium_memzero(s, sizeof(*s));
}

void
noise_hash(enum noise_hash h, const uint8_t *a, size_t alen, const uint8_t *b,
           size_t blen, uint8_t *out)
{
	struct hstate s;

	h_init(&s, h);
	h_update(&s, a, alen);
	h_update(&s, b, blen);
	h_final(&s, out);
}

/* HMAC over the concatenation d1 || d2; keys are at most HASHLEN, so they
 * never need hashing down to the block size. */
static void
hmac2(enum noise_hash h, const uint8_t *key, size_t keylen, const uint8_t *d1,
      size_t l1, const uint8_t *d2, size_t l2, uint8_t *out)
{
	uint8_t pad[BLOCKLEN_MAX];
	uint8_t inner[NOISE_HASHLEN_MAX];
	size_t bl = block_len(h);
	struct hstate s;

	memset(pad, 0, sizeof(pad));
	memcpy(pad, key, keylen);
	for (size_t i = 0; i < bl; i++)
		pad[i] ^= 0x36;
	h_init(&s, h);
	h_update(&s, pad, bl);
	h_update(&s, d1, l1);
	h_update(&s, d2, l2);
	h_final(&s, inner);

	/* 0x36 ^ 0x5c turns the inner pad into the outer one. */
	for (size_t i = 0; i < bl; i++)
		pad[i] ^= 0x36 ^ 0x5c;
	h_init(&s, h);
	h_update(&s, pad, bl);
	h_update(&s, inner, noise_hash_len(h));
	h_final(&s, out);
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
}

void
noise_hmac(enum noise_hash h, const uint8_t *key, size_t keylen,
           const uint8_t *data, size_t len, uint8_t *out)
{
	hmac2(h, key, keylen, data, len, NULL, 0, out);
}

void
noise_hkdf(enum noise_hash h, const uint8_t *ck, const uint8_t *ikm,
           size_t ikmlen, uint8_t *out1, uint8_t *out2, uint8_t *out3)
{
	uint8_t temp[NOISE_HASHLEN_MAX];
	size_t hl = noise_hash_len(h);
	uint8_t one = 1, two = 2, three = 3;

	hmac2(h, ck, hl, ikm, ikmlen, NULL, 0, temp);
	hmac2(h, temp, hl, &one, 1, NULL, 0, out1);
	hmac2(h, temp, hl, out1, hl, &two, 1, out2);
	if (out3 != NULL)
		hmac2(h, temp, hl, out2, hl, &three, 1, out3);
	sodium_memzero(temp, sizeof(temp));
}

int
noise_dh_public(uint8_t pk[static NOISE_DHLEN],
                const uint8_t sk[static NOISE_DHLEN])
{
	return crypto_scalarmult_base(pk, sk) == 0 ? 0 : WEFT_ECRYPTO;
}
