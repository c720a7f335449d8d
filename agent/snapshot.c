/*
 * The snapshot: the members this node knew, so that after a restart it
 * can rejoin through them even when no seed answers.  Written atomically,
 * at most every few seconds, when membership changed.  It is a hint:
 * a missing or broken snapshot only means starting from the seeds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/err.h"
#include "common/file.h"

#define SNAPSHOT_VERSION 1
#define SNAPSHOT_MIN_GAP_MS 2000
#define SNAPSHOT_MAX_MEMBERS 100000
#define SNAPSHOT_FILE_MAX (64u << 20)

static void
snapshot_path(const struct agent *a, char *out, size_t cap)
{
	snprintf(out, cap, "%s/members.json", a->cfg.data_dir);
}

struct collect {
	json_t *list;
	const uint8_t *self;
};

static void
collect_member(void *ctx, enum gossip_state s, const struct gossip_record *r)
{
	struct collect *c = ctx;
	char addr[72];

	if (memcmp(r->key_id, c->self, KEY_ID_LEN) == 0)
		return;
	if (s != GOSSIP_ALIVE && s != GOSSIP_SUSPECT)
		return;
	agent_addr_format(&r->addr, addr, sizeof(addr));
	json_array_append_new(c->list, json_pack("{s:s, s:s}", "name", r->name,
	                                         "addr", addr));
}

int
agent_snapshot_write(struct agent *a)
{
	struct collect c = {json_array(), gossip_self_id(a->g)};
	const struct gossip_record *self;
	enum gossip_state st;
	json_t *doc;
	char path[4096], *text;
	uint32_t inc = 0;
	int rc;

	if (gossip_member_get(a->g, c.self, &st, &self) == 0)
		inc = self->incarnation;
	gossip_member_foreach(a->g, collect_member, &c);
	doc = json_pack("{s:i, s:s, s:I, s:o}", "version", SNAPSHOT_VERSION,
	                "node", a->cfg.node_name, "incarnation", (json_int_t)inc,
	                "members", c.list);
	if (doc == NULL)
		return WEFT_ENOMEM;
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (text == NULL)
		return WEFT_ENOMEM;
	snapshot_path(a, path, sizeof(path));
	rc = file_write_atomic(path, text, strlen(text), 0600, 0);
	free(text);
	if (rc)
		weft_logf(&a->log, WEFT_LOG_WARN, "msg=\"cannot write snapshot\" "
		          "path=%s error=\"%s\"", path, weft_strerror(rc));
	a->snap_last_ms = (int64_t)uv_now(a->loop);
	a->snap_dirty = false;
	a->snap_inc = inc;
	return rc;
}

static void
on_snap_timer(uv_timer_t *t)
{
	struct agent *a = t->data;

	if (a->snap_dirty && a->g)
		agent_snapshot_write(a);
}

void
agent_snapshot_mark(struct agent *a)
{
	int64_t now = (int64_t)uv_now(a->loop), wait;

	/* Membership can change on every packet; the file needs to be
	 * roughly current, not exact. */
	if (a->snap_dirty)
		return;
	a->snap_dirty = true;
	wait = a->snap_last_ms + SNAPSHOT_MIN_GAP_MS - now;
	uv_timer_start(&a->snap_timer, on_snap_timer,
	               wait > 0 ? (uint64_t)wait : 0, 0);
}

int
agent_snapshot_load(struct agent *a, struct gossip_addr **addrs, size_t *n)
{
	char path[4096];
	uint8_t *text;
	size_t len, i;
	json_t *doc, *members, *m;
	json_error_t je;
	int rc;

	*addrs = NULL;
	*n = 0;
	snapshot_path(a, path, sizeof(path));
	rc = file_read(path, SNAPSHOT_FILE_MAX, &text, &len);
	if (rc == WEFT_ENOENT)
		return 0;
	if (rc)
		return rc;
	doc = json_loadb((const char *)text, len, 0, &je);
	free(text);
	members = json_object_get(doc, "members");
	if (doc == NULL || !json_is_array(members) ||
	    json_integer_value(json_object_get(doc, "version")) !=
	        SNAPSHOT_VERSION) {
		weft_logf(&a->log, WEFT_LOG_WARN, "msg=\"ignoring unreadable "
		          "snapshot\" path=%s", path);
		json_decref(doc);
		return WEFT_EMALFORMED;
	}
	a->last_incarnation =
		(uint32_t)json_integer_value(json_object_get(doc, "incarnation"));
	*addrs = calloc(json_array_size(members) + 1, sizeof(**addrs));
	if (*addrs == NULL) {
		json_decref(doc);
		return WEFT_ENOMEM;
	}
	json_array_foreach(members, i, m) {
		struct agent_hostport hp;
		const char *s = json_string_value(json_object_get(m, "addr"));

		if (i >= SNAPSHOT_MAX_MEMBERS)
			break;
		if (s && agent_parse_hostport(s, AGENT_GOSSIP_PORT, &hp) == 0 &&
		    agent_addr_from_hostport(&hp, &(*addrs)[*n]) == 0)
			(*n)++;
	}
	json_decref(doc);
	return 0;
}
