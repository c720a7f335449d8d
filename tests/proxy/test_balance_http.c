/*
 * Interface 2 of the HTTP issue: what a snapshot carries for HTTP (subset
 * labels, local protocol, route objects, L7 intention rules), endpoint
 * choice for requests (subsets, peak-EWMA, round robin) and outlier
 * detection through balance_request_done with a fake clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "common/err.h"
#include "proxy/authz.h"
#include "proxy/balance.h"
#include "proxy/table.h"
#include "tests/unit/testutil.h"

static const struct route_label v1[] = {{"version", "v1"}};
static const struct route_label v2[] = {{"version", "v2"}};
static const struct route_label v2_eu[] = {{"version", "v2"}, {"zone", "eu"}};

static struct table_endpoint
ep(const char *node, uint8_t id, const struct route_label *l, size_t nl)
{
	struct table_endpoint e = {
		.service = "api",
		.node = node,
		.mesh_addr = "127.0.0.2:7371",
		.port = 8080,
		.weight = 1,
		.healthy = true,
		.member = TABLE_MEMBER_ALIVE,
		.labels = l,
		.n_labels = nl,
	};

	memset(e.key_id, id, sizeof(e.key_id));
	return e;
}

static struct table *
make(const struct table_endpoint *eps, size_t n,
     const struct route_spec *routes, size_t n_routes)
{
	struct table_spec spec = {
		.endpoints = eps,
		.n_endpoints = n,
		.routes = routes,
		.n_routes = n_routes,
		.default_action = TABLE_ALLOW,
	};
	struct table *t;
	const char *why = NULL;

	if (table_new(&spec, &t, &why, NULL) != 0)
		fail_msg("table_new: %s", why);
	return t;
}

/* ---- the snapshot ---- */

static void
test_table_labels_protocol_routes_copied(void **state)
{
	char key[8] = "version", val[8] = "v2", path[8] = "/a", svc[8] = "api";
	struct route_label lab[2] = {{key, val}, {"zone", "eu"}};
	struct table_endpoint e = ep("node-a", 1, lab, 2);
	struct table_local loc = {.service = "api", .port = 80,
	                          .protocol = TABLE_PROTO_GRPC};
	struct route_target tg = {.service = svc, .labels = lab, .n_labels = 1,
	                          .weight = 1};
	struct route_rule rule = {
		.match = {.path_kind = ROUTE_PATH_PREFIX, .path = path},
		.targets = &tg,
		.n_targets = 1,
	};
	struct route_spec rs[3] = {
		{.name = "zz", .service = "api", .rules = &rule, .n_rules = 1},
		{.name = "aa", .service = "api", .rules = &rule, .n_rules = 1},
		{.name = "mm", .service = "web", .rules = &rule, .n_rules = 1},
	};
	struct table_spec spec = {
		.endpoints = &e, .n_endpoints = 1,
		.locals = &loc, .n_locals = 1,
		.routes = rs, .n_routes = 3,
	};
	const struct table_endpoint *got;
	const struct route_spec *r, *all;
	struct table *t;
	size_t n;

	(void)state;
	assert_int_equal(table_new(&spec, &t, NULL, NULL), 0);
	/* Everything was copied: changing the inputs changes nothing. */
	strcpy(key, "xxxxxxx");
	strcpy(val, "yy");
	strcpy(path, "/zz");
	strcpy(svc, "zzz");
	table_endpoints(t, "api", &got, &n);
	assert_int_equal(n, 1);
	assert_int_equal(got->n_labels, 2);
	assert_string_equal(got->labels[0].key, "version");
	assert_string_equal(got->labels[0].value, "v2");
	assert_true(table_endpoint_matches(got, v2, 1));
	assert_true(table_endpoint_matches(got, v2_eu, 2));
	assert_false(table_endpoint_matches(got, v1, 1));
	assert_true(table_endpoint_matches(got, NULL, 0));
	assert_int_equal(table_local(t, "api")->protocol, TABLE_PROTO_GRPC);
	/* Two route objects for api: the lowest name wins. */
	r = table_route(t, "api");
	assert_non_null(r);
	assert_string_equal(r->name, "aa");
	assert_string_equal(r->rules[0].match.path, "/a");
	assert_string_equal(r->rules[0].targets[0].service, "api");
	assert_string_equal(r->rules[0].targets[0].labels[0].key, "version");
	assert_string_equal(table_route(t, "web")->name, "mm");
	assert_null(table_route(t, "db"));
	assert_null(table_route(t, "a"));
	assert_null(table_route(t, "zzz"));
	table_routes(t, &all, &n);
	assert_int_equal(n, 3);
	assert_string_equal(all[1].name, "zz");
	table_unref(t);
}

