/*
 * Gossip wire decoders on bad input: each refusal names its reason, and
 * a refused packet changes nothing in the state that received it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "gossip/wire.h"
#include "simnet.h"

static const uint8_t id_a[KEY_ID_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t id_b[KEY_ID_LEN] = { 9, 9, 9, 9, 9, 9, 9, 9 };

static void
expect_refused(const uint8_t *p, size_t len, const char *what)
{
	struct wire_msg m[WIRE_MAX_MSGS];
	size_t n = 99, skipped;
	const char *why = NULL;
	int rc = wire_decode_packet(p, len, m, &n, &skipped, &why);

	if (rc == 0)
		fail_msg("accepted %s", what);
	assert_true(rc < 0);
	assert_non_null(why);
	assert_int_equal(n, 0);
}

/* A compound of a ping, a suspect claim and an ack. */
static size_t
make_compound(uint8_t *out, size_t cap)
{
	uint8_t body[256];
	struct buf b, o;
	msgpack_packer pk;

	buf_init(&b, body, sizeof(body));
	wire_put_ping(&b, WIRE_PING, 7, id_a, NULL);
	wire_put_claim(&b, WIRE_SUSPECT, id_b, 3, id_a);
	wire_put_ack(&b, WIRE_ACK, 9);
	assert_int_equal(b.err, 0);
	buf_init(&o, out, cap);
	wire_packer_init(&pk, &o);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, WIRE_COMPOUND);
	msgpack_pack_array(&pk, 3);
	buf_put(&o, body, b.len);
	assert_int_equal(o.err, 0);
	return o.len;
}

static void
test_valid_compound(void **state)
{
	uint8_t p[512];
	size_t len = make_compound(p, sizeof(p)), n, skipped;
	struct wire_msg m[WIRE_MAX_MSGS];
	const char *why = NULL;

	(void)state;
	assert_int_equal(wire_decode_packet(p, len, m, &n, &skipped, &why), 0);
	assert_int_equal(n, 3);
	assert_int_equal(m[0].type, WIRE_PING);
	assert_int_equal(m[0].seq, 7);
	assert_memory_equal(m[0].id, id_a, KEY_ID_LEN);
	assert_int_equal(m[1].type, WIRE_SUSPECT);
	assert_int_equal(m[1].inc, 3);
	assert_memory_equal(m[1].id, id_b, KEY_ID_LEN);
	assert_memory_equal(m[1].from, id_a, KEY_ID_LEN);
	assert_int_equal(m[2].type, WIRE_ACK);
	assert_int_equal(m[2].seq, 9);
}

static void
test_truncated_and_trailing(void **state)
{
	uint8_t p[512];
	size_t len = make_compound(p, sizeof(p));

	(void)state;
	for (size_t i = 0; i < len; i++)
		expect_refused(p, i, "a truncated packet");
	p[len] = 0xc0;
	expect_refused(p, len + 1, "trailing bytes");
}

