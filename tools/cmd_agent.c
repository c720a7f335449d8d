/*
 * The agent commands' shared part (tools/agent_cli.h), and the ones that
 * only read: `weft members`, `weft services [NAME]`, `weft info`.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "crypto/cert.h"
#include "tools/agent_cli.h"
#include "tools/commands.h"
#include "tools/table.h"

/* An hour is plenty for any answer; past it a typo is likelier. */
#define TIMEOUT_MAX_S 3600

int
agent_conn_init(const struct cli_ctx *ctx, const struct cli_opt *opts,
                struct agent_conn *c)
{
	const struct cli_opt *so = &opts[AGENT_OPT_SOCKET];
	const struct cli_opt *to = &opts[AGENT_OPT_TIMEOUT];
	int64_t t = API_TIMEOUT_MS_DEFAULT / 1000;

	memset(c, 0, sizeof(*c));
	c->json = opts[AGENT_OPT_JSON].given;
	if (so->given && *so->value == '\0')
		return cli_usage_error(ctx, "--socket: an empty path");
	if (to->given && (cli_parse_duration(to->value, false, &t) != 0 ||
	                  t > TIMEOUT_MAX_S))
		return cli_usage_error(ctx, "--timeout '%s' is not a duration "
		                       "of at most 1h (like 10s, 2m)",
		                       to->value);
	c->timeout_ms = (int)t * 1000;
	if (api_socket_choose(so->given ? so->value : NULL,
	                      getenv("WEFT_SOCKET"),
	                      getenv("XDG_RUNTIME_DIR"), geteuid() == 0,
	                      c->socket, sizeof(c->socket), &c->source) != 0)
		return cli_usage_error(ctx, "the socket path (from %s) is "
		                       "longer than %zu bytes",
		                       api_socket_source_name(c->source),
		                       sizeof(c->socket) - 1);
	return 0;
}

/* " (from WEFT_SOCKET)" when the user chose the path, so a stale
 * variable is easy to spot. */
static const char *
origin(const struct agent_conn *c, char *buf, size_t cap)
{
	if (c->source == API_SOCKET_BUILTIN)
		return "";
	snprintf(buf, cap, " (from %s)", api_socket_source_name(c->source));
	return buf;
}

int
agent_report_failure(const struct agent_conn *c, const struct api_failure *f)
{
	char from[32];
	const char *o = origin(c, from, sizeof(from));

	switch (f->step) {
	case API_FAIL_CONNECT:
		fprintf(stderr, "weft: cannot reach weftd at %s%s: %s (is "
		        "weftd running? use --socket or WEFT_SOCKET)\n",
		        c->socket, o, strerror(f->sys_errno));
		return CLI_EXIT_UNREACHABLE;
	case API_FAIL_TIMEOUT:
		fprintf(stderr, "weft: weftd at %s%s did not answer within "
		        "%d s\n", c->socket, o, c->timeout_ms / 1000);
		return CLI_EXIT_UNREACHABLE;
	case API_FAIL_IO:
		fprintf(stderr, "weft: lost weftd at %s%s: %s\n", c->socket, o,
		        strerror(f->sys_errno));
		return CLI_EXIT_UNREACHABLE;
	case API_FAIL_CLOSED:
		fprintf(stderr, "weft: weftd at %s%s closed the connection: "
		        "%s\n", c->socket, o, f->why);
		return CLI_EXIT_UNREACHABLE;
	case API_FAIL_REPLY:
		fprintf(stderr, "weft: weftd at %s%s sent %s\n", c->socket, o,
		        f->why);
		return CLI_EXIT_FAIL;
	case API_FAIL_NONE:
	case API_FAIL_STOPPED:
	case API_FAIL_LINE:
		break;
	}
	return CLI_EXIT_FAIL;
}

int
agent_report_refusal(const struct api_reply *r)
{
	char text[512];

	api_reply_error_text(r, text, sizeof(text));
	fprintf(stderr, "weft: %s\n", text);
	return CLI_EXIT_FAIL;
}

