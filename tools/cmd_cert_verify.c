/*
 * weft cert verify: would an agent trusting BUNDLE accept this node
 * certificate now?  The answer is the exit status, with the reason.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "crypto/armor.h"
#include "crypto/bundle.h"
#include "crypto/cert.h"
#include "crypto/revoke.h"
#include "tools/cli.h"
#include "tools/commands.h"

#define VERIFY_FILE_MAX (1024 * 1024)
#define VERIFY_MAX_REVOKED 256

enum { OPT_CA, OPT_SKEW, OPT_REVOKED, N_OPTS };

/* The key ids of a revocation file, each statement checked against the
 * bundle first: a revocation no trusted CA signed means nothing. */
struct revoked_set {
	uint8_t ids[VERIFY_MAX_REVOKED][KEY_ID_LEN];
	size_t n;
};

static bool
revoked_has(void *ctx, const uint8_t key_id[KEY_ID_LEN])
{
	const struct revoked_set *s = ctx;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (memcmp(s->ids[i], key_id, KEY_ID_LEN) == 0)
			return true;
	return false;
}

static int
load_revoked(const char *path, const struct bundle *b,
             struct revoked_set *s)
{
	struct revoke r;
	uint8_t *der;
	size_t len, der_len, pos = 0;
	char *text;
	int rc;

	if ((rc = cli_read_file(path, VERIFY_FILE_MAX, false, &text,
	                        &len)) != 0)
		return rc;
	for (s->n = 0;; s->n++) {
		rc = armor_decode_next(text, len, &pos, REVOKE_ARMOR_LABEL,
		                       &der, &der_len);
		if (rc == WEFT_ENOENT) {
			rc = s->n > 0 ? 0
			     : cli_fail(path, "no WEFT " REVOKE_ARMOR_LABEL
			                " block in it");
			break;
		}
		if (rc) {
			rc = cli_fail(path, "revocation %zu: broken armour "
			              "(%s)", s->n + 1, weft_strerror(rc));
			break;
		}
		if (s->n == VERIFY_MAX_REVOKED) {
			free(der);
			rc = cli_fail(path, "more than %d revocations",
			              VERIFY_MAX_REVOKED);
			break;
		}
		rc = revoke_decode(der, der_len, &r);
		free(der);
		if (rc) {
			rc = cli_fail(path, "revocation %zu: cannot decode it "
			              "(%s)", s->n + 1, weft_strerror(rc));
			break;
		}
		if ((rc = revoke_verify(&r, b)) != 0) {
			rc = cli_fail(path, "revocation %zu: not signed by a "
			              "CA of the bundle (%s)", s->n + 1,
			              weft_strerror(rc));
			break;
		}
		memcpy(s->ids[s->n], r.key_id, KEY_ID_LEN);
	}
	free(text);
	return rc;
}

static int
load_bundle(const char *path, struct bundle *b)
{
	size_t len, bad = 0;
	char *text;
	int rc;

	if ((rc = cli_read_file(path, VERIFY_FILE_MAX, false, &text,
	                        &len)) != 0)
		return rc;
	memset(b, 0, sizeof(*b));
	rc = bundle_parse(b, text, len, &bad);
	free(text);
	if (rc == WEFT_ENOENT)
		return cli_fail(path, "no CA certificate in it");
	if (rc)
		return cli_fail(path, "certificate %zu: not a usable CA "
		                "certificate (%s)", bad + 1, weft_strerror(rc));
	return 0;
}

/* An invalid certificate is an answer, not a failure of the command: it
 * goes to stdout like "valid" does, and only the exit status differs. */
static int invalid(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
invalid(const char *path, const char *fmt, ...)
{
	va_list ap;

	printf("%s: invalid: ", path);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return CLI_EXIT_FAIL;
}

/* The first certificate of the file, or why there is none to check. */
static int
load_subject(const char *path, struct cert *c)
{
	uint8_t *der;
	size_t len, der_len, pos = 0;
	char *text;
	int rc;

	if ((rc = cli_read_file(path, VERIFY_FILE_MAX, false, &text,
	                        &len)) != 0)
		return rc;
	rc = armor_decode_next(text, len, &pos, CERT_ARMOR_LABEL, &der,
	                       &der_len);
	free(text);
	if (rc == WEFT_ENOENT)
		return invalid(path, "no certificate in the file");
	if (rc)
		return invalid(path, "broken armour (%s)", weft_strerror(rc));
	memset(c, 0, sizeof(*c));
	rc = cert_decode(der, der_len, c);
	free(der);
	if (rc)
		return invalid(path, "does not decode as a certificate (%s)",
		               weft_strerror(rc));
	return 0;
}

int
cert_verify_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[N_OPTS] = {
		[OPT_CA] = { .name = "ca", .metavar = "BUNDLE",
		             .required = true },
		[OPT_SKEW] = { .name = "skew", .metavar = "DURATION" },
		[OPT_REVOKED] = { .name = "revoked", .metavar = "FILE" },
	};
	struct cli_args a = { .opts = opts, .n_opts = N_OPTS, .min_pos = 1,
	                      .max_pos = 1 };
	char id[KEY_ID_HEX_LEN + 1], why[160], left[96];
	struct cert_revocations revocations = { .is_revoked = revoked_has };
	struct revoked_set *revoked = NULL;
	struct cert_verdict v;
	struct bundle *b;
	struct cert c;
	const char *path;
	int64_t skew = 300, now;
	int rc;

	if (!cli_parse(ctx, &a, argc, argv, &rc))
		return rc;
	path = a.pos[0];
	if (opts[OPT_SKEW].given &&
	    cli_parse_duration(opts[OPT_SKEW].value, true, &skew) != 0)
		return cli_usage_error(ctx, "--skew '%s' is not a duration "
		                       "(like 5m, 30s, 0)",
		                       opts[OPT_SKEW].value);
	/* A bundle holds up to 16 certificates with their storage inline:
	 * too big for the stack of a small tool. */
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return cli_fail("cert verify", "out of memory");
	if ((rc = load_bundle(opts[OPT_CA].value, b)) != 0) {
		free(b);
		return rc;
	}
	if (opts[OPT_REVOKED].given) {
		revoked = calloc(1, sizeof(*revoked));
		if (revoked == NULL) {
			rc = cli_fail("cert verify", "out of memory");
			goto out;
		}
		rc = load_revoked(opts[OPT_REVOKED].value, b, revoked);
		if (rc)
			goto out;
		revocations.ctx = revoked;
	}
	if ((rc = load_subject(path, &c)) != 0)
		goto out;
	now = (int64_t)time(NULL);
	memset(&v, 0, sizeof(v));
	rc = cert_verify(&c, b, now, skew, revoked ? &revocations : NULL, &v);
	if (rc == 0 && v.reason == CERT_VALID) {
		key_id_hex(id, c.key_id);
		cli_time_left(c.not_before, c.not_after, now, left,
		              sizeof(left));
		printf("%s: valid (node %s, key id %s, %s)\n", path, c.name, id,
		       left);
	} else {
		cert_verdict_format(&v, why, sizeof(why));
		rc = invalid(path, "%s", why);
	}
	cert_free(&c);
out:
	free(revoked);
	bundle_free(b);
	free(b);
	return rc;
}
