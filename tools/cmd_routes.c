/*
 * weft routes: how requests to a virtual service are routed (docs/
 * PROTOCOL.md, "Route objects").
 *
 * A route object is a cluster object signed by an operator, like an
 * intention: `apply` and `delete` sign here and hand the object to the
 * local weftd, which verifies and gossips it; `list` and `get` show what
 * the agent holds (GET /v1/routes).  Every object is decoded with the
 * agent's own decoder (agent/route_json.c) before anything is signed, so
 * an error names the file, the object and the JSON path.  The value
 * signed is the object's canonical JSON (keys sorted, no spaces).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/route_json.h"
#include "common/err.h"
#include "gossip/gossip.h"
#include "tools/agent_cli.h"
#include "tools/commands.h"
#include "tools/objsign.h"
#include "tools/table.h"

#define ROUTES_FILE_MAX (1024 * 1024)
#define ROUTES_MAX 256
#define CELL_MAX 512

enum { OPT_SIGNER_KEY = AGENT_N_OPTS, OPT_SIGNER_CERT, N_SIGN_OPTS };
enum { OPT_ALL = AGENT_N_OPTS, N_LIST_OPTS };

#define SIGNER_OPTS \
	[OPT_SIGNER_KEY] = { .name = "signer-key", .metavar = "FILE", \
	                     .required = true }, \
	[OPT_SIGNER_CERT] = { .name = "signer-cert", .metavar = "FILE", \
	                      .required = true }

#define SIGNER_HELP \
	"  --signer-key FILE   the operator's private key (mode 0600)\n" \
	"  --signer-cert FILE  its certificate, which must list the " \
	"`operator`\n" \
	"                      group (weft cert issue --groups operator)\n"

struct route_obj {
	const char *name;    /* into the parsed file */
	const char *service;
	size_t n_rules;
	char *value;         /* canonical JSON, owned */
};

static void
objs_free(struct route_obj *o, size_t n)
{
	for (size_t i = 0; o != NULL && i < n; i++)
		free(o[i].value);
	free(o);
}

/* Checks one element of the file (idx from 1) and makes its value. */
static int
parse_one(const char *path, size_t idx, const json_t *e, struct route_obj *o)
{
	struct route_json *rj;
	char err[ROUTE_JSON_ERR_MAX];
	const char *name = json_string_value(json_object_get(e, "name"));
	char label[300];
	int rc;

	if (name != NULL && objsign_name_valid(name))
		snprintf(label, sizeof(label), "route %s", name);
	else
		snprintf(label, sizeof(label), "route %zu", idx);
	if (!json_is_object(e))
		return cli_fail(path, "%s: not a JSON object", label);
	o->value = json_dumps(e, JSON_SORT_KEYS | JSON_COMPACT);
	if (o->value == NULL)
		return cli_fail(path, "out of memory");
	if (strlen(o->value) > ROUTE_JSON_MAX_BYTES)
		return cli_fail(path, "%s: %zu bytes signed, at most %d", label,
		                strlen(o->value), ROUTE_JSON_MAX_BYTES);
	rc = route_json_parse(o->value, strlen(o->value), &rj, err,
	                      sizeof(err));
	if (rc)
		return cli_fail(path, "%s: %s", label, err);
	route_json_free(rj);
	/* The decoder checked these; they point into the file's JSON. */
	o->name = name;
	o->service = json_string_value(json_object_get(e, "service"));
	o->n_rules = json_array_size(json_object_get(e, "routes"));
	return 0;
}

/*
 * Reads FILE: one route object or a list of them, every one checked,
 * names unique.  *doc owns the strings *objs points into.
 */
static int
load_routes(const char *path, json_t **doc, struct route_obj **objs,
            size_t *n)
{
	static const struct objsign_words words = {
		"a route object", "route", "route objects",
	};
	size_t i, j;
	int rc;

	*objs = NULL;
	*n = 0;
	if ((rc = objsign_load_list(path, ROUTES_FILE_MAX, ROUTES_MAX, &words,
	                            doc)) != 0)
		return rc;
	*n = json_array_size(*doc);
	if ((*objs = calloc(*n, sizeof(**objs))) == NULL)
		return cli_fail(path, "out of memory");
	for (i = 0; i < *n; i++)
		if ((rc = parse_one(path, i + 1, json_array_get(*doc, i),
		                    &(*objs)[i])) != 0)
			return rc;
	for (i = 0; i < *n; i++)
		for (j = i + 1; j < *n; j++)
			if (strcmp((*objs)[i].name, (*objs)[j].name) == 0)
				return cli_fail(path, "two route objects are "
				                "named \"%s\" (entries %zu and %zu)",
				                (*objs)[i].name, i + 1, j + 1);
	return 0;
}

