#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "crypto/seal.h"

_Static_assert(SEAL_KEY_LEN == crypto_kx_SESSIONKEYBYTES, "kx key size");
_Static_assert(SEAL_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
               "aead key size");
_Static_assert(SEAL_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
               "nonce size");
_Static_assert(SEAL_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "tag size");
_Static_assert(KEY_PK_LEN == crypto_kx_PUBLICKEYBYTES, "kx pk size");
_Static_assert(KEY_DH_SK_LEN == crypto_kx_SECRETKEYBYTES, "kx sk size");

int
seal_derive(struct seal_keys *out, const uint8_t my_pk[static KEY_PK_LEN],
            const uint8_t my_sk[static KEY_DH_SK_LEN],
            const uint8_t peer_pk[static KEY_PK_LEN])
{
	int order = memcmp(my_pk, peer_pk, KEY_PK_LEN);
	int rc;

	if (order == 0)
		return WEFT_EINVAL;
	/*
	 * Both ends must agree on who plays which role without talking, so
	 * the role follows from the public keys: the lower one is the client.
	 * The client's tx is then the server's rx and the other way round.
	 */
	if (order < 0)
		rc = crypto_kx_client_session_keys(out->rx, out->tx, my_pk, my_sk,
		                                   peer_pk);
	else
		rc = crypto_kx_server_session_keys(out->rx, out->tx, my_pk, my_sk,
		                                   peer_pk);
	if (rc != 0) {
		seal_keys_wipe(out);
		return WEFT_ECRYPTO;
	}
	return 0;
}

void
seal_keys_wipe(struct seal_keys *k)
{
	sodium_memzero(k, sizeof(*k));
}

int
seal_packet(const struct seal_keys *k,
            const uint8_t sender_id[static KEY_ID_LEN],
            const struct weft_rng *rng, const uint8_t *plain, size_t len,
            uint8_t *out, size_t cap, size_t *out_len)
{
	unsigned long long clen;
	int rc;

	if (cap < SEAL_OVERHEAD || len > cap - SEAL_OVERHEAD)
		return WEFT_ENOSPACE;
	out[0] = SEAL_VERSION;
	memcpy(out + 1, sender_id, KEY_ID_LEN);
	rc = weft_rng_fill(rng, out + 1 + KEY_ID_LEN, SEAL_NONCE_LEN);
	if (rc)
		return rc;
	/* The clear header is the associated data: a relay that rewrites the
	 * sender id makes the tag fail. */
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + SEAL_HDR_LEN, &clen,
	                                           plain, len, out,
	                                           1 + KEY_ID_LEN, NULL,
	                                           out + 1 + KEY_ID_LEN, k->tx);
	*out_len = SEAL_HDR_LEN + (size_t)clen;
	return 0;
}

int
seal_peek_sender(const uint8_t *pkt, size_t len,
                 uint8_t sender_id[static KEY_ID_LEN])
{
	if (len < SEAL_OVERHEAD)
		return WEFT_ETRUNC;
	if (pkt[0] != SEAL_VERSION)
		return WEFT_EVERSION;
	memcpy(sender_id, pkt + 1, KEY_ID_LEN);
	return 0;
}

int
seal_open(const struct seal_keys *k, const uint8_t *pkt, size_t len,
          uint8_t *out, size_t cap, size_t *out_len)
{
	unsigned long long plen;

	if (len < SEAL_OVERHEAD)
		return WEFT_ETRUNC;
	if (pkt[0] != SEAL_VERSION)
		return WEFT_EVERSION;
	if (cap < len - SEAL_OVERHEAD)
		return WEFT_ENOSPACE;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL,
	                                               pkt + SEAL_HDR_LEN,
	                                               len - SEAL_HDR_LEN, pkt,
	                                               1 + KEY_ID_LEN,
	                                               pkt + 1 + KEY_ID_LEN,
	                                               k->rx) != 0) {
		sodium_memzero(out, len - SEAL_OVERHEAD);
		return WEFT_ECRYPTO;
	}
	*out_len = (size_t)plen;
	return 0;
}
