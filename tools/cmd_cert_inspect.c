/*
 * weft cert inspect: what a certificate, bundle or revocation file says,
 * as text or JSON.  It shows; it does not verify.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/err.h"
#include "common/hex.h"
#include "crypto/armor.h"
#include "crypto/cert.h"
#include "crypto/revoke.h"
#include "tools/cli.h"
#include "tools/commands.h"

#define INSPECT_FILE_MAX (1024 * 1024)
#define INSPECT_MAX_ITEMS 64

enum { OPT_JSON, N_OPTS };

struct inspected {
	struct cert certs[INSPECT_MAX_ITEMS];
	size_t n_certs;
	struct revoke revs[INSPECT_MAX_ITEMS];
	size_t n_revs;
};

static void
inspected_free(struct inspected *in)
{
	size_t i;

	for (i = 0; i < in->n_certs; i++)
		cert_free(&in->certs[i]);
	in->n_certs = 0;
}

/* Decodes every block with label, certificates or revocations. */
static int
decode_blocks(const char *path, const char *text, size_t len,
              const char *label, struct inspected *in)
{
	bool is_cert = strcmp(label, CERT_ARMOR_LABEL) == 0;
	const char *what = is_cert ? "certificate" : "revocation";
	size_t pos = 0, *n = is_cert ? &in->n_certs : &in->n_revs;
	uint8_t *der;
	size_t der_len;
	int rc;

	for (;;) {
		rc = armor_decode_next(text, len, &pos, label, &der, &der_len);
		if (rc == WEFT_ENOENT)
			return 0;
		if (rc)
			return cli_fail(path, "%s %zu: broken armour (%s)",
			                what, *n + 1, weft_strerror(rc));
		if (*n == INSPECT_MAX_ITEMS) {
			free(der);
			return cli_fail(path, "more than %d %ss",
			                INSPECT_MAX_ITEMS, what);
		}
		if (is_cert) {
			memset(&in->certs[*n], 0, sizeof(in->certs[*n]));
			rc = cert_decode(der, der_len, &in->certs[*n]);
		} else {
			rc = revoke_decode(der, der_len, &in->revs[*n]);
		}
		free(der);
		if (rc)
			return cli_fail(path, "%s %zu: cannot decode it (%s)",
			                what, *n + 1, weft_strerror(rc));
		(*n)++;
	}
}

static void
print_list(const char *label, const char *const *items, size_t n)
{
	size_t i;

	printf("  %-13s", label);
	if (n == 0)
		printf("(none)");
	for (i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "", items[i]);
	printf("\n");
}

static void
print_cert(const struct cert *c, int64_t now)
{
	char id[KEY_ID_HEX_LEN + 1], issuer[KEY_ID_HEX_LEN + 1];
	char t[CLI_TIME_LEN], left[96], pk[2 * KEY_PK_LEN + 1];

	key_id_hex(id, c->key_id);
	key_id_hex(issuer, c->issuer);
	printf("certificate\n");
	printf("  %-13s%s\n", "name:", c->name);
	printf("  %-13s%s\n", "kind:", c->is_ca ? "CA" : "node");
	printf("  %-13s%s\n", "key id:", id);
	printf("  %-13s%s%s\n", "issuer:", issuer,
	       memcmp(c->issuer, c->key_id, KEY_ID_LEN) == 0
	               ? " (self-signed)" : "");
	print_list("services:", c->services, c->n_services);
	print_list("groups:", c->groups, c->n_groups);
	cli_format_time(c->not_before, t);
	printf("  %-13s%s\n", "not before:", t);
	cli_format_time(c->not_after, t);
	printf("  %-13s%s\n", "not after:", t);
	cli_time_left(c->not_before, c->not_after, now, left, sizeof(left));
	printf("  %-13s%s\n", "time left:", left);
	hex_encode(pk, c->sign_pk, KEY_PK_LEN);
	printf("  %-13s%s\n", "ed25519:", pk);
	if (c->is_ca) {
		printf("  %-13s%s\n", "x25519:", "(none: a CA signs only)");
	} else {
		hex_encode(pk, c->dh_pk, KEY_PK_LEN);
		printf("  %-13s%s\n", "x25519:", pk);
	}
}

static void
print_revoke(const struct revoke *r)
{
	char id[KEY_ID_HEX_LEN + 1], t[CLI_TIME_LEN];

	printf("revocation\n");
	key_id_hex(id, r->key_id);
	printf("  %-13s%s\n", "key id:", id);
	cli_format_time(r->revoked_at, t);
	printf("  %-13s%s\n", "revoked at:", t);
	cli_format_time(r->until, t);
	printf("  %-13s%s\n", "until:", t);
	printf("  %-13s%s\n", "reason:", r->reason);
	key_id_hex(id, r->issuer);
	printf("  %-13s%s\n", "issuer:", id);
}

/* jansson's setters steal references and fail only on allocation; one
 * check of the finished document is enough, so failures are collected. */
static bool
set(json_t *obj, const char *key, json_t *v)
{
	return v != NULL && json_object_set_new(obj, key, v) == 0;
}

static json_t *
json_time(int64_t t)
{
	char s[CLI_TIME_LEN];

	cli_format_time(t, s);
	return json_string(s);
}

