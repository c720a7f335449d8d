/*
 * Node and CA key pairs.  A node has an Ed25519 key (signs its gossip
 * records) and an X25519 key (its Noise static key, and the key its gossip
 * packets are sealed to).  A CA has an Ed25519 key only.
 *
 * A key id is the first KEY_ID_LEN bytes of BLAKE2b-256 over the Ed25519
 * public key; it names a node or a CA in certificates, revocations and
 * packet headers, and is printed in hex.
 */
#ifndef WEFT_CRYPTO_KEY_H
#define WEFT_CRYPTO_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"

#define KEY_ID_LEN 8
#define KEY_ID_HEX_LEN (2 * KEY_ID_LEN)
#define KEY_PK_LEN 32
#define KEY_SIGN_SK_LEN 64
#define KEY_SIG_LEN 64
#define KEY_DH_SK_LEN 32

enum key_kind {
	KEY_KIND_CA = 1,
	KEY_KIND_NODE = 2,
};

struct key_pair {
	enum key_kind kind;
	uint8_t sign_pk[KEY_PK_LEN];
	uint8_t sign_sk[KEY_SIGN_SK_LEN];
	uint8_t dh_pk[KEY_PK_LEN]; /* zero for a CA */
	uint8_t dh_sk[KEY_DH_SK_LEN];
	uint8_t id[KEY_ID_LEN];
};

/* What a signature is over; part of the signed bytes, so a signature made
 * for one kind of object can never be replayed as another. */
enum key_sig_domain {
	KEY_SIG_CERT = 1,
	KEY_SIG_REVOKE = 2,
	KEY_SIG_RECORD = 3, /* gossip member records */
	KEY_SIG_OBJECT = 4, /* gossip cluster objects */
	KEY_SIG_LEAVE = 5,  /* gossip leave intents */
};

/* Draws the seeds from rng; the keys follow deterministically from them. */
int key_generate(struct key_pair *out, enum key_kind kind,
                 const struct weft_rng *rng);
/* Overwrites every secret byte. */
void key_wipe(struct key_pair *k);

void key_id_of(uint8_t id[static KEY_ID_LEN],
               const uint8_t sign_pk[static KEY_PK_LEN]);
/* out must hold KEY_ID_HEX_LEN + 1 bytes. */
void key_id_hex(char *out, const uint8_t id[static KEY_ID_LEN]);
/* Parses exactly KEY_ID_HEX_LEN hex digits; WEFT_EMALFORMED otherwise. */
int key_id_parse(uint8_t id[static KEY_ID_LEN], const char *hex);

int key_sign(const struct key_pair *k, enum key_sig_domain domain,
             const uint8_t *msg, size_t len, uint8_t sig[static KEY_SIG_LEN]);
/* 0 when sig is pk's signature of msg in that domain, WEFT_EBADSIG if not. */
int key_verify(const uint8_t pk[static KEY_PK_LEN], enum key_sig_domain domain,
               const uint8_t *msg, size_t len,
               const uint8_t sig[static KEY_SIG_LEN]);

/*
 * The private key file: "-----BEGIN WEFT PRIVATE KEY-----", base64 of a
 * msgpack body, "-----END WEFT PRIVATE KEY-----".  The encoder returns a
 * NUL-terminated text the caller releases with key_text_free(), which
 * wipes it first.
 */
int key_encode_text(const struct key_pair *k, char **out, size_t *out_len);
void key_text_free(char *text, size_t len);
/* WEFT_EMALFORMED, WEFT_EVERSION or WEFT_ETRUNC on a bad file; the output
 * is untouched unless it returns 0. */
int key_decode_text(const char *text, size_t len, struct key_pair *out);

/* The system's randomness (libsodium), for the agent and the CLI. */
extern const struct weft_rng key_system_rng;

#endif
