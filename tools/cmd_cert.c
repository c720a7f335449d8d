/*
 * weft cert: the group's table, and `weft cert issue`, which signs a new
 * node key pair's certificate with a CA directory's key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"
#include "crypto/armor.h"
#include "crypto/cert.h"
#include "crypto/key.h"
#include "tools/ca_dir.h"
#include "tools/cli.h"
#include "tools/commands.h"

#define BACKDATE 60 /* as in cmd_ca.c: tolerate hosts a little behind */

enum { OPT_CA, OPT_NAME, OPT_SERVICES, OPT_GROUPS, OPT_VALID, OPT_OUT, OPT_KEY,
       N_OPTS };

/* Splits and checks a --services or --groups list; names in *copy. */
static int
parse_names(const struct cli_ctx *ctx, const char *flag, const char *value,
            size_t max, char **copy, const char **items, size_t *n)
{
	size_t i, j;
	int rc;

	*copy = strdup(value);
	if (*copy == NULL)
		return cli_fail(flag, "out of memory");
	rc = cli_split_list(*copy, items, max, n);
	if (rc == WEFT_ETOOBIG)
		return cli_usage_error(ctx, "--%s: more than %zu names", flag,
		                       max);
	if (rc)
		return cli_usage_error(ctx, "--%s '%s': an empty name in the "
		                       "list", flag, value);
	for (i = 0; i < *n; i++) {
		if (!cert_name_valid(items[i]))
			return cli_usage_error(ctx, "--%s: '%s' is not a valid "
			                       "name (" CLI_NAME_RULE ")", flag,
			                       items[i]);
		for (j = 0; j < i; j++)
			if (strcmp(items[i], items[j]) == 0)
				return cli_usage_error(ctx, "--%s: '%s' given "
				                       "twice", flag, items[i]);
	}
	return 0;
}

/* The checks that need the CA: its own window, and the node's inside it. */
static int
fit_window(const struct cert *ca, const char *valid_arg, int64_t now,
           struct cert_params *p)
{
	char t[CLI_TIME_LEN], dur[64];

	if (now > ca->not_after) {
		cli_format_time(ca->not_after, t);
		cert_duration_format(now - ca->not_after, dur, sizeof(dur));
		return cli_fail("--ca", "the CA certificate expired %s ago "
		                "(%s)", dur, t);
	}
	if (now < ca->not_before) {
		cli_format_time(ca->not_before, t);
		return cli_fail("--ca", "the CA certificate is not valid "
		                "before %s", t);
	}
	/* A certificate cannot be valid while its issuer is not. */
	if (p->not_before < ca->not_before)
		p->not_before = ca->not_before;
	if (p->not_after > ca->not_after) {
		cli_format_time(ca->not_after, t);
		cert_duration_format(ca->not_after - now, dur, sizeof(dur));
		return cli_fail("--valid", "%s would outlive the CA, which "
		                "expires at %s (in %s); give a shorter --valid",
		                valid_arg, t, dur);
	}
	return 0;
}

/* An existing node key, for a renewal; prints the failure. */
static int
load_node_key(const char *path, struct key_pair *k)
{
	char *text;
	size_t len;
	int rc = cli_read_file(path, 64 * 1024, true, &text, &len);

	if (rc)
		return rc;
	rc = key_decode_text(text, len, k);
	key_text_free(text, len);
	if (rc)
		return cli_fail(path, "not a weft key file (%s)",
		                weft_strerror(rc));
	if (k->kind != KEY_KIND_NODE) {
		key_wipe(k);
		return cli_fail(path, "a CA key, not a node key");
	}
	return 0;
}

/* The certificate alone, never over an existing file. */
static int
cert_write(const char *path, const uint8_t *cert, size_t len)
{
	char *text;
	size_t tlen;
	int rc = armor_encode(CERT_ARMOR_LABEL, cert, len, &text, &tlen);

	if (rc == 0) {
		rc = file_write_atomic(path, text, tlen, 0644, 1);
		free(text);
	}
	if (rc == WEFT_EEXIST)
		return cli_fail(path, "already exists; refusing to overwrite it");
	if (rc)
		return cli_fail(path, "cannot write it (%s)", weft_strerror(rc));
	return 0;
}

