/* The config keys of health checks, metrics and certificate expiry: their
 * defaults and the errors that name what is wrong. */
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

#define HEAD \
	"{\"node_name\": \"n\", \"bind\": \"127.0.0.1\", " \
	"\"identity\": {\"key\": \"k\", \"cert\": \"c\", \"ca\": \"a\"}"

/* Builds text; returns the result, with the error message in err. */
static int
build(const char *text, struct agent_config *c, struct agent_config_err *err)
{
	json_t *doc;
	int rc;

	memset(err, 0, sizeof(*err));
	rc = agent_config_parse_doc("t.json", text, strlen(text), &doc, err);
	if (rc) {
		memset(c, 0, sizeof(*c));
		return rc;
	}
	rc = agent_config_build(doc, c, err);
	json_decref(doc);
	return rc;
}

static void
test_defaults(void **state)
{
	struct agent_config c;
	struct agent_config_err err;

	(void)state;
	assert_int_equal(build(HEAD ", \"services\": [{\"name\": \"web\", "
	                       "\"port\": 80, \"checks\": [{\"http\": \"/\"}, "
	                       "{\"ttl\": \"5s\", \"success_before_passing\": 3, "
	                       "\"failures_before_critical\": 2}]}]}", &c, &err),
	                 0);
	assert_false(c.has_metrics_addr);
	assert_int_equal(c.cert_warn_before_s, 30 * 86400);
	assert_string_equal(c.services[0].checks[0].id, "web-http-0");
	assert_string_equal(c.services[0].checks[1].id, "web-ttl-1");
	assert_int_equal(c.services[0].checks[0].success_before_passing, 1);
	assert_int_equal(c.services[0].checks[0].failures_before_critical, 1);
	assert_int_equal(c.services[0].checks[1].success_before_passing, 3);
	assert_int_equal(c.services[0].checks[1].failures_before_critical, 2);
	assert_int_equal(c.services[0].checks[1].ttl_ms, 5000);
	agent_config_free(&c);

	assert_int_equal(build(HEAD ", \"metrics_addr\": \"127.0.0.9\", "
	                       "\"cert_warn_before\": \"2h\"}", &c, &err), 0);
	assert_true(c.has_metrics_addr);
	assert_string_equal(c.metrics_addr.host, "127.0.0.9");
	assert_int_equal(c.metrics_addr.port, AGENT_METRICS_PORT);
	assert_int_equal(c.cert_warn_before_s, 7200);
	agent_config_free(&c);
}

static void
expect_error(const char *text, const char *want)
{
	struct agent_config c;
	struct agent_config_err err;

	assert_int_equal(build(text, &c, &err), WEFT_EINVAL);
	if (strstr(err.msg, want) == NULL)
		fail_msg("error \"%s\" does not say \"%s\"", err.msg, want);
	agent_config_free(&c);
}

static void
test_errors(void **state)
{
	(void)state;
	expect_error(HEAD ", \"services\": [{\"name\": \"web\", \"port\": 80, "
	             "\"checks\": [{\"ttl\": \"5s\", \"success_before_passing\": "
	             "0}]}]}",
	             "services[0].checks[0].success_before_passing: 0 is out of "
	             "range 1-100");
	expect_error(HEAD ", \"services\": [{\"name\": \"web\", \"port\": 80, "
	             "\"checks\": [{\"ttl\": \"5s\", \"id\": \"a/b\"}]}]}",
	             "services[0].checks[0]: id must be 1 to 64 characters");
	expect_error(HEAD ", \"services\": [{\"name\": \"web\", \"port\": 80, "
	             "\"checks\": [{\"ttl\": \"5s\", \"id\": \"x\"}]}, "
	             "{\"name\": \"api\", \"port\": 81, \"checks\": [{\"tcp\": "
	             "\"127.0.0.1:81\", \"id\": \"x\"}]}]}",
	             "services[1].checks[0].id: check id \"x\" is used twice");
	expect_error(HEAD ", \"services\": [{\"name\": \"web\", \"port\": 80, "
	             "\"checks\": [{\"ttl\": \"5s\", \"id\": \"x\"}, "
	             "{\"ttl\": \"6s\", \"id\": \"x\"}]}]}",
	             "services[0].checks[1].id: check id \"x\" is used twice");
	expect_error(HEAD ", \"services\": [{\"name\": \"web\", \"port\": 80, "
	             "\"tags\": [\"blue\", \"weft:maintenance=x\"]}]}",
	             "services[0].tags[1]: tags starting with \"weft:\" are "
	             "reserved");
	expect_error(HEAD ", \"metrics_addr\": \"localhost:9\"}",
	             "metrics_addr: \"localhost:9\" is not an address");
	expect_error(HEAD ", \"cert_warn_before\": \"soon\"}",
	             "cert_warn_before: \"soon\" is not a duration");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
