#include "proxy/table.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/cert.h"

/* Everything the snapshot points to lives in a few large blocks freed
 * together, so that copying a deep spec (routes, labels, L7 rules) needs
 * no per-object bookkeeping. */
struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

#define ARENA_BLOCK 16384

/* Endpoints are kept sorted by service so that each service's run is
 * contiguous; services[] indexes the runs for binary search. */
struct table_run {
	const char *service;
	size_t first;
	size_t n;
};

struct table {
	/* Atomic: data-plane workers on other threads hold and drop
	 * references to the same snapshot. */
	unsigned refs;
	uint64_t version;
	enum table_action default_action;
	struct table_endpoint *endpoints;
	size_t n_endpoints;
	struct table_run *runs;
	size_t n_runs;
	struct table_intention *intentions;
	size_t n_intentions;
	struct table_local *locals; /* sorted by service */
	size_t n_locals;
	struct route_spec *routes; /* sorted by service, then name */
	size_t n_routes;
	uint8_t (*revoked)[KEY_ID_LEN]; /* sorted */
	size_t n_revoked;
	struct arena_block *arena; /* every string and array, copied */
};

static bool
source_valid(const char *s)
{
	if (strcmp(s, "*") == 0)
		return true;
	if (strncmp(s, "group:", 6) == 0)
		return cert_name_valid(s + 6);
	return cert_name_valid(s);
}

static bool
dest_valid(const char *s)
{
	return strcmp(s, "*") == 0 || cert_name_valid(s);
}

static bool
short_str(const char *s, size_t max)
{
	return s != NULL && s[0] != '\0' && strnlen(s, max + 1) <= max;
}