static void
test_table_refuses_bad_labels_and_routes(void **state)
{
	struct route_label dup[2] = {{"version", "v1"}, {"version", "v2"}};
	struct route_label empty[1] = {{"version", ""}};
	struct table_endpoint e = ep("node-a", 1, dup, 2);
	struct route_target tg = {.service = "api", .weight = 0};
	struct route_rule rule = {.targets = &tg, .n_targets = 1};
	struct route_spec rs = {.name = "r", .service = "api", .rules = &rule,
	                        .n_rules = 1};
	struct authz_l7_rule l7 = {.path_prefix = "no-slash"};
	struct table_intention it = {.name = "i", .source = "web",
	                             .destination = "api",
	                             .action = TABLE_ALLOW, .http = &l7,
	                             .n_http = 1};
	struct table_spec spec = {.endpoints = &e, .n_endpoints = 1};
	struct table *t;
	const char *why;
	size_t bad;

	(void)state;
	assert_int_equal(table_new(&spec, &t, &why, &bad), WEFT_EINVAL);
	assert_non_null(strstr(why, "endpoint labels"));
	e.labels = empty;
	e.n_labels = 1;
	assert_int_equal(table_new(&spec, &t, &why, &bad), WEFT_EINVAL);
	spec = (struct table_spec){.routes = &rs, .n_routes = 1};
	/* No target with weight. */
	assert_int_equal(table_new(&spec, &t, &why, &bad), WEFT_EINVAL);
	assert_string_equal(why, "route object is not valid");
	tg.weight = 1;
	assert_int_equal(table_new(&spec, &t, &why, &bad), 0);
	table_unref(t);
	rs.service = "Not A Label";
	assert_int_equal(table_new(&spec, &t, &why, &bad), WEFT_EINVAL);
	spec = (struct table_spec){.intentions = &it, .n_intentions = 1};
	assert_int_equal(table_new(&spec, &t, &why, &bad), WEFT_EINVAL);
	assert_non_null(strstr(why, "intention http rules"));
	l7.path_prefix = "/ok";
	assert_int_equal(table_new(&spec, &t, &why, &bad), 0);
	table_unref(t);
	assert_int_equal(table_protocol_parse("http2", &(enum table_protocol){0}),
	                 0);
	assert_int_equal(table_protocol_parse("h2", &(enum table_protocol){0}),
	                 WEFT_EINVAL);
	assert_string_equal(table_protocol_name(TABLE_PROTO_HTTP), "http");
}

/* ---- subsets and latency ---- */

static void
test_pick_subset_filters_by_labels(void **state)
{
	struct table_endpoint eps[4] = {
		ep("node-a", 1, v1, 1), ep("node-b", 2, v2, 1),
		ep("node-c", 3, v2_eu, 2), ep("node-d", 4, NULL, 0),
	};
	struct table *t = make(eps, 4, NULL, 0);
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 5);
	const struct table_endpoint *got;
	struct balance_miss miss;
	struct balance *b;
	unsigned seen[5] = {0};

	(void)state;
	assert_int_equal(balance_new(NULL, &b), 0);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(balance_pick_subset(b, t, "api", v2, 1, 0, &rng,
		                                     &got, &miss), 0);
		seen[got->node[5] - 'a']++;
		assert_true(table_endpoint_matches(got, v2, 1));
	}
	assert_int_equal(seen[0], 0);
	assert_int_equal(seen[3], 0);
	assert_true(seen[1] > 50 && seen[2] > 50);
	assert_int_equal(miss.unlabelled, 2);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(balance_pick_subset(b, t, "api", v2_eu, 2, 0,
		                                     &rng, &got, NULL), 0);
		assert_string_equal(got->node, "node-c");
	}
	/* No labels: any endpoint, all four. */
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 400; i++) {
		assert_int_equal(balance_pick_subset(b, t, "api", NULL, 0, 0,
		                                     &rng, &got, NULL), 0);
		seen[got->node[5] - 'a']++;
	}
	for (int i = 0; i < 4; i++)
		assert_true(seen[i] > 50);
	/* A subset nobody carries: ENOENT and why. */
	assert_int_equal(balance_pick_subset(b, t, "api",
	    (struct route_label[]){{"version", "v3"}}, 1, 0, &rng, &got, &miss),
	    WEFT_ENOENT);
	assert_null(got);
	assert_int_equal(miss.total, 4);
	assert_int_equal(miss.unlabelled, 4);
	assert_int_equal(balance_pick_subset(b, t, "nope", NULL, 0, 0, &rng,
	                                     &got, &miss), WEFT_ENOENT);
	balance_free(b);
	table_unref(t);
}

