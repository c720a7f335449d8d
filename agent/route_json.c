#include "agent/route_json.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "common/err.h"

#define PATH_MAX_LEN 96

struct route_json {
	struct route_spec spec;
	json_t *doc;   /* the strings of spec point into it */
	void **allocs; /* the arrays of spec */
	size_t n_allocs, cap_allocs;
};

/* Decoding state: the output, and where the error goes. */
struct dec {
	struct route_json *r;
	char *err;
	size_t err_len;
};

static int fail(struct dec *d, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
fail(struct dec *d, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (d->err == NULL || d->err_len == 0)
		return WEFT_EINVAL;
	n = snprintf(d->err, d->err_len, "%s: ", path);
	if (n < 0 || (size_t)n >= d->err_len)
		return WEFT_EINVAL;
	va_start(ap, fmt);
	vsnprintf(d->err + n, d->err_len - (size_t)n, fmt, ap);
	va_end(ap);
	return WEFT_EINVAL;
}

static void *
alloc(struct dec *d, size_t n, size_t size)
{
	struct route_json *r = d->r;
	void *p;

	if (n == 0)
		n = 1;
	if (r->n_allocs == r->cap_allocs) {
		size_t cap = r->cap_allocs ? r->cap_allocs * 2 : 16;
		void **na = realloc(r->allocs, cap * sizeof(*na));

		if (na == NULL)
			return NULL;
		r->allocs = na;
		r->cap_allocs = cap;
	}
	if ((p = calloc(n, size)) == NULL)
		return NULL;
	r->allocs[r->n_allocs++] = p;
	return p;
}

/* Paths are cut at PATH_MAX_LEN; the shape bounds them well below. */
static void
sub(char *out, const char *path, const char *key)
{
	int n = snprintf(out, PATH_MAX_LEN, "%s%s%s", path,
	                 path[0] ? "." : "", key);

	if (n < 0)
		out[0] = '\0';
}

static void
idx(char *out, const char *path, size_t i)
{
	int n = snprintf(out, PATH_MAX_LEN, "%s[%zu]", path, i);

	if (n < 0)
		out[0] = '\0';
}

/* Every key of o must be one of keys (NULL-ended). */
static int
known_keys(struct dec *d, const json_t *o, const char *path,
           const char *const *keys)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v) {
		bool ok = false;
		char p[PATH_MAX_LEN];

		for (size_t i = 0; keys[i] != NULL && !ok; i++)
			ok = strcmp(keys[i], k) == 0;
		if (!ok) {
			sub(p, path, k);
			return fail(d, p, "unknown key");
		}
	}
	return 0;
}

/* A service or label name: a lowercase DNS label, as certificates use. */
static bool
dns_label(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* An object name, as for intentions. */
static bool
object_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && ((i == 0 || i == n - 1) ||
		               (c != '-' && c != '.' && c != '_')))
			return false;
	}
	return true;
}

static bool
token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", *s) != NULL))
			return false;
	return true;
}

/* A string member key of o, or NULL when absent; non-strings fail. */
static int
get_str(struct dec *d, const json_t *o, const char *path, const char *key,
        bool required, const char **out)
{
	json_t *v = json_object_get(o, key);
	char p[PATH_MAX_LEN];

	*out = NULL;
	sub(p, path, key);
	if (v == NULL) {
		if (required)
			return fail(d, p, "required");
		return 0;
	}
	if (!json_is_string(v))
		return fail(d, p, "must be a string");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(d, p, "must not hold NUL");
	*out = json_string_value(v);
	return 0;
}

static int
get_duration(struct dec *d, const json_t *o, const char *path,
             const char *key, int64_t *ms)
{
	const char *s;
	char p[PATH_MAX_LEN];
	int err;

	*ms = 0;
	if ((err = get_str(d, o, path, key, false, &s)) != 0 || s == NULL)
		return err;
	sub(p, path, key);
	if (agent_parse_duration(s, ms) != 0 || *ms < 0 ||
	    *ms > 86400000LL)
		return fail(d, p, "\"%s\" is not a duration such as \"500ms\" "
		                  "or \"2s\" (at most 1d)", s);
	return 0;
}

