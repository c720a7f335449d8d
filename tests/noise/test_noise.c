/*
 * The Noise core beyond what the vectors cover: names, missing keys,
 * turn order, nonce exhaustion, rekey, psk mismatch, wiping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/err.h"
#include "crypto/noise.h"
#include "tests/unit/testutil.h"

static bool
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void
test_names(void **state)
{
	static const char *const good[] = {
		"Noise_NN_25519_ChaChaPoly_SHA256",
		"Noise_XX_25519_ChaChaPoly_BLAKE2b",
		"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b",
		"Noise_XXpsk0+psk3_25519_ChaChaPoly_SHA256",
		"Noise_NNpsk0+psk2_25519_ChaChaPoly_SHA256",
		"Noise_XX_25519_AESGCM_SHA256",
		"Noise_IKpsk2_25519_AESGCM_BLAKE2b",
	};
	static const char *const bad[] = {
		"Noise_KK_25519_ChaChaPoly_SHA256",
		"Noise_NNpsk3_25519_ChaChaPoly_SHA256", /* NN has 2 messages */
		"Noise_XXpsk4_25519_ChaChaPoly_SHA256",
		"Noise_XXpsk1+psk1_25519_ChaChaPoly_SHA256",
		"Noise_XXpsk1+_25519_ChaChaPoly_SHA256",
		"Noise_XXfallback_25519_ChaChaPoly_SHA256",
		"Noise_XX_448_ChaChaPoly_SHA256",
		"Noise_XX_25519_AESGCM256_SHA256",
		"Noise_XX_25519_AESGC_SHA256",
		"Noise_XX_25519_AESGCMChaChaPoly_SHA256",
		"Noise_XX_25519_ChaChaPoly_SHA512",
		"Noise_XX_25519_ChaChaPoly_SHA256_extra",
		"Noise_XX_25519_ChaChaPoly",
		"NoiseXX_25519_ChaChaPoly_SHA256",
		"",
	};
	struct noise_protocol p;
	char name[NOISE_NAME_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(noise_protocol_parse(good[i], &p), 0);
		assert_int_equal(noise_protocol_name(&p, name, sizeof(name)), 0);
		assert_string_equal(name, good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (noise_protocol_parse(bad[i], &p) != WEFT_EINVAL)
			fail_msg("accepted %s", bad[i]);
	assert_int_equal(noise_protocol_parse("Noise_IK_25519_ChaChaPoly_SHA256",
	    &p), 0);
	assert_int_equal(noise_protocol_messages(&p), 2);
	assert_true(noise_protocol_needs_remote_static(&p));
	assert_int_equal(noise_protocol_name(&p, name, 10), WEFT_ENOSPACE);
}

struct pair {
	struct test_rng_state rs;
	struct weft_rng rng;
	uint8_t si[32], sr[32], pr[32], psk[32];
	struct noise_handshake i, r;
};

static void
pair_init(struct pair *p, const char *proto, const uint8_t *resp_psk)
{
	struct noise_handshake_params pi = {0}, pr = {0};

	p->rng = test_rng(&p->rs, 3);
	p->rng.fill(p->rng.ctx, p->si, 32);
	p->rng.fill(p->rng.ctx, p->sr, 32);
	p->rng.fill(p->rng.ctx, p->psk, 32);
	assert_int_equal(noise_dh_public(p->pr, p->sr), 0);
	assert_int_equal(noise_protocol_parse(proto, &pi.protocol), 0);
	pr.protocol = pi.protocol;
	pi.initiator = true;
	pi.static_sk = p->si;
	pr.static_sk = p->sr;
	pi.remote_static = p->pr;
	pi.psk = p->psk;
	pr.psk = resp_psk ? resp_psk : p->psk;
	pi.rng = pr.rng = &p->rng;
	pi.prologue = pr.prologue = (const uint8_t *)"p";
	pi.prologue_len = pr.prologue_len = 1;
	assert_int_equal(noise_handshake_init(&p->i, &pi), 0);
	assert_int_equal(noise_handshake_init(&p->r, &pr), 0);
}

/* Runs the handshake; returns the first read error, or 0. */
static int
run(struct pair *p)
{
	uint8_t msg[256], pl[256];
	size_t n, pn;

	for (int k = 0; k < 3; k++) {
		struct noise_handshake *tx = k % 2 ? &p->r : &p->i;
		struct noise_handshake *rx = k % 2 ? &p->i : &p->r;
		int rc;

		if (noise_handshake_action(tx) != NOISE_ACTION_WRITE)
			break;
		assert_int_equal(noise_handshake_write(tx, (const uint8_t *)"hi",
		    2, msg, sizeof(msg), &n), 0);
		rc = noise_handshake_read(rx, msg, n, pl, sizeof(pl), &pn);
		if (rc)
			return rc;
		assert_int_equal(pn, 2);
		assert_memory_equal(pl, "hi", 2);
	}
	return 0;
}

static void
test_xx_and_split_wipes(void **state)
{
	struct pair p;
	struct noise_cipher it, ir, rt, rr;
	uint8_t ct[64], pt[64];
	size_t n, hl;

	(void)state;
	pair_init(&p, "Noise_XX_25519_ChaChaPoly_BLAKE2b", NULL);
	/* Out of turn. */
	assert_int_equal(noise_handshake_write(&p.r, NULL, 0, ct, sizeof(ct),
	    &n), WEFT_ESTATE);
	assert_int_equal(noise_handshake_split(&p.i, &it, &ir), WEFT_ESTATE);
	/* Too small an output buffer leaves the handshake usable. */
	assert_int_equal(noise_handshake_write(&p.i, NULL, 0, ct, 10, &n),
	    WEFT_ENOSPACE);
	assert_int_equal(noise_handshake_action(&p.i), NOISE_ACTION_WRITE);
	assert_int_equal(run(&p), 0);
	assert_int_equal(noise_handshake_action(&p.i), NOISE_ACTION_SPLIT);
	assert_memory_equal(noise_handshake_remote_static(&p.i), p.pr, 32);
	assert_int_equal(noise_handshake_split(&p.i, &it, &ir), 0);
	assert_int_equal(noise_handshake_split(&p.r, &rt, &rr), 0);
	assert_int_equal(noise_handshake_action(&p.i), NOISE_ACTION_DONE);
	/* Secrets are gone, the hash stays. */
	assert_true(all_zero(p.i.ss.ck, sizeof(p.i.ss.ck)));
	assert_true(all_zero(p.i.s_sk, 32));
	assert_true(all_zero(p.i.e_sk, 32));
	assert_true(all_zero(p.r.s_sk, 32));
	assert_false(all_zero(noise_handshake_hash(&p.i, &hl), 64));
	assert_int_equal(hl, 64);
	assert_memory_equal(noise_handshake_hash(&p.i, &hl),
	    noise_handshake_hash(&p.r, &hl), 64);

	assert_int_equal(noise_cipher_encrypt(&it, NULL, 0,
	    (const uint8_t *)"abc", 3, ct, sizeof(ct), &n), 0);
	assert_int_equal(n, 3 + NOISE_TAGLEN);
	assert_int_equal(noise_cipher_decrypt(&rr, NULL, 0, ct, n, pt,
	    sizeof(pt), &n), 0);
	assert_memory_equal(pt, "abc", 3);
	noise_cipher_wipe(&it);
	assert_true(all_zero(&it, sizeof(it)));
}

static void
test_missing_keys(void **state)
{
	struct noise_handshake hs;
	struct noise_handshake_params p = {0};
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 1);
	uint8_t k[32] = {1};

	(void)state;
	p.rng = &rng;
	assert_int_equal(noise_protocol_parse("Noise_XX_25519_ChaChaPoly_SHA256",
	    &p.protocol), 0);
	assert_int_equal(noise_handshake_init(&hs, &p), WEFT_EINVAL);
	assert_int_equal(noise_handshake_action(&hs), NOISE_ACTION_FAILED);
	p.static_sk = k;
	assert_int_equal(noise_handshake_init(&hs, &p), 0);
	assert_int_equal(noise_protocol_parse("Noise_IK_25519_ChaChaPoly_SHA256",
	    &p.protocol), 0);
	p.initiator = true;
	assert_int_equal(noise_handshake_init(&hs, &p), WEFT_EINVAL);
	p.remote_static = k;
	assert_int_equal(noise_handshake_init(&hs, &p), 0);
	assert_int_equal(noise_protocol_parse(
	    "Noise_IKpsk2_25519_ChaChaPoly_SHA256", &p.protocol), 0);
	assert_int_equal(noise_handshake_init(&hs, &p), WEFT_EINVAL);
	p.psk = k;
	assert_int_equal(noise_handshake_init(&hs, &p), 0);
	p.rng = NULL;
	assert_int_equal(noise_handshake_init(&hs, &p), WEFT_EINVAL);
}

