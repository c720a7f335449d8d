/*
 * weft ca init: a new cluster CA, its key and self-signed certificate.
 */
#include <stdio.h>
#include <stdlib.h>
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

/* Certificates start a minute in the past, so a host whose clock is a
 * little behind the CA's does not see them as not yet valid. */
#define BACKDATE 60

enum { OPT_NAME, OPT_OUT, OPT_VALID, N_OPTS };

static int
ca_init_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[N_OPTS] = {
		[OPT_NAME] = { .name = "name", .metavar = "NAME",
		               .required = true },
		[OPT_OUT] = { .name = "out", .metavar = "DIR",
		              .required = true },
		[OPT_VALID] = { .name = "valid", .metavar = "DURATION" },
	};
	struct cli_args a = { .opts = opts, .n_opts = N_OPTS };
	char key_path[CLI_PATH_MAX], cert_path[CLI_PATH_MAX];
	char id[KEY_ID_HEX_LEN + 1], until[CLI_TIME_LEN];
	const char *name, *dir;
	struct cert_params p = { .is_ca = true };
	struct key_pair k;
	int64_t valid = 10 * 365 * 86400, now;
	uint8_t *cert;
	size_t cert_len;
	int rc;

	if (!cli_parse(ctx, &a, argc, argv, &rc))
		return rc;
	name = opts[OPT_NAME].value;
	dir = opts[OPT_OUT].value;
	if (!cert_name_valid(name))
		return cli_usage_error(ctx, "--name '%s' is not a valid name "
		                       "(" CLI_NAME_RULE ")", name);
	if (opts[OPT_VALID].given &&
	    cli_parse_duration(opts[OPT_VALID].value, false, &valid) != 0)
		return cli_usage_error(ctx, "--valid '%s' is not a duration "
		                       "(like 10y, 90d, 12h)",
		                       opts[OPT_VALID].value);
	if (!cli_join_path(key_path, dir, CA_KEY_FILE) ||
	    !cli_join_path(cert_path, dir, CA_CERT_FILE))
		return cli_fail(dir, "path too long");
	if ((rc = cli_refuse_existing(key_path)) != 0 ||
	    (rc = cli_refuse_existing(cert_path)) != 0)
		return rc;
	if ((rc = cli_make_dir(dir)) != 0)
		return rc;

	rc = key_generate(&k, KEY_KIND_CA, &key_system_rng);
	if (rc)
		return cli_fail("ca init", "cannot generate a key (%s)",
		                weft_strerror(rc));
	now = (int64_t)time(NULL);
	p.name = name;
	p.not_before = now - BACKDATE;
	p.not_after = now + valid;
	rc = cert_issue(&p, &k, &k, &cert, &cert_len);
	if (rc) {
		key_wipe(&k);
		return cli_fail("ca init", "cannot issue the CA certificate "
		                "(%s)", weft_strerror(rc));
	}
	rc = identity_write(key_path, cert_path, &k, cert, cert_len);
	key_id_hex(id, k.id);
	key_wipe(&k);
	free(cert);
	if (rc)
		return rc;
	cli_format_time(p.not_after, until);
	printf("created CA %s (key id %s), valid until %s\n", name, id, until);
	printf("  %s  certificate: give it to every host (the trust "
	       "bundle)\n", cert_path);
	printf("  %s  private key: keep it offline\n", key_path);
	return CLI_EXIT_OK;
}

const struct cli_cmd ca_cmds[] = {
	{
		.name = "init",
		.summary = "Create a CA: a key and a self-signed certificate",
		.synopsis = "--name NAME --out DIR [--valid DURATION]",
		.help = "Options:\n"
		        "  --name NAME        the CA's name (a DNS label)\n"
		        "  --out DIR          where to write ca.crt (0644) and "
		        "ca.key (0600);\n"
		        "                     created if missing, existing "
		        "files are never\n"
		        "                     overwritten\n"
		        "  --valid DURATION   lifetime, like 10y, 90d, 12h "
		        "(default 10y)\n",
		.run = ca_init_main,
	},
	{ .name = NULL },
};