static int
get_uint(struct dec *d, const json_t *o, const char *path, const char *key,
         long long min, long long max, bool required, unsigned *out)
{
	json_t *v = json_object_get(o, key);
	char p[PATH_MAX_LEN];

	sub(p, path, key);
	if (v == NULL)
		return required ? fail(d, p, "required") : 0;
	if (!json_is_integer(v))
		return fail(d, p, "must be an integer");
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return fail(d, p, "%lld is not within %lld-%lld",
		            (long long)json_integer_value(v), min, max);
	*out = (unsigned)json_integer_value(v);
	return 0;
}

/* An array member (absent: n 0), at most max long. */
static int
get_array(struct dec *d, const json_t *o, const char *path, const char *key,
          size_t min, size_t max, const json_t **out)
{
	json_t *v = json_object_get(o, key);
	char p[PATH_MAX_LEN];

	*out = NULL;
	sub(p, path, key);
	if (v == NULL)
		return min > 0 ? fail(d, p, "required") : 0;
	if (!json_is_array(v))
		return fail(d, p, "must be an array");
	if (json_array_size(v) < min || json_array_size(v) > max)
		return fail(d, p, "must hold %zu to %zu entries", min, max);
	*out = v;
	return 0;
}

static int
header_match(struct dec *d, const json_t *h, const char *path,
             struct route_header_match *m)
{
	static const char *const keys[] = {"name", "exact", "prefix",
	                                   "present", "invert", NULL};
	const char *exact, *prefix;
	json_t *present = json_object_get(h, "present"),
	       *invert = json_object_get(h, "invert");
	int err, kinds;
	char p[PATH_MAX_LEN];

	if (!json_is_object(h))
		return fail(d, path, "must be an object");
	if ((err = known_keys(d, h, path, keys)) != 0 ||
	    (err = get_str(d, h, path, "name", true, &m->name)) != 0 ||
	    (err = get_str(d, h, path, "exact", false, &exact)) != 0 ||
	    (err = get_str(d, h, path, "prefix", false, &prefix)) != 0)
		return err;
	if (!token(m->name)) {
		sub(p, path, "name");
		return fail(d, p, "\"%s\" is not a header name", m->name);
	}
	if (present != NULL && !json_is_true(present)) {
		sub(p, path, "present");
		return fail(d, p, "must be true when given");
	}
	if (invert != NULL && !json_is_boolean(invert)) {
		sub(p, path, "invert");
		return fail(d, p, "must be true or false");
	}
	kinds = (exact != NULL) + (prefix != NULL) + (present != NULL);
	if (kinds != 1)
		return fail(d, path, "needs exactly one of exact, prefix, "
		                     "present");
	m->kind = exact != NULL ? ROUTE_HEADER_EXACT :
	          prefix != NULL ? ROUTE_HEADER_PREFIX : ROUTE_HEADER_PRESENT;
	m->value = exact != NULL ? exact : prefix;
	m->invert = invert != NULL && json_is_true(invert);
	return 0;
}

