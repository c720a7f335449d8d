#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "common/err.h"
#include "crypto/armor.h"
#include "crypto/bundle.h"
#include "crypto/cert.h"
#include "testutil.h"

struct fixture {
	struct test_rng_state rs;
	struct weft_rng rng;
	struct key_pair ca, ca2, node;
	struct cert ca_cert, ca2_cert, node_cert;
	struct bundle bundle; /* ca only */
};

static const char *const svcs[] = {"web", "api"};
static const char *const grps[] = {"prod"};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct cert tmp;

	f->rng = test_rng(&f->rs, 42);
	if (key_generate(&f->ca, KEY_KIND_CA, &f->rng) ||
	    key_generate(&f->ca2, KEY_KIND_CA, &f->rng) ||
	    key_generate(&f->node, KEY_KIND_NODE, &f->rng))
		return -1;
	test_issue(&f->ca_cert, &f->ca, &f->ca, "root", NULL, 0, NULL, 0,
	           T_NOW - 10 * T_DAY, T_NOW + 3650 * T_DAY);
	test_issue(&f->ca2_cert, &f->ca2, &f->ca2, "root2", NULL, 0, NULL, 0,
	           T_NOW - 10 * T_DAY, T_NOW + 3650 * T_DAY);
	test_issue(&f->node_cert, &f->node, &f->ca, "web-1", svcs, 2, grps, 1,
	           T_NOW - T_DAY, T_NOW + 365 * T_DAY);
	test_issue(&tmp, &f->ca, &f->ca, "root", NULL, 0, NULL, 0,
	           T_NOW - 10 * T_DAY, T_NOW + 3650 * T_DAY);
	if (bundle_add(&f->bundle, &tmp) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	cert_free(&f->ca_cert);
	cert_free(&f->ca2_cert);
	cert_free(&f->node_cert);
	bundle_free(&f->bundle);
	free(f);
	return 0;
}

static void
test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct cert *c = &f->node_cert, back;

	assert_false(c->is_ca);
	assert_string_equal(c->name, "web-1");
	assert_int_equal(c->n_services, 2);
	/* Lists are kept sorted: one certificate, one encoding. */
	assert_string_equal(c->services[0], "api");
	assert_string_equal(c->services[1], "web");
	assert_int_equal(c->n_groups, 1);
	assert_string_equal(c->groups[0], "prod");
	assert_memory_equal(c->sign_pk, f->node.sign_pk, KEY_PK_LEN);
	assert_memory_equal(c->dh_pk, f->node.dh_pk, KEY_PK_LEN);
	assert_memory_equal(c->key_id, f->node.id, KEY_ID_LEN);
	assert_memory_equal(c->issuer, f->ca.id, KEY_ID_LEN);
	assert_int_equal(c->not_before, T_NOW - T_DAY);
	assert_int_equal(c->not_after, T_NOW + 365 * T_DAY);
	assert_true(cert_allows_service(c, "web"));
	assert_false(cert_allows_service(c, "db"));
	assert_true(cert_has_group(c, "prod"));
	assert_false(cert_has_group(c, "operator"));
	assert_int_equal(cert_decode(c->encoded, c->encoded_len, &back), 0);
	assert_int_equal(back.encoded_len, c->encoded_len);
	assert_memory_equal(back.encoded, c->encoded, c->encoded_len);
	cert_free(&back);
}

static void
test_verify_ok(void **state)
{
	struct fixture *f = *state;
	struct cert_verdict v;

	assert_int_equal(cert_verify(&f->node_cert, &f->bundle, T_NOW, 0, NULL,
	                             &v), 0);
	assert_int_equal(v.reason, CERT_VALID);
	assert_int_equal(cert_verify_ca(&f->ca_cert, T_NOW, 0, &v), 0);
}

/* Flipping any one byte must make the certificate fail: either it no
 * longer decodes, or it no longer verifies. */
