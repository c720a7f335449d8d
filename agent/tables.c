/*
 * Turning gossip state into the proxy's immutable tables: endpoints (with
 * their subset labels) from every member's services, intentions and route
 * objects from the cluster objects, the services this node serves
 * locally (with their protocol) from the config.  Rebuilt on gossip
 * events and swapped in whole.
 *
 * A cluster object that does not decode is skipped with a logged reason,
 * never refused with the whole snapshot: one bad object signed by some
 * other tool must not take every endpoint down with it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/intention_json.h"
#include "agent/route_json.h"
#include "agent/tables.h"
#include "common/err.h"
#include "common/hex.h"
#include "crypto/cert.h"
#include "gossip/gossip.h"

/* Everything a table_spec points to, owned until table_new copied it. */
struct builder {
	struct table_endpoint *eps;
	size_t n_eps, cap_eps;
	struct table_intention *its;
	size_t n_its, cap_its;
	struct intention_json **ijs; /* own what its[] points to */
	size_t cap_ijs;
	struct route_spec *routes;
	struct route_json **rjs;     /* own what routes[] points to */
	size_t n_routes, cap_routes, cap_rjs;
	char **strs; /* strings the spec points to */
	size_t n_strs, cap_strs;
	void **blocks; /* label arrays */
	size_t n_blocks, cap_blocks;
	size_t bad_intentions, bad_routes, bad_labels, plain_denies;
	uint8_t (*revoked)[KEY_ID_LEN];
	size_t n_revoked, cap_revoked;
	const struct weft_log *log;
	int err;
};

static const char *keep(struct builder *b, const char *s);

/* v (of *cap elements of size), grown to hold one more than n; NULL
 * (and b->err) when out of memory, v and *cap unchanged. */
static void *
grow(struct builder *b, void *v, size_t *cap, size_t n, size_t size)
{
	size_t c;
	void *nv;

	if (n < *cap)
		return v;
	c = *cap ? 2 * *cap : 16;
	if ((nv = realloc(v, c * size)) == NULL) {
		b->err = WEFT_ENOMEM;
		return NULL;
	}
	*cap = c;
	return nv;
}

static void *
keep_block(struct builder *b, size_t size)
{
	void *p, **v;

	if ((v = grow(b, b->blocks, &b->cap_blocks, b->n_blocks,
	    sizeof(*b->blocks))) == NULL)
		return NULL;
	b->blocks = v;
	if ((p = calloc(1, size ? size : 1)) == NULL) {
		b->err = WEFT_ENOMEM;
		return NULL;
	}
	b->blocks[b->n_blocks++] = p;
	return p;
}

/*
 * The record's "key=value" labels as the table wants them.  What the
 * table would refuse (no '=', empty or long parts, a key twice, too
 * many) is left out with a logged reason, keeping the endpoint.
 */
static void
add_labels(struct builder *b, struct table_endpoint *e,
           const struct gossip_service *sv, const char *node)
{
	struct route_label *ls;
	size_t n = 0;

	if (sv->n_labels == 0)
		return;
	ls = keep_block(b, sv->n_labels * sizeof(*ls));
	if (ls == NULL)
		return;
	for (size_t i = 0; i < sv->n_labels; i++) {
		const char *l = sv->labels[i], *eq = strchr(l, '=');
		size_t kl = eq != NULL ? (size_t)(eq - l) : 0;
		char key[TABLE_LABEL_MAX + 1];
		bool dup = false;

		if (eq == NULL || kl == 0 || kl > TABLE_LABEL_MAX ||
		    eq[1] == '\0' || strlen(eq + 1) > TABLE_LABEL_MAX ||
		    n == TABLE_MAX_LABELS) {
			b->bad_labels++;
			weft_logf(b->log, WEFT_LOG_WARN, "msg=\"label skipped\" "
			          "node=%s service=%s label=\"%.80s\" reason=\"not "
			          "key=value with 1-%d bytes each, or too many\"",
			          node, sv->name, l, TABLE_LABEL_MAX);
			continue;
		}
		memcpy(key, l, kl);
		key[kl] = '\0';
		for (size_t j = 0; j < n && !dup; j++)
			dup = strcmp(ls[j].key, key) == 0;
		if (dup) {
			b->bad_labels++;
			weft_logf(b->log, WEFT_LOG_WARN, "msg=\"label skipped\" "
			          "node=%s service=%s label=\"%.80s\" reason=\"key "
			          "given twice\"", node, sv->name, l);
			continue;
		}
		ls[n].key = keep(b, key);
		ls[n].value = keep(b, eq + 1);
		n++;
	}
	e->labels = ls;
	e->n_labels = n;
}

