#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "crypto/armor.h"
#include "crypto/key.h"
#include "testutil.h"

static void
test_generate_deterministic(void **state)
{
	struct test_rng_state s1, s2;
	struct weft_rng r1 = test_rng(&s1, 7), r2 = test_rng(&s2, 7);
	struct key_pair a, b, c;

	(void)state;
	assert_int_equal(key_generate(&a, KEY_KIND_NODE, &r1), 0);
	assert_int_equal(key_generate(&b, KEY_KIND_NODE, &r2), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(key_generate(&c, KEY_KIND_NODE, &r1), 0);
	assert_memory_not_equal(a.sign_pk, c.sign_pk, KEY_PK_LEN);
	assert_memory_not_equal(a.dh_pk, c.dh_pk, KEY_PK_LEN);
	assert_int_equal(key_generate(&c, (enum key_kind)9, &r1), WEFT_EINVAL);
}

static void
test_key_id(void **state)
{
	struct key_pair k;
	char hex[KEY_ID_HEX_LEN + 1];
	uint8_t id[KEY_ID_LEN];

	(void)state;
	assert_int_equal(key_generate(&k, KEY_KIND_CA, &key_system_rng), 0);
	key_id_hex(hex, k.id);
	assert_int_equal(strlen(hex), KEY_ID_HEX_LEN);
	assert_int_equal(key_id_parse(id, hex), 0);
	assert_memory_equal(id, k.id, KEY_ID_LEN);
	assert_int_equal(key_id_parse(id, "abc"), WEFT_EMALFORMED);
	/* A CA has no Noise key. */
	assert_memory_equal(k.dh_pk, (uint8_t[KEY_PK_LEN]){0}, KEY_PK_LEN);
}

static void
test_sign_domains(void **state)
{
	struct key_pair k;
	uint8_t sig[KEY_SIG_LEN];
	const uint8_t msg[] = "hello";

	(void)state;
	assert_int_equal(key_generate(&k, KEY_KIND_NODE, &key_system_rng), 0);
	assert_int_equal(key_sign(&k, KEY_SIG_RECORD, msg, sizeof(msg), sig), 0);
	assert_int_equal(
		key_verify(k.sign_pk, KEY_SIG_RECORD, msg, sizeof(msg), sig), 0);
	/* The same bytes signed for one purpose are no use for another. */
	assert_int_equal(
		key_verify(k.sign_pk, KEY_SIG_OBJECT, msg, sizeof(msg), sig),
		WEFT_EBADSIG);
	assert_int_equal(
		key_verify(k.sign_pk, KEY_SIG_RECORD, msg, sizeof(msg) - 1, sig),
		WEFT_EBADSIG);
	sig[3] ^= 1;
	assert_int_equal(
		key_verify(k.sign_pk, KEY_SIG_RECORD, msg, sizeof(msg), sig),
		WEFT_EBADSIG);
}

static void
test_text_round_trip(void **state)
{
	struct key_pair k, back;
	char *text;
	size_t len;

	(void)state;
	for (int kind = KEY_KIND_CA; kind <= KEY_KIND_NODE; kind++) {
		assert_int_equal(key_generate(&k, (enum key_kind)kind,
		                              &key_system_rng), 0);
		assert_int_equal(key_encode_text(&k, &text, &len), 0);
		assert_non_null(strstr(text, "-----BEGIN WEFT PRIVATE KEY-----\n"));
		assert_non_null(strstr(text, "-----END WEFT PRIVATE KEY-----\n"));
		assert_int_equal(key_decode_text(text, len, &back), 0);
		assert_memory_equal(&k, &back, sizeof(k));
		key_text_free(text, len);
	}
}

static void
test_text_bad(void **state)
{
	struct key_pair k, out;
	char *text, *copy;
	size_t len;
	uint8_t *bin;
	size_t bin_len, pos = 0;

	(void)state;
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(key_decode_text("", 0, &out), WEFT_EMALFORMED);
	assert_int_equal(key_decode_text("garbage", 7, &out), WEFT_EMALFORMED);
	assert_int_equal(key_generate(&k, KEY_KIND_NODE, &key_system_rng), 0);
	assert_int_equal(key_encode_text(&k, &text, &len), 0);
	/* Missing END marker. */
	copy = strndup(text, len - 10);
	assert_int_not_equal(key_decode_text(copy, strlen(copy), &out), 0);
	free(copy);
	/* A certificate block is not a key. */
	assert_int_equal(armor_decode_next(text, len, &pos, "PRIVATE KEY", &bin,
	                                   &bin_len), 0);
	{
		char *armored;
		size_t alen;

		assert_int_equal(armor_encode("CERTIFICATE", bin, bin_len,
		                              &armored, &alen), 0);
		assert_int_equal(key_decode_text(armored, alen, &out),
		                 WEFT_EMALFORMED);
		free(armored);
		/* Truncated body, re-armoured. */
		assert_int_equal(armor_encode("PRIVATE KEY", bin, bin_len - 3,
		                              &armored, &alen), 0);
		assert_int_not_equal(key_decode_text(armored, alen, &out), 0);
		free(armored);
		/* A future version is named as such. */
		assert_int_equal(bin[2], 1); /* map, key 1, version 1 */
		bin[2] = 2;
		assert_int_equal(armor_encode("PRIVATE KEY", bin, bin_len,
		                              &armored, &alen), 0);
		assert_int_equal(key_decode_text(armored, alen, &out),
		                 WEFT_EVERSION);
		free(armored);
	}
	/* Nothing was written to out by any failure. */
	{
		struct key_pair fill;

		memset(&fill, 0x5a, sizeof(fill));
		assert_memory_equal(&out, &fill, sizeof(out));
	}
	free(bin);
	key_text_free(text, len);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_deterministic),
		cmocka_unit_test(test_key_id),
		cmocka_unit_test(test_sign_domains),
		cmocka_unit_test(test_text_round_trip),
		cmocka_unit_test(test_text_bad),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