static void
test_every_byte_flip_fails(void **state)
{
	struct fixture *f = *state;
	const struct cert *c = &f->node_cert;
	uint8_t *copy = malloc(c->encoded_len);

	for (size_t i = 0; i < c->encoded_len; i++) {
		static const uint8_t masks[] = {0x01, 0x80, 0xff};

		for (size_t m = 0; m < sizeof(masks); m++) {
			struct cert bad;
			struct cert_verdict v;

			memcpy(copy, c->encoded, c->encoded_len);
			copy[i] ^= masks[m];
			if (cert_decode(copy, c->encoded_len, &bad) != 0)
				continue;
			assert_int_not_equal(cert_verify(&bad, &f->bundle, T_NOW, 0,
			                                 NULL, &v), 0);
			assert_int_not_equal(v.reason, CERT_VALID);
			cert_free(&bad);
		}
	}
	free(copy);
}

static void
expect_verdict(const struct cert *c, const struct bundle *b, int64_t now,
               int64_t skew, int err, enum cert_reason reason,
               const char *text)
{
	struct cert_verdict v;
	char s[160];

	assert_int_equal(cert_verify(c, b, now, skew, NULL, &v), err);
	assert_int_equal(v.reason, reason);
	cert_verdict_format(&v, s, sizeof(s));
	if (text)
		assert_string_equal(s, text);
}

static void
test_wrong_ca(void **state)
{
	struct fixture *f = *state;
	struct bundle other = {0};
	struct cert c2;
	char want[80], id[KEY_ID_HEX_LEN + 1];

	test_issue(&c2, &f->ca2, &f->ca2, "root2", NULL, 0, NULL, 0,
	           T_NOW - T_DAY, T_NOW + T_DAY);
	assert_int_equal(bundle_add(&other, &c2), 0);
	key_id_hex(id, f->ca.id);
	snprintf(want, sizeof(want), "signed by unknown CA %s", id);
	expect_verdict(&f->node_cert, &other, T_NOW, 0, WEFT_EUNTRUSTED,
	               CERT_UNKNOWN_ISSUER, want);
	bundle_free(&other);
}

static void
test_windows(void **state)
{
	struct fixture *f = *state;
	struct cert_verdict v;

	expect_verdict(&f->node_cert, &f->bundle, T_NOW + 368 * T_DAY, 0,
	               WEFT_EEXPIRED, CERT_EXPIRED, "expired 3 days ago");
	expect_verdict(&f->node_cert, &f->bundle, T_NOW - 2 * T_DAY - 5, 0,
	               WEFT_ENOTYET, CERT_NOT_YET_VALID,
	               "not valid for another 1 day");
	/* The skew allowance widens the window on both ends. */
	expect_verdict(&f->node_cert, &f->bundle, T_NOW + 365 * T_DAY + 30, 60,
	               0, CERT_VALID, "valid");
	expect_verdict(&f->node_cert, &f->bundle, T_NOW - T_DAY - 30, 60, 0,
	               CERT_VALID, NULL);
	expect_verdict(&f->node_cert, &f->bundle, T_NOW + 365 * T_DAY + 90, 60,
	               WEFT_EEXPIRED, CERT_EXPIRED, "expired 1 minute ago");
	/* A CA past its window takes its certificates with it. */
	{
		struct bundle b = {0};
		struct cert ca;

		test_issue(&ca, &f->ca, &f->ca, "root", NULL, 0, NULL, 0,
		           T_NOW - 10 * T_DAY, T_NOW - 2 * T_DAY);
		assert_int_equal(bundle_add(&b, &ca), 0);
		assert_int_equal(cert_verify(&f->node_cert, &b, T_NOW, 0, NULL, &v),
		                 WEFT_EEXPIRED);
		assert_int_equal(v.reason, CERT_ISSUER_EXPIRED);
		bundle_free(&b);
	}
}

