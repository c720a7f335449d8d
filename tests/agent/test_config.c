#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/config.h"
#include "common/err.h"
#include "proxy/h1.h"

static const char good[] =
	"{\"node_name\": \"web-1\", \"bind\": \"198.18.0.2:7370\","
	" \"advertise\": \"198.18.0.2\", \"join\": [\"198.18.0.1:7370\", "
	"\"198.18.0.3\"], \"retry_join\": true, \"data_dir\": \"/var/lib/weft\","
	" \"socket\": \"/run/weft/weftd.sock\","
	" \"identity\": {\"key\": \"k\", \"cert\": \"c\", \"ca\": \"a\"},"
	" \"mesh\": {\"bind\": \"198.18.0.2:7371\"},"
	" \"gossip\": {\"probe_interval\": \"500ms\", \"fanout\": 4},"
	" \"services\": [{\"name\": \"web\", \"port\": 8080, \"protocol\": "
	"\"http\", \"tags\": [\"blue\"], \"labels\": {\"version\": \"v2\"},"
	" \"upstreams\": [{\"service\": \"api\", \"local_bind\": "
	"\"127.0.0.1:9001\"}],"
	" \"checks\": [{\"http\": \"/healthz\", \"interval\": \"5s\", "
	"\"timeout\": \"1s\"}]}]}";

static void
build_from(const char *text, struct agent_config *c)
{
	struct agent_config_err err;
	json_t *doc;

	assert_int_equal(agent_config_parse_doc("t.json", text, strlen(text),
	                                        &doc, &err), 0);
	assert_int_equal(agent_config_build(doc, c, &err), 0);
	json_decref(doc);
}

static void
test_good(void **state)
{
	struct agent_config c;

	(void)state;
	build_from(good, &c);
	assert_string_equal(c.node_name, "web-1");
	assert_string_equal(c.bind.host, "198.18.0.2");
	assert_int_equal(c.bind.port, 7370);
	assert_int_equal(c.n_join, 2);
	assert_int_equal(c.join[1].port, 7370); /* default port */
	assert_true(c.retry_join);
	assert_int_equal(c.gossip.probe_interval_ms, 500);
	assert_int_equal(c.gossip.fanout, 4);
	assert_int_equal(c.gossip.probe_timeout_ms, 0); /* core default */
	assert_int_equal(c.n_services, 1);
	assert_string_equal(c.services[0].protocol, "http");
	assert_string_equal(c.services[0].labels[0], "version=v2");
	assert_int_equal(c.services[0].n_upstreams, 1);
	assert_int_equal(c.services[0].upstreams[0].local_bind.port, 9001);
	assert_string_equal(c.services[0].checks[0].kind, "http");
	assert_int_equal(c.services[0].checks[0].interval_ms, 5000);
	assert_int_equal(c.mesh_bind.port, 7371);
	agent_config_free(&c);
}

