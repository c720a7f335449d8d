#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/proxy_metrics.h"

static char *
scrape(struct proxy_metrics *m, struct metrics_writer *w)
{
	metrics_writer_init(w);
	proxy_metrics_collect(m, w);
	assert_int_equal(w->err, 0);
	return w->data;
}

static void
has(const char *text, const char *line)
{
	assert_non_null(text);
	if (strstr(text, line) == NULL) {
		print_message("--- scrape ---\n%s\n", text);
		fail_msg("missing: %s", line);
	}
}

static void
test_labels_and_classes(void **state)
{
	struct proxy_metrics *m;
	struct metrics_writer w;
	struct proxy_metrics_obs o = {
		.source = "web", .destination = "api", .status = 200,
		.duration_s = 0.003, .bytes_in = 100, .bytes_out = 5000,
	};
	char *t;

	(void)state;
	assert_int_equal(proxy_metrics_new(&m), 0);
	proxy_metrics_observe(m, &o);
	o.status = 503;
	o.retries = 2;
	o.generated = true;
	o.duration_s = 0.2;
	proxy_metrics_observe(m, &o);
	o = (struct proxy_metrics_obs){.inbound = true, .tcp = true,
	                               .source = "web", .destination = "db",
	                               .duration_s = 40, .bytes_in = 7};
	proxy_metrics_observe(m, &o);
	proxy_metrics_denied(m, true, false, "batch", "api");
	proxy_metrics_ejected(m, "api");
	proxy_metrics_ejected(m, "api");
	t = scrape(m, &w);
	has(t, "# TYPE weft_proxy_requests_total counter");
	has(t, "weft_proxy_requests_total{direction=\"outbound\",protocol="
	       "\"http\",source=\"web\",destination=\"api\",code_class=\"2xx\"} 1");
	has(t, "code_class=\"5xx\"} 1");
	has(t, "weft_proxy_requests_total{direction=\"inbound\",protocol="
	       "\"tcp\",source=\"web\",destination=\"db\",code_class=\"none\"} 1");
	has(t, "weft_proxy_request_duration_seconds_bucket{direction="
	       "\"outbound\",protocol=\"http\",source=\"web\",destination="
	       "\"api\",le=\"0.005\"} 1");
	has(t, "weft_proxy_request_duration_seconds_count{direction="
	       "\"outbound\",protocol=\"http\",source=\"web\",destination="
	       "\"api\"} 2");
	/* 40 s is above every bound: only +Inf counts it. */
	has(t, "destination=\"db\",le=\"30\"} 0");
	has(t, "destination=\"db\",le=\"+Inf\"} 1");
	has(t, "weft_proxy_request_bytes_sent_total{direction=\"outbound\","
	       "protocol=\"http\",source=\"web\",destination=\"api\"} 10000");
	has(t, "weft_proxy_retries_total{direction=\"outbound\",protocol="
	       "\"http\",source=\"web\",destination=\"api\"} 2");
	has(t, "weft_proxy_generated_responses_total{direction=\"outbound\","
	       "protocol=\"http\",source=\"web\",destination=\"api\"} 1");
	has(t, "weft_proxy_intention_denials_total{direction=\"inbound\","
	       "protocol=\"http\",source=\"batch\",destination=\"api\"} 1");
	has(t, "weft_proxy_ejections_total{destination=\"api\"} 2");
	metrics_writer_fini(&w);
	proxy_metrics_free(m);
}

/* Names past the cap are counted, under one overflow set. */
static void
test_cap(void **state)
{
	struct proxy_metrics *m;
	struct metrics_writer w;
	char name[32], *t;
	size_t lines = 0;

	(void)state;
	assert_int_equal(proxy_metrics_new(&m), 0);
	for (int i = 0; i < PROXY_METRICS_MAX_PAIRS + 100; i++) {
		struct proxy_metrics_obs o = {.source = "web",
		                              .destination = name,
		                              .status = 200};

		snprintf(name, sizeof(name), "svc-%d", i);
		proxy_metrics_observe(m, &o);
	}
	t = scrape(m, &w);
	has(t, "source=\"_other_\",destination=\"_other_\",code_class=\"2xx\"} "
	       "100");
	has(t, "destination=\"svc-511\",code_class=\"2xx\"} 1");
	if (strstr(t, "svc-512") != NULL)
		fail_msg("a name past the cap got its own series");
	for (const char *p = t; (p = strstr(p, "weft_proxy_retries_total{"));
	     p++)
		lines++;
	assert_int_equal(lines, PROXY_METRICS_MAX_PAIRS + 1);
	metrics_writer_fini(&w);
	proxy_metrics_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_labels_and_classes),
		cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