static void *
arena_alloc(struct table *t, size_t n)
{
	struct arena_block *b = t->arena;
	size_t align = sizeof(max_align_t), cap;
	void *p;

	n = (n + align - 1) / align * align;
	if (n == 0)
		n = align;
	if (b == NULL || b->cap - b->used < n) {
		cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		if ((b = malloc(sizeof(*b) + cap)) == NULL)
			return NULL;
		b->next = t->arena;
		b->used = 0;
		b->cap = cap;
		t->arena = b;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

/* Copies of strings and arrays; NULL in gives NULL out without error,
 * so callers check the input before blaming memory. */
static const char *
copy_str(struct table *t, const char *s)
{
	size_t n;
	char *p;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	if ((p = arena_alloc(t, n)) != NULL)
		memcpy(p, s, n);
	return p;
}

static bool
copy_strv(struct table *t, const char *const *src, size_t n,
          const char *const **out)
{
	const char **v;

	*out = NULL;
	if (n == 0)
		return true;
	if ((v = arena_alloc(t, n * sizeof(*v))) == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((v[i] = copy_str(t, src[i])) == NULL)
			return false;
	*out = v;
	return true;
}

static bool
copy_labels(struct table *t, const struct route_label *src, size_t n,
            const struct route_label **out)
{
	struct route_label *v;

	*out = NULL;
	if (n == 0)
		return true;
	if ((v = arena_alloc(t, n * sizeof(*v))) == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		v[i].key = copy_str(t, src[i].key);
		v[i].value = copy_str(t, src[i].value);
		if (v[i].key == NULL || v[i].value == NULL)
			return false;
	}
	*out = v;
	return true;
}

static bool
copy_l7(struct table *t, const struct authz_l7_rule *src, size_t n,
        const struct authz_l7_rule **out)
{
	struct authz_l7_rule *v;

	*out = NULL;
	if (n == 0)
		return true;
	if ((v = arena_alloc(t, n * sizeof(*v))) == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		v[i] = src[i];
		if (src[i].path_prefix != NULL &&
		    (v[i].path_prefix = copy_str(t, src[i].path_prefix)) == NULL)
			return false;
		if (!copy_strv(t, src[i].methods, src[i].n_methods,
		    &v[i].methods))
			return false;
	}
	*out = v;
	return true;
}

static bool
copy_rule(struct table *t, struct route_rule *d, const struct route_rule *s)
{
	struct route_header_match *hv = NULL;
	struct route_target *tv;
	const struct route_match *m = &s->match;

	*d = *s;
	if (m->path != NULL && (d->match.path = copy_str(t, m->path)) == NULL)
		return false;
	if (!copy_strv(t, m->methods, m->n_methods, &d->match.methods))
		return false;
	if (m->grpc_service != NULL &&
	    (d->match.grpc_service = copy_str(t, m->grpc_service)) == NULL)
		return false;
	if (m->grpc_method != NULL &&
	    (d->match.grpc_method = copy_str(t, m->grpc_method)) == NULL)
		return false;
	if (m->n_headers > 0 &&
	    (hv = arena_alloc(t, m->n_headers * sizeof(*hv))) == NULL)
		return false;
	for (size_t i = 0; i < m->n_headers; i++) {
		hv[i] = m->headers[i];
		if ((hv[i].name = copy_str(t, m->headers[i].name)) == NULL)
			return false;
		if (m->headers[i].value != NULL &&
		    (hv[i].value = copy_str(t, m->headers[i].value)) == NULL)
			return false;
	}
	d->match.headers = hv;
	if ((tv = arena_alloc(t, s->n_targets * sizeof(*tv))) == NULL)
		return false;
	for (size_t i = 0; i < s->n_targets; i++) {
		tv[i] = s->targets[i];
		if ((tv[i].service = copy_str(t, s->targets[i].service)) == NULL)
			return false;
		if (!copy_labels(t, s->targets[i].labels, s->targets[i].n_labels,
		    &tv[i].labels))
			return false;
	}
	d->targets = tv;
	return true;
}

static bool
copy_route(struct table *t, struct route_spec *d, const struct route_spec *s)
{
	struct route_rule *rv;

	*d = *s;
	d->name = copy_str(t, s->name);
	d->service = copy_str(t, s->service);
	if (d->name == NULL || d->service == NULL ||
	    (rv = arena_alloc(t, s->n_rules * sizeof(*rv))) == NULL)
		return false;
	for (size_t i = 0; i < s->n_rules; i++)
		if (!copy_rule(t, &rv[i], &s->rules[i]))
			return false;
	d->rules = rv;
	return true;
}

static int
fail(const char **why, size_t *bad, const char *msg, size_t i)
{
	if (why != NULL)
		*why = msg;
	if (bad != NULL)
		*bad = i;
	return WEFT_EINVAL;
}

static bool
labels_ok(const struct route_label *l, size_t n)
{
	if (n > TABLE_MAX_LABELS || (n > 0 && l == NULL))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!short_str(l[i].key, TABLE_LABEL_MAX) ||
		    !short_str(l[i].value, TABLE_LABEL_MAX))
			return false;
		for (size_t j = 0; j < i; j++)
			if (strcmp(l[i].key, l[j].key) == 0)
				return false;
	}
	return true;
}

static bool
l7_ok(const struct authz_l7_rule *r, size_t n)
{
	if (n > AUTHZ_L7_MAX_RULES || (n > 0 && r == NULL))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (r[i].path_prefix != NULL && (r[i].path_prefix[0] != '/' ||
		    strnlen(r[i].path_prefix, 1025) > 1024))
			return false;
		if (r[i].n_methods > AUTHZ_L7_MAX_METHODS ||
		    (r[i].n_methods > 0 && r[i].methods == NULL))
			return false;
		for (size_t j = 0; j < r[i].n_methods; j++)
			if (!short_str(r[i].methods[j], 32))
				return false;
	}
	return true;
}

