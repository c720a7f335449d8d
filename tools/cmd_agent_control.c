/*
 * The agent commands that change something: `weft join`, `weft leave`,
 * `weft reload` and `weft revoke apply`.  weftd allows them only to the
 * socket's owner or root; its refusal is printed as it says it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/armor.h"
#include "crypto/revoke.h"
#include "tools/agent_cli.h"
#include "tools/commands.h"

#define ADDR_MAX 255
/* Far above any revocation file; the agent takes bodies up to 1 MiB. */
#define REVOKE_FILE_MAX (256 * 1024)

static int
parse_common(const struct cli_ctx *ctx, int argc, char **argv,
             struct cli_args *a, struct agent_conn *c)
{
	int rc;

	if (!cli_parse(ctx, a, argc, argv, &rc))
		return rc;
	return agent_conn_init(ctx, a->opts, c);
}

/* The reply's value at key as text fit for a terminal, "?" when it is
 * not there. */
static void
reply_text(const json_t *reply, const char *key, char *out, size_t cap)
{
	const json_t *v = json_object_get(reply, key);
	size_t i;

	if (v == NULL)
		snprintf(out, cap, "?");
	else
		agent_cell(v, out, cap);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = '?';
}

/* Posts body to path.  With --json the reply is printed here and *reply
 * is NULL; otherwise the caller prints *reply for people and frees it.
 * Returns the exit status. */
static int
post(const struct agent_conn *c, const char *path, const json_t *body,
     json_t **reply)
{
	int rc;

	*reply = NULL;
	if ((rc = agent_call(c, "POST", path, body, reply)) != 0)
		return rc;
	if (c->json) {
		agent_print_json(*reply);
		json_decref(*reply);
		*reply = NULL;
	}
	return 0;
}

/* Something the agent can parse as host[:port]; the agent judges the
 * rest and says what is wrong. */
static bool
addr_plausible(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > ADDR_MAX)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f ||
		    s[i] == '"' || s[i] == '/')
			return false;
	return true;
}

int
agent_join_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[AGENT_N_OPTS] = { AGENT_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = AGENT_N_OPTS,
	                      .min_pos = 1, .max_pos = CLI_MAX_POS };
	struct agent_conn c;
	json_t *body, *list, *reply;
	char v[64];
	size_t i;
	int rc;

	if ((rc = parse_common(ctx, argc, argv, &a, &c)) != 0)
		return rc;
	for (i = 0; i < a.n_pos; i++)
		if (!addr_plausible(a.pos[i]))
			return cli_usage_error(ctx, "'%s' is not an address "
			                       "(HOST or HOST:PORT)", a.pos[i]);
	list = json_array();
	body = json_pack("{s:o}", "addresses", list);
	if (body == NULL)
		return cli_fail("join", "out of memory");
	for (i = 0; i < a.n_pos; i++)
		if (json_array_append_new(list, json_string(a.pos[i])) != 0) {
			json_decref(body);
			return cli_fail("join", "out of memory");
		}
	rc = post(&c, "/v1/join", body, &reply);
	json_decref(body);
	if (reply != NULL) {
		reply_text(reply, "joining", v, sizeof(v));
		printf("joining: push-pull started with %s of %zu address%s\n",
		       v, a.n_pos, a.n_pos == 1 ? "" : "es");
		json_decref(reply);
	}
	return rc;
}

int
agent_leave_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[AGENT_N_OPTS] = { AGENT_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = AGENT_N_OPTS };
	struct agent_conn c;
	json_t *reply;
	int rc;

	if ((rc = parse_common(ctx, argc, argv, &a, &c)) != 0)
		return rc;
	if ((rc = post(&c, "/v1/leave", NULL, &reply)) != 0 || reply == NULL)
		return rc;
	printf("leaving: weftd broadcasts its leave, then exits\n");
	json_decref(reply);
	return 0;
}

int
agent_reload_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[AGENT_N_OPTS] = { AGENT_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = AGENT_N_OPTS };
	struct agent_conn c;
	json_t *reply;
	int rc;

	if ((rc = parse_common(ctx, argc, argv, &a, &c)) != 0)
		return rc;
	if ((rc = post(&c, "/v1/reload", NULL, &reply)) != 0 ||
	    reply == NULL)
		return rc;
	printf("reloaded: weftd runs the new configuration\n");
	json_decref(reply);
	return 0;
}

