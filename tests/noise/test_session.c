/*
 * The secure session with real weft certificates: both sides
 * authenticated, every refusal reason, and damaged byte streams.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/err.h"
#include "crypto/bundle.h"
#include "crypto/cert.h"
#include "crypto/session.h"
#include "tests/unit/testutil.h"

#define T_MS 5000000 /* a monotonic "now" */

struct node {
	struct key_pair key;
	uint8_t *cert;
	size_t cert_len;
	uint8_t key_id[KEY_ID_LEN];
};

struct fixture {
	struct test_rng_state rs;
	struct weft_rng rng;
	struct key_pair ca, ca2;
	struct bundle bundle; /* trusts ca only */
	struct node a, b;
	struct session_config ca_cfg, cb_cfg;
	uint8_t revoked_id[KEY_ID_LEN];
	bool revoke_on;
	struct cert_revocations revs;
};

static const char *const a_svcs[] = {"web"};
static const char *const b_svcs[] = {"api", "db"};
static const char *const grps[] = {"prod"};

static bool
is_revoked(void *ctx, const uint8_t id[KEY_ID_LEN])
{
	struct fixture *f = ctx;

	return f->revoke_on && memcmp(id, f->revoked_id, KEY_ID_LEN) == 0;
}

/* Issues a node certificate for subject's keys, signed by issuer. */
static void
issue(struct node *n, const struct key_pair *subject,
      const struct key_pair *issuer, const char *name,
      const char *const *svcs, size_t n_svcs, int64_t nb, int64_t na)
{
	struct cert_params p = {
		.name = name,
		.services = svcs,
		.n_services = n_svcs,
		.groups = grps,
		.n_groups = 1,
		.not_before = nb,
		.not_after = na,
	};

	free(n->cert);
	assert_int_equal(cert_issue(&p, subject, issuer, &n->cert,
	    &n->cert_len), 0);
	memcpy(n->key_id, subject->id, KEY_ID_LEN);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct cert ca_cert;

	f->rng = test_rng(&f->rs, 7);
	if (key_generate(&f->ca, KEY_KIND_CA, &f->rng) ||
	    key_generate(&f->ca2, KEY_KIND_CA, &f->rng) ||
	    key_generate(&f->a.key, KEY_KIND_NODE, &f->rng) ||
	    key_generate(&f->b.key, KEY_KIND_NODE, &f->rng))
		return -1;
	test_issue(&ca_cert, &f->ca, &f->ca, "root", NULL, 0, NULL, 0,
	    T_NOW - 10 * T_DAY, T_NOW + 3650 * T_DAY);
	if (bundle_add(&f->bundle, &ca_cert) != 0)
		return -1;
	issue(&f->a, &f->a.key, &f->ca, "node-a", a_svcs, 1, T_NOW - T_DAY,
	    T_NOW + 30 * T_DAY);
	issue(&f->b, &f->b.key, &f->ca, "node-b", b_svcs, 2, T_NOW - T_DAY,
	    T_NOW + 30 * T_DAY);
	f->revs.is_revoked = is_revoked;
	f->revs.ctx = f;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	free(f->a.cert);
	free(f->b.cert);
	bundle_free(&f->bundle);
	key_wipe(&f->a.key);
	key_wipe(&f->b.key);
	free(f);
	return 0;
}

static struct session_config
config(struct fixture *f, struct node *n)
{
	struct session_config c = {
		.self = &n->key,
		.cert = n->cert,
		.cert_len = n->cert_len,
		.bundle = &f->bundle,
		.revoked = &f->revs,
		.skew_s = 60,
		.rng = &f->rng,
	};

	return c;
}

/* Moves every pending byte from src to dst; returns dst's result. */
static int
move(struct session *src, struct session *dst)
{
	const uint8_t *p;
	size_t len;
	int rc;

	session_out_peek(src, &p, &len);
	if (len == 0)
		return 0;
	rc = session_recv(dst, p, len);
	session_out_consume(src, len);
	return rc;
}

/* Runs the handshake to completion or failure; bounded. */
static void
pump(struct session *a, struct session *b)
{
	for (int i = 0; i < 8; i++) {
		const uint8_t *p;
		size_t la, lb;

		if (move(a, b) || move(b, a))
			return;
		session_out_peek(a, &p, &la);
		session_out_peek(b, &p, &lb);
		if (la == 0 && lb == 0)
			return;
	}
}

struct pair {
	struct session_config ca, cb;
	struct session *a, *b;
};

static void
start(struct fixture *f, struct pair *p, bool ik)
{
	p->ca = config(f, &f->a);
	p->cb = config(f, &f->b);
	assert_int_equal(session_new(&p->ca, true, ik ? f->b.key.dh_pk : NULL,
	    T_MS, T_NOW, &p->a), 0);
	assert_int_equal(session_new(&p->cb, false, NULL, T_MS, T_NOW, &p->b), 0);
}

static void
stop(struct pair *p)
{
	session_free(p->a);
	session_free(p->b);
}

static void
connect_pair(struct fixture *f, struct pair *p, bool ik)
{
	start(f, p, ik);
	pump(p->a, p->b);
	assert_int_equal(session_state(p->a), SESSION_ESTABLISHED);
	assert_int_equal(session_state(p->b), SESSION_ESTABLISHED);
}

