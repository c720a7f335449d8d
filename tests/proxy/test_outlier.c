/*
 * Endpoint health from traffic: outlier ejection and its limits, and the
 * peak-EWMA / round robin picker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "proxy/circuit.h"
#include "proxy/ewma.h"
#include "proxy/outlier.h"
#include "tests/unit/testutil.h"

static struct outlier_key
key(const char *svc, uint8_t id, uint16_t port)
{
	struct outlier_key k = {.service = svc, .port = port};

	memset(k.key_id, id, sizeof(k.key_id));
	return k;
}

/* Reports n results of r; returns how many ejected. */
static int
report_n(struct outlier *o, const struct outlier_key *k,
         enum outlier_result r, int n, size_t eps, int64_t now)
{
	int ej = 0;

	for (int i = 0; i < n; i++) {
		bool e;

		assert_int_equal(outlier_report(o, k, r, eps, now, &e), 0);
		ej += e;
	}
	return ej;
}

static void
test_eject_and_return(void **state)
{
	struct outlier_config cfg = {.consecutive_errors = 3, .base_ms = 1000,
	                             .max_ms = 3500, .max_percent = 50};
	struct outlier *o;
	struct outlier_key a = key("api", 1, 80);

	(void)state;
	assert_int_equal(outlier_new(&cfg, &o), 0);
	/* Successes are not remembered. */
	assert_int_equal(report_n(o, &a, OUTLIER_OK, 5, 4, 0), 0);
	assert_int_equal(outlier_entries(o), 0);
	/* Two errors, a success: the run starts over. */
	assert_int_equal(report_n(o, &a, OUTLIER_5XX, 2, 4, 0), 0);
	assert_int_equal(report_n(o, &a, OUTLIER_OK, 1, 4, 0), 0);
	assert_int_equal(report_n(o, &a, OUTLIER_5XX, 2, 4, 0), 0);
	assert_false(outlier_is_ejected(o, &a, 0));
	assert_int_equal(report_n(o, &a, OUTLIER_GATEWAY, 1, 4, 10), 1);
	assert_true(outlier_is_ejected(o, &a, 10));
	assert_int_equal(outlier_ejected_until(o, &a, 10), 1010);
	assert_int_equal(outlier_ejected_count(o, "api", 10), 1);
	/* Late answers while out change nothing. */
	assert_int_equal(report_n(o, &a, OUTLIER_5XX, 10, 4, 500), 0);
	assert_int_equal(outlier_ejected_until(o, &a, 500), 1010);
	/* Back at the end of its time. */
	assert_true(outlier_is_ejected(o, &a, 1009));
	assert_false(outlier_is_ejected(o, &a, 1010));
	assert_int_equal(outlier_ejected_until(o, &a, 1010), 0);
	/* Second ejection: twice the base; third: 3x; then the cap. */
	assert_int_equal(report_n(o, &a, OUTLIER_RESET, 3, 4, 2000), 1);
	assert_int_equal(outlier_ejected_until(o, &a, 2000), 4000);
	assert_int_equal(report_n(o, &a, OUTLIER_5XX, 3, 4, 4000), 1);
	assert_int_equal(outlier_ejected_until(o, &a, 4000), 7000);
	assert_int_equal(report_n(o, &a, OUTLIER_5XX, 3, 4, 7000), 1);
	assert_int_equal(outlier_ejected_until(o, &a, 7000), 10500);
	/* Healthy for long enough: starts from the base again. */
	assert_int_equal(report_n(o, &a, OUTLIER_OK, 1, 4, 20000), 0);
	assert_int_equal(report_n(o, &a, OUTLIER_5XX, 3, 4, 20000), 1);
	assert_int_equal(outlier_ejected_until(o, &a, 20000), 21000);
	outlier_free(o);
}

/* An ejection another worker shares: out at once for its time (capped at
 * max_ms), under the same share rule, and counted for the next back-off. */
static void
test_eject_shared(void **state)
{
	struct outlier_config cfg = {.consecutive_errors = 3, .base_ms = 1000,
	                             .max_ms = 3500, .max_percent = 50};
	struct outlier *o;
	struct outlier_key a = key("api", 1, 80), b = key("api", 2, 80);
	bool e;

	(void)state;
	assert_int_equal(outlier_new(&cfg, &o), 0);
	assert_int_equal(outlier_eject(o, &a, 2, 100, 1000, &e), 0);
	assert_true(e);
	assert_true(outlier_is_ejected(o, &a, 100));
	assert_int_equal(outlier_ejected_until(o, &a, 100), 1100);
	/* Already out: unchanged. */
	assert_int_equal(outlier_eject(o, &a, 2, 200, 3000, &e), 0);
	assert_false(e);
	assert_int_equal(outlier_ejected_until(o, &a, 200), 1100);
	/* The share: a second of two endpoints may not go too. */
	assert_int_equal(outlier_eject(o, &b, 2, 200, 1000, &e), 0);
	assert_false(e);
	assert_false(outlier_is_ejected(o, &b, 200));
	/* Back at its time; the next ejection of its own is the second
	 * (2 x base_ms). */
	assert_false(outlier_is_ejected(o, &a, 1100));
	assert_int_equal(report_n(o, &a, OUTLIER_5XX, 3, 2, 1200), 1);
	assert_int_equal(outlier_ejected_until(o, &a, 1200), 3200);
	/* Capped at max_ms; refused for a bad length. */
	assert_int_equal(outlier_eject(o, &b, 4, 5000, 99999, &e), 0);
	assert_true(e);
	assert_int_equal(outlier_ejected_until(o, &b, 5000), 8500);
	assert_int_equal(outlier_eject(o, &b, 4, 5000, 0, &e), WEFT_EINVAL);
	outlier_free(o);
}

