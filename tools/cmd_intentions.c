/*
 * weft intentions: which services may open mesh connections to which.
 *
 * An intention is a cluster object signed by an operator (a node key whose
 * certificate lists the `operator` group).  `apply` and `delete` sign here,
 * with the operator's key, and hand the signed object to the local weftd,
 * which verifies it and gossips it; `list` shows what the agent holds.
 * The value signed is the canonical JSON of {action, destination, source}
 * (keys sorted, no spaces), so the same intention always signs the same
 * bytes; docs/PROTOCOL.md, "Intention objects".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/intention_json.h"
#include "common/err.h"
#include "crypto/armor.h"
#include "crypto/cert.h"
#include "crypto/key.h"
#include "gossip/gossip.h"
#include "tools/agent_cli.h"
#include "tools/ca_dir.h"
#include "tools/commands.h"
#include "tools/objsign.h"
#include "tools/table.h"

/* Far above any sensible policy file; the agent takes one object per
 * request. */
#define INTENTIONS_FILE_MAX (1024 * 1024)
#define INTENTIONS_MAX 1024
#define GROUP_PREFIX "group:"
#define CELL_MAX 512

#define NAME_RULE OBJSIGN_NAME_RULE

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

struct intention {
	const char *name; /* into the parsed JSON */
	const char *source;
	const char *destination;
	const char *action;
	const json_t *http; /* L7 rules, or NULL */
};

static bool
source_valid(const char *s)
{
	if (strcmp(s, "*") == 0)
		return true;
	if (strncmp(s, GROUP_PREFIX, strlen(GROUP_PREFIX)) == 0)
		return cert_name_valid(s + strlen(GROUP_PREFIX));
	return cert_name_valid(s);
}

static bool
destination_valid(const char *s)
{
	return strcmp(s, "*") == 0 || cert_name_valid(s);
}

/* A string member of o, or a failure naming where it was missing. */
static int
need_string(const char *path, size_t idx, const json_t *o, const char *key,
            const char **out)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL)
		return cli_fail(path, "intention %zu: \"%s\" is missing", idx,
		                key);
	if (!json_is_string(v))
		return cli_fail(path, "intention %zu: \"%s\" must be a string",
		                idx, key);
	*out = json_string_value(v);
	if (strlen(*out) != json_string_length(v))
		return cli_fail(path, "intention %zu: \"%s\" holds a NUL byte",
		                idx, key);
	return 0;
}

static char *canonical_value(const struct intention *it);

/* The value as agents will decode it (agent/intention_json.c): its L7
 * rules checked with the same decoder, errors naming the JSON path. */
static int
check_value(const char *path, const struct intention *it)
{
	struct intention_json *ij;
	char err[INTENTION_JSON_ERR_MAX];
	char *v = canonical_value(it);
	int rc;

	if (v == NULL)
		return cli_fail(path, "out of memory");
	rc = intention_json_parse(v, strlen(v), &ij, err, sizeof(err));
	if (rc == 0 && strlen(v) > GOSSIP_OBJ_VALUE_MAX)
		rc = WEFT_ETOOBIG;
	free(v);
	intention_json_free(ij);
	if (rc == WEFT_ETOOBIG)
		return cli_fail(path, "intention %s: over %d bytes signed",
		                it->name, GOSSIP_OBJ_VALUE_MAX);
	if (rc)
		return cli_fail(path, "intention %s: %s", it->name, err);
	return 0;
}

