/* Pairwise packet sealing (crypto/seal.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "crypto/seal.h"

static uint64_t rng_state;

static int
fill(void *ctx, void *out, size_t n)
{
	uint8_t *p = out;

	(void)ctx;
	for (size_t i = 0; i < n; i++) {
		rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(rng_state >> 56);
	}
	return 0;
}

static const struct weft_rng rng = { fill, NULL };

struct pair {
	struct key_pair a, b;
	struct seal_keys ab, ba; /* a's keys for b, b's keys for a */
};

static void
make_pair(struct pair *p)
{
	rng_state = 42;
	assert_int_equal(key_generate(&p->a, KEY_KIND_NODE, &rng), 0);
	assert_int_equal(key_generate(&p->b, KEY_KIND_NODE, &rng), 0);
	assert_int_equal(seal_derive(&p->ab, p->a.dh_pk, p->a.dh_sk, p->b.dh_pk), 0);
	assert_int_equal(seal_derive(&p->ba, p->b.dh_pk, p->b.dh_sk, p->a.dh_pk), 0);
}

static void
test_directions(void **state)
{
	struct pair p;

	(void)state;
	make_pair(&p);
	/* Each side's sending key is the other's receiving key, and the two
	 * directions never share a key. */
	assert_memory_equal(p.ab.tx, p.ba.rx, SEAL_KEY_LEN);
	assert_memory_equal(p.ab.rx, p.ba.tx, SEAL_KEY_LEN);
	assert_memory_not_equal(p.ab.tx, p.ab.rx, SEAL_KEY_LEN);
}

static void
test_roundtrip(void **state)
{
	struct pair p;
	const uint8_t msg[] = "ping 1";
	uint8_t pkt[128], out[128], id[KEY_ID_LEN];
	size_t len, olen;

	(void)state;
	make_pair(&p);
	assert_int_equal(seal_packet(&p.ab, p.a.id, &rng, msg, sizeof(msg), pkt,
	                             sizeof(pkt), &len), 0);
	assert_int_equal(len, sizeof(msg) + SEAL_OVERHEAD);
	assert_int_equal(seal_peek_sender(pkt, len, id), 0);
	assert_memory_equal(id, p.a.id, KEY_ID_LEN);
	assert_int_equal(seal_open(&p.ba, pkt, len, out, sizeof(out), &olen), 0);
	assert_int_equal(olen, sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	/* The plaintext is not in the packet. */
	assert_null(memmem(pkt, len, msg, sizeof(msg) - 1));
}

static void
test_empty_and_nonce(void **state)
{
	struct pair p;
	uint8_t p1[64], p2[64], out[8];
	size_t l1, l2, olen;

	(void)state;
	make_pair(&p);
	assert_int_equal(seal_packet(&p.ab, p.a.id, &rng, NULL, 0, p1, sizeof(p1),
	                             &l1), 0);
	assert_int_equal(seal_packet(&p.ab, p.a.id, &rng, NULL, 0, p2, sizeof(p2),
	                             &l2), 0);
	assert_int_equal(l1, SEAL_OVERHEAD);
	/* Fresh random nonce each time. */
	assert_memory_not_equal(p1 + 1 + KEY_ID_LEN, p2 + 1 + KEY_ID_LEN,
	                        SEAL_NONCE_LEN);
	assert_int_equal(seal_open(&p.ba, p1, l1, out, sizeof(out), &olen), 0);
	assert_int_equal(olen, 0);
}

static void
test_tamper(void **state)
{
	struct pair p;
	const uint8_t msg[] = "alive record";
	uint8_t pkt[128], out[128];
	size_t len, olen;

	(void)state;
	make_pair(&p);
	assert_int_equal(seal_packet(&p.ab, p.a.id, &rng, msg, sizeof(msg), pkt,
	                             sizeof(pkt), &len), 0);
	/* Every byte matters: header (associated data), nonce, body, tag. */
	for (size_t i = 1; i < len; i++) {
		pkt[i] ^= 0x01;
		assert_int_equal(seal_open(&p.ba, pkt, len, out, sizeof(out), &olen),
		                 WEFT_ECRYPTO);
		pkt[i] ^= 0x01;
	}
	/* The wrong direction's key does not open it either. */
	assert_int_equal(seal_open(&p.ab, pkt, len, out, sizeof(out), &olen),
	                 WEFT_ECRYPTO);
	assert_int_equal(seal_open(&p.ba, pkt, len, out, sizeof(out), &olen), 0);
}

static void
test_third_party(void **state)
{
	struct pair p;
	struct key_pair c;
	struct seal_keys cb, bc;
	const uint8_t msg[] = "x";
	uint8_t pkt[64], out[64];
	size_t len, olen;

	(void)state;
	make_pair(&p);
	assert_int_equal(key_generate(&c, KEY_KIND_NODE, &rng), 0);
	assert_int_equal(seal_derive(&cb, c.dh_pk, c.dh_sk, p.b.dh_pk), 0);
	assert_int_equal(seal_derive(&bc, p.b.dh_pk, p.b.dh_sk, c.dh_pk), 0);
	/* c claims to be a: b, using its keys for a, refuses the packet. */
	assert_int_equal(seal_packet(&cb, p.a.id, &rng, msg, sizeof(msg), pkt,
	                             sizeof(pkt), &len), 0);
	assert_int_equal(seal_open(&p.ba, pkt, len, out, sizeof(out), &olen),
	                 WEFT_ECRYPTO);
	assert_memory_not_equal(cb.tx, p.ab.tx, SEAL_KEY_LEN);
	key_wipe(&c);
}

static void
test_bad_input(void **state)
{
	struct pair p;
	uint8_t pkt[64] = {0}, out[64], id[KEY_ID_LEN];
	size_t len, olen;
	struct seal_keys k;

	(void)state;
	make_pair(&p);
	assert_int_equal(seal_derive(&k, p.a.dh_pk, p.a.dh_sk, p.a.dh_pk),
	                 WEFT_EINVAL);
	assert_int_equal(seal_peek_sender(pkt, SEAL_OVERHEAD - 1, id), WEFT_ETRUNC);
	assert_int_equal(seal_open(&p.ba, pkt, SEAL_OVERHEAD - 1, out, sizeof(out),
	                           &olen), WEFT_ETRUNC);
	pkt[0] = SEAL_VERSION + 1;
	assert_int_equal(seal_peek_sender(pkt, sizeof(pkt), id), WEFT_EVERSION);
	assert_int_equal(seal_open(&p.ba, pkt, sizeof(pkt), out, sizeof(out), &olen),
	                 WEFT_EVERSION);
	assert_int_equal(seal_packet(&p.ab, p.a.id, &rng, pkt, 20, out,
	                             20 + SEAL_OVERHEAD - 1, &len), WEFT_ENOSPACE);
	/* A low-order peer key gives no shared secret. */
	{
		uint8_t zero[KEY_PK_LEN] = {0};

		assert_int_equal(seal_derive(&k, p.a.dh_pk, p.a.dh_sk, zero),
		                 WEFT_ECRYPTO);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_directions),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_empty_and_nonce),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_third_party),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
