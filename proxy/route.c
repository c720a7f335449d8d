#include "proxy/route.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"

static const struct {
	uint32_t bit;
	const char *name;
} retry_names[] = {
	{ROUTE_RETRY_5XX, "5xx"},
	{ROUTE_RETRY_GATEWAY_ERROR, "gateway-error"},
	{ROUTE_RETRY_RESET, "reset"},
	{ROUTE_RETRY_CONNECT_FAILURE, "connect-failure"},
	{ROUTE_RETRY_GRPC_CANCELLED, "cancelled"},
	{ROUTE_RETRY_GRPC_DEADLINE_EXCEEDED, "deadline-exceeded"},
	{ROUTE_RETRY_GRPC_RESOURCE_EXHAUSTED, "resource-exhausted"},
	{ROUTE_RETRY_GRPC_UNAVAILABLE, "unavailable"},
};

#define N_RETRY_NAMES (sizeof(retry_names) / sizeof(retry_names[0]))
#define RETRY_ALL ((1u << N_RETRY_NAMES) - 1)

const char *
route_retry_name(uint32_t bit)
{
	for (size_t i = 0; i < N_RETRY_NAMES; i++)
		if (retry_names[i].bit == bit)
			return retry_names[i].name;
	return NULL;
}

uint32_t
route_retry_bit(const char *name)
{
	if (name == NULL)
		return 0;
	for (size_t i = 0; i < N_RETRY_NAMES; i++)
		if (strcmp(retry_names[i].name, name) == 0)
			return retry_names[i].bit;
	return 0;
}

/* ---- validation ---- */

