/*
 * noise-bench: handshakes per second (IK and XX, bare Noise and weft
 * sessions with certificates) and bulk transport throughput for 16 KiB
 * and largest (SESSION_CHUNK_MAX) messages on one core, for both Noise
 * ciphers, next to raw libsodium ChaCha20-Poly1305 and AES-256-GCM and
 * raw OpenSSL (libcrypto EVP) AES-256-GCM, which weft's AESGCM transport
 * ciphers run on, measured in the same run.  Run through tools/bench/noise.
 *
 * Each throughput figure is the best of several rounds, the rounds of the
 * raw AEAD and of Noise interleaved, so a busy neighbour on a shared
 * machine slows both alike rather than one of them.  Time is this
 * thread's CPU time, not wall time: on a shared machine a process that is
 * waiting for a core would otherwise count the wait as work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "common/err.h"
#include "crypto/bundle.h"
#include "crypto/cert.h"
#include "crypto/key.h"
#include "crypto/noise.h"
#include "crypto/session.h"

#define MSG_MAX SESSION_CHUNK_MAX
#define ROUNDS 5
#define BYTES_PER_ROUND (256ull << 20)
#define HANDSHAKE_SECONDS 1.0
#define NOW_UNIX 1800000000LL

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
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
		.protocol = {pat, 0, hash, NOISE_CIPHER_CHACHAPOLY}, .initiator = true, .static_sk = si,
		.remote_static = pat == NOISE_PATTERN_IK ? pr : NULL,
		.rng = &sys_rng,
	};
	struct noise_handshake_params pb = {
		.protocol = {pat, 0, hash, NOISE_CIPHER_CHACHAPOLY}, .static_sk = sr, .rng = &sys_rng,
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

/* ciphers: as session_config's (0: the best both run). */
static void
session_pair(struct world *w, bool ik, unsigned ciphers, struct session **a,
             struct session **b)
{
	struct session_config ca = {.self = &w->a, .cert = w->cert_a,
	    .cert_len = w->len_a, .bundle = &w->bundle, .rng = &sys_rng,
	    .ciphers = ciphers};
	struct session_config cb = {.self = &w->b, .cert = w->cert_b,
	    .cert_len = w->len_b, .bundle = &w->bundle, .rng = &sys_rng,
	    .ciphers = ciphers};
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

				session_pair(w, pat == NOISE_PATTERN_IK, 0, &a,
				    &b);
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
static crypto_aead_aes256gcm_state aes_st;
/* Raw OpenSSL, as crypto/noise_cipher.c calls it: one context per
 * direction, key set once, only the nonce per record. */
static EVP_CIPHER_CTX *ossl_tx, *ossl_rx;

static EVP_CIPHER_CTX *
ossl_new(const uint8_t *key)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (ctx == NULL ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, NULL) != 1)
		die("OpenSSL AES-256-GCM", WEFT_ECRYPTO);
	return ctx;
}

static void
ossl_seal(const uint8_t nonce[12], size_t msg)
{
	int l;

	if (EVP_EncryptInit_ex(ossl_tx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(ossl_tx, buf_out, &l, buf_in, (int)msg) != 1 ||
	    EVP_EncryptFinal_ex(ossl_tx, buf_out + msg, &l) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ossl_tx, EVP_CTRL_GCM_GET_TAG, 16,
	    buf_out + msg) != 1)
		die("OpenSSL encrypt", WEFT_ECRYPTO);
}

static void
ossl_open(const uint8_t nonce[12], size_t msg)
{
	int l;

	if (EVP_DecryptInit_ex(ossl_rx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_DecryptUpdate(ossl_rx, buf_in, &l, buf_out, (int)msg) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ossl_rx, EVP_CTRL_GCM_SET_TAG, 16,
	    buf_out + msg) != 1 ||
	    EVP_DecryptFinal_ex(ossl_rx, buf_in + msg, &l) != 1)
		die("OpenSSL decrypt", WEFT_ECRYPTO);
}

/* Which raw AEAD code: libsodium, libsodium expanding the AES key on
 * every call, or OpenSSL (AES-256-GCM only). */
enum raw_impl { RAW_SODIUM, RAW_SODIUM_EXPAND, RAW_OPENSSL };

static double
gbps(double bytes, double secs)
{
	return bytes / secs / 1e9;
}

