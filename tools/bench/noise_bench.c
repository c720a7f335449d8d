/*
 * noise-bench: handshakes per second (IK and XX, bare Noise and weft
 * sessions with certificates) and bulk transport throughput for 16 KiB
 * messages on one core, next to raw libsodium ChaCha20-Poly1305 measured
 * in the same run.  Run through tools/bench/noise.
 *
 * Each throughput figure is the best of several rounds, the rounds of the
 * raw AEAD and of Noise interleaved, so a busy neighbour on a shared
 * machine slows both alike rather than one of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/err.h"
#include "crypto/bundle.h"
#include "crypto/cert.h"
#include "crypto/key.h"
#include "crypto/noise.h"
#include "crypto/session.h"

#define MSG 16384
#define ROUNDS 5
#define BYTES_PER_ROUND (512ull << 20)
#define HANDSHAKE_SECONDS 1.0
#define NOW_UNIX 1800000000LL

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
sys_fill(void *ctx, void *out, size_t n)
{
	(void)ctx;
	randombytes_buf(out, n);
	return 0;
}

static const struct weft_rng sys_rng = {sys_fill, NULL};

static void die(const char *what, int rc) __attribute__((noreturn));

static void
die(const char *what, int rc)
{
	fprintf(stderr, "noise-bench: %s: %s\n", what, weft_strerror(rc));
	exit(1);
}

/* ---- handshakes ---- */

static void
noise_handshake_once(enum noise_pattern pat, enum noise_hash hash,
                     const uint8_t *si, const uint8_t *sr, const uint8_t *pr)
{
	struct noise_handshake a, b;
	struct noise_handshake_params pa = {
		.protocol = {pat, 0, hash}, .initiator = true, .static_sk = si,
		.remote_static = pat == NOISE_PATTERN_IK ? pr : NULL,
		.rng = &sys_rng,
	};
	struct noise_handshake_params pb = {
		.protocol = {pat, 0, hash}, .static_sk = sr, .rng = &sys_rng,
	};
	struct noise_cipher t1, r1, t2, r2;
	uint8_t msg[256], pl[64];
	size_t n, pn;
	int rc;

	if ((rc = noise_handshake_init(&a, &pa)) ||
	    (rc = noise_handshake_init(&b, &pb)))
		die("handshake init", rc);
	for (int k = 0; noise_handshake_action(&a) != NOISE_ACTION_SPLIT; k++) {
		struct noise_handshake *tx = k % 2 ? &b : &a;
		struct noise_handshake *rx = k % 2 ? &a : &b;

		if ((rc = noise_handshake_write(tx, NULL, 0, msg, sizeof(msg), &n)) ||
		    (rc = noise_handshake_read(rx, msg, n, pl, sizeof(pl), &pn)))
			die("handshake", rc);
	}
	noise_handshake_split(&a, &t1, &r1);
	noise_handshake_split(&b, &t2, &r2);
}

struct world {
	struct key_pair ca, a, b;
	uint8_t *cert_a, *cert_b;
	size_t len_a, len_b;
	struct bundle bundle;
};

static void
world_init(struct world *w)
{
	static const char *const svcs[] = {"web"};
	struct cert_params p = {.name = "node", .services = svcs,
	    .n_services = 1, .not_before = NOW_UNIX - 86400,
	    .not_after = NOW_UNIX + 86400};
	struct cert_params pc = {.is_ca = true, .name = "root",
	    .not_before = NOW_UNIX - 86400, .not_after = NOW_UNIX + 86400};
	struct cert ca_cert;
	uint8_t *enc = NULL;
	size_t len = 0;
	int rc;

	memset(w, 0, sizeof(*w));
	if ((rc = key_generate(&w->ca, KEY_KIND_CA, &sys_rng)) ||
	    (rc = key_generate(&w->a, KEY_KIND_NODE, &sys_rng)) ||
	    (rc = key_generate(&w->b, KEY_KIND_NODE, &sys_rng)) ||
	    (rc = cert_issue(&pc, &w->ca, &w->ca, &enc, &len)) ||
	    (rc = cert_decode(enc, len, &ca_cert)) ||
	    (rc = bundle_add(&w->bundle, &ca_cert)) ||
	    (rc = cert_issue(&p, &w->a, &w->ca, &w->cert_a, &w->len_a)) ||
	    (rc = cert_issue(&p, &w->b, &w->ca, &w->cert_b, &w->len_b)))
		die("certificates", rc);
	free(enc);
}