static void
test_ewma_prefers_faster_endpoint(void **state)
{
	struct table_endpoint eps[2] = {
		ep("node-a", 1, NULL, 0), ep("node-b", 2, NULL, 0),
	};
	struct table *t = make(eps, 2, NULL, 0);
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 9);
	const struct table_endpoint *got, *all;
	struct balance *b;
	size_t n;
	unsigned fast = 0;
	int64_t now = 1000;

	(void)state;
	assert_int_equal(balance_new(NULL, &b), 0);
	table_endpoints(t, "api", &all, &n);
	/* node-a answers in 2 ms, node-b in 80 ms. */
	for (int i = 0; i < 1000; i++, now += 5) {
		assert_int_equal(balance_pick_subset(b, t, "api", NULL, 0, now,
		                                     &rng, &got, NULL), 0);
		if (got == &all[0])
			fast++;
		balance_stream_started(b, got);
		balance_request_done(b, got, now, got == &all[0] ? 2 : 80,
		                     BALANCE_OK);
		balance_stream_ended(b, got);
	}
	/* With two endpoints both are always drawn: the fast one wins
	 * every time once each was measured. */
	assert_true(fast > 990);
	/* Outstanding requests count too: load the fast one with 100 in
	 * flight (cost 2 ms x 101) and the slow one wins (80 ms x 1). */
	for (int i = 0; i < 100; i++)
		balance_stream_started(b, &all[0]);
	assert_int_equal(balance_pick_subset(b, t, "api", NULL, 0, now, &rng,
	                                     &got, NULL), 0);
	assert_ptr_equal(got, &all[1]);
	balance_free(b);
	table_unref(t);
}

/*
 * An endpoint whose one sample was slow is never drawn again while the
 * other stays fast, unless its cost decays with time: after long enough
 * it is tried again.  A sample of -1 (a try that waited for a handshake)
 * teaches nothing.
 */
static void
test_ewma_slow_sample_decays(void **state)
{
	struct table_endpoint eps[2] = {
		ep("node-a", 1, NULL, 0), ep("node-b", 2, NULL, 0),
	};
	struct table *t = make(eps, 2, NULL, 0);
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 21);
	const struct table_endpoint *got, *all;
	struct balance *b;
	size_t n;
	int64_t now = 1000;
	unsigned a_picks = 0;

	(void)state;
	assert_int_equal(balance_new(NULL, &b), 0);
	table_endpoints(t, "api", &all, &n);
	/* The handshake's try teaches nothing: both stay unmeasured. */
	balance_request_done_us(b, &all[0], now, -1, BALANCE_OK);
	balance_request_done_us(b, &all[0], now, 5000, BALANCE_OK);
	/* node-a once took 5 ms; node-b answers in 1 ms every 10 ms. */
	for (int i = 0; i < 6000; i++, now += 10) {
		assert_int_equal(balance_pick_subset(b, t, "api", NULL, 0, now,
		                                     &rng, &got, NULL), 0);
		if (got == &all[0]) {
			a_picks++;
			break;
		}
		balance_request_done_us(b, got, now, 1000, BALANCE_OK);
	}
	/* 5 ms x 10 s / (10 s + dt) is under 1 ms once dt passes 40 s. */
	assert_int_equal(a_picks, 1);
	assert_true(now > 1000 + 39000 && now < 1000 + 42000);
	balance_free(b);
	table_unref(t);
}