static void
test_ca_and_node_roles(void **state)
{
	struct fixture *f = *state;
	struct cert_verdict v;
	struct bundle b = {0};
	struct cert node;

	/* A CA certificate offered as a node's. */
	expect_verdict(&f->ca_cert, &f->bundle, T_NOW, 0, WEFT_EPOLICY,
	               CERT_NODE_IS_CA, NULL);
	/* A node certificate offered as a CA's. */
	assert_int_equal(cert_verify_ca(&f->node_cert, T_NOW, 0, &v),
	                 WEFT_EPOLICY);
	assert_int_equal(v.reason, CERT_NOT_CA);
	assert_int_equal(cert_decode(f->node_cert.encoded,
	                             f->node_cert.encoded_len, &node), 0);
	assert_int_equal(bundle_add(&b, &node), WEFT_EPOLICY);
	cert_free(&node);
	/* cert_issue refuses the mix-ups up front. */
	{
		struct cert_params p = {.is_ca = true, .name = "x",
		                        .not_before = 1, .not_after = 2};
		uint8_t *out;
		size_t len;

		assert_int_equal(cert_issue(&p, &f->node, &f->ca, &out, &len),
		                 WEFT_EINVAL);
		p.is_ca = false;
		assert_int_equal(cert_issue(&p, &f->node, &f->node, &out, &len),
		                 WEFT_EINVAL);
	}
}

static bool
revoked_node(void *ctx, const uint8_t id[KEY_ID_LEN])
{
	return memcmp(ctx, id, KEY_ID_LEN) == 0;
}

static void
test_revoked(void **state)
{
	struct fixture *f = *state;
	struct cert_revocations r = {revoked_node, f->node.id};
	struct cert_verdict v;

	assert_int_equal(cert_verify(&f->node_cert, &f->bundle, T_NOW, 0, &r,
	                             &v), WEFT_EREVOKED);
	assert_int_equal(v.reason, CERT_REVOKED);
}

static void
test_bundle_two_cas(void **state)
{
	struct fixture *f = *state;
	struct cert n2;
	struct bundle b;
	struct cert_verdict v;
	char *t1, *t2, *both;
	size_t l1, l2;
	size_t bad;

	test_issue(&n2, &f->node, &f->ca2, "web-2", NULL, 0, NULL, 0,
	           T_NOW - T_DAY, T_NOW + T_DAY);
	assert_int_equal(armor_encode(CERT_ARMOR_LABEL, f->ca_cert.encoded,
	                              f->ca_cert.encoded_len, &t1, &l1), 0);
	assert_int_equal(armor_encode(CERT_ARMOR_LABEL, f->ca2_cert.encoded,
	                              f->ca2_cert.encoded_len, &t2, &l2), 0);
	both = malloc(l1 + l2 + 32);
	snprintf(both, l1 + l2 + 32, "# two CAs\n%s\n%s", t1, t2);
	assert_int_equal(bundle_parse(&b, both, strlen(both), &bad), 0);
	assert_int_equal(b.n, 2);
	assert_int_equal(cert_verify(&f->node_cert, &b, T_NOW, 0, NULL, &v), 0);
	assert_int_equal(cert_verify(&n2, &b, T_NOW, 0, NULL, &v), 0);
	bundle_free(&b);
	/* The same CA twice is a mistake worth naming. */
	snprintf(both, l1 + l2 + 32, "%s%s", t1, t1);
	assert_int_equal(bundle_parse(&b, both, strlen(both), &bad), WEFT_EEXIST);
	assert_int_equal(bad, 1);
	assert_int_equal(bundle_parse(&b, "nothing", 7, &bad), WEFT_ENOENT);
	free(both);
	free(t1);
	free(t2);
	cert_free(&n2);
}

static void
test_truncated_and_trailing(void **state)
{
	struct fixture *f = *state;
	const struct cert *c = &f->node_cert;
	uint8_t *longer = malloc(c->encoded_len + 1);
	struct cert out;
	const char *why = NULL;

	for (size_t i = 0; i < c->encoded_len; i++)
		assert_int_not_equal(cert_decode(c->encoded, i, &out), 0);
	assert_int_equal(cert_decode_ex(c->encoded, 5, &out, &why), WEFT_ETRUNC);
	assert_string_equal(why, "truncated");
	memcpy(longer, c->encoded, c->encoded_len);
	longer[c->encoded_len] = 0;
	assert_int_equal(cert_decode_ex(longer, c->encoded_len + 1, &out, &why),
	                 WEFT_EMALFORMED);
	assert_string_equal(why, "trailing bytes after the signature");
	free(longer);
}

static void
put_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

