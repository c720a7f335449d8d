#include "agent/intention_json.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/cert.h"

struct intention_json {
	struct table_intention it;
	json_t *doc;                  /* the strings of it point into it */
	struct authz_l7_rule *rules;  /* it.http */
	const char **methods;         /* every rule's methods, one array */
};

static int fail(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return WEFT_EINVAL;
}

static const char *
str_of(const json_t *v)
{
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

static bool
source_ok(const char *s)
{
	if (strcmp(s, "*") == 0)
		return true;
	if (strncmp(s, "group:", 6) == 0)
		return cert_name_valid(s + 6);
	return cert_name_valid(s);
}

/* An HTTP method is a token (RFC 9110); compared case-sensitively. */
static bool
method_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > INTENTION_METHOD_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", *s) != NULL))
			return false;
	return true;
}

static int
decode_rule(struct intention_json *r, size_t i, const json_t *o,
            size_t *n_methods, char *err, size_t len)
{
	struct authz_l7_rule *rule = &r->rules[i];
	const json_t *p, *ms, *v;
	const char *k, *s;
	size_t j;

	if (!json_is_object(o))
		return fail(err, len, "http[%zu]: must be an object", i);
	json_object_foreach((json_t *)o, k, v) {
		if (strcmp(k, "path_prefix") != 0 && strcmp(k, "methods") != 0)
			return fail(err, len, "http[%zu].%s: unknown key (known: "
			            "path_prefix, methods)", i, k);
	}
	p = json_object_get(o, "path_prefix");
	ms = json_object_get(o, "methods");
	if (p == NULL && ms == NULL)
		return fail(err, len, "http[%zu]: needs \"path_prefix\" or "
		            "\"methods\" (a rule with neither would allow "
		            "everything)", i);
	if (p != NULL) {
		if ((s = str_of(p)) == NULL)
			return fail(err, len, "http[%zu].path_prefix: must be a "
			            "string", i);
		if (s[0] != '/')
			return fail(err, len, "http[%zu].path_prefix: \"%.64s\" "
			            "does not start with '/'", i, s);
		if (strlen(s) > INTENTION_PREFIX_MAX)
			return fail(err, len, "http[%zu].path_prefix: longer than "
			            "%d bytes", i, INTENTION_PREFIX_MAX);
		rule->path_prefix = s;
	}
	if (ms == NULL)
		return 0;
	if (!json_is_array(ms) || json_array_size(ms) == 0 ||
	    json_array_size(ms) > AUTHZ_L7_MAX_METHODS)
		return fail(err, len, "http[%zu].methods: must be a list of 1 "
		            "to %d methods", i, AUTHZ_L7_MAX_METHODS);
	rule->methods = r->methods + *n_methods;
	json_array_foreach(ms, j, v) {
		if ((s = str_of(v)) == NULL || !method_ok(s))
			return fail(err, len, "http[%zu].methods[%zu]: %s%.40s%s "
			            "is not an HTTP method token", i, j,
			            s != NULL ? "\"" : "", s != NULL ? s : "value",
			            s != NULL ? "\"" : "");
		r->methods[(*n_methods)++] = s;
	}
	rule->n_methods = json_array_size(ms);
	return 0;
}

static int
decode(struct intention_json *r, char *err, size_t len)
{
	const json_t *doc = r->doc, *http, *v;
	const char *k, *src, *dst, *act;
	size_t i, n_methods = 0;
	int rc;

	if (!json_is_object(doc))
		return fail(err, len, "the value must be a JSON object");
	json_object_foreach((json_t *)doc, k, v) {
		if (strcmp(k, "source") != 0 && strcmp(k, "destination") != 0 &&
		    strcmp(k, "action") != 0 && strcmp(k, "http") != 0)
			return fail(err, len, "%s: unknown key (known: source, "
			            "destination, action, http)", k);
	}
	src = str_of(json_object_get(doc, "source"));
	dst = str_of(json_object_get(doc, "destination"));
	act = str_of(json_object_get(doc, "action"));
	if (src == NULL)
		return fail(err, len, "source: required, a string");
	if (dst == NULL)
		return fail(err, len, "destination: required, a string");
	if (act == NULL)
		return fail(err, len, "action: required, a string");
	if (!source_ok(src))
		return fail(err, len, "source: \"%.64s\" is neither a service "
		            "name, \"group:NAME\" nor \"*\"", src);
	if (strcmp(dst, "*") != 0 && !cert_name_valid(dst))
		return fail(err, len, "destination: \"%.64s\" is neither a "
		            "service name nor \"*\"", dst);
	if (strcmp(act, "allow") != 0 && strcmp(act, "deny") != 0)
		return fail(err, len, "action: \"%.32s\" is neither \"allow\" "
		            "nor \"deny\"", act);
	r->it.source = src;
	r->it.destination = dst;
	r->it.action = strcmp(act, "allow") == 0 ? TABLE_ALLOW : TABLE_DENY;
	http = json_object_get(doc, "http");
	if (http == NULL)
		return 0;
	if (r->it.action != TABLE_ALLOW)
		return fail(err, len, "http: only an allow intention takes L7 "
		            "rules (they narrow what it allows)");
	if (!json_is_array(http) || json_array_size(http) == 0 ||
	    json_array_size(http) > AUTHZ_L7_MAX_RULES)
		return fail(err, len, "http: must be a list of 1 to %d rules "
		            "(leave it out for no L7 restriction)",
		            AUTHZ_L7_MAX_RULES);
	r->rules = calloc(json_array_size(http), sizeof(*r->rules));
	r->methods = calloc(json_array_size(http) * AUTHZ_L7_MAX_METHODS,
	                    sizeof(*r->methods));
	if (r->rules == NULL || r->methods == NULL)
		return WEFT_ENOMEM;
	json_array_foreach(http, i, v) {
		if ((rc = decode_rule(r, i, v, &n_methods, err, len)) != 0)
			return rc;
	}
	r->it.http = r->rules;
	r->it.n_http = json_array_size(http);
	return 0;
}

int
intention_json_parse(const char *text, size_t len, struct intention_json **out,
                     char *err, size_t err_len)
{
	struct intention_json *r;
	json_error_t je;
	int rc;

	*out = NULL;
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return WEFT_ENOMEM;
	r->doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (r->doc == NULL) {
		if (err != NULL && err_len > 0)
			snprintf(err, err_len, "line %d, column %d: %s", je.line,
			         je.column, je.text);
		intention_json_free(r);
		return WEFT_EMALFORMED;
	}
	if ((rc = decode(r, err, err_len)) != 0) {
		if (rc == WEFT_ENOMEM && err != NULL && err_len > 0)
			snprintf(err, err_len, "out of memory");
		intention_json_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

const struct table_intention *
intention_json_get(const struct intention_json *i)
{
	return &i->it;
}

void
intention_json_free(struct intention_json *i)
{
	if (i == NULL)
		return;
	json_decref(i->doc);
	free(i->rules);
	free(i->methods);
	free(i);
}
