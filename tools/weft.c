/*
 * weft: the operator's command line.  Every command is a row of a table
 * (tools/commands.h); this file only routes to them.
 */
#include <stdio.h>
#include <string.h>

#include "tools/agent_cli.h"
#include "tools/cli.h"
#include "tools/commands.h"
#include "weft_version.h"

static const struct cli_cmd weft_cmds[] = {
	{ .name = "ca", .summary = "Manage the cluster CA", .subs = ca_cmds },
	{ .name = "cert", .summary = "Issue, inspect, verify and revoke "
	  "certificates", .subs = cert_cmds },
	/* These ask the local weftd, over its API socket. */
	{
		.name = "members",
		.summary = "List the cluster's members as weftd sees them",
		.synopsis = "[--json] [--socket PATH] [--timeout DURATION]",
		.help = "One line per member: NAME ADDR STATUS (alive, "
		        "suspect, failed, left)\nINCARNATION SERVICES (how "
		        "many) TAGS.\n\n"
		        "Options:\n" AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = agent_members_main,
	},
	{
		.name = "services",
		.summary = "List services, or one service's endpoints",
		.synopsis = "[NAME] [--json] [--socket PATH] "
		            "[--timeout DURATION]",
		.help = "Without NAME: each service with its number of "
		        "endpoints and of those\npassing their health "
		        "checks.  With NAME: that service's endpoints,\n"
		        "NODE ADDR PORT HEALTH STATUS WEIGHT TAGS LABELS "
		        "(exit 1 when no\nmember offers it).\n\n"
		        "Options:\n" AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = agent_services_main,
	},
	{ .name = "intentions", .summary = "Which services may connect to "
	  "which: apply, list, delete", .subs = intentions_cmds },
	{ .name = "routes", .summary = "How requests to a service are routed: "
	  "apply, list, get, delete", .subs = routes_cmds },
	{
		.name = "info",
		.summary = "Show the local weftd: name, addresses, key, "
		           "uptime",
		.synopsis = "[--json] [--socket PATH] [--timeout DURATION]",
		.help = "Options:\n" AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = agent_info_main,
	},
	{
		.name = "join",
		.summary = "Make weftd join the cluster through these members",
		.synopsis = "ADDR... [--json] [--socket PATH] "
		            "[--timeout DURATION]",
		.help = "Each ADDR is HOST or HOST:PORT of a member's gossip "
		        "address (port\n7370 when absent).  weftd starts a "
		        "push-pull exchange with each.\n\n"
		        "Options:\n" AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = agent_join_main,
	},
	{
		.name = "leave",
		.summary = "Make weftd leave the cluster gracefully and exit",
		.synopsis = "[--json] [--socket PATH] [--timeout DURATION]",
		.help = "Options:\n" AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = agent_leave_main,
	},
	{
		.name = "reload",
		.summary = "Make weftd reload its configuration (as SIGHUP)",
		.synopsis = "[--json] [--socket PATH] [--timeout DURATION]",
		.help = "A configuration weftd refuses is reported with its "
		        "reason (exit 1);\nweftd keeps running the old one.\n\n"
		        "Options:\n" AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = agent_reload_main,
	},
	{
		.name = "monitor",
		.summary = "Follow weftd's member, object and health events",
		.synopsis = "[--json] [--socket PATH] [--timeout DURATION]",
		.help = "Prints one line per event as it happens:\n"
		        "  2026-11-26T15:20:01.250Z member failed db-1 "
		        "127.0.0.4:7370\n"
		        "until interrupted (exit 0) or until weftd goes away "
		        "(exit 3).  With\n--json, weftd's JSON lines as they "
		        "come.  --timeout bounds only the\nwait for the "
		        "stream to start.\n\n"
		        "Options:\n" AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = agent_monitor_main,
	},
	{ .name = "revoke", .summary = "Apply revocations through the local "
	  "weftd", .subs = revoke_cmds },
	{
		.name = "checks",
		.summary = "List this node's health checks",
		.synopsis = "[--json] [--socket PATH] [--timeout DURATION]",
		.help = "One line per check: ID SERVICE KIND STATUS (unknown, "
		        "passing,\nwarning, critical) CHANGED (how long ago) "
		        "OUTPUT (first line,\ntruncated; --json has it whole), "
		        "then the services in maintenance.\n\n"
		        "Options:\n" AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = agent_checks_main,
	},
	{ .name = "check", .summary = "Update a TTL check (pass, warn, fail)",
	  .subs = check_cmds },
	{ .name = "maint", .summary = "Maintenance mode: take endpoints out "
	  "of rotation without failing them", .subs = maint_cmds },
	{
		.name = "certs",
		.summary = "List every member's certificate expiry, soonest "
		           "first, and the CAs'",
		.synopsis = "[--json] [--socket PATH] [--timeout DURATION]",
		.help = "KIND (node, ca) NAME STATUS NOT AFTER EXPIRES, and "
		        "WARN within\nweftd's cert_warn_before (default 30 "
		        "days).\n\n"
		        "Options:\n" AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = agent_certs_main,
	},
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
	        "for\n`weft cert verify`, or a refusal by weftd), 2 usage "
	        "error, 3 weftd not\nreachable (the commands that ask the "
	        "local weftd).\n",
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
