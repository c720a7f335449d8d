#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "proxy/trace.h"

/* The example of the W3C recommendation, section 3.2. */
#define EXAMPLE "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static int
counter_fill(void *ctx, void *out, size_t n)
{
	uint8_t *p = out, *c = ctx;

	for (size_t i = 0; i < n; i++)
		p[i] = (*c)++;
	return 0;
}

static int
zero_fill(void *ctx, void *out, size_t n)
{
	(void)ctx;
	memset(out, 0, n);
	return 0;
}

static void
parse_ok(const char *s, struct trace_context *t)
{
	const char *why = "unset";

	assert_int_equal(trace_parse(s, strlen(s), t, &why), 0);
	assert_null(why);
}

static void
parse_bad(const char *s, const char *needle)
{
	struct trace_context t;
	const char *why = NULL;

	assert_int_equal(trace_parse(s, strlen(s), &t, &why), WEFT_EMALFORMED);
	assert_non_null(why);
	if (strstr(why, needle) == NULL)
		fail_msg("'%s': reason '%s' does not mention '%s'", s, why,
		         needle);
}

static void
test_example_round_trip(void **state)
{
	struct trace_context t;
	char out[TRACEPARENT_LEN + 1], id[33];

	(void)state;
	parse_ok(EXAMPLE, &t);
	assert_int_equal(t.version, 0);
	assert_int_equal(t.trace_id[0], 0x4b);
	assert_int_equal(t.trace_id[15], 0x36);
	assert_int_equal(t.parent_id[0], 0x00);
	assert_int_equal(t.parent_id[7], 0xb7);
	assert_int_equal(t.flags, TRACE_FLAG_SAMPLED);
	trace_format(&t, out);
	assert_string_equal(out, EXAMPLE);
	trace_id_hex(&t, id);
	assert_string_equal(id, "4bf92f3577b34da6a3ce929d0e0e4736");
}

static void
test_bad_values(void **state)
{
	(void)state;
	parse_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
	          "shorter");
	parse_bad(EXAMPLE "-", "55 characters");
	parse_bad("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	          "ff");
	parse_bad("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
	          "trace-id");
	parse_bad("00-00000000000000000000000000000000-00f067aa0ba902b7-01",
	          "all zeros");
	parse_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
	          "parent-id is all zeros");
	parse_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
	          "flags");
	parse_bad("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	          "version");
	parse_bad("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
	          "trace-id");
	parse_bad("0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	          "version");
	parse_bad("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
	          "dash");
}

/* A later version may carry more fields; the known ones still parse. */
static void
test_future_version(void **state)
{
	struct trace_context t;

	(void)state;
	parse_ok("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	         "-what-the-future-holds", &t);
	assert_int_equal(t.version, 1);
	parse_ok("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &t);
	assert_int_equal(t.flags, 0);
}

static void
test_decide(void **state)
{
	uint8_t seed = 1;
	struct weft_rng rng = {counter_fill, &seed};
	struct trace_decision d;
	struct trace_context again;

	(void)state;
	assert_int_equal(trace_decide(EXAMPLE, strlen(EXAMPLE), 1, &rng, true,
	                              &d), 0);
	assert_true(d.keep);
	assert_int_equal(d.ctx.trace_id[0], 0x4b);

	assert_int_equal(trace_decide(NULL, 0, 0, &rng, true, &d), 0);
	assert_false(d.keep);
	assert_string_equal(d.why, "no traceparent");
	assert_int_equal(strlen(d.header), TRACEPARENT_LEN);
	/* What is created parses back to the same trace. */
	parse_ok(d.header, &again);
	assert_memory_equal(again.trace_id, d.ctx.trace_id, TRACE_ID_LEN);
	assert_int_equal(again.flags, TRACE_FLAG_SAMPLED);

	assert_int_equal(trace_decide(EXAMPLE, strlen(EXAMPLE), 2, &rng, false,
	                              &d), 0);
	assert_false(d.keep);
	assert_string_equal(d.why, "more than one traceparent field");
	assert_memory_not_equal(d.ctx.trace_id, again.trace_id, TRACE_ID_LEN);
	assert_int_equal(d.ctx.flags, 0);

	assert_int_equal(trace_decide("00-garbage", 10, 1, &rng, false, &d), 0);
	assert_false(d.keep);
	assert_non_null(strstr(d.why, "shorter"));
}

static void
test_zero_rng_refused(void **state)
{
	struct weft_rng rng = {zero_fill, NULL};
	struct trace_context t;

	(void)state;
	assert_int_equal(trace_new(&rng, false, &t), WEFT_EIO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_round_trip),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_future_version),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_zero_rng_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
