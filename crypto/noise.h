/*
 * The Noise Protocol Framework, revision 34: CipherState, SymmetricState
 * and HandshakeState, with handshake patterns held as data.
 *
 * Supported: patterns NN, XX and IK with any set of psk0..psk3 modifiers,
 * DH 25519, ciphers ChaChaPoly and AESGCM (the latter only where the CPU
 * has AES-NI: noise_cipher_available()), hashes SHA256 and BLAKE2b.
 * Protocol names are the spec's, e.g. "Noise_XXpsk3_25519_AESGCM_BLAKE2b".
 *
 * Pure: no I/O, no clock.  Ephemeral keys come from the caller's
 * struct weft_rng (32 bytes per ephemeral, used as the X25519 private
 * key), so test vectors can fix them.  Every state is a plain value the
 * caller owns; *_wipe() overwrites its secrets, and a handshake that
 * splits wipes itself except for the handshake hash.
 */
#ifndef WEFT_CRYPTO_NOISE_H
#define WEFT_CRYPTO_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"

#define NOISE_DHLEN 32
#define NOISE_KEYLEN 32
#define NOISE_TAGLEN 16
#define NOISE_PSKLEN 32
#define NOISE_HASHLEN_MAX 64
#define NOISE_MAX_MSG 65535
#define NOISE_NAME_MAX 64
/* Room for every supported pattern with all four psk tokens. */
#define NOISE_MAX_MESSAGES 4
#define NOISE_MAX_TOKENS 8
/* Room for libsodium's precomputed AES-256-GCM state (crypto/noise_cipher.c
 * checks the size at compile time). */
#define NOISE_AESGCM_STATE_LEN 512

/* The cipher functions.  0 in a struct noise_protocol means ChaChaPoly, so
 * a protocol written before AESGCM existed keeps its meaning. */
enum noise_cipher_id {
	NOISE_CIPHER_CHACHAPOLY = 1,
	NOISE_CIPHER_AESGCM = 2,
};

enum noise_hash {
	NOISE_HASH_SHA256 = 1,
	NOISE_HASH_BLAKE2B = 2,
};

enum noise_pattern {
	NOISE_PATTERN_NN = 1,
	NOISE_PATTERN_XX = 2,
	NOISE_PATTERN_IK = 3,
};

enum noise_token {
	NOISE_TOK_E = 1,
	NOISE_TOK_S,
	NOISE_TOK_EE,
	NOISE_TOK_ES,
	NOISE_TOK_SE,
	NOISE_TOK_SS,
	NOISE_TOK_PSK,
};

/* A protocol: pattern, modifiers, hash and cipher (DH is fixed). */
struct noise_protocol {
	enum noise_pattern pattern;
	unsigned psk_mask; /* bit N set for the pskN modifier */
	enum noise_hash hash;
	enum noise_cipher_id cipher; /* 0: NOISE_CIPHER_CHACHAPOLY */
};

/*
 * Parses a full protocol name.  WEFT_EINVAL names what is unsupported:
 * a pattern other than NN/XX/IK, a modifier other than psk0..psk3, a DH
 * other than 25519, a cipher other than ChaChaPoly/AESGCM, a hash other
 * than SHA256/BLAKE2b.  Parsing AESGCM succeeds on any CPU; running it
 * needs noise_cipher_available().
 */
int noise_protocol_parse(const char *name, struct noise_protocol *out);
/* Writes the canonical name; WEFT_ENOSPACE if cap is too small. */
int noise_protocol_name(const struct noise_protocol *p, char *out, size_t cap);
/* The number of handshake messages of a pattern (2 or 3). */
size_t noise_protocol_messages(const struct noise_protocol *p);
/* Whether the initiator must know the responder's static key (IK). */
bool noise_protocol_needs_remote_static(const struct noise_protocol *p);
/* Whether that side of the pattern has a static key. */
bool noise_protocol_needs_static(const struct noise_protocol *p,
                                 bool initiator);
size_t noise_hash_len(enum noise_hash h);

/* X25519 public key of a private key. */
int noise_dh_public(uint8_t pk[static NOISE_DHLEN],
                    const uint8_t sk[static NOISE_DHLEN]);

/* The spec's HASH, HMAC and HKDF (two or three outputs of hashlen). */
void noise_hash(enum noise_hash h, const uint8_t *a, size_t alen,
                const uint8_t *b, size_t blen, uint8_t *out);