static void
test_wrong_fields(void **state)
{
	/* [1, "x", bin8] : seq is a string */
	static const uint8_t seq_str[] = { 0x93, 0x01, 0xa1, 'x', 0xc4, 0x08,
	                                   1, 2, 3, 4, 5, 6, 7, 8 };
	/* [1, 5, bin7] : key id of the wrong length */
	static const uint8_t short_id[] = { 0x93, 0x01, 0x05, 0xc4, 0x07,
	                                    1, 2, 3, 4, 5, 6, 7 };
	/* [3, 2^32] : seq too large */
	static const uint8_t big_seq[] = { 0x92, 0x03, 0xcf, 0, 0, 0, 1,
	                                   0, 0, 0, 0 };
	/* [6, bin0, nil] : empty record */
	static const uint8_t empty_rec[] = { 0x93, 0x06, 0xc4, 0x00, 0xc0 };
	/* "hello": not an array */
	static const uint8_t not_array[] = { 0xa5, 'h', 'e', 'l', 'l', 'o' };
	/* [-1] : negative type */
	static const uint8_t neg_type[] = { 0x91, 0xff };
	/* [10, [[10, []]]] : compound in a compound */
	static const uint8_t nested[] = { 0x92, 0x0a, 0x91, 0x92, 0x0a, 0x90 };
	/* [10, []] : empty compound */
	static const uint8_t empty_comp[] = { 0x92, 0x0a, 0x90 };
	/* [11, 0, bin, bin] : a stream message in a packet */
	static const uint8_t stream_in_pkt[] = { 0x94, 0x0b, 0x00, 0xc4, 0x00,
	                                         0xc4, 0x00 };
	/* 0xc1 is never used in msgpack */
	static const uint8_t reserved[] = { 0x92, 0x03, 0xc1 };

	(void)state;
	expect_refused(seq_str, sizeof(seq_str), "a string sequence number");
	expect_refused(short_id, sizeof(short_id), "a 7-byte key id");
	expect_refused(big_seq, sizeof(big_seq), "a 33-bit sequence number");
	expect_refused(empty_rec, sizeof(empty_rec), "an empty record");
	expect_refused(not_array, sizeof(not_array), "a string message");
	expect_refused(neg_type, sizeof(neg_type), "a negative type");
	expect_refused(nested, sizeof(nested), "a nested compound");
	expect_refused(empty_comp, sizeof(empty_comp), "an empty compound");
	expect_refused(stream_in_pkt, sizeof(stream_in_pkt),
	               "a stream message in a packet");
	expect_refused(reserved, sizeof(reserved), "a reserved type byte");
}

