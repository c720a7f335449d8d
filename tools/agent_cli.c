/* What the agent commands share: see tools/agent_cli.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/agent_cli.h"

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
