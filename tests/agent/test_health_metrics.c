/* The health checks' pure parts (flap filter, HTTP status line, gRPC
 * health messages) and the Prometheus writer and registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/health.h"
#include "agent/metrics.h"
#include "common/err.h"

static void
test_filter_thresholds(void **state)
{
	struct health_filter f = {0};

	(void)state;
	/* Two passes needed: the first does not flip. */
	assert_false(health_filter_apply(&f, HEALTH_PASSING, 2, 3));
	assert_int_equal(f.state, HEALTH_UNKNOWN);
	assert_true(health_filter_apply(&f, HEALTH_PASSING, 2, 3));
	assert_int_equal(f.state, HEALTH_PASSING);
	/* Failures interrupted by a pass start counting again. */
	assert_false(health_filter_apply(&f, HEALTH_CRITICAL, 2, 3));
	assert_false(health_filter_apply(&f, HEALTH_CRITICAL, 2, 3));
	assert_false(health_filter_apply(&f, HEALTH_PASSING, 2, 3));
	assert_false(health_filter_apply(&f, HEALTH_CRITICAL, 2, 3));
	assert_false(health_filter_apply(&f, HEALTH_CRITICAL, 2, 3));
	assert_int_equal(f.state, HEALTH_PASSING);
	assert_true(health_filter_apply(&f, HEALTH_CRITICAL, 2, 3));
	assert_int_equal(f.state, HEALTH_CRITICAL);
	/* Once the streak is long enough, the latest bad result rules. */
	assert_true(health_filter_apply(&f, HEALTH_WARNING, 2, 3));
	assert_int_equal(f.state, HEALTH_WARNING);
	/* 0 means at once, like 1. */
	f = (struct health_filter){0};
	assert_true(health_filter_apply(&f, HEALTH_CRITICAL, 0, 0));
	assert_true(health_filter_apply(&f, HEALTH_PASSING, 0, 0));
	/* An unknown result changes nothing. */
	assert_false(health_filter_apply(&f, HEALTH_UNKNOWN, 1, 1));
	assert_int_equal(f.state, HEALTH_PASSING);
}

static void
test_status_names(void **state)
{
	enum health_status s;

	(void)state;
	assert_int_equal(health_status_parse("pass", &s), 0);
	assert_int_equal(s, HEALTH_PASSING);
	assert_int_equal(health_status_parse("warn", &s), 0);
	assert_int_equal(s, HEALTH_WARNING);
	assert_int_equal(health_status_parse("fail", &s), 0);
	assert_int_equal(s, HEALTH_CRITICAL);
	assert_int_equal(health_status_parse("ok", &s), WEFT_EINVAL);
	assert_string_equal(health_status_name(HEALTH_WARNING), "warning");
	assert_string_equal(health_status_name((enum health_status)9),
	                    "unknown");
}

static void
test_http_status(void **state)
{
	int st = 0;

	(void)state;
	assert_int_equal(health_http_status("HTTP/1.1 200 OK\r\n", 17, &st), 0);
	assert_int_equal(st, 200);
	assert_int_equal(health_http_status("HTTP/1.0 503", 12, &st), 0);
	assert_int_equal(st, 503);
	assert_int_equal(health_http_status("HTTP/1.1 20", 11, &st),
	                 WEFT_EAGAIN);
	assert_int_equal(health_http_status("HTT", 3, &st), WEFT_EAGAIN);
	assert_int_equal(health_http_status("HTTP/2 200 ", 11, &st),
	                 WEFT_EMALFORMED);
	assert_int_equal(health_http_status("SSH-2.0-x\r\n", 11, &st),
	                 WEFT_EMALFORMED);
	assert_int_equal(health_http_status("HTTP/1.1 2x0 ", 13, &st),
	                 WEFT_EMALFORMED);
	assert_int_equal(health_http_status("HTTP/1.1 099 ", 13, &st),
	                 WEFT_EMALFORMED);
	assert_int_equal(health_http_status("HTTP/1.1 2000", 13, &st),
	                 WEFT_EMALFORMED);
	assert_int_equal(health_http_result(204), HEALTH_PASSING);
	assert_int_equal(health_http_result(429), HEALTH_WARNING);
	assert_int_equal(health_http_result(301), HEALTH_CRITICAL);
	assert_int_equal(health_http_result(500), HEALTH_CRITICAL);
}