static void
expect_doc_error(const char *text, const char *want)
{
	struct agent_config_err err;
	json_t *doc = NULL;

	assert_int_equal(agent_config_parse_doc("t.json", text, strlen(text),
	                                        &doc, &err), WEFT_EINVAL);
	assert_null(doc);
	if (strstr(err.msg, want) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", err.msg, want);
}

static void
test_doc_errors(void **state)
{
	(void)state;
	expect_doc_error("{\"colour\": 1}", "t.json: colour: unknown key");
	expect_doc_error("{\"identity\": {\"kee\": \"x\"}}",
	                 "t.json: identity.kee: unknown key");
	expect_doc_error("{\"retry_join\": 1}",
	                 "t.json: retry_join: expected true or false");
	expect_doc_error("{\"bind\": \"host.example:7370\"}",
	                 "t.json: bind: \"host.example:7370\" is not an address");
	expect_doc_error("{\"bind\": \"1.2.3.4:0\"}", "is not an address");
	expect_doc_error("{\"services\": [{\"port\": 70000}]}",
	                 "t.json: services[0].port: 70000 is out of range 1-65535");
	expect_doc_error("{\"services\": [{\"protocol\": \"smtp\"}]}",
	                 "services[0].protocol: \"smtp\" is not one of");
	expect_doc_error("{\"gossip\": {\"probe_interval\": \"5\"}}",
	                 "gossip.probe_interval: \"5\" is not a duration");
	expect_doc_error("{\"join\": [\"1.2.3.4\", 7]}",
	                 "join[1]: expected an address");
	expect_doc_error("{\"services\": [{\"labels\": {\"a\": 1}}]}",
	                 "services[0].labels.a: expected a string");
	expect_doc_error("{\"node_name\": \"a\", \"node_name\": \"b\"}",
	                 "duplicate");
	expect_doc_error("[1]", "the top level must be an object");
	expect_doc_error("{", "t.json: line 1");
	expect_doc_error("{\"log_level\": \"loud\"}", "\"loud\" is not one of");
}

static void
expect_build_error(const char *text, const char *want)
{
	struct agent_config_err err;
	struct agent_config c;
	json_t *doc;

	assert_int_equal(agent_config_parse_doc("t.json", text, strlen(text),
	                                        &doc, &err), 0);
	assert_int_not_equal(agent_config_build(doc, &c, &err), 0);
	agent_config_free(&c);
	json_decref(doc);
	if (strstr(err.msg, want) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", err.msg, want);
}

#define ID "\"identity\": {\"key\": \"k\", \"cert\": \"c\", \"ca\": \"a\"}"

static void
test_build_errors(void **state)
{
	(void)state;
	expect_build_error("{" ID "}", "node_name: missing");
	expect_build_error("{\"node_name\": \"a\", \"bind\": \"127.0.0.1\"}",
	                   "identity");
	expect_build_error("{\"node_name\": \"a\", " ID "}", "advertise");
	expect_build_error("{\"node_name\": \"a\", \"bind\": \"127.0.0.1\", " ID
	                   ", \"services\": [{\"name\": \"w\", \"port\": 1}, "
	                   "{\"name\": \"w\", \"port\": 2}]}",
	                   "service \"w\" is declared twice");
	expect_build_error("{\"node_name\": \"a\", \"bind\": \"127.0.0.1\", " ID
	                   ", \"services\": [{\"name\": \"w\"}]}",
	                   "services[0]: a service needs \"name\" and \"port\"");
	expect_build_error("{\"node_name\": \"a\", \"bind\": \"127.0.0.1\", " ID
	                   ", \"services\": [{\"name\": \"w\", \"port\": 1, "
	                   "\"checks\": [{\"http\": \"/\", \"tcp\": \"1.2.3.4:5\"}]}]}",
	                   "exactly one of");
	expect_build_error("{\"node_name\": \"a\", \"bind\": \"127.0.0.1\", " ID
	                   ", \"gossip\": {\"probe_interval\": \"1s\", "
	                   "\"probe_timeout\": \"2s\"}}",
	                   "gossip.probe_timeout: must be shorter");
}

static void
test_merge(void **state)
{
	struct agent_config_err err;
	struct agent_config c;
	json_t *a, *b;
	const char *ta = "{\"node_name\": \"a\", \"bind\": \"127.0.0.1\", " ID
	                 ", \"join\": [\"127.0.0.2\"], \"services\": [{\"name\": "
	                 "\"w\", \"port\": 1}], \"gossip\": {\"fanout\": 2}}";
	const char *tb = "{\"join\": [\"127.0.0.3\"], \"services\": [{\"name\": "
	                 "\"x\", \"port\": 2}], \"gossip\": {\"probe_interval\": "
	                 "\"2s\"}, \"node_name\": \"b\"}";

	(void)state;
	assert_int_equal(agent_config_parse_doc("a", ta, strlen(ta), &a, &err), 0);
	assert_int_equal(agent_config_parse_doc("b", tb, strlen(tb), &b, &err), 0);
	agent_config_merge(a, b);
	assert_int_equal(agent_config_build(a, &c, &err), 0);
	/* Lists append, objects merge, scalars are replaced. */
	assert_int_equal(c.n_join, 2);
	assert_int_equal(c.n_services, 2);
	assert_int_equal(c.gossip.fanout, 2);
	assert_int_equal(c.gossip.probe_interval_ms, 2000);
	assert_string_equal(c.node_name, "b");
	agent_config_free(&c);
	json_decref(a);
	json_decref(b);
}

static void
test_parsers(void **state)
{
	struct agent_hostport hp;
	int64_t ms;

	(void)state;
	assert_int_equal(agent_parse_duration("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(agent_parse_duration("2h", &ms), 0);
	assert_int_equal(ms, 7200000);
	assert_int_not_equal(agent_parse_duration("2", &ms), 0);
	assert_int_not_equal(agent_parse_duration("-2s", &ms), 0);
	assert_int_not_equal(agent_parse_duration("2 s", &ms), 0);
	assert_int_not_equal(agent_parse_duration("99999999999999999d", &ms), 0);
	assert_int_equal(agent_parse_hostport("[::1]:80", 7, &hp), 0);
	assert_string_equal(hp.host, "::1");
	assert_int_equal(hp.port, 80);
	assert_int_equal(agent_parse_hostport("::1", 7, &hp), 0);
	assert_int_equal(hp.port, 7);
	assert_int_equal(agent_parse_hostport("10.1.2.3", 7, &hp), 0);
	assert_int_not_equal(agent_parse_hostport("10.1.2.3:", 7, &hp), 0);
	assert_int_not_equal(agent_parse_hostport("10.1.2.3:65536", 7, &hp), 0);
	assert_int_not_equal(agent_parse_hostport("[::1", 7, &hp), 0);
	assert_int_not_equal(agent_parse_hostport("", 7, &hp), 0);
}

/* Upstream protocol and circuit limits, the proxy object: defaults,
 * values, and errors naming file, key path and reason. */
static void
test_proxy_keys(void **state)
{
	struct agent_config c;

	(void)state;
	build_from(good, &c);
	assert_int_equal(c.services[0].upstreams[0].protocol, TABLE_PROTO_TCP);
	assert_int_equal(c.services[0].upstreams[0].max_requests, 0);
	assert_string_equal(c.services[0].upstreams[0].owner,
	                    c.services[0].name);
	assert_int_equal(c.proxy.retry_buffer, 65536);
	assert_int_equal(c.proxy.max_head_bytes, H1_MAX_HEAD_BYTES);
	assert_int_equal(c.proxy.max_headers, H1_MAX_HEADERS);
	assert_int_equal(c.proxy.consecutive_errors, 5);
	assert_int_equal(c.proxy.base_ejection_ms, 30000);
	assert_int_equal(c.proxy.max_ejection_percent, 50);
	assert_int_equal(c.proxy.lb, BALANCE_LB_P2C);
	assert_null(c.proxy.access_log);
	assert_int_equal(c.proxy.access_log_buffer, 256 * 1024);
	assert_int_equal(c.proxy.head_timeout_ms, 10000);
	assert_int_equal(c.proxy.client_idle_timeout_ms, 60000);
	assert_int_equal(c.proxy.body_timeout_ms, 20000);
	assert_int_equal(c.proxy.body_min_rate, 500);
	agent_config_free(&c);
	build_from("{\"node_name\": \"n\", \"bind\": \"127.0.0.1\", "
	    "\"identity\": {\"key\": \"k\", \"cert\": \"c\", \"ca\": \"a\"},"
	    " \"upstreams\": [{\"service\": \"api\", \"local_bind\": "
	    "\"127.0.0.1:9001\", \"protocol\": \"grpc\", \"max_connections\": 8,"
	    " \"max_pending\": 16, \"max_requests\": 32}],"
	    " \"proxy\": {\"retry_buffer\": 0, \"max_head_bytes\": 4096,"
	    " \"max_headers\": 50, \"lb\": \"round_robin\", \"outlier\": "
	    "{\"consecutive_errors\": 3, \"base_ejection\": \"10s\", "
	    "\"max_ejection\": \"1m\", \"max_ejection_percent\": 20},"
	    " \"access_log\": \"-\", \"access_log_buffer\": 8192,"
	    " \"body_timeout\": \"0s\", \"body_min_rate\": 0}}", &c);
	assert_int_equal(c.upstreams[0].protocol, TABLE_PROTO_GRPC);
	assert_int_equal(c.upstreams[0].max_connections, 8);
	assert_int_equal(c.upstreams[0].max_pending, 16);
	assert_int_equal(c.upstreams[0].max_requests, 32);
	assert_null(c.upstreams[0].owner);
	assert_int_equal(c.proxy.retry_buffer, 0);
	assert_int_equal(c.proxy.max_head_bytes, 4096);
	assert_int_equal(c.proxy.max_headers, 50);
	assert_int_equal(c.proxy.lb, BALANCE_LB_ROUND_ROBIN);
	assert_int_equal(c.proxy.consecutive_errors, 3);
	assert_int_equal(c.proxy.base_ejection_ms, 10000);
	assert_int_equal(c.proxy.max_ejection_ms, 60000);
	assert_int_equal(c.proxy.max_ejection_percent, 20);
	assert_string_equal(c.proxy.access_log, "-");
	assert_int_equal(c.proxy.access_log_buffer, 8192);
	assert_int_equal(c.proxy.body_timeout_ms, 0);
	assert_int_equal(c.proxy.body_min_rate, 0);
	agent_config_free(&c);
	expect_doc_error("{\"proxy\": {\"body_min_rate\": -1}}",
	                 "proxy.body_min_rate: -1 is out of range "
	                 "0-1073741824");
	expect_doc_error("{\"proxy\": {\"body_timeout\": 20}}",
	                 "proxy.body_timeout: expected a duration");
	expect_doc_error("{\"proxy\": {\"access_log_buffer\": 100}}",
	                 "proxy.access_log_buffer: 100 is out of range "
	                 "4096-67108864");
	expect_doc_error("{\"proxy\": {\"head_timeout\": \"soon\"}}",
	                 "proxy.head_timeout: \"soon\" is not a duration");
	expect_build_error("{\"node_name\": \"n\", \"bind\": \"127.0.0.1\", " ID
	                   ", \"proxy\": {\"client_idle_timeout\": \"0s\"}}",
	                   "proxy.client_idle_timeout: must be longer than 0");
	expect_build_error("{\"node_name\": \"n\", \"bind\": \"127.0.0.1\", " ID
	                   ", \"proxy\": {\"body_timeout\": "
	                   "\"9223372036854775807ms\"}}",
	                   "proxy.body_timeout: must be at most 1d");
	expect_build_error("{\"node_name\": \"n\", \"bind\": \"127.0.0.1\", " ID
	                   ", \"proxy\": {\"head_timeout\": \"25h\"}}",
	                   "proxy.head_timeout: must be at most 1d");
	expect_doc_error("{\"proxy\": {\"access_log\": 1}}",
	                 "proxy.access_log: expected a string");
	expect_build_error("{\"node_name\": \"n\", \"bind\": \"127.0.0.1\", " ID
	                   ", \"proxy\": {\"access_log\": \"\"}}",
	                   "proxy.access_log: must be a file path");
	expect_doc_error("{\"upstreams\": [{\"protocol\": \"h3\"}]}",
	                 "t.json: upstreams[0].protocol: \"h3\" is not one of");
	expect_doc_error("{\"services\": [{\"upstreams\": [{\"max_pending\": 0}]}]}",
	                 "t.json: services[0].upstreams[0].max_pending: 0 is out "
	                 "of range 1-1000000");
	expect_doc_error("{\"upstreams\": [{\"max_requests\": \"9\"}]}",
	                 "upstreams[0].max_requests: expected an integer");
	expect_doc_error("{\"proxy\": {\"lb\": \"random\"}}",
	                 "t.json: proxy.lb: \"random\" is not one of");
	expect_doc_error("{\"proxy\": {\"retry_buffer\": -1}}",
	                 "proxy.retry_buffer: -1 is out of range 0-16777216");
	expect_doc_error("{\"proxy\": {\"max_headers\": 2}}",
	                 "proxy.max_headers: 2 is out of range 8-1000");
	expect_doc_error("{\"proxy\": {\"outlier\": {\"max_ejection_percent\": "
	                 "101}}}", "proxy.outlier.max_ejection_percent: 101 is "
	                 "out of range 1-100");
	expect_doc_error("{\"proxy\": {\"outlier\": {\"base_ejection\": \"soon\"}}}",
	                 "proxy.outlier.base_ejection: \"soon\" is not a duration");
	expect_doc_error("{\"proxy\": {\"outlier\": {\"consecutive\": 3}}}",
	                 "t.json: proxy.outlier.consecutive: unknown key");
	expect_build_error("{\"node_name\": \"n\", \"bind\": \"127.0.0.1\", " ID
	                   ", \"proxy\": {\"outlier\": {\"base_ejection\": "
	                   "\"0s\"}}}", "proxy.outlier.base_ejection: must be "
	                   "longer than 0");
	expect_build_error("{\"node_name\": \"n\", \"bind\": \"127.0.0.1\", " ID
	                   ", \"proxy\": {\"outlier\": {\"base_ejection\": "
	                   "\"1m\", \"max_ejection\": \"10s\"}}}",
	                   "proxy.outlier.max_ejection: must not be shorter");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_doc_errors),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_proxy_keys),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_parsers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
