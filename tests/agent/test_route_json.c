/*
 * Route objects' JSON: the example decodes to the expected spec
 * and routes requests as written; every refusal names its path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/route_json.h"
#include "common/err.h"

static const char example[] =
	"{\"kind\": \"route\", \"name\": \"api-canary\", \"service\": \"api\",\n"
	" \"routes\": [\n"
	"   {\"match\": {\"path_prefix\": \"/\", \"headers\": [{\"name\": "
	"\"x-canary\", \"exact\": \"1\"}]},\n"
	"    \"targets\": [{\"service\": \"api\", \"labels\": {\"version\": "
	"\"v2\"}, \"weight\": 100}]},\n"
	"   {\"match\": {\"path_prefix\": \"/\", \"methods\": [\"GET\", "
	"\"POST\"]},\n"
	"    \"targets\": [{\"service\": \"api\", \"labels\": {\"version\": "
	"\"v1\"}, \"weight\": 90},\n"
	"                {\"service\": \"api\", \"labels\": {\"version\": "
	"\"v2\"}, \"weight\": 10}],\n"
	"    \"timeout\": \"2s\", \"idle_timeout\": \"30s\",\n"
	"    \"retry\": {\"max\": 2, \"per_try_timeout\": \"500ms\", \"on\": "
	"[\"5xx\", \"connect-failure\", \"reset\"], \"budget_percent\": 20}}]}";

static void
test_example(void **state)
{
	struct route_json *rj;
	const struct route_spec *s;
	const struct route_rule *r;
	char err[ROUTE_JSON_ERR_MAX];
	struct route_header canary = {"x-canary", 8, "1", 1};
	struct route_request req = {"PUT", "/a", &canary, 1};
	size_t i;

	(void)state;
	assert_int_equal(route_json_parse(example, strlen(example), &rj, err,
	                                  sizeof(err)), 0);
	s = route_json_spec(rj);
	assert_string_equal(s->name, "api-canary");
	assert_string_equal(s->service, "api");
	assert_int_equal(s->n_rules, 2);
	r = &s->rules[0];
	assert_int_equal(r->match.path_kind, ROUTE_PATH_PREFIX);
	assert_string_equal(r->match.path, "/");
	assert_int_equal(r->match.n_headers, 1);
	assert_string_equal(r->match.headers[0].name, "x-canary");
	assert_int_equal(r->match.headers[0].kind, ROUTE_HEADER_EXACT);
	assert_string_equal(r->match.headers[0].value, "1");
	assert_false(r->match.headers[0].invert);
	assert_int_equal(r->n_targets, 1);
	assert_string_equal(r->targets[0].labels[0].key, "version");
	assert_string_equal(r->targets[0].labels[0].value, "v2");
	assert_int_equal(r->targets[0].weight, 100);
	assert_int_equal(r->retry.max, 0);
	r = &s->rules[1];
	assert_int_equal(r->match.n_methods, 2);
	assert_string_equal(r->match.methods[1], "POST");
	assert_int_equal(r->n_targets, 2);
	assert_int_equal(r->targets[0].weight, 90);
	assert_string_equal(r->targets[1].labels[0].value, "v2");
	assert_int_equal(r->timeout_ms, 2000);
	assert_int_equal(r->idle_timeout_ms, 30000);
	assert_int_equal(r->retry.max, 2);
	assert_int_equal(r->retry.per_try_timeout_ms, 500);
	assert_int_equal(r->retry.on, ROUTE_RETRY_5XX |
	                              ROUTE_RETRY_CONNECT_FAILURE |
	                              ROUTE_RETRY_RESET);
	assert_int_equal(r->retry.budget_percent, 20);
	/* And it routes as written. */
	assert_int_equal(route_find(s, &req, &r, &i), 0);
	assert_int_equal(i, 0);
	req.n_headers = 0;
	assert_int_equal(route_find(s, &req, &r, &i), WEFT_ENOENT);
	req.method = "GET";
	assert_int_equal(route_find(s, &req, &r, &i), 0);
	assert_int_equal(i, 1);
	route_json_free(rj);
}