static void
test_grpc_messages(void **state)
{
	uint8_t b[256], big[300];
	unsigned serving = 9;
	char name[200];
	size_t n;

	(void)state;
	n = health_grpc_request("", b, sizeof(b));
	assert_int_equal(n, 5);
	assert_memory_equal(b, "\0\0\0\0\0", 5);
	n = health_grpc_request("my.Svc", b, sizeof(b));
	assert_int_equal(n, 5 + 2 + 6);
	assert_int_equal(b[4], 8);
	assert_int_equal(b[5], 0x0a);
	assert_int_equal(b[6], 6);
	assert_memory_equal(b + 7, "my.Svc", 6);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	n = health_grpc_request(name, big, sizeof(big));
	assert_int_equal(n, 5 + 3 + 199);
	assert_int_equal(big[6], 0x80 | (199 & 0x7f));
	assert_int_equal(big[7], 1);
	assert_int_equal(health_grpc_request(name, b, 10), 0);

	assert_int_equal(health_grpc_response((const uint8_t *)"\0\0\0\0\2\x08\x01",
	                                      7, &serving), 0);
	assert_int_equal(serving, 1);
	assert_int_equal(health_grpc_response((const uint8_t *)"\0\0\0\0\2\x08\x02",
	                                      7, &serving), 0);
	assert_int_equal(serving, 2);
	/* An empty message is proto3's default: UNKNOWN. */
	assert_int_equal(health_grpc_response((const uint8_t *)"\0\0\0\0\0", 5,
	                                      &serving), 0);
	assert_int_equal(serving, 0);
	/* Unknown fields are skipped. */
	assert_int_equal(health_grpc_response(
		(const uint8_t *)"\0\0\0\0\x08\x12\x02hi\x08\x01\x18\x05", 13,
		&serving), 0);
	assert_int_equal(serving, 1);
	assert_int_equal(health_grpc_response((const uint8_t *)"\0\0\0\0\2\x08",
	                                      6, &serving), WEFT_EAGAIN);
	assert_int_equal(health_grpc_response((const uint8_t *)"\1\0\0\0\2\x08\x01",
	                                      7, &serving), WEFT_EMALFORMED);
	assert_int_equal(health_grpc_response((const uint8_t *)"\0\0\0\0\1\x08",
	                                      6, &serving), WEFT_EMALFORMED);
	assert_int_equal(health_grpc_response((const uint8_t *)"\0\0\0\0\2\x0a\x05",
	                                      7, &serving), WEFT_EMALFORMED);
	assert_int_equal(health_grpc_response((const uint8_t *)"\0\xff\0\0\0",
	                                      5, &serving), WEFT_EMALFORMED);
}

static void
test_maint_tag(void **state)
{
	const char *tags[] = {"blue", HEALTH_MAINT_TAG_PREFIX "deploy v2"};
	struct gossip_service s = {.name = "web", .tags = tags, .n_tags = 1};

	(void)state;
	assert_null(health_maint_reason(&s));
	s.n_tags = 2;
	assert_string_equal(health_maint_reason(&s), "deploy v2");
}

/* ---- metrics ---- */

static void
collect_ok(void *ctx, struct metrics_writer *w)
{
	static const double bounds[] = {0.01, 0.1, 1};
	struct metrics_label l[2] = {{"src", "web"}, {"dst", "a\"b\\c\nd"}};
	struct metrics_histogram h;

	(void)ctx;
	metrics_family(w, "weft_test_requests_total", METRICS_COUNTER,
	               "Requests.\nSecond line \\ slash.");
	metrics_sample(w, l, 2, 3);
	metrics_family(w, "weft_test_ratio", METRICS_GAUGE, "A ratio.");
	metrics_sample(w, NULL, 0, 0.25);
	assert_int_equal(metrics_histogram_init(&h, bounds, 3), 0);
	metrics_histogram_observe(&h, 0.005);
	metrics_histogram_observe(&h, 0.05);
	metrics_histogram_observe(&h, 0.05);
	metrics_histogram_observe(&h, 5);
	metrics_family(w, "weft_test_duration_seconds", METRICS_HISTOGRAM,
	               "Durations.");
	metrics_histogram_write(w, l, 1, &h);
}

