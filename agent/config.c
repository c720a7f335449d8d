#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/accesslog.h"
#include "agent/config.h"
#include "common/err.h"
#include "common/log.h"
#include "crypto/cert.h"
#include "proxy/h1.h"

/* The schema: what each key may hold.  Checked per document, before any
 * merge, so that errors can name the document. */
enum ctype {
	T_STR,
	T_BOOL,
	T_INT,
	T_DURATION,
	T_HOSTPORT,
	T_IP,
	T_NAME, /* a DNS label */
	T_OBJ,
	T_LIST_STR,
	T_LIST_HOSTPORT,
	T_LIST_OBJ,
	T_MAP_STR, /* object of string values */
};

struct field {
	const char *key;
	enum ctype type;
	const struct field *sub; /* T_OBJ and T_LIST_OBJ */
	int64_t min, max;        /* T_INT */
	const char *const *oneof; /* T_STR: allowed values */
};

static const char *const protocols[] = {"tcp", "http", "http2", "grpc", NULL};
static const char *const levels[] = {"error", "warn", "info", "debug", NULL};

static const struct field identity_fields[] = {
	{"key", T_STR, NULL, 0, 0, NULL},
	{"cert", T_STR, NULL, 0, 0, NULL},
	{"ca", T_STR, NULL, 0, 0, NULL},
	{"skew", T_DURATION, NULL, 0, 0, NULL},
	{NULL, 0, NULL, 0, 0, NULL},
};

static const char *const actions[] = {"allow", "deny", NULL};

static const struct field mesh_fields[] = {
	{"bind", T_HOSTPORT, NULL, 0, 0, NULL},
	{"default_intention", T_STR, NULL, 0, 0, actions},
	{NULL, 0, NULL, 0, 0, NULL},
};

static const struct field gossip_fields[] = {
	{"probe_interval", T_DURATION, NULL, 0, 0, NULL},
	{"probe_timeout", T_DURATION, NULL, 0, 0, NULL},
	{"gossip_interval", T_DURATION, NULL, 0, 0, NULL},
	{"pushpull_interval", T_DURATION, NULL, 0, 0, NULL},
	{"reap_after", T_DURATION, NULL, 0, 0, NULL},
	{"suspicion_mult", T_INT, NULL, 1, 100, NULL},
	{"suspicion_max_mult", T_INT, NULL, 1, 100, NULL},
	{"indirect_checks", T_INT, NULL, 0, 16, NULL},
	{"fanout", T_INT, NULL, 1, 16, NULL},
	{"retransmit_mult", T_INT, NULL, 1, 100, NULL},
	{NULL, 0, NULL, 0, 0, NULL},
};

static const struct field upstream_fields[] = {
	{"service", T_NAME, NULL, 0, 0, NULL},
	{"local_bind", T_HOSTPORT, NULL, 0, 0, NULL},
	{"protocol", T_STR, NULL, 0, 0, protocols},
	{"max_connections", T_INT, NULL, 1, 1000000, NULL},
	{"max_pending", T_INT, NULL, 1, 1000000, NULL},
	{"max_requests", T_INT, NULL, 1, 1000000, NULL},
	{NULL, 0, NULL, 0, 0, NULL},
};

static const char *const lbs[] = {"p2c", "round_robin", NULL};

static const struct field outlier_fields[] = {
	{"consecutive_errors", T_INT, NULL, 1, 1000, NULL},
	{"base_ejection", T_DURATION, NULL, 0, 0, NULL},
	{"max_ejection", T_DURATION, NULL, 0, 0, NULL},
	{"max_ejection_percent", T_INT, NULL, 1, 100, NULL},
	{NULL, 0, NULL, 0, 0, NULL},
};

/* Data-plane knobs; the ranges keep one connection's memory bounded. */
static const struct field proxy_fields[] = {
	{"retry_buffer", T_INT, NULL, 0, 16777216, NULL},
	{"max_head_bytes", T_INT, NULL, 1024, 1048576, NULL},
	{"max_headers", T_INT, NULL, 8, 1000, NULL},
	{"lb", T_STR, NULL, 0, 0, lbs},
	{"outlier", T_OBJ, outlier_fields, 0, 0, NULL},
	{"access_log", T_STR, NULL, 0, 0, NULL},
	{"head_timeout", T_DURATION, NULL, 0, 0, NULL},
	{"client_idle_timeout", T_DURATION, NULL, 0, 0, NULL},
	{"body_timeout", T_DURATION, NULL, 0, 0, NULL},
	{"body_min_rate", T_INT, NULL, 0, 1073741824, NULL},
	{"access_log_buffer", T_INT, NULL, 4096, 67108864, NULL},
	{NULL, 0, NULL, 0, 0, NULL},
};