static int
routes_apply_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[N_SIGN_OPTS] = { AGENT_OPTS, SIGNER_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = N_SIGN_OPTS,
	                      .min_pos = 1, .max_pos = 1 };
	struct route_obj *objs = NULL;
	struct objsign_signer s;
	struct agent_conn c;
	json_t *doc = NULL;
	uint64_t hlc;
	size_t n = 0, i;
	int rc;

	if (!cli_parse(ctx, &a, argc, argv, &rc))
		return rc;
	if ((rc = agent_conn_init(ctx, opts, &c)) != 0)
		return rc;
	if ((rc = load_routes(a.pos[0], &doc, &objs, &n)) != 0)
		goto out;
	if ((rc = objsign_signer_load(opts[OPT_SIGNER_KEY].value,
	                               opts[OPT_SIGNER_CERT].value, "routes",
	                               &s)) != 0)
		goto out;
	hlc = objsign_hlc_now();
	for (i = 0; i < n; i++) {
		rc = objsign_post(&c, &s, GOSSIP_OBJ_ROUTE, objs[i].name,
		                  objs[i].value, hlc);
		if (rc)
			break;
		if (!c.json)
			printf("applied: route %s (service %s, %zu rule%s), "
			       "gossiped to the cluster\n", objs[i].name,
			       objs[i].service, objs[i].n_rules,
			       objs[i].n_rules == 1 ? "" : "s");
	}
	if (rc && i > 0)
		fprintf(stderr, "weft: %zu of %zu route objects applied before "
		        "the failure; the rest were not sent\n", i, n);
	objsign_signer_free(&s);
out:
	objs_free(objs, n);
	json_decref(doc);
	return rc;
}

static int
get_routes(const struct agent_conn *c, json_t **reply, json_t **list)
{
	int rc = agent_call(c, "GET", "/v1/routes", NULL, reply);

	if (rc)
		return rc;
	*list = agent_need_array(*reply, "GET /v1/routes", "routes");
	if (*list == NULL) {
		json_decref(*reply);
		*reply = NULL;
		return CLI_EXIT_FAIL;
	}
	return 0;
}

static const char *
str_of(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int
routes_delete_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[N_SIGN_OPTS] = { AGENT_OPTS, SIGNER_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = N_SIGN_OPTS,
	                      .min_pos = 1, .max_pos = ROUTES_MAX };
	struct objsign_signer s;
	struct agent_conn c;
	json_t *reply = NULL, *list, *e;
	uint64_t hlc;
	size_t i, k;
	int rc;

	if (!cli_parse(ctx, &a, argc, argv, &rc))
		return rc;
	for (k = 0; k < a.n_pos; k++)
		if (!objsign_name_valid(a.pos[k]))
			return cli_usage_error(ctx, "'%s' is not a route name ("
			                       OBJSIGN_NAME_RULE ")", a.pos[k]);
	if ((rc = agent_conn_init(ctx, opts, &c)) != 0)
		return rc;
	if ((rc = objsign_signer_load(opts[OPT_SIGNER_KEY].value,
	                               opts[OPT_SIGNER_CERT].value, "routes",
	                               &s)) != 0)
		return rc;
	/* Every name must be live before any tombstone is sent: a typo
	 * would otherwise gossip a deletion of nothing and look like
	 * success. */
	if ((rc = get_routes(&c, &reply, &list)) != 0)
		goto out;
	for (k = 0; k < a.n_pos && rc == 0; k++) {
		bool live = false;

		json_array_foreach(list, i, e) {
			const char *n = str_of(e, "name");

			if (n && strcmp(n, a.pos[k]) == 0 &&
			    !json_is_true(json_object_get(e, "deleted")))
				live = true;
		}
		if (!live)
			rc = cli_fail(a.pos[k], "weftd holds no route object of "
			              "that name (see `weft routes list`)");
	}
	json_decref(reply);
	if (rc)
		goto out;
	hlc = objsign_hlc_now();
	for (k = 0; k < a.n_pos; k++) {
		if ((rc = objsign_post(&c, &s, GOSSIP_OBJ_ROUTE, a.pos[k], NULL,
		                       hlc)) != 0)
			break;
		if (!c.json)
			printf("deleted: route %s, the deletion gossiped to the "
			       "cluster\n", a.pos[k]);
	}
	if (rc && k > 0)
		fprintf(stderr, "weft: %zu of %zu deletions sent before the "
		        "failure\n", k, a.n_pos);
out:
	objsign_signer_free(&s);
	return rc;
}