static int bad(char *where, size_t where_len, char *why, size_t why_len,
               const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static int
bad(char *where, size_t where_len, char *why, size_t why_len,
    const char *reason, const char *fmt, ...)
{
	va_list ap;

	if (where != NULL && where_len > 0) {
		va_start(ap, fmt);
		vsnprintf(where, where_len, fmt, ap);
		va_end(ap);
	}
	if (why != NULL && why_len > 0)
		snprintf(why, why_len, "%s", reason);
	return WEFT_EINVAL;
}

static bool
nonempty(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static int
check_match(const struct route_match *m, size_t i, char *where,
            size_t where_len, char *why, size_t why_len)
{
	if (m->path_kind != ROUTE_PATH_ANY) {
		if (m->path == NULL || m->path[0] != '/')
			return bad(where, where_len, why, why_len,
			           "a path must start with '/'",
			           "routes[%zu].match.%s", i,
			           m->path_kind == ROUTE_PATH_EXACT ?
			           "path_exact" : "path_prefix");
	}
	if (m->n_methods > ROUTE_MAX_METHODS)
		return bad(where, where_len, why, why_len, "too many methods",
		           "routes[%zu].match.methods", i);
	for (size_t j = 0; j < m->n_methods; j++)
		if (!nonempty(m->methods[j]))
			return bad(where, where_len, why, why_len,
			           "a method must not be empty",
			           "routes[%zu].match.methods[%zu]", i, j);
	if (m->n_headers > ROUTE_MAX_HEADERS)
		return bad(where, where_len, why, why_len, "too many headers",
		           "routes[%zu].match.headers", i);
	for (size_t j = 0; j < m->n_headers; j++) {
		const struct route_header_match *h = &m->headers[j];

		if (!nonempty(h->name))
			return bad(where, where_len, why, why_len,
			           "a header match needs a name",
			           "routes[%zu].match.headers[%zu].name", i, j);
		if (h->kind != ROUTE_HEADER_PRESENT && h->value == NULL)
			return bad(where, where_len, why, why_len,
			           "a header match needs a value",
			           "routes[%zu].match.headers[%zu]", i, j);
	}
	return 0;
}

static int
check_retry(const struct route_retry *r, size_t i, char *where,
            size_t where_len, char *why, size_t why_len)
{
	if (r->max > ROUTE_MAX_RETRIES)
		return bad(where, where_len, why, why_len,
		           "at most 10 retries", "routes[%zu].retry.max", i);
	if (r->per_try_timeout_ms < 0)
		return bad(where, where_len, why, why_len,
		           "a timeout must not be negative",
		           "routes[%zu].retry.per_try_timeout", i);
	if ((r->on & ~RETRY_ALL) != 0)
		return bad(where, where_len, why, why_len,
		           "unknown retry condition", "routes[%zu].retry.on", i);
	if (r->max > 0 && r->on == 0)
		return bad(where, where_len, why, why_len,
		           "retries need at least one condition",
		           "routes[%zu].retry.on", i);
	if (r->budget_percent > 100)
		return bad(where, where_len, why, why_len,
		           "a percentage is at most 100",
		           "routes[%zu].retry.budget_percent", i);
	if (r->backoff_base_ms < 0 || r->backoff_max_ms < 0 ||
	    (r->backoff_max_ms > 0 && r->backoff_base_ms > r->backoff_max_ms))
		return bad(where, where_len, why, why_len,
		           "back-off base must be within 0 and its maximum",
		           "routes[%zu].retry.backoff", i);
	return 0;
}

int
route_validate(const struct route_spec *s, char *where, size_t where_len,
               char *why, size_t why_len)
{
	if (where != NULL && where_len > 0)
		where[0] = '\0';
	if (why != NULL && why_len > 0)
		why[0] = '\0';
	if (s == NULL)
		return WEFT_EINVAL;
	if (!nonempty(s->name))
		return bad(where, where_len, why, why_len, "a name is required",
		           "name");
	if (!nonempty(s->service))
		return bad(where, where_len, why, why_len,
		           "a service is required", "service");
	if (s->n_rules == 0 || s->n_rules > ROUTE_MAX_RULES)
		return bad(where, where_len, why, why_len,
		           "between 1 and 256 routes", "routes");
	for (size_t i = 0; i < s->n_rules; i++) {
		const struct route_rule *r = &s->rules[i];
		uint64_t total = 0;
		int err;

		if ((err = check_match(&r->match, i, where, where_len, why,
		                       why_len)) != 0)
			return err;
		if (r->n_targets == 0 || r->n_targets > ROUTE_MAX_TARGETS)
			return bad(where, where_len, why, why_len,
			           "between 1 and 64 targets",
			           "routes[%zu].targets", i);
		for (size_t j = 0; j < r->n_targets; j++) {
			const struct route_target *t = &r->targets[j];

			if (!nonempty(t->service))
				return bad(where, where_len, why, why_len,
				           "a target needs a service",
				           "routes[%zu].targets[%zu].service",
				           i, j);
			if (t->weight > ROUTE_WEIGHT_MAX)
				return bad(where, where_len, why, why_len,
				           "a weight is at most 1000000",
				           "routes[%zu].targets[%zu].weight",
				           i, j);
			if (t->n_labels > ROUTE_MAX_LABELS)
				return bad(where, where_len, why, why_len,
				           "too many labels",
				           "routes[%zu].targets[%zu].labels",
				           i, j);
			for (size_t k = 0; k < t->n_labels; k++)
				if (!nonempty(t->labels[k].key) ||
				    t->labels[k].value == NULL)
					return bad(where, where_len, why,
					           why_len,
					           "a label needs a key and a value",
					           "routes[%zu].targets[%zu].labels",
					           i, j);
			total += t->weight;
		}
		if (total == 0)
			return bad(where, where_len, why, why_len,
			           "at least one target needs a weight",
			           "routes[%zu].targets", i);
		if (r->timeout_ms < 0 || r->idle_timeout_ms < 0)
			return bad(where, where_len, why, why_len,
			           "a timeout must not be negative",
			           "routes[%zu].timeout", i);
		if ((err = check_retry(&r->retry, i, where, where_len, why,
		                       why_len)) != 0)
			return err;
	}
	return 0;
}

/* ---- matching ---- */

static bool
header_find(const struct route_request *req, const char *name,
            const struct route_header **out, size_t from, size_t *at)
{
	size_t nl = strlen(name);

	for (size_t i = from; i < req->n_headers; i++) {
		const struct route_header *h = &req->headers[i];

		if (h->name_len == nl && strncasecmp(h->name, name, nl) == 0) {
			*out = h;
			*at = i;
			return true;
		}
	}
	return false;
}

static bool
value_matches(const struct route_header_match *m, const struct route_header *h)
{
	size_t vl;

	switch (m->kind) {
	case ROUTE_HEADER_PRESENT:
		return true;
	case ROUTE_HEADER_EXACT:
		vl = strlen(m->value);
		return h->value_len == vl && memcmp(h->value, m->value, vl) == 0;
	case ROUTE_HEADER_PREFIX:
		vl = strlen(m->value);
		return h->value_len >= vl && memcmp(h->value, m->value, vl) == 0;
	}
	return false;
}

/* A header repeated in the request matches when any of its values does:
 * the same rule a list-valued header gets once joined. */
static bool
header_matches(const struct route_header_match *m,
               const struct route_request *req)
{
	const struct route_header *h;
	size_t at = 0;
	bool hit = false;

	for (size_t from = 0; !hit && header_find(req, m->name, &h, from, &at);
	     from = at + 1)
		hit = value_matches(m, h);
	return hit != m->invert;
}

/* The path without its query, for path matching. */
static size_t
path_len(const char *path)
{
	const char *q = strchr(path, '?');

	return q != NULL ? (size_t)(q - path) : strlen(path);
}

int
route_grpc_split(const char *path, const char **svc, size_t *svc_len,
                 const char **method, size_t *method_len)
{
	size_t n;
	const char *slash;

	if (path == NULL || path[0] != '/')
		return WEFT_EMALFORMED;
	n = path_len(path);
	slash = memchr(path + 1, '/', n - 1);
	if (slash == NULL || slash == path + 1 ||
	    (size_t)(slash - path) + 1 >= n ||
	    memchr(slash + 1, '/', n - (size_t)(slash - path) - 1) != NULL)
		return WEFT_EMALFORMED;
	*svc = path + 1;
	*svc_len = (size_t)(slash - path) - 1;
	*method = slash + 1;
	*method_len = n - (size_t)(slash - path) - 1;
	return 0;
}

static bool
name_eq(const char *want, const char *got, size_t got_len)
{
	return strlen(want) == got_len && memcmp(want, got, got_len) == 0;
}

bool
route_rule_matches(const struct route_rule *r, const struct route_request *req)
{
	const struct route_match *m = &r->match;
	const char *path = req->path != NULL ? req->path : "";
	size_t pl = path_len(path);

	switch (m->path_kind) {
	case ROUTE_PATH_ANY:
		break;
	case ROUTE_PATH_PREFIX:
		if (pl < strlen(m->path) ||
		    memcmp(path, m->path, strlen(m->path)) != 0)
			return false;
		break;
	case ROUTE_PATH_EXACT:
		if (!name_eq(m->path, path, pl))
			return false;
		break;
	}
	if (m->n_methods > 0) {
		bool hit = false;

		for (size_t i = 0; !hit && i < m->n_methods; i++)
			hit = req->method != NULL &&
			      strcmp(m->methods[i], req->method) == 0;
		if (!hit)
			return false;
	}
	if (m->grpc_service != NULL || m->grpc_method != NULL) {
		const char *svc, *meth;
		size_t sl, ml;

		if (route_grpc_split(path, &svc, &sl, &meth, &ml) != 0)
			return false;
		if (m->grpc_service != NULL && !name_eq(m->grpc_service, svc, sl))
			return false;
		if (m->grpc_method != NULL && !name_eq(m->grpc_method, meth, ml))
			return false;
	}
	for (size_t i = 0; i < m->n_headers; i++)
		if (!header_matches(&m->headers[i], req))
			return false;
	return true;
}

int
route_find(const struct route_spec *s, const struct route_request *req,
           const struct route_rule **out, size_t *index)
{
	*out = NULL;
	if (s == NULL || req == NULL)
		return WEFT_EINVAL;
	for (size_t i = 0; i < s->n_rules; i++) {
		if (route_rule_matches(&s->rules[i], req)) {
			*out = &s->rules[i];
			if (index != NULL)
				*index = i;
			return 0;
		}
	}
	return WEFT_ENOENT;
}

int
route_pick_target(const struct route_rule *r, uint64_t rnd,
                  const struct route_target **out)
{
	uint64_t total = 0, x;

	*out = NULL;
	if (r == NULL || r->n_targets == 0)
		return WEFT_ENOENT;
	for (size_t i = 0; i < r->n_targets; i++)
		total += r->targets[i].weight;
	if (total == 0)
		return WEFT_ENOENT;
	/* Weights are capped far below 2^32, so the modulo bias is under
	 * 2^-32 and not worth a rejection loop. */
	x = rnd % total;
	for (size_t i = 0; i < r->n_targets; i++) {
		if (x < r->targets[i].weight) {
			*out = &r->targets[i];
			return 0;
		}
		x -= r->targets[i].weight;
	}
	return WEFT_ENOENT; /* not reached */
}

/* ---- retries ---- */

bool
route_retry_on(const struct route_retry *p, enum route_outcome outcome,
               int http_status, int grpc_status)
{
	uint32_t on = p->on;

	switch (outcome) {
	case ROUTE_OUTCOME_RESET:
		return (on & ROUTE_RETRY_RESET) != 0;
	case ROUTE_OUTCOME_CONNECT_FAILURE:
		return (on & ROUTE_RETRY_CONNECT_FAILURE) != 0;
	case ROUTE_OUTCOME_TIMEOUT:
		return (on & (ROUTE_RETRY_GATEWAY_ERROR | ROUTE_RETRY_5XX)) != 0;
	case ROUTE_OUTCOME_RESPONSE:
		break;
	}
	if (http_status >= 500 && http_status <= 599 &&
	    (on & ROUTE_RETRY_5XX) != 0)
		return true;
	if ((http_status == 502 || http_status == 503 || http_status == 504) &&
	    (on & ROUTE_RETRY_GATEWAY_ERROR) != 0)
		return true;
	switch (grpc_status) {
	case ROUTE_GRPC_CANCELLED:
		return (on & ROUTE_RETRY_GRPC_CANCELLED) != 0;
	case ROUTE_GRPC_DEADLINE_EXCEEDED:
		return (on & ROUTE_RETRY_GRPC_DEADLINE_EXCEEDED) != 0;
	case ROUTE_GRPC_RESOURCE_EXHAUSTED:
		return (on & ROUTE_RETRY_GRPC_RESOURCE_EXHAUSTED) != 0;
	case ROUTE_GRPC_UNAVAILABLE:
		return (on & ROUTE_RETRY_GRPC_UNAVAILABLE) != 0;
	default:
		return false;
	}
}

int64_t
route_backoff_ms(const struct route_retry *p, unsigned attempt, uint64_t rnd)
{
	int64_t base = p->backoff_base_ms > 0 ? p->backoff_base_ms :
	               ROUTE_BACKOFF_BASE_MS;
	int64_t max = p->backoff_max_ms > 0 ? p->backoff_max_ms :
	              ROUTE_BACKOFF_MAX_MS;
	int64_t ceil = base;

	if (max < base)
		max = base;
	for (unsigned i = 1; i < attempt && ceil < max; i++)
		ceil *= 2;
	if (ceil > max)
		ceil = max;
	return (int64_t)(rnd % ((uint64_t)ceil + 1));
}

void
route_budget_init(struct route_budget *b, int64_t window_ms, unsigned percent,
                  unsigned min_retries)
{
	memset(b, 0, sizeof(*b));
	if (window_ms <= 0)
		window_ms = ROUTE_BUDGET_WINDOW_MS;
	b->slot_ms = window_ms / ROUTE_BUDGET_SLOTS;
	if (b->slot_ms <= 0)
		b->slot_ms = 1;
	b->percent = percent > 0 ? (percent > 100 ? 100 : percent) :
	             ROUTE_BUDGET_PERCENT;
	b->min_retries = min_retries;
	for (size_t i = 0; i < ROUTE_BUDGET_SLOTS; i++)
		b->slot_start[i] = INT64_MIN;
}

static int64_t
slot_of(const struct route_budget *b, int64_t now_ms)
{
	int64_t s = now_ms / b->slot_ms;

	if (now_ms < 0 && now_ms % b->slot_ms != 0)
		s--;
	return s * b->slot_ms;
}

/* The slot for now_ms, cleared when it last held an older period. */
static size_t
slot(struct route_budget *b, int64_t now_ms)
{
	int64_t start = slot_of(b, now_ms);
	size_t i = (size_t)((uint64_t)(start / b->slot_ms) % ROUTE_BUDGET_SLOTS);

	if (b->slot_start[i] < start) {
		b->slot_start[i] = start;
		b->requests[i] = 0;
		b->retries[i] = 0;
	}
	return i;
}

void
route_budget_counts(const struct route_budget *b, int64_t now_ms,
                    uint64_t *requests, uint64_t *retries)
{
	int64_t oldest = slot_of(b, now_ms) -
	                 (ROUTE_BUDGET_SLOTS - 1) * b->slot_ms;

	*requests = 0;
	*retries = 0;
	for (size_t i = 0; i < ROUTE_BUDGET_SLOTS; i++) {
		if (b->slot_start[i] == INT64_MIN || b->slot_start[i] < oldest)
			continue;
		*requests += b->requests[i];
		*retries += b->retries[i];
	}
}

void
route_budget_request(struct route_budget *b, int64_t now_ms)
{
	size_t i = slot(b, now_ms);

	if (b->requests[i] < UINT32_MAX)
		b->requests[i]++;
}

bool
route_budget_try_retry(struct route_budget *b, int64_t now_ms)
{
	uint64_t req, ret;
	size_t i = slot(b, now_ms);

	route_budget_counts(b, now_ms, &req, &ret);
	if (ret >= b->min_retries && (ret + 1) * 100 > req * b->percent)
		return false;
	if (b->retries[i] < UINT32_MAX)
		b->retries[i]++;
	return true;
}