static int
check_spec(const struct table_spec *s, const char **why, size_t *bad)
{
	if (s->n_endpoints > TABLE_MAX_ENDPOINTS)
		return fail(why, bad, "too many endpoints", s->n_endpoints);
	if (s->n_intentions > TABLE_MAX_INTENTIONS)
		return fail(why, bad, "too many intentions", s->n_intentions);
	if (s->n_revoked > 0 && s->revoked == NULL)
		return fail(why, bad, "revoked ids missing", 0);
	if (s->n_locals > TABLE_MAX_LOCAL)
		return fail(why, bad, "too many local services", s->n_locals);
	if (s->default_action != TABLE_ALLOW && s->default_action != TABLE_DENY)
		return fail(why, bad, "default action is neither allow nor deny",
		    0);
	for (size_t i = 0; i < s->n_endpoints; i++) {
		const struct table_endpoint *e = &s->endpoints[i];

		if (e->service == NULL || !cert_name_valid(e->service))
			return fail(why, bad, "endpoint service is not a DNS label",
			    i);
		if (e->node == NULL || !cert_name_valid(e->node))
			return fail(why, bad, "endpoint node is not a DNS label", i);
		if (!short_str(e->mesh_addr, TABLE_ADDR_MAX))
			return fail(why, bad,
			    "endpoint mesh address is empty or too long", i);
		if (e->port == 0)
			return fail(why, bad, "endpoint port is 0", i);
		if (e->member > TABLE_MEMBER_DEAD)
			return fail(why, bad, "endpoint member state is unknown", i);
		if (!labels_ok(e->labels, e->n_labels))
			return fail(why, bad, "endpoint labels: too many, empty, "
			    "too long or a key twice", i);
	}
	for (size_t i = 0; i < s->n_intentions; i++) {
		const struct table_intention *it = &s->intentions[i];

		if (it->source == NULL || !source_valid(it->source))
			return fail(why, bad, "intention source is not a service, "
			    "group:NAME or *", i);
		if (it->destination == NULL || !dest_valid(it->destination))
			return fail(why, bad,
			    "intention destination is not a service or *", i);
		if (it->name != NULL && strnlen(it->name, 256) > 255)
			return fail(why, bad, "intention name is too long", i);
		if (it->action != TABLE_ALLOW && it->action != TABLE_DENY)
			return fail(why, bad,
			    "intention action is neither allow nor deny", i);
		if (!l7_ok(it->http, it->n_http))
			return fail(why, bad, "intention http rules: too many, "
			    "a prefix not starting with '/' or a bad method", i);
	}
	for (size_t i = 0; i < s->n_locals; i++) {
		const struct table_local *l = &s->locals[i];

		if (l->service == NULL || !cert_name_valid(l->service))
			return fail(why, bad, "local service is not a DNS label", i);
		if (l->host != NULL && !short_str(l->host, TABLE_HOST_MAX))
			return fail(why, bad, "local host is empty or too long", i);
		if (l->port == 0)
			return fail(why, bad, "local port is 0", i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->locals[j].service, l->service) == 0)
				return fail(why, bad, "local service listed twice", i);
		if (l->protocol > TABLE_PROTO_GRPC)
			return fail(why, bad, "local protocol is unknown", i);
	}
	if (s->n_routes > TABLE_MAX_ROUTES)
		return fail(why, bad, "too many routes", s->n_routes);
	for (size_t i = 0; i < s->n_routes; i++) {
		const struct route_spec *r = &s->routes[i];

		if (route_validate(r, NULL, 0, NULL, 0) != 0)
			return fail(why, bad, "route object is not valid", i);
		if (!cert_name_valid(r->service))
			return fail(why, bad, "route service is not a DNS label", i);
		if (strnlen(r->name, 256) > 255)
			return fail(why, bad, "route name is too long", i);
	}
	return 0;
}

static int
ep_cmp(const void *a, const void *b)
{
	const struct table_endpoint *x = a, *y = b;
	int c = strcmp(x->service, y->service);

	if (c != 0)
		return c;
	c = memcmp(x->key_id, y->key_id, KEY_ID_LEN);
	if (c != 0)
		return c;
	return (int)x->port - (int)y->port;
}

static int
local_cmp(const void *a, const void *b)
{
	const struct table_local *x = a, *y = b;

	return strcmp(x->service, y->service);
}