static void
expect_plain(struct session *s, const void *want, size_t n)
{
	const uint8_t *p;
	size_t len;

	session_plain_peek(s, &p, &len);
	assert_int_equal(len, n);
	assert_memory_equal(p, want, n);
	session_plain_consume(s, len);
}

static void
check_identities(struct fixture *f, struct pair *p, enum noise_pattern pat)
{
	const struct session_peer *pa = session_peer(p->a);
	const struct session_peer *pb = session_peer(p->b);

	assert_non_null(pa);
	assert_non_null(pb);
	assert_string_equal(pa->name, "node-b");
	assert_int_equal(pa->n_services, 2);
	assert_string_equal(pa->services[0], "api");
	assert_string_equal(pa->services[1], "db");
	assert_int_equal(pa->n_groups, 1);
	assert_string_equal(pa->groups[0], "prod");
	assert_memory_equal(pa->key_id, f->b.key_id, KEY_ID_LEN);
	assert_memory_equal(pa->static_pk, f->b.key.dh_pk, NOISE_DHLEN);
	assert_string_equal(pb->name, "node-a");
	assert_int_equal(pb->n_services, 1);
	assert_memory_equal(pb->key_id, f->a.key_id, KEY_ID_LEN);
	assert_memory_equal(pb->static_pk, f->a.key.dh_pk, NOISE_DHLEN);
	assert_int_equal(pa->hash_len, 64);
	assert_memory_equal(pa->handshake_hash, pb->handshake_hash, 64);
	assert_int_equal(pa->pattern, pat);
	assert_int_equal(pb->pattern, pat);
}

static void
exchange(struct session *a, struct session *b, size_t n)
{
	uint8_t *buf = malloc(n);

	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 31 + 7);
	assert_int_equal(session_write(a, buf, n), 0);
	assert_int_equal(move(a, b), 0);
	expect_plain(b, buf, n);
	free(buf);
}

static void
test_xx_authenticates_both(void **state)
{
	struct fixture *f = *state;
	struct pair p;

	connect_pair(f, &p, false);
	check_identities(f, &p, NOISE_PATTERN_XX);
	exchange(p.a, p.b, 11);
	exchange(p.b, p.a, 1);
	/* Over the chunk size: several messages, one stream of bytes. */
	exchange(p.a, p.b, 3 * SESSION_CHUNK_MAX + 5);
	stop(&p);
}

static void
test_ik_authenticates_both(void **state)
{
	struct fixture *f = *state;
	struct pair p;

	connect_pair(f, &p, true);
	check_identities(f, &p, NOISE_PATTERN_IK);
	exchange(p.b, p.a, 100);
	exchange(p.a, p.b, 100);
	stop(&p);
}

static void
test_sha256_sessions(void **state)
{
	struct fixture *f = *state;
	struct pair p;

	p.ca = config(f, &f->a);
	p.cb = config(f, &f->b);
	p.ca.hash = p.cb.hash = NOISE_HASH_SHA256;
	assert_int_equal(session_new(&p.ca, true, NULL, T_MS, T_NOW, &p.a), 0);
	assert_int_equal(session_new(&p.cb, false, NULL, T_MS, T_NOW, &p.b), 0);
	pump(p.a, p.b);
	assert_int_equal(session_state(p.a), SESSION_ESTABLISHED);
	assert_int_equal(session_peer(p.a)->hash_len, 32);
	exchange(p.a, p.b, 1000);
	stop(&p);
}

/* The side that checks sees the peer's certificate refused; both end
 * closed, and nothing was released as plaintext. */
static void
expect_refused(struct pair *p, struct session *checker, int err,
               const char *needle)
{
	const uint8_t *q;
	size_t len;

	assert_int_equal(session_state(checker), SESSION_CLOSED);
	assert_int_equal(session_error(checker), err);
	if (strstr(session_reason(checker), needle) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", session_reason(checker),
		    needle);
	assert_null(session_peer(checker));
	session_plain_peek(p->a, &q, &len);
	assert_int_equal(len, 0);
	session_plain_peek(p->b, &q, &len);
	assert_int_equal(len, 0);
	assert_int_equal(session_recv(checker, (const uint8_t *)"x", 1),
	    WEFT_ECLOSED);
	assert_int_equal(session_write(checker, (const uint8_t *)"x", 1),
	    WEFT_ECLOSED);
}

static void
test_refuses_wrong_ca(void **state)
{
	struct fixture *f = *state;
	struct pair p;

	for (int ik = 0; ik < 2; ik++) {
		/* The responder's cert is signed by a CA the initiator does
		 * not trust. */
		issue(&f->b, &f->b.key, &f->ca2, "node-b", b_svcs, 2,
		    T_NOW - T_DAY, T_NOW + 30 * T_DAY);
		start(f, &p, ik);
		pump(p.a, p.b);
		expect_refused(&p, p.a, WEFT_EUNTRUSTED, "node-b refused");
		stop(&p);
		issue(&f->b, &f->b.key, &f->ca, "node-b", b_svcs, 2,
		    T_NOW - T_DAY, T_NOW + 30 * T_DAY);

		/* And the initiator's, checked by the responder. */
		issue(&f->a, &f->a.key, &f->ca2, "node-a", a_svcs, 1,
		    T_NOW - T_DAY, T_NOW + 30 * T_DAY);
		start(f, &p, ik);
		pump(p.a, p.b);
		expect_refused(&p, p.b, WEFT_EUNTRUSTED, "node-a refused");
		stop(&p);
		issue(&f->a, &f->a.key, &f->ca, "node-a", a_svcs, 1,
		    T_NOW - T_DAY, T_NOW + 30 * T_DAY);
	}
}