static void
test_huge_announcements(void **state)
{
	/* An array announcing 2^32 - 1 elements in five bytes: refused by
	 * the bounds walk before msgpack-c allocates anything. */
	static const uint8_t huge_array[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t huge_bin[] = { 0x92, 0x06, 0xc6, 0xff, 0xff, 0xff,
	                                    0xff };
	struct wire_stream s;
	const char *why = NULL;
	/* [12, 0, bin2048, bin512, [..2^16+1 entries], []] */
	uint8_t *big;
	size_t len = 0;

	(void)state;
	expect_refused(huge_array, sizeof(huge_array), "a huge array");
	expect_refused(huge_bin, sizeof(huge_bin), "a huge bin");
	assert_int_not_equal(wire_decode_stream(huge_array, sizeof(huge_array), &s,
	                                        &why), 0);
	assert_non_null(why);
	/* More entries than GOSSIP_MAX_MEMBERS, each a well-formed nil: the
	 * cap refuses it even though the bytes are all there. */
	big = calloc(1, 2 * (GOSSIP_MAX_MEMBERS + 2) + 4096);
	assert_non_null(big);
	big[len++] = 0x96;
	big[len++] = WIRE_PP_RESP;
	big[len++] = 0x00;
	big[len++] = 0xc5;
	big[len++] = 0x08;
	big[len++] = 0x00;
	len += 2048;
	big[len++] = 0xc5;
	big[len++] = 0x02;
	big[len++] = 0x00;
	len += 512;
	big[len++] = 0xdd;
	big[len++] = 0x00;
	big[len++] = 0x01;
	big[len++] = 0x00;
	big[len++] = 0x01;
	for (size_t i = 0; i < GOSSIP_MAX_MEMBERS + 1; i++)
		big[len++] = 0xc0;
	big[len++] = 0x90;
	why = NULL;
	assert_int_equal(wire_decode_stream(big, len, &s, &why), WEFT_EMALFORMED);
	assert_non_null(why);
	free(big);
}

static void
test_unknown_type_skipped(void **state)
{
	/* [10, [[200, "future"], [3, 5]]] */
	static const uint8_t p[] = { 0x92, 0x0a, 0x92, 0x92, 0xcc, 0xc8, 0xa6,
	                             'f', 'u', 't', 'u', 'r', 'e', 0x92, 0x03,
	                             0x05 };
	struct wire_msg m[WIRE_MAX_MSGS];
	size_t n, skipped;
	const char *why = NULL;

	(void)state;
	assert_int_equal(wire_decode_packet(p, sizeof(p), m, &n, &skipped, &why),
	                 0);
	assert_int_equal(n, 1);
	assert_int_equal(skipped, 1);
	assert_int_equal(m[0].type, WIRE_ACK);
	assert_int_equal(m[0].seq, 5);
}

static void
test_stream_roundtrip_and_bad(void **state)
{
	uint8_t p[4096];
	struct buf b;
	msgpack_packer pk;
	uint8_t dig[WIRE_DIGEST_MEMBERS * 8];
	struct wire_stream s;
	const char *why = NULL;

	(void)state;
	memset(dig, 0xab, sizeof(dig));
	buf_init(&b, p, sizeof(p));
	wire_packer_init(&pk, &b);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, WIRE_PP_REQ);
	msgpack_pack_uint32(&pk, WIRE_PP_JOIN);
	wire_put_bin(&pk, dig, WIRE_DIGEST_MEMBERS * 8);
	wire_put_bin(&pk, dig, WIRE_DIGEST_OBJECTS * 8);
	assert_int_equal(b.err, 0);
	assert_int_equal(wire_decode_stream(p, b.len, &s, &why), 0);
	assert_int_equal(s.type, WIRE_PP_REQ);
	assert_int_equal(s.flags, WIRE_PP_JOIN);
	wire_stream_fini(&s);
	/* A digest one bucket short. */
	buf_init(&b, p, sizeof(p));
	wire_packer_init(&pk, &b);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, WIRE_PP_REQ);
	msgpack_pack_uint32(&pk, 0);
	wire_put_bin(&pk, dig, (WIRE_DIGEST_MEMBERS - 1) * 8);
	wire_put_bin(&pk, dig, WIRE_DIGEST_OBJECTS * 8);
	why = NULL;
	assert_int_equal(wire_decode_stream(p, b.len, &s, &why), WEFT_EMALFORMED);
	assert_non_null(why);
	/* An entry with a state past LEFT. */
	buf_init(&b, p, sizeof(p));
	wire_packer_init(&pk, &b);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, WIRE_PP_PUSH);
	msgpack_pack_uint32(&pk, 0);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_array(&pk, 5);
	msgpack_pack_uint8(&pk, 9);
	msgpack_pack_uint32(&pk, 1);
	wire_put_bin(&pk, dig, 10);
	msgpack_pack_nil(&pk);
	msgpack_pack_nil(&pk);
	msgpack_pack_array(&pk, 0);
	why = NULL;
	assert_int_equal(wire_decode_stream(p, b.len, &s, &why), WEFT_EMALFORMED);
	assert_non_null(why);
}

/* A REQ with member digest md (len bytes) and a dense object digest. */
static int
decode_req(uint32_t flags, const uint8_t *md, size_t len,
           struct wire_stream *s)
{
	static uint8_t p[4096];
	uint8_t od[WIRE_DIGEST_OBJECTS * 8] = {0};
	struct buf b;
	msgpack_packer pk;
	const char *why = NULL;
	int rc;

	buf_init(&b, p, sizeof(p));
	wire_packer_init(&pk, &b);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, WIRE_PP_REQ);
	msgpack_pack_uint32(&pk, flags);
	wire_put_bin(&pk, md, len);
	wire_put_bin(&pk, od, sizeof(od));
	assert_int_equal(b.err, 0);
	rc = wire_decode_stream(p, b.len, s, &why);
	if (rc != 0)
		assert_non_null(why);
	return rc;
}

/* Sparse digests: (index, u64) for each non-zero bucket, in a message
 * flagged WIRE_PP_SPARSE; expanded to the same array as the dense form. */
