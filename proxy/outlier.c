#include "proxy/outlier.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

/* A plain array: a node talks to few endpoints, and this is touched once
 * per finished request. */
struct oentry {
	char service[OUTLIER_SERVICE_MAX + 1];
	uint8_t key_id[KEY_ID_LEN];
	uint16_t port;
	unsigned errors;     /* in a row */
	unsigned ejections;  /* times ejected, for the growing time */
	int64_t out_until;   /* 0: in */
	int64_t last_eject;
};

struct outlier {
	struct outlier_config cfg;
	struct oentry *e;
	size_t n, cap;
};

int
outlier_new(const struct outlier_config *cfg, struct outlier **out)
{
	struct outlier *o = calloc(1, sizeof(*o));

	*out = NULL;
	if (o == NULL)
		return WEFT_ENOMEM;
	if (cfg != NULL)
		o->cfg = *cfg;
	if (o->cfg.consecutive_errors == 0)
		o->cfg.consecutive_errors = OUTLIER_CONSECUTIVE;
	if (o->cfg.base_ms <= 0)
		o->cfg.base_ms = OUTLIER_BASE_MS;
	if (o->cfg.max_ms <= 0)
		o->cfg.max_ms = OUTLIER_MAX_MS;
	if (o->cfg.max_ms < o->cfg.base_ms)
		o->cfg.max_ms = o->cfg.base_ms;
	if (o->cfg.max_percent == 0)
		o->cfg.max_percent = OUTLIER_MAX_PERCENT;
	if (o->cfg.max_percent > 100)
		o->cfg.max_percent = 100;
	*out = o;
	return 0;
}

void
outlier_free(struct outlier *o)
{
	if (o == NULL)
		return;
	free(o->e);
	free(o);
}

static bool
same(const struct oentry *e, const struct outlier_key *k)
{
	return e->port == k->port &&
	       memcmp(e->key_id, k->key_id, KEY_ID_LEN) == 0 &&
	       strcmp(e->service, k->service) == 0;
}

static struct oentry *
find(const struct outlier *o, const struct outlier_key *k)
{
	if (k == NULL || k->service == NULL)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (same(&o->e[i], k))
			return &o->e[i];
	return NULL;
}

static bool
out_at(const struct oentry *e, int64_t now_ms)
{
	return e->out_until != 0 && now_ms < e->out_until;
}

size_t
outlier_ejected_count(const struct outlier *o, const char *service,
                      int64_t now_ms)
{
	size_t c = 0;

	for (size_t i = 0; i < o->n; i++)
		if (out_at(&o->e[i], now_ms) &&
		    strcmp(o->e[i].service, service) == 0)
			c++;
	return c;
}

static bool
counts(const struct outlier *o, enum outlier_result r)
{
	switch (r) {
	case OUTLIER_OK:
		return false;
	case OUTLIER_5XX:
		return !o->cfg.gateway_only;
	case OUTLIER_GATEWAY:
	case OUTLIER_RESET:
		return true;
	}
	return false;
}

static int
add_entry(struct outlier *o, const struct outlier_key *k, struct oentry **out)
{
	struct oentry *e;

	if (o->n == OUTLIER_MAX_ENTRIES)
		return WEFT_ETOOBIG;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct oentry *ne = realloc(o->e, cap * sizeof(*ne));

		if (ne == NULL)
			return WEFT_ENOMEM;
		o->e = ne;
		o->cap = cap;
	}
	e = &o->e[o->n++];
	memset(e, 0, sizeof(*e));
	strcpy(e->service, k->service);
	memcpy(e->key_id, k->key_id, KEY_ID_LEN);
	e->port = k->port;
	*out = e;
	return 0;
}

/* One may always go while none is out, even when one is over the share;
 * past that, only while the share after this one holds. */
static bool
share_allows(const struct outlier *o, const struct outlier_key *k,
             size_t n_endpoints, int64_t now_ms)
{
	size_t out = outlier_ejected_count(o, k->service, now_ms);

	return out == 0 ||
	       (out + 1) * 100 <= (size_t)o->cfg.max_percent * n_endpoints;
}