static void
test_refuses_expired(void **state)
{
	struct fixture *f = *state;
	struct pair p;

	issue(&f->b, &f->b.key, &f->ca, "node-b", b_svcs, 2, T_NOW - 30 * T_DAY,
	    T_NOW - 3 * T_DAY);
	start(f, &p, false);
	pump(p.a, p.b);
	expect_refused(&p, p.a, WEFT_EEXPIRED, "expired");
	stop(&p);
	issue(&f->b, &f->b.key, &f->ca, "node-b", b_svcs, 2, T_NOW - T_DAY,
	    T_NOW + 30 * T_DAY);

	/* Not yet valid, beyond the allowed skew. */
	issue(&f->a, &f->a.key, &f->ca, "node-a", a_svcs, 1, T_NOW + T_DAY,
	    T_NOW + 30 * T_DAY);
	start(f, &p, true);
	pump(p.a, p.b);
	expect_refused(&p, p.b, WEFT_ENOTYET, "node-a refused");
	stop(&p);
	issue(&f->a, &f->a.key, &f->ca, "node-a", a_svcs, 1, T_NOW - T_DAY,
	    T_NOW + 30 * T_DAY);
}

static void
test_refuses_revoked(void **state)
{
	struct fixture *f = *state;
	struct pair p;

	f->revoke_on = true;
	memcpy(f->revoked_id, f->a.key_id, KEY_ID_LEN);
	start(f, &p, false);
	pump(p.a, p.b);
	expect_refused(&p, p.b, WEFT_EREVOKED, "revoked");
	stop(&p);

	memcpy(f->revoked_id, f->b.key_id, KEY_ID_LEN);
	start(f, &p, true);
	pump(p.a, p.b);
	expect_refused(&p, p.a, WEFT_EREVOKED, "revoked");
	stop(&p);
	f->revoke_on = false;
}

static void
test_refuses_key_mismatch(void **state)
{
	struct fixture *f = *state;
	struct key_pair other;
	struct node stolen = {0};
	struct pair p;

	/* b presents a's valid certificate with its own Noise key: the
	 * certificate is fine, the binding is not. */
	assert_int_equal(key_generate(&other, KEY_KIND_NODE, &f->rng), 0);
	issue(&stolen, &other, &f->ca, "node-x", b_svcs, 2, T_NOW - T_DAY,
	    T_NOW + 30 * T_DAY);
	p.ca = config(f, &f->a);
	p.cb = config(f, &f->b);
	p.cb.cert = stolen.cert;
	p.cb.cert_len = stolen.cert_len;
	assert_int_equal(session_new(&p.ca, true, NULL, T_MS, T_NOW, &p.a), 0);
	assert_int_equal(session_new(&p.cb, false, NULL, T_MS, T_NOW, &p.b), 0);
	pump(p.a, p.b);
	expect_refused(&p, p.a, WEFT_EAUTH, "handshake authenticated key");
	stop(&p);

	/* Same on the responder's side, for the initiator in IK. */
	p.ca = config(f, &f->a);
	p.ca.cert = stolen.cert;
	p.ca.cert_len = stolen.cert_len;
	p.cb = config(f, &f->b);
	assert_int_equal(session_new(&p.ca, true, f->b.key.dh_pk, T_MS, T_NOW,
	    &p.a), 0);
	assert_int_equal(session_new(&p.cb, false, NULL, T_MS, T_NOW, &p.b), 0);
	pump(p.a, p.b);
	expect_refused(&p, p.b, WEFT_EAUTH, "handshake authenticated key");
	stop(&p);
	free(stolen.cert);
	key_wipe(&other);
}

static void
test_ik_stale_key_refused(void **state)
{
	struct fixture *f = *state;
	struct pair p;

	p.ca = config(f, &f->a);
	p.cb = config(f, &f->b);
	/* The initiator believes b's key is a's: b cannot decrypt. */
	assert_int_equal(session_new(&p.ca, true, f->a.key.dh_pk, T_MS, T_NOW,
	    &p.a), 0);
	assert_int_equal(session_new(&p.cb, false, NULL, T_MS, T_NOW, &p.b), 0);
	pump(p.a, p.b);
	expect_refused(&p, p.b, WEFT_ECRYPTO, "stale key");
	stop(&p);
}

/* Takes the next complete frame out of s's output. */
static size_t
take_frame(struct session *s, uint8_t *out, size_t cap)
{
	const uint8_t *p;
	size_t len, fl;

	session_out_peek(s, &p, &len);
	assert_true(len >= 2);
	fl = 2 + ((size_t)p[0] << 8 | p[1]);
	assert_true(fl <= len && fl <= cap);
	memcpy(out, p, fl);
	session_out_consume(s, fl);
	return fl;
}

