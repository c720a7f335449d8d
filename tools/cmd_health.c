/*
 * Health, maintenance and certificates through the local weftd:
 * `weft checks`, `weft check pass|warn|fail ID`, `weft maint enable|
 * disable [SERVICE]` and `weft certs`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/cert.h"
#include "tools/agent_cli.h"
#include "tools/commands.h"
#include "tools/table.h"

#define CELL_MAX 256
/* Output in the table: the first line, this long at most. */
#define OUTPUT_COLS 60

enum { OPT_NOTE = AGENT_N_OPTS, OPT_REASON = AGENT_N_OPTS };

/* false with *status set when the command is done (--help, usage). */
static bool
parse(const struct cli_ctx *ctx, int argc, char **argv, struct cli_args *a,
      struct agent_conn *c, int *status)
{
	if (!cli_parse(ctx, a, argc, argv, status))
		return false;
	*status = agent_conn_init(ctx, a->opts, c);
	return *status == 0;
}

/* "3m ago" for a Unix ms time; "-" for never. */
static void
ago(const json_t *v, char *out, size_t cap)
{
	json_int_t ms = json_integer_value(v);
	char d[64];

	if (!json_is_integer(v) || ms <= 0) {
		snprintf(out, cap, "-");
		return;
	}
	cert_duration_format((int64_t)time(NULL) - ms / 1000, d, sizeof(d));
	snprintf(out, cap, "%s ago", d);
}

static void
first_line(const json_t *v, char *out, size_t cap)
{
	size_t n;

	agent_cell(v, out, cap);
	n = strcspn(out, "\n");
	if (n > OUTPUT_COLS) {
		n = OUTPUT_COLS - 3;
		memcpy(out + n, "...", 4);
	} else {
		out[n] = '\0';
	}
}

static int
print_checks(const json_t *reply)
{
	static const char *const heads[] = { "ID", "SERVICE", "KIND",
		"STATUS", "CHANGED", "OUTPUT", NULL };
	char cells[6][CELL_MAX];
	const char *row[6];
	struct table t;
	json_t *list, *e, *m;
	size_t i;
	int rc = 0;

	if ((list = agent_need_array(reply, "GET /v1/checks", "checks")) == NULL)
		return CLI_EXIT_FAIL;
	if (table_init(&t, heads) != 0)
		return CLI_EXIT_FAIL;
	for (i = 0; i < 6; i++)
		row[i] = cells[i];
	json_array_foreach(list, i, e) {
		agent_cell(json_object_get(e, "id"), cells[0], CELL_MAX);
		agent_cell(json_object_get(e, "service"), cells[1], CELL_MAX);
		agent_cell(json_object_get(e, "kind"), cells[2], CELL_MAX);
		agent_cell(json_object_get(e, "status"), cells[3], CELL_MAX);
		ago(json_object_get(e, "last_change_ms"), cells[4], CELL_MAX);
		first_line(json_object_get(e, "output"), cells[5], CELL_MAX);
		if (table_add(&t, row) != 0) {
			rc = cli_fail("checks", "out of memory");
			break;
		}
	}
	if (rc == 0) {
		if (t.n_rows)
			table_print(&t, stdout);
		else
			printf("no checks configured\n");
	}
	table_free(&t);
	m = json_object_get(reply, "maintenance");
	json_array_foreach(m, i, e) {
		char *s, *r;

		agent_cell(json_object_get(e, "service"), cells[0], CELL_MAX);
		agent_cell(json_object_get(e, "reason"), cells[1], CELL_MAX);
		s = table_clean(cells[0]);
		r = table_clean(cells[1]);
		if (s && r)
			printf("maintenance: %s: %s\n", s, r);
		free(s);
		free(r);
	}
	return rc;
}

int
agent_checks_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[AGENT_N_OPTS] = { AGENT_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = AGENT_N_OPTS };
	struct agent_conn c;
	json_t *reply = NULL;
	int rc;

	if (!parse(ctx, argc, argv, &a, &c, &rc))
		return rc;
	if ((rc = agent_call(&c, "GET", "/v1/checks", NULL, &reply)) != 0)
		return rc;
	if (c.json)
		agent_print_json(reply);
	else
		rc = print_checks(reply);
	json_decref(reply);
	return rc;
}