static void
test_psk_mismatch_fails(void **state)
{
	struct pair p;
	uint8_t other[32] = {9};

	(void)state;
	pair_init(&p, "Noise_XXpsk3_25519_ChaChaPoly_SHA256", other);
	assert_int_equal(run(&p), WEFT_ECRYPTO);
	/* psk3 ends the initiator's last message: the responder fails. */
	assert_int_equal(noise_handshake_action(&p.r), NOISE_ACTION_FAILED);
	assert_true(all_zero(p.r.s_sk, 32));

	pair_init(&p, "Noise_NNpsk0_25519_ChaChaPoly_SHA256", other);
	assert_int_equal(run(&p), WEFT_ECRYPTO);

	pair_init(&p, "Noise_IKpsk1_25519_ChaChaPoly_BLAKE2b", NULL);
	assert_int_equal(run(&p), 0);
	assert_int_equal(noise_handshake_action(&p.r), NOISE_ACTION_SPLIT);
}

static void
test_truncated_handshake(void **state)
{
	struct pair p;
	uint8_t msg[256], pl[256];
	size_t n, pn;

	(void)state;
	pair_init(&p, "Noise_IK_25519_ChaChaPoly_SHA256", NULL);
	assert_int_equal(noise_handshake_write(&p.i, NULL, 0, msg, sizeof(msg),
	    &n), 0);
	assert_int_equal(n, 32 + 48 + 16);
	assert_int_equal(noise_handshake_read(&p.r, msg, n - 1, pl, sizeof(pl),
	    &pn), WEFT_ETRUNC);
	assert_int_equal(noise_handshake_action(&p.r), NOISE_ACTION_FAILED);
	/* A failed handshake stays failed. */
	assert_int_equal(noise_handshake_read(&p.r, msg, n, pl, sizeof(pl),
	    &pn), WEFT_ESTATE);
}

