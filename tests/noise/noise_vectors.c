/*
 * noise-vectors FILE...: runs every vector of cacophony-format JSON files
 * through crypto/noise.  Prints one line per failing vector and ends with
 * "N passed, N failed"; exits non-zero when any vector fails, including
 * one whose protocol this implementation cannot run.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "common/err.h"
#include "common/hex.h"
#include "crypto/noise.h"

#define FIELD_MAX NOISE_MAX_MSG

struct bytes {
	uint8_t *p;
	size_t len;
	bool present;
};

/* One fixed ephemeral key per side; a second draw is a bug in the
 * handshake (no supported pattern has two e tokens per side). */
struct fixed_rng {
	const struct bytes *key;
	int used;
};

static int
fixed_fill(void *ctx, void *out, size_t n)
{
	struct fixed_rng *r = ctx;

	if (r->key == NULL || !r->key->present || r->key->len != n || r->used)
		return WEFT_ESTATE;
	memcpy(out, r->key->p, n);
	r->used++;
	return 0;
}

struct vec {
	char name[NOISE_NAME_MAX + 1];
	char err[256];
	struct bytes init_prologue, resp_prologue;
	struct bytes init_static, resp_static;
	struct bytes init_ephemeral, resp_ephemeral;
	struct bytes init_remote_static;
	struct bytes init_psk, resp_psk;
	struct bytes handshake_hash;
};

static void
bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int
parse_hex(const char *s, struct bytes *out)
{
	size_t n = strlen(s);

	memset(out, 0, sizeof(*out));
	if (n % 2 || n / 2 > FIELD_MAX)
		return -1;
	out->p = malloc(n / 2 + 1);
	if (out->p == NULL)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_digit_value(s[2 * i]);
		int lo = hex_digit_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			bytes_free(out);
			return -1;
		}
		out->p[i] = (uint8_t)(hi << 4 | lo);
	}
	out->len = n / 2;
	out->present = true;
	return 0;
}