/* Writing in place: room reserved inside the output, the plaintext
 * written there and sealed by the commit, is what session_write sends;
 * the rules around it hold. */
static void
test_write_in_place(void **state)
{
	struct fixture *f = *state;
	struct pair p;
	uint8_t *room, *again;
	const uint8_t *out;
	size_t len, before;

	connect_pair(f, &p, false);
	/* Interleaved with session_write, order kept. */
	assert_int_equal(session_write(p.a, (const uint8_t *)"one,", 4), 0);
	assert_int_equal(session_write_reserve(p.a, &room), 0);
	assert_non_null(room);
	/* One room at a time; no plain write while it is out. */
	assert_int_equal(session_write_reserve(p.a, &again), WEFT_ESTATE);
	assert_null(again);
	assert_int_equal(session_write(p.a, (const uint8_t *)"x", 1),
	    WEFT_ESTATE);
	memcpy(room, "two,", 4);
	/* Output sent in between (the queue emptied and restarted at its
	 * start) does not lose the room's bytes. */
	session_out_peek(p.a, &out, &len);
	assert_int_equal(move(p.a, p.b), 0);
	assert_int_equal(session_write_commit(p.a, 4), 0);
	assert_int_equal(session_write_commit(p.a, 4), WEFT_EINVAL);
	assert_int_equal(session_write_reserve(p.a, &room), 0);
	memset(room, 'z', SESSION_CHUNK_MAX);
	assert_int_equal(session_write_commit(p.a, SESSION_CHUNK_MAX + 1),
	    WEFT_EINVAL);
	assert_int_equal(session_write_reserve(p.a, &room), 0);
	session_out_peek(p.a, &out, &before);
	assert_int_equal(session_write_commit(p.a, 0), 0); /* given back */
	session_out_peek(p.a, &out, &len);
	assert_int_equal(len, before);
	assert_int_equal(session_write_reserve(p.a, &room), 0);
	memcpy(room, "three", 5);
	assert_int_equal(session_write_commit(p.a, 5), 0);
	assert_int_equal(move(p.a, p.b), 0);
	expect_plain(p.b, "one,two,three", 13);
	stop(&p);
	/* Not before the handshake. */
	start(f, &p, false);
	assert_int_equal(session_write_reserve(p.a, &room), WEFT_ESTATE);
	assert_int_equal(session_write_commit(p.a, 1), WEFT_EINVAL);
	stop(&p);
}

