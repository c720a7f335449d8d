/*
 * The Noise CipherState over ChaChaPoly (IETF ChaCha20-Poly1305) and
 * AESGCM (AES-256-GCM through libsodium's AES-NI code, with the key
 * schedule precomputed once per key).
 */
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "crypto/noise.h"

_Static_assert(sizeof(crypto_aead_aes256gcm_state) <= NOISE_AESGCM_STATE_LEN,
    "NOISE_AESGCM_STATE_LEN is smaller than libsodium's AES-GCM state");
_Static_assert(crypto_aead_aes256gcm_KEYBYTES == NOISE_KEYLEN &&
    crypto_aead_aes256gcm_ABYTES == NOISE_TAGLEN &&
    crypto_aead_aes256gcm_NPUBBYTES == 12 &&
    crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12,
    "AEAD sizes differ from the Noise spec's");

/*
 * 32 bits of zeros, then the 64-bit counter: little-endian for
 * ChaChaPoly, big-endian for AESGCM (spec 12.3 and 12.4).
 */
static void
make_nonce(enum noise_cipher_id id, uint8_t nonce[static 12], uint64_t n)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++) {
		int shift = id == NOISE_CIPHER_AESGCM ? 8 * (7 - i) : 8 * i;

		nonce[4 + i] = (uint8_t)(n >> shift);
	}
}

static crypto_aead_aes256gcm_state *
aes_state(struct noise_cipher *c)
{
	return (crypto_aead_aes256gcm_state *)(void *)c->aes;
}

const char *
noise_cipher_name(enum noise_cipher_id id)
{
	switch (id) {
	case NOISE_CIPHER_CHACHAPOLY:
		return "ChaChaPoly";
	case NOISE_CIPHER_AESGCM:
		return "AESGCM";
	}
	return NULL;
}

bool
noise_cipher_available(enum noise_cipher_id id)
{
	if (id == NOISE_CIPHER_CHACHAPOLY)
		return true;
	return id == NOISE_CIPHER_AESGCM &&
	    crypto_aead_aes256gcm_is_available() == 1;
}

int
noise_cipher_init(struct noise_cipher *c, enum noise_cipher_id id,
                  const uint8_t k[static NOISE_KEYLEN])
{
	if (!noise_cipher_available(id)) {
		sodium_memzero(c, sizeof(*c));
		return WEFT_EINVAL;
	}
	memcpy(c->k, k, NOISE_KEYLEN);
	if (id == NOISE_CIPHER_AESGCM)
		crypto_aead_aes256gcm_beforenm(aes_state(c), c->k);
	c->id = id;
	c->n = 0;
	c->has_key = true;
	return 0;
}

/* ENCRYPT(k, n, ad, plaintext) of the spec; in may equal out. */
static void
seal(struct noise_cipher *c, uint64_t n, const uint8_t *ad, size_t adlen,
     const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[NOISE_TAGLEN])
{
	uint8_t nonce[12];

	make_nonce(c->id, nonce, n);
	if (c->id == NOISE_CIPHER_AESGCM)
		crypto_aead_aes256gcm_encrypt_detached_afternm(out, tag, NULL, in,
		    len, ad, adlen, NULL, nonce, aes_state(c));
	else
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(out, tag, NULL,
		    in, len, ad, adlen, NULL, nonce, c->k);
}

int
noise_cipher_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen,
                     const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                     size_t *out_len)
{
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
	seal(c, c->n, ad, adlen, in, len, out, out + len);
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
	int bad;

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
	make_nonce(c->id, nonce, c->n);
	if (c->id == NOISE_CIPHER_AESGCM)
		bad = crypto_aead_aes256gcm_decrypt_detached_afternm(out, NULL, in,
		    plen, in + plen, ad, adlen, nonce, aes_state(c));
	else
		bad = crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, NULL,
		    in, plen, in + plen, ad, adlen, nonce, c->k);
	if (bad != 0)
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

	if (!c->has_key)
		return WEFT_ESTATE;
	seal(c, UINT64_MAX, NULL, 0, zeros, sizeof(zeros), out, tag);
	memcpy(c->k, out, NOISE_KEYLEN);
	if (c->id == NOISE_CIPHER_AESGCM)
		crypto_aead_aes256gcm_beforenm(aes_state(c), c->k);
	sodium_memzero(out, sizeof(out));
	return 0;
}

void
noise_cipher_wipe(struct noise_cipher *c)
{
	sodium_memzero(c, sizeof(*c));
}