/* The id goes into the path: keep it to what config allows. */
static bool
id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f ||
		    strchr("/?#%\"\\", s[i]) != NULL)
			return false;
	return true;
}

static int
check_update(const struct cli_ctx *ctx, int argc, char **argv,
             const char *verb)
{
	struct cli_opt opts[AGENT_N_OPTS + 1] = { AGENT_OPTS,
		[OPT_NOTE] = { .name = "note", .metavar = "TEXT" } };
	struct cli_args a = { .opts = opts, .n_opts = AGENT_N_OPTS + 1,
	                      .min_pos = 1, .max_pos = 1 };
	struct agent_conn c;
	json_t *body = NULL, *reply = NULL;
	char path[128];
	int rc;

	if (!parse(ctx, argc, argv, &a, &c, &rc))
		return rc;
	if (!id_ok(a.pos[0]))
		return cli_usage_error(ctx, "'%s' is not a check id", a.pos[0]);
	snprintf(path, sizeof(path), "/v1/checks/%s/%s", a.pos[0], verb);
	if (opts[OPT_NOTE].given)
		body = json_pack("{s:s}", "note", opts[OPT_NOTE].value);
	rc = agent_call(&c, "POST", path, body, &reply);
	json_decref(body);
	if (rc != 0)
		return rc;
	if (c.json) {
		agent_print_json(reply);
	} else {
		char st[64], *clean;

		agent_cell(json_object_get(reply, "status"), st, sizeof(st));
		if ((clean = table_clean(a.pos[0])) != NULL)
			printf("%s: %s\n", clean, st);
		free(clean);
	}
	json_decref(reply);
	return 0;
}

static int
check_pass_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	return check_update(ctx, argc, argv, "pass");
}

static int
check_warn_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	return check_update(ctx, argc, argv, "warn");
}

static int
check_fail_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	return check_update(ctx, argc, argv, "fail");
}

#define CHECK_HELP \
	"ID is a TTL check's id (see `weft checks`).  The check keeps this " \
	"state\nuntil its TTL runs out without another update.\n\n" \
	"Options:\n" \
	"  --note TEXT         shown as the check's output\n" \
	AGENT_OPTS_HELP AGENT_EXIT_HELP

const struct cli_cmd check_cmds[] = {
	{ .name = "pass", .summary = "Mark a TTL check passing",
	  .synopsis = "ID [--note TEXT] [--json] [--socket PATH]",
	  .help = CHECK_HELP, .run = check_pass_main },
	{ .name = "warn", .summary = "Mark a TTL check warning",
	  .synopsis = "ID [--note TEXT] [--json] [--socket PATH]",
	  .help = CHECK_HELP, .run = check_warn_main },
	{ .name = "fail", .summary = "Mark a TTL check critical",
	  .synopsis = "ID [--note TEXT] [--json] [--socket PATH]",
	  .help = CHECK_HELP, .run = check_fail_main },
	{ .name = NULL },
};

static int
maint(const struct cli_ctx *ctx, int argc, char **argv, bool enable)
{
	struct cli_opt opts[AGENT_N_OPTS + 1] = { AGENT_OPTS,
		[OPT_REASON] = { .name = "reason", .metavar = "TEXT",
		                 .required = enable } };
	struct cli_args a = { .opts = opts, .n_opts = AGENT_N_OPTS +
	                      (enable ? 1 : 0), .max_pos = 1 };
	struct agent_conn c;
	json_t *body, *reply = NULL;
	const char *svc;
	int rc;

	if (!parse(ctx, argc, argv, &a, &c, &rc))
		return rc;
	svc = a.n_pos ? a.pos[0] : NULL;
	if (svc && !cert_name_valid(svc))
		return cli_usage_error(ctx, "'%s' is not a service name ("
		                       CLI_NAME_RULE ")", svc);
	if (enable && opts[OPT_REASON].value[0] == '\0')
		return cli_usage_error(ctx, "--reason must not be empty");
	body = json_pack("{s:b, s:s?, s:s?}", "enable", enable, "service", svc,
	                 "reason", enable ? opts[OPT_REASON].value : NULL);
	if (body == NULL)
		return cli_fail("maint", "the reason is not valid UTF-8");
	rc = agent_call(&c, "POST", "/v1/maint", body, &reply);
	json_decref(body);
	if (rc != 0)
		return rc;
	if (c.json)
		agent_print_json(reply);
	else
		printf("maintenance %s for %s%s\n", enable ? "on" : "off",
		       svc ? "service " : "every service of this node",
		       svc ? svc : "");
	json_decref(reply);
	return 0;
}

