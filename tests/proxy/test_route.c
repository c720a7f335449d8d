/*
 * Routes: matching, weighted targets, retry conditions, back-off, the
 * retry budget, validation paths; and L7 intention rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "proxy/authz_l7.h"
#include "proxy/route.h"
#include "tests/unit/testutil.h"

static uint64_t
draw(const struct weft_rng *rng)
{
	uint64_t x;

	assert_int_equal(weft_rng_fill(rng, &x, sizeof(x)), 0);
	return x;
}

static const struct route_label v1[] = {{"version", "v1"}};
static const struct route_label v2[] = {{"version", "v2"}};
static const struct route_target canary[] = {{"api", v2, 1, 100}};
static const struct route_target split[] = {
	{"api", v1, 1, 90},
	{"api", v2, 1, 10},
};
static const struct route_header_match canary_hdr[] = {
	{"x-canary", ROUTE_HEADER_EXACT, "1", false},
};
static const char *const get_post[] = {"GET", "POST"};
static const char *const del[] = {"DELETE"};
static const struct route_header_match misc_hdrs[] = {
	{"x-user", ROUTE_HEADER_PREFIX, "adm", false},
	{"x-debug", ROUTE_HEADER_PRESENT, NULL, true},
};

/* The example, plus rules for the other match kinds. */
static const struct route_rule rules[] = {
	{.match = {.path_kind = ROUTE_PATH_PREFIX, .path = "/",
	           .headers = canary_hdr, .n_headers = 1},
	 .targets = canary, .n_targets = 1},
	{.match = {.path_kind = ROUTE_PATH_EXACT, .path = "/admin",
	           .headers = misc_hdrs, .n_headers = 2},
	 .targets = canary, .n_targets = 1},
	{.match = {.grpc_service = "pkg.Greeter", .grpc_method = "Hello"},
	 .targets = canary, .n_targets = 1},
	{.match = {.path_kind = ROUTE_PATH_PREFIX, .path = "/",
	           .methods = get_post, .n_methods = 2},
	 .targets = split, .n_targets = 2, .timeout_ms = 2000,
	 .idle_timeout_ms = 30000,
	 .retry = {.max = 2, .per_try_timeout_ms = 500,
	           .on = ROUTE_RETRY_5XX | ROUTE_RETRY_CONNECT_FAILURE |
	                 ROUTE_RETRY_RESET,
	           .budget_percent = 20}},
	{.match = {.path_kind = ROUTE_PATH_PREFIX, .path = "/old",
	           .methods = del, .n_methods = 1},
	 .targets = split, .n_targets = 2},
};

static const struct route_spec spec = {
	.name = "api-canary", .service = "api",
	.rules = rules, .n_rules = sizeof(rules) / sizeof(rules[0]),
};

static int
find(const char *method, const char *path, const struct route_header *hs,
     size_t n, size_t *index)
{
	struct route_request req = {method, path, hs, n};
	const struct route_rule *r;
	int err = route_find(&spec, &req, &r, index);

	if (err == 0)
		assert_ptr_equal(r, &rules[*index]);
	return err;
}

static void
test_match_order(void **state)
{
	struct route_header canary1 = {"X-Canary", 8, "1", 1};
	struct route_header canary2 = {"x-canary", 8, "2", 1};
	struct route_header pair[] = {canary2, canary1};
	size_t i = 99;

	(void)state;
	assert_int_equal(route_validate(&spec, NULL, 0, NULL, 0), 0);
	/* Header match first, any method, name without case. */
	assert_int_equal(find("PUT", "/x", &canary1, 1, &i), 0);
	assert_int_equal(i, 0);
	/* A repeated header matches when any value does. */
	assert_int_equal(find("PUT", "/x", pair, 2, &i), 0);
	assert_int_equal(i, 0);
	/* Value compared exactly: falls to the method rule. */
	assert_int_equal(find("GET", "/x", &canary2, 1, &i), 0);
	assert_int_equal(i, 3);
	assert_int_equal(find("PUT", "/x", &canary2, 1, &i), WEFT_ENOENT);
	assert_int_equal(find("get", "/x", NULL, 0, &i), WEFT_ENOENT);
	assert_int_equal(find("DELETE", "/older", NULL, 0, &i), 0);
	assert_int_equal(i, 4);
	assert_int_equal(find("DELETE", "/ol", NULL, 0, &i), WEFT_ENOENT);
	/* The query is not part of the path. */
	assert_int_equal(find("DELETE", "/ol?d=/old", NULL, 0, &i),
	                 WEFT_ENOENT);
}

