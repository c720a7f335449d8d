/* The local API's endpoints (docs/API.md): reading the gossip state and
 * asking the agent to join, leave, reload or spread an object. */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/api_server.h"
#include "agent/handlers.h"
#include "agent/health.h"
#include "agent/route_json.h"
#include "common/err.h"
#include "common/hex.h"
#include "crypto/armor.h"
#include "crypto/revoke.h"
#include "weft_version.h"

static const char *const health_names[] = {"unknown", "passing", "warning",
                                           "critical"};

static const char *
status_name(enum gossip_state s)
{
	switch (s) {
	case GOSSIP_ALIVE: return "alive";
	case GOSSIP_SUSPECT: return "suspect";
	case GOSSIP_DEAD: return "failed";
	case GOSSIP_LEFT: return "left";
	}
	return "unknown";
}

/* When each member last changed state, by key id: the core reports
 * events, the API shows the time. */
struct agent_change {
	uint8_t id[KEY_ID_LEN];
	int64_t ms;
};

static struct agent_change *
change_find(struct agent *a, const uint8_t id[KEY_ID_LEN], bool add)
{
	for (size_t i = 0; i < a->n_changes; i++)
		if (memcmp(a->changes[i].id, id, KEY_ID_LEN) == 0)
			return &a->changes[i];
	if (!add)
		return NULL;
	if (a->n_changes == a->cap_changes) {
		size_t cap = a->cap_changes ? 2 * a->cap_changes : 64;
		struct agent_change *v = realloc(a->changes, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		a->changes = v;
		a->cap_changes = cap;
	}
	memcpy(a->changes[a->n_changes].id, id, KEY_ID_LEN);
	return &a->changes[a->n_changes++];
}

static json_t *
str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *
labels_object(const char *const *v, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(v[i], '=');
		char key[128];

		if (eq == NULL || (size_t)(eq - v[i]) >= sizeof(key))
			continue;
		memcpy(key, v[i], (size_t)(eq - v[i]));
		key[eq - v[i]] = '\0';
		json_object_set_new(o, key, json_string(eq + 1));
	}
	return o;
}

static int
h_agent(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	struct agent *a = ctx;
	char addr[72], mesh[72], id[KEY_ID_HEX_LEN + 1];
	int64_t now = agent_now_unix();

	json_t *j;

	(void)req;
	agent_addr_format(&a->self_addr, addr, sizeof(addr));
	agent_addr_format(&a->mesh_addr, mesh, sizeof(mesh));
	key_id_hex(id, a->id.key.id);
	j = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:{s:I, s:I, s:I, s:I}}",
		"name", a->cfg.node_name, "version", WEFT_VERSION, "addr", addr,
		"mesh_addr", mesh, "key_id", id,
		"cert_not_after_unix", (json_int_t)a->id.cert.not_after,
		"cert_expires_in_s", (json_int_t)(a->id.cert.not_after - now),
		"uptime_s", (json_int_t)(now - a->started_unix),
		"socket", a->cfg.socket, "members",
		"alive", (json_int_t)gossip_member_count(a->g, GOSSIP_ALIVE),
		"suspect", (json_int_t)gossip_member_count(a->g, GOSSIP_SUSPECT),
		"failed", (json_int_t)gossip_member_count(a->g, GOSSIP_DEAD),
		"left", (json_int_t)gossip_member_count(a->g, GOSSIP_LEFT));
	if (j)
		agent_expiry_info(a, j);
	return api_reply_json(reply, 200, j);
}

struct members_ctx {
	struct agent *a;
	json_t *list;
	const uint8_t *self;
};

