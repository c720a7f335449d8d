/*
 * Pairwise packet sealing for gossip.  Every UDP packet is sealed for its
 * single receiver with a key derived from the sender's and the receiver's
 * X25519 keys: there is no shared cluster secret to leak or rotate.
 *
 * Key derivation: libsodium's key exchange (X25519, then BLAKE2b-512 over
 * the shared point and both public keys), with the node whose X25519
 * public key sorts lower in the client role.  It yields two keys, one per
 * direction, so A->B and B->A never share a key.  The derivation costs one
 * X25519 operation: callers cache struct seal_keys per peer.
 *
 * Packet:
 *
 *   version (1) | sender key id (KEY_ID_LEN) | nonce (24) | ciphertext | tag (16)
 *
 * The cipher is XChaCha20-Poly1305 (IETF); version and sender key id, sent
 * in clear so the receiver can find the key, are the associated data.
 * Nonces are 192 random bits drawn from the caller's generator.  A counter
 * would need state that survives restarts, because the key follows from
 * the static keys and is the same after a restart; at 192 bits a random
 * nonce repeats with negligible probability.  Sealing does not stop
 * replays: gossip messages carry sequence numbers, incarnations and
 * versions, so a replayed packet can at most repeat an old statement.
 */
#ifndef WEFT_CRYPTO_SEAL_H
#define WEFT_CRYPTO_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "crypto/key.h"

#define SEAL_VERSION 1
#define SEAL_KEY_LEN 32
#define SEAL_NONCE_LEN 24
#define SEAL_TAG_LEN 16
#define SEAL_HDR_LEN (1 + KEY_ID_LEN + SEAL_NONCE_LEN)
#define SEAL_OVERHEAD (SEAL_HDR_LEN + SEAL_TAG_LEN)

/* The two directional keys shared with one peer. */
struct seal_keys {
	uint8_t tx[SEAL_KEY_LEN]; /* seals what we send to the peer */
	uint8_t rx[SEAL_KEY_LEN]; /* opens what the peer sends us */
};

/*
 * Derives the keys shared with the peer whose X25519 public key is
 * peer_pk.  WEFT_EINVAL when both public keys are equal (a node does not
 * seal for itself), WEFT_ECRYPTO when the peer key is a low-order point.
 */
int seal_derive(struct seal_keys *out, const uint8_t my_pk[static KEY_PK_LEN],
                const uint8_t my_sk[static KEY_DH_SK_LEN],
                const uint8_t peer_pk[static KEY_PK_LEN])
	__attribute__((warn_unused_result));

/* Overwrites both keys. */
void seal_keys_wipe(struct seal_keys *k);

/*
 * Seals len bytes of plain into out (cap bytes, at least len +
 * SEAL_OVERHEAD, else WEFT_ENOSPACE), naming sender_id as the sender.
 * The nonce comes from rng.  *out_len receives the packet length.
 */
int seal_packet(const struct seal_keys *k,
                const uint8_t sender_id[static KEY_ID_LEN],
                const struct weft_rng *rng, const uint8_t *plain, size_t len,
                uint8_t *out, size_t cap, size_t *out_len);

/*
 * Reads the sender key id from a packet's clear header without opening
 * it, so the receiver can find the keys.  WEFT_ETRUNC for a packet shorter
 * than SEAL_OVERHEAD, WEFT_EVERSION for an unknown version.
 */
int seal_peek_sender(const uint8_t *pkt, size_t len,
                     uint8_t sender_id[static KEY_ID_LEN]);

/*
 * Opens a packet sealed by the peer these keys are shared with; the
 * plaintext (len - SEAL_OVERHEAD bytes) goes to out.  WEFT_ETRUNC,
 * WEFT_EVERSION, WEFT_ENOSPACE, or WEFT_ECRYPTO when the packet was not
 * sealed with these keys or was changed; out is then zeroed.
 */
int seal_open(const struct seal_keys *k, const uint8_t *pkt, size_t len,
              uint8_t *out, size_t cap, size_t *out_len)
	__attribute__((warn_unused_result));

#endif