static const struct field check_fields[] = {
	{"id", T_STR, NULL, 0, 0, NULL},
	{"name", T_STR, NULL, 0, 0, NULL},
	{"http", T_STR, NULL, 0, 0, NULL},
	{"tcp", T_HOSTPORT, NULL, 0, 0, NULL},
	{"grpc", T_STR, NULL, 0, 0, NULL},
	{"exec", T_LIST_STR, NULL, 0, 0, NULL},
	{"ttl", T_DURATION, NULL, 0, 0, NULL},
	{"interval", T_DURATION, NULL, 0, 0, NULL},
	{"timeout", T_DURATION, NULL, 0, 0, NULL},
	{"success_before_passing", T_INT, NULL, 1, 100, NULL},
	{"failures_before_critical", T_INT, NULL, 1, 100, NULL},
	{NULL, 0, NULL, 0, 0, NULL},
};

static const struct field service_fields[] = {
	{"name", T_NAME, NULL, 0, 0, NULL},
	{"port", T_INT, NULL, 1, 65535, NULL},
	{"protocol", T_STR, NULL, 0, 0, protocols},
	{"tags", T_LIST_STR, NULL, 0, 0, NULL},
	{"labels", T_MAP_STR, NULL, 0, 0, NULL},
	{"weight", T_INT, NULL, 1, 10000, NULL},
	{"upstreams", T_LIST_OBJ, upstream_fields, 0, 0, NULL},
	{"checks", T_LIST_OBJ, check_fields, 0, 0, NULL},
	{NULL, 0, NULL, 0, 0, NULL},
};

static const struct field top_fields[] = {
	{"node_name", T_NAME, NULL, 0, 0, NULL},
	{"bind", T_HOSTPORT, NULL, 0, 0, NULL},
	{"advertise", T_IP, NULL, 0, 0, NULL},
	{"join", T_LIST_HOSTPORT, NULL, 0, 0, NULL},
	{"retry_join", T_BOOL, NULL, 0, 0, NULL},
	{"retry_join_max", T_DURATION, NULL, 0, 0, NULL},
	{"data_dir", T_STR, NULL, 0, 0, NULL},
	{"socket", T_STR, NULL, 0, 0, NULL},
	{"socket_group", T_STR, NULL, 0, 0, NULL},
	{"log_level", T_STR, NULL, 0, 0, levels},
	{"identity", T_OBJ, identity_fields, 0, 0, NULL},
	{"mesh", T_OBJ, mesh_fields, 0, 0, NULL},
	{"gossip", T_OBJ, gossip_fields, 0, 0, NULL},
	{"services", T_LIST_OBJ, service_fields, 0, 0, NULL},
	{"upstreams", T_LIST_OBJ, upstream_fields, 0, 0, NULL},
	{"proxy", T_OBJ, proxy_fields, 0, 0, NULL},
	{"proxy_workers", T_INT, NULL, 0, AGENT_MAX_PROXY_WORKERS, NULL},
	{"metrics_addr", T_HOSTPORT, NULL, 0, 0, NULL},
	{"cert_warn_before", T_DURATION, NULL, 0, 0, NULL},
	{NULL, 0, NULL, 0, 0, NULL},
};

static int fail(struct agent_config_err *err, const char *origin,
                const char *path, const char *fmt, ...) WEFT_PRINTF(4, 5);

static int
fail(struct agent_config_err *err, const char *origin, const char *path,
     const char *fmt, ...)
{
	char why[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (path && *path)
		snprintf(err->msg, sizeof(err->msg), "%s: %s: %s", origin, path,
		         why);
	else
		snprintf(err->msg, sizeof(err->msg), "%s: %s", origin, why);
	return WEFT_EINVAL;
}

int
agent_parse_duration(const char *s, int64_t *ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
	             {"d", 86400000}};
	char *end;
	long long n;

	if (*s < '0' || *s > '9')
		return WEFT_EINVAL;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s)
		return WEFT_EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			if (n > INT64_MAX / units[i].ms)
				return WEFT_ERANGE;
			*ms = n * units[i].ms;
			return 0;
		}
	}
	return WEFT_EINVAL;
}