int
agent_call(const struct agent_conn *c, const char *method, const char *path,
           const json_t *body, json_t **out)
{
	struct api_call call = {
		.socket = c->socket, .method = method, .path = path,
		.body = body, .timeout_ms = c->timeout_ms,
	};
	struct api_failure f;
	struct api_reply r;
	int rc;

	api_reply_init(&r, NULL, NULL);
	if (api_request(&call, &r, &f) != 0) {
		rc = agent_report_failure(c, &f);
	} else if (r.status < 200 || r.status > 299) {
		rc = agent_report_refusal(&r);
	} else if (api_reply_json(&r, out) != 0) {
		fprintf(stderr, "weft: weftd answered %s %s with %s\n", method,
		        path, r.why);
		rc = CLI_EXIT_FAIL;
	} else {
		rc = 0;
	}
	api_reply_free(&r);
	return rc;
}

void
agent_print_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
}

/* Appends s to out at *n, as far as it fits. */
static void
cat(char *out, size_t cap, size_t *n, const char *s)
{
	int k;

	if (*n >= cap)
		return;
	k = snprintf(out + *n, cap - *n, "%s", s);
	if (k > 0)
		*n += (size_t)k < cap - *n ? (size_t)k : cap - *n - 1;
}

void
agent_cell(const json_t *v, char *out, size_t cap)
{
	const char *key;
	json_t *e;
	size_t i, n = 0;
	char num[32];

	out[0] = '\0';
	if (v == NULL) {
		snprintf(out, cap, "-");
		return;
	}
	switch (json_typeof(v)) {
	case JSON_STRING:
		snprintf(out, cap, "%s", json_string_value(v));
		break;
	case JSON_INTEGER:
		snprintf(out, cap, "%" JSON_INTEGER_FORMAT,
		         json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(out, cap, "%g", json_real_value(v));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		snprintf(out, cap, "%s", json_is_true(v) ? "yes" : "no");
		break;
	case JSON_ARRAY:
		json_array_foreach(v, i, e) {
			if (i > 0)
				cat(out, cap, &n, ",");
			agent_cell(e, num, sizeof(num));
			cat(out, cap, &n, json_is_string(e)
			                  ? json_string_value(e) : num);
		}
		break;
	case JSON_OBJECT:
		i = 0;
		json_object_foreach((json_t *)v, key, e) {
			if (i++ > 0)
				cat(out, cap, &n, ",");
			cat(out, cap, &n, key);
			cat(out, cap, &n, "=");
			agent_cell(e, num, sizeof(num));
			cat(out, cap, &n, json_is_string(e)
			                  ? json_string_value(e) : num);
		}
		break;
	case JSON_NULL:
		break;
	}
	if (out[0] == '\0')
		snprintf(out, cap, "-");
}

json_t *
agent_need_array(const json_t *reply, const char *what, const char *key)
{
	json_t *a = json_object_get(reply, key);

	if (!json_is_array(a)) {
		fprintf(stderr, "weft: weftd's answer to %s has no \"%s\" "
		        "list\n", what, key);
		return NULL;
	}
	return a;
}

/* ---- weft members / services / info ---- */

#define CELL_MAX 1024

/* Adds one row whose cells are the members keys of obj. */
static int
add_row(struct table *t, const json_t *obj, const char *const *keys)
{
	char cells[TABLE_MAX_COLS][CELL_MAX];
	const char *row[TABLE_MAX_COLS];
	size_t i;

	for (i = 0; i < t->n_cols; i++) {
		agent_cell(json_object_get(obj, keys[i]), cells[i], CELL_MAX);
		row[i] = cells[i];
	}
	return table_add(t, row);
}

/*
 * Prints reply[list] as a table: heads are the column titles, keys the
 * fields of each element.  Returns the exit status.
 */
static int
print_list(const json_t *reply, const char *what, const char *list,
           const char *const *heads, const char *const *keys)
{
	struct table t;
	json_t *a, *e;
	size_t i;
	int rc = 0;

	if ((a = agent_need_array(reply, what, list)) == NULL)
		return CLI_EXIT_FAIL;
	if (table_init(&t, heads) != 0)
		return CLI_EXIT_FAIL;
	json_array_foreach(a, i, e) {
		if (!json_is_object(e)) {
			fprintf(stderr, "weft: weftd's answer to %s: entry %zu "
			        "of \"%s\" is not an object\n", what, i + 1,
			        list);
			rc = CLI_EXIT_FAIL;
			break;
		}
		if (add_row(&t, e, keys) != 0) {
			rc = cli_fail(what, "out of memory");
			break;
		}
	}
	if (rc == 0)
		table_print(&t, stdout);
	table_free(&t);
	return rc;
}

static int
run_get(const struct cli_ctx *ctx, int argc, char **argv, size_t max_pos,
        struct agent_conn *c, struct cli_args *a, json_t **reply,
        const char *path)
{
	int rc;

	a->max_pos = max_pos;
	if (!cli_parse(ctx, a, argc, argv, &rc))
		return rc;
	if ((rc = agent_conn_init(ctx, a->opts, c)) != 0)
		return rc;
	if (path == NULL)
		return 0;
	return agent_call(c, "GET", path, NULL, reply);
}

int
agent_members_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const char *const heads[] = { "NAME", "ADDR", "STATUS",
		"INCARNATION", "SERVICES", "TAGS", NULL };
	static const char *const keys[] = { "name", "addr", "status",
		"incarnation", "services", "tags" };
	struct cli_opt opts[AGENT_N_OPTS] = { AGENT_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = AGENT_N_OPTS };
	struct agent_conn c;
	json_t *reply = NULL;
	int rc;

	rc = run_get(ctx, argc, argv, 0, &c, &a, &reply, "/v1/members");
	if (rc != 0 || reply == NULL)
		return rc;
	if (c.json)
		agent_print_json(reply);
	else
		rc = print_list(reply, "GET /v1/members", "members", heads,
		                keys);
	json_decref(reply);
	return rc;
}

