/* Intention objects' JSON (agent/intention_json.c): the L7 "http" rules,
 * and errors naming the JSON path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/intention_json.h"
#include "common/err.h"

static void
expect_error(const char *text, int want_rc, const char *want)
{
	struct intention_json *ij = (struct intention_json *)&ij;
	char err[INTENTION_JSON_ERR_MAX];

	assert_int_equal(intention_json_parse(text, strlen(text), &ij, err,
	                                      sizeof(err)), want_rc);
	assert_null(ij);
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", err, want);
}

static void
test_plain_and_l7(void **state)
{
	static const char plain[] =
	    "{\"source\": \"group:prod\", \"destination\": \"*\", "
	    "\"action\": \"deny\"}";
	static const char l7[] =
	    "{\"action\": \"allow\", \"destination\": \"api\", "
	    "\"http\": [{\"methods\": [\"GET\", \"HEAD\"], "
	    "\"path_prefix\": \"/public/\"}, {\"path_prefix\": \"/health\"}, "
	    "{\"methods\": [\"OPTIONS\"]}], \"source\": \"web\"}";
	struct intention_json *ij;
	const struct table_intention *it;

	(void)state;
	assert_int_equal(intention_json_parse(plain, strlen(plain), &ij, NULL,
	                                      0), 0);
	it = intention_json_get(ij);
	assert_null(it->name);
	assert_string_equal(it->source, "group:prod");
	assert_string_equal(it->destination, "*");
	assert_int_equal(it->action, TABLE_DENY);
	assert_int_equal(it->n_http, 0);
	intention_json_free(ij);

	assert_int_equal(intention_json_parse(l7, strlen(l7), &ij, NULL, 0), 0);
	it = intention_json_get(ij);
	assert_int_equal(it->action, TABLE_ALLOW);
	assert_int_equal(it->n_http, 3);
	assert_string_equal(it->http[0].path_prefix, "/public/");
	assert_int_equal(it->http[0].n_methods, 2);
	assert_string_equal(it->http[0].methods[1], "HEAD");
	assert_string_equal(it->http[1].path_prefix, "/health");
	assert_int_equal(it->http[1].n_methods, 0);
	assert_null(it->http[2].path_prefix);
	assert_string_equal(it->http[2].methods[0], "OPTIONS");
	intention_json_free(ij);
	intention_json_free(NULL);
}

static void
test_errors_name_the_path(void **state)
{
#define BASE "\"source\": \"web\", \"destination\": \"api\", "
	(void)state;
	expect_error("{", WEFT_EMALFORMED, "line 1");
	expect_error("[]", WEFT_EINVAL, "must be a JSON object");
	expect_error("{\"destination\": \"api\", \"action\": \"allow\"}",
	             WEFT_EINVAL, "source: required");
	expect_error("{" BASE "\"action\": \"maybe\"}", WEFT_EINVAL,
	             "action: \"maybe\" is neither");
	expect_error("{" BASE "\"action\": \"allow\", \"colour\": 1}",
	             WEFT_EINVAL, "colour: unknown key");
	expect_error("{\"source\": \"group:\", \"destination\": \"api\", "
	             "\"action\": \"allow\"}", WEFT_EINVAL, "source: \"group:\"");
	expect_error("{\"source\": \"web\", \"destination\": \"A\", "
	             "\"action\": \"allow\"}", WEFT_EINVAL, "destination: \"A\"");
	expect_error("{" BASE "\"action\": \"deny\", \"http\": [{\"path_prefix\": "
	             "\"/\"}]}", WEFT_EINVAL, "http: only an allow intention");
	expect_error("{" BASE "\"action\": \"allow\", \"http\": []}",
	             WEFT_EINVAL, "http: must be a list of 1 to 64 rules");
	expect_error("{" BASE "\"action\": \"allow\", \"http\": {}}",
	             WEFT_EINVAL, "http: must be a list");
	expect_error("{" BASE "\"action\": \"allow\", \"http\": [7]}",
	             WEFT_EINVAL, "http[0]: must be an object");
	expect_error("{" BASE "\"action\": \"allow\", \"http\": [{}]}",
	             WEFT_EINVAL, "http[0]: needs \"path_prefix\" or \"methods\"");
	expect_error("{" BASE "\"action\": \"allow\", \"http\": [{\"path_prefix\": "
	             "\"/\"}, {\"path_prefix\": \"x\"}]}", WEFT_EINVAL,
	             "http[1].path_prefix: \"x\" does not start with '/'");
	expect_error("{" BASE "\"action\": \"allow\", \"http\": [{\"path_prefix\": "
	             "5}]}", WEFT_EINVAL, "http[0].path_prefix: must be a string");
	expect_error("{" BASE "\"action\": \"allow\", \"http\": [{\"methods\": "
	             "[\"GET\", \"B D\"]}]}", WEFT_EINVAL,
	             "http[0].methods[1]: \"B D\" is not an HTTP method token");
	expect_error("{" BASE "\"action\": \"allow\", \"http\": [{\"methods\": "
	             "[\"GET\", 3]}]}", WEFT_EINVAL,
	             "http[0].methods[1]: value is not an HTTP method token");
	expect_error("{" BASE "\"action\": \"allow\", \"http\": [{\"methods\": "
	             "[]}]}", WEFT_EINVAL, "http[0].methods: must be a list of 1");
	expect_error("{" BASE "\"action\": \"allow\", \"http\": [{\"method\": "
	             "[\"GET\"]}]}", WEFT_EINVAL, "http[0].method: unknown key");
	expect_error("{" BASE "\"action\": \"allow\", \"action\": \"deny\"}",
	             WEFT_EMALFORMED, "duplicate");
#undef BASE
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_and_l7),
		cmocka_unit_test(test_errors_name_the_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