static int
match(struct dec *d, const json_t *o, const char *path, struct route_match *m)
{
	static const char *const keys[] = {"path_prefix", "path_exact",
	                                   "methods", "headers", "grpc",
	                                   NULL};
	static const char *const gkeys[] = {"service", "method", NULL};
	const char *prefix, *exact;
	const json_t *methods, *headers;
	json_t *grpc;
	char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
	int err;

	if (!json_is_object(o))
		return fail(d, path, "must be an object");
	if ((err = known_keys(d, o, path, keys)) != 0 ||
	    (err = get_str(d, o, path, "path_prefix", false, &prefix)) != 0 ||
	    (err = get_str(d, o, path, "path_exact", false, &exact)) != 0)
		return err;
	if (prefix != NULL && exact != NULL)
		return fail(d, path, "path_prefix and path_exact together");
	if (prefix != NULL || exact != NULL) {
		m->path = prefix != NULL ? prefix : exact;
		m->path_kind = prefix != NULL ? ROUTE_PATH_PREFIX :
		               ROUTE_PATH_EXACT;
		if (m->path[0] != '/') {
			sub(p, path, prefix != NULL ? "path_prefix" :
			                              "path_exact");
			return fail(d, p, "must start with \"/\"");
		}
	}
	if ((err = get_array(d, o, path, "methods", 0, ROUTE_MAX_METHODS,
	                     &methods)) != 0)
		return err;
	if (methods != NULL) {
		const char **ms = alloc(d, json_array_size(methods),
		                        sizeof(*ms));

		if (ms == NULL)
			return WEFT_ENOMEM;
		sub(q, path, "methods");
		for (size_t i = 0; i < json_array_size(methods); i++) {
			json_t *v = json_array_get(methods, i);

			idx(p, q, i);
			if (!json_is_string(v) || !token(json_string_value(v)))
				return fail(d, p, "must be a method name such "
				                  "as \"GET\"");
			ms[i] = json_string_value(v);
		}
		m->methods = ms;
		m->n_methods = json_array_size(methods);
	}
	if ((err = get_array(d, o, path, "headers", 0, ROUTE_MAX_HEADERS,
	                     &headers)) != 0)
		return err;
	if (headers != NULL) {
		struct route_header_match *hs =
			alloc(d, json_array_size(headers), sizeof(*hs));

		if (hs == NULL)
			return WEFT_ENOMEM;
		sub(q, path, "headers");
		for (size_t i = 0; i < json_array_size(headers); i++) {
			idx(p, q, i);
			if ((err = header_match(d, json_array_get(headers, i),
			                        p, &hs[i])) != 0)
				return err;
		}
		m->headers = hs;
		m->n_headers = json_array_size(headers);
	}
	if ((grpc = json_object_get(o, "grpc")) != NULL) {
		sub(q, path, "grpc");
		if (!json_is_object(grpc))
			return fail(d, q, "must be an object");
		if ((err = known_keys(d, grpc, q, gkeys)) != 0 ||
		    (err = get_str(d, grpc, q, "service", false,
		                   &m->grpc_service)) != 0 ||
		    (err = get_str(d, grpc, q, "method", false,
		                   &m->grpc_method)) != 0)
			return err;
		if (m->grpc_service == NULL && m->grpc_method == NULL)
			return fail(d, q, "needs service or method");
		if ((m->grpc_service != NULL &&
		     (m->grpc_service[0] == '\0' ||
		      strchr(m->grpc_service, '/') != NULL)) ||
		    (m->grpc_method != NULL &&
		     (m->grpc_method[0] == '\0' ||
		      strchr(m->grpc_method, '/') != NULL)))
			return fail(d, q, "names must be non-empty and "
			                  "without \"/\"");
	}
	return 0;
}

static int
target(struct dec *d, const json_t *o, const char *path, struct route_target *t)
{
	static const char *const keys[] = {"service", "labels", "weight",
	                                   NULL};
	json_t *labels;
	char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
	int err;

	if (!json_is_object(o))
		return fail(d, path, "must be an object");
	if ((err = known_keys(d, o, path, keys)) != 0 ||
	    (err = get_str(d, o, path, "service", true, &t->service)) != 0 ||
	    (err = get_uint(d, o, path, "weight", 0, ROUTE_WEIGHT_MAX, true,
	                    &t->weight)) != 0)
		return err;
	if (!dns_label(t->service)) {
		sub(p, path, "service");
		return fail(d, p, "\"%s\" is not a service name", t->service);
	}
	if ((labels = json_object_get(o, "labels")) != NULL) {
		struct route_label *ls;
		const char *k;
		json_t *v;
		size_t i = 0;

		sub(q, path, "labels");
		if (!json_is_object(labels))
			return fail(d, q, "must be an object of strings");
		if (json_object_size(labels) > ROUTE_MAX_LABELS)
			return fail(d, q, "at most %d labels",
			            ROUTE_MAX_LABELS);
		if ((ls = alloc(d, json_object_size(labels),
		                sizeof(*ls))) == NULL)
			return WEFT_ENOMEM;
		json_object_foreach(labels, k, v) {
			sub(p, q, k);
			if (!dns_label(k))
				return fail(d, p, "not a label name");
			if (!json_is_string(v) ||
			    strlen(json_string_value(v)) !=
			    json_string_length(v))
				return fail(d, p, "must be a string");
			ls[i].key = k;
			ls[i].value = json_string_value(v);
			i++;
		}
		t->labels = ls;
		t->n_labels = i;
	}
	return 0;
}