int
outlier_report(struct outlier *o, const struct outlier_key *k,
               enum outlier_result r, size_t n_endpoints, int64_t now_ms,
               bool *ejected)
{
	struct oentry *e;
	int64_t t;

	if (ejected != NULL)
		*ejected = false;
	if (o == NULL || k == NULL || k->service == NULL ||
	    strlen(k->service) > OUTLIER_SERVICE_MAX)
		return WEFT_EINVAL;
	e = find(o, k);
	if (e == NULL) {
		int rc;

		if (!counts(o, r))
			return 0; /* nothing to remember */
		if ((rc = add_entry(o, k, &e)) != 0)
			return rc;
	}
	if (e->out_until != 0 && now_ms >= e->out_until) {
		e->out_until = 0; /* its time is up: back in, from scratch */
		e->errors = 0;
	}
	if (e->ejections > 0 && e->out_until == 0 &&
	    now_ms - e->last_eject >= o->cfg.max_ms + o->cfg.base_ms)
		e->ejections = 0;
	if (!counts(o, r)) {
		e->errors = 0;
		return 0;
	}
	if (out_at(e, now_ms))
		return 0; /* answers still arriving from before */
	if (++e->errors < o->cfg.consecutive_errors)
		return 0;
	if (!share_allows(o, k, n_endpoints, now_ms))
		return 0;
	e->ejections++;
	t = o->cfg.base_ms * (int64_t)e->ejections;
	if (e->ejections > (unsigned)(o->cfg.max_ms / o->cfg.base_ms) ||
	    t > o->cfg.max_ms)
		t = o->cfg.max_ms;
	e->out_until = now_ms + t;
	e->last_eject = now_ms;
	e->errors = 0;
	if (ejected != NULL)
		*ejected = true;
	return 0;
}

int
outlier_eject(struct outlier *o, const struct outlier_key *k,
              size_t n_endpoints, int64_t now_ms, int64_t for_ms,
              bool *ejected)
{
	struct oentry *e;
	int rc;

	if (ejected != NULL)
		*ejected = false;
	if (o == NULL || k == NULL || k->service == NULL ||
	    strlen(k->service) > OUTLIER_SERVICE_MAX || for_ms <= 0)
		return WEFT_EINVAL;
	e = find(o, k);
	if (e == NULL && (rc = add_entry(o, k, &e)) != 0)
		return rc;
	if (out_at(e, now_ms))
		return 0;
	if (!share_allows(o, k, n_endpoints, now_ms))
		return 0;
	if (for_ms > o->cfg.max_ms)
		for_ms = o->cfg.max_ms;
	e->ejections++;
	e->out_until = now_ms + for_ms;
	e->last_eject = now_ms;
	e->errors = 0;
	if (ejected != NULL)
		*ejected = true;
	return 0;
}

bool
outlier_is_ejected(const struct outlier *o, const struct outlier_key *k,
                   int64_t now_ms)
{
	const struct oentry *e = find(o, k);

	return e != NULL && out_at(e, now_ms);
}

int64_t
outlier_ejected_until(const struct outlier *o, const struct outlier_key *k,
                      int64_t now_ms)
{
	const struct oentry *e = find(o, k);

	return e != NULL && out_at(e, now_ms) ? e->out_until : 0;
}

void
outlier_gc(struct outlier *o, int64_t now_ms)
{
	size_t w = 0;

	for (size_t i = 0; i < o->n; i++) {
		struct oentry *e = &o->e[i];
		bool idle = !out_at(e, now_ms) && e->errors == 0 &&
		            (e->ejections == 0 ||
		             now_ms - e->last_eject >= o->cfg.max_ms +
		                                       o->cfg.base_ms);

		if (!idle)
			o->e[w++] = *e;
	}
	o->n = w;
}

size_t
outlier_entries(const struct outlier *o)
{
	return o->n;
}