/* "2026-11-26T15:20:01Z" from an HLC stamp. */
static void
hlc_time(const json_t *hlc, char *out, size_t cap)
{
	char t[CLI_TIME_LEN];

	if (!json_is_integer(hlc)) {
		snprintf(out, cap, "-");
		return;
	}
	cli_format_time((int64_t)((uint64_t)json_integer_value(hlc) >> 16) /
	                1000, t);
	snprintf(out, cap, "%s", t);
}

static int
routes_list_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const char *const heads[] = { "NAME", "SERVICE", "RULES",
		"STATE", "SIGNER", "UPDATED", NULL };
	struct cli_opt opts[N_LIST_OPTS] = {
		AGENT_OPTS,
		[OPT_ALL] = { .name = "all" },
	};
	struct cli_args a = { .opts = opts, .n_opts = N_LIST_OPTS };
	char cells[TABLE_MAX_COLS][CELL_MAX];
	const char *row[TABLE_MAX_COLS];
	struct agent_conn c;
	struct table t;
	json_t *reply = NULL, *list, *e;
	size_t i, k;
	int rc;

	if (!cli_parse(ctx, &a, argc, argv, &rc))
		return rc;
	if ((rc = agent_conn_init(ctx, opts, &c)) != 0)
		return rc;
	if ((rc = get_routes(&c, &reply, &list)) != 0)
		return rc;
	if (c.json) {
		agent_print_json(reply);
		json_decref(reply);
		return 0;
	}
	if (table_init(&t, heads) != 0) {
		json_decref(reply);
		return cli_fail("routes list", "out of memory");
	}
	json_array_foreach(list, i, e) {
		bool deleted = json_is_true(json_object_get(e, "deleted"));
		const char *err = str_of(e, "error");

		if (!json_is_object(e) || (deleted && !opts[OPT_ALL].given))
			continue;
		agent_cell(json_object_get(e, "name"), cells[0], CELL_MAX);
		agent_cell(json_object_get(e, "service"), cells[1], CELL_MAX);
		agent_cell(json_object_get(e, "rules"), cells[2], CELL_MAX);
		/* Why an object is not in force is the useful part. */
		if (deleted)
			snprintf(cells[3], CELL_MAX, "(deleted)");
		else if (err != NULL)
			snprintf(cells[3], CELL_MAX, "invalid: %s", err);
		else if (json_is_true(json_object_get(e, "active")))
			snprintf(cells[3], CELL_MAX, "active");
		else
			snprintf(cells[3], CELL_MAX, "shadowed");
		agent_cell(json_object_get(e, "signer"), cells[4], CELL_MAX);
		hlc_time(json_object_get(e, "hlc"), cells[5], CELL_MAX);
		for (k = 0; k < 6; k++)
			row[k] = cells[k];
		if (table_add(&t, row) != 0) {
			rc = cli_fail("routes list", "out of memory");
			break;
		}
	}
	if (rc == 0)
		table_print(&t, stdout);
	table_free(&t);
	json_decref(reply);
	return rc;
}