static json_t *
json_names(const char *const *items, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++) {
		if (json_array_append_new(a, json_string(items[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
json_cert(const struct cert *c, int64_t now)
{
	char id[KEY_ID_HEX_LEN + 1], issuer[KEY_ID_HEX_LEN + 1];
	char left[96], pk[2 * KEY_PK_LEN + 1], dh[2 * KEY_PK_LEN + 1];
	json_t *o = json_object();
	bool ok;

	if (o == NULL)
		return NULL;
	key_id_hex(id, c->key_id);
	key_id_hex(issuer, c->issuer);
	cli_time_left(c->not_before, c->not_after, now, left, sizeof(left));
	hex_encode(pk, c->sign_pk, KEY_PK_LEN);
	hex_encode(dh, c->dh_pk, KEY_PK_LEN);
	ok = set(o, "name", json_string(c->name)) &&
	     set(o, "kind", json_string(c->is_ca ? "ca" : "node")) &&
	     set(o, "key_id", json_string(id)) &&
	     set(o, "issuer", json_string(issuer)) &&
	     set(o, "services", json_names(c->services, c->n_services)) &&
	     set(o, "groups", json_names(c->groups, c->n_groups)) &&
	     set(o, "not_before", json_time(c->not_before)) &&
	     set(o, "not_after", json_time(c->not_after)) &&
	     set(o, "not_before_unix", json_integer(c->not_before)) &&
	     set(o, "not_after_unix", json_integer(c->not_after)) &&
	     set(o, "seconds_left", json_integer(c->not_after - now)) &&
	     set(o, "time_left", json_string(left)) &&
	     set(o, "ed25519", json_string(pk)) &&
	     set(o, "x25519", c->is_ca ? json_null() : json_string(dh));
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *
json_revoke(const struct revoke *r)
{
	char id[KEY_ID_HEX_LEN + 1], issuer[KEY_ID_HEX_LEN + 1];
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	key_id_hex(id, r->key_id);
	key_id_hex(issuer, r->issuer);
	if (!(set(o, "key_id", json_string(id)) &&
	      set(o, "revoked_at", json_time(r->revoked_at)) &&
	      set(o, "until", json_time(r->until)) &&
	      set(o, "revoked_at_unix", json_integer(r->revoked_at)) &&
	      set(o, "until_unix", json_integer(r->until)) &&
	      set(o, "reason", json_string(r->reason)) &&
	      set(o, "issuer", json_string(issuer)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int
print_json(const char *path, const struct inspected *in, int64_t now)
{
	json_t *doc = json_object(), *certs = json_array();
	json_t *revs = json_array();
	bool ok;
	size_t i;

	/* The document takes the arrays over before they are filled
	 * (json_object_set_new takes its value even when it fails), so
	 * releasing the document releases everything. */
	if (doc == NULL || !set(doc, "file", json_string(path))) {
		json_decref(doc);
		json_decref(certs);
		json_decref(revs);
		return cli_fail(path, "out of memory");
	}
	ok = set(doc, "certificates", certs);
	ok = set(doc, "revocations", revs) && ok;
	for (i = 0; ok && i < in->n_certs; i++)
		ok = json_array_append_new(certs, json_cert(&in->certs[i],
		                                            now)) == 0;
	for (i = 0; ok && i < in->n_revs; i++)
		ok = json_array_append_new(revs,
		                           json_revoke(&in->revs[i])) == 0;
	if (ok)
		ok = json_dumpf(doc, stdout, JSON_INDENT(2)) == 0;
	json_decref(doc);
	if (!ok)
		return cli_fail(path, "cannot build the JSON output");
	printf("\n");
	return 0;
}

int
cert_inspect_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[N_OPTS] = {
		[OPT_JSON] = { .name = "json" },
	};
	struct cli_args a = { .opts = opts, .n_opts = N_OPTS, .min_pos = 1,
	                      .max_pos = 1 };
	struct inspected *in;
	const char *path;
	int64_t now;
	char *text;
	size_t len, i;
	int rc;

	if (!cli_parse(ctx, &a, argc, argv, &rc))
		return rc;
	path = a.pos[0];
	if ((rc = cli_read_file(path, INSPECT_FILE_MAX, false, &text,
	                        &len)) != 0)
		return rc;
	in = calloc(1, sizeof(*in));
	if (in == NULL) {
		free(text);
		return cli_fail(path, "out of memory");
	}
	rc = decode_blocks(path, text, len, CERT_ARMOR_LABEL, in);
	if (rc == 0)
		rc = decode_blocks(path, text, len, REVOKE_ARMOR_LABEL, in);
	if (rc == 0 && in->n_certs == 0 && in->n_revs == 0) {
		rc = strstr(text, "-----BEGIN WEFT PRIVATE KEY-----") != NULL
		             ? cli_fail(path, "a private key; inspect the "
		                        "certificate next to it instead")
		             : cli_fail(path, "no WEFT " CERT_ARMOR_LABEL
		                        " or WEFT " REVOKE_ARMOR_LABEL
		                        " block in it");
	}
	/* Wiped, not just freed: someone may have pointed us at a key. */
	key_text_free(text, len);
	now = (int64_t)time(NULL);
	if (rc == 0 && opts[OPT_JSON].given) {
		rc = print_json(path, in, now);
	} else if (rc == 0) {
		for (i = 0; i < in->n_certs; i++) {
			if (i > 0)
				printf("\n");
			print_cert(&in->certs[i], now);
		}
		for (i = 0; i < in->n_revs; i++) {
			if (i > 0 || in->n_certs > 0)
				printf("\n");
			print_revoke(&in->revs[i]);
		}
	}
	inspected_free(in);
	free(in);
	return rc;
}