void noise_hmac(enum noise_hash h, const uint8_t *key, size_t keylen,
                const uint8_t *data, size_t len, uint8_t *out);
void noise_hkdf(enum noise_hash h, const uint8_t *ck, const uint8_t *ikm,
                size_t ikmlen, uint8_t *out1, uint8_t *out2, uint8_t *out3);

/* "ChaChaPoly" or "AESGCM"; NULL for an unknown id. */
const char *noise_cipher_name(enum noise_cipher_id id);
/* Whether this process can run the cipher: AESGCM needs AES-NI and
 * PCLMUL, which libsodium checks (sodium_init() must have run). */
bool noise_cipher_available(enum noise_cipher_id id);

/*
 * CipherState.  The nonce starts at 0; the last usable nonce is
 * 2^64 - 2, as 2^64 - 1 is reserved for rekey, after which every call
 * fails with WEFT_ENONCE.  For AESGCM the key schedule and GHASH key are
 * computed once per key (init and rekey), not per message.
 *
 * AESGCM runs on libsodium's AES-NI code, except in the transport
 * ciphers noise_handshake_split() gives out: those also hold an OpenSSL
 * libcrypto EVP context (about twice libsodium's speed where the CPU has
 * VAES), made at split, re-keyed by noise_cipher_rekey() and freed by
 * noise_cipher_wipe(), which the owner of a split cipher must call.  A
 * byte copy of a struct noise_cipher does not own that context: it runs
 * on libsodium, with the same output, and wiping it frees nothing.
 */
struct evp_cipher_ctx_st;
struct noise_cipher {
	_Alignas(16) uint8_t aes[NOISE_AESGCM_STATE_LEN];
	uint8_t k[NOISE_KEYLEN];
	uint64_t n;
	enum noise_cipher_id id;
	bool has_key;
	/* OpenSSL's context, valid only while evp_owner == this struct. */
	struct evp_cipher_ctx_st *evp;
	const struct noise_cipher *evp_owner;
};

/* WEFT_EINVAL for an unknown cipher or AESGCM on a CPU without AES-NI;
 * the state then has no key.  Overwrites all of *c (no OpenSSL context):
 * wipe a cipher that owns one before initialising it again. */
int noise_cipher_init(struct noise_cipher *c, enum noise_cipher_id id,
                      const uint8_t k[static NOISE_KEYLEN]);
/*
 * Encrypts len bytes of in (which may equal out) into out, which must
 * hold len + NOISE_TAGLEN bytes when a key is set (len without one).
 * WEFT_ENONCE when the nonce space is used up, WEFT_ENOSPACE when out is
 * too small.
 */
int noise_cipher_encrypt(struct noise_cipher *c, const uint8_t *ad,
                         size_t adlen, const uint8_t *in, size_t len,
                         uint8_t *out, size_t cap, size_t *out_len);
/*
 * Decrypts and checks len bytes of in (which may equal out).  On a bad
 * tag WEFT_ECRYPTO, and the nonce does not move.
 */
int noise_cipher_decrypt(struct noise_cipher *c, const uint8_t *ad,
                         size_t adlen, const uint8_t *in, size_t len,
                         uint8_t *out, size_t cap, size_t *out_len);
/* The spec's Rekey(): k = first 32 bytes of ENCRYPT(k, 2^64-1, "", 0^32). */
int noise_cipher_rekey(struct noise_cipher *c);
/*
 * For an AESGCM cipher with a key: gives it its own OpenSSL EVP context
 * (see struct noise_cipher; noise_cipher_wipe() frees it).  On failure
 * (WEFT_ENOMEM, or WEFT_ECRYPTO when libcrypto refuses the cipher) the
 * cipher keeps working on libsodium.  0 and nothing done for ChaChaPoly.
 */
int noise_cipher_use_openssl(struct noise_cipher *c);
/* "OpenSSL" or "libsodium": which code this cipher's AEAD runs on now. */
const char *noise_cipher_impl(const struct noise_cipher *c);
/* Wipes the key and frees the OpenSSL context this struct owns. */
void noise_cipher_wipe(struct noise_cipher *c);

/* SymmetricState. */
struct noise_symmetric {
	enum noise_hash hash;
	enum noise_cipher_id cipher;
	size_t hashlen;
	struct noise_cipher cs;
	uint8_t ck[NOISE_HASHLEN_MAX];
	uint8_t h[NOISE_HASHLEN_MAX];
};