static void
put_bin(msgpack_packer *pk, const uint8_t *p, size_t n)
{
	msgpack_pack_bin(pk, n);
	msgpack_pack_bin_body(pk, p, n);
}

/* Builds a signed certificate from a hand-made body, so that the decoder's
 * checks are reached past the envelope and signature. */
typedef void (*body_fn)(msgpack_packer *pk, const struct fixture *f);

static int
decode_crafted(const struct fixture *f, body_fn fn, const char **why)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint8_t sig[KEY_SIG_LEN], *enc;
	size_t len;
	struct cert out;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	fn(&pk, f);
	key_sign(&f->ca, KEY_SIG_CERT, (uint8_t *)sb.data, sb.size, sig);
	{
		msgpack_sbuffer env;
		msgpack_packer epk;

		msgpack_sbuffer_init(&env);
		msgpack_packer_init(&epk, &env, msgpack_sbuffer_write);
		msgpack_pack_array(&epk, 2);
		put_bin(&epk, (const uint8_t *)sb.data, sb.size);
		put_bin(&epk, sig, KEY_SIG_LEN);
		enc = (uint8_t *)env.data;
		len = env.size;
	}
	*why = NULL;
	rc = cert_decode_ex(enc, len, &out, why);
	if (rc == 0)
		cert_free(&out);
	free(enc);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* A well-formed node body with one field overridden by the caller. */
struct variant {
	uint64_t version;
	const char *name;
	unsigned n_services;
	bool dup_field;
	bool unknown_field;
	bool drop_issuer;
	bool unsorted;
	int64_t not_after;
};

static struct variant cur;

static void
variant_body(msgpack_packer *pk, const struct fixture *f)
{
	unsigned n = 10 - cur.drop_issuer + cur.dup_field + cur.unknown_field;
	char svc[16];

	msgpack_pack_map(pk, n);
	msgpack_pack_uint8(pk, 1);
	msgpack_pack_uint64(pk, cur.version);
	msgpack_pack_uint8(pk, 2);
	msgpack_pack_false(pk);
	msgpack_pack_uint8(pk, 3);
	put_str(pk, cur.name);
	if (cur.dup_field) {
		msgpack_pack_uint8(pk, 3);
		put_str(pk, cur.name);
	}
	msgpack_pack_uint8(pk, 4);
	msgpack_pack_array(pk, cur.n_services);
	for (unsigned i = 0; i < cur.n_services; i++) {
		snprintf(svc, sizeof(svc), "s%03u", cur.unsorted ? 99 - i : i);
		put_str(pk, svc);
	}
	msgpack_pack_uint8(pk, 5);
	msgpack_pack_array(pk, 0);
	msgpack_pack_uint8(pk, 6);
	put_bin(pk, f->node.sign_pk, KEY_PK_LEN);
	msgpack_pack_uint8(pk, 7);
	put_bin(pk, f->node.dh_pk, KEY_PK_LEN);
	msgpack_pack_uint8(pk, 8);
	msgpack_pack_int64(pk, T_NOW);
	msgpack_pack_uint8(pk, 9);
	msgpack_pack_int64(pk, cur.not_after);
	if (!cur.drop_issuer) {
		msgpack_pack_uint8(pk, 10);
		put_bin(pk, f->ca.id, KEY_ID_LEN);
	}
	if (cur.unknown_field) {
		msgpack_pack_uint8(pk, 11);
		msgpack_pack_nil(pk);
	}
}

static void
reset_variant(void)
{
	cur = (struct variant){.version = 1, .name = "web-1", .n_services = 2,
	                       .not_after = T_NOW + T_DAY};
}