static const char *
keep(struct builder *b, const char *s)
{
	char *d;

	if (b->n_strs == b->cap_strs) {
		size_t cap = b->cap_strs ? 2 * b->cap_strs : 64;
		char **v = realloc(b->strs, cap * sizeof(*v));

		if (v == NULL) {
			b->err = WEFT_ENOMEM;
			return "";
		}
		b->strs = v;
		b->cap_strs = cap;
	}
	d = strdup(s);
	if (d == NULL) {
		b->err = WEFT_ENOMEM;
		return "";
	}
	b->strs[b->n_strs++] = d;
	return d;
}

static void
add_member(void *ctx, enum gossip_state s, const struct gossip_record *r)
{
	struct builder *b = ctx;
	char mesh[72];

	if (s == GOSSIP_LEFT)
		return;
	agent_addr_format(&r->mesh_addr, mesh, sizeof(mesh));
	for (size_t i = 0; i < r->n_services; i++) {
		const struct gossip_service *sv = &r->services[i];
		struct table_endpoint *e;

		if (b->n_eps == b->cap_eps) {
			size_t cap = b->cap_eps ? 2 * b->cap_eps : 64;
			struct table_endpoint *v = realloc(b->eps, cap * sizeof(*v));

			if (v == NULL) {
				b->err = WEFT_ENOMEM;
				return;
			}
			b->eps = v;
			b->cap_eps = cap;
		}
		e = &b->eps[b->n_eps++];
		memset(e, 0, sizeof(*e));
		e->service = keep(b, sv->name);
		e->node = keep(b, r->name);
		memcpy(e->key_id, r->key_id, KEY_ID_LEN);
		memcpy(e->static_pk, r->dh_pk, sizeof(e->static_pk));
		e->mesh_addr = keep(b, mesh);
		e->port = sv->port;
		e->weight = sv->weight;
		/* Unknown (no check yet), passing and warning take traffic;
		 * critical does not. */
		e->healthy = sv->health != 3;
		e->member = s == GOSSIP_ALIVE     ? TABLE_MEMBER_ALIVE
		            : s == GOSSIP_SUSPECT ? TABLE_MEMBER_SUSPECT
		                                  : TABLE_MEMBER_DEAD;
		add_labels(b, e, sv, r->name);
	}
}

/* A value the decoder refused that still says, plainly, deny source to
 * destination. */
static bool
plain_deny(struct builder *b, const struct gossip_object *o,
           struct table_intention *it)
{
	json_t *v = json_loadb((const char *)o->value, o->value_len, 0, NULL);
	const char *src = json_string_value(json_object_get(v, "source"));
	const char *dst = json_string_value(json_object_get(v, "destination"));
	const char *act = json_string_value(json_object_get(v, "action"));
	bool ok = src != NULL && dst != NULL && act != NULL &&
	          strcmp(act, "deny") == 0 &&
	          (strcmp(src, "*") == 0 || cert_name_valid(src) ||
	           (strncmp(src, "group:", 6) == 0 &&
	            cert_name_valid(src + 6))) &&
	          (strcmp(dst, "*") == 0 || cert_name_valid(dst));

