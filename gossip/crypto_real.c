/*
 * The real cryptography for the gossip core: crypto/'s Ed25519 keys,
 * certificates checked against the trust bundle, CA-signed revocations
 * and pairwise packet sealing.
 */
#include <string.h>

#include "common/err.h"
#include "crypto/bundle.h"
#include "crypto/revoke.h"
#include "gossip/gossip.h"

static int
real_sign(void *ctx, enum key_sig_domain d, const uint8_t *msg, size_t len,
          uint8_t sig[KEY_SIG_LEN])
{
	struct gossip_crypto_real_ctx *c = ctx;

	return key_sign(c->key, d, msg, len, sig);
}

static int
real_verify(void *ctx, const uint8_t pk[KEY_PK_LEN], enum key_sig_domain d,
            const uint8_t *msg, size_t len, const uint8_t sig[KEY_SIG_LEN])
{
	(void)ctx;
	return key_verify(pk, d, msg, len, sig);
}

static int
real_cert_check(void *ctx, const uint8_t *p, size_t len, int64_t now_s,
                const struct cert_revocations *rev,
                const char *const *services, size_t n,
                struct gossip_ident *out)
{
	struct gossip_crypto_real_ctx *c = ctx;
	struct cert_verdict v;
	struct cert crt;
	int rc = cert_decode(p, len, &crt);

	if (rc)
		return rc;
	rc = cert_verify(&crt, c->bundle, now_s, c->skew_s, rev, &v);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (!cert_allows_service(&crt, services[i]))
			rc = WEFT_EPOLICY;
	if (rc == 0) {
		memset(out, 0, sizeof(*out));
		memcpy(out->key_id, crt.key_id, KEY_ID_LEN);
		memcpy(out->sign_pk, crt.sign_pk, KEY_PK_LEN);
		memcpy(out->dh_pk, crt.dh_pk, KEY_PK_LEN);
		if (cert_has_group(&crt, "operator"))
			out->flags |= GOSSIP_IDENT_OPERATOR;
		out->not_before = crt.not_before;
		out->not_after = crt.not_after;
	}
	cert_free(&crt);
	return rc;
}

static int
real_ca_key(void *ctx, const uint8_t id[KEY_ID_LEN], uint8_t pk[KEY_PK_LEN])
{
	struct gossip_crypto_real_ctx *c = ctx;
	const struct cert *ca = bundle_find(c->bundle, id);

	if (ca == NULL)
		return WEFT_ENOENT;
	memcpy(pk, ca->sign_pk, KEY_PK_LEN);
	return 0;
}

static int
real_revoke_check(void *ctx, const uint8_t *p, size_t len,
                  uint8_t key_id[KEY_ID_LEN], int64_t *until)
{
	struct gossip_crypto_real_ctx *c = ctx;
	struct revoke r;
	int rc = revoke_decode(p, len, &r);

	if (rc == 0)
		rc = revoke_verify(&r, c->bundle);
	if (rc == 0) {
		memcpy(key_id, r.key_id, KEY_ID_LEN);
		*until = r.until;
	}
	return rc;
}

static int
real_derive(void *ctx, const uint8_t peer[KEY_PK_LEN], struct seal_keys *out)
{
	struct gossip_crypto_real_ctx *c = ctx;

	return seal_derive(out, c->key->dh_pk, c->key->dh_sk, peer);
}

static int
real_seal(void *ctx, const struct seal_keys *k, const uint8_t sender[KEY_ID_LEN],
          const struct weft_rng *rng, const uint8_t *plain, size_t len,
          uint8_t *out, size_t cap, size_t *out_len)
{
	(void)ctx;
	return seal_packet(k, sender, rng, plain, len, out, cap, out_len);
}

static int
real_open(void *ctx, const struct seal_keys *k, const uint8_t *pkt, size_t len,
          uint8_t *out, size_t cap, size_t *out_len)
{
	(void)ctx;
	return seal_open(k, pkt, len, out, cap, out_len);
}

void
gossip_crypto_real(struct gossip_crypto *out,
                   struct gossip_crypto_real_ctx *ctx)
{
	memset(out, 0, sizeof(*out));
	out->sign = real_sign;
	out->verify = real_verify;
	out->cert_check = real_cert_check;
	out->ca_key = real_ca_key;
	out->revoke_check = real_revoke_check;
	out->derive = real_derive;
	out->seal = real_seal;
	out->open = real_open;
	out->ctx = ctx;
	out->name = "real";
}