static void
test_ewma_gateway_errors(void **state)
{
	struct table_endpoint eps[2] = {
		ep("node-a", 1, NULL, 0), ep("node-b", 2, NULL, 0),
	};
	struct table *t = make(eps, 2, NULL, 0);
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 13);
	struct balance_config cfg = {.outlier = {.consecutive_errors = 100}};
	const struct table_endpoint *got, *all;
	struct balance *b;
	size_t n;

	(void)state;
	assert_int_equal(balance_new(&cfg, &b), 0);
	table_endpoints(t, "api", &all, &n);
	balance_request_done(b, &all[0], 100, 20, BALANCE_OK);
	balance_request_done(b, &all[1], 100, 10, BALANCE_OK);
	/* node-b refuses fast: that must not make it look faster. */
	balance_request_done(b, &all[1], 101, 0, BALANCE_GATEWAY_ERROR);
	balance_request_done(b, &all[0], 101, 0, BALANCE_GATEWAY_ERROR);
	assert_int_equal(balance_pick_subset(b, t, "api", NULL, 0, 102, &rng,
	                                     &got, NULL), 0);
	assert_ptr_equal(got, &all[1]);
	/* node-b times out after 2 s: now it looks slow. */
	balance_request_done(b, &all[1], 2100, 2000, BALANCE_GATEWAY_ERROR);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(balance_pick_subset(b, t, "api", NULL, 0, 2101,
		                                     &rng, &got, NULL), 0);
		assert_ptr_equal(got, &all[0]);
	}
	balance_free(b);
	table_unref(t);
}

static void
test_round_robin_cycles(void **state)
{
	struct table_endpoint eps[3] = {
		ep("node-a", 1, NULL, 0), ep("node-b", 2, NULL, 0),
		ep("node-c", 3, NULL, 0),
	};
	struct table *t = make(eps, 3, NULL, 0);
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 1);
	struct balance_config cfg = {.lb = BALANCE_LB_ROUND_ROBIN};
	const struct table_endpoint *got, *all, *prev[3];
	struct balance *b;
	size_t n;

	(void)state;
	assert_int_equal(balance_new(&cfg, &b), 0);
	table_endpoints(t, "api", &all, &n);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(balance_pick_subset(b, t, "api", NULL, 0, 0,
		                                     &rng, &prev[i], NULL), 0);
		/* Slow answers do not matter to round robin. */
		balance_request_done(b, prev[i], 0, i == 0 ? 1000 : 1,
		                     BALANCE_OK);
	}
	assert_true(prev[0] != prev[1] && prev[1] != prev[2] &&
	            prev[0] != prev[2]);
	for (int round = 0; round < 5; round++)
		for (int i = 0; i < 3; i++) {
			assert_int_equal(balance_pick_subset(b, t, "api", NULL, 0,
			                                     0, &rng, &got, NULL), 0);
			assert_ptr_equal(got, prev[i]);
		}
	balance_free(b);
	table_unref(t);
}

/* ---- outlier detection ---- */

struct logged {
	unsigned ejected, returned;
	int64_t until;
	char last[32];
};

static void
log_hook(void *arg, enum balance_event ev, const struct table_endpoint *e,
         int64_t now_ms, int64_t until_ms)
{
	struct logged *l = arg;

	(void)now_ms;
	if (ev == BALANCE_EV_EJECTED) {
		l->ejected++;
		l->until = until_ms;
	} else {
		l->returned++;
	}
	snprintf(l->last, sizeof(l->last), "%s", e->node);
}