	memset(it, 0, sizeof(*it));
	if (ok) {
		it->source = keep(b, src);
		it->destination = keep(b, dst);
		it->action = TABLE_DENY;
	}
	json_decref(v);
	return ok;
}

static void
add_intention(struct builder *b, const struct gossip_object *o)
{
	struct intention_json *ij, **ijs;
	struct table_intention *it, *its;
	char why[INTENTION_JSON_ERR_MAX];

	struct table_intention deny;
	bool as_deny = false;

	/* The CLI checked the shape before signing; one signed by some
	 * other tool (or a later version) that does not decode is skipped
	 * rather than guessed at, except that a deny is still a deny:
	 * skipping it would allow what it refuses. */
	if (intention_json_parse((const char *)o->value, o->value_len, &ij,
	    why, sizeof(why)) != 0) {
		as_deny = plain_deny(b, o, &deny);
		b->bad_intentions++;
		weft_logf(b->log, WEFT_LOG_WARN, "msg=\"intention object %s\" "
		          "name=\"%s\" reason=\"%s\"", as_deny ?
		          "applied as a plain deny" : "skipped", o->name, why);
		if (!as_deny)
			return;
		b->plain_denies++;
		ij = NULL;
	}
	if ((its = grow(b, b->its, &b->cap_its, b->n_its,
	    sizeof(*b->its))) != NULL)
		b->its = its;
	if ((ijs = grow(b, b->ijs, &b->cap_ijs, b->n_its,
	    sizeof(*b->ijs))) != NULL)
		b->ijs = ijs;
	if (its == NULL || ijs == NULL) {
		intention_json_free(ij);
		return;
	}
	it = &b->its[b->n_its];
	b->ijs[b->n_its++] = ij;
	*it = as_deny ? deny : *intention_json_get(ij);
	it->name = keep(b, o->name);
}

static void
add_route(struct builder *b, const struct gossip_object *o)
{
	struct route_json *rj, **rjs;
	const struct route_spec *rs;
	struct route_spec *routes;
	char why[ROUTE_JSON_ERR_MAX];

	if (route_json_parse((const char *)o->value, o->value_len, &rj, why,
	    sizeof(why)) != 0) {
		b->bad_routes++;
		weft_logf(b->log, WEFT_LOG_WARN, "msg=\"route object skipped\" "
		          "name=\"%s\" reason=\"%s\"", o->name, why);
		return;
	}
	rs = route_json_spec(rj);
	/* What table_new() would refuse the whole snapshot for. */
	if (route_validate(rs, NULL, 0, NULL, 0) != 0 ||
	    !cert_name_valid(rs->service) || strcmp(rs->name, o->name) != 0) {
		b->bad_routes++;
		weft_logf(b->log, WEFT_LOG_WARN, "msg=\"route object skipped\" "
		          "name=\"%s\" reason=\"%s\"", o->name,
		          strcmp(rs->name, o->name) != 0 ?
		          "its name differs from the object's" :
		          "its service is not a service name");
		route_json_free(rj);
		return;
	}
	if ((routes = grow(b, b->routes, &b->cap_routes, b->n_routes,
	    sizeof(*b->routes))) != NULL)
		b->routes = routes;
	if ((rjs = grow(b, b->rjs, &b->cap_rjs, b->n_routes,
	    sizeof(*b->rjs))) != NULL)
		b->rjs = rjs;
	if (routes == NULL || rjs == NULL) {
		route_json_free(rj);
		return;
	}
	b->routes[b->n_routes] = *rs;
	b->rjs[b->n_routes++] = rj;
}

/* The gossip core refuses a revoked key's records and handshakes; the
 * snapshot carries the list so data-plane workers, on other threads,
 * refuse its mesh handshakes without reading gossip state. */
