/*
 * What the commands that talk to weftd share (tools/agent_cli.c): their common options
 * (--socket, --json, --timeout), finding the socket, one call with its
 * failures printed and turned into exit statuses, and JSON-to-text helpers
 * for tables.
 *
 * Exit statuses: 0 ok, 1 weftd answered with an error (or a reply we
 * cannot read), 2 usage, 3 weftd not reachable.
 */
#ifndef WEFT_TOOLS_AGENT_CLI_H
#define WEFT_TOOLS_AGENT_CLI_H

#include <stdbool.h>

#include <jansson.h>

#include "tools/api_client.h"
#include "tools/cli.h"

/* The common options come first in every agent command's option array. */
enum { AGENT_OPT_SOCKET, AGENT_OPT_JSON, AGENT_OPT_TIMEOUT, AGENT_N_OPTS };

#define AGENT_OPTS \
	[AGENT_OPT_SOCKET] = { .name = "socket", .metavar = "PATH" }, \
	[AGENT_OPT_JSON] = { .name = "json" }, \
	[AGENT_OPT_TIMEOUT] = { .name = "timeout", .metavar = "DURATION" }

#define AGENT_OPTS_HELP \
	"  --json              print weftd's JSON reply (for scripts)\n" \
	"  --socket PATH       weftd's API socket; default: $WEFT_SOCKET, " \
	"else\n" \
	"                      /run/weft/weftd.sock for root, else\n" \
	"                      $XDG_RUNTIME_DIR/weft/weftd.sock when set\n" \
	"  --timeout DURATION  how long to wait for weftd (default 10s)\n"

#define AGENT_EXIT_HELP \
	"\nExit status: 0 ok, 1 weftd refused (its reason is printed), " \
	"2 usage\nerror, 3 weftd not reachable.\n"

struct agent_conn {
	char socket[108];
	enum api_socket_source source;
	int timeout_ms;
	bool json;
};

/* From the parsed common options and the environment.  0, or
 * CLI_EXIT_USAGE after printing why. */
int agent_conn_init(const struct cli_ctx *ctx, const struct cli_opt *opts,
                    struct agent_conn *c);

/*
 * Prints why a request failed (no reply, or a reply we cannot read) and
 * returns the exit status: CLI_EXIT_UNREACHABLE when weftd did not
 * answer, CLI_EXIT_FAIL for a broken reply.
 */
int agent_report_failure(const struct agent_conn *c,
                         const struct api_failure *f);
/* "weft: <the agent's error>"; CLI_EXIT_FAIL. */
int agent_report_refusal(const struct api_reply *r);

/*
 * One request: on a 2xx reply, 0 with its JSON in *out (the caller
 * decrefs).  Otherwise the failure is printed and the exit status
 * returned (1 or 3).
 */
int agent_call(const struct agent_conn *c, const char *method,
               const char *path, const json_t *body, json_t **out);

/* Pretty JSON and a newline to stdout. */
void agent_print_json(const json_t *j);

/*
 * A JSON value as a table cell, into out: a string as is, a number, an
 * array of strings "a,b", an object "k=v,k2=v2", and "-" for nothing
 * (missing, null, empty array or object).
 */
void agent_cell(const json_t *v, char *out, size_t cap);

/* A member of the reply that must be an array ("members"); prints that
 * the reply lacks it and returns NULL. */
json_t *agent_need_array(const json_t *reply, const char *what,
                         const char *key);

#endif
