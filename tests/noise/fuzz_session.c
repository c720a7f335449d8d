/*
 * Fuzz target: a secure session receiving arbitrary bytes in every state.
 *
 * Input: byte 0 picks the state (byte 0 % FS_COUNT) and the suites the
 * responder accepts (all, ChaChaPoly only, AESGCM only: byte 0 / FS_COUNT
 * % 3, so a refusal and a retry are reached too), byte 1 the size of the
 * pieces the rest is fed in (so partial frames are exercised), the rest
 * is the stream.
 * The sessions' randomness is reset for every input, so a stream that
 * starts with a real handshake message (the seeds do) replays exactly and
 * mutations reach the certificate checks and the transport.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "crypto/bundle.h"
#include "crypto/session.h"
#include "tests/unit/testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum fuzz_state {
	FS_RESPONDER_FRESH,     /* awaiting XX or IK message 0 */
	FS_INITIATOR_XX,        /* sent XX message 0 */
	FS_INITIATOR_IK,        /* sent IK message 0 */
	FS_RESPONDER_XX_WAIT,   /* answered XX message 0, awaiting 2 */
	FS_RESPONDER_IK_DONE,   /* answered IK message 0: established */
	FS_ESTABLISHED_XX,      /* both sides done, feeding the initiator */
	FS_COUNT
};

struct world {
	struct key_pair ca, a, b;
	uint8_t *cert_a, *cert_b;
	size_t len_a, len_b;
	struct bundle bundle;
};

static struct world *w;

static void
issue(const struct key_pair *k, const struct key_pair *ca, const char *name,
      uint8_t **out, size_t *len)
{
	static const char *const svcs[] = {"web"};
	struct cert_params p = {
		.name = name,
		.services = svcs,
		.n_services = 1,
		.not_before = T_NOW - T_DAY,
		.not_after = T_NOW + T_DAY,
	};

	if (cert_issue(&p, k, ca, out, len) != 0)
		abort();
}

static void
world_init(void)
{
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 99);
	struct cert ca_cert;

	w = calloc(1, sizeof(*w));
	/* AESGCM is available only once libsodium has looked at the CPU. */
	if (w == NULL || sodium_init() < 0 || key_generate(&w->ca, KEY_KIND_CA, &rng) ||
	    key_generate(&w->a, KEY_KIND_NODE, &rng) ||
	    key_generate(&w->b, KEY_KIND_NODE, &rng))
		abort();
	test_issue(&ca_cert, &w->ca, &w->ca, "root", NULL, 0, NULL, 0,
	    T_NOW - T_DAY, T_NOW + T_DAY);
	if (bundle_add(&w->bundle, &ca_cert) != 0)
		abort();
	issue(&w->a, &w->ca, "node-a", &w->cert_a, &w->len_a);
	issue(&w->b, &w->ca, "node-b", &w->cert_b, &w->len_b);
}

static struct session_config
config(const struct key_pair *k, const uint8_t *cert, size_t len,
       const struct weft_rng *rng)
{
	struct session_config c = {
		.self = k,
		.cert = cert,
		.cert_len = len,
		.bundle = &w->bundle,
		.skew_s = 60,
		.rekey_after = 4,
		.rng = rng,
	};

	return c;
}

static void
move(struct session *from, struct session *to)
{
	const uint8_t *p;
	size_t len;

	session_out_peek(from, &p, &len);
	if (len > 0 && session_recv(to, p, len) != 0)
		abort(); /* honest sessions must agree */
	session_out_consume(from, len);
}

/* Honest sides run to the end of their handshake, a retry included. */
static void
pump(struct session *a, struct session *b)
{
	for (int i = 0; i < 6; i++) {
		move(a, b);
		move(b, a);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct test_rng_state rs;
	struct weft_rng rng;
	struct session_config ca, cb;
	struct session *a = NULL, *b = NULL, *target;
	static const unsigned suites[] = {
		0,
		SESSION_CIPHER_BIT(NOISE_CIPHER_CHACHAPOLY),
		SESSION_CIPHER_BIT(NOISE_CIPHER_AESGCM),
	};
	size_t piece;
	const uint8_t *p;
	size_t len;

	if (w == NULL)
		world_init();
	if (size < 2)
		return 0;
	rng = test_rng(&rs, 1);
	ca = config(&w->a, w->cert_a, w->len_a, &rng);
	cb = config(&w->b, w->cert_b, w->len_b, &rng);
	piece = (size_t)data[1] * 67 + 1;
	cb.ciphers = suites[data[0] / FS_COUNT % 3];
	if (!noise_cipher_available(NOISE_CIPHER_AESGCM))
		cb.ciphers = 0;

	switch ((enum fuzz_state)(data[0] % FS_COUNT)) {
	case FS_RESPONDER_FRESH:
		session_new(&cb, false, NULL, 0, T_NOW, &b);
		target = b;
		break;
	case FS_INITIATOR_XX:
		session_new(&ca, true, NULL, 0, T_NOW, &a);
		target = a;
		break;
	case FS_INITIATOR_IK:
		session_new(&ca, true, w->b.dh_pk, 0, T_NOW, &a);
		target = a;
		break;
	case FS_RESPONDER_XX_WAIT:
	case FS_RESPONDER_IK_DONE:
		session_new(&ca, true, data[0] % FS_COUNT == FS_RESPONDER_IK_DONE ?
		    w->b.dh_pk : NULL, 0, T_NOW, &a);
		session_new(&cb, false, NULL, 0, T_NOW, &b);
		if (a == NULL || b == NULL)
			abort();
		move(a, b);
		target = b;
		break;
	default:
		session_new(&ca, true, NULL, 0, T_NOW, &a);
		session_new(&cb, false, NULL, 0, T_NOW, &b);
		if (a == NULL || b == NULL)
			abort();
		pump(a, b);
		if (session_state(a) != SESSION_ESTABLISHED ||
		    session_state(b) != SESSION_ESTABLISHED)
			abort();
		target = a;
		break;
	}
	if (target == NULL)
		abort();

	data += 2;
	size -= 2;
	while (size > 0) {
		size_t n = size < piece ? size : piece;
		int rc = session_recv(target, data, n);

		if (rc != 0) {
			/* A refusal always says why, and nothing leaks. */
			if (session_state(target) != SESSION_CLOSED ||
			    session_reason(target)[0] == '\0')
				abort();
			session_plain_peek(target, &p, &len);
			if (len != 0)
				abort();
			break;
		}
		data += n;
		size -= n;
	}
	if (session_state(target) != SESSION_ESTABLISHED) {
		session_plain_peek(target, &p, &len);
		if (len != 0)
			abort();
	}
	session_free(a);
	session_free(b);
	return 0;
}