static void
test_other_forms(void **state)
{
	static const char text[] =
		"{\"kind\":\"route\",\"name\":\"g.1_x\",\"service\":\"greeter\","
		"\"routes\":[{\"match\":{\"path_exact\":\"/x\",\"headers\":["
		"{\"name\":\"x-a\",\"prefix\":\"p\",\"invert\":true},"
		"{\"name\":\"x-b\",\"present\":true}],"
		"\"grpc\":{\"service\":\"pkg.Greeter\",\"method\":\"Hi\"}},"
		"\"targets\":[{\"service\":\"greeter\",\"weight\":0},"
		"{\"service\":\"greeter-2\",\"weight\":1}],"
		"\"retry\":{\"max\":1,\"on\":[\"gateway-error\",\"unavailable\","
		"\"cancelled\",\"deadline-exceeded\",\"resource-exhausted\"],"
		"\"backoff_base\":\"10ms\",\"backoff_max\":\"1s\"}},"
		"{\"targets\":[{\"service\":\"greeter\",\"weight\":1}]}]}";
	struct route_json *rj;
	const struct route_spec *s;
	char err[ROUTE_JSON_ERR_MAX];

	(void)state;
	assert_int_equal(route_json_parse(text, strlen(text), &rj, err,
	                                  sizeof(err)), 0);
	s = route_json_spec(rj);
	assert_int_equal(s->rules[0].match.path_kind, ROUTE_PATH_EXACT);
	assert_int_equal(s->rules[0].match.headers[0].kind,
	                 ROUTE_HEADER_PREFIX);
	assert_true(s->rules[0].match.headers[0].invert);
	assert_int_equal(s->rules[0].match.headers[1].kind,
	                 ROUTE_HEADER_PRESENT);
	assert_string_equal(s->rules[0].match.grpc_service, "pkg.Greeter");
	assert_string_equal(s->rules[0].match.grpc_method, "Hi");
	assert_int_equal(s->rules[0].retry.on,
	                 ROUTE_RETRY_GATEWAY_ERROR |
	                 ROUTE_RETRY_GRPC_UNAVAILABLE |
	                 ROUTE_RETRY_GRPC_CANCELLED |
	                 ROUTE_RETRY_GRPC_DEADLINE_EXCEEDED |
	                 ROUTE_RETRY_GRPC_RESOURCE_EXHAUSTED);
	assert_int_equal(s->rules[0].retry.backoff_base_ms, 10);
	assert_int_equal(s->rules[0].retry.backoff_max_ms, 1000);
	assert_int_equal(s->rules[1].match.path_kind, ROUTE_PATH_ANY);
	route_json_free(rj);
}

/* Each case: the example's text with one replacement, and the error. */
struct bad {
	const char *from, *to;
	const char *err;
};