/* Checks one element of the file; idx counts from 1, for messages. */
static int
parse_one(const char *path, size_t idx, const json_t *o,
          struct intention *it)
{
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(o))
		return cli_fail(path, "intention %zu: not a JSON object", idx);
	json_object_foreach((json_t *)o, key, v) {
		if (strcmp(key, "name") != 0 && strcmp(key, "source") != 0 &&
		    strcmp(key, "destination") != 0 &&
		    strcmp(key, "action") != 0 && strcmp(key, "http") != 0)
			return cli_fail(path, "intention %zu: unknown key \"%s\" "
			                "(known: name, source, destination, "
			                "action, http)", idx, key);
	}
	if ((rc = need_string(path, idx, o, "name", &it->name)) != 0 ||
	    (rc = need_string(path, idx, o, "source", &it->source)) != 0 ||
	    (rc = need_string(path, idx, o, "destination",
	                      &it->destination)) != 0 ||
	    (rc = need_string(path, idx, o, "action", &it->action)) != 0)
		return rc;
	if (!objsign_name_valid(it->name))
		return cli_fail(path, "intention %zu: name \"%s\" is not "
		                NAME_RULE, idx, it->name);
	if (!source_valid(it->source))
		return cli_fail(path, "intention %s: source \"%s\" is neither a "
		                "service name, \"group:NAME\" nor \"*\" (names "
		                "are " CLI_NAME_RULE ")", it->name, it->source);
	if (!destination_valid(it->destination))
		return cli_fail(path, "intention %s: destination \"%s\" is "
		                "neither a service name nor \"*\" (names are "
		                CLI_NAME_RULE ")", it->name, it->destination);
	if (strcmp(it->action, "allow") != 0 && strcmp(it->action, "deny") != 0)
		return cli_fail(path, "intention %s: action \"%s\" is neither "
		                "\"allow\" nor \"deny\"", it->name, it->action);
	it->http = json_object_get(o, "http");
	return check_value(path, it);
}

/*
 * Reads FILE: one intention object or a list of them, every one checked,
 * names unique.  *doc owns the strings *its points into.
 */
static int
load_intentions(const char *path, json_t **doc, struct intention **its,
                size_t *n)
{
	static const struct objsign_words words = {
		"an intention object", "intention", "intentions",
	};
	size_t i, j;
	int rc;

	*its = NULL;
	*n = 0;
	if ((rc = objsign_load_list(path, INTENTIONS_FILE_MAX, INTENTIONS_MAX,
	                            &words, doc)) != 0)
		return rc;
	*n = json_array_size(*doc);
	*its = calloc(*n, sizeof(**its));
	if (*its == NULL)
		return cli_fail(path, "out of memory");
	for (i = 0; i < *n; i++)
		if ((rc = parse_one(path, i + 1, json_array_get(*doc, i),
		                    &(*its)[i])) != 0)
			return rc;
	for (i = 0; i < *n; i++)
		for (j = i + 1; j < *n; j++)
			if (strcmp((*its)[i].name, (*its)[j].name) == 0)
				return cli_fail(path, "two intentions are named "
				                "\"%s\" (entries %zu and %zu)",
				                (*its)[i].name, i + 1, j + 1);
	return 0;
}

/* The canonical value: {"action":..,"destination":..,"source":..} and
 * "http" when given, keys sorted at every level. */
static char *
canonical_value(const struct intention *it)
{
	json_t *v = json_pack("{s:s, s:s, s:s}", "source", it->source,
	                      "destination", it->destination, "action",
	                      it->action);
	char *s;

	if (v == NULL)
		return NULL;
	if (it->http != NULL &&
	    json_object_set(v, "http", (json_t *)it->http) != 0) {
		json_decref(v);
		return NULL;
	}
	s = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(v);
	return s;
}