static bool
is_ip(const char *s)
{
	uint8_t buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int
agent_parse_hostport(const char *s, uint16_t default_port,
                     struct agent_hostport *out)
{
	const char *colon, *host = s, *port = NULL;
	size_t host_len;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL)
			return WEFT_EINVAL;
		host = s + 1;
		host_len = (size_t)(close - host);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return WEFT_EINVAL;
	} else {
		colon = strrchr(s, ':');
		/* More than one colon without brackets: a bare IPv6 address. */
		if (colon && strchr(s, ':') == colon) {
			host_len = (size_t)(colon - s);
			port = colon + 1;
		} else {
			host_len = strlen(s);
		}
	}
	if (host_len == 0 || host_len >= sizeof(out->host))
		return WEFT_EINVAL;
	memcpy(out->host, host, host_len);
	out->host[host_len] = '\0';
	if (!is_ip(out->host))
		return WEFT_EINVAL;
	out->port = default_port;
	if (port) {
		char *end;
		long p;

		if (*port < '0' || *port > '9')
			return WEFT_EINVAL;
		p = strtol(port, &end, 10);
		if (*end != '\0' || p < 1 || p > 65535)
			return WEFT_ERANGE;
		out->port = (uint16_t)p;
	}
	return 0;
}

static const char *
type_name(enum ctype t)
{
	switch (t) {
	case T_STR: return "a string";
	case T_BOOL: return "true or false";
	case T_INT: return "an integer";
	case T_DURATION: return "a duration such as \"500ms\", \"5s\" or \"2m\"";
	case T_HOSTPORT: return "an address \"IP:PORT\"";
	case T_IP: return "an IP address";
	case T_NAME: return "a DNS label (a-z, 0-9, '-', at most 63)";
	case T_OBJ: return "an object";
	case T_LIST_STR: return "a list of strings";
	case T_LIST_HOSTPORT: return "a list of addresses \"IP:PORT\"";
	case T_LIST_OBJ: return "a list of objects";
	case T_MAP_STR: return "an object of strings";
	}
	return "?";
}

static int check_obj(const json_t *o, const struct field *fields,
                     const char *origin, const char *path,
                     struct agent_config_err *err);

static int
check_value(const json_t *v, const struct field *f, const char *origin,
            const char *path, struct agent_config_err *err)
{
	char sub[256];
	int64_t ms;
	struct agent_hostport hp;
	size_t i;
	const json_t *e;
	const char *k;

	switch (f->type) {
	case T_STR:
		if (!json_is_string(v))
			break;
		if (f->oneof) {
			for (i = 0; f->oneof[i]; i++)
				if (strcmp(json_string_value(v), f->oneof[i]) == 0)
					return 0;
			return fail(err, origin, path, "\"%s\" is not one of the "
			            "allowed values", json_string_value(v));
		}
		return 0;
	case T_BOOL:
		if (json_is_boolean(v))
			return 0;
		break;
	case T_INT:
		if (!json_is_integer(v))
			break;
		if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
			return fail(err, origin, path, "%lld is out of range "
			            "%lld-%lld", (long long)json_integer_value(v),
			            (long long)f->min, (long long)f->max);
		return 0;
	case T_DURATION:
		if (!json_is_string(v))
			break;
		if (agent_parse_duration(json_string_value(v), &ms) != 0)
			return fail(err, origin, path, "\"%s\" is not %s",
			            json_string_value(v), type_name(f->type));
		return 0;
	case T_HOSTPORT:
		if (!json_is_string(v))
			break;
		if (agent_parse_hostport(json_string_value(v), 1, &hp) != 0)
			return fail(err, origin, path, "\"%s\" is not %s",
			            json_string_value(v), type_name(f->type));
		return 0;
	case T_IP:
		if (!json_is_string(v))
			break;
		if (!is_ip(json_string_value(v)))
			return fail(err, origin, path, "\"%s\" is not an IP address",
			            json_string_value(v));
		return 0;
	case T_NAME:
		if (!json_is_string(v))
			break;
		if (!cert_name_valid(json_string_value(v)))
			return fail(err, origin, path, "\"%s\" is not %s",
			            json_string_value(v), type_name(f->type));
		return 0;
	case T_OBJ:
		if (!json_is_object(v))
			break;
		return check_obj(v, f->sub, origin, path, err);
	case T_LIST_STR:
	case T_LIST_HOSTPORT:
	case T_LIST_OBJ:
		if (!json_is_array(v))
			break;
		json_array_foreach(v, i, e) {
			struct field one = *f;
			int rc;

			one.type = f->type == T_LIST_STR       ? T_STR
			           : f->type == T_LIST_HOSTPORT ? T_HOSTPORT
			                                        : T_OBJ;
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			rc = check_value(e, &one, origin, sub, err);
			if (rc)
				return rc;
		}
		return 0;
	case T_MAP_STR:
		if (!json_is_object(v))
			break;
		json_object_foreach((json_t *)v, k, e) {
			snprintf(sub, sizeof(sub), "%s.%s", path, k);
			if (!json_is_string(e))
				return fail(err, origin, sub, "expected a string");
			if (strchr(k, '=') || *k == '\0')
				return fail(err, origin, sub, "label keys must be "
				            "non-empty and have no '='");
		}
		return 0;
	}
	return fail(err, origin, path, "expected %s", type_name(f->type));
}