static void
move(struct session *from, struct session *to)
{
	const uint8_t *p;
	size_t len;
	int rc;

	session_out_peek(from, &p, &len);
	if (len == 0)
		return;
	rc = session_recv(to, p, len);
	if (rc)
		die(session_reason(to), rc);
	session_out_consume(from, len);
}

static void
session_pair(struct world *w, bool ik, struct session **a, struct session **b)
{
	struct session_config ca = {.self = &w->a, .cert = w->cert_a,
	    .cert_len = w->len_a, .bundle = &w->bundle, .rng = &sys_rng};
	struct session_config cb = {.self = &w->b, .cert = w->cert_b,
	    .cert_len = w->len_b, .bundle = &w->bundle, .rng = &sys_rng};
	static struct session_config keep_a, keep_b; /* must outlive */
	int rc;

	keep_a = ca;
	keep_b = cb;
	if ((rc = session_new(&keep_a, true, ik ? w->b.dh_pk : NULL, 0,
	    NOW_UNIX, a)) ||
	    (rc = session_new(&keep_b, false, NULL, 0, NOW_UNIX, b)))
		die("session_new", rc);
	for (int i = 0; i < 3; i++) {
		move(*a, *b);
		move(*b, *a);
	}
	if (session_state(*a) != SESSION_ESTABLISHED ||
	    session_state(*b) != SESSION_ESTABLISHED)
		die("session handshake did not finish", WEFT_ESTATE);
}

static double
handshake_rate(struct world *w, enum noise_pattern pat, enum noise_hash hash,
               bool with_session)
{
	uint8_t si[32], sr[32], pr[32];
	double t0 = now_s(), t;
	unsigned long n = 0;

	randombytes_buf(si, 32);
	randombytes_buf(sr, 32);
	noise_dh_public(pr, sr);
	do {
		for (int i = 0; i < 16; i++) {
			if (with_session) {
				struct session *a, *b;

				session_pair(w, pat == NOISE_PATTERN_IK, &a, &b);
				session_free(a);
				session_free(b);
			} else {
				noise_handshake_once(pat, hash, si, sr, pr);
			}
		}
		n += 16;
		t = now_s() - t0;
	} while (t < HANDSHAKE_SECONDS);
	return (double)n / t;
}

/* ---- transport ---- */

static uint8_t *buf_in, *buf_out;

static double
gbps(double bytes, double secs)
{
	return bytes / secs / 1e9;
}

static double
raw_encrypt_round(const uint8_t *key)
{
	uint8_t nonce[12] = {0};
	double t0 = now_s();

	for (uint64_t done = 0, n = 0; done < BYTES_PER_ROUND; done += MSG, n++) {
		memcpy(nonce + 4, &n, 8);
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf_out,
		    buf_out + MSG, NULL, buf_in, MSG, NULL, 0, NULL, nonce, key);
	}
	return gbps(BYTES_PER_ROUND, now_s() - t0);
}

static double
noise_encrypt_round(const uint8_t *key)
{
	struct noise_cipher c;
	double t0 = now_s();
	size_t n;

	noise_cipher_init(&c, NOISE_CIPHER_CHACHAPOLY, key);
	for (uint64_t done = 0; done < BYTES_PER_ROUND; done += MSG)
		if (noise_cipher_encrypt(&c, NULL, 0, buf_in, MSG, buf_out,
		    MSG + NOISE_TAGLEN, &n) != 0)
			die("encrypt", WEFT_ECRYPTO);
	return gbps(BYTES_PER_ROUND, now_s() - t0);
}

