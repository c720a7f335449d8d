#include <string.h>

#include "common/err.h"
#include "testcrypto.h"

static const uint8_t cert_magic[4] = { 'T', 'C', 'R', 'T' };
static const uint8_t rev_magic[4] = { 'T', 'R', 'E', 'V' };

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t
hash(uint64_t seed, const uint8_t *p, size_t len)
{
	uint64_t h = mix(seed ^ len);
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = mix(h ^ w);
	}
	if (i < len) {
		uint64_t w = 0;

		memcpy(&w, p + i, len - i);
		h = mix(h ^ w ^ 0xabcdef);
	}
	return h;
}

void
testcrypto_identity(struct testcrypto_ctx *ctx, uint64_t n)
{
	uint64_t v = mix(n + 0x1234567);

	memcpy(ctx->id, &v, KEY_ID_LEN);
	for (size_t i = 0; i < KEY_PK_LEN; i += 8) {
		uint64_t w = mix(v + i);

		memcpy(ctx->pk + i, &w, 8);
	}
}

void
testcrypto_cert(const struct testcrypto_ctx *ctx, bool operator_group,
                int64_t not_before, int64_t not_after,
                uint8_t out[TESTCRYPTO_CERT_LEN])
{
	memset(out, 0, TESTCRYPTO_CERT_LEN);
	memcpy(out, cert_magic, 4);
	memcpy(out + 4, ctx->id, KEY_ID_LEN);
	memcpy(out + 12, ctx->pk, KEY_PK_LEN);
	out[44] = operator_group ? 1 : 0;
	memcpy(out + 48, &not_before, 8);
	memcpy(out + 56, &not_after, 8);
}

void
testcrypto_revocation(const uint8_t id[KEY_ID_LEN], int64_t until,
                      uint8_t out[24])
{
	memcpy(out, rev_magic, 4);
	memcpy(out + 4, id, KEY_ID_LEN);
	memcpy(out + 12, &until, 8);
	memset(out + 20, 0, 4);
}

static void
fake_sig(const uint8_t pk[KEY_PK_LEN], enum key_sig_domain d,
         const uint8_t *msg, size_t len, uint8_t sig[KEY_SIG_LEN])
{
	uint64_t h = hash(hash(d, pk, KEY_PK_LEN), msg, len);

	for (size_t i = 0; i < KEY_SIG_LEN; i += 8) {
		uint64_t w = mix(h + i);

		memcpy(sig + i, &w, 8);
	}
}

static int
tc_sign(void *ctx, enum key_sig_domain d, const uint8_t *msg, size_t len,
        uint8_t sig[KEY_SIG_LEN])
{
	struct testcrypto_ctx *c = ctx;

	fake_sig(c->pk, d, msg, len, sig);
	return 0;
}

static int
tc_verify(void *ctx, const uint8_t pk[KEY_PK_LEN], enum key_sig_domain d,
          const uint8_t *msg, size_t len, const uint8_t sig[KEY_SIG_LEN])
{
	uint8_t want[KEY_SIG_LEN];

	(void)ctx;
	fake_sig(pk, d, msg, len, want);
	return memcmp(want, sig, KEY_SIG_LEN) == 0 ? 0 : WEFT_EBADSIG;
}

static int
tc_cert_check(void *ctx, const uint8_t *p, size_t len, int64_t now_s,
              const struct cert_revocations *rev, const char *const *services,
              size_t n, struct gossip_ident *out)
{
	(void)ctx;
	(void)services;
	(void)n;
	if (len != TESTCRYPTO_CERT_LEN || memcmp(p, cert_magic, 4) != 0)
		return WEFT_EMALFORMED;
	memset(out, 0, sizeof(*out));
	memcpy(out->key_id, p + 4, KEY_ID_LEN);
	memcpy(out->sign_pk, p + 12, KEY_PK_LEN);
	memcpy(out->dh_pk, p + 12, KEY_PK_LEN);
	out->flags = p[44] ? GOSSIP_IDENT_OPERATOR : 0;
	memcpy(&out->not_before, p + 48, 8);
	memcpy(&out->not_after, p + 56, 8);
	if (now_s < out->not_before || now_s > out->not_after)
		return WEFT_EEXPIRED;
	if (rev && rev->is_revoked(rev->ctx, out->key_id))
		return WEFT_EREVOKED;
	return 0;
}