int
cert_issue_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[N_OPTS] = {
		[OPT_CA] = { .name = "ca", .metavar = "DIR", .required = true },
		[OPT_NAME] = { .name = "name", .metavar = "NODE",
		               .required = true },
		[OPT_SERVICES] = { .name = "services", .metavar = "LIST" },
		[OPT_GROUPS] = { .name = "groups", .metavar = "LIST" },
		[OPT_VALID] = { .name = "valid", .metavar = "DURATION" },
		[OPT_OUT] = { .name = "out", .metavar = "DIR",
		              .required = true },
		[OPT_KEY] = { .name = "key", .metavar = "FILE" },
	};
	struct cli_args a = { .opts = opts, .n_opts = N_OPTS };
	const char *services[CERT_MAX_SERVICES], *groups[CERT_MAX_GROUPS];
	char *svc_copy = NULL, *grp_copy = NULL;
	char key_path[CLI_PATH_MAX], cert_path[CLI_PATH_MAX], file[80];
	char id[KEY_ID_HEX_LEN + 1], ca_id[KEY_ID_HEX_LEN + 1];
	char until[CLI_TIME_LEN];
	struct cert_params p = { .is_ca = false };
	struct ca_dir ca;
	struct key_pair k;
	const char *name, *out, *valid_arg = "1y";
	int64_t valid = 365 * 86400, now;
	uint8_t *cert = NULL;
	size_t cert_len;
	int rc;

	if (!cli_parse(ctx, &a, argc, argv, &rc))
		return rc;
	name = opts[OPT_NAME].value;
	out = opts[OPT_OUT].value;
	if (!cert_name_valid(name))
		return cli_usage_error(ctx, "--name '%s' is not a valid node "
		                       "name (" CLI_NAME_RULE ")", name);
	if (opts[OPT_VALID].given) {
		valid_arg = opts[OPT_VALID].value;
		if (cli_parse_duration(valid_arg, false, &valid) != 0)
			return cli_usage_error(ctx, "--valid '%s' is not a "
			                       "duration (like 1y, 90d, 12h)",
			                       valid_arg);
	}
	if (opts[OPT_SERVICES].given &&
	    (rc = parse_names(ctx, "services", opts[OPT_SERVICES].value,
	                      CERT_MAX_SERVICES, &svc_copy, services,
	                      &p.n_services)) != 0)
		goto out;
	if (opts[OPT_GROUPS].given &&
	    (rc = parse_names(ctx, "groups", opts[OPT_GROUPS].value,
	                      CERT_MAX_GROUPS, &grp_copy, groups,
	                      &p.n_groups)) != 0)
		goto out;
	snprintf(file, sizeof(file), "%s.key", name);
	if (!cli_join_path(key_path, out, file)) {
		rc = cli_fail(out, "path too long");
		goto out;
	}
	snprintf(file, sizeof(file), "%s.crt", name);
	if (!cli_join_path(cert_path, out, file)) {
		rc = cli_fail(out, "path too long");
		goto out;
	}
	if ((!opts[OPT_KEY].given &&
	     (rc = cli_refuse_existing(key_path)) != 0) ||
	    (rc = cli_refuse_existing(cert_path)) != 0)
		goto out;
	if ((rc = ca_dir_load(opts[OPT_CA].value, &ca)) != 0)
		goto out;

	now = (int64_t)time(NULL);
	p.name = name;
	p.services = services;
	p.groups = groups;
	p.not_before = now - BACKDATE;
	p.not_after = now + valid;
	if ((rc = fit_window(&ca.cert, valid_arg, now, &p)) != 0)
		goto out_ca;
	if ((rc = cli_make_dir(out)) != 0)
		goto out_ca;
	if (opts[OPT_KEY].given) {
		/* A renewal: the node keeps its key, so a running weftd can
		 * take the new certificate with a reload. */
		if ((rc = load_node_key(opts[OPT_KEY].value, &k)) != 0)
			goto out_ca;
	} else if ((rc = key_generate(&k, KEY_KIND_NODE,
	                              &key_system_rng)) != 0) {
		rc = cli_fail("cert issue", "cannot generate a key (%s)",
		              weft_strerror(rc));
		goto out_ca;
	}
	rc = cert_issue(&p, &k, &ca.key, &cert, &cert_len);
	if (rc) {
		rc = cli_fail("cert issue", "cannot issue the certificate (%s)",
		              weft_strerror(rc));
	} else if (opts[OPT_KEY].given) {
		rc = cert_write(cert_path, cert, cert_len);
	} else {
		rc = identity_write(key_path, cert_path, &k, cert, cert_len);
	}
	key_id_hex(id, k.id);
	key_wipe(&k);
	if (rc == 0) {
		key_id_hex(ca_id, ca.key.id);
		cli_format_time(p.not_after, until);
		printf("issued %s (key id %s) by CA %s (key id %s), valid "
		       "until %s\n", name, id, ca.cert.name, ca_id, until);
		if (opts[OPT_KEY].given)
			printf("  %s (for the key in %s)\n", cert_path,
			       opts[OPT_KEY].value);
		else
			printf("  %s\n  %s  private key: copy it to the host "
			       "only\n", cert_path, key_path);
	}