static void
test_match_headers_and_exact(void **state)
{
	struct route_header admin = {"x-user", 6, "admin", 5};
	struct route_header ad = {"x-user", 6, "ad", 2};
	struct route_header dbg = {"X-DEBUG", 7, "", 0};
	struct route_header both[] = {admin, dbg};
	size_t i = 99;

	(void)state;
	assert_int_equal(find("PUT", "/admin", &admin, 1, &i), 0);
	assert_int_equal(i, 1);
	assert_int_equal(find("PUT", "/admin?x=1", &admin, 1, &i), 0);
	assert_int_equal(i, 1);
	/* Prefix too short, exact path differs, inverted present. */
	assert_int_equal(find("PUT", "/admin", &ad, 1, &i), WEFT_ENOENT);
	assert_int_equal(find("PUT", "/admin/", &admin, 1, &i), WEFT_ENOENT);
	assert_int_equal(find("PUT", "/admin", both, 2, &i), WEFT_ENOENT);
}

static void
test_grpc(void **state)
{
	const char *svc, *m;
	size_t sl, ml, i = 99;

	(void)state;
	assert_int_equal(route_grpc_split("/pkg.Greeter/Hello", &svc, &sl, &m,
	                                  &ml), 0);
	assert_int_equal(sl, 11);
	assert_memory_equal(svc, "pkg.Greeter", 11);
	assert_int_equal(ml, 5);
	assert_memory_equal(m, "Hello", 5);
	assert_int_equal(route_grpc_split("/a/b/c", &svc, &sl, &m, &ml),
	                 WEFT_EMALFORMED);
	assert_int_equal(route_grpc_split("//b", &svc, &sl, &m, &ml),
	                 WEFT_EMALFORMED);
	assert_int_equal(route_grpc_split("/a/", &svc, &sl, &m, &ml),
	                 WEFT_EMALFORMED);
	assert_int_equal(route_grpc_split("/a", &svc, &sl, &m, &ml),
	                 WEFT_EMALFORMED);
	assert_int_equal(route_grpc_split("a/b", &svc, &sl, &m, &ml),
	                 WEFT_EMALFORMED);
	assert_int_equal(find("PUT", "/pkg.Greeter/Hello", NULL, 0, &i), 0);
	assert_int_equal(i, 2);
	assert_int_equal(find("PUT", "/pkg.Greeter/Hell", NULL, 0, &i),
	                 WEFT_ENOENT);
	assert_int_equal(find("PUT", "/pkg.Greeter/HelloX", NULL, 0, &i),
	                 WEFT_ENOENT);
	assert_int_equal(find("PUT", "/x.pkg.Greeter/Hello", NULL, 0, &i),
	                 WEFT_ENOENT);
}

static void
test_weighted_split(void **state)
{
	struct test_rng_state st;
	struct weft_rng rng = test_rng(&st, 7);
	size_t hits[2] = {0, 0};
	const struct route_target *t;
	static const struct route_target zero[] = {
		{"a", NULL, 0, 0}, {"b", NULL, 0, 5},
	};
	struct route_rule r = {.targets = zero, .n_targets = 2};

	(void)state;
	for (int i = 0; i < 10000; i++) {
		assert_int_equal(route_pick_target(&rules[3], draw(&rng), &t),
		                 0);
		hits[t - split]++;
	}
	/* 90/10 over 10,000: sd = sqrt(10000 * .9 * .1) = 30; 5 sd. */
	assert_in_range(hits[1], 1000 - 150, 1000 + 150);
	assert_int_equal(hits[0] + hits[1], 10000);
	/* Weight 0 is never drawn while another has weight. */
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(route_pick_target(&r, draw(&rng), &t), 0);
		assert_string_equal(t->service, "b");
	}
	/* Edge draws. */
	assert_int_equal(route_pick_target(&rules[3], 89, &t), 0);
	assert_ptr_equal(t, &split[0]);
	assert_int_equal(route_pick_target(&rules[3], 90, &t), 0);
	assert_ptr_equal(t, &split[1]);
	assert_int_equal(route_pick_target(&rules[3], UINT64_MAX, &t), 0);
	r.targets = zero;
	r.n_targets = 1;
	assert_int_equal(route_pick_target(&r, 1, &t), WEFT_ENOENT);
}