/* Raw AEAD both ways: what a session's send and receive must do. */
static double
raw_both_round(const uint8_t *key)
{
	uint8_t nonce[12] = {0};
	double t0 = now_s();

	for (uint64_t done = 0, n = 0; done < BYTES_PER_ROUND; done += MSG, n++) {
		memcpy(nonce + 4, &n, 8);
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf_out,
		    buf_out + MSG, NULL, buf_in, MSG, NULL, 0, NULL, nonce, key);
		if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(buf_in,
		    NULL, buf_out, MSG, buf_out + MSG, NULL, 0, nonce, key) != 0)
			die("raw decrypt", WEFT_ECRYPTO);
	}
	return gbps(BYTES_PER_ROUND, now_s() - t0);
}

/* A weft session end to end: write 16 KiB, frame, feed the peer, read. */
static double
session_round(struct session *a, struct session *b)
{
	double t0 = now_s();

	for (uint64_t done = 0; done < BYTES_PER_ROUND; done += MSG) {
		const uint8_t *p;
		size_t len;
		int rc = session_write(a, buf_in, MSG);

		if (rc)
			die("session_write", rc);
		move(a, b);
		session_plain_peek(b, &p, &len);
		if (len != MSG)
			die("session read", WEFT_ESTATE);
		session_plain_consume(b, len);
	}
	return gbps(BYTES_PER_ROUND, now_s() - t0);
}

static double
max2(double a, double b)
{
	return a > b ? a : b;
}

int
main(void)
{
	static const struct {
		enum noise_pattern pat;
		const char *name;
	} pats[] = {{NOISE_PATTERN_IK, "IK"}, {NOISE_PATTERN_XX, "XX"}};
	struct world w;
	uint8_t key[32];
	double raw_e = 0, noise_e = 0, raw_b = 0, sess = 0;
	struct session *a, *b;

	if (sodium_init() < 0)
		return 1;
	world_init(&w);
	printf("noise-bench: one core, libsodium %s\n",
	    sodium_version_string());
	printf("\nhandshakes per second (initiator and responder both "
	    "computed in this process):\n");
	for (size_t i = 0; i < 2; i++) {
		printf("  %s  Noise BLAKE2b %8.0f   Noise SHA256 %8.0f   "
		    "weft session (BLAKE2b, certificates) %8.0f\n", pats[i].name,
		    handshake_rate(&w, pats[i].pat, NOISE_HASH_BLAKE2B, false),
		    handshake_rate(&w, pats[i].pat, NOISE_HASH_SHA256, false),
		    handshake_rate(&w, pats[i].pat, 0, true));
	}

	buf_in = calloc(1, MSG + 64);
	buf_out = calloc(1, MSG + 64);
	if (buf_in == NULL || buf_out == NULL)
		return 1;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(buf_in, MSG);
	session_pair(&w, false, &a, &b);
	for (int r = 0; r < ROUNDS; r++) {
		raw_e = max2(raw_e, raw_encrypt_round(key));
		noise_e = max2(noise_e, noise_encrypt_round(key));
		raw_b = max2(raw_b, raw_both_round(key));
		sess = max2(sess, session_round(a, b));
	}
	session_free(a);
	session_free(b);
	printf("\ntransport, %d-byte messages, best of %d rounds of %llu MiB:\n",
	    MSG, ROUNDS, BYTES_PER_ROUND >> 20);
	printf("  encrypt:  raw ChaCha20-Poly1305 %.2f GB/s   Noise CipherState "
	    "%.2f GB/s   ratio %.3f\n", raw_e, noise_e, noise_e / raw_e);
	printf("  send+receive:  raw encrypt+decrypt %.2f GB/s   weft session "
	    "(framing, queues) %.2f GB/s   ratio %.3f\n", raw_b, sess,
	    sess / raw_b);
	free(buf_in);
	free(buf_out);
	return 0;
}