static void
test_max_percent(void **state)
{
	struct outlier_config cfg = {.consecutive_errors = 1, .base_ms = 1000,
	                             .max_percent = 30};
	struct outlier *o;
	struct outlier_key k[10];
	int ejected = 0;

	(void)state;
	assert_int_equal(outlier_new(&cfg, &o), 0);
	for (int i = 0; i < 10; i++) {
		k[i] = key("api", (uint8_t)i, 80);
		ejected += report_n(o, &k[i], OUTLIER_5XX, 1, 10, 0);
	}
	/* Three of ten at most, while the whole service fails. */
	assert_int_equal(ejected, 3);
	assert_int_equal(outlier_ejected_count(o, "api", 0), 3);
	/* Another service has its own share. */
	struct outlier_key other = key("db", 1, 80);
	assert_int_equal(report_n(o, &other, OUTLIER_5XX, 1, 10, 0), 1);
	/* When those return, others may go. */
	assert_int_equal(report_n(o, &k[9], OUTLIER_5XX, 1, 10, 1000), 1);
	outlier_free(o);

	/* One of two may go though that is 50% > 30%, never both. */
	assert_int_equal(outlier_new(&cfg, &o), 0);
	assert_int_equal(report_n(o, &k[0], OUTLIER_5XX, 1, 2, 0), 1);
	assert_int_equal(report_n(o, &k[1], OUTLIER_5XX, 5, 2, 0), 0);
	outlier_free(o);
}

static void
test_gateway_only_and_gc(void **state)
{
	struct outlier_config cfg = {.consecutive_errors = 2, .base_ms = 100,
	                             .max_ms = 100, .gateway_only = true};
	struct outlier *o;
	struct outlier_key a = key("api", 1, 80), b = key("api", 1, 81);
	char longname[80];
	bool e;

	(void)state;
	assert_int_equal(outlier_new(&cfg, &o), 0);
	assert_int_equal(report_n(o, &a, OUTLIER_5XX, 10, 1, 0), 0);
	assert_int_equal(report_n(o, &b, OUTLIER_GATEWAY, 2, 1, 0), 1);
	assert_false(outlier_is_ejected(o, &a, 0));
	assert_int_equal(outlier_entries(o), 1);
	outlier_gc(o, 50);
	assert_int_equal(outlier_entries(o), 1);
	outlier_gc(o, 200);
	assert_int_equal(outlier_entries(o), 0);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	a.service = longname;
	assert_int_equal(outlier_report(o, &a, OUTLIER_5XX, 1, 0, &e),
	                 WEFT_EINVAL);
	outlier_free(o);
}

/* ---- peak-EWMA ---- */

static void
test_ewma_peak_and_decay(void **state)
{
	struct ewma e;
	struct ewma_picker p = {.tau_ms = 1000};

	(void)state;
	ewma_init(&e);
	assert_int_equal(ewma_latency_us(&e), EWMA_DEFAULT_US);
	ewma_start(&e);
	ewma_start(&e);
	assert_int_equal(ewma_cost(&e), EWMA_DEFAULT_US * 3);
	ewma_done(&e, &p, 500, 0);
	assert_int_equal(ewma_latency_us(&e), 500);
	/* A peak replaces the average at once. */
	ewma_done(&e, &p, 5000, 10);
	assert_int_equal(ewma_latency_us(&e), 5000);
	assert_int_equal(e.outstanding, 0);
	/* A lower sample right after barely moves it; one tau later it
	 * weighs half. */
	ewma_done(&e, &p, 1000, 10);
	assert_int_equal(ewma_latency_us(&e), 5000);
	ewma_done(&e, &p, 1000, 1010);
	assert_int_equal(ewma_latency_us(&e), 3000);
	/* Long idle: the old average is all but gone. */
	ewma_done(&e, &p, 100, 1000000);
	assert_in_range(ewma_latency_us(&e), 100, 150);
	/* Huge inputs saturate instead of wrapping. */
	ewma_done(&e, &p, UINT64_MAX, INT64_MAX / 2);
	assert_int_equal(ewma_latency_us(&e), EWMA_COST_MAX_US);
	e.outstanding = UINT32_MAX;
	assert_true(ewma_cost(&e) > EWMA_COST_MAX_US);
}