static int
check_obj(const json_t *o, const struct field *fields, const char *origin,
          const char *path, struct agent_config_err *err)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v) {
		const struct field *f;
		char sub[256];
		int rc;

		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
		for (f = fields; f->key; f++)
			if (strcmp(f->key, k) == 0)
				break;
		if (f->key == NULL)
			return fail(err, origin, sub, "unknown key");
		rc = check_value(v, f, origin, sub, err);
		if (rc)
			return rc;
	}
	return 0;
}

int
agent_config_parse_doc(const char *origin, const char *text, size_t len,
                       json_t **out, struct agent_config_err *err)
{
	json_error_t je;
	json_t *doc;
	int rc;

	/* Duplicate keys are a mistake in a hand-written file, not a merge. */
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (doc == NULL)
		return fail(err, origin, NULL, "line %d column %d: %s", je.line,
		            je.column, je.text);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return fail(err, origin, NULL, "the top level must be an object");
	}
	rc = check_obj(doc, top_fields, origin, "", err);
	if (rc) {
		json_decref(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

void
agent_config_merge(json_t *dst, const json_t *src)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)src, k, v) {
		json_t *have = json_object_get(dst, k);

		if (have && json_is_object(have) && json_is_object(v)) {
			agent_config_merge(have, v);
		} else if (have && json_is_array(have) && json_is_array(v)) {
			json_array_extend(have, v);
		} else {
			json_object_set_new(dst, k, json_deep_copy(v));
		}
	}
}

/* Typed extraction; the schema check has already run. */

static char *
dup_str(const json_t *o, const char *key, const char *def)
{
	const json_t *v = json_object_get(o, key);
	const char *s = json_is_string(v) ? json_string_value(v) : def;

	return s ? strdup(s) : NULL;
}

static int64_t
get_ms(const json_t *o, const char *key, int64_t def)
{
	const json_t *v = json_object_get(o, key);
	int64_t ms = def;

	if (json_is_string(v))
		agent_parse_duration(json_string_value(v), &ms);
	return ms;
}

static int64_t
get_int(const json_t *o, const char *key, int64_t def)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

static void
get_hostport(const json_t *o, const char *key, uint16_t port,
             struct agent_hostport *out, const char *def)
{
	const json_t *v = json_object_get(o, key);

	agent_parse_hostport(json_is_string(v) ? json_string_value(v) : def, port,
	                     out);
}

static char **
str_list(const json_t *a, size_t *n)
{
	char **out;
	size_t i;
	const json_t *e;

	*n = json_array_size(a);
	out = calloc(*n + 1, sizeof(*out));
	if (out == NULL)
		return NULL;
	json_array_foreach(a, i, e) out[i] = strdup(json_string_value(e));
	return out;
}

static void
free_list(char **l, size_t n)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