static void
test_retry_conditions(void **state)
{
	struct route_retry p = {.max = 2};

	(void)state;
	p.on = ROUTE_RETRY_5XX;
	assert_true(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 500, -1));
	assert_true(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 599, -1));
	assert_false(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 404, -1));
	assert_false(route_retry_on(&p, ROUTE_OUTCOME_RESET, 0, -1));
	assert_true(route_retry_on(&p, ROUTE_OUTCOME_TIMEOUT, 0, -1));
	p.on = ROUTE_RETRY_GATEWAY_ERROR;
	assert_false(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 500, -1));
	assert_true(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 502, -1));
	assert_true(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 503, -1));
	assert_true(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 504, -1));
	assert_false(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 505, -1));
	assert_false(route_retry_on(&p, ROUTE_OUTCOME_CONNECT_FAILURE, 0, -1));
	p.on = ROUTE_RETRY_RESET;
	assert_true(route_retry_on(&p, ROUTE_OUTCOME_RESET, 0, -1));
	assert_false(route_retry_on(&p, ROUTE_OUTCOME_CONNECT_FAILURE, 0, -1));
	p.on = ROUTE_RETRY_CONNECT_FAILURE;
	assert_true(route_retry_on(&p, ROUTE_OUTCOME_CONNECT_FAILURE, 0, -1));
	assert_false(route_retry_on(&p, ROUTE_OUTCOME_TIMEOUT, 0, -1));
	p.on = ROUTE_RETRY_GRPC_UNAVAILABLE | ROUTE_RETRY_GRPC_CANCELLED;
	assert_true(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 200, 14));
	assert_true(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 200, 1));
	assert_false(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 200, 4));
	assert_false(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 200, 0));
	assert_false(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 503, -1));
	p.on = ROUTE_RETRY_GRPC_DEADLINE_EXCEEDED |
	       ROUTE_RETRY_GRPC_RESOURCE_EXHAUSTED;
	assert_true(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 200, 4));
	assert_true(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 200, 8));
	assert_false(route_retry_on(&p, ROUTE_OUTCOME_RESPONSE, 200, 14));
	/* Names both ways. */
	for (uint32_t bit = 1; bit <= ROUTE_RETRY_GRPC_UNAVAILABLE; bit <<= 1)
		assert_int_equal(route_retry_bit(route_retry_name(bit)), bit);
	assert_int_equal(route_retry_bit("5xxx"), 0);
	assert_null(route_retry_name(1u << 20));
}

static void
test_backoff(void **state)
{
	struct route_retry p = {.backoff_base_ms = 10, .backoff_max_ms = 70};
	struct test_rng_state st;
	struct weft_rng rng = test_rng(&st, 3);
	int64_t ceil[] = {10, 20, 40, 70, 70, 70};

	(void)state;
	for (unsigned a = 1; a <= 6; a++) {
		int64_t top = 0;

		/* The ceiling itself is reachable, never passed. */
		assert_int_equal(route_backoff_ms(&p, a, (uint64_t)ceil[a - 1]),
		                 ceil[a - 1]);
		assert_int_equal(route_backoff_ms(&p, a,
		                                  (uint64_t)ceil[a - 1] + 1), 0);
		for (int i = 0; i < 2000; i++) {
			int64_t w = route_backoff_ms(&p, a, draw(&rng));

			assert_in_range(w, 0, ceil[a - 1]);
			if (w > top)
				top = w;
		}
		/* Jitter spreads over the range. */
		assert_true(top >= ceil[a - 1] * 9 / 10);
	}
	/* Defaults, and a huge attempt number stays at the cap. */
	p.backoff_base_ms = 0;
	p.backoff_max_ms = 0;
	assert_int_equal(route_backoff_ms(&p, 1, ROUTE_BACKOFF_BASE_MS),
	                 ROUTE_BACKOFF_BASE_MS);
	assert_int_equal(route_backoff_ms(&p, 4000000000u,
	                                  ROUTE_BACKOFF_MAX_MS),
	                 ROUTE_BACKOFF_MAX_MS);
}

