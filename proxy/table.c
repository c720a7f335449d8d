#include "proxy/table.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/cert.h"

/* Endpoints are kept sorted by service so that each service's run is
 * contiguous; services[] indexes the runs for binary search. */
struct table_run {
	const char *service;
	size_t first;
	size_t n;
};

struct table {
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
	char *strs; /* every string, copied */
	size_t strs_len;
	size_t strs_cap;
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

static const char *
copy_str(struct table *t, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = t->strs + t->strs_len;

	/* Sized exactly in advance by table_new(). */
	memcpy(p, s, n);
	t->strs_len += n;
	return p;
}

static size_t
spec_strs_size(const struct table_spec *spec)
{
	size_t n = 0;

	for (size_t i = 0; i < spec->n_endpoints; i++) {
		const struct table_endpoint *e = &spec->endpoints[i];

		n += strlen(e->service) + strlen(e->node) +
		    strlen(e->mesh_addr) + 3;
	}
	for (size_t i = 0; i < spec->n_intentions; i++) {
		const struct table_intention *it = &spec->intentions[i];

		n += strlen(it->name != NULL ? it->name : "") +
		    strlen(it->source) + strlen(it->destination) + 3;
	}
	for (size_t i = 0; i < spec->n_locals; i++)
		n += strlen(spec->locals[i].service) + 1 +
		    strlen(spec->locals[i].host != NULL ?
		    spec->locals[i].host : "127.0.0.1") + 1;
	return n;
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

static int
check_spec(const struct table_spec *s, const char **why, size_t *bad)
{
	if (s->n_endpoints > TABLE_MAX_ENDPOINTS)
		return fail(why, bad, "too many endpoints", s->n_endpoints);
	if (s->n_intentions > TABLE_MAX_INTENTIONS)
		return fail(why, bad, "too many intentions", s->n_intentions);
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
	t->strs_cap = spec_strs_size(spec);
	t->strs = malloc(t->strs_cap > 0 ? t->strs_cap : 1);
	t->endpoints = calloc(spec->n_endpoints + 1, sizeof(*t->endpoints));
	t->runs = calloc(spec->n_endpoints + 1, sizeof(*t->runs));
	t->intentions = calloc(spec->n_intentions + 1, sizeof(*t->intentions));
	t->locals = calloc(spec->n_locals + 1, sizeof(*t->locals));
	if (t->strs == NULL || t->endpoints == NULL || t->runs == NULL ||
	    t->intentions == NULL || t->locals == NULL) {
		table_unref(t);
		return WEFT_ENOMEM;
	}
	for (size_t i = 0; i < spec->n_endpoints; i++) {
		struct table_endpoint *e = &t->endpoints[i];

		*e = spec->endpoints[i];
		e->service = copy_str(t, e->service);
		e->node = copy_str(t, e->node);
		e->mesh_addr = copy_str(t, e->mesh_addr);
	}
	t->n_endpoints = spec->n_endpoints;
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
	for (size_t i = 0; i < spec->n_intentions; i++) {
		struct table_intention *it = &t->intentions[i];

		*it = spec->intentions[i];
		it->name = copy_str(t, it->name != NULL ? it->name : "");
		it->source = copy_str(t, it->source);
		it->destination = copy_str(t, it->destination);
	}
	t->n_intentions = spec->n_intentions;
	for (size_t i = 0; i < spec->n_locals; i++) {
		struct table_local *l = &t->locals[i];

		*l = spec->locals[i];
		l->service = copy_str(t, l->service);
		l->host = copy_str(t, l->host != NULL ? l->host : "127.0.0.1");
	}
	t->n_locals = spec->n_locals;
	qsort(t->locals, t->n_locals, sizeof(*t->locals), local_cmp);
	*out = t;
	return 0;
}

struct table *
table_ref(struct table *t)
{
	if (t != NULL)
		t->refs++;
	return t;
}

void
table_unref(struct table *t)
{
	if (t == NULL || --t->refs > 0)
		return;
	free(t->endpoints);
	free(t->runs);
	free(t->intentions);
	free(t->locals);
	free(t->strs);
	free(t);
}

unsigned
table_refcount(const struct table *t)
{
	return t->refs;
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