static enum table_protocol
protocol_of(const json_t *o)
{
	const char *p = json_string_value(json_object_get(o, "protocol"));

	/* The schema allowed only these. */
	if (p == NULL)
		return TABLE_PROTO_TCP;
	if (strcmp(p, "http") == 0)
		return TABLE_PROTO_HTTP;
	if (strcmp(p, "http2") == 0)
		return TABLE_PROTO_HTTP2;
	if (strcmp(p, "grpc") == 0)
		return TABLE_PROTO_GRPC;
	return TABLE_PROTO_TCP;
}

static int
build_upstreams(const json_t *a, const char *owner,
                struct agent_upstream **out, size_t *n,
                const char *path, struct agent_config_err *err)
{
	size_t i;
	const json_t *e;

	*n = json_array_size(a);
	*out = calloc(*n ? *n : 1, sizeof(**out));
	if (*out == NULL)
		return WEFT_ENOMEM;
	json_array_foreach(a, i, e) {
		char where[96];

		snprintf(where, sizeof(where), "%s[%zu]", path, i);
		if (!json_object_get(e, "service") ||
		    !json_object_get(e, "local_bind"))
			return fail(err, "config", where, "an upstream needs "
			            "\"service\" and \"local_bind\"");
		(*out)[i].service = dup_str(e, "service", NULL);
		if (owner != NULL && ((*out)[i].owner = strdup(owner)) == NULL)
			return WEFT_ENOMEM;
		get_hostport(e, "local_bind", 0, &(*out)[i].local_bind, NULL);
		if ((*out)[i].local_bind.port == 0)
			return fail(err, "config", where, "local_bind needs a port");
		(*out)[i].protocol = protocol_of(e);
		(*out)[i].max_connections =
		    (unsigned)get_int(e, "max_connections", 0);
		(*out)[i].max_pending = (unsigned)get_int(e, "max_pending", 0);
		(*out)[i].max_requests = (unsigned)get_int(e, "max_requests", 0);
	}
	return 0;
}

#define DAY_MS 86400000

static int
build_proxy(const json_t *p, struct agent_proxy_config *out,
            struct agent_config_err *err)
{
	const json_t *o = json_object_get(p, "outlier");
	const char *lb = json_string_value(json_object_get(p, "lb"));

	out->retry_buffer = (size_t)get_int(p, "retry_buffer",
	                                    AGENT_RETRY_BUFFER);
	out->max_head_bytes = (size_t)get_int(p, "max_head_bytes",
	                                      H1_MAX_HEAD_BYTES);
	out->max_headers = (size_t)get_int(p, "max_headers", H1_MAX_HEADERS);
	out->access_log = dup_str(p, "access_log", NULL);
	out->head_timeout_ms = get_ms(p, "head_timeout", 10000);
	out->client_idle_timeout_ms = get_ms(p, "client_idle_timeout", 60000);
	if (out->head_timeout_ms <= 0)
		return fail(err, "config", "proxy.head_timeout",
		            "must be longer than 0");
	if (out->client_idle_timeout_ms <= 0)
		return fail(err, "config", "proxy.client_idle_timeout",
		            "must be longer than 0");
	out->body_timeout_ms = get_ms(p, "body_timeout", 20000);
	out->body_min_rate = (uint64_t)get_int(p, "body_min_rate", 500);
	/* Added to a clock's milliseconds: a day is long enough and keeps
	 * the sum far from overflowing. */
	if (out->head_timeout_ms > DAY_MS)
		return fail(err, "config", "proxy.head_timeout",
		            "must be at most 1d");
	if (out->client_idle_timeout_ms > DAY_MS)
		return fail(err, "config", "proxy.client_idle_timeout",
		            "must be at most 1d");
	if (out->body_timeout_ms > DAY_MS)
		return fail(err, "config", "proxy.body_timeout",
		            "must be at most 1d");

	out->access_log_buffer = (size_t)get_int(p, "access_log_buffer",
	                                         ACCESSLOG_BUFFER_DEFAULT);
	if (out->access_log != NULL && out->access_log[0] == '\0')
		return fail(err, "config", "proxy.access_log",
		            "must be a file path or \"-\" for stderr");
	out->lb = lb != NULL && strcmp(lb, "round_robin") == 0 ?
	          BALANCE_LB_ROUND_ROBIN : BALANCE_LB_P2C;
	out->consecutive_errors = (unsigned)get_int(o, "consecutive_errors",
	                                            OUTLIER_CONSECUTIVE);
	out->base_ejection_ms = get_ms(o, "base_ejection", OUTLIER_BASE_MS);
	out->max_ejection_ms = get_ms(o, "max_ejection", OUTLIER_MAX_MS);
	out->max_ejection_percent = (unsigned)get_int(o,
	    "max_ejection_percent", BALANCE_OUTLIER_MAX_PERCENT);
	if (out->base_ejection_ms <= 0)
		return fail(err, "config", "proxy.outlier.base_ejection",
		            "must be longer than 0");
	if (out->max_ejection_ms < out->base_ejection_ms)
		return fail(err, "config", "proxy.outlier.max_ejection",
		            "must not be shorter than proxy.outlier.base_ejection");
	return 0;
}