static void
test_stream_sparse_digest(void **state)
{
	uint8_t dense[WIRE_DIGEST_MEMBERS * 8] = {0};
	uint8_t sp[3 * 9] = {
		3, 0, 0, 0, 0, 0, 0, 0, 0x11,
		7, 0x80, 0, 0, 0, 0, 0, 0, 0x22,
		255, 0, 0, 0, 0, 0, 0, 1, 0,
	};
	uint8_t bad[2 * 9];
	struct wire_stream s;

	(void)state;
	dense[3 * 8 + 7] = 0x11;
	dense[7 * 8] = 0x80;
	dense[7 * 8 + 7] = 0x22;
	dense[255 * 8 + 6] = 1;
	assert_int_equal(decode_req(WIRE_PP_SPARSE, sp, sizeof(sp), &s), 0);
	assert_int_equal(s.mdigest[3], 0x11);
	assert_int_equal(s.mdigest[7], 0x8000000000000022ull);
	assert_int_equal(s.mdigest[255], 0x100);
	assert_int_equal(s.mdigest[4], 0);
	{
		struct wire_stream d;

		assert_int_equal(decode_req(0, dense, sizeof(dense), &d), 0);
		assert_memory_equal(d.mdigest, s.mdigest, sizeof(s.mdigest));
		wire_stream_fini(&d);
		/* Dense still decodes in a sparse-flagged message. */
		assert_int_equal(decode_req(WIRE_PP_SPARSE, dense,
		                            sizeof(dense), &d), 0);
		assert_memory_equal(d.mdigest, s.mdigest, sizeof(s.mdigest));
		wire_stream_fini(&d);
	}
	wire_stream_fini(&s);
	/* Not flagged: refused (an older agent's decoder would too). */
	assert_int_equal(decode_req(0, sp, sizeof(sp), &s), WEFT_EMALFORMED);
	/* Indices must rise. */
	memcpy(bad, sp + 9, 9);
	memcpy(bad + 9, sp, 9);
	assert_int_equal(decode_req(WIRE_PP_SPARSE, bad, sizeof(bad), &s),
	                 WEFT_EMALFORMED);
	/* A listed bucket is never zero. */
	memcpy(bad, sp, 9);
	memset(bad + 9, 0, 9);
	bad[9] = 9;
	assert_int_equal(decode_req(WIRE_PP_SPARSE, bad, sizeof(bad), &s),
	                 WEFT_EMALFORMED);
	/* Not a whole number of entries. */
	assert_int_equal(decode_req(WIRE_PP_SPARSE, sp, 10, &s),
	                 WEFT_EMALFORMED);
}

static void
test_record_decoder(void **state)
{
	struct gossip_service svc = { .name = "web", .port = 80, .weight = 1 };
	struct gossip_record r, *out = NULL;
	uint8_t *body, *env, sig[KEY_SIG_LEN] = { 0 };
	size_t body_len, env_len, bl;
	const uint8_t *bp;
	const char *why = NULL;

	(void)state;
	memset(&r, 0, sizeof(r));
	memcpy(r.key_id, id_a, KEY_ID_LEN);
	r.name = "node-1";
	r.incarnation = 4;
	r.version = 77;
	r.addr.family = 4;
	r.addr.port = 7370;
	r.services = &svc;
	r.n_services = 1;
	assert_int_equal(wire_encode_record_body(&r, &body, &body_len), 0);
	assert_int_equal(wire_envelope(body, body_len, sig, &env, &env_len), 0);
	assert_int_equal(wire_decode_record(env, env_len, &out, &bp, &bl, sig, &why),
	                 0);
	assert_string_equal(out->name, "node-1");
	assert_int_equal(out->incarnation, 4);
	assert_int_equal(out->version, 77);
	assert_int_equal(out->n_services, 1);
	assert_string_equal(out->services[0].name, "web");
	assert_int_equal(out->addr.port, 7370);
	free(out);
	free(env);
	/* Format version 2: refused as such. */
	body[1] = 0x02;
	assert_int_equal(wire_envelope(body, body_len, sig, &env, &env_len), 0);
	why = NULL;
	assert_int_equal(wire_decode_record(env, env_len, &out, &bp, &bl, sig, &why),
	                 WEFT_EVERSION);
	assert_non_null(why);
	free(env);
	body[1] = 0x01;
	/* A NUL inside the name. */
	{
		uint8_t *nul = memmem(body, body_len, "node-1", 6);

		assert_non_null(nul);
		nul[2] = '\0';
		assert_int_equal(wire_envelope(body, body_len, sig, &env, &env_len), 0);
		why = NULL;
		assert_int_not_equal(wire_decode_record(env, env_len, &out, &bp, &bl,
		                                        sig, &why), 0);
		assert_non_null(why);
		free(env);
	}
	/* A signature of 63 bytes. */
	assert_int_equal(wire_envelope(body, body_len, sig, &env, &env_len), 0);
	env[env_len - KEY_SIG_LEN - 1] = KEY_SIG_LEN - 1;
	why = NULL;
	assert_int_not_equal(wire_decode_record(env, env_len - 1, &out, &bp, &bl, sig,
	                                        &why), 0);
	assert_non_null(why);
	free(env);
	free(body);
}