/* One raw AEAD call, as Noise would make it. */
static void
raw_seal(enum noise_cipher_id id, enum raw_impl impl, const uint8_t *key,
         uint64_t n, size_t msg)
{
	uint8_t nonce[12] = {0};

	memcpy(nonce + 4, &n, 8);
	if (impl == RAW_OPENSSL)
		ossl_seal(nonce, msg);
	else if (id == NOISE_CIPHER_CHACHAPOLY)
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf_out,
		    buf_out + msg, NULL, buf_in, msg, NULL, 0, NULL, nonce, key);
	else if (impl == RAW_SODIUM)
		crypto_aead_aes256gcm_encrypt_detached_afternm(buf_out,
		    buf_out + msg, NULL, buf_in, msg, NULL, 0, NULL, nonce,
		    &aes_st);
	else
		crypto_aead_aes256gcm_encrypt_detached(buf_out, buf_out + msg,
		    NULL, buf_in, msg, NULL, 0, NULL, nonce, key);
}

static void
raw_open(enum noise_cipher_id id, enum raw_impl impl, const uint8_t *key,
         uint64_t n, size_t msg)
{
	uint8_t nonce[12] = {0};
	int rc;

	memcpy(nonce + 4, &n, 8);
	if (impl == RAW_OPENSSL) {
		ossl_open(nonce, msg);
		return;
	}
	if (id == NOISE_CIPHER_CHACHAPOLY)
		rc = crypto_aead_chacha20poly1305_ietf_decrypt_detached(buf_in,
		    NULL, buf_out, msg, buf_out + msg, NULL, 0, nonce, key);
	else
		rc = crypto_aead_aes256gcm_decrypt_detached_afternm(buf_in, NULL,
		    buf_out, msg, buf_out + msg, NULL, 0, nonce, &aes_st);
	if (rc != 0)
		die("raw decrypt", WEFT_ECRYPTO);
}

static double
raw_encrypt_round(enum noise_cipher_id id, enum raw_impl impl,
                  const uint8_t *key, size_t msg)
{
	double t0 = now_s();
	uint64_t n = 0;

	for (uint64_t done = 0; done < BYTES_PER_ROUND; done += msg)
		raw_seal(id, impl, key, n++, msg);
	return gbps((double)(n * msg), now_s() - t0);
}

/* The Noise CipherState as a session's transport cipher runs it (on
 * OpenSSL for AESGCM), or on libsodium (sodium). */
static double
noise_encrypt_round(enum noise_cipher_id id, bool sodium, const uint8_t *key,
                    size_t msg)
{
	struct noise_cipher c;
	double t0 = now_s();
	uint64_t done;
	size_t n;

	if (noise_cipher_init(&c, id, key) != 0)
		die("noise_cipher_init", WEFT_EINVAL);
	if (!sodium && noise_cipher_use_openssl(&c) != 0)
		die("noise_cipher_use_openssl", WEFT_ECRYPTO);
	for (done = 0; done < BYTES_PER_ROUND; done += msg)
		if (noise_cipher_encrypt(&c, NULL, 0, buf_in, msg, buf_out,
		    msg + NOISE_TAGLEN, &n) != 0)
			die("encrypt", WEFT_ECRYPTO);
	noise_cipher_wipe(&c);
	return gbps((double)done, now_s() - t0);
}

/* Raw AEAD both ways: what a session's send and receive must do. */
static double
raw_both_round(enum noise_cipher_id id, enum raw_impl impl, const uint8_t *key,
               size_t msg)
{
	double t0 = now_s();
	uint64_t n = 0;

	for (uint64_t done = 0; done < BYTES_PER_ROUND; done += msg) {
		raw_seal(id, impl, key, n, msg);
		raw_open(id, impl, key, n++, msg);
	}
	return gbps((double)(n * msg), now_s() - t0);
}

/* A weft session end to end: write a message, frame, feed the peer, read. */
static double
session_round(struct session *a, struct session *b, size_t msg)
{
	double t0 = now_s();
	uint64_t done;

	for (done = 0; done < BYTES_PER_ROUND; done += msg) {
		const uint8_t *p;
		size_t len;
		int rc = session_write(a, buf_in, msg);

		if (rc)
			die("session_write", rc);
		move(a, b);
		session_plain_peek(b, &p, &len);
		if (len != msg)
			die("session read", WEFT_ESTATE);
		session_plain_consume(b, len);
	}
	return gbps((double)done, now_s() - t0);
}