static int
build_checks(const json_t *a, const char *service, struct agent_check **out,
             size_t *n, const char *path, struct agent_config_err *err)
{
	static const char *const kinds[] = {"http", "tcp", "grpc", "exec", "ttl"};
	size_t i;
	const json_t *e;

	*n = json_array_size(a);
	*out = calloc(*n ? *n : 1, sizeof(**out));
	if (*out == NULL)
		return WEFT_ENOMEM;
	json_array_foreach(a, i, e) {
		struct agent_check *c = &(*out)[i];
		char where[96], id[96];
		unsigned found = 0;

		snprintf(where, sizeof(where), "%s[%zu]", path, i);
		for (size_t k = 0; k < 5; k++) {
			if (json_object_get(e, kinds[k]) == NULL)
				continue;
			found++;
			free(c->kind);
			c->kind = strdup(kinds[k]);
		}
		if (found != 1)
			return fail(err, "config", where, "a check needs exactly one "
			            "of \"http\", \"tcp\", \"grpc\", \"exec\", \"ttl\"");
		if (strcmp(c->kind, "exec") == 0) {
			size_t argc;

			c->argv = str_list(json_object_get(e, "exec"), &argc);
			if (argc == 0)
				return fail(err, "config", where, "exec needs a command");
			c->target = strdup(c->argv[0]);
		} else if (strcmp(c->kind, "ttl") == 0) {
			c->ttl_ms = get_ms(e, "ttl", 0);
		} else {
			c->target = dup_str(e, c->kind, NULL);
		}
		/* Unique on the agent by default: TTL updates name it. */
		snprintf(id, sizeof(id), "%s-%s-%zu", service, c->kind, i);
		c->id = dup_str(e, "id", id);
		if (c->id == NULL || c->id[0] == '\0' || strlen(c->id) > 64 ||
		    strpbrk(c->id, "/?#%\"\\ \t\r\n") != NULL)
			return fail(err, "config", where, "id must be 1 to 64 "
			            "characters without '/', '?', '#', '%%', quotes "
			            "or spaces");
		c->interval_ms = get_ms(e, "interval", 10000);
		c->timeout_ms = get_ms(e, "timeout", 2000);
		c->success_before_passing =
			(unsigned)get_int(e, "success_before_passing", 1);
		c->failures_before_critical =
			(unsigned)get_int(e, "failures_before_critical", 1);
		if (c->interval_ms <= 0 || c->timeout_ms <= 0)
			return fail(err, "config", where, "interval and timeout "
			            "must be above zero");
	}
	return 0;
}

static int
build_service(const json_t *s, struct agent_service *out, size_t index,
              struct agent_config_err *err)
{
	char path[64];
	const json_t *labels = json_object_get(s, "labels");
	const char *k;
	const json_t *v;
	size_t i = 0;
	int rc;

