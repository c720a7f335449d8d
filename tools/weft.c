/*
 * weft: the operator's command line.  Every command is a row of a table
 * (tools/commands.h); this file only routes to them.
 */
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"
#include "tools/commands.h"
#include "weft_version.h"

static const struct cli_cmd weft_cmds[] = {
	{ .name = "ca", .summary = "Manage the cluster CA", .subs = ca_cmds },
	{ .name = "cert", .summary = "Issue, inspect, verify and revoke "
	  "certificates", .subs = cert_cmds },
	{ .name = NULL },
};

static const struct cli_cmd weft_root = {
	.name = "weft",
	.summary = "weft, a service mesh without a control plane",
	.help = "Options:\n"
	        "  --help       this text (also after any command)\n"
	        "  --version    print the version\n"
	        "\n"
	        "Exit status: 0 success, 1 failure (or an invalid certificate "
	        "for\n`weft cert verify`), 2 usage error.\n",
	.subs = weft_cmds,
};

int
main(int argc, char **argv)
{
	struct cli_ctx root = { .cmd = &weft_root, .path = "weft" };
	int status;

	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		if (argc > 2)
			return cli_usage_error(&root, "--version takes no "
			                       "arguments");
		printf("weft %s\n", WEFT_VERSION);
		status = CLI_EXIT_OK;
	} else {
		status = cli_dispatch(weft_cmds, &root, argc - 1, argv + 1);
	}
	/* Output that did not arrive (a full disk, a closed pipe) must not
	 * pass for success in a script. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "weft: standard output: write error\n");
		if (status == CLI_EXIT_OK)
			status = CLI_EXIT_FAIL;
	}
	return status;
}