static void
add_member(void *ctx, enum gossip_state s, const struct gossip_record *r)
{
	struct members_ctx *m = ctx;
	char addr[72], mesh[72], id[KEY_ID_HEX_LEN + 1];
	const struct agent_change *c = change_find(m->a, r->key_id, false);

	agent_addr_format(&r->addr, addr, sizeof(addr));
	agent_addr_format(&r->mesh_addr, mesh, sizeof(mesh));
	key_id_hex(id, r->key_id);
	json_array_append_new(m->list, json_pack(
		"{s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:s, s:I, s:b}",
		"name", r->name, "addr", addr, "mesh_addr", mesh,
		"status", status_name(s), "incarnation", (json_int_t)r->incarnation,
		"services", (json_int_t)r->n_services,
		"tags", str_array(r->tags, r->n_tags), "key_id", id,
		"last_change_ms", (json_int_t)(c ? c->ms : 0),
		"self", memcmp(r->key_id, m->self, KEY_ID_LEN) == 0));
}

static int
by_name(const void *x, const void *y)
{
	const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;

	return strcmp(json_string_value(json_object_get(a, "name")),
	              json_string_value(json_object_get(b, "name")));
}

/* jansson has no sort; sort a copy of the element pointers. */
static json_t *
sorted_by_name(json_t *list)
{
	size_t n = json_array_size(list);
	json_t **v = malloc((n ? n : 1) * sizeof(*v)), *out = json_array();

	for (size_t i = 0; v && i < n; i++)
		v[i] = json_array_get(list, i);
	if (v && n > 1)
		qsort(v, n, sizeof(*v), by_name);
	for (size_t i = 0; v && i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(list);
	return out;
}

static int
h_members(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	struct agent *a = ctx;
	struct members_ctx m = {a, json_array(), gossip_self_id(a->g)};

	(void)req;
	gossip_member_foreach(a->g, add_member, &m);
	return api_reply_json(reply, 200,
	                      json_pack("{s:o}", "members", sorted_by_name(m.list)));
}

struct services_ctx {
	json_t *index; /* name -> {"endpoints": n, "passing": n} */
	const char *want;
	json_t *endpoints;
};

static void
add_services(void *ctx, enum gossip_state s, const struct gossip_record *r)
{
	struct services_ctx *sc = ctx;

	for (size_t i = 0; i < r->n_services; i++) {
		const struct gossip_service *sv = &r->services[i];
		bool live = s == GOSSIP_ALIVE || s == GOSSIP_SUSPECT;

		if (sc->want) {
			char addr[72], mesh[72];
			const char *maint;
			json_t *e;

			if (strcmp(sv->name, sc->want) != 0)
				continue;
			agent_addr_format(&r->addr, addr, sizeof(addr));
			/* The address without the gossip port. */
			*strrchr(addr, ':') = '\0';
			agent_addr_format(&r->mesh_addr, mesh, sizeof(mesh));
			maint = health_maint_reason(sv);
			e = json_pack(
				"{s:s, s:s, s:I, s:s, s:o, s:o, s:I, s:s, s:s}",
				"node", r->name, "addr", addr, "port", (json_int_t)sv->port,
				"mesh_addr", mesh, "tags", str_array(sv->tags, sv->n_tags),
				"labels", labels_object(sv->labels, sv->n_labels),
				"weight", (json_int_t)sv->weight, "health",
				maint ? "maintenance"
				      : health_names[sv->health < 4 ? sv->health : 0],
				"status", status_name(s));
			if (e && maint) {
				json_t *tags = json_array();

				/* The tag is how the record says it; people see
				 * the reason instead. */
				for (size_t t = 0; t < sv->n_tags; t++)
					if (sv->tags[t] + strlen(
					        HEALTH_MAINT_TAG_PREFIX) != maint)
						json_array_append_new(tags,
						        json_string(sv->tags[t]));
				json_object_set_new(e, "tags", tags);
				json_object_set_new(e, "maintenance_reason",
				                    json_string(maint));
			}
			json_array_append_new(sc->endpoints, e);
			continue;
		}
		if (!live)
			continue;
		{
			json_t *e = json_object_get(sc->index, sv->name);

			if (e == NULL) {
				e = json_pack("{s:s, s:i, s:i}", "name", sv->name,
				              "endpoints", 0, "passing", 0);
				json_object_set_new(sc->index, sv->name, e);
			}
			json_object_set_new(e, "endpoints", json_integer(
				json_integer_value(json_object_get(e, "endpoints")) + 1));
			if ((sv->health == 1 || sv->health == 0) &&
			    health_maint_reason(sv) == NULL)
				json_object_set_new(e, "passing", json_integer(
					json_integer_value(json_object_get(e, "passing")) +
					1));
		}
	}
}

static int
h_services(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	struct agent *a = ctx;
	struct services_ctx sc = {json_object(), NULL, NULL};
	json_t *list = json_array(), *v;
	const char *k;

	(void)req;
	gossip_member_foreach(a->g, add_services, &sc);
	json_object_foreach(sc.index, k, v) json_array_append(list, v);
	json_decref(sc.index);
	return api_reply_json(reply, 200,
	                      json_pack("{s:o}", "services", sorted_by_name(list)));
}

static int
h_service(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	struct agent *a = ctx;
	const char *name = req->path + strlen("/v1/services/");
	struct services_ctx sc = {NULL, name, json_array()};

	if (!cert_name_valid(name)) {
		json_decref(sc.endpoints);
		return api_reply_error(reply, 400, "\"%s\" is not a service name",
		                       name);
	}
	gossip_member_foreach(a->g, add_services, &sc);
	if (json_array_size(sc.endpoints) == 0) {
		json_decref(sc.endpoints);
		return api_reply_error(reply, 404, "no member offers service \"%s\"",
		                       name);
	}
	return api_reply_json(reply, 200, json_pack("{s:s, s:o}", "name", name,
	                                            "endpoints", sc.endpoints));
}

static int
h_join(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	struct agent *a = ctx;
	json_t *body, *addrs, *e;
	struct gossip_addr *seeds;
	size_t i, n;
	int rc;

	rc = api_request_json(req, &body, reply);
	if (rc)
		return rc;
	addrs = json_object_get(body, "addresses");
	n = json_array_size(addrs);
	if (!json_is_array(addrs) || n == 0 || n > 64) {
		json_decref(body);
		return api_reply_error(reply, 400, "body needs \"addresses\": a "
		                       "list of 1 to 64 \"IP[:PORT]\"");
	}
	seeds = calloc(n, sizeof(*seeds));
	if (seeds == NULL) {
		json_decref(body);
		return WEFT_ENOMEM;
	}
	json_array_foreach(addrs, i, e) {
		struct agent_hostport hp;

		if (!json_is_string(e) ||
		    agent_parse_hostport(json_string_value(e), AGENT_GOSSIP_PORT,
		                         &hp) != 0 ||
		    agent_addr_from_hostport(&hp, &seeds[i]) != 0) {
			rc = api_reply_error(reply, 400, "addresses[%zu] is not "
			                     "\"IP[:PORT]\"", i);
			free(seeds);
			json_decref(body);
			return rc;
		}
	}
	rc = agent_join(a, seeds, n);
	free(seeds);
	json_decref(body);
	if (rc)
		return api_reply_error(reply, 500, "join failed: %s",
		                       weft_strerror(rc));
	return api_reply_json(reply, 200,
	                      json_pack("{s:I}", "joining", (json_int_t)n));
}

static int
h_leave(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	(void)req;
	agent_begin_leave(ctx);
	return api_reply_json(reply, 200, json_pack("{s:b}", "leaving", 1));
}

static int
h_reload(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	char err[512];

	(void)req;
	if (agent_reload(ctx, err, sizeof(err)) != 0)
		return api_reply_error(reply, 400, "reload refused, the running "
		                       "configuration is kept: %s", err);
	return api_reply_json(reply, 200, json_pack("{s:b}", "reloaded", 1));
}

static int
put_revocation(struct agent *a, const char *text, size_t len,
               struct api_reply *reply)
{
	uint8_t *bin, *msg;
	size_t bin_len, msg_len, pos = 0;
	struct revoke r;
	char id[KEY_ID_HEX_LEN + 1];
	int rc;

	rc = armor_decode_next(text, len, &pos, REVOKE_ARMOR_LABEL, &bin,
	                       &bin_len);
	if (rc)
		return api_reply_error(reply, 400, "no WEFT REVOCATION block in "
		                       "\"armored\": %s", weft_strerror(rc));
	rc = revoke_decode(bin, bin_len, &r);
	if (rc == 0 && (rc = revoke_verify(&r, &a->id.bundle)) != 0) {
		free(bin);
		return api_reply_error(reply, 400, "revocation not signed by a "
		                       "CA this agent trusts");
	}
	if (rc) {
		free(bin);
		return api_reply_error(reply, 400, "malformed revocation: %s",
		                       weft_strerror(rc));
	}
	key_id_hex(id, r.key_id);
	/* The statement carries the CA's signature; the object around it is
	 * signed by this node so that gossip knows who brought it. */
	rc = gossip_object_make(&a->id.key, a->id.cert.encoded,
	                        a->id.cert.encoded_len, GOSSIP_OBJ_REVOCATION, id,
	                        gossip_hlc_next(a->g, agent_now_ms(a)), false,
	                        bin, bin_len, &msg, &msg_len);
	free(bin);
	if (rc == 0) {
		rc = gossip_object_put(a->g, agent_now_ms(a), msg, msg_len);
		free(msg);
	}
	agent_flush(a);
	if (rc)
		return api_reply_error(reply, 400, "refused: %s",
		                       gossip_get_stats(a->g)->last_reason
		                           ? gossip_get_stats(a->g)->last_reason
		                           : weft_strerror(rc));
	return api_reply_json(reply, 200, json_pack("{s:s, s:s}", "kind",
	                                            "revocation", "name", id));
}

/* A route or intention, signed by an operator (`weft intentions apply`):
 * gossip checks the signature and the signer's operator group. */
static int
put_object(struct agent *a, const char *text, size_t len,
           struct api_reply *reply)
{
	uint8_t *bin;
	size_t bin_len, pos = 0;
	int rc;

	rc = armor_decode_next(text, len, &pos, GOSSIP_OBJECT_ARMOR_LABEL, &bin,
	                       &bin_len);
	if (rc)
		return api_reply_error(reply, 400, "no WEFT OBJECT block in "
		                       "\"armored\": %s", weft_strerror(rc));
	rc = gossip_object_put(a->g, agent_now_ms(a), bin, bin_len);
	free(bin);
	agent_flush(a);
	if (rc)
		return api_reply_error(reply, rc == WEFT_EPOLICY ? 403 : 400,
		                       "refused: %s",
		                       gossip_get_stats(a->g)->last_reason
		                           ? gossip_get_stats(a->g)->last_reason
		                           : weft_strerror(rc));
	return api_reply_json(reply, 200, json_pack("{s:b}", "accepted", 1));
}

static int
h_objects_post(void *ctx, const struct api_request *req,
               struct api_reply *reply)
{
	json_t *body, *armored;
	const char *text;
	int rc = api_request_json(req, &body, reply);

	if (rc)
		return rc;
	armored = json_object_get(body, "armored");
	if (!json_is_string(armored)) {
		json_decref(body);
		return api_reply_error(reply, 400, "body needs \"armored\": the "
		                       "object's text armour");
	}
	text = json_string_value(armored);
	/* The armour's label says what it is. */
	if (strstr(text, "-----BEGIN WEFT " GOSSIP_OBJECT_ARMOR_LABEL "-----"))
		rc = put_object(ctx, text, json_string_length(armored), reply);
	else
		rc = put_revocation(ctx, text, json_string_length(armored),
		                    reply);
	json_decref(body);
	return rc;
}

static const char *const kind_names[] = {NULL, "route", "intention",
                                         "revocation"};

struct objects_ctx {
	json_t *list;
	int kind; /* 0: all */
};

static void
add_object(void *ctx, const struct gossip_object *o)
{
	struct objects_ctx *oc = ctx;
	char signer[KEY_ID_HEX_LEN + 1];
	json_t *j;

	if (oc->kind && o->kind != oc->kind)
		return;
	key_id_hex(signer, o->signer);
	j = json_pack("{s:s, s:s, s:I, s:s, s:b}", "kind",
	              o->kind < 4 && kind_names[o->kind] ? kind_names[o->kind]
	                                                 : "unknown",
	              "name", o->name, "hlc", (json_int_t)o->hlc, "signer",
	              signer, "deleted", o->deleted);
	if (o->kind == GOSSIP_OBJ_REVOCATION && !o->deleted) {
		struct revoke r;

		if (revoke_decode(o->value, o->value_len, &r) == 0) {
			char id[KEY_ID_HEX_LEN + 1];

			key_id_hex(id, r.key_id);
			json_object_set_new(j, "revoked_key_id", json_string(id));
			json_object_set_new(j, "reason", json_string(r.reason));
			json_object_set_new(j, "until_unix", json_integer(r.until));
		}
	}
	if (o->kind == GOSSIP_OBJ_INTENTION && !o->deleted) {
		/* The signed value, {"source","destination","action"}; a value
		 * that is not a JSON object is listed without them. */
		json_t *v = json_loadb((const char *)o->value, o->value_len, 0,
		                       NULL);
		static const char *const fields[] = {"source", "destination",
		                                     "action"};

		for (size_t i = 0; json_is_object(v) && i < 3; i++) {
			json_t *f = json_object_get(v, fields[i]);

			if (json_is_string(f))
				json_object_set(j, fields[i], f);
		}
		/* L7 rules, as signed. */
		if (json_is_array(json_object_get(v, "http")))
			json_object_set(j, "http", json_object_get(v, "http"));
		json_decref(v);
	}
	if (o->kind == GOSSIP_OBJ_ROUTE && !o->deleted) {
		json_t *v = json_loadb((const char *)o->value, o->value_len, 0,
		                       NULL);

		if (json_is_string(json_object_get(v, "service")))
			json_object_set(j, "service", json_object_get(v, "service"));
		json_decref(v);
	}
	json_array_append_new(oc->list, j);
}

static int
h_objects_get(void *ctx, const struct api_request *req,
              struct api_reply *reply)
{
	struct agent *a = ctx;
	struct objects_ctx oc = {NULL, 0};
	const char *kind = api_request_param(req, "kind");

	if (kind) {
		for (int k = 1; k < 4; k++)
			if (strcmp(kind, kind_names[k]) == 0)
				oc.kind = k;
		if (oc.kind == 0)
			return api_reply_error(reply, 400, "unknown kind \"%s\" "
			                       "(route, intention, revocation)",
			                       kind);
	}
	oc.list = json_array();
	gossip_object_foreach(a->g, add_object, &oc);
	return api_reply_json(reply, 200, json_pack("{s:o}", "objects", oc.list));
}

/*
 * GET /v1/routes and /v1/routes/NAME: the route objects this agent holds,
 * each as signed ("value"), whether it decodes ("error" when not: the
 * proxy skips it) and whether it is the one in force for its service
 * ("active": the lowest name among the service's valid objects, as
 * table_route() picks).
 */

static void
add_route(void *ctx, const struct gossip_object *o)
{
	json_t *list = ctx;
	char signer[KEY_ID_HEX_LEN + 1], err[ROUTE_JSON_ERR_MAX];
	struct route_json *rj = NULL;
	json_t *j;

	if (o->kind != GOSSIP_OBJ_ROUTE)
		return;
	key_id_hex(signer, o->signer);
	j = json_pack("{s:s, s:I, s:s, s:b}", "name", o->name, "hlc",
	              (json_int_t)o->hlc, "signer", signer, "deleted",
	              o->deleted);
	if (j == NULL)
		return;
	if (!o->deleted) {
		json_t *v = json_loadb((const char *)o->value, o->value_len, 0,
		                       NULL);

		if (route_json_parse((const char *)o->value, o->value_len, &rj,
		                     err, sizeof(err)) != 0)
			json_object_set_new(j, "error", json_string(err));
		else if (strcmp(route_json_spec(rj)->name, o->name) != 0 ||
		         !cert_name_valid(route_json_spec(rj)->service))
			json_object_set_new(j, "error", json_string(
			    strcmp(route_json_spec(rj)->name, o->name) != 0 ?
			    "its name differs from the object's" :
			    "its service is not a service name"));
		else
			json_object_set_new(j, "rules", json_integer(
			    (json_int_t)route_json_spec(rj)->n_rules));
		if (json_is_string(json_object_get(v, "service")))
			json_object_set(j, "service", json_object_get(v, "service"));
		if (v != NULL)
			json_object_set_new(j, "value", v);
		route_json_free(rj);
	}
	json_array_append_new(list, j);
}

/* Marks the object in force for each service, as table_route() picks. */
static void
mark_active(json_t *list)
{
	size_t i, k;
	json_t *r, *q;

	json_array_foreach(list, i, r) {
		const char *svc = json_string_value(json_object_get(r, "service"));
		const char *name = json_string_value(json_object_get(r, "name"));
		bool live = json_is_false(json_object_get(r, "deleted")) &&
		            json_object_get(r, "error") == NULL && svc != NULL;
		bool active = live;

		json_array_foreach(list, k, q) {
			const char *s2 = json_string_value(json_object_get(q,
			                                                   "service"));

			if (!active || k == i || s2 == NULL || strcmp(s2, svc) != 0 ||
			    json_is_true(json_object_get(q, "deleted")) ||
			    json_object_get(q, "error") != NULL)
				continue;
			if (strcmp(json_string_value(json_object_get(q, "name")),
			           name) < 0)
				active = false;
		}
		json_object_set_new(r, "active", json_boolean(active));
	}
}

static int
h_routes(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	struct agent *a = ctx;
	json_t *list = json_array();

	(void)req;
	if (list == NULL)
		return WEFT_ENOMEM;
	gossip_object_foreach(a->g, add_route, list);
	mark_active(list);
	return api_reply_json(reply, 200, json_pack("{s:o}", "routes", list));
}

static int
h_route(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	struct agent *a = ctx;
	const char *name = req->path + strlen("/v1/routes/");
	json_t *list = json_array(), *r;
	size_t i;

	if (list == NULL)
		return WEFT_ENOMEM;
	/* All of them, so that "active" compares with the others. */
	gossip_object_foreach(a->g, add_route, list);
	mark_active(list);
	json_array_foreach(list, i, r) {
		if (strcmp(json_string_value(json_object_get(r, "name")),
		           name) == 0) {
			json_incref(r);
			json_decref(list);
			return api_reply_json(reply, 200, r);
		}
	}
	json_decref(list);
	return api_reply_error(reply, 404, "no route object named \"%.255s\"",
	                       name);
}

static int
h_checks(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	(void)req;
	return api_reply_json(reply, 200, agent_health_json(ctx));
}

/* POST /v1/checks/ID/pass|warn|fail, body {"note": "..."} or none. */
static int
h_check_update(void *ctx, const struct api_request *req,
               struct api_reply *reply)
{
	const char *rest = req->path + strlen("/v1/checks/"), *slash;
	enum health_status st;
	json_t *body = NULL;
	const char *note = NULL;
	char id[128];
	int rc;

	slash = strrchr(rest, '/');
	if (slash == NULL || slash == rest || (size_t)(slash - rest) >= sizeof(id))
		return api_reply_error(reply, 404, "use POST "
		                       "/v1/checks/ID/pass, /warn or /fail");
	memcpy(id, rest, (size_t)(slash - rest));
	id[slash - rest] = '\0';
	if (health_status_parse(slash + 1, &st) != 0)
		return api_reply_error(reply, 404, "\"%s\" is not pass, warn or "
		                       "fail", slash + 1);
	if (req->body_len) {
		if ((rc = api_request_json(req, &body, reply)) != 0)
			return rc;
		note = json_string_value(json_object_get(body, "note"));
		if (json_object_get(body, "note") && note == NULL) {
			json_decref(body);
			return api_reply_error(reply, 400, "\"note\" must be a "
			                       "string");
		}
	}
	rc = agent_health_ttl_update(ctx, id, st, note);
	json_decref(body);
	if (rc == WEFT_ENOENT)
		return api_reply_error(reply, 404, "no check \"%s\" on this "
		                       "agent", id);
	if (rc == WEFT_EINVAL)
		return api_reply_error(reply, 400, "check \"%s\" is not a TTL "
		                       "check: only those take updates", id);
	if (rc)
		return rc;
	return api_reply_json(reply, 200, json_pack("{s:s, s:s}", "id", id,
	                                            "status",
	                                            health_status_name(st)));
}

/* POST /v1/maint {"enable": bool, "service": "web", "reason": "..."}. */
static int
h_maint(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	json_t *body, *en, *sv, *rs;
	const char *service = NULL, *reason = "";
	int rc = api_request_json(req, &body, reply);

	if (rc)
		return rc;
	en = json_object_get(body, "enable");
	sv = json_object_get(body, "service");
	rs = json_object_get(body, "reason");
	if (!json_is_boolean(en) || (sv && !json_is_string(sv) &&
	                             !json_is_null(sv)) ||
	    (rs && !json_is_string(rs) && !json_is_null(rs))) {
		json_decref(body);
		return api_reply_error(reply, 400, "body needs \"enable\": true "
		                       "or false, optionally \"service\" and "
		                       "\"reason\" strings");
	}
	if (json_is_string(sv))
		service = json_string_value(sv);
	if (json_is_string(rs))
		reason = json_string_value(rs);
	if (json_is_true(en) && *reason == '\0') {
		json_decref(body);
		return api_reply_error(reply, 400, "maintenance needs a "
		                       "\"reason\"");
	}
	if (strlen(reason) > HEALTH_REASON_MAX) {
		json_decref(body);
		return api_reply_error(reply, 400, "\"reason\" is longer than "
		                       "%d bytes", HEALTH_REASON_MAX);
	}
	rc = agent_health_maint(ctx, service, json_is_true(en), reason);
	if (rc == WEFT_ENOENT)
		rc = api_reply_error(reply, 404, "this node runs no service "
		                     "\"%s\"", service ? service : "(none)");
	else if (rc)
		rc = api_reply_error(reply, 500, "maintenance not published: %s",
		                     weft_strerror(rc));
	else
		rc = api_reply_json(reply, 200, json_pack("{s:b, s:s?}",
		                    "maintenance", json_is_true(en), "service",
		                    service));
	json_decref(body);
	return rc;
}

static int
h_metrics(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	struct agent *a = ctx;
	struct metrics_writer w;

	(void)req;
	metrics_writer_init(&w);
	metrics_render(&a->metrics, &w);
	if (w.data == NULL) {
		metrics_writer_fini(&w);
		return WEFT_ENOMEM;
	}
	reply->text = w.data;
	reply->text_len = w.len;
	reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
	w.data = NULL;
	metrics_writer_fini(&w);
	return 0;
}

static int
h_certs(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	(void)req;
	return api_reply_json(reply, 200, agent_certs_json(ctx));
}

static const struct api_route routes[] = {
	{"GET", "/v1/health", false, api_health},
	{"GET", "/v1/agent", false, h_agent},
	{"GET", "/v1/members", false, h_members},
	{"GET", "/v1/services", false, h_services},
	{"GET", "/v1/services/", false, h_service},
	{"POST", "/v1/join", true, h_join},
	{"POST", "/v1/leave", true, h_leave},
	{"POST", "/v1/reload", true, h_reload},
	{"POST", "/v1/objects", true, h_objects_post},
	{"GET", "/v1/objects", false, h_objects_get},
	{"GET", "/v1/routes", false, h_routes},
	{"GET", "/v1/routes/", false, h_route},
	{"GET", "/v1/events", false, api_events},
	{"GET", "/v1/checks", false, h_checks},
	{"POST", "/v1/checks/", true, h_check_update},
	{"POST", "/v1/maint", true, h_maint},
	{"GET", "/v1/metrics", false, h_metrics},
	{"GET", "/v1/certs", false, h_certs},
};

static void
on_server_closed(struct api_server *s)
{
	free(s);
}

int
agent_handlers_start(struct agent *a)
{
	int gid = -1, rc;

	if (a->cfg.socket_group) {
		struct group *g = getgrnam(a->cfg.socket_group);

		if (g == NULL) {
			weft_logf(&a->log, WEFT_LOG_ERROR, "msg=\"no such group\" "
			          "socket_group=%s", a->cfg.socket_group);
			return WEFT_ENOENT;
		}
		gid = (int)g->gr_gid;
	}
	a->api = calloc(1, sizeof(*a->api));
	if (a->api == NULL)
		return WEFT_ENOMEM;
	a->api->log = &a->log;
	rc = api_server_start(a->api, a->loop, a->cfg.socket, gid, routes,
	                      sizeof(routes) / sizeof(routes[0]), a);
	if (rc) {
		weft_logf(&a->log, WEFT_LOG_ERROR, "msg=\"cannot serve the local "
		          "API\" reason=\"%s\"", a->api->error);
		api_server_close(a->api, on_server_closed);
		a->api = NULL;
		return rc;
	}
	return 0;
}

void
agent_handlers_stop(struct agent *a)
{
	if (a->api)
		api_server_close(a->api, on_server_closed);
	a->api = NULL;
	free(a->changes);
	a->changes = NULL;
	a->n_changes = a->cap_changes = 0;
}

/* The API names object events "put" and "deleted": the core's names
 * without their "object-" prefix. */
static const char *
event_word(enum gossip_event_kind k)
{
	const char *n = gossip_event_name(k);

	return strncmp(n, "object-", 7) == 0 ? n + 7 : n;
}

void
agent_handlers_event(struct agent *a, const struct gossip_event *ev)
{
	int64_t now = agent_now_ms(a);
	json_t *j = NULL;

	if (ev->rec) {
		char addr[72];
		struct agent_change *c = change_find(a, ev->rec->key_id, true);

		if (c)
			c->ms = now;
		agent_health_watch(a, ev->rec, ev->kind == GOSSIP_EV_LEFT ||
		                   ev->kind == GOSSIP_EV_REAPED);
		agent_addr_format(&ev->rec->addr, addr, sizeof(addr));
		j = json_pack("{s:I, s:s, s:s, s:s, s:s}", "time_ms",
		              (json_int_t)now, "type", "member", "event",
		              event_word(ev->kind), "name", ev->rec->name, "addr",
		              addr);
	} else if (ev->obj) {
		j = json_pack("{s:I, s:s, s:s, s:s, s:s}", "time_ms",
		              (json_int_t)now, "type", "object", "event",
		              event_word(ev->kind), "kind",
		              ev->obj->kind < 4 && kind_names[ev->obj->kind]
		                  ? kind_names[ev->obj->kind]
		                  : "unknown",
		              "name", ev->obj->name);
	}
	if (j && a->api)
		api_server_broadcast_event(a->api, j);
	json_decref(j);
}
