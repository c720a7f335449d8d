/*
 * Revocation statements: "key id K is revoked since T (reason)", signed
 * by a CA.  Gossip carries them as cluster objects and keeps each one
 * until `until`, the time after which the revoked certificate could not be
 * valid anyway.
 *
 * Encoding: msgpack array [body: bin, sig: bin 64], body a canonical map
 * with integer keys (docs/PROTOCOL.md), signed in domain KEY_SIG_REVOKE.
 */
#ifndef WEFT_CRYPTO_REVOKE_H
#define WEFT_CRYPTO_REVOKE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/bundle.h"
#include "crypto/key.h"

#define REVOKE_REASON_MAX 200
#define REVOKE_ENCODED_MAX 512
#define REVOKE_ARMOR_LABEL "REVOCATION"

struct revoke {
	uint8_t key_id[KEY_ID_LEN]; /* the revoked key */
	int64_t revoked_at;         /* Unix seconds */
	int64_t until;
	char reason[REVOKE_REASON_MAX + 1];
	uint8_t issuer[KEY_ID_LEN]; /* the CA that signed */
	uint8_t sig[KEY_SIG_LEN];
	uint8_t encoded[REVOKE_ENCODED_MAX];
	size_t encoded_len;
	size_t body_off;
	size_t body_len;
};

/* *out is allocated (free()). */
int revoke_create(const uint8_t key_id[static KEY_ID_LEN], int64_t revoked_at,
                  int64_t until, const char *reason, const struct key_pair *ca,
                  uint8_t **out, size_t *out_len);
int revoke_decode(const uint8_t *p, size_t len, struct revoke *out);
/* 0 when a CA of the bundle signed it; WEFT_EUNTRUSTED or WEFT_EBADSIG. */
int revoke_verify(const struct revoke *r, const struct bundle *b);

#endif