static void
test_budget(void **state)
{
	struct route_budget b;
	uint64_t req, ret;
	int allowed = 0;

	(void)state;
	route_budget_init(&b, 10000, 20, 3);
	/* Idle: the minimum lets a few through. */
	assert_true(route_budget_try_retry(&b, 0));
	assert_true(route_budget_try_retry(&b, 1));
	assert_true(route_budget_try_retry(&b, 2));
	assert_false(route_budget_try_retry(&b, 3));
	/* 100 requests: 20% of them, counting the 3 made. */
	for (int i = 0; i < 100; i++)
		route_budget_request(&b, 100 + i);
	for (int i = 0; i < 50; i++)
		allowed += route_budget_try_retry(&b, 500);
	assert_int_equal(allowed, 17);
	route_budget_counts(&b, 500, &req, &ret);
	assert_int_equal(req, 100);
	assert_int_equal(ret, 20);
	/* Still inside the window at 9,999 ms; all gone at 10,000 + one
	 * slot past the last entry. */
	assert_false(route_budget_try_retry(&b, 9999));
	route_budget_counts(&b, 11000, &req, &ret);
	assert_int_equal(req, 0);
	assert_int_equal(ret, 0);
	assert_true(route_budget_try_retry(&b, 11000));
	/* Half the window on: the old half slid out. */
	route_budget_init(&b, 1000, 50, 0);
	for (int i = 0; i < 10; i++)
		route_budget_request(&b, 0);
	for (int i = 0; i < 10; i++)
		route_budget_request(&b, 500);
	route_budget_counts(&b, 1050, &req, &ret);
	assert_int_equal(req, 10);
	for (int i = 0; i < 10; i++)
		allowed = route_budget_try_retry(&b, 1050);
	route_budget_counts(&b, 1050, &req, &ret);
	assert_int_equal(ret, 5);
	assert_false(allowed);
}

static void
test_validate_paths(void **state)
{
	struct route_rule r[2];
	struct route_target t[2] = {{"api", NULL, 0, 1}, {"api", NULL, 0, 1}};
	struct route_header_match h = {"x", ROUTE_HEADER_EXACT, NULL, false};
	struct route_label bad_label = {"", "v"};
	struct route_spec s = {.name = "n", .service = "api", .rules = r,
	                       .n_rules = 2};
	char where[96], why[96];

	(void)state;
	memset(r, 0, sizeof(r));
	r[0].targets = t;
	r[0].n_targets = 1;
	r[1] = r[0];
	assert_int_equal(route_validate(&s, where, sizeof(where), why,
	                                sizeof(why)), 0);
	r[1].n_targets = 2;
	t[1].weight = ROUTE_WEIGHT_MAX + 1;
	assert_int_equal(route_validate(&s, where, sizeof(where), why,
	                                sizeof(why)), WEFT_EINVAL);
	assert_string_equal(where, "routes[1].targets[1].weight");
	t[1].weight = 0;
	t[0].weight = 0;
	assert_int_equal(route_validate(&s, where, sizeof(where), why,
	                                sizeof(why)), WEFT_EINVAL);
	assert_string_equal(where, "routes[0].targets");
	t[0].weight = 1;
	t[1].labels = &bad_label;
	t[1].n_labels = 1;
	assert_int_equal(route_validate(&s, where, sizeof(where), why,
	                                sizeof(why)), WEFT_EINVAL);
	assert_string_equal(where, "routes[1].targets[1].labels");
	t[1].n_labels = 0;
	r[1].match.headers = &h;
	r[1].match.n_headers = 1;
	assert_int_equal(route_validate(&s, where, sizeof(where), why,
	                                sizeof(why)), WEFT_EINVAL);
	assert_string_equal(where, "routes[1].match.headers[0]");
	assert_string_equal(why, "a header match needs a value");
	r[1].match.n_headers = 0;
	r[1].match.path_kind = ROUTE_PATH_EXACT;
	r[1].match.path = "x";
	assert_int_equal(route_validate(&s, where, sizeof(where), why,
	                                sizeof(why)), WEFT_EINVAL);
	assert_string_equal(where, "routes[1].match.path_exact");
	r[1].match.path = "/x";
	r[1].retry.max = 11;
	assert_int_equal(route_validate(&s, where, sizeof(where), why,
	                                sizeof(why)), WEFT_EINVAL);
	assert_string_equal(where, "routes[1].retry.max");
	r[1].retry.max = 1;
	assert_int_equal(route_validate(&s, where, sizeof(where), why,
	                                sizeof(why)), WEFT_EINVAL);
	assert_string_equal(where, "routes[1].retry.on");
	r[1].retry.on = ROUTE_RETRY_RESET;
	r[1].retry.budget_percent = 101;
	assert_int_equal(route_validate(&s, where, sizeof(where), why,
	                                sizeof(why)), WEFT_EINVAL);
	assert_string_equal(where, "routes[1].retry.budget_percent");
	r[1].retry.budget_percent = 100;
	r[0].timeout_ms = -1;
	assert_int_equal(route_validate(&s, where, sizeof(where), why,
	                                sizeof(why)), WEFT_EINVAL);
	assert_string_equal(where, "routes[0].timeout");
	r[0].timeout_ms = 0;
	assert_int_equal(route_validate(&s, where, sizeof(where), why,
	                                sizeof(why)), 0);
	s.n_rules = 0;
	assert_int_equal(route_validate(&s, where, sizeof(where), why,
	                                sizeof(why)), WEFT_EINVAL);
	assert_string_equal(where, "routes");
	s.service = "";
	assert_int_equal(route_validate(&s, where, sizeof(where), why,
	                                sizeof(why)), WEFT_EINVAL);
	assert_string_equal(where, "service");
}