/*
 * Checks every revocation block of the file locally, so that a wrong or
 * damaged file is named here rather than refused by the agent, and
 * counts them.
 */
static int
check_revocations(const char *path, const char *text, size_t len,
                  size_t *n)
{
	struct revoke r;
	uint8_t *der;
	size_t der_len, pos = 0;
	int rc;

	for (*n = 0;; (*n)++) {
		rc = armor_decode_next(text, len, &pos, REVOKE_ARMOR_LABEL,
		                       &der, &der_len);
		if (rc == WEFT_ENOENT)
			break;
		if (rc)
			return cli_fail(path, "revocation %zu: broken armour "
			                "(%s)", *n + 1, weft_strerror(rc));
		rc = revoke_decode(der, der_len, &r);
		free(der);
		if (rc)
			return cli_fail(path, "revocation %zu: cannot decode it "
			                "(%s)", *n + 1, weft_strerror(rc));
	}
	if (*n == 0)
		return cli_fail(path, "no WEFT " REVOKE_ARMOR_LABEL " block in "
		                "it (make one with `weft cert revoke`)");
	return 0;
}

/* The i-th block of the file (0-based), armoured again on its own. */
static int
nth_block(const char *path, const char *text, size_t len, size_t i,
          char **out)
{
	uint8_t *der = NULL;
	size_t der_len, pos = 0, k, out_len;
	int rc = 0;

	for (k = 0; k <= i && rc == 0; k++) {
		free(der);
		der = NULL;
		rc = armor_decode_next(text, len, &pos, REVOKE_ARMOR_LABEL,
		                       &der, &der_len);
	}
	if (rc == 0)
		rc = armor_encode(REVOKE_ARMOR_LABEL, der, der_len, out,
		                  &out_len);
	free(der);
	if (rc)
		return cli_fail(path, "revocation %zu: %s", i + 1,
		                weft_strerror(rc));
	return 0;
}

static int
apply_one(const struct agent_conn *c, const char *armored)
{
	json_t *body = json_pack("{s:s}", "armored", armored), *reply;
	char kind[64], name[128];
	int rc;

	if (body == NULL)
		return cli_fail("revoke apply", "out of memory");
	rc = post(c, "/v1/objects", body, &reply);
	json_decref(body);
	if (reply != NULL) {
		reply_text(reply, "kind", kind, sizeof(kind));
		reply_text(reply, "name", name, sizeof(name));
		printf("applied: %s %s, gossiped to the cluster\n", kind,
		       name);
		json_decref(reply);
	}
	return rc;
}

int
agent_revoke_apply_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[AGENT_N_OPTS] = { AGENT_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = AGENT_N_OPTS,
	                      .min_pos = 1, .max_pos = 1 };
	struct agent_conn c;
	const char *path;
	char *text, *one;
	size_t len, n, i;
	int rc, worst = 0;

	if ((rc = parse_common(ctx, argc, argv, &a, &c)) != 0)
		return rc;
	path = a.pos[0];
	if ((rc = cli_read_file(path, REVOKE_FILE_MAX, false, &text,
	                        &len)) != 0)
		return rc;
	if ((rc = check_revocations(path, text, len, &n)) != 0)
		goto out;
	/* One object per request: a file of one goes as it is, comments
	 * and all; a file of many (as `cert verify --revoked` takes) goes
	 * block by block. */
	if (n == 1) {
		rc = apply_one(&c, text);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((rc = nth_block(path, text, len, i, &one)) != 0)
			break;
		rc = apply_one(&c, one);
		free(one);
		if (rc == CLI_EXIT_UNREACHABLE)
			break;
		if (rc > worst)
			worst = rc;
	}
	if (rc == 0)
		rc = worst;
out:
	free(text);
	return rc;
}

const struct cli_cmd revoke_cmds[] = {
	{
		.name = "apply",
		.summary = "Hand a revocation to the local weftd to gossip",
		.synopsis = "FILE [--json] [--socket PATH] [--timeout DURATION]",
		.help = "Sends the revocations in FILE (from `weft cert "
		        "revoke`) to the local\nweftd, which checks each "
		        "against its CA bundle and gossips it: every\nagent "
		        "then drops the revoked host.  FILE is decoded here "
		        "first, so a\ndamaged file is named before anything is "
		        "sent.\n\n"
		        "Options:\n" AGENT_OPTS_HELP AGENT_EXIT_HELP,
		.run = agent_revoke_apply_main,
	},
	{ .name = NULL },
};