	snprintf(path, sizeof(path), "services[%zu]", index);
	if (!json_object_get(s, "name") || !json_object_get(s, "port"))
		return fail(err, "config", path, "a service needs \"name\" and "
		            "\"port\"");
	out->name = dup_str(s, "name", NULL);
	out->port = (uint16_t)get_int(s, "port", 0);
	out->protocol = dup_str(s, "protocol", "tcp");
	out->weight = (unsigned)get_int(s, "weight", 100);
	out->tags = str_list(json_object_get(s, "tags"), &out->n_tags);
	out->n_labels = json_object_size(labels);
	out->labels = calloc(out->n_labels + 1, sizeof(char *));
	if (out->labels == NULL || out->tags == NULL)
		return WEFT_ENOMEM;
	json_object_foreach((json_t *)labels, k, v) {
		size_t n = strlen(k) + strlen(json_string_value(v)) + 2;

		out->labels[i] = malloc(n);
		if (out->labels[i] == NULL)
			return WEFT_ENOMEM;
		snprintf(out->labels[i++], n, "%s=%s", k, json_string_value(v));
	}
	snprintf(path, sizeof(path), "services[%zu].upstreams", index);
	rc = build_upstreams(json_object_get(s, "upstreams"), out->name,
	                     &out->upstreams, &out->n_upstreams, path, err);
	if (rc)
		return rc;
	for (i = 0; i < out->n_tags; i++)
		if (strncmp(out->tags[i], "weft:", 5) == 0) {
			snprintf(path, sizeof(path), "services[%zu].tags[%zu]",
			         index, i);
			return fail(err, "config", path, "tags starting with "
			            "\"weft:\" are reserved (maintenance mode)");
		}
	snprintf(path, sizeof(path), "services[%zu].checks", index);
	return build_checks(json_object_get(s, "checks"), out->name,
	                    &out->checks, &out->n_checks, path, err);
}

/* Check ids name checks in the API: service i's must not repeat any
 * seen so far. */
static int
unique_check_ids(const struct agent_config *c, size_t i,
                 struct agent_config_err *err)
{
	const struct agent_service *s = &c->services[i];

	for (size_t k = 0; k < s->n_checks; k++)
		for (size_t j = 0; j <= i; j++)
			for (size_t l = 0; l < c->services[j].n_checks; l++) {
				char path[96];

				if (j == i && l >= k)
					break;
				if (strcmp(c->services[j].checks[l].id,
				           s->checks[k].id) != 0)
					continue;
				snprintf(path, sizeof(path), "services[%zu]."
				         "checks[%zu].id", i, k);
				return fail(err, "config", path, "check id \"%s\" "
				            "is used twice", s->checks[k].id);
			}
	return 0;
}

int
agent_config_build(const json_t *doc, struct agent_config *c,
                   struct agent_config_err *err)
{
	const json_t *id = json_object_get(doc, "identity");
	const json_t *g = json_object_get(doc, "gossip");
	const json_t *svcs = json_object_get(doc, "services");
	const json_t *join = json_object_get(doc, "join");
	size_t i;
	const json_t *e;
	int rc;