static int
tc_ca_key(void *ctx, const uint8_t id[KEY_ID_LEN], uint8_t pk[KEY_PK_LEN])
{
	struct testcrypto_ctx ca;

	(void)ctx;
	testcrypto_identity(&ca, 0);
	if (memcmp(ca.id, id, KEY_ID_LEN) != 0)
		return WEFT_ENOENT;
	memcpy(pk, ca.pk, KEY_PK_LEN);
	return 0;
}

static int
tc_revoke_check(void *ctx, const uint8_t *p, size_t len,
                uint8_t key_id[KEY_ID_LEN], int64_t *until)
{
	(void)ctx;
	if (len != 24 || memcmp(p, rev_magic, 4) != 0)
		return WEFT_EMALFORMED;
	memcpy(key_id, p + 4, KEY_ID_LEN);
	memcpy(until, p + 12, 8);
	return 0;
}

static int
tc_derive(void *ctx, const uint8_t peer[KEY_PK_LEN], struct seal_keys *out)
{
	(void)ctx;
	memset(out, 0, sizeof(*out));
	memcpy(out->tx, peer, 8);
	return 0;
}

static int
tc_seal(void *ctx, const struct seal_keys *k, const uint8_t sender[KEY_ID_LEN],
        const struct weft_rng *rng, const uint8_t *plain, size_t len,
        uint8_t *out, size_t cap, size_t *out_len)
{
	uint64_t h;

	(void)ctx;
	(void)k;
	(void)rng;
	if (cap < len + SEAL_OVERHEAD)
		return WEFT_ENOSPACE;
	out[0] = SEAL_VERSION;
	memcpy(out + 1, sender, KEY_ID_LEN);
	memset(out + 1 + KEY_ID_LEN, 0, SEAL_NONCE_LEN);
	memcpy(out + SEAL_HDR_LEN, plain, len);
	h = hash(7, out, SEAL_HDR_LEN + len);
	memcpy(out + SEAL_HDR_LEN + len, &h, 8);
	memcpy(out + SEAL_HDR_LEN + len + 8, &h, 8);
	*out_len = len + SEAL_OVERHEAD;
	return 0;
}

static int
tc_open(void *ctx, const struct seal_keys *k, const uint8_t *pkt, size_t len,
        uint8_t *out, size_t cap, size_t *out_len)
{
	uint64_t h, want;

	(void)ctx;
	(void)k;
	if (len < SEAL_OVERHEAD)
		return WEFT_ETRUNC;
	if (cap < len - SEAL_OVERHEAD)
		return WEFT_ENOSPACE;
	h = hash(7, pkt, len - SEAL_TAG_LEN);
	memcpy(&want, pkt + len - SEAL_TAG_LEN, 8);
	if (h != want)
		return WEFT_ECRYPTO;
	memcpy(&want, pkt + len - 8, 8);
	if (h != want)
		return WEFT_ECRYPTO;
	memcpy(out, pkt + SEAL_HDR_LEN, len - SEAL_OVERHEAD);
	*out_len = len - SEAL_OVERHEAD;
	return 0;
}

void
testcrypto_provider(struct gossip_crypto *out, struct testcrypto_ctx *ctx)
{
	memset(out, 0, sizeof(*out));
	out->sign = tc_sign;
	out->verify = tc_verify;
	out->cert_check = tc_cert_check;
	out->ca_key = tc_ca_key;
	out->revoke_check = tc_revoke_check;
	out->derive = tc_derive;
	out->seal = tc_seal;
	out->open = tc_open;
	out->ctx = ctx;
	out->name = "test-only (no security)";
}