static void set_err(struct vec *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_err(struct vec *v, const char *fmt, ...)
{
	va_list ap;

	if (v->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(v->err, sizeof(v->err), fmt, ap);
	va_end(ap);
}

/* A hex field, or (for psks) the first element of a list of them. */
static int
get_field(json_t *o, const char *key, struct bytes *out, struct vec *v)
{
	json_t *f = json_object_get(o, key);

	memset(out, 0, sizeof(*out));
	if (f == NULL)
		return 0;
	if (json_is_array(f)) {
		if (json_array_size(f) == 0)
			return 0;
		if (json_array_size(f) != 1) {
			set_err(v, "%s: more than one psk", key);
			return -1;
		}
		f = json_array_get(f, 0);
	}
	if (!json_is_string(f) || parse_hex(json_string_value(f), out) != 0) {
		set_err(v, "%s: not a hex string", key);
		return -1;
	}
	return 0;
}

static bool
check_len(struct vec *v, const char *what, const struct bytes *b, size_t len)
{
	if (b->present && b->len != len) {
		set_err(v, "%s: %zu bytes, want %zu", what, b->len, len);
		return false;
	}
	return true;
}

static void
flip_must_fail_hs(struct vec *v, size_t i, const struct noise_handshake *rx,
                  const uint8_t *ct, size_t len)
{
	struct noise_handshake copy = *rx;
	uint8_t *bad = malloc(len ? len : 1);
	uint8_t out[FIELD_MAX];
	size_t n;

	if (bad == NULL || len == 0) {
		free(bad);
		return;
	}
	memcpy(bad, ct, len);
	bad[len - 1] ^= 0x01;
	if (noise_handshake_read(&copy, bad, len, out, sizeof(out), &n) == 0)
		set_err(v, "message %zu: a flipped bit was accepted", i);
	noise_handshake_wipe(&copy);
	free(bad);
}

static void
flip_must_fail_transport(struct vec *v, size_t i, const struct noise_cipher *rx,
                         const uint8_t *ct, size_t len, size_t bit)
{
	struct noise_cipher copy = *rx;
	uint8_t *bad = malloc(len ? len : 1);
	uint8_t out[FIELD_MAX];
	size_t n;

	if (bad == NULL || len == 0) {
		free(bad);
		return;
	}
	memcpy(bad, ct, len);
	bad[(bit / 8) % len] ^= (uint8_t)(1u << (bit % 8));
	if (noise_cipher_decrypt(&copy, NULL, 0, bad, len, out, sizeof(out),
	    &n) == 0)
		set_err(v, "message %zu: a flipped bit was accepted", i);
	noise_cipher_wipe(&copy);
	free(bad);
}

static void
run_messages(struct vec *v, json_t *msgs, const struct noise_protocol *proto,
             struct noise_handshake *ini, struct noise_handshake *res)
{
	size_t n_hs = noise_protocol_messages(proto);
	struct noise_cipher ini_send = {0}, ini_recv = {0};
	struct noise_cipher res_send = {0}, res_recv = {0};
	static uint8_t out[FIELD_MAX], back[FIELD_MAX];
	size_t n_msgs = json_array_size(msgs);

	if (!json_is_array(msgs) || n_msgs < n_hs) {
		set_err(v, "messages: fewer than the %zu handshake messages", n_hs);
		return;
	}
	for (size_t i = 0; i < n_msgs && !v->err[0]; i++) {
		json_t *m = json_array_get(msgs, i);
		bool from_ini = i % 2 == 0;
		struct bytes payload, ct;
		size_t n, pn;
		int rc;

		if (!json_is_object(m) || get_field(m, "payload", &payload, v) ||
		    get_field(m, "ciphertext", &ct, v))
			goto next;
		if (!payload.present || !ct.present) {
			set_err(v, "message %zu: payload or ciphertext missing", i);
			goto next;
		}
		if (i < n_hs) {
			struct noise_handshake *tx = from_ini ? ini : res;
			struct noise_handshake *rx = from_ini ? res : ini;

			rc = noise_handshake_write(tx, payload.p, payload.len, out,
			    sizeof(out), &n);
			if (rc) {
				set_err(v, "message %zu: write failed: %s", i,
				    weft_strerror(rc));
				goto next;
			}
			if (n != ct.len || memcmp(out, ct.p, n) != 0) {
				set_err(v, "message %zu: handshake ciphertext differs",
				    i);
				goto next;
			}
			/* Only a message with a tag can notice a flip; NN's
			 * and XX's first are plaintext by design. */
			if (i > 0 || ct.len >= payload.len + NOISE_DHLEN +
			    NOISE_TAGLEN)
				flip_must_fail_hs(v, i, rx, ct.p, ct.len);
			rc = noise_handshake_read(rx, ct.p, ct.len, back,
			    sizeof(back), &pn);
			if (rc) {
				set_err(v, "message %zu: read failed: %s", i,
				    weft_strerror(rc));
				goto next;
			}
		} else {
			struct noise_cipher *tx = from_ini ? &ini_send : &res_send;
			struct noise_cipher *rx = from_ini ? &res_recv : &ini_recv;

			rc = noise_cipher_encrypt(tx, NULL, 0, payload.p,
			    payload.len, out, sizeof(out), &n);
			if (rc) {
				set_err(v, "message %zu: encrypt failed: %s", i,
				    weft_strerror(rc));
				goto next;
			}
			if (n != ct.len || memcmp(out, ct.p, n) != 0) {
				set_err(v, "message %zu: transport ciphertext differs",
				    i);
				goto next;
			}
			flip_must_fail_transport(v, i, rx, ct.p, ct.len, i * 37);
			rc = noise_cipher_decrypt(rx, NULL, 0, ct.p, ct.len, back,
			    sizeof(back), &pn);
			if (rc) {
				set_err(v, "message %zu: decrypt failed: %s", i,
				    weft_strerror(rc));
				goto next;
			}
		}
		if (pn != payload.len || memcmp(back, payload.p, pn) != 0)
			set_err(v, "message %zu: decrypted payload differs", i);

		if (i + 1 == n_hs && !v->err[0]) {
			size_t hl1, hl2;
			const uint8_t *h1 = noise_handshake_hash(ini, &hl1);
			const uint8_t *h2 = noise_handshake_hash(res, &hl2);

			if (noise_handshake_action(ini) != NOISE_ACTION_SPLIT ||
			    noise_handshake_action(res) != NOISE_ACTION_SPLIT)
				set_err(v, "handshake not finished after %zu "
				    "messages", n_hs);
			else if (hl1 != hl2 || memcmp(h1, h2, hl1) != 0)
				set_err(v, "the two sides' handshake hashes differ");
			else if (v->handshake_hash.present &&
			    (v->handshake_hash.len != hl1 ||
			    memcmp(v->handshake_hash.p, h1, hl1) != 0))
				set_err(v, "handshake_hash differs");
			else if (noise_handshake_split(ini, &ini_send,
			    &ini_recv) != 0 ||
			    noise_handshake_split(res, &res_send, &res_recv) != 0)
				set_err(v, "split failed");
		}
next:
		bytes_free(&payload);
		bytes_free(&ct);
	}
	noise_cipher_wipe(&ini_send);
	noise_cipher_wipe(&ini_recv);
	noise_cipher_wipe(&res_send);
	noise_cipher_wipe(&res_recv);
}

static void
run_vector(struct vec *v, json_t *o)
{
	struct noise_protocol proto;
	struct noise_handshake ini, res;
	struct noise_handshake_params pi = {0}, pr = {0};
	struct fixed_rng ri = {0}, rr = {0};
	struct weft_rng wri = {fixed_fill, &ri}, wrr = {fixed_fill, &rr};
	uint8_t derived_rs[NOISE_DHLEN];
	json_t *name = json_object_get(o, "protocol_name");
	int rc;

	if (name == NULL)
		name = json_object_get(o, "name");
	if (!json_is_string(name)) {
		set_err(v, "no protocol_name");
		return;
	}
	snprintf(v->name, sizeof(v->name), "%s", json_string_value(name));
	if (noise_protocol_parse(json_string_value(name), &proto) != 0) {
		set_err(v, "cannot run protocol %s", json_string_value(name));
		return;
	}
	if (get_field(o, "init_prologue", &v->init_prologue, v) ||
	    get_field(o, "resp_prologue", &v->resp_prologue, v) ||
	    get_field(o, "init_static", &v->init_static, v) ||
	    get_field(o, "resp_static", &v->resp_static, v) ||
	    get_field(o, "init_ephemeral", &v->init_ephemeral, v) ||
	    get_field(o, "resp_ephemeral", &v->resp_ephemeral, v) ||
	    get_field(o, "init_remote_static", &v->init_remote_static, v) ||
	    get_field(o, "init_psks", &v->init_psk, v) ||
	    get_field(o, "resp_psks", &v->resp_psk, v) ||
	    get_field(o, "handshake_hash", &v->handshake_hash, v))
		return;
	if (!v->init_psk.present && get_field(o, "init_psk", &v->init_psk, v))
		return;
	if (!v->resp_psk.present && get_field(o, "resp_psk", &v->resp_psk, v))
		return;
	if (!check_len(v, "init_static", &v->init_static, NOISE_DHLEN) ||
	    !check_len(v, "resp_static", &v->resp_static, NOISE_DHLEN) ||
	    !check_len(v, "init_ephemeral", &v->init_ephemeral, NOISE_DHLEN) ||
	    !check_len(v, "resp_ephemeral", &v->resp_ephemeral, NOISE_DHLEN) ||
	    !check_len(v, "init_remote_static", &v->init_remote_static,
	    NOISE_DHLEN) ||
	    !check_len(v, "init_psks", &v->init_psk, NOISE_PSKLEN) ||
	    !check_len(v, "resp_psks", &v->resp_psk, NOISE_PSKLEN))
		return;

	ri.key = &v->init_ephemeral;
	rr.key = &v->resp_ephemeral;
	pi.protocol = pr.protocol = proto;
	pi.initiator = true;
	pi.prologue = v->init_prologue.p;
	pi.prologue_len = v->init_prologue.len;
	pr.prologue = v->resp_prologue.p;
	pr.prologue_len = v->resp_prologue.len;
	pi.static_sk = v->init_static.p;
	pr.static_sk = v->resp_static.p;
	pi.remote_static = v->init_remote_static.p;
	/* The pre-message key is public knowledge derivable from the
	 * responder's private key when a file leaves it out. */
	if (pi.remote_static == NULL && v->resp_static.present &&
	    noise_protocol_needs_remote_static(&proto)) {
		if (noise_dh_public(derived_rs, v->resp_static.p) == 0)
			pi.remote_static = derived_rs;
	}
	pi.psk = v->init_psk.p;
	pr.psk = v->resp_psk.p;
	pi.rng = &wri;
	pr.rng = &wrr;
	rc = noise_handshake_init(&ini, &pi);
	if (rc == 0)
		rc = noise_handshake_init(&res, &pr);
	if (rc) {
		set_err(v, "cannot set up the handshake (missing key?): %s",
		    weft_strerror(rc));
		noise_handshake_wipe(&ini);
		return;
	}
	run_messages(v, json_object_get(o, "messages"), &proto, &ini, &res);
	noise_handshake_wipe(&ini);
	noise_handshake_wipe(&res);
}

static void
vec_free(struct vec *v)
{
	bytes_free(&v->init_prologue);
	bytes_free(&v->resp_prologue);
	bytes_free(&v->init_static);
	bytes_free(&v->resp_static);
	bytes_free(&v->init_ephemeral);
	bytes_free(&v->resp_ephemeral);
	bytes_free(&v->init_remote_static);
	bytes_free(&v->init_psk);
	bytes_free(&v->resp_psk);
	bytes_free(&v->handshake_hash);
}

int
main(int argc, char **argv)
{
	unsigned passed = 0, failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: noise-vectors FILE...\n");
		return 2;
	}
	/* AESGCM is available only once libsodium has looked at the CPU. */
	if (sodium_init() < 0) {
		fprintf(stderr, "noise-vectors: sodium_init failed\n");
		return 2;
	}
	for (int a = 1; a < argc; a++) {
		json_error_t jerr;
		json_t *root = json_load_file(argv[a], 0, &jerr);
		json_t *list;

		if (root == NULL) {
			printf("%s: cannot read: %s (line %d)\n", argv[a], jerr.text,
			    jerr.line);
			failed++;
			continue;
		}
		list = json_is_array(root) ? root :
		    json_object_get(root, "vectors");
		if (!json_is_array(list)) {
			printf("%s: no \"vectors\" array\n", argv[a]);
			failed++;
			json_decref(root);
			continue;
		}
		for (size_t i = 0; i < json_array_size(list); i++) {
			struct vec v;

			memset(&v, 0, sizeof(v));
			if (!json_is_object(json_array_get(list, i)))
				set_err(&v, "not an object");
			else
				run_vector(&v, json_array_get(list, i));
			if (v.err[0]) {
				printf("%s: vector %zu (%s): %s\n", argv[a], i,
				    v.name[0] ? v.name : "?", v.err);
				failed++;
			} else {
				passed++;
			}
			vec_free(&v);
		}
		json_decref(root);
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