static void
test_ewma_p2c_prefers_fast(void **state)
{
	struct ewma e[4];
	const struct ewma *c[4];
	struct ewma_picker p = {.mode = EWMA_P2C};
	struct test_rng_state st;
	struct weft_rng rng = test_rng(&st, 11);
	int hits[4] = {0};
	size_t idx;

	(void)state;
	for (int i = 0; i < 4; i++) {
		ewma_init(&e[i]);
		ewma_done(&e[i], &p, i == 2 ? 100 : 10000, 0);
		c[i] = &e[i];
	}
	for (int i = 0; i < 4000; i++) {
		uint64_t r;

		assert_int_equal(weft_rng_fill(&rng, &r, sizeof(r)), 0);
		assert_int_equal(ewma_pick(&p, c, 4, r, &idx), 0);
		assert_true(idx < 4);
		hits[idx]++;
	}
	/* The fast one wins every pair it is in: half of all picks. */
	assert_in_range(hits[2], 1800, 2200);
	for (int i = 0; i < 4; i++)
		assert_true(hits[i] > 0);
	/* Outstanding requests count against it. */
	e[2].outstanding = 1000;
	hits[2] = 0;
	for (int i = 0; i < 1000; i++) {
		uint64_t r;

		assert_int_equal(weft_rng_fill(&rng, &r, sizeof(r)), 0);
		assert_int_equal(ewma_pick(&p, c, 4, r, &idx), 0);
		hits[idx] += idx == 2;
	}
	assert_int_equal(hits[2], 0);
	assert_int_equal(ewma_pick(&p, c, 0, 0, &idx), WEFT_ENOENT);
	assert_int_equal(ewma_pick(&p, c, 1, 12345, &idx), 0);
	assert_int_equal(idx, 0);
}

static void
test_round_robin(void **state)
{
	struct ewma e[3];
	const struct ewma *c[3] = {&e[0], &e[1], &e[2]};
	struct ewma_picker p = {.mode = EWMA_ROUND_ROBIN};
	size_t idx;

	(void)state;
	for (int i = 0; i < 3; i++)
		ewma_init(&e[i]);
	for (size_t i = 0; i < 9; i++) {
		assert_int_equal(ewma_pick(&p, c, 3, 0, &idx), 0);
		assert_int_equal(idx, i % 3);
	}
	/* The set shrinks: still in range. */
	assert_int_equal(ewma_pick(&p, c, 2, 0, &idx), 0);
	assert_true(idx < 2);
}

/* ---- circuit limits ---- */

static void
test_circuit(void **state)
{
	struct circuit_limits lim = {.max = {2, 0, 3}};
	struct circuit c;

	(void)state;
	circuit_init(&c, &lim);
	assert_int_equal(c.max[CIRCUIT_PENDING], CIRCUIT_MAX_PENDING);
	assert_int_equal(circuit_acquire(&c, CIRCUIT_CONNECTIONS), 0);
	assert_int_equal(circuit_acquire(&c, CIRCUIT_CONNECTIONS), 0);
	assert_int_equal(circuit_acquire(&c, CIRCUIT_CONNECTIONS),
	                 WEFT_ETOOBIG);
	assert_int_equal(c.overflows[CIRCUIT_CONNECTIONS], 1);
	/* Kinds are separate. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(circuit_acquire(&c, CIRCUIT_REQUESTS), 0);
	assert_int_equal(circuit_acquire(&c, CIRCUIT_REQUESTS), WEFT_ETOOBIG);
	circuit_release(&c, CIRCUIT_REQUESTS);
	assert_int_equal(circuit_acquire(&c, CIRCUIT_REQUESTS), 0);
	/* Lowering the limit keeps what is held, refuses new ones until
	 * enough were released. */
	lim.max[CIRCUIT_REQUESTS] = 1;
	circuit_set_limits(&c, &lim);
	assert_int_equal(c.used[CIRCUIT_REQUESTS], 3);
	circuit_release(&c, CIRCUIT_REQUESTS);
	circuit_release(&c, CIRCUIT_REQUESTS);
	assert_int_equal(circuit_acquire(&c, CIRCUIT_REQUESTS), WEFT_ETOOBIG);
	circuit_release(&c, CIRCUIT_REQUESTS);
	assert_int_equal(circuit_acquire(&c, CIRCUIT_REQUESTS), 0);
	/* Releasing more than held does not wrap. */
	for (int i = 0; i < 5; i++)
		circuit_release(&c, CIRCUIT_PENDING);
	assert_int_equal(c.used[CIRCUIT_PENDING], 0);
	assert_int_equal(circuit_acquire(&c, CIRCUIT_KINDS_), WEFT_EINVAL);
	assert_string_equal(circuit_kind_name(CIRCUIT_PENDING), "pending");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eject_and_return),
		cmocka_unit_test(test_max_percent),
		cmocka_unit_test(test_eject_shared),
		cmocka_unit_test(test_gateway_only_and_gc),
		cmocka_unit_test(test_ewma_peak_and_decay),
		cmocka_unit_test(test_ewma_p2c_prefers_fast),
		cmocka_unit_test(test_round_robin),
		cmocka_unit_test(test_circuit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