static const struct bad bads[] = {
	{"\"5xx\", \"connect", "\"5xx\", \"5xxx\", \"connect",
	 "routes[1].retry.on[1]: \"5xxx\" is not a retry condition"},
	{"\"reset\"]", "\"reset\", \"5xx\"]",
	 "routes[1].retry.on[3]: \"5xx\" is listed twice"},
	{"\"on\": [\"5xx\", \"connect-failure\", \"reset\"]", "\"on\": []",
	 "routes[1].retry.on: must hold 1 to 16 entries"},
	{"\"max\": 2", "\"max\": 11",
	 "routes[1].retry.max: 11 is not within 0-10"},
	{"\"max\": 2,", "",
	 "routes[1].retry.max: required"},
	{"\"budget_percent\": 20", "\"budget_percent\": 0",
	 "routes[1].retry.budget_percent: 0 is not within 1-100"},
	{"\"budget_percent\": 20", "\"budget_percent\": \"20\"",
	 "routes[1].retry.budget_percent: must be an integer"},
	{"\"500ms\"", "\"500 ms\"",
	 "routes[1].retry.per_try_timeout: \"500 ms\" is not a duration"},
	{"\"2s\"", "\"-2s\"", "routes[1].timeout: \"-2s\" is not a duration"},
	{"\"30s\"", "\"2d\"", "routes[1].idle_timeout: \"2d\" is not a"},
	{"\"30s\"", "30", "routes[1].idle_timeout: must be a string"},
	{"\"budget_percent\": 20", "\"budget_percent\": 20, \"tries\": 1",
	 "routes[1].retry.tries: unknown key"},
	{"{\"max\": 2, \"per_try_timeout\": \"500ms\", \"on\": [\"5xx\", "
	 "\"connect-failure\", \"reset\"], \"budget_percent\": 20}", "1",
	 "routes[1].retry: must be an object"},
	{"\"weight\": 90", "\"weight\": 1000001",
	 "routes[1].targets[0].weight: 1000001 is not within 0-1000000"},
	{"\"weight\": 90", "\"weight\": -1",
	 "routes[1].targets[0].weight: -1 is not within"},
	{"\"weight\": 90", "\"weight\": 1.5",
	 "routes[1].targets[0].weight: must be an integer"},
	{"\"weight\": 90}", "\"w\": 90}",
	 "routes[1].targets[0].w: unknown key"},
	{"\"weight\": 90", "\"weight\": 0",
	 "routes[1].targets[0].weight: required"}, /* see below */
	{"\"weight\": 100", "\"weight\": 0",
	 "routes[0].targets: every weight is 0"},
	{"{\"service\": \"api\", \"labels\": {\"version\": \"v1\"}",
	 "{\"service\": \"API\", \"labels\": {\"version\": \"v1\"}",
	 "routes[1].targets[0].service: \"API\" is not a service name"},
	{"{\"version\": \"v1\"}", "{\"version\": 1}",
	 "routes[1].targets[0].labels.version: must be a string"},
	{"{\"version\": \"v1\"}", "{\"Version\": \"v1\"}",
	 "routes[1].targets[0].labels.Version: not a label name"},
	{"{\"version\": \"v1\"}", "[]",
	 "routes[1].targets[0].labels: must be an object of strings"},
	{"\"targets\": [{\"service\": \"api\", \"labels\": {\"version\": "
	 "\"v2\"}, \"weight\": 100}]", "\"targets\": []",
	 "routes[0].targets: must hold 1 to 64 entries"},
	{"\"exact\": \"1\"", "\"exact\": \"1\", \"prefix\": \"1\"",
	 "routes[0].match.headers[0]: needs exactly one of exact, prefix, "
	 "present"},
	{"\"exact\": \"1\"", "\"present\": false",
	 "routes[0].match.headers[0].present: must be true when given"},
	{"\"exact\": \"1\"", "\"exact\": \"1\", \"invert\": 1",
	 "routes[0].match.headers[0].invert: must be true or false"},
	{"\"name\": \"x-canary\"", "\"name\": \"x canary\"",
	 "routes[0].match.headers[0].name: \"x canary\" is not a header "
	 "name"},
	{"\"name\": \"x-canary\", ", "",
	 "routes[0].match.headers[0].name: required"},
	{"{\"path_prefix\": \"/\", \"methods\"",
	 "{\"path_prefix\": \"x\", \"methods\"",
	 "routes[1].match.path_prefix: must start with \"/\""},
	{"{\"path_prefix\": \"/\", \"methods\"",
	 "{\"path_prefix\": \"/\", \"path_exact\": \"/\", \"methods\"",
	 "routes[1].match: path_prefix and path_exact together"},
	{"\"POST\"", "\"PO ST\"",
	 "routes[1].match.methods[1]: must be a method name"},
	{"\"methods\": [\"GET\", \"POST\"]", "\"methods\": \"GET\"",
	 "routes[1].match.methods: must be an array"},
	{"\"methods\"", "\"method\"", "routes[1].match.method: unknown key"},
	{"\"headers\": [", "\"grpc\": {}, \"headers\": [",
	 "routes[0].match.grpc: needs service or method"},
	{"\"headers\": [", "\"grpc\": {\"service\": \"a/b\"}, \"headers\": [",
	 "routes[0].match.grpc: names must be non-empty"},
	{"\"headers\": [", "\"grpc\": {\"svc\": \"a\"}, \"headers\": [",
	 "routes[0].match.grpc.svc: unknown key"},
	{"\"kind\": \"route\"", "\"kind\": \"intention\"",
	 "kind: \"intention\" is not \"route\""},
	{"\"kind\": \"route\", ", "", "kind: required"},
	{"\"name\": \"api-canary\"", "\"name\": \"-api\"",
	 "name: \"-api\" is not an object name"},
	{"\"name\": \"api-canary\"", "\"name\": 5", "name: must be a string"},
	{"\"service\": \"api\",\n", "\"service\": \"a_b\",\n",
	 "service: \"a_b\" is not a service name"},
	{"\"service\": \"api\",\n", "\"service\": \"api\", \"extra\": 1,\n",
	 "extra: unknown key"},
	{"\"routes\": [", "\"routes\": [], \"r\": [",
	 "r: unknown key"},
	{"\"name\": \"api-canary\"", "\"name\": \"a\", \"name\": \"b\"",
	 "(top): not JSON"},
	{"\"routes\": [", "\"routes\": [1, ",
	 "routes[0]: must be an object"},
	{"\"routes\": [", "\"routes\": [{\"targets\": [{\"service\": \"a\", "
	 "\"weight\": 1}], \"match\": []}, ",
	 "routes[0].match: must be an object"},
};