static int
maint_enable_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	return maint(ctx, argc, argv, true);
}

static int
maint_disable_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	return maint(ctx, argc, argv, false);
}

const struct cli_cmd maint_cmds[] = {
	{ .name = "enable", .summary = "Take this node's endpoints (or one "
	  "service's) out of rotation",
	  .synopsis = "[SERVICE] --reason TEXT [--json] [--socket PATH]",
	  .help = "The endpoint stays a member and is not failed: its "
	          "record says\n\"maintenance\" (with the reason) and every "
	          "proxy skips it until\n`weft maint disable`.  Without "
	          "SERVICE, every service of this node.\n\nOptions:\n"
	          "  --reason TEXT       why, shown by `weft services NAME`\n"
	          AGENT_OPTS_HELP AGENT_EXIT_HELP,
	  .run = maint_enable_main },
	{ .name = "disable", .summary = "Bring endpoints back into rotation",
	  .synopsis = "[SERVICE] [--json] [--socket PATH]",
	  .help = "Options:\n" AGENT_OPTS_HELP AGENT_EXIT_HELP,
	  .run = maint_disable_main },
	{ .name = NULL },
};

/* ---- weft certs ---- */

static int
add_cert_rows(struct table *t, const json_t *list, const char *kind)
{
	char cells[6][CELL_MAX], d[64];
	const char *row[6];
	json_t *e;
	size_t i;

	for (i = 0; i < 6; i++)
		row[i] = cells[i];
	json_array_foreach(list, i, e) {
		json_t *left = json_object_get(e, "expires_in_s");
		json_int_t s = json_integer_value(left);
		char tm[CLI_TIME_LEN];

		snprintf(cells[0], CELL_MAX, "%s", kind);
		agent_cell(json_object_get(e, "name"), cells[1], CELL_MAX);
		agent_cell(json_object_get(e, "status"), cells[2], CELL_MAX);
		if (strcmp(kind, "ca") == 0)
			snprintf(cells[2], CELL_MAX, "-");
		cli_format_time(json_integer_value(json_object_get(
			e, "not_after_unix")), tm);
		snprintf(cells[3], CELL_MAX, "%s", tm);
		cert_duration_format(s >= 0 ? s : -s, d, sizeof(d));
		snprintf(cells[4], CELL_MAX, "%s%s%s", s >= 0 ? "in " : "",
		         d, s >= 0 ? "" : " ago (EXPIRED)");
		snprintf(cells[5], CELL_MAX, "%s",
		         json_is_true(json_object_get(e, "warning")) ? "WARN"
		                                                     : "");
		if (table_add(t, row) != 0)
			return cli_fail("certs", "out of memory");
	}
	return 0;
}

int
agent_certs_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const char *const heads[] = { "KIND", "NAME", "STATUS",
		"NOT AFTER", "EXPIRES", "NOTE", NULL };
	struct cli_opt opts[AGENT_N_OPTS] = { AGENT_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = AGENT_N_OPTS };
	struct agent_conn c;
	json_t *reply = NULL, *m, *cas;
	struct table t;
	int rc;

	if (!parse(ctx, argc, argv, &a, &c, &rc))
		return rc;
	if ((rc = agent_call(&c, "GET", "/v1/certs", NULL, &reply)) != 0)
		return rc;
	if (c.json) {
		agent_print_json(reply);
		json_decref(reply);
		return 0;
	}
	if ((m = agent_need_array(reply, "GET /v1/certs", "members")) == NULL ||
	    (cas = agent_need_array(reply, "GET /v1/certs", "cas")) == NULL) {
		json_decref(reply);
		return CLI_EXIT_FAIL;
	}
	if (table_init(&t, heads) != 0) {
		json_decref(reply);
		return CLI_EXIT_FAIL;
	}
	rc = add_cert_rows(&t, m, "node");
	if (rc == 0)
		rc = add_cert_rows(&t, cas, "ca");
	if (rc == 0)
		table_print(&t, stdout);
	table_free(&t);
	json_decref(reply);
	return rc;
}