static int
routes_get_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[AGENT_N_OPTS] = { AGENT_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = AGENT_N_OPTS,
	                      .min_pos = 1, .max_pos = 1 };
	struct agent_conn c;
	json_t *reply = NULL, *v;
	char path[300];
	char *text;
	int rc;

	if (!cli_parse(ctx, &a, argc, argv, &rc))
		return rc;
	if (!objsign_name_valid(a.pos[0]))
		return cli_usage_error(ctx, "'%s' is not a route name ("
		                       OBJSIGN_NAME_RULE ")", a.pos[0]);
	if ((rc = agent_conn_init(ctx, opts, &c)) != 0)
		return rc;
	snprintf(path, sizeof(path), "/v1/routes/%s", a.pos[0]);
	if ((rc = agent_call(&c, "GET", path, NULL, &reply)) != 0)
		return rc;
	if (c.json) {
		agent_print_json(reply);
		json_decref(reply);
		return 0;
	}
	/* The object as signed, ready to edit and apply again. */
	v = json_object_get(reply, "value");
	if (json_is_true(json_object_get(reply, "deleted")) || v == NULL) {
		json_decref(reply);
		return cli_fail(a.pos[0], "deleted (a tombstone is all weftd "
		                "holds)");
	}
	text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text != NULL)
		printf("%s\n", text);
	free(text);
	if (str_of(reply, "error") != NULL)
		fprintf(stderr, "weft: %s: invalid, the proxies skip it: %s\n",
		        a.pos[0], str_of(reply, "error"));
	json_decref(reply);
	return text != NULL ? 0 : cli_fail(a.pos[0], "out of memory");
}

const struct cli_cmd routes_cmds[] = {
	{
		.name = "apply",
		.summary = "Sign route objects and hand them to the local weftd",
		.synopsis = "FILE --signer-key FILE --signer-cert FILE [--json] "
		            "[--socket PATH]\n            [--timeout DURATION]",
		.help = "FILE holds one route object or a JSON list of them:\n"
		        "  {\"kind\": \"route\", \"name\": \"api-canary\", "
		        "\"service\": \"api\",\n"
		        "   \"routes\": [{\"match\": {\"path_prefix\": \"/\"},\n"
		        "               \"targets\": [{\"service\": \"api\", "
		        "\"labels\": {\"version\": \"v1\"},\n"
		        "                            \"weight\": 90},\n"
		        "                           {\"service\": \"api\", "
		        "\"labels\": {\"version\": \"v2\"},\n"
		        "                            \"weight\": 10}],\n"
		        "               \"timeout\": \"2s\", \"retry\": "
		        "{\"max\": 2, \"on\": [\"5xx\"]}}]}\n"
		        "Rules are tried in order, the first match wins; "
		        "docs/PROTOCOL.md, \"Route\nobjects\", has every key.  "
		        "When several objects name one service, the one\n"
		        "whose name sorts first is in force.  Applying a name "
		        "again replaces that\nobject.  Every entry is checked "
		        "before anything is sent; errors name the\nJSON path.\n\n"
		        "Options:\n" SIGNER_HELP AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = routes_apply_main,
	},
	{
		.name = "list",
		.summary = "List the route objects the local weftd holds",
		.synopsis = "[--all] [--json] [--socket PATH] "
		            "[--timeout DURATION]",
		.help = "One line per object: NAME SERVICE RULES STATE (active, "
		        "shadowed by an\nobject for the same service whose name "
		        "sorts first, or invalid: why)\nSIGNER (key id) "
		        "UPDATED.\n\n"
		        "Options:\n"
		        "  --all               deleted ones too (STATE "
		        "\"(deleted)\")\n" AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = routes_list_main,
	},
	{
		.name = "get",
		.summary = "Print one route object as signed",
		.synopsis = "NAME [--json] [--socket PATH] [--timeout DURATION]",
		.help = "Prints the object's JSON (with --json, the agent's "
		        "whole answer: signer,\nupdate time, state).\n\n"
		        "Options:\n" AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = routes_get_main,
	},
	{
		.name = "delete",
		.summary = "Delete route objects cluster-wide (signed "
		           "tombstones)",
		.synopsis = "NAME... --signer-key FILE --signer-cert FILE [--json] "
		            "[--socket PATH]\n            [--timeout DURATION]",
		.help = "Every NAME must be held by weftd before anything is "
		        "sent.\n\n"
		        "Options:\n" SIGNER_HELP AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = routes_delete_main,
	},
	{ .name = NULL },
};