int
agent_services_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const char *const heads[] = { "NAME", "ENDPOINTS", "PASSING",
		NULL };
	static const char *const keys[] = { "name", "endpoints", "passing" };
	static const char *const eheads[] = { "NODE", "ADDR", "PORT",
		"HEALTH", "STATUS", "WEIGHT", "TAGS", "LABELS", NULL };
	static const char *const ekeys[] = { "node", "addr", "port", "health",
		"status", "weight", "tags", "labels" };
	struct cli_opt opts[AGENT_N_OPTS] = { AGENT_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = AGENT_N_OPTS };
	char path[128], what[160];
	struct agent_conn c;
	json_t *reply = NULL;
	const char *name;
	int rc;

	rc = run_get(ctx, argc, argv, 1, &c, &a, &reply, NULL);
	if (rc != 0)
		return rc;
	name = a.n_pos ? a.pos[0] : NULL;
	/* Service names are DNS labels, which also keeps the path free of
	 * anything that would need escaping. */
	if (name != NULL && !cert_name_valid(name))
		return cli_usage_error(ctx, "'%s' is not a service name ("
		                       CLI_NAME_RULE ")", name);
	snprintf(path, sizeof(path), "/v1/services%s%s", name ? "/" : "",
	         name ? name : "");
	if ((rc = agent_call(&c, "GET", path, NULL, &reply)) != 0)
		return rc;
	snprintf(what, sizeof(what), "GET %s", path);
	if (c.json)
		agent_print_json(reply);
	else if (name == NULL)
		rc = print_list(reply, what, "services", heads, keys);
	else
		rc = print_list(reply, what, "endpoints", eheads, ekeys);
	json_decref(reply);
	return rc;
}

/* ---- weft info ---- */