static int
route_cmp(const void *a, const void *b)
{
	const struct route_spec *x = a, *y = b;
	int c = strcmp(x->service, y->service);

	return c != 0 ? c : strcmp(x->name, y->name);
}

static int
revoked_cmp(const void *a, const void *b)
{
	return memcmp(a, b, KEY_ID_LEN);
}

static bool
copy_all(struct table *t, const struct table_spec *spec)
{
	for (size_t i = 0; i < spec->n_endpoints; i++) {
		struct table_endpoint *e = &t->endpoints[i];
		const struct table_endpoint *s = &spec->endpoints[i];

		*e = *s;
		e->service = copy_str(t, s->service);
		e->node = copy_str(t, s->node);
		e->mesh_addr = copy_str(t, s->mesh_addr);
		if (e->service == NULL || e->node == NULL ||
		    e->mesh_addr == NULL ||
		    !copy_labels(t, s->labels, s->n_labels, &e->labels))
			return false;
		t->n_endpoints++;
	}
	for (size_t i = 0; i < spec->n_intentions; i++) {
		struct table_intention *it = &t->intentions[i];
		const struct table_intention *s = &spec->intentions[i];

		*it = *s;
		it->name = copy_str(t, s->name != NULL ? s->name : "");
		it->source = copy_str(t, s->source);
		it->destination = copy_str(t, s->destination);
		if (it->name == NULL || it->source == NULL ||
		    it->destination == NULL ||
		    !copy_l7(t, s->http, s->n_http, &it->http))
			return false;
		t->n_intentions++;
	}
	for (size_t i = 0; i < spec->n_locals; i++) {
		struct table_local *l = &t->locals[i];
		const struct table_local *s = &spec->locals[i];

		*l = *s;
		l->service = copy_str(t, s->service);
		l->host = copy_str(t, s->host != NULL ? s->host : "127.0.0.1");
		if (l->service == NULL || l->host == NULL)
			return false;
		t->n_locals++;
	}
	for (size_t i = 0; i < spec->n_routes; i++) {
		if (!copy_route(t, &t->routes[i], &spec->routes[i]))
			return false;
		t->n_routes++;
	}
	return true;
}

int
table_new(const struct table_spec *spec, struct table **out, const char **why,
          size_t *bad_index)
{
	struct table *t;
	int rc;

	*out = NULL;
	if ((rc = check_spec(spec, why, bad_index)) != 0)
		return rc;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return WEFT_ENOMEM;
	t->refs = 1;
	t->version = spec->version;
	t->default_action = spec->default_action;
	t->endpoints = calloc(spec->n_endpoints + 1, sizeof(*t->endpoints));
	t->runs = calloc(spec->n_endpoints + 1, sizeof(*t->runs));
	t->intentions = calloc(spec->n_intentions + 1, sizeof(*t->intentions));
	t->locals = calloc(spec->n_locals + 1, sizeof(*t->locals));
	t->routes = calloc(spec->n_routes + 1, sizeof(*t->routes));
	t->revoked = calloc(spec->n_revoked + 1, sizeof(*t->revoked));
	if (t->endpoints == NULL || t->runs == NULL || t->intentions == NULL ||
	    t->locals == NULL || t->routes == NULL || t->revoked == NULL ||
	    !copy_all(t, spec)) {
		table_unref(t);
		return WEFT_ENOMEM;
	}
	qsort(t->endpoints, t->n_endpoints, sizeof(*t->endpoints), ep_cmp);
	for (size_t i = 0; i < t->n_endpoints; i++) {
		if (t->n_runs == 0 || strcmp(t->runs[t->n_runs - 1].service,
		    t->endpoints[i].service) != 0) {
			t->runs[t->n_runs].service = t->endpoints[i].service;
			t->runs[t->n_runs].first = i;
			t->n_runs++;
		}
		t->runs[t->n_runs - 1].n++;
	}
	qsort(t->locals, t->n_locals, sizeof(*t->locals), local_cmp);
	qsort(t->routes, t->n_routes, sizeof(*t->routes), route_cmp);
	if (spec->n_revoked > 0)
		memcpy(t->revoked, spec->revoked, spec->n_revoked * KEY_ID_LEN);
	t->n_revoked = spec->n_revoked;
	qsort(t->revoked, t->n_revoked, KEY_ID_LEN, revoked_cmp);
	*out = t;
	return 0;
}