static void
test_outlier_ejects_and_returns(void **state)
{
	struct table_endpoint eps[4] = {
		ep("node-a", 1, NULL, 0), ep("node-b", 2, NULL, 0),
		ep("node-c", 3, NULL, 0), ep("node-d", 4, NULL, 0),
	};
	struct table *t = make(eps, 4, NULL, 0);
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 2);
	struct logged lg = {0};
	struct balance_config cfg = {
		.outlier = {.consecutive_errors = 3, .base_ms = 1000,
		            .max_ms = 10000},
		.log = log_hook,
		.log_arg = &lg,
	};
	const struct table_endpoint *got, *all, *bad;
	struct balance_stats st;
	struct balance_miss miss;
	struct balance *b;
	size_t n;

	(void)state;
	assert_int_equal(balance_new(&cfg, &b), 0);
	table_endpoints(t, "api", &all, &n);
	bad = &all[2];
	/* Picked once, so the balance knows the service's size. */
	for (int i = 0; i < 20; i++)
		balance_pick_subset(b, t, "api", NULL, 0, 0, &rng, &got, NULL);
	/* Two errors, an OK: the run starts over. */
	balance_request_done(b, bad, 10, 1, BALANCE_5XX);
	balance_request_done(b, bad, 11, 1, BALANCE_GATEWAY_ERROR);
	balance_request_done(b, bad, 12, 1, BALANCE_OK);
	balance_request_done(b, bad, 13, 1, BALANCE_5XX);
	balance_request_done(b, bad, 14, 1, BALANCE_5XX);
	assert_false(balance_is_ejected(b, bad, 15));
	assert_int_equal(lg.ejected, 0);
	balance_request_done(b, bad, 100, 1, BALANCE_GATEWAY_ERROR);
	assert_true(balance_is_ejected(b, bad, 100));
	assert_int_equal(lg.ejected, 1);
	assert_int_equal(lg.until, 1100);
	assert_string_equal(lg.last, "node-c");
	/* Out: never picked while ejected, and the miss says so. */
	for (int i = 0; i < 200; i++) {
		assert_int_equal(balance_pick_subset(b, t, "api", NULL, 0, 500,
		                                     &rng, &got, &miss), 0);
		assert_ptr_not_equal(got, bad);
	}
	assert_int_equal(miss.ejected, 1);
	assert_int_equal(balance_pick(b, t, "api", 500, &rng, &got, &miss), 0);
	assert_int_equal(miss.ejected, 1);
	/* Back at 1100 (the base time): picked again, and the return is
	 * counted and told once. */
	bool back = false;

	for (int i = 0; i < 200; i++) {
		assert_int_equal(balance_pick_subset(b, t, "api", NULL, 0, 1100,
		                                     &rng, &got, NULL), 0);
		back |= got == bad;
	}
	assert_true(back);
	assert_int_equal(lg.returned, 1);
	balance_stats(b, &st);
	assert_int_equal(st.ejections, 1);
	assert_int_equal(st.returns, 1);
	assert_int_equal(st.requests, 6);
	assert_int_equal(st.errors, 5);
	/* Failing again: ejected for twice the base time. */
	for (int i = 0; i < 3; i++)
		balance_request_done(b, bad, 2000, 1, BALANCE_5XX);
	assert_int_equal(lg.ejected, 2);
	assert_int_equal(lg.until, 4000);
	assert_true(balance_is_ejected(b, bad, 3999));
	assert_false(balance_is_ejected(b, bad, 4000));
	balance_free(b);
	table_unref(t);
}

static void
test_outlier_max_share(void **state)
{
	struct table_endpoint eps[4] = {
		ep("node-a", 1, NULL, 0), ep("node-b", 2, NULL, 0),
		ep("node-c", 3, NULL, 0), ep("node-d", 4, NULL, 0),
	};
	struct table *t = make(eps, 4, NULL, 0);
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 3);
	struct balance_config cfg = {
		.outlier = {.consecutive_errors = 2, .base_ms = 1000},
	};
	const struct table_endpoint *got, *all;
	struct balance_stats st;
	struct balance *b;
	size_t n;

	(void)state;
	/* Default share 50%: of 4 endpoints, at most 2 out at once, even
	 * when all four fail. */
	assert_int_equal(balance_new(&cfg, &b), 0);
	table_endpoints(t, "api", &all, &n);
	for (int i = 0; i < 40; i++)
		balance_pick_subset(b, t, "api", NULL, 0, 0, &rng, &got, NULL);
	for (int k = 0; k < 4; k++)
		for (int i = 0; i < 2; i++)
			balance_request_done(b, &all[k], 10, 1,
			                     BALANCE_GATEWAY_ERROR);
	balance_stats(b, &st);
	assert_int_equal(st.ejections, 2);
	n = 0;
	for (int k = 0; k < 4; k++)
		n += balance_is_ejected(b, &all[k], 10);
	assert_int_equal(n, 2);
	/* The others still take traffic. */
	assert_int_equal(balance_pick_subset(b, t, "api", NULL, 0, 10, &rng,
	                                     &got, NULL), 0);
	assert_false(balance_is_ejected(b, got, 10));
	balance_free(b);
	table_unref(t);
}