static int
retry(struct dec *d, const json_t *o, const char *path, struct route_retry *r)
{
	static const char *const keys[] = {"max", "per_try_timeout", "on",
	                                   "budget_percent", "backoff_base",
	                                   "backoff_max", NULL};
	const json_t *on;
	char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
	int err;

	if (!json_is_object(o))
		return fail(d, path, "must be an object");
	if ((err = known_keys(d, o, path, keys)) != 0 ||
	    (err = get_uint(d, o, path, "max", 0, ROUTE_MAX_RETRIES, true,
	                    &r->max)) != 0 ||
	    (err = get_duration(d, o, path, "per_try_timeout",
	                        &r->per_try_timeout_ms)) != 0 ||
	    (err = get_uint(d, o, path, "budget_percent", 1, 100, false,
	                    &r->budget_percent)) != 0 ||
	    (err = get_duration(d, o, path, "backoff_base",
	                        &r->backoff_base_ms)) != 0 ||
	    (err = get_duration(d, o, path, "backoff_max",
	                        &r->backoff_max_ms)) != 0 ||
	    (err = get_array(d, o, path, "on", 1, 16, &on)) != 0)
		return err;
	sub(q, path, "on");
	for (size_t i = 0; i < json_array_size(on); i++) {
		json_t *v = json_array_get(on, i);
		uint32_t bit;

		idx(p, q, i);
		if (!json_is_string(v))
			return fail(d, p, "must be a string");
		bit = route_retry_bit(json_string_value(v));
		if (bit == 0)
			return fail(d, p, "\"%s\" is not a retry condition",
			            json_string_value(v));
		if (r->on & bit)
			return fail(d, p, "\"%s\" is listed twice",
			            json_string_value(v));
		r->on |= bit;
	}
	if (r->backoff_max_ms > 0 && r->backoff_base_ms > r->backoff_max_ms) {
		sub(p, path, "backoff_base");
		return fail(d, p, "is over backoff_max");
	}
	return 0;
}

static int
rule(struct dec *d, const json_t *o, const char *path, struct route_rule *r)
{
	static const char *const keys[] = {"match", "targets", "timeout",
	                                   "idle_timeout", "retry", NULL};
	const json_t *targets;
	json_t *m, *rt;
	struct route_target *ts;
	uint64_t total = 0;
	char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
	int err;

	if (!json_is_object(o))
		return fail(d, path, "must be an object");
	if ((err = known_keys(d, o, path, keys)) != 0)
		return err;
	if ((m = json_object_get(o, "match")) != NULL) {
		sub(p, path, "match");
		if ((err = match(d, m, p, &r->match)) != 0)
			return err;
	}
	if ((err = get_array(d, o, path, "targets", 1, ROUTE_MAX_TARGETS,
	                     &targets)) != 0)
		return err;
	if ((ts = alloc(d, json_array_size(targets), sizeof(*ts))) == NULL)
		return WEFT_ENOMEM;
	sub(q, path, "targets");
	for (size_t i = 0; i < json_array_size(targets); i++) {
		idx(p, q, i);
		if ((err = target(d, json_array_get(targets, i), p,
		                  &ts[i])) != 0)
			return err;
		total += ts[i].weight;
	}
	if (total == 0)
		return fail(d, q, "every weight is 0");
	r->targets = ts;
	r->n_targets = json_array_size(targets);
	if ((err = get_duration(d, o, path, "timeout", &r->timeout_ms)) != 0 ||
	    (err = get_duration(d, o, path, "idle_timeout",
	                        &r->idle_timeout_ms)) != 0)
		return err;
	if ((rt = json_object_get(o, "retry")) != NULL) {
		sub(p, path, "retry");
		if ((err = retry(d, rt, p, &r->retry)) != 0)
			return err;
	}
	return 0;
}