static void
test_transport_damage_refused(void **state)
{
	struct fixture *f = *state;
	static uint8_t f1[70000], f2[70000];
	struct pair p;
	size_t n1, n2;

	/* Truncated: the length prefix claims one byte less. */
	connect_pair(f, &p, false);
	assert_int_equal(session_write(p.a, (const uint8_t *)"hello", 5), 0);
	n1 = take_frame(p.a, f1, sizeof(f1));
	f1[1]--;
	assert_int_equal(session_recv(p.b, f1, n1 - 1), WEFT_ECRYPTO);
	assert_non_null(strstr(session_reason(p.b), "failed authentication"));
	stop(&p);

	/* Shorter than a tag. */
	connect_pair(f, &p, false);
	assert_int_equal(session_recv(p.b, (const uint8_t *)"\0\3abc", 5),
	    WEFT_EMALFORMED);
	assert_non_null(strstr(session_reason(p.b), "shorter than its tag"));
	stop(&p);

	/* Reordered. */
	connect_pair(f, &p, true);
	assert_int_equal(session_write(p.a, (const uint8_t *)"one", 3), 0);
	n1 = take_frame(p.a, f1, sizeof(f1));
	assert_int_equal(session_write(p.a, (const uint8_t *)"two", 3), 0);
	n2 = take_frame(p.a, f2, sizeof(f2));
	assert_int_equal(session_recv(p.b, f2, n2), WEFT_ECRYPTO);
	assert_non_null(strstr(session_reason(p.b), "transport message 0"));
	expect_plain(p.b, "", 0);
	stop(&p);

	/* Replayed. */
	connect_pair(f, &p, false);
	assert_int_equal(session_write(p.b, (const uint8_t *)"one", 3), 0);
	n1 = take_frame(p.b, f1, sizeof(f1));
	assert_int_equal(session_recv(p.a, f1, n1), 0);
	expect_plain(p.a, "one", 3);
	assert_int_equal(session_recv(p.a, f1, n1), WEFT_ECRYPTO);
	assert_non_null(strstr(session_reason(p.a), "replayed"));
	stop(&p);

	/* Every bit of a transport frame's body, flipped in turn. */
	for (size_t bit = 16; bit < 8 * (2 + 4 + NOISE_TAGLEN); bit += 7) {
		connect_pair(f, &p, bit % 2);
		assert_int_equal(session_write(p.a, (const uint8_t *)"data", 4), 0);
		n1 = take_frame(p.a, f1, sizeof(f1));
		f1[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(session_recv(p.b, f1, n1), WEFT_ECRYPTO);
		expect_plain(p.b, "", 0);
		stop(&p);
	}
}

static void
test_handshake_damage_refused(void **state)
{
	struct fixture *f = *state;
	static uint8_t m[70000];
	struct pair p;
	size_t n;

	for (int ik = 0; ik < 2; ik++) {
		/* A flipped bit in the responder's reply. */
		start(f, &p, ik);
		assert_int_equal(move(p.a, p.b), 0);
		n = take_frame(p.b, m, sizeof(m));
		m[n - 3] ^= 0x20;
		assert_int_equal(session_recv(p.a, m, n), WEFT_ECRYPTO);
		assert_non_null(strstr(session_reason(p.a),
		    "second handshake message refused"));
		stop(&p);

		/* A truncated reply (length prefix and body cut). */
		start(f, &p, ik);
		assert_int_equal(move(p.a, p.b), 0);
		n = take_frame(p.b, m, sizeof(m));
		m[0] = 0;
		m[1] = 40;
		assert_int_equal(session_recv(p.a, m, 42), WEFT_ETRUNC);
		assert_non_null(strstr(session_reason(p.a), "truncated"));
		stop(&p);

		/* The first message replayed to a responder that already
		 * answered it. */
		start(f, &p, ik);
		n = take_frame(p.a, m, sizeof(m));
		assert_int_equal(session_recv(p.b, m, n), 0);
		assert_int_not_equal(session_recv(p.b, m, n), 0);
		assert_int_equal(session_state(p.b), SESSION_CLOSED);
		assert_true(strlen(session_reason(p.b)) > 0);
		stop(&p);
	}

	/* XX's last message replayed after it was accepted. */
	start(f, &p, false);
	assert_int_equal(move(p.a, p.b), 0);
	assert_int_equal(move(p.b, p.a), 0);
	n = take_frame(p.a, m, sizeof(m));
	assert_int_equal(session_recv(p.b, m, n), 0);
	assert_int_equal(session_state(p.b), SESSION_ESTABLISHED);
	assert_int_equal(session_recv(p.b, m, n), WEFT_ECRYPTO);
	stop(&p);
}

static void
test_oversized_and_malformed(void **state)
{
	struct fixture *f = *state;
	static uint8_t big[2 + 65535];
	struct pair p;

	start(f, &p, false);
	big[0] = 0xff;
	big[1] = 0xff;
	assert_int_equal(session_recv(p.b, big, sizeof(big)), WEFT_ETOOBIG);
	assert_non_null(strstr(session_reason(p.b), "over the limit"));
	stop(&p);

	/* Junk such as an HTTP request ("GE" reads as 18245 bytes) is
	 * refused at its first two bytes, not held until the handshake
	 * deadline. */
	start(f, &p, false);
	assert_int_equal(session_recv(p.b, (const uint8_t *)"GE", 2),
	                 WEFT_ETOOBIG);
	assert_int_equal(session_state(p.b), SESSION_CLOSED);
	stop(&p);

	/* A first XX message carrying a payload weft never sends is read
	 * as IK, which cannot decrypt it. */
	start(f, &p, false);
	memset(big, 0, 100);
	big[1] = SESSION_HELLO_LEN + 33;
	big[2] = NOISE_CIPHER_CHACHAPOLY;
	assert_int_equal(session_recv(p.b, big, 2 + SESSION_HELLO_LEN + 33),
	    WEFT_ETRUNC);
	assert_int_equal(session_state(p.b), SESSION_CLOSED);
	stop(&p);

	/* A hello naming no suite, and one too short to hold the hello. */
	start(f, &p, false);
	big[1] = SESSION_HELLO_LEN + 32;
	big[2] = 0;
	assert_int_equal(session_recv(p.b, big, 2 + SESSION_HELLO_LEN + 32),
	    WEFT_EMALFORMED);
	assert_non_null(strstr(session_reason(p.b), "names no suite"));
	stop(&p);
	start(f, &p, false);
	big[1] = 1;
	assert_int_equal(session_recv(p.b, big, 3), WEFT_EMALFORMED);
	assert_non_null(strstr(session_reason(p.b), "no suite header"));
	stop(&p);

	/* Plaintext before the handshake: refused, not queued. */
	start(f, &p, false);
	assert_int_equal(session_write(p.a, (const uint8_t *)"x", 1),
	    WEFT_ESTATE);
	stop(&p);
}

static void
test_byte_at_a_time(void **state)
{
	struct fixture *f = *state;
	struct pair p;
	const uint8_t *q;
	size_t len;

	start(f, &p, false);
	for (int round = 0; round < 6; round++) {
		struct session *src = round % 2 ? p.b : p.a;
		struct session *dst = round % 2 ? p.a : p.b;

		session_out_peek(src, &q, &len);
		for (size_t i = 0; i < len; i++)
			assert_int_equal(session_recv(dst, q + i, 1), 0);
		session_out_consume(src, len);
	}
	assert_int_equal(session_state(p.a), SESSION_ESTABLISHED);
	assert_int_equal(session_state(p.b), SESSION_ESTABLISHED);
	assert_int_equal(session_write(p.a, (const uint8_t *)"slow", 4), 0);
	session_out_peek(p.a, &q, &len);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(session_recv(p.b, q + i, 1), 0);
	session_out_consume(p.a, len);
	expect_plain(p.b, "slow", 4);
	stop(&p);
}

static void
test_deadline(void **state)
{
	struct fixture *f = *state;
	struct pair p;

	start(f, &p, false);
	assert_int_equal(session_deadline(p.a),
	    T_MS + SESSION_HANDSHAKE_TIMEOUT_MS);
	assert_int_equal(session_tick(p.a, T_MS + 1), 0);
	assert_int_equal(session_tick(p.a, session_deadline(p.a)),
	    WEFT_ETIMEDOUT);
	assert_non_null(strstr(session_reason(p.a), "did not finish"));
	assert_int_equal(session_state(p.a), SESSION_CLOSED);
	stop(&p);

	connect_pair(f, &p, false);
	assert_int_equal(session_deadline(p.a), INT64_MAX);
	assert_int_equal(session_tick(p.a, INT64_MAX - 1), 0);
	stop(&p);
}

#define CHACHA SESSION_CIPHER_BIT(NOISE_CIPHER_CHACHAPOLY)
#define AESGCM SESSION_CIPHER_BIT(NOISE_CIPHER_AESGCM)

static void
skip_without_aesgcm(void)
{
	if (!noise_cipher_available(NOISE_CIPHER_AESGCM)) {
		print_message("AESGCM is not available on this CPU\n");
		skip();
	}
}

/* A pair whose sides accept the given suites (0: all this CPU runs). */
static void
start_suites(struct fixture *f, struct pair *p, bool ik, unsigned ci,
             unsigned cr)
{
	p->ca = config(f, &f->a);
	p->cb = config(f, &f->b);
	p->ca.ciphers = ci;
	p->cb.ciphers = cr;
	assert_int_equal(session_new(&p->ca, true, ik ? f->b.key.dh_pk : NULL,
	    T_MS, T_NOW, &p->a), 0);
	assert_int_equal(session_new(&p->cb, false, NULL, T_MS, T_NOW, &p->b), 0);
}

static void
expect_suite(struct fixture *f, struct pair *p, bool ik,
             enum noise_cipher_id want)
{
	assert_int_equal(session_state(p->a), SESSION_ESTABLISHED);
	assert_int_equal(session_state(p->b), SESSION_ESTABLISHED);
	check_identities(f, p, ik ? NOISE_PATTERN_IK : NOISE_PATTERN_XX);
	assert_int_equal(session_peer(p->a)->cipher, want);
	assert_int_equal(session_peer(p->b)->cipher, want);
	exchange(p->a, p->b, 2 * SESSION_CHUNK_MAX + 3);
	exchange(p->b, p->a, 77);
}

static void
test_suites_negotiated(void **state)
{
	struct fixture *f = *state;
	struct pair p;

	skip_without_aesgcm();
	for (int ik = 0; ik < 2; ik++) {
		/* Both can: AESGCM, in one round trip as before. */
		start_suites(f, &p, ik, 0, 0);
		pump(p.a, p.b);
		expect_suite(f, &p, ik, NOISE_CIPHER_AESGCM);
		stop(&p);

		/* The initiator offers what it accepts. */
		start_suites(f, &p, ik, CHACHA, 0);
		pump(p.a, p.b);
		expect_suite(f, &p, ik, NOISE_CIPHER_CHACHAPOLY);
		stop(&p);

		/* A responder that cannot (or by config will not) run AESGCM
		 * refuses it; the initiator retries with ChaChaPoly. */
		start_suites(f, &p, ik, 0, CHACHA);
		pump(p.a, p.b);
		expect_suite(f, &p, ik, NOISE_CIPHER_CHACHAPOLY);
		stop(&p);

		/* Nothing in common: both say why. */
		start_suites(f, &p, ik, AESGCM, CHACHA);
		pump(p.a, p.b);
		assert_int_equal(session_state(p.a), SESSION_CLOSED);
		assert_int_equal(session_error(p.a), WEFT_EPOLICY);
		assert_non_null(strstr(session_reason(p.a),
		    "peer refused AESGCM and accepts ChaChaPoly; we accept "
		    "only AESGCM"));
		assert_null(session_peer(p.b));
		stop(&p);
	}
	/* A responder seeing a second unacceptable offer closes. */
	start_suites(f, &p, false, 0, AESGCM);
	{
		static uint8_t m[4096];
		size_t n = take_frame(p.a, m, sizeof(m));

		m[2] = NOISE_CIPHER_CHACHAPOLY;
		assert_int_equal(session_recv(p.b, m, n), 0); /* refused */
		m[3] = NOISE_CIPHER_CHACHAPOLY;
		m[2] = 7;
		assert_int_equal(session_recv(p.b, m, n), WEFT_EPOLICY);
		assert_non_null(strstr(session_reason(p.b),
		    "peer offered an unknown suite after ChaChaPoly"));
	}
	stop(&p);
	/* Configuration naming an unknown suite is refused. */
	p.ca = config(f, &f->a);
	p.ca.ciphers = 1u << 5;
	assert_int_equal(session_new(&p.ca, true, NULL, T_MS, T_NOW, &p.a),
	    WEFT_EINVAL);
}

/* The suite bytes cross the wire in the clear; changing them must make
 * the handshake fail, never pick another suite quietly. */
static void
test_suite_flip_fails(void **state)
{
	struct fixture *f = *state;
	static uint8_t m[4096];
	struct pair p;
	size_t n;

	skip_without_aesgcm();
	for (int ik = 0; ik < 2; ik++) {
		/* AESGCM offered, ChaChaPoly delivered: the responder runs
		 * ChaChaPoly, and the transcripts differ. */
		start_suites(f, &p, ik, 0, 0);
		n = take_frame(p.a, m, sizeof(m));
		assert_int_equal(m[2], NOISE_CIPHER_AESGCM);
		m[2] = NOISE_CIPHER_CHACHAPOLY;
		if (ik) {
			/* IK's first message is already encrypted. */
			assert_int_equal(session_recv(p.b, m, n), WEFT_ECRYPTO);
		} else {
			assert_int_equal(session_recv(p.b, m, n), 0);
			assert_int_equal(move(p.b, p.a), WEFT_ECRYPTO);
			assert_int_equal(session_state(p.a), SESSION_CLOSED);
		}
		assert_null(session_peer(p.a));
		assert_null(session_peer(p.b));
		stop(&p);

		/* ChaChaPoly offered, AESGCM delivered. */
		start_suites(f, &p, ik, CHACHA, 0);
		n = take_frame(p.a, m, sizeof(m));
		m[2] = NOISE_CIPHER_AESGCM;
		if (ik) {
			assert_int_equal(session_recv(p.b, m, n), WEFT_ECRYPTO);
		} else {
			assert_int_equal(session_recv(p.b, m, n), 0);
			assert_int_equal(move(p.b, p.a), WEFT_ECRYPTO);
		}
		stop(&p);

		/* A claimed earlier refusal that never happened. */
		start_suites(f, &p, ik, CHACHA, 0);
		n = take_frame(p.a, m, sizeof(m));
		m[3] = NOISE_CIPHER_AESGCM;
		assert_int_equal(session_recv(p.b, m, n), WEFT_EAUTH);
		assert_non_null(strstr(session_reason(p.b), "downgrade"));
		stop(&p);
	}
}

/* A refusal is not authenticated; forging one must not downgrade. */
static void
test_forged_refusal_fails(void **state)
{
	struct fixture *f = *state;
	static const uint8_t forged[] = {0, SESSION_REFUSAL_LEN, 0, CHACHA};
	static uint8_t m[4096];
	struct pair p;
	size_t n;

	skip_without_aesgcm();
	for (int ik = 0; ik < 2; ik++) {
		/* The attacker swallows the AESGCM hello and refuses it in
		 * the responder's name: the retry names the refusal, which
		 * the responder never sent. */
		start_suites(f, &p, ik, 0, 0);
		(void)take_frame(p.a, m, sizeof(m));
		assert_int_equal(session_recv(p.a, forged, sizeof(forged)), 0);
		n = take_frame(p.a, m, sizeof(m));
		assert_int_equal(m[2], NOISE_CIPHER_CHACHAPOLY);
		assert_int_equal(m[3], NOISE_CIPHER_AESGCM);
		assert_int_equal(session_recv(p.b, m, n), WEFT_EAUTH);
		assert_null(session_peer(p.b));
		stop(&p);

		/* The attacker lets the hello through and races a forged
		 * refusal ahead of the real answer: the retry reaches a
		 * responder past its first message, and fails. */
		start_suites(f, &p, ik, 0, 0);
		assert_int_equal(move(p.a, p.b), 0);
		assert_int_equal(session_recv(p.a, forged, sizeof(forged)), 0);
		assert_int_not_equal(move(p.a, p.b), 0);
		assert_int_equal(session_state(p.b), SESSION_CLOSED);
		stop(&p);

		/* A second refusal after the retry ends it. */
		start_suites(f, &p, ik, 0, 0);
		(void)take_frame(p.a, m, sizeof(m));
		assert_int_equal(session_recv(p.a, forged, sizeof(forged)), 0);
		assert_int_equal(session_recv(p.a, forged, sizeof(forged)),
		    WEFT_EPOLICY);
		stop(&p);
	}
}

static void
test_rekey(void **state)
{
	struct fixture *f = *state;
	struct pair p;

	p.ca = config(f, &f->a);
	p.cb = config(f, &f->b);
	p.ca.rekey_after = p.cb.rekey_after = 3;
	/* Rekey with each suite. */
	for (unsigned c = 0; c < 2; c++) {
		if (c == 1 && !noise_cipher_available(NOISE_CIPHER_AESGCM))
			break;
		p.ca.ciphers = p.cb.ciphers = c ? AESGCM : CHACHA;
		assert_int_equal(session_new(&p.ca, true, NULL, T_MS, T_NOW,
		    &p.a), 0);
		assert_int_equal(session_new(&p.cb, false, NULL, T_MS, T_NOW,
		    &p.b), 0);
		pump(p.a, p.b);
		assert_int_equal(session_peer(p.a)->cipher, c ?
		    NOISE_CIPHER_AESGCM : NOISE_CIPHER_CHACHAPOLY);
		for (int i = 0; i < 10; i++) {
			exchange(p.a, p.b, 10 + (size_t)i);
			exchange(p.b, p.a, 3);
		}
		stop(&p);
	}
	p.ca.ciphers = p.cb.ciphers = 0;
	assert_int_equal(session_new(&p.ca, true, NULL, T_MS, T_NOW, &p.a), 0);
	assert_int_equal(session_new(&p.cb, false, NULL, T_MS, T_NOW, &p.b), 0);
	pump(p.a, p.b);
	for (int i = 0; i < 10; i++) {
		exchange(p.a, p.b, 10 + (size_t)i);
		exchange(p.b, p.a, 3);
	}
	stop(&p);

	/* Sides that disagree on the interval fail at the first rekey. */
	p.cb.rekey_after = 4;
	assert_int_equal(session_new(&p.ca, true, NULL, T_MS, T_NOW, &p.a), 0);
	assert_int_equal(session_new(&p.cb, false, NULL, T_MS, T_NOW, &p.b), 0);
	pump(p.a, p.b);
	for (int i = 0; i < 3; i++)
		exchange(p.a, p.b, 5);
	assert_int_equal(session_write(p.a, (const uint8_t *)"x", 1), 0);
	assert_int_equal(move(p.a, p.b), WEFT_ECRYPTO);
	stop(&p);
}

/* A bulk session moves a direction to OpenSSL after SESSION_BULK_AFTER
 * full-size records, not before and not for small ones; the bytes keep
 * flowing across the switch.  Other sessions stay on libsodium. */
static void
test_bulk_moves_to_openssl(void **state)
{
	struct fixture *f = *state;
	struct pair p;

	if (!noise_cipher_available(NOISE_CIPHER_AESGCM)) {
		skip();
		return;
	}
	p.ca = config(f, &f->a);
	p.cb = config(f, &f->b);
	p.ca.ciphers = p.cb.ciphers = AESGCM;
	p.ca.bulk = p.cb.bulk = true;
	assert_int_equal(session_new(&p.ca, true, NULL, T_MS, T_NOW, &p.a), 0);
	assert_int_equal(session_new(&p.cb, false, NULL, T_MS, T_NOW, &p.b), 0);
	pump(p.a, p.b);
	for (int i = 0; i < 1000; i++)
		exchange(p.a, p.b, 1000);
	assert_string_equal(session_aead_impl(p.a, true), "libsodium");
	for (unsigned i = 0; i + 1 < SESSION_BULK_AFTER; i++)
		exchange(p.a, p.b, SESSION_BULK_RECORD);
	assert_string_equal(session_aead_impl(p.a, true), "libsodium");
	assert_string_equal(session_aead_impl(p.b, false), "libsodium");
	exchange(p.a, p.b, SESSION_BULK_RECORD);
	exchange(p.a, p.b, SESSION_BULK_RECORD + 5);
	assert_string_equal(session_aead_impl(p.a, true), "OpenSSL");
	assert_string_equal(session_aead_impl(p.b, false), "OpenSSL");
	/* The other direction carried nothing big. */
	exchange(p.b, p.a, 100);
	assert_string_equal(session_aead_impl(p.b, true), "libsodium");
	stop(&p);

	p.ca.bulk = p.cb.bulk = false;
	assert_int_equal(session_new(&p.ca, true, NULL, T_MS, T_NOW, &p.a), 0);
	assert_int_equal(session_new(&p.cb, false, NULL, T_MS, T_NOW, &p.b), 0);
	pump(p.a, p.b);
	for (unsigned i = 0; i < SESSION_BULK_AFTER + 2; i++)
		exchange(p.a, p.b, SESSION_BULK_RECORD);
	assert_string_equal(session_aead_impl(p.a, true), "libsodium");
	stop(&p);
}

static void
test_bad_config(void **state)
{
	struct fixture *f = *state;
	struct session_config c = config(f, &f->a);
	struct session *s;

	c.cert = NULL;
	assert_int_equal(session_new(&c, true, NULL, 0, T_NOW, &s), WEFT_EINVAL);
	assert_null(s);
	c = config(f, &f->a);
	c.bundle = NULL;
	assert_int_equal(session_new(&c, false, NULL, 0, T_NOW, &s),
	    WEFT_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bulk_moves_to_openssl),
		cmocka_unit_test(test_xx_authenticates_both),
		cmocka_unit_test(test_ik_authenticates_both),
		cmocka_unit_test(test_sha256_sessions),
		cmocka_unit_test(test_refuses_wrong_ca),
		cmocka_unit_test(test_refuses_expired),
		cmocka_unit_test(test_refuses_revoked),
		cmocka_unit_test(test_refuses_key_mismatch),
		cmocka_unit_test(test_ik_stale_key_refused),
		cmocka_unit_test(test_transport_damage_refused),
		cmocka_unit_test(test_write_in_place),
		cmocka_unit_test(test_handshake_damage_refused),
		cmocka_unit_test(test_oversized_and_malformed),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_suites_negotiated),
		cmocka_unit_test(test_suite_flip_fails),
		cmocka_unit_test(test_forged_refusal_fails),
		cmocka_unit_test(test_rekey),
		cmocka_unit_test(test_bad_config),
	};

	/* AESGCM is available only once libsodium has looked at the CPU. */
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