/* ---- L7 intentions ---- */

static void
test_authz_check_request(void **state)
{
	static const char *const svcs[] = {"api"};
	static const char *const web[] = {"web"};
	static const char *const get_only[] = {"GET", "HEAD"};
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 4);
	struct key_pair ca, self;
	struct cert cert;
	struct authz_l7_rule rules[2] = {
		{.path_prefix = "/public/", .methods = get_only, .n_methods = 2},
		{.path_prefix = "/admin/", .methods = NULL, .n_methods = 0},
	};
	struct table_intention its[2] = {
		{.name = "web-api", .source = "web", .destination = "api",
		 .action = TABLE_ALLOW, .http = rules, .n_http = 2},
		{.name = "batch-api", .source = "batch", .destination = "api",
		 .action = TABLE_ALLOW},
	};
	struct table_spec spec = {.intentions = its, .n_intentions = 2,
	                          .default_action = TABLE_DENY};
	struct session_peer p = {.name = "node-a", .services = web,
	                         .n_services = 1};
	struct authz_decision d;
	struct table *t;

	(void)state;
	assert_int_equal(key_generate(&ca, KEY_KIND_CA, &rng), 0);
	assert_int_equal(key_generate(&self, KEY_KIND_NODE, &rng), 0);
	test_issue(&cert, &self, &ca, "node-b", svcs, 1, NULL, 0,
	           T_NOW - T_DAY, T_NOW + T_DAY);
	assert_int_equal(table_new(&spec, &t, NULL, NULL), 0);
	assert_int_equal(authz_check_request(t, &cert, &p, "api", "GET",
	                                     "/public/x?y=1", &d), 0);
	assert_true(d.allow);
	assert_string_equal(d.by->name, "web-api");
	assert_int_equal(authz_check_request(t, &cert, &p, "api", "POST",
	                                     "/public/x", &d), 0);
	assert_false(d.allow);
	assert_non_null(strstr(d.reason, "web->api (web-api)"));
	assert_non_null(strstr(d.reason, "POST /public/x matches no rule"));
	assert_int_equal(authz_check_request(t, &cert, &p, "api", "DELETE",
	                                     "/admin/users", &d), 0);
	assert_true(d.allow);
	assert_int_equal(authz_check_request(t, &cert, &p, "api", "GET",
	                                     "/public/../admin", &d), 0);
	assert_false(d.allow);
	assert_int_equal(authz_check_request(t, &cert, &p, "api", "GET",
	                                     "/private", &d), 0);
	assert_false(d.allow);
	/* A byte stream cannot be held to the rules: the same intention
	 * does not allow a CONNECT stream. */
	assert_int_equal(authz_check(t, &cert, &p, "api", &d), 0);
	assert_false(d.allow);
	assert_string_equal(d.reason, "denied: intention web->api (web-api) "
	                    "allows only HTTP requests its L7 rules allow");
	/* The service-level check still comes first. */
	assert_int_equal(authz_check_request(t, &cert, &p, "db", "GET",
	                                     "/public/x", &d), 0);
	assert_false(d.allow);
	/* An intention without rules is not narrowed. */
	p.services = (const char *const[]){"batch"};
	assert_int_equal(authz_check_request(t, &cert, &p, "api", "PUT",
	                                     "/anything", &d), 0);
	assert_true(d.allow);
	assert_int_equal(authz_check(t, &cert, &p, "api", &d), 0);
	assert_true(d.allow);
	assert_int_equal(authz_check_request(t, &cert, &p, "api", NULL,
	                                     "/anything", &d), WEFT_EINVAL);
	assert_false(d.allow);
	table_unref(t);
	cert_free(&cert);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_labels_protocol_routes_copied),
		cmocka_unit_test(test_table_refuses_bad_labels_and_routes),
		cmocka_unit_test(test_pick_subset_filters_by_labels),
		cmocka_unit_test(test_ewma_prefers_faster_endpoint),
		cmocka_unit_test(test_ewma_gateway_errors),
		cmocka_unit_test(test_ewma_slow_sample_decays),
		cmocka_unit_test(test_round_robin_cycles),
		cmocka_unit_test(test_outlier_ejects_and_returns),
		cmocka_unit_test(test_outlier_max_share),
		cmocka_unit_test(test_authz_check_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