struct table *
table_ref(struct table *t)
{
	if (t != NULL)
		__atomic_fetch_add(&t->refs, 1, __ATOMIC_RELAXED);
	return t;
}

void
table_unref(struct table *t)
{
	if (t == NULL || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	free(t->endpoints);
	free(t->revoked);
	free(t->runs);
	free(t->intentions);
	free(t->locals);
	free(t->routes);
	while (t->arena != NULL) {
		struct arena_block *b = t->arena;

		t->arena = b->next;
		free(b);
	}
	free(t);
}

unsigned
table_refcount(const struct table *t)
{
	return __atomic_load_n(&t->refs, __ATOMIC_RELAXED);
}

bool
table_is_revoked(const struct table *t, const uint8_t key_id[KEY_ID_LEN])
{
	return t != NULL && t->n_revoked > 0 &&
	       bsearch(key_id, t->revoked, t->n_revoked, KEY_ID_LEN,
	               revoked_cmp) != NULL;
}

uint64_t
table_version(const struct table *t)
{
	return t->version;
}

enum table_action
table_default_action(const struct table *t)
{
	return t->default_action;
}

static int
run_key_cmp(const void *key, const void *elem)
{
	const struct table_run *r = elem;

	return strcmp(key, r->service);
}

void
table_endpoints(const struct table *t, const char *service,
                const struct table_endpoint **eps, size_t *n)
{
	const struct table_run *r = bsearch(service, t->runs, t->n_runs,
	    sizeof(*t->runs), run_key_cmp);

	*eps = r != NULL ? &t->endpoints[r->first] : NULL;
	*n = r != NULL ? r->n : 0;
}

void
table_intentions(const struct table *t, const struct table_intention **its,
                 size_t *n)
{
	*its = t->intentions;
	*n = t->n_intentions;
}

static int
local_key_cmp(const void *key, const void *elem)
{
	const struct table_local *l = elem;

	return strcmp(key, l->service);
}

const struct table_local *
table_local(const struct table *t, const char *service)
{
	return bsearch(service, t->locals, t->n_locals, sizeof(*t->locals),
	    local_key_cmp);
}

const struct route_spec *
table_route(const struct table *t, const char *service)
{
	size_t lo = 0, hi = t->n_routes;

	/* The first of the service's run: the lowest name wins. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(t->routes[mid].service, service) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < t->n_routes && strcmp(t->routes[lo].service, service) == 0)
		return &t->routes[lo];
	return NULL;
}

void
table_routes(const struct table *t, const struct route_spec **routes,
             size_t *n)
{
	*routes = t->routes;
	*n = t->n_routes;
}

bool
table_endpoint_matches(const struct table_endpoint *ep,
                       const struct route_label *labels, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (size_t j = 0; j < ep->n_labels && !found; j++)
			found = strcmp(ep->labels[j].key, labels[i].key) == 0 &&
			    strcmp(ep->labels[j].value, labels[i].value) == 0;
		if (!found)
			return false;
	}
	return true;
}

static const char *const proto_names[] = {
	[TABLE_PROTO_TCP] = "tcp",
	[TABLE_PROTO_HTTP] = "http",
	[TABLE_PROTO_HTTP2] = "http2",
	[TABLE_PROTO_GRPC] = "grpc",
};

const char *
table_protocol_name(enum table_protocol p)
{
	return (size_t)p < sizeof(proto_names) / sizeof(proto_names[0]) ?
	    proto_names[p] : "?";
}

int
table_protocol_parse(const char *s, enum table_protocol *out)
{
	for (size_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]);
	    i++) {
		if (s != NULL && strcmp(s, proto_names[i]) == 0) {
			*out = (enum table_protocol)i;
			return 0;
		}
	}
	return WEFT_EINVAL;
}