	memset(c, 0, sizeof(*c));
	c->effective = json_deep_copy(doc);
	if (!json_object_get(doc, "node_name"))
		return fail(err, "config", "node_name", "missing (set it in the "
		            "file or with --node)");
	c->node_name = dup_str(doc, "node_name", NULL);
	get_hostport(doc, "bind", AGENT_GOSSIP_PORT, &c->bind, "0.0.0.0");
	c->advertise = dup_str(doc, "advertise", NULL);
	if (c->advertise == NULL && (strcmp(c->bind.host, "0.0.0.0") == 0 ||
	                             strcmp(c->bind.host, "::") == 0))
		return fail(err, "config", "advertise", "needed when bind is a "
		            "wildcard address: the address peers reach this "
		            "node at");
	c->n_join = json_array_size(join);
	c->join = calloc(c->n_join ? c->n_join : 1, sizeof(*c->join));
	if (c->join == NULL)
		return WEFT_ENOMEM;
	json_array_foreach(join, i, e)
		agent_parse_hostport(json_string_value(e), AGENT_GOSSIP_PORT,
		                     &c->join[i]);
	c->retry_join = json_is_true(json_object_get(doc, "retry_join"));
	c->retry_join_max_ms = get_ms(doc, "retry_join_max", 30000);
	c->data_dir = dup_str(doc, "data_dir", "/var/lib/weft");
	c->socket = dup_str(doc, "socket", "/run/weft/weftd.sock");
	c->socket_group = dup_str(doc, "socket_group", NULL);
	c->log_level = dup_str(doc, "log_level", "info");
	c->key_file = dup_str(id, "key", NULL);
	c->cert_file = dup_str(id, "cert", NULL);
	c->ca_file = dup_str(id, "ca", NULL);
	c->cert_skew_s = get_ms(id, "skew", 60000) / 1000;
	c->cert_warn_before_s = get_ms(doc, "cert_warn_before",
	                               30LL * 86400 * 1000) / 1000;
	if (json_object_get(doc, "metrics_addr")) {
		get_hostport(doc, "metrics_addr", AGENT_METRICS_PORT,
		             &c->metrics_addr, NULL);
		c->has_metrics_addr = true;
	}
	if (!c->key_file || !c->cert_file || !c->ca_file)
		return fail(err, "config", "identity", "needs \"key\", \"cert\" "
		            "and \"ca\" (or --key, --cert, --ca)");
	c->default_deny = json_is_string(json_object_get(
		json_object_get(doc, "mesh"), "default_intention")) &&
		strcmp(json_string_value(json_object_get(json_object_get(doc,
		       "mesh"), "default_intention")), "deny") == 0;
	get_hostport(json_object_get(doc, "mesh"), "bind", AGENT_MESH_PORT,
	             &c->mesh_bind, c->advertise ? c->advertise : c->bind.host);
	c->gossip.probe_interval_ms = get_ms(g, "probe_interval", 0);
	c->gossip.probe_timeout_ms = get_ms(g, "probe_timeout", 0);
	c->gossip.gossip_interval_ms = get_ms(g, "gossip_interval", 0);
	c->gossip.pushpull_interval_ms = get_ms(g, "pushpull_interval", 0);
	c->gossip.reap_after_ms = get_ms(g, "reap_after", 0);
	c->gossip.suspicion_mult = get_int(g, "suspicion_mult", 0);
	c->gossip.suspicion_max_mult = get_int(g, "suspicion_max_mult", 0);
	c->gossip.indirect_checks = get_int(g, "indirect_checks", 0);
	c->gossip.fanout = get_int(g, "fanout", 0);
	c->gossip.retransmit_mult = get_int(g, "retransmit_mult", 0);
	if (c->gossip.probe_timeout_ms && c->gossip.probe_interval_ms &&
	    c->gossip.probe_timeout_ms >= c->gossip.probe_interval_ms)
		return fail(err, "config", "gossip.probe_timeout", "must be "
		            "shorter than gossip.probe_interval");
	c->n_services = json_array_size(svcs);
	c->services = calloc(c->n_services ? c->n_services : 1,
	                     sizeof(*c->services));
	if (c->services == NULL)
		return WEFT_ENOMEM;
	json_array_foreach(svcs, i, e) {
		rc = build_service(e, &c->services[i], i, err);
		if (rc)
			return rc;
		rc = unique_check_ids(c, i, err);
		if (rc)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->services[j].name, c->services[i].name) == 0) {
				char path[64];

				snprintf(path, sizeof(path), "services[%zu].name", i);
				return fail(err, "config", path, "service \"%s\" is "
				            "declared twice", c->services[i].name);
			}
	}
	rc = build_proxy(json_object_get(doc, "proxy"), &c->proxy, err);
	if (rc)
		return rc;
	c->proxy_workers = (unsigned)get_int(doc, "proxy_workers", 0);
	return build_upstreams(json_object_get(doc, "upstreams"), NULL,
	                       &c->upstreams, &c->n_upstreams, "upstreams", err);
}

static void
free_upstreams(struct agent_upstream *u, size_t n)
{
	if (u == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(u[i].service);
		free(u[i].owner);
	}
	free(u);
}

void
agent_config_free(struct agent_config *c)
{
	for (size_t i = 0; c->services && i < c->n_services; i++) {
		struct agent_service *s = &c->services[i];

		free(s->name);
		free(s->protocol);
		free_list(s->tags, s->n_tags);
		free_list(s->labels, s->n_labels);
		free_upstreams(s->upstreams, s->n_upstreams);
		for (size_t j = 0; s->checks && j < s->n_checks; j++) {
			size_t argc = 0;

			while (s->checks[j].argv && s->checks[j].argv[argc])
				argc++;
			free(s->checks[j].id);
			free(s->checks[j].kind);
			free(s->checks[j].target);
			free_list(s->checks[j].argv, argc);
		}
		free(s->checks);
	}
	free(c->services);
	free_upstreams(c->upstreams, c->n_upstreams);
	free(c->node_name);
	free(c->advertise);
	free(c->join);
	free(c->data_dir);
	free(c->socket);
	free(c->socket_group);
	free(c->log_level);
	free(c->key_file);
	free(c->cert_file);
	free(c->ca_file);
	free(c->proxy.access_log);
	json_decref(c->effective);
	memset(c, 0, sizeof(*c));
}