static char *
replaced(const char *from, const char *to)
{
	static char out[4096];
	const char *at = strstr(example, from);
	size_t pre;

	assert_non_null(at); /* the case's text is in the example */
	pre = (size_t)(at - example);
	snprintf(out, sizeof(out), "%.*s%s%s", (int)pre, example, to,
	         at + strlen(from));
	return out;
}

static void
test_errors_name_paths(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct route_json *rj = (struct route_json *)1;
		char err[ROUTE_JSON_ERR_MAX];
		char *text = replaced(bads[i].from, bads[i].to);
		int rc = route_json_parse(text, strlen(text), &rj, err,
		                          sizeof(err));

		if (i == 17) {
			/* A weight of 0 is fine while another has weight. */
			assert_int_equal(rc, 0);
			route_json_free(rj);
			continue;
		}
		if (rc == 0 || strncmp(err, bads[i].err,
		                       strlen(bads[i].err)) != 0)
			fail_msg("case %zu: rc %d err '%s', want '%s'", i, rc,
			         err, bads[i].err);
		assert_null(rj);
	}
}

static void
test_not_json_and_limits(void **state)
{
	struct route_json *rj;
	char err[ROUTE_JSON_ERR_MAX];
	static char big[ROUTE_JSON_MAX_BYTES + 2];

	(void)state;
	assert_int_equal(route_json_parse("{", 1, &rj, err, sizeof(err)),
	                 WEFT_EMALFORMED);
	assert_non_null(strstr(err, "not JSON"));
	assert_int_equal(route_json_parse("[]", 2, &rj, err, sizeof(err)),
	                 WEFT_EINVAL);
	assert_string_equal(err, "(top): must be an object");
	memset(big, ' ', sizeof(big) - 1);
	assert_int_equal(route_json_parse(big, sizeof(big) - 1, &rj, err,
	                                  sizeof(err)), WEFT_ETOOBIG);
	/* A tiny error buffer is cut, not overrun. */
	assert_int_equal(route_json_parse("[]", 2, &rj, err, 5), WEFT_EINVAL);
	assert_int_equal(strlen(err), 4);
	assert_int_equal(route_json_parse("[]", 2, &rj, NULL, 0), WEFT_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_other_forms),
		cmocka_unit_test(test_errors_name_paths),
		cmocka_unit_test(test_not_json_and_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