static int
intentions_apply_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[N_SIGN_OPTS] = { AGENT_OPTS, SIGNER_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = N_SIGN_OPTS,
	                      .min_pos = 1, .max_pos = 1 };
	struct intention *its = NULL;
	struct agent_conn c;
	struct objsign_signer s;
	json_t *doc = NULL;
	uint64_t hlc;
	size_t n, i;
	char *value;
	int rc;

	if (!cli_parse(ctx, &a, argc, argv, &rc))
		return rc;
	if ((rc = agent_conn_init(ctx, opts, &c)) != 0)
		return rc;
	if ((rc = load_intentions(a.pos[0], &doc, &its, &n)) != 0)
		goto out;
	if ((rc = objsign_signer_load(opts[OPT_SIGNER_KEY].value,
	                               opts[OPT_SIGNER_CERT].value,
	                               "intentions", &s)) != 0)
		goto out;
	hlc = objsign_hlc_now();
	for (i = 0; i < n; i++) {
		if ((value = canonical_value(&its[i])) == NULL) {
			rc = cli_fail(its[i].name, "out of memory");
			break;
		}
		rc = objsign_post(&c, &s, GOSSIP_OBJ_INTENTION, its[i].name, value, hlc);
		free(value);
		if (rc)
			break;
		if (!c.json)
			printf("applied: intention %s (%s -> %s: %s), gossiped "
			       "to the cluster\n", its[i].name, its[i].source,
			       its[i].destination, its[i].action);
	}
	if (rc && i > 0)
		fprintf(stderr, "weft: %zu of %zu intentions applied before the "
		        "failure; the rest were not sent\n", i, n);
	objsign_signer_free(&s);
out:
	free(its);
	json_decref(doc);
	return rc;
}

/* The agent's intention objects (tombstones too). */
static int
get_intentions(const struct agent_conn *c, json_t **reply, json_t **list)
{
	int rc = agent_call(c, "GET", "/v1/objects?kind=intention", NULL,
	                    reply);

	if (rc)
		return rc;
	*list = agent_need_array(*reply, "GET /v1/objects", "objects");
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
intentions_delete_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[N_SIGN_OPTS] = { AGENT_OPTS, SIGNER_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = N_SIGN_OPTS,
	                      .min_pos = 1, .max_pos = 1 };
	struct agent_conn c;
	struct objsign_signer s;
	json_t *reply = NULL, *list, *e;
	const char *name;
	bool live = false;
	size_t i;
	int rc;

	if (!cli_parse(ctx, &a, argc, argv, &rc))
		return rc;
	name = a.pos[0];
	if (!objsign_name_valid(name))
		return cli_usage_error(ctx, "'%s' is not an intention name ("
		                       NAME_RULE ")", name);
	if ((rc = agent_conn_init(ctx, opts, &c)) != 0)
		return rc;
	if ((rc = objsign_signer_load(opts[OPT_SIGNER_KEY].value,
	                               opts[OPT_SIGNER_CERT].value,
	                               "intentions", &s)) != 0)
		return rc;
	/* A typo would otherwise gossip a tombstone for nothing and look
	 * like success. */
	if ((rc = get_intentions(&c, &reply, &list)) != 0)
		goto out;
	json_array_foreach(list, i, e) {
		const char *n = str_of(e, "name");

		if (n && strcmp(n, name) == 0 &&
		    !json_is_true(json_object_get(e, "deleted")))
			live = true;
	}
	json_decref(reply);
	if (!live) {
		rc = cli_fail(name, "weftd holds no intention of that name "
		              "(see `weft intentions list`)");
		goto out;
	}
	rc = objsign_post(&c, &s, GOSSIP_OBJ_INTENTION, name, NULL,
	                  objsign_hlc_now());
	if (rc == 0 && !c.json)
		printf("deleted: intention %s, the deletion gossiped to the "
		       "cluster\n", name);
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
intentions_list_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const char *const heads[] = { "NAME", "SOURCE", "DESTINATION",
		"ACTION", "SIGNER", "UPDATED", "HTTP", NULL };
	static const char *const keys[] = { "name", "source", "destination",
		"action", "signer" };
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
	size_t i, k, n_http;
	int rc;

	if (!cli_parse(ctx, &a, argc, argv, &rc))
		return rc;
	if ((rc = agent_conn_init(ctx, opts, &c)) != 0)
		return rc;
	if ((rc = get_intentions(&c, &reply, &list)) != 0)
		return rc;
	if (c.json) {
		agent_print_json(reply);
		json_decref(reply);
		return 0;
	}
	if (table_init(&t, heads) != 0) {
		json_decref(reply);
		return cli_fail("intentions list", "out of memory");
	}
	json_array_foreach(list, i, e) {
		bool deleted = json_is_true(json_object_get(e, "deleted"));

		if (!json_is_object(e) || (deleted && !opts[OPT_ALL].given))
			continue;
		for (k = 0; k < 5; k++) {
			agent_cell(json_object_get(e, keys[k]), cells[k],
			           CELL_MAX);
			row[k] = cells[k];
		}
		if (deleted)
			snprintf(cells[3], CELL_MAX, "(deleted)");
		hlc_time(json_object_get(e, "hlc"), cells[5], CELL_MAX);
		row[5] = cells[5];
		/* L7 rules narrow an allow; "-" when there are none. */
		n_http = json_array_size(json_object_get(e, "http"));
		if (n_http > 0)
			snprintf(cells[6], CELL_MAX, "%zu rule%s", n_http,
			         n_http == 1 ? "" : "s");
		else
			snprintf(cells[6], CELL_MAX, "-");
		row[6] = cells[6];
		if (table_add(&t, row) != 0) {
			rc = cli_fail("intentions list", "out of memory");
			break;
		}
	}
	if (rc == 0)
		table_print(&t, stdout);
	table_free(&t);
	json_decref(reply);
	return rc;
}