static void
add_revocation(struct builder *b, const struct gossip_object *o)
{
	uint8_t id[KEY_ID_LEN];

	if (hex_decode(id, KEY_ID_LEN, o->name) != 0)
		return;
	if (b->n_revoked == b->cap_revoked) {
		size_t ncap = b->cap_revoked ? 2 * b->cap_revoked : 16;
		uint8_t (*n)[KEY_ID_LEN] = realloc(b->revoked,
		                                   ncap * sizeof(*n));

		if (n == NULL) {
			b->err = WEFT_ENOMEM;
			return;
		}
		b->revoked = n;
		b->cap_revoked = ncap;
	}
	memcpy(b->revoked[b->n_revoked++], id, KEY_ID_LEN);
}

static void
add_object(void *ctx, const struct gossip_object *o)
{
	struct builder *b = ctx;

	if (o->deleted || b->err)
		return;
	if (o->kind == GOSSIP_OBJ_INTENTION &&
	    b->n_its < TABLE_MAX_INTENTIONS)
		add_intention(b, o);
	else if (o->kind == GOSSIP_OBJ_ROUTE && b->n_routes < TABLE_MAX_ROUTES)
		add_route(b, o);
	else if (o->kind == GOSSIP_OBJ_REVOCATION)
		add_revocation(b, o);
}

int
agent_tables_build(struct agent *a, uint64_t version, struct table **out,
                   char *err, size_t cap)
{
	return agent_tables_build_ex(a, version, out, NULL, err, cap);
}

int
agent_tables_build_ex(struct agent *a, uint64_t version, struct table **out,
                      struct agent_tables_stats *st, char *err, size_t cap)
{
	struct builder b = {0};
	struct table_local *locals;
	struct table_spec spec;
	const char *why = NULL;
	size_t bad = 0;
	int rc;

	b.log = &a->log;
	locals = calloc(a->cfg.n_services + 1, sizeof(*locals));
	if (locals == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < a->cfg.n_services; i++) {
		locals[i].service = a->cfg.services[i].name;
		locals[i].port = a->cfg.services[i].port;
		/* The config schema allowed only the names the table knows. */
		if (a->cfg.services[i].protocol == NULL ||
		    table_protocol_parse(a->cfg.services[i].protocol,
		    &locals[i].protocol) != 0)
			locals[i].protocol = TABLE_PROTO_TCP;
	}
	gossip_member_foreach(a->g, add_member, &b);
	gossip_object_foreach(a->g, add_object, &b);
	spec = (struct table_spec){
		.endpoints = b.eps,
		.n_endpoints = b.n_eps,
		.intentions = b.its,
		.n_intentions = b.n_its,
		.locals = locals,
		.n_locals = a->cfg.n_services,
		.routes = b.routes,
		.n_routes = b.n_routes,
		.default_action = a->cfg.default_deny ? TABLE_DENY : TABLE_ALLOW,
		.version = version,
		.revoked = (const uint8_t (*)[KEY_ID_LEN])b.revoked,
		.n_revoked = b.n_revoked,
	};
	if (st != NULL)
		*st = (struct agent_tables_stats){
			.routes = b.n_routes,
			.routes_skipped = b.bad_routes,
			.intentions = b.n_its,
			.intentions_skipped = b.bad_intentions - b.plain_denies,
			.labels_skipped = b.bad_labels,
		};
	rc = b.err ? b.err : table_new(&spec, out, &why, &bad);
	if (rc)
		snprintf(err, cap, "%s (entry %zu)", why ? why : weft_strerror(rc),
		         bad);
	for (size_t i = 0; i < b.n_strs; i++)
		free(b.strs[i]);
	free(b.strs);
	for (size_t i = 0; i < b.n_blocks; i++)
		free(b.blocks[i]);
	free(b.blocks);
	for (size_t i = 0; i < b.n_its; i++)
		intention_json_free(b.ijs[i]);
	free(b.ijs);
	for (size_t i = 0; i < b.n_routes; i++)
		route_json_free(b.rjs[i]);
	free(b.rjs);
	free(b.routes);
	free(b.revoked);
	free(b.eps);
	free(b.its);
	free(locals);
	return rc;
}
