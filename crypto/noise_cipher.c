/*
 * The Noise CipherState over ChaChaPoly (IETF ChaCha20-Poly1305) and
 * AESGCM (AES-256-GCM).  AESGCM runs on OpenSSL's libcrypto where the
 * cipher owns an EVP context (transport ciphers, see noise.h): on this
 * project's CPUs its VAES code is about twice libsodium's, and the AEAD
 * was half of an agent's CPU.  Elsewhere, and whenever libcrypto fails,
 * libsodium's AES-NI code with the key schedule precomputed once per key
 * computes the same bytes.
 */
#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
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

/* A byte copy carries the pointer but not the ownership (noise.h). */
static EVP_CIPHER_CTX *
owned_evp(const struct noise_cipher *c)
{
	return c->evp_owner == c ? c->evp : NULL;
}

/* Whether OpenSSL takes this call: its lengths are ints. */
static EVP_CIPHER_CTX *
evp_for(const struct noise_cipher *c, size_t adlen, size_t len)
{
	if (c->id != NOISE_CIPHER_AESGCM || adlen > INT_MAX || len > INT_MAX)
		return NULL;
	return owned_evp(c);
}

/* Only the nonce changes per record: the key schedule stays in ctx. */
static int
evp_seal(EVP_CIPHER_CTX *ctx, const uint8_t nonce[static 12],
         const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len,
         uint8_t *out, uint8_t tag[static NOISE_TAGLEN])
{
	uint8_t fin[16]; /* GCM's Final writes nothing; out may be NULL */
	int outl;

	if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
	    (adlen > 0 &&
	    EVP_EncryptUpdate(ctx, NULL, &outl, ad, (int)adlen) != 1) ||
	    (len > 0 && (EVP_EncryptUpdate(ctx, out, &outl, in, (int)len) != 1 ||
	    (size_t)outl != len)) ||
	    EVP_EncryptFinal_ex(ctx, fin, &outl) != 1 || outl != 0 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, NOISE_TAGLEN,
	    tag) != 1) {
		ERR_clear_error();
		return WEFT_ECRYPTO;
	}
	return 0;
}

/* Nonzero on a bad tag or any libcrypto failure; out is then wiped, as
 * OpenSSL writes plaintext before it checks the tag. */
static int
evp_open(EVP_CIPHER_CTX *ctx, const uint8_t nonce[static 12],
         const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len,
         const uint8_t *tag, uint8_t *out)
{
	uint8_t t[NOISE_TAGLEN], fin[16];
	int outl;

	memcpy(t, tag, NOISE_TAGLEN);
	if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
	    (adlen > 0 &&
	    EVP_DecryptUpdate(ctx, NULL, &outl, ad, (int)adlen) != 1) ||
	    (len > 0 && (EVP_DecryptUpdate(ctx, out, &outl, in, (int)len) != 1 ||
	    (size_t)outl != len)) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, NOISE_TAGLEN,
	    t) != 1 ||
	    EVP_DecryptFinal_ex(ctx, fin, &outl) != 1 || outl != 0) {
		ERR_clear_error();
		if (len > 0)
			sodium_memzero(out, len);
		return -1;
	}
	return 0;
}

static void
evp_free(struct noise_cipher *c)
{
	EVP_CIPHER_CTX *ctx = owned_evp(c);

	/* EVP_CIPHER_CTX_free cleanses the key schedule it frees. */
	if (ctx != NULL)
		EVP_CIPHER_CTX_free(ctx);
	c->evp = NULL;
	c->evp_owner = NULL;
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
	c->evp = NULL;
	c->evp_owner = NULL;
	return 0;
}

int
noise_cipher_use_openssl(struct noise_cipher *c)
{
	EVP_CIPHER_CTX *ctx;

	if (!c->has_key)
		return WEFT_ESTATE;
	if (c->id != NOISE_CIPHER_AESGCM || owned_evp(c) != NULL)
		return 0;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL) {
		ERR_clear_error();
		return WEFT_ENOMEM;
	}
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, c->k, NULL) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ERR_clear_error();
		return WEFT_ECRYPTO;
	}
	c->evp = ctx;
	c->evp_owner = c;
	return 0;
}

const char *
noise_cipher_impl(const struct noise_cipher *c)
{
	return c->id == NOISE_CIPHER_AESGCM && owned_evp(c) != NULL ?
	    "OpenSSL" : "libsodium";
}

/* ENCRYPT(k, n, ad, plaintext) of the spec; in may equal out. */
static void
seal(struct noise_cipher *c, uint64_t n, const uint8_t *ad, size_t adlen,
     const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[NOISE_TAGLEN])
{
	EVP_CIPHER_CTX *ctx = evp_for(c, adlen, len);
	uint8_t nonce[12];

	make_nonce(c->id, nonce, n);
	/* Should libcrypto fail, libsodium takes over for good: same bytes. */
	if (ctx != NULL && evp_seal(ctx, nonce, ad, adlen, in, len, out,
	    tag) == 0)
		return;
	if (ctx != NULL)
		evp_free(c);
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
	EVP_CIPHER_CTX *ctx;
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
	ctx = evp_for(c, adlen, plen);
	if (ctx != NULL)
		bad = evp_open(ctx, nonce, ad, adlen, in, plen, in + plen, out);
	else if (c->id == NOISE_CIPHER_AESGCM)
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
	EVP_CIPHER_CTX *ctx;

	if (!c->has_key)
		return WEFT_ESTATE;
	seal(c, UINT64_MAX, NULL, 0, zeros, sizeof(zeros), out, tag);
	memcpy(c->k, out, NOISE_KEYLEN);
	sodium_memzero(out, sizeof(out));
	if (c->id != NOISE_CIPHER_AESGCM)
		return 0;
	crypto_aead_aes256gcm_beforenm(aes_state(c), c->k);
	/* The same context takes the new key; should libcrypto refuse it,
	 * libsodium's state above already has it. */
	ctx = owned_evp(c);
	if (ctx != NULL && EVP_EncryptInit_ex(ctx, NULL, NULL, c->k, NULL) != 1) {
		ERR_clear_error();
		evp_free(c);
	}
	return 0;
}

void
noise_cipher_wipe(struct noise_cipher *c)
{
	evp_free(c);
	sodium_memzero(c, sizeof(*c));
}