static double
max2(double a, double b)
{
	return a > b ? a : b;
}

/* For AES-256-GCM, raw_e/noise_e/raw_b are libsodium's and the o_ ones
 * OpenSSL's; the session runs on OpenSSL. */
struct figures {
	double raw_e, raw_e_expand, noise_e, raw_b, sess;
	double o_raw_e, o_noise_e, o_raw_b;
};

/* The two AESGCM codes must agree byte for byte, across a rekey too,
 * before their speeds mean anything. */
static void
check_same_bytes(const uint8_t *key)
{
	struct noise_cipher s, o;
	uint8_t a[1000 + NOISE_TAGLEN], b[sizeof(a)];
	size_t na, nb;

	if (noise_cipher_init(&s, NOISE_CIPHER_AESGCM, key) != 0 ||
	    noise_cipher_init(&o, NOISE_CIPHER_AESGCM, key) != 0 ||
	    noise_cipher_use_openssl(&o) != 0)
		die("AESGCM cipher", WEFT_ECRYPTO);
	for (int i = 0; i < 2; i++) {
		if (noise_cipher_encrypt(&s, key, 7, buf_in, 1000, a, sizeof(a),
		    &na) != 0 ||
		    noise_cipher_encrypt(&o, key, 7, buf_in, 1000, b, sizeof(b),
		    &nb) != 0 || na != nb || memcmp(a, b, na) != 0)
			die("OpenSSL and libsodium AES-256-GCM differ",
			    WEFT_ECRYPTO);
		if (noise_cipher_rekey(&s) != 0 || noise_cipher_rekey(&o) != 0)
			die("rekey", WEFT_ECRYPTO);
	}
	if (strcmp(noise_cipher_impl(&o), "OpenSSL") != 0)
		die("the OpenSSL cipher fell back to libsodium", WEFT_ECRYPTO);
	noise_cipher_wipe(&s);
	noise_cipher_wipe(&o);
}

