/*
 * weft cert revoke: a CA-signed statement that a key id is revoked, for
 * the cluster to gossip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/file.h"
#include "crypto/armor.h"
#include "crypto/revoke.h"
#include "tools/ca_dir.h"
#include "tools/cli.h"
#include "tools/commands.h"

enum { OPT_CA, OPT_KEY_ID, OPT_REASON, OPT_UNTIL, OPT_OUT, N_OPTS };

static int
write_revocation(const char *path, const uint8_t *data, size_t len)
{
	char *text;
	size_t text_len;
	int rc;

	rc = armor_encode(REVOKE_ARMOR_LABEL, data, len, &text, &text_len);
	if (rc)
		return cli_fail(path, "cannot encode it (%s)",
		                weft_strerror(rc));
	rc = file_write_atomic(path, text, text_len, 0644, 1);
	free(text);
	if (rc == WEFT_EEXIST)
		return cli_fail(path, "already exists; refusing to overwrite "
		                "it");
	if (rc)
		return cli_fail(path, "cannot write it (%s)",
		                weft_strerror(rc));
	return 0;
}

int
cert_revoke_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[N_OPTS] = {
		[OPT_CA] = { .name = "ca", .metavar = "DIR", .required = true },
		[OPT_KEY_ID] = { .name = "key-id", .metavar = "HEX",
		                 .required = true },
		[OPT_REASON] = { .name = "reason", .metavar = "TEXT" },
		[OPT_UNTIL] = { .name = "until", .metavar = "TIME" },
		[OPT_OUT] = { .name = "out", .metavar = "FILE",
		              .required = true },
	};
	struct cli_args a = { .opts = opts, .n_opts = N_OPTS };
	uint8_t key_id[KEY_ID_LEN], *rev = NULL;
	char until_s[CLI_TIME_LEN], id[KEY_ID_HEX_LEN + 1];
	const char *reason = "unspecified", *out;
	struct ca_dir ca;
	int64_t now, until = 0;
	size_t rev_len;
	int rc;

	if (!cli_parse(ctx, &a, argc, argv, &rc))
		return rc;
	out = opts[OPT_OUT].value;
	if (key_id_parse(key_id, opts[OPT_KEY_ID].value) != 0)
		return cli_usage_error(ctx, "--key-id '%s' is not a key id "
		                       "(%d hex digits)",
		                       opts[OPT_KEY_ID].value, KEY_ID_HEX_LEN);
	if (opts[OPT_REASON].given) {
		reason = opts[OPT_REASON].value;
		if (strlen(reason) > REVOKE_REASON_MAX)
			return cli_usage_error(ctx, "--reason is longer than "
			                       "%d bytes", REVOKE_REASON_MAX);
	}
	now = (int64_t)time(NULL);
	if (opts[OPT_UNTIL].given) {
		if (cli_parse_time(opts[OPT_UNTIL].value, now, &until) != 0)
			return cli_usage_error(ctx,
			    "--until '%s' is neither a UTC time "
			    "(2027-01-31T12:00:00Z) nor a duration (90d)",
			    opts[OPT_UNTIL].value);
		if (until <= now)
			return cli_usage_error(ctx, "--until '%s' is in the "
			                       "past", opts[OPT_UNTIL].value);
	}
	if ((rc = cli_refuse_existing(out)) != 0)
		return rc;
	if ((rc = ca_dir_load(opts[OPT_CA].value, &ca)) != 0)
		return rc;
	/* Past the CA's end no certificate it signed can be valid, so the
	 * statement need not outlive it. */
	if (!opts[OPT_UNTIL].given)
		until = ca.cert.not_after;
	if (until <= now) {
		rc = cli_fail("--ca", "the CA certificate has expired; "
		              "nothing it signed is valid any more");
		goto out;
	}
	rc = revoke_create(key_id, now, until, reason, &ca.key, &rev,
	                   &rev_len);
	if (rc) {
		rc = cli_fail("cert revoke", "cannot create the revocation "
		              "(%s)", weft_strerror(rc));
		goto out;
	}
	rc = write_revocation(out, rev, rev_len);
	if (rc == 0) {
		key_id_hex(id, key_id);
		cli_format_time(until, until_s);
		printf("revoked key id %s (%s), kept until %s\n  %s\n", id,
		       reason, until_s, out);
	}
out:
	free(rev);
	ca_dir_free(&ca);
	return rc;
}
