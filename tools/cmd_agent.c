/*
 * The agent commands that only read: `weft members`, `weft services
 * [NAME]` and `weft info`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/cert.h"
#include "tools/agent_cli.h"
#include "tools/commands.h"
#include "tools/table.h"

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

static const char *const member_states[4] = { "alive", "suspect",
	"failed", "left" };

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
	char n[4][32];
	size_t i;

	if (!json_is_object(m)) {
		snprintf(out, cap, "-");
		return;
	}
	for (i = 0; i < 4; i++)
		agent_cell(json_object_get(m, member_states[i]), n[i],
		           sizeof(n[i]));
	snprintf(out, cap, "%s alive, %s suspect, %s failed, %s left", n[0],
	         n[1], n[2], n[3]);
}

static int
print_info(const json_t *reply)
{
	static const struct { const char *label, *key; } plain[] = {
		{ "name", "name" }, { "version", "version" },
		{ "address", "addr" }, { "mesh address", "mesh_addr" },
		{ "key id", "key_id" },
	};
	struct kv kv[13];
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
	/* The member certificate that ends first, cluster-wide. */
	{
		json_t *who = json_object_get(reply, "cluster_soonest_member");
		json_t *end = json_object_get(reply,
		                              "cluster_soonest_not_after_unix");

		if (json_is_string(who) && json_is_integer(end)) {
			char t[CLI_TIME_LEN];

			cli_format_time(json_integer_value(end), t);
			kv[n].key = "soonest cert";
			snprintf(kv[n].value, sizeof(kv[n].value), "%.64s, "
			         "valid until %s", json_string_value(who), t);
			n++;
		}
	}
	/* Certificate expiry warnings (cert_warn_before), one line each. */
	{
		json_t *warns = json_object_get(reply, "cert_warnings"), *e;
		size_t k;

		json_array_foreach(warns, k, e) {
			if (n == sizeof(kv) / sizeof(kv[0]))
				break;
			kv[n].key = "warning";
			agent_cell(e, kv[n].value, sizeof(kv[n].value));
			n++;
		}
	}
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