static void
test_object_decoder(void **state)
{
	struct gossip_object o;
	uint8_t *body, *env, sig[KEY_SIG_LEN] = { 0 };
	size_t body_len, env_len;
	struct wire_object wo;
	const char *why = NULL;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.kind = GOSSIP_OBJ_ROUTE;
	o.name = "web/default";
	o.hlc = 5;
	memcpy(o.signer, id_a, KEY_ID_LEN);
	o.value = (const uint8_t *)"v";
	o.value_len = 1;
	assert_int_equal(wire_encode_object_body(&o, &body, &body_len), 0);
	assert_int_equal(wire_envelope(body, body_len, sig, &env, &env_len), 0);
	assert_int_equal(wire_decode_object(env, env_len, &wo, &why), 0);
	assert_string_equal(wo.o.name, "web/default");
	assert_int_equal(wo.o.value_len, 1);
	free(env);
	free(body);
	/* A tombstone must not carry a value. */
	o.deleted = true;
	assert_int_equal(wire_encode_object_body(&o, &body, &body_len), 0);
	assert_int_equal(wire_envelope(body, body_len, sig, &env, &env_len), 0);
	why = NULL;
	assert_int_equal(wire_decode_object(env, env_len, &wo, &why),
	                 WEFT_EMALFORMED);
	assert_non_null(why);
	free(env);
	free(body);
}

/* --- a live state refusing bad packets --- */

static struct simnet *
two_nodes(void)
{
	struct simnet_config c;
	struct simnet *s;

	memset(&c, 0, sizeof(c));
	c.nodes = 3;
	c.seed = 9;
	c.delay_min_ms = 1;
	c.delay_max_ms = 2;
	gossip_config_default(&c.gossip, GOSSIP_PROFILE_WEFT);
	assert_int_equal(simnet_new(&s, &c), 0);
	assert_int_equal(simnet_bootstrap(s, 2), 0);
	simnet_run_until(s, 1000);
	return s;
}

/* Seals plain as node `from` would for node 0, with the test provider. */
static size_t
seal_as(struct simnet *s, size_t from, const uint8_t *plain, size_t len,
        uint8_t *out, size_t cap)
{
	struct gossip_crypto c;
	struct testcrypto_ctx ctx;
	struct seal_keys k;
	size_t n;

	testcrypto_identity(&ctx, from + 1);
	testcrypto_provider(&c, &ctx);
	memset(&k, 0, sizeof(k));
	assert_int_equal(c.seal(c.ctx, &k, simnet_id(s, from), NULL, plain, len, out,
	                        cap, &n), 0);
	return n;
}