enum noise_action {
	NOISE_ACTION_WRITE = 1, /* our turn to write a handshake message */
	NOISE_ACTION_READ,      /* waiting for the peer's message */
	NOISE_ACTION_SPLIT,     /* handshake done: call noise_handshake_split */
	NOISE_ACTION_DONE,      /* split already; only the hash is left */
	NOISE_ACTION_FAILED,    /* an error happened; the state is wiped */
};

struct noise_handshake_params {
	struct noise_protocol protocol;
	bool initiator;
	const uint8_t *prologue; /* may be NULL when prologue_len is 0 */
	size_t prologue_len;
	const uint8_t *static_sk;     /* NOISE_DHLEN, or NULL if unused */
	const uint8_t *remote_static; /* NOISE_DHLEN, for IK's initiator */
	const uint8_t *psk;           /* NOISE_PSKLEN, for psk modifiers */
	const struct weft_rng *rng;   /* draws ephemeral private keys */
	/* Transport ciphers stay on libsodium even for AESGCM: for
	 * sessions that carry little, where OpenSSL's setup (about 2.5 MiB
	 * of pages touched once per process) costs more than it saves. */
	bool sodium_only;
};

struct noise_handshake {
	struct noise_symmetric ss;
	struct noise_protocol protocol;
	bool initiator;
	enum noise_action action;
	uint8_t msgs[NOISE_MAX_MESSAGES][NOISE_MAX_TOKENS];
	uint8_t n_tokens[NOISE_MAX_MESSAGES];
	size_t n_msgs;
	size_t msg_index;
	uint8_t s_sk[NOISE_DHLEN], s_pk[NOISE_DHLEN];
	uint8_t e_sk[NOISE_DHLEN], e_pk[NOISE_DHLEN];
	uint8_t rs[NOISE_DHLEN], re[NOISE_DHLEN];
	uint8_t psk[NOISE_PSKLEN];
	bool has_s, has_e, has_rs, has_re, has_psk;
	bool sodium_only;
	struct weft_rng rng;
};

/*
 * Sets up a handshake.  WEFT_EINVAL when a key the pattern needs is
 * missing (a static key for a side that sends one, the responder's static
 * key for IK's initiator, a psk for a psk protocol), naming nothing
 * secret.
 */
int noise_handshake_init(struct noise_handshake *hs,
                         const struct noise_handshake_params *p);
/*
 * Writes the next handshake message carrying payload into out.  Fails
 * with WEFT_ESTATE when it is not our turn, WEFT_ENOSPACE when out is too
 * small, WEFT_ETOOBIG when the message would exceed NOISE_MAX_MSG.  Any
 * failure other than WEFT_ESTATE/WEFT_ENOSPACE leaves the handshake
 * FAILED.
 */
int noise_handshake_write(struct noise_handshake *hs, const uint8_t *payload,
                          size_t payload_len, uint8_t *out, size_t cap,
                          size_t *out_len);
/*
 * Reads the peer's next handshake message and writes its payload to out.
 * WEFT_ETRUNC for a message too short for its tokens, WEFT_ECRYPTO when
 * a tag does not verify or a DH result is zero; the handshake is then
 * FAILED, as the spec requires.
 */
int noise_handshake_read(struct noise_handshake *hs, const uint8_t *msg,
                         size_t len, uint8_t *out, size_t cap,
                         size_t *out_len);
enum noise_action noise_handshake_action(const struct noise_handshake *hs);
/*
 * Splits into the two transport ciphers, ours to send with and ours to
 * receive with, and wipes every secret of the handshake.  AESGCM ones
 * run on OpenSSL (noise_cipher_use_openssl(), libsodium when that
 * fails, or when the params said sodium_only): the caller must
 * noise_cipher_wipe() both.
 */
int noise_handshake_split(struct noise_handshake *hs, struct noise_cipher *send,
                          struct noise_cipher *recv);
/* h: after the last message, the handshake hash (channel binding). */
const uint8_t *noise_handshake_hash(const struct noise_handshake *hs,
                                    size_t *len);
/* The peer's static public key, once a message carried or a pre-message
 * gave it; NULL before. */
const uint8_t *noise_handshake_remote_static(const struct noise_handshake *hs);
void noise_handshake_wipe(struct noise_handshake *hs);

#endif