/* The cipher a test runs with: each CipherState test runs once per cipher;
 * AESGCM is skipped, and says so, on a CPU without AES-NI. */
static enum noise_cipher_id
cipher_of(void **state)
{
	enum noise_cipher_id id = (enum noise_cipher_id)(uintptr_t)*state;

	if (!noise_cipher_available(id)) {
		print_message("%s is not available on this CPU\n",
		    noise_cipher_name(id));
		skip();
	}
	return id;
}

static void
test_nonce_exhaustion(void **state)
{
	enum noise_cipher_id id = cipher_of(state);
	struct noise_cipher a, b;
	uint8_t k[32] = {5}, ct[32], pt[32];
	size_t n;

	assert_int_equal(noise_cipher_init(&a, id, k), 0);
	assert_int_equal(noise_cipher_init(&b, id, k), 0);
	a.n = b.n = UINT64_MAX - 1;
	assert_int_equal(noise_cipher_encrypt(&a, NULL, 0, (const uint8_t *)"z",
	    1, ct, sizeof(ct), &n), 0);
	assert_int_equal(noise_cipher_decrypt(&b, NULL, 0, ct, n, pt,
	    sizeof(pt), &n), 0);
	/* Never a wrap to 0. */
	assert_int_equal(a.n, UINT64_MAX);
	assert_int_equal(noise_cipher_encrypt(&a, NULL, 0, (const uint8_t *)"z",
	    1, ct, sizeof(ct), &n), WEFT_ENONCE);
	assert_int_equal(noise_cipher_decrypt(&b, NULL, 0, ct, 17, pt,
	    sizeof(pt), &n), WEFT_ENONCE);
	assert_int_equal(a.n, UINT64_MAX);
}