/* ---- L7 intentions ---- */

static void
test_l7(void **state)
{
	static const char *const get[] = {"GET"};
	static const struct authz_l7_rule rs[] = {
		{"/public/", NULL, 0},
		{"/api/", get, 1},
	};
	struct authz_l7 l7 = {"web-to-api", rs, 2};
	struct authz_l7 none = {"open", NULL, 0};
	char why[AUTHZ_L7_MAX_RULES * 4];

	(void)state;
	assert_true(authz_l7_allows(&none, "DELETE", "/x/../y", why,
	                            sizeof(why)));
	assert_true(authz_l7_allows(&l7, "POST", "/public/a", why,
	                            sizeof(why)));
	assert_true(authz_l7_allows(&l7, "GET", "/api/users?x=/public/",
	                            why, sizeof(why)));
	assert_string_equal(why, "allowed by intention web-to-api rule 1");
	assert_false(authz_l7_allows(&l7, "POST", "/api/users", why,
	                             sizeof(why)));
	assert_string_equal(why, "denied by intention web-to-api: POST "
	                         "/api/users matches no rule");
	assert_false(authz_l7_allows(&l7, "GET", "/apix", why, sizeof(why)));
	assert_false(authz_l7_allows(&l7, "GET", "/other?/api/", why,
	                             sizeof(why)));
	/* Walking around a prefix. */
	static const char *const sneaky[] = {
		"/public/../admin", "/public/./x", "/public//x",
		"/public/%2e%2e/admin", "/public/%2F..", "/public/a%", "/public/a%2",
		"/public\\..\\admin", "public/x", "", "/public/%252e",
	};
	for (size_t i = 0; i < sizeof(sneaky) / sizeof(sneaky[0]); i++)
		if (authz_l7_allows(&l7, "GET", sneaky[i], why, sizeof(why)))
			fail_msg("allowed %s", sneaky[i]);
	assert_true(authz_l7_allows(&l7, "GET", "/public/a%20b", why,
	                            sizeof(why)));
	assert_true(authz_l7_allows(&l7, "GET", "/public/..x", why,
	                            sizeof(why)));
	assert_false(authz_l7_allows(&l7, NULL, "/public/", why, sizeof(why)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_order),
		cmocka_unit_test(test_match_headers_and_exact),
		cmocka_unit_test(test_grpc),
		cmocka_unit_test(test_weighted_split),
		cmocka_unit_test(test_retry_conditions),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_validate_paths),
		cmocka_unit_test(test_l7),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
