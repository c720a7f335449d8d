#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "crypto/revoke.h"
#include "testutil.h"

static void
test_revoke_round_trip_and_verify(void **state)
{
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 3);
	struct key_pair ca, ca2, node;
	struct cert cac;
	struct bundle b = {0}, b2 = {0};
	struct revoke r;
	uint8_t *enc;
	size_t len;

	(void)state;
	assert_int_equal(key_generate(&ca, KEY_KIND_CA, &rng), 0);
	assert_int_equal(key_generate(&ca2, KEY_KIND_CA, &rng), 0);
	assert_int_equal(key_generate(&node, KEY_KIND_NODE, &rng), 0);
	test_issue(&cac, &ca, &ca, "root", NULL, 0, NULL, 0, T_NOW - T_DAY,
	           T_NOW + T_DAY);
	assert_int_equal(bundle_add(&b, &cac), 0);
	test_issue(&cac, &ca2, &ca2, "root2", NULL, 0, NULL, 0, T_NOW - T_DAY,
	           T_NOW + T_DAY);
	assert_int_equal(bundle_add(&b2, &cac), 0);

	assert_int_equal(revoke_create(node.id, T_NOW, T_NOW + T_DAY,
	                               "key leaked", &ca, &enc, &len), 0);
	assert_int_equal(revoke_decode(enc, len, &r), 0);
	assert_memory_equal(r.key_id, node.id, KEY_ID_LEN);
	assert_memory_equal(r.issuer, ca.id, KEY_ID_LEN);
	assert_int_equal(r.revoked_at, T_NOW);
	assert_int_equal(r.until, T_NOW + T_DAY);
	assert_string_equal(r.reason, "key leaked");
	assert_int_equal(revoke_verify(&r, &b), 0);
	/* Another cluster's CA does not vouch for it. */
	assert_int_equal(revoke_verify(&r, &b2), WEFT_EUNTRUSTED);

	/* Any flipped byte: no longer decodes, or no longer verifies. */
	for (size_t i = 0; i < len; i++) {
		struct revoke bad;

		enc[i] ^= 0x01;
		if (revoke_decode(enc, len, &bad) == 0)
			assert_int_not_equal(revoke_verify(&bad, &b), 0);
		enc[i] ^= 0x01;
	}
	for (size_t i = 0; i < len; i++)
		assert_int_not_equal(revoke_decode(enc, i, &r), 0);
	free(enc);

	/* A node cannot revoke anyone; reasons are bounded. */
	assert_int_equal(revoke_create(node.id, T_NOW, T_NOW + 1, "", &node,
	                               &enc, &len), WEFT_EINVAL);
	{
		char lng[REVOKE_REASON_MAX + 2];

		memset(lng, 'x', sizeof(lng) - 1);
		lng[sizeof(lng) - 1] = '\0';
		assert_int_equal(revoke_create(node.id, T_NOW, T_NOW + 1, lng, &ca,
		                               &enc, &len), WEFT_EINVAL);
	}
	assert_int_equal(revoke_create(node.id, T_NOW, T_NOW - 1, "", &ca, &enc,
	                               &len), WEFT_EINVAL);
	bundle_free(&b);
	bundle_free(&b2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_revoke_round_trip_and_verify),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