static void
test_bad_packet_changes_nothing(void **state)
{
	struct simnet *s = two_nodes();
	struct gossip *g0 = simnet_gossip(s, 0);
	const struct gossip_stats *st = gossip_get_stats(g0);
	uint8_t plain[256], pkt[512], *before, *after;
	size_t n, blen, alen;
	struct buf b, o;
	msgpack_packer pk;
	enum gossip_state gs;

	(void)state;
	assert_int_equal(gossip_export_state(g0, &before, &blen), 0);
	/* A valid suspicion of node 1 followed by a malformed message: the
	 * packet is refused whole, so node 1 is not suspected. */
	buf_init(&b, plain, sizeof(plain));
	wire_packer_init(&pk, &b);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, WIRE_COMPOUND);
	msgpack_pack_array(&pk, 2);
	wire_put_claim(&b, WIRE_SUSPECT, simnet_id(s, 1), 0, simnet_id(s, 1));
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, WIRE_ACK);
	msgpack_pack_str(&pk, 1);
	msgpack_pack_str_body(&pk, "x", 1);
	assert_int_equal(b.err, 0);
	n = seal_as(s, 1, plain, b.len, pkt, sizeof(pkt));
	assert_int_equal(simnet_inject(s, 0, 1, pkt, n), WEFT_EMALFORMED);
	assert_int_equal(st->drop_malformed, 1);
	assert_non_null(st->last_reason);
	assert_int_equal(gossip_member_get(g0, simnet_id(s, 1), &gs, NULL), 0);
	assert_int_equal(gs, GOSSIP_ALIVE);
	assert_int_equal(st->suspicions, 0);
	/* A packet whose seal does not check. */
	pkt[n - 1] ^= 1;
	assert_int_equal(simnet_inject(s, 0, 1, pkt, n), WEFT_ECRYPTO);
	assert_int_equal(st->drop_bad_seal, 1);
	/* Too short to be sealed at all. */
	assert_int_equal(simnet_inject(s, 0, 1, pkt, 10), WEFT_ETRUNC);
	assert_int_equal(st->drop_bad_seal, 2);
	assert_int_equal(gossip_export_state(g0, &after, &alen), 0);
	assert_int_equal(blen, alen);
	assert_memory_equal(before, after, blen);
	free(before);
	free(after);
	/* The same suspicion alone is accepted: the test can fail. */
	buf_init(&o, plain, sizeof(plain));
	wire_put_claim(&o, WIRE_SUSPECT, simnet_id(s, 1), 0, simnet_id(s, 1));
	n = seal_as(s, 1, plain, o.len, pkt, sizeof(pkt));
	assert_int_equal(simnet_inject(s, 0, 1, pkt, n), 0);
	assert_int_equal(st->suspicions, 1);
	simnet_free(s);
}

static void
test_unknown_key_pulls_once(void **state)
{
	struct simnet *s = two_nodes();
	struct gossip *g0 = simnet_gossip(s, 0);
	const struct gossip_stats *st = gossip_get_stats(g0);
	uint8_t plain[64], pkt[256];
	struct buf b;
	size_t n;

	(void)state;
	buf_init(&b, plain, sizeof(plain));
	wire_put_ack(&b, WIRE_ACK, 1);
	/* Node 2 is not a member node 0 knows. */
	n = seal_as(s, 2, plain, b.len, pkt, sizeof(pkt));
	assert_int_equal(simnet_inject(s, 0, 2, pkt, n), WEFT_ENOENT);
	assert_int_equal(simnet_inject(s, 0, 2, pkt, n), WEFT_ENOENT);
	assert_int_equal(st->drop_unknown_key, 2);
	/* One pull towards the sender, not one per packet. */
	assert_int_equal(st->unknown_pulls, 1);
	assert_int_equal(st->streams_out, 1);
	simnet_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_compound),
		cmocka_unit_test(test_truncated_and_trailing),
		cmocka_unit_test(test_wrong_fields),
		cmocka_unit_test(test_huge_announcements),
		cmocka_unit_test(test_unknown_type_skipped),
		cmocka_unit_test(test_stream_roundtrip_and_bad),
		cmocka_unit_test(test_stream_sparse_digest),
		cmocka_unit_test(test_record_decoder),
		cmocka_unit_test(test_object_decoder),
		cmocka_unit_test(test_bad_packet_changes_nothing),
		cmocka_unit_test(test_unknown_key_pulls_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