out_ca:
	ca_dir_free(&ca);
out:
	free(cert);
	free(svc_copy);
	free(grp_copy);
	return rc;
}

const struct cli_cmd cert_cmds[] = {
	{
		.name = "issue",
		.summary = "Issue a node certificate and key, signed by a CA",
		.synopsis = "--ca DIR --name NODE [--services LIST] "
		            "[--groups LIST] [--valid DURATION] [--key FILE] "
		            "--out DIR",
		.help = "Options:\n"
		        "  --ca DIR           the CA directory (ca.key, ca.crt)"
		        "\n"
		        "  --name NODE        the node's name (a DNS label)\n"
		        "  --services LIST    services it may serve, comma "
		        "separated: web,api\n"
		        "  --groups LIST      its groups, comma separated: "
		        "prod,operator\n"
		        "  --valid DURATION   lifetime, like 1y, 90d, 12h "
		        "(default 1y);\n"
		        "                     must end before the CA's\n"
		        "  --out DIR          where to write NODE.crt and "
		        "NODE.key (0600);\n"
		        "                     existing files are never "
		        "overwritten\n"
		        "  --key FILE         renew: certify this existing node "
		        "key instead of a\n"
		        "                     new one, and write NODE.crt only "
		        "(weftd takes it on\n"
		        "                     reload, without a restart)\n",
		.run = cert_issue_main,
	},
	{
		.name = "inspect",
		.summary = "Show the certificates or revocations in a file",
		.synopsis = "FILE [--json]",
		.help = "Prints every certificate (or revocation) in FILE: "
		        "names, keys and\nvalidity.  It does not verify them; "
		        "see `weft cert verify`.\n\n"
		        "Options:\n"
		        "  --json   one JSON document instead of text\n",
		.run = cert_inspect_main,
	},
	{
		.name = "verify",
		.summary = "Verify a node certificate against a CA bundle",
		.synopsis = "--ca BUNDLE FILE [--skew DURATION] "
		            "[--revoked FILE]",
		.help = "Checks the first certificate in FILE against the CA "
		        "certificates in\nBUNDLE at the current time.  Exit "
		        "status 0 when it is valid, 1 with\nthe reason when it "
		        "is not.\n\n"
		        "Options:\n"
		        "  --ca BUNDLE        trusted CA certificates (one or "
		        "more ca.crt, concatenated)\n"
		        "  --skew DURATION    clock skew to allow at both ends "
		        "of validity\n"
		        "                     windows (default 5m)\n"
		        "  --revoked FILE     revocations (from `weft cert "
		        "revoke`, any\n"
		        "                     number in one file) to honour; "
		        "each must be\n"
		        "                     signed by a CA of the bundle\n",
		.run = cert_verify_main,
	},
	{
		.name = "revoke",
		.summary = "Write a CA-signed revocation of a key id",
		.synopsis = "--ca DIR --key-id HEX [--reason TEXT] "
		            "[--until TIME] --out FILE",
		.help = "Options:\n"
		        "  --ca DIR        the CA directory (ca.key, ca.crt)\n"
		        "  --key-id HEX    the key id to revoke (16 hex "
		        "digits, as\n"
		        "                  `weft cert inspect` shows it)\n"
		        "  --reason TEXT   why, for people (at most 200 "
		        "bytes)\n"
		        "  --until TIME    how long the cluster keeps it: a "
		        "date\n"
		        "                  (2027-01-31), a UTC time\n"
		        "                  (2027-01-31T12:00:00Z) or a "
		        "duration from\n"
		        "                  now (90d); default: the CA's "
		        "expiry\n"
		        "  --out FILE      where to write it (never "
		        "overwritten)\n",
		.run = cert_revoke_main,
	},
	{ .name = NULL },
};