struct kv {
	const char *key;
	char value[256];
};

static void
info_time(const json_t *reply, char *out, size_t cap)
{
	json_t *na = json_object_get(reply, "cert_not_after_unix");
	json_t *left = json_object_get(reply, "cert_expires_in_s");
	char t[CLI_TIME_LEN], d[64];
	json_int_t s;

	if (!json_is_integer(na)) {
		snprintf(out, cap, "-");
		return;
	}
	cli_format_time(json_integer_value(na), t);
	if (!json_is_integer(left)) {
		snprintf(out, cap, "valid until %s", t);
		return;
	}
	s = json_integer_value(left);
	cert_duration_format(s, d, sizeof(d));
	snprintf(out, cap, "valid until %s (%s %s%s)", t,
	         s >= 0 ? "expires in" : "expired", d, s >= 0 ? "" : " ago");
}

static void
info_members(const json_t *m, char *out, size_t cap)
{
	static const char *const st[] = { "alive", "suspect", "failed",
		"left" };
	size_t i, n = 0;
	char part[48];

	if (!json_is_object(m)) {
		snprintf(out, cap, "-");
		return;
	}
	out[0] = '\0';
	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		agent_cell(json_object_get(m, st[i]), part, sizeof(part));
		cat(out, cap, &n, i ? ", " : "");
		cat(out, cap, &n, part);
		cat(out, cap, &n, " ");
		cat(out, cap, &n, st[i]);
	}
}

static int
print_info(const json_t *reply)
{
	static const struct { const char *label, *key; } plain[] = {
		{ "name", "name" }, { "version", "version" },
		{ "address", "addr" }, { "mesh address", "mesh_addr" },
		{ "key id", "key_id" },
	};
	struct kv kv[10];
	size_t n = 0, i, w = 0;
	char d[64], *clean;
	json_t *up;

	if (!json_is_object(reply)) {
		fprintf(stderr, "weft: weftd's answer to GET /v1/agent is not "
		        "an object\n");
		return CLI_EXIT_FAIL;
	}
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++, n++) {
		kv[n].key = plain[i].label;
		agent_cell(json_object_get(reply, plain[i].key), kv[n].value,
		           sizeof(kv[n].value));
	}
	kv[n].key = "certificate";
	info_time(reply, kv[n].value, sizeof(kv[n].value));
	n++;
	kv[n].key = "uptime";
	up = json_object_get(reply, "uptime_s");
	if (json_is_integer(up)) {
		cert_duration_format(json_integer_value(up), d, sizeof(d));
		snprintf(kv[n].value, sizeof(kv[n].value), "%s", d);
	} else {
		snprintf(kv[n].value, sizeof(kv[n].value), "-");
	}
	n++;
	kv[n].key = "socket";
	agent_cell(json_object_get(reply, "socket"), kv[n].value,
	           sizeof(kv[n].value));
	n++;
	kv[n].key = "members";
	info_members(json_object_get(reply, "members"), kv[n].value,
	             sizeof(kv[n].value));
	n++;
	for (i = 0; i < n; i++)
		if (strlen(kv[i].key) > w)
			w = strlen(kv[i].key);
	for (i = 0; i < n; i++) {
		if ((clean = table_clean(kv[i].value)) == NULL)
			return cli_fail("info", "out of memory");
		printf("%s:%*s %s\n", kv[i].key,
		       (int)(w - strlen(kv[i].key)), "", clean);
		free(clean);
	}
	return 0;
}

int
agent_info_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[AGENT_N_OPTS] = { AGENT_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = AGENT_N_OPTS };
	struct agent_conn c;
	json_t *reply = NULL;
	int rc;

	rc = run_get(ctx, argc, argv, 0, &c, &a, &reply, "/v1/agent");
	if (rc != 0 || reply == NULL)
		return rc;
	if (c.json)
		agent_print_json(reply);
	else
		rc = print_info(reply);
	json_decref(reply);
	return rc;
}