int
main(void)
{
	static const struct {
		enum noise_pattern pat;
		const char *name;
	} pats[] = {{NOISE_PATTERN_IK, "IK"}, {NOISE_PATTERN_XX, "XX"}};
	static const struct {
		enum noise_cipher_id id;
		const char *aead;
	} ciphers[] = {
		{NOISE_CIPHER_CHACHAPOLY, "ChaCha20-Poly1305"},
		{NOISE_CIPHER_AESGCM, "AES-256-GCM"},
	};
	static const size_t sizes[] = {16384, MSG_MAX};
	struct figures fig[2][2] = {{{0}}};
	struct world w;
	uint8_t key[32];
	struct session *a[2] = {NULL}, *b[2] = {NULL};
	size_t nc;

	if (sodium_init() < 0)
		return 1;
	nc = noise_cipher_available(NOISE_CIPHER_AESGCM) ? 2 : 1;
	world_init(&w);
	printf("noise-bench: one core (per CPU second), libsodium %s, %s, "
	    "AES-NI %s\n", sodium_version_string(),
	    OpenSSL_version(OPENSSL_VERSION),
	    nc == 2 ? "yes" : "no (AESGCM skipped)");
	printf("\nhandshakes per second (initiator and responder both "
	    "computed in this process):\n");
	for (size_t i = 0; i < 2; i++) {
		printf("  %s  Noise BLAKE2b %8.0f   Noise SHA256 %8.0f   "
		    "weft session (BLAKE2b, certificates) %8.0f\n", pats[i].name,
		    handshake_rate(&w, pats[i].pat, NOISE_HASH_BLAKE2B, false),
		    handshake_rate(&w, pats[i].pat, NOISE_HASH_SHA256, false),
		    handshake_rate(&w, pats[i].pat, 0, true));
	}

	buf_in = calloc(1, MSG_MAX + 64);
	buf_out = calloc(1, MSG_MAX + 64);
	if (buf_in == NULL || buf_out == NULL)
		return 1;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(buf_in, MSG_MAX);
	if (nc == 2) {
		crypto_aead_aes256gcm_beforenm(&aes_st, key);
		ossl_tx = ossl_new(key);
		ossl_rx = ossl_new(key);
		check_same_bytes(key);
	}
	for (size_t c = 0; c < nc; c++) {
		session_pair(&w, false, SESSION_CIPHER_BIT(ciphers[c].id), &a[c],
		    &b[c]);
		if (session_peer(a[c])->cipher != ciphers[c].id)
			die("session suite", WEFT_ESTATE);
	}
	/* Rounds interleave every cipher and size, so a busy neighbour
	 * slows all of them alike. */
	for (int r = 0; r < ROUNDS; r++) {
		for (size_t c = 0; c < nc; c++) {
			for (size_t z = 0; z < 2; z++) {
				enum noise_cipher_id id = ciphers[c].id;
				struct figures *f = &fig[c][z];
				size_t m = sizes[z];

				f->raw_e = max2(f->raw_e,
				    raw_encrypt_round(id, RAW_SODIUM, key, m));
				f->noise_e = max2(f->noise_e,
				    noise_encrypt_round(id, true, key, m));
				f->raw_b = max2(f->raw_b,
				    raw_both_round(id, RAW_SODIUM, key, m));
				if (id == NOISE_CIPHER_AESGCM) {
					f->raw_e_expand = max2(f->raw_e_expand,
					    raw_encrypt_round(id, RAW_SODIUM_EXPAND,
					    key, m));
					f->o_raw_e = max2(f->o_raw_e,
					    raw_encrypt_round(id, RAW_OPENSSL, key,
					    m));
					f->o_noise_e = max2(f->o_noise_e,
					    noise_encrypt_round(id, false, key, m));
					f->o_raw_b = max2(f->o_raw_b,
					    raw_both_round(id, RAW_OPENSSL, key, m));
				}
				f->sess = max2(f->sess, session_round(a[c], b[c], m));
			}
		}
	}
	for (size_t c = 0; c < nc; c++) {
		session_free(a[c]);
		session_free(b[c]);
	}
	printf("\ntransport, best of %d rounds of %llu MiB (GB/s):\n", ROUNDS,
	    BYTES_PER_ROUND >> 20);
	for (size_t c = 0; c < nc; c++) {
		for (size_t z = 0; z < 2; z++) {
			struct figures *f = &fig[c][z];

			if (ciphers[c].id == NOISE_CIPHER_AESGCM) {
				printf("  %-29s %5zu B  encrypt: raw %.2f (key "
				    "expanded per call %.2f)  Noise %.2f (%.3f)   "
				    "send+receive: raw %.2f\n",
				    "AES-256-GCM libsodium", sizes[z], f->raw_e,
				    f->raw_e_expand, f->noise_e,
				    f->noise_e / f->raw_e, f->raw_b);
				printf("  %-29s %5zu B  encrypt: raw %.2f  Noise "
				    "%.2f (%.3f)   send+receive: raw %.2f  weft "
				    "session %.2f (%.3f)\n",
				    "AES-256-GCM OpenSSL (weft's)", sizes[z],
				    f->o_raw_e, f->o_noise_e,
				    f->o_noise_e / f->o_raw_e, f->o_raw_b, f->sess,
				    f->sess / f->o_raw_b);
				continue;
			}
			printf("  %-29s %5zu B  encrypt: raw %.2f  Noise %.2f "
			    "(%.3f)   send+receive: raw %.2f  weft session %.2f "
			    "(%.3f)\n", ciphers[c].aead, sizes[z], f->raw_e,
			    f->noise_e, f->noise_e / f->raw_e, f->raw_b, f->sess,
			    f->sess / f->raw_b);
		}
	}
	/* One line for tools/bench/proxy: encrypt, 16 KiB, per AEAD; the
	 * last AES-256-GCM figure is the code weft runs (OpenSSL). */
	printf("\nsingle-core AEAD encrypt, 16384-byte records: "
	    "ChaCha20-Poly1305 %.2f GB/s, libsodium AES-GCM %.2f GB/s, "
	    "AES-256-GCM %.2f GB/s (OpenSSL)\n", fig[0][0].raw_e,
	    nc == 2 ? fig[1][0].raw_e : 0.0, nc == 2 ? fig[1][0].o_raw_e : 0.0);
	EVP_CIPHER_CTX_free(ossl_tx);
	EVP_CIPHER_CTX_free(ossl_rx);
	free(buf_in);
	free(buf_out);
	return 0;
}