const struct cli_cmd intentions_cmds[] = {
	{
		.name = "apply",
		.summary = "Sign intentions and hand them to the local weftd",
		.synopsis = "FILE --signer-key FILE --signer-cert FILE [--json] "
		            "[--socket PATH]\n            [--timeout DURATION]",
		.help = "FILE holds one intention or a JSON list of them:\n"
		        "  {\"name\": \"web-to-db\", \"source\": \"web\", "
		        "\"destination\": \"db\",\n"
		        "   \"action\": \"allow\"}\n"
		        "source: a service name, \"group:NAME\" or \"*\"; "
		        "destination: a service\nname or \"*\"; action: allow "
		        "or deny.  On an inbound connection the\nmost specific "
		        "match wins (a named service over a group over \"*\"),\n"
		        "deny between equals; without a match, the agent's "
		        "mesh.default_intention.\nApplying a name again replaces "
		        "that intention.  Every entry is checked\nbefore "
		        "anything is sent.\n\n"
		        "An allow intention may narrow what it allows for HTTP "
		        "with L7 rules:\n"
		        "  \"http\": [{\"path_prefix\": \"/api/\", \"methods\": "
		        "[\"GET\", \"HEAD\"]},\n"
		        "           {\"path_prefix\": \"/health\"}]\n"
		        "a request passes when one rule allows it (a rule "
		        "without methods allows\nany method, one without "
		        "path_prefix any path).\n\n"
		        "Options:\n" SIGNER_HELP AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = intentions_apply_main,
	},
	{
		.name = "list",
		.summary = "List the intentions the local weftd holds",
		.synopsis = "[--all] [--json] [--socket PATH] "
		            "[--timeout DURATION]",
		.help = "One line per intention: NAME SOURCE DESTINATION ACTION "
		        "SIGNER (key id)\nUPDATED HTTP (how many L7 rules "
		        "narrow it, \"-\" for none).\n\n"
		        "Options:\n"
		        "  --all               deleted ones too (ACTION "
		        "\"(deleted)\")\n" AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = intentions_list_main,
	},
	{
		.name = "delete",
		.summary = "Delete an intention cluster-wide (a signed "
		           "tombstone)",
		.synopsis = "NAME --signer-key FILE --signer-cert FILE [--json] "
		            "[--socket PATH]\n            [--timeout DURATION]",
		.help = "Options:\n" SIGNER_HELP AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = intentions_delete_main,
	},
	{ .name = NULL },
};
