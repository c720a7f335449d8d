/*
 * The Noise CipherState over ChaChaPoly (IETF ChaCha20-Poly1305).
 */
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "crypto/noise.h"

/* 32 bits of zeros, then the 64-bit counter little-endian (spec 12.3). */
static void
make_nonce(uint8_t nonce[static 12], uint64_t n)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

void
noise_cipher_init(struct noise_cipher *c, const uint8_t k[static NOISE_KEYLEN])
{
	memcpy(c->k, k, NOISE_KEYLEN);
	c->n = 0;
	c->has_key = true;
}

int
noise_cipher_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen,
                     const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                     size_t *out_len)
{
	uint8_t nonce[12];

	if (!c->has_key) {
		if (cap < len)
			return WEFT_ENOSPACE;
		if (len > 0)
			memmove(out, in, len);
		*out_len = len;
		return 0;
	}
	/* 2^64 - 1 is reserved for rekey: the counter must never reach it
	 * through use, let alone wrap. */
	if (c->n == UINT64_MAX)
		return WEFT_ENONCE;
	if (cap < len || cap - len < NOISE_TAGLEN)
		return WEFT_ENOSPACE;
	make_nonce(nonce, c->n);
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(out, out + len, NULL,
	    in, len, ad, adlen, NULL, nonce, c->k);
	c->n++;
	*out_len = len + NOISE_TAGLEN;
	return 0;
}

int
noise_cipher_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen,
                     const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                     size_t *out_len)
{
	uint8_t nonce[12];
	size_t plen;

	if (!c->has_key) {
		if (cap < len)
			return WEFT_ENOSPACE;
		if (len > 0)
			memmove(out, in, len);
		*out_len = len;
		return 0;
	}
	if (c->n == UINT64_MAX)
		return WEFT_ENONCE;
	if (len < NOISE_TAGLEN)
		return WEFT_ETRUNC;
	plen = len - NOISE_TAGLEN;
	if (cap < plen)
		return WEFT_ENOSPACE;
	make_nonce(nonce, c->n);
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, NULL, in,
	    plen, in + plen, ad, adlen, nonce, c->k) != 0)
		return WEFT_ECRYPTO;
	c->n++;
	*out_len = plen;
	return 0;
}

int
noise_cipher_rekey(struct noise_cipher *c)
{
	uint8_t zeros[NOISE_KEYLEN] = {0};
	uint8_t out[NOISE_KEYLEN];
	uint8_t tag[NOISE_TAGLEN];
	uint8_t nonce[12];

	if (!c->has_key)
		return WEFT_ESTATE;
	make_nonce(nonce, UINT64_MAX);
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(out, tag, NULL, zeros,
	    sizeof(zeros), NULL, 0, NULL, nonce, c->k);
	memcpy(c->k, out, NOISE_KEYLEN);
	sodium_memzero(out, sizeof(out));
	return 0;
}

void
noise_cipher_wipe(struct noise_cipher *c)
{
	sodium_memzero(c, sizeof(*c));
}