static int
decode(struct dec *d, const json_t *doc)
{
	static const char *const keys[] = {"kind", "name", "service",
	                                   "routes", NULL};
	struct route_spec *s = &d->r->spec;
	const json_t *routes;
	struct route_rule *rs;
	const char *kind;
	char p[PATH_MAX_LEN], where[PATH_MAX_LEN], why[ROUTE_REASON_MAX];
	int err;

	if (!json_is_object(doc))
		return fail(d, "(top)", "must be an object");
	if ((err = known_keys(d, doc, "", keys)) != 0 ||
	    (err = get_str(d, doc, "", "kind", true, &kind)) != 0)
		return err;
	if (strcmp(kind, "route") != 0)
		return fail(d, "kind", "\"%s\" is not \"route\"", kind);
	if ((err = get_str(d, doc, "", "name", true, &s->name)) != 0 ||
	    (err = get_str(d, doc, "", "service", true, &s->service)) != 0)
		return err;
	if (!object_name(s->name))
		return fail(d, "name", "\"%s\" is not an object name "
		                       "(a-z, 0-9, '-', '.', '_')", s->name);
	if (!dns_label(s->service))
		return fail(d, "service", "\"%s\" is not a service name",
		            s->service);
	if ((err = get_array(d, doc, "", "routes", 1, ROUTE_MAX_RULES,
	                     &routes)) != 0)
		return err;
	if ((rs = alloc(d, json_array_size(routes), sizeof(*rs))) == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < json_array_size(routes); i++) {
		idx(p, "routes", i);
		if ((err = rule(d, json_array_get(routes, i), p, &rs[i])) != 0)
			return err;
	}
	s->rules = rs;
	s->n_rules = json_array_size(routes);
	/* The proxy's own check, so the two can never disagree. */
	if (route_validate(s, where, sizeof(where), why, sizeof(why)) != 0)
		return fail(d, where, "%s", why);
	return 0;
}

int
route_json_parse(const char *text, size_t len, struct route_json **out,
                 char *err, size_t err_len)
{
	struct dec d = {.err = err, .err_len = err_len};
	json_error_t je;
	int rc;

	*out = NULL;
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (text == NULL)
		return WEFT_EINVAL;
	if (len > ROUTE_JSON_MAX_BYTES) {
		if (err != NULL)
			snprintf(err, err_len, "(top): over %d bytes",
			         ROUTE_JSON_MAX_BYTES);
		return WEFT_ETOOBIG;
	}
	if ((d.r = calloc(1, sizeof(*d.r))) == NULL)
		return WEFT_ENOMEM;
	d.r->doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (d.r->doc == NULL) {
		if (err != NULL)
			snprintf(err, err_len, "(top): not JSON: %s at "
			         "line %d column %d", je.text, je.line,
			         je.column);
		route_json_free(d.r);
		return WEFT_EMALFORMED;
	}
	if ((rc = decode(&d, d.r->doc)) != 0) {
		if (rc == WEFT_ENOMEM && err != NULL)
			snprintf(err, err_len, "(top): out of memory");
		route_json_free(d.r);
		return rc;
	}
	*out = d.r;
	return 0;
}

const struct route_spec *
route_json_spec(const struct route_json *r)
{
	return &r->spec;
}

void
route_json_free(struct route_json *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_allocs; i++)
		free(r->allocs[i]);
	free(r->allocs);
	json_decref(r->doc);
	free(r);
}