static void
test_crafted_bodies(void **state)
{
	struct fixture *f = *state;
	const char *why;
	char longname[80];

	reset_variant();
	assert_int_equal(decode_crafted(f, variant_body, &why), 0);

	cur.version = 2;
	assert_int_equal(decode_crafted(f, variant_body, &why), WEFT_EVERSION);
	assert_string_equal(why, "unsupported certificate version");

	reset_variant();
	memset(longname, 'a', 64);
	longname[64] = '\0';
	cur.name = longname;
	assert_int_equal(decode_crafted(f, variant_body, &why), WEFT_ETOOBIG);
	assert_string_equal(why, "name longer than 63 bytes");

	reset_variant();
	cur.name = "Web_1";
	assert_int_equal(decode_crafted(f, variant_body, &why), WEFT_EMALFORMED);
	assert_string_equal(why, "name is not a DNS label");

	reset_variant();
	cur.n_services = 65;
	assert_int_equal(decode_crafted(f, variant_body, &why), WEFT_ETOOBIG);
	assert_string_equal(why, "services: not a list of at most 64 DNS labels");

	reset_variant();
	cur.dup_field = true;
	assert_int_equal(decode_crafted(f, variant_body, &why), WEFT_EMALFORMED);
	assert_string_equal(why, "duplicate field");

	reset_variant();
	cur.unknown_field = true;
	assert_int_equal(decode_crafted(f, variant_body, &why), WEFT_EMALFORMED);
	assert_string_equal(why, "unknown field");

	reset_variant();
	cur.drop_issuer = true;
	assert_int_equal(decode_crafted(f, variant_body, &why), WEFT_EMALFORMED);
	assert_string_equal(why, "a required field is missing");

	reset_variant();
	cur.unsorted = true;
	assert_int_equal(decode_crafted(f, variant_body, &why), WEFT_EMALFORMED);
	assert_string_equal(why, "not in canonical form");

	reset_variant();
	cur.not_after = T_NOW - 1;
	assert_int_equal(decode_crafted(f, variant_body, &why), WEFT_EMALFORMED);
	assert_string_equal(why, "validity window ends before it starts");
}

static void
test_issue_limits(void **state)
{
	struct fixture *f = *state;
	const char *many[CERT_MAX_SERVICES + 1];
	char names[CERT_MAX_SERVICES + 1][8];
	struct cert_params p = {.name = "n", .not_before = T_NOW,
	                        .not_after = T_NOW + 1};
	uint8_t *out;
	size_t len;

	for (int i = 0; i <= CERT_MAX_SERVICES; i++) {
		snprintf(names[i], sizeof(names[i]), "s%d", i);
		many[i] = names[i];
	}
	p.services = many;
	p.n_services = CERT_MAX_SERVICES;
	assert_int_equal(cert_issue(&p, &f->node, &f->ca, &out, &len), 0);
	free(out);
	p.n_services = CERT_MAX_SERVICES + 1;
	assert_int_equal(cert_issue(&p, &f->node, &f->ca, &out, &len),
	                 WEFT_ETOOBIG);
	p.n_services = 2;
	many[1] = many[0];
	assert_int_equal(cert_issue(&p, &f->node, &f->ca, &out, &len),
	                 WEFT_EINVAL);
	p.n_services = 0;
	p.name = "-bad";
	assert_int_equal(cert_issue(&p, &f->node, &f->ca, &out, &len),
	                 WEFT_EINVAL);
	assert_false(cert_name_valid(""));
	assert_false(cert_name_valid("a.b"));
	assert_false(cert_name_valid("UPPER"));
	assert_true(cert_name_valid("a-1"));
}

static void
test_durations(void **state)
{
	char s[32];

	(void)state;
	cert_duration_format(3 * T_DAY + 5, s, sizeof(s));
	assert_string_equal(s, "3 days");
	cert_duration_format(-3600, s, sizeof(s));
	assert_string_equal(s, "1 hour");
	cert_duration_format(2 * 365 * T_DAY, s, sizeof(s));
	assert_string_equal(s, "2 years");
	cert_duration_format(0, s, sizeof(s));
	assert_string_equal(s, "0 seconds");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_verify_ok),
		cmocka_unit_test(test_every_byte_flip_fails),
		cmocka_unit_test(test_wrong_ca),
		cmocka_unit_test(test_windows),
		cmocka_unit_test(test_ca_and_node_roles),
		cmocka_unit_test(test_revoked),
		cmocka_unit_test(test_bundle_two_cas),
		cmocka_unit_test(test_truncated_and_trailing),
		cmocka_unit_test(test_crafted_bodies),
		cmocka_unit_test(test_issue_limits),
		cmocka_unit_test(test_durations),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
