/*
 * Turning gossip state into the proxy's immutable tables: endpoints from
 * every member's services, intentions from the cluster objects, the
 * services this node serves locally from the config.  Rebuilt on gossip
 * events and swapped in whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/tables.h"
#include "common/err.h"
#include "crypto/cert.h"
#include "gossip/gossip.h"

/* Everything a table_spec points to, owned until table_new copied it. */
struct builder {
	struct table_endpoint *eps;
	size_t n_eps, cap_eps;
	struct table_intention *its;
	size_t n_its, cap_its;
	char **strs; /* strings the spec points to */
	size_t n_strs, cap_strs;
	int err;
};

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
	}
}

/* The forms table_new() accepts: one bad intention must be skipped here,
 * or the whole snapshot (endpoints too) would be refused on every
 * rebuild. */
static bool
intention_source_ok(const char *s)
{
	if (strcmp(s, "*") == 0)
		return true;
	if (strncmp(s, "group:", 6) == 0)
		return cert_name_valid(s + 6);
	return cert_name_valid(s);
}

static void
add_intention(void *ctx, const struct gossip_object *o)
{
	struct builder *b = ctx;
	struct table_intention *it;
	json_t *v;
	json_error_t je;
	const char *src, *dst, *act;

	if (o->kind != GOSSIP_OBJ_INTENTION || o->deleted)
		return;
	v = json_loadb((const char *)o->value, o->value_len, 0, &je);
	src = json_string_value(json_object_get(v, "source"));
	dst = json_string_value(json_object_get(v, "destination"));
	act = json_string_value(json_object_get(v, "action"));
	/* The CLI checked the shape before signing; a malformed one signed
	 * by some other tool is skipped here rather than guessed at (and
	 * rather than making table_new refuse the whole snapshot). */
	if (src && dst && act && intention_source_ok(src) &&
	    (strcmp(dst, "*") == 0 || cert_name_valid(dst)) &&
	    (strcmp(act, "allow") == 0 || strcmp(act, "deny") == 0)) {
		if (b->n_its == b->cap_its) {
			size_t cap = b->cap_its ? 2 * b->cap_its : 16;
			struct table_intention *nv = realloc(b->its,
			                                     cap * sizeof(*nv));

			if (nv == NULL) {
				b->err = WEFT_ENOMEM;
				json_decref(v);
				return;
			}
			b->its = nv;
			b->cap_its = cap;
		}
		it = &b->its[b->n_its++];
		it->name = keep(b, o->name);
		it->source = keep(b, src);
		it->destination = keep(b, dst);
		it->action = strcmp(act, "allow") == 0 ? TABLE_ALLOW : TABLE_DENY;
	}
	json_decref(v);
}

int
agent_tables_build(struct agent *a, uint64_t version, struct table **out,
                   char *err, size_t cap)
{
	struct builder b = {0};
	struct table_local *locals;
	struct table_spec spec;
	const char *why = NULL;
	size_t bad = 0;
	int rc;

	locals = calloc(a->cfg.n_services + 1, sizeof(*locals));
	if (locals == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < a->cfg.n_services; i++) {
		locals[i].service = a->cfg.services[i].name;
		locals[i].port = a->cfg.services[i].port;
	}
	gossip_member_foreach(a->g, add_member, &b);
	gossip_object_foreach(a->g, add_intention, &b);
	spec = (struct table_spec){
		.endpoints = b.eps,
		.n_endpoints = b.n_eps,
		.intentions = b.its,
		.n_intentions = b.n_its,
		.locals = locals,
		.n_locals = a->cfg.n_services,
		.default_action = a->cfg.default_deny ? TABLE_DENY : TABLE_ALLOW,
		.version = version,
	};
	rc = b.err ? b.err : table_new(&spec, out, &why, &bad);
	if (rc)
		snprintf(err, cap, "%s (entry %zu)", why ? why : weft_strerror(rc),
		         bad);
	for (size_t i = 0; i < b.n_strs; i++)
		free(b.strs[i]);
	free(b.strs);
	free(b.eps);
	free(b.its);
	free(locals);
	return rc;
}