static void
collect_bad(void *ctx, struct metrics_writer *w)
{
	int *which = ctx;

	metrics_family(w, "weft_bad_total", METRICS_COUNTER, "Bad.");
	metrics_sample(w, NULL, 0, 1);
	switch (*which) {
	case 0: /* a counter without _total */
		metrics_family(w, "weft_bad", METRICS_COUNTER, "x");
		break;
	case 1: /* announced twice in one scrape */
		metrics_family(w, "weft_test_ratio", METRICS_GAUGE, "x");
		break;
	case 2: /* a bad label name */
		{
			struct metrics_label l = {"0x", "v"};

			metrics_sample(w, &l, 1, 1);
		}
		break;
	case 3: /* a negative counter */
		metrics_sample(w, NULL, 0, -1);
		break;
	default: /* a bad metric name */
		metrics_family(w, "weft-bad", METRICS_GAUGE, "x");
		break;
	}
}

static void
test_metrics_text(void **state)
{
	struct metrics m;
	struct metrics_writer w;

	(void)state;
	metrics_init(&m);
	assert_int_equal(metrics_register(&m, "ok", collect_ok, NULL), 0);
	metrics_writer_init(&w);
	assert_int_equal(metrics_render(&m, &w), 0);
	assert_non_null(w.data);
	assert_non_null(strstr(w.data,
		"# HELP weft_test_requests_total Requests.\\nSecond line \\\\ "
		"slash.\n# TYPE weft_test_requests_total counter\n"
		"weft_test_requests_total{src=\"web\",dst=\"a\\\"b\\\\c\\nd\"} 3\n"));
	assert_non_null(strstr(w.data, "weft_test_ratio 0.25\n"));
	assert_non_null(strstr(w.data, "# TYPE weft_test_duration_seconds "
	                               "histogram\n"
		"weft_test_duration_seconds_bucket{src=\"web\",le=\"0.01\"} 1\n"
		"weft_test_duration_seconds_bucket{src=\"web\",le=\"0.1\"} 3\n"
		"weft_test_duration_seconds_bucket{src=\"web\",le=\"1\"} 3\n"
		"weft_test_duration_seconds_bucket{src=\"web\",le=\"+Inf\"} 4\n"
		"weft_test_duration_seconds_sum{src=\"web\"} 5.105\n"
		"weft_test_duration_seconds_count{src=\"web\"} 4\n"));
	assert_int_equal(m.scrapes, 1);
	metrics_writer_fini(&w);
}

static void
test_metrics_errors_cut(void **state)
{
	struct metrics m;
	struct metrics_writer w;

	(void)state;
	for (int which = 0; which < 5; which++) {
		metrics_init(&m);
		assert_int_equal(metrics_register(&m, "ok", collect_ok, NULL), 0);
		assert_int_equal(metrics_register(&m, "bad", collect_bad, &which),
		                 0);
		metrics_writer_init(&w);
		assert_int_equal(metrics_render(&m, &w), WEFT_EINVAL);
		/* The broken collector's part is cut, the good one kept. */
		assert_null(strstr(w.data, "weft_bad_total"));
		assert_non_null(strstr(w.data, "weft_test_ratio 0.25\n"));
		assert_string_equal(m.last_error, "bad");
		assert_int_equal(m.scrape_errors, 1);
		metrics_writer_fini(&w);
	}
	/* And unregistering takes it out. */
	metrics_init(&m);
	metrics_register(&m, "ok", collect_ok, NULL);
	metrics_register(&m, "bad", collect_bad, &m);
	metrics_unregister(&m, &m);
	assert_int_equal(m.n, 1);
}

static void
test_histogram_bounds(void **state)
{
	static const double bad[] = {1, 1};
	double many[METRICS_MAX_BUCKETS + 1];
	struct metrics_histogram h;

	(void)state;
	for (size_t i = 0; i < METRICS_MAX_BUCKETS + 1; i++)
		many[i] = (double)i;
	assert_int_equal(metrics_histogram_init(&h, bad, 2), WEFT_EINVAL);
	assert_int_equal(metrics_histogram_init(&h, many,
	                                        METRICS_MAX_BUCKETS + 1),
	                 WEFT_EINVAL);
	assert_int_equal(metrics_histogram_init(&h, many, METRICS_MAX_BUCKETS),
	                 0);
	metrics_histogram_observe(&h, 1000);
	assert_int_equal(h.counts[METRICS_MAX_BUCKETS], 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_thresholds),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_http_status),
		cmocka_unit_test(test_grpc_messages),
		cmocka_unit_test(test_maint_tag),
		cmocka_unit_test(test_metrics_text),
		cmocka_unit_test(test_metrics_errors_cut),
		cmocka_unit_test(test_histogram_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