static void
test_rekey(void **state)
{
	enum noise_cipher_id id = cipher_of(state);
	struct noise_cipher a, b;
	uint8_t k[32] = {6}, old[32], ct[32], pt[32];
	size_t n;

	assert_int_equal(noise_cipher_init(&a, id, k), 0);
	assert_int_equal(noise_cipher_init(&b, id, k), 0);
	memcpy(old, a.k, 32);
	assert_int_equal(noise_cipher_rekey(&a), 0);
	assert_memory_not_equal(old, a.k, 32);
	/* Rekey keeps the nonce. */
	assert_int_equal(a.n, 0);
	assert_int_equal(noise_cipher_encrypt(&a, NULL, 0, (const uint8_t *)"r",
	    1, ct, sizeof(ct), &n), 0);
	{
		struct noise_cipher stale = b;

		assert_int_equal(noise_cipher_decrypt(&stale, NULL, 0, ct, n, pt,
		    sizeof(pt), &n), WEFT_ECRYPTO);
		/* A failed decryption does not move the nonce. */
		assert_int_equal(stale.n, 0);
	}
	assert_int_equal(noise_cipher_rekey(&b), 0);
	assert_int_equal(noise_cipher_decrypt(&b, NULL, 0, ct, 17, pt,
	    sizeof(pt), &n), 0);
	assert_int_equal(pt[0], 'r');
}

/* The two ciphers must not be interchangeable: the same key and nonce
 * under the other cipher does not authenticate. */
static void
test_ciphers_differ(void **state)
{
	struct noise_cipher a, b;
	uint8_t k[32] = {7}, ct[64], pt[64];
	size_t n, m;

	(void)state;
	if (!noise_cipher_available(NOISE_CIPHER_AESGCM))
		skip();
	assert_int_equal(noise_cipher_init(&a, NOISE_CIPHER_AESGCM, k), 0);
	assert_int_equal(noise_cipher_init(&b, NOISE_CIPHER_CHACHAPOLY, k), 0);
	assert_int_equal(noise_cipher_encrypt(&a, NULL, 0,
	    (const uint8_t *)"same key", 8, ct, sizeof(ct), &n), 0);
	assert_int_equal(noise_cipher_decrypt(&b, NULL, 0, ct, n, pt,
	    sizeof(pt), &m), WEFT_ECRYPTO);
	/* In place, as noise-peer decrypts. */
	assert_int_equal(noise_cipher_init(&b, NOISE_CIPHER_AESGCM, k), 0);
	assert_int_equal(noise_cipher_decrypt(&b, NULL, 0, ct, n, ct,
	    sizeof(ct), &m), 0);
	assert_memory_equal(ct, "same key", 8);
	assert_int_equal(noise_cipher_init(&b, (enum noise_cipher_id)9, k),
	    WEFT_EINVAL);
	assert_false(b.has_key);
}

static void
test_hmac_rfc4231(void **state)
{
	/* RFC 4231 test case 2, for the hand-built HMAC. */
	static const uint8_t want[32] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
		0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
		0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
	};
	uint8_t out[64];

	(void)state;
	noise_hmac(NOISE_HASH_SHA256, (const uint8_t *)"Jefe", 4,
	    (const uint8_t *)"what do ya want for nothing?", 28, out);
	assert_memory_equal(out, want, 32);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_xx_and_split_wipes),
		cmocka_unit_test(test_missing_keys),
		cmocka_unit_test(test_psk_mismatch_fails),
		cmocka_unit_test(test_truncated_handshake),
		cmocka_unit_test_prestate(test_nonce_exhaustion,
		    (void *)(uintptr_t)NOISE_CIPHER_CHACHAPOLY),
		cmocka_unit_test_prestate(test_nonce_exhaustion,
		    (void *)(uintptr_t)NOISE_CIPHER_AESGCM),
		cmocka_unit_test_prestate(test_rekey,
		    (void *)(uintptr_t)NOISE_CIPHER_CHACHAPOLY),
		cmocka_unit_test_prestate(test_rekey,
		    (void *)(uintptr_t)NOISE_CIPHER_AESGCM),
		cmocka_unit_test(test_ciphers_differ),
		cmocka_unit_test(test_hmac_rfc4231),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
