/*
 * The proxy's pure decisions: table snapshots, intentions (authorization)
 * and endpoint choice, plus the chunk queues streams buffer in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/err.h"
#include "proxy/authz.h"
#include "proxy/balance.h"
#include "proxy/chunkq.h"
#include "proxy/table.h"
#include "tests/unit/testutil.h"

/* ---- tables ---- */

static struct table_endpoint
ep(const char *service, const char *node, uint8_t id, uint16_t port)
{
	struct table_endpoint e = {
		.service = service,
		.node = node,
		.mesh_addr = "127.0.0.2:7371",
		.port = port,
		.weight = 1,
		.healthy = true,
		.member = TABLE_MEMBER_ALIVE,
	};

	memset(e.key_id, id, sizeof(e.key_id));
	return e;
}

static struct table *
make(const struct table_endpoint *eps, size_t n_eps,
     const struct table_intention *its, size_t n_its, enum table_action dflt)
{
	struct table_spec spec = {
		.endpoints = eps,
		.n_endpoints = n_eps,
		.intentions = its,
		.n_intentions = n_its,
		.default_action = dflt,
	};
	struct table *t;
	const char *why = NULL;

	if (table_new(&spec, &t, &why, NULL) != 0)
		fail_msg("table_new: %s", why);
	return t;
}

static void
test_table_lookup_and_copy(void **state)
{
	char svc[8] = "db", node[8] = "node-b";
	struct table_endpoint eps[3] = {
		ep("web", "node-a", 1, 80), ep(svc, node, 2, 5432),
		ep("db", "node-c", 3, 5432),
	};
	struct table_local locals[] = {{.service = "db", .port = 15432}};
	struct table_spec spec = {
		.endpoints = eps, .n_endpoints = 3,
		.locals = locals, .n_locals = 1,
		.default_action = TABLE_DENY, .version = 9,
	};
	const struct table_endpoint *got;
	struct table *t;
	size_t n;

	(void)state;
	assert_int_equal(table_new(&spec, &t, NULL, NULL), 0);
	/* Everything was copied: changing the caller's strings changes
	 * nothing. */
	strcpy(svc, "zz");
	strcpy(node, "zz");
	table_endpoints(t, "db", &got, &n);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].service, "db");
	assert_string_equal(got[0].node, "node-b");
	assert_string_equal(got[1].node, "node-c");
	table_endpoints(t, "web", &got, &n);
	assert_int_equal(n, 1);
	table_endpoints(t, "zz", &got, &n);
	assert_int_equal(n, 0);
	assert_null(got);
	assert_int_equal(table_local(t, "db")->port, 15432);
	assert_string_equal(table_local(t, "db")->host, "127.0.0.1");
	assert_null(table_local(t, "web"));
	assert_int_equal(table_version(t), 9);
	assert_int_equal(table_default_action(t), TABLE_DENY);
	table_unref(t);
}

static void
test_table_refuses_bad_specs(void **state)
{
	struct table_endpoint good = ep("db", "node-b", 2, 5432), bad;
	struct table_intention it = {.source = "web", .destination = "db"};
	struct table_local loc[2] = {{.service = "db", .port = 1},
	                             {.service = "db", .port = 2}};
	struct table_spec spec = {.endpoints = &bad, .n_endpoints = 1};
	struct table *t = (struct table *)&spec;
	const char *why;
	size_t idx;

	(void)state;
	bad = good;
	bad.service = "Bad Name";
	assert_int_equal(table_new(&spec, &t, &why, &idx), WEFT_EINVAL);
	assert_null(t);
	assert_string_equal(why, "endpoint service is not a DNS label");
	assert_int_equal(idx, 0);
	bad = good;
	bad.port = 0;
	assert_int_equal(table_new(&spec, &t, &why, &idx), WEFT_EINVAL);
	assert_string_equal(why, "endpoint port is 0");
	bad = good;
	bad.mesh_addr = "";
	assert_int_equal(table_new(&spec, &t, &why, &idx), WEFT_EINVAL);
	assert_string_equal(why, "endpoint mesh address is empty or too long");

	spec = (struct table_spec){.intentions = &it, .n_intentions = 1};
	it.source = "group:";
	assert_int_equal(table_new(&spec, &t, &why, &idx), WEFT_EINVAL);
	assert_string_equal(why,
	    "intention source is not a service, group:NAME or *");
	it.source = "web";
	it.destination = "group:x";
	assert_int_equal(table_new(&spec, &t, &why, &idx), WEFT_EINVAL);
	assert_string_equal(why, "intention destination is not a service or *");
	it.destination = "db";
	it.action = 7;
	assert_int_equal(table_new(&spec, &t, &why, &idx), WEFT_EINVAL);

	spec = (struct table_spec){.locals = loc, .n_locals = 2};
	assert_int_equal(table_new(&spec, &t, &why, &idx), WEFT_EINVAL);
	assert_string_equal(why, "local service listed twice");
	assert_int_equal(idx, 1);
}

static void
test_table_refcount_lifetime(void **state)
{
	struct table_endpoint e = ep("db", "node-b", 2, 5432);
	struct table *t = make(&e, 1, NULL, 0, TABLE_ALLOW);
	const struct table_endpoint *got;
	size_t n;

	(void)state;
	assert_int_equal(table_refcount(t), 1);
	assert_ptr_equal(table_ref(t), t); /* a stream takes one */
	assert_int_equal(table_refcount(t), 2);
	table_unref(t); /* the agent swaps in a new one */
	assert_int_equal(table_refcount(t), 1);
	/* The stream's reference keeps the endpoints alive (ASan would
	 * complain otherwise). */
	table_endpoints(t, "db", &got, &n);
	assert_string_equal(got[0].node, "node-b");
	table_unref(t);
	table_unref(NULL);
	assert_null(table_ref(NULL));
}

/* The snapshot carries revoked key ids (copied, sorted) so workers on
 * other threads check handshakes without the gossip state. */
static void
test_table_revoked_ids(void **state)
{
	uint8_t ids[3][KEY_ID_LEN];
	uint8_t other[KEY_ID_LEN];
	struct table_spec spec = {.default_action = TABLE_ALLOW};
	struct table *t;

	(void)state;
	memset(ids[0], 0x30, KEY_ID_LEN);
	memset(ids[1], 0x10, KEY_ID_LEN);
	memset(ids[2], 0x20, KEY_ID_LEN);
	memset(other, 0x15, KEY_ID_LEN);
	spec.revoked = (const uint8_t (*)[KEY_ID_LEN])ids;
	spec.n_revoked = 3;
	assert_int_equal(table_new(&spec, &t, NULL, NULL), 0);
	memset(ids, 0, sizeof(ids)); /* the table kept its own copy */
	memset(ids[0], 0x10, KEY_ID_LEN);
	assert_true(table_is_revoked(t, ids[0]));
	memset(ids[0], 0x20, KEY_ID_LEN);
	assert_true(table_is_revoked(t, ids[0]));
	memset(ids[0], 0x30, KEY_ID_LEN);
	assert_true(table_is_revoked(t, ids[0]));
	assert_false(table_is_revoked(t, other));
	assert_false(table_is_revoked(NULL, other));
	table_unref(t);

	spec.revoked = NULL; /* a count without ids */
	assert_int_equal(table_new(&spec, &t, NULL, NULL), WEFT_EINVAL);
}

/* ---- authorization ---- */

struct az {
	struct key_pair ca, self;
	struct cert cert;
	struct test_rng_state rs;
	struct weft_rng rng;
};

static int
az_setup(void **state)
{
	static const char *const svcs[] = {"db", "api"};
	struct az *z = calloc(1, sizeof(*z));

	z->rng = test_rng(&z->rs, 3);
	if (key_generate(&z->ca, KEY_KIND_CA, &z->rng) ||
	    key_generate(&z->self, KEY_KIND_NODE, &z->rng))
		return -1;
	test_issue(&z->cert, &z->self, &z->ca, "node-b", svcs, 2, NULL, 0,
	    T_NOW - T_DAY, T_NOW + T_DAY);
	*state = z;
	return 0;
}

static int
az_teardown(void **state)
{
	struct az *z = *state;

	cert_free(&z->cert);
	free(z);
	return 0;
}

static const char *const web_svcs[] = {"web"};
static const char *const two_svcs[] = {"web", "batch"};
static const char *const prod[] = {"prod"};
static const char *const two_grps[] = {"prod", "ops"};

static struct session_peer
peer(const char *const *svcs, size_t ns, const char *const *grps, size_t ng)
{
	struct session_peer p = {
		.name = "node-a",
		.services = svcs,
		.n_services = ns,
		.groups = grps,
		.n_groups = ng,
	};

	return p;
}

/* Decides for the web/prod peer against intentions its. */
static struct authz_decision
decide(struct az *z, const struct table_intention *its, size_t n,
       enum table_action dflt, const struct session_peer *p,
       const char *service)
{
	struct table *t = make(NULL, 0, its, n, dflt);
	struct authz_decision d;

	assert_int_equal(authz_check(t, &z->cert, p, service, &d), 0);
	table_unref(t);
	return d;
}

static void
test_authz_default(void **state)
{
	struct az *z = *state;
	struct session_peer p = peer(web_svcs, 1, prod, 1);
	struct authz_decision d;

	d = decide(z, NULL, 0, TABLE_ALLOW, &p, "db");
	assert_true(d.allow);
	assert_null(d.by);
	assert_string_equal(d.reason, "allowed by default: no intention matches "
	    "node node-a for service db");
	d = decide(z, NULL, 0, TABLE_DENY, &p, "db");
	assert_false(d.allow);
	assert_string_equal(d.reason, "denied by default: no intention matches "
	    "node node-a for service db");
}

static void
test_authz_exact_group_wildcard(void **state)
{
	struct az *z = *state;
	struct session_peer p = peer(web_svcs, 1, prod, 1);
	struct table_intention it = {.destination = "db", .action = TABLE_ALLOW};
	struct authz_decision d;

	it.source = "web";
	d = decide(z, &it, 1, TABLE_DENY, &p, "db");
	assert_true(d.allow);
	assert_string_equal(d.reason, "allowed by intention web->db");
	it.source = "group:prod";
	d = decide(z, &it, 1, TABLE_DENY, &p, "db");
	assert_true(d.allow);
	assert_string_equal(d.reason, "allowed by intention group:prod->db");
	it.source = "*";
	d = decide(z, &it, 1, TABLE_DENY, &p, "db");
	assert_true(d.allow);
	/* Non-matching sources fall to the default. */
	it.source = "batch";
	d = decide(z, &it, 1, TABLE_DENY, &p, "db");
	assert_false(d.allow);
	assert_null(d.by);
	it.source = "group:ops";
	d = decide(z, &it, 1, TABLE_DENY, &p, "db");
	assert_false(d.allow);
	/* Other destination: no match. */
	it.source = "web";
	d = decide(z, &it, 1, TABLE_DENY, &p, "api");
	assert_false(d.allow);
	it.destination = "*";
	d = decide(z, &it, 1, TABLE_DENY, &p, "api");
	assert_true(d.allow);
	assert_string_equal(d.reason, "allowed by intention web->*");
}

static void
test_authz_most_specific_wins(void **state)
{
	struct az *z = *state;
	struct session_peer p = peer(web_svcs, 1, prod, 1);
	struct table_intention its[4] = {
		{.name = "all", .source = "*", .destination = "*",
		 .action = TABLE_ALLOW},
		{.name = "prod-db", .source = "group:prod", .destination = "db",
		 .action = TABLE_DENY},
		{.name = "web-db", .source = "web", .destination = "db",
		 .action = TABLE_ALLOW},
		{.name = "web-any", .source = "web", .destination = "*",
		 .action = TABLE_DENY},
	};
	struct authz_decision d;

	/* Exact source beats group for the same destination. */
	d = decide(z, its, 4, TABLE_DENY, &p, "db");
	assert_true(d.allow);
	assert_ptr_not_equal(d.by, NULL);
	assert_string_equal(d.reason, "allowed by intention web->db (web-db)");
	/* Without it, the group deny beats "*" -> "*" and "web" -> "*":
	 * the destination counts first. */
	d = decide(z, its, 2, TABLE_ALLOW, &p, "db");
	assert_false(d.allow);
	assert_string_equal(d.reason,
	    "denied by intention group:prod->db (prod-db)");
	{
		struct table_intention two[2] = {its[3], its[1]};

		two[1].action = TABLE_ALLOW;
		d = decide(z, two, 2, TABLE_DENY, &p, "db");
		assert_true(d.allow); /* group:prod->db beats web->* */
	}
	/* For api only the wildcard destinations match: web->* (exact
	 * source) beats *->*. */
	d = decide(z, its, 4, TABLE_ALLOW, &p, "api");
	assert_false(d.allow);
	assert_string_equal(d.reason, "denied by intention web->* (web-any)");
	/* A peer without the web service: only *->* matches. */
	{
		struct session_peer q = peer(NULL, 0, NULL, 0);

		d = decide(z, its, 4, TABLE_DENY, &q, "api");
		assert_true(d.allow);
		assert_string_equal(d.reason, "allowed by intention *->* (all)");
	}
}

static void
test_authz_ties_deny(void **state)
{
	struct az *z = *state;
	struct session_peer p = peer(two_svcs, 2, two_grps, 2);
	struct table_intention svc[2] = {
		{.source = "web", .destination = "db", .action = TABLE_ALLOW},
		{.source = "batch", .destination = "db", .action = TABLE_DENY},
	};
	struct table_intention grp[2] = {
		{.source = "group:ops", .destination = "db", .action = TABLE_DENY},
		{.source = "group:prod", .destination = "db",
		 .action = TABLE_ALLOW},
	};
	struct authz_decision d;

	d = decide(z, svc, 2, TABLE_ALLOW, &p, "db");
	assert_false(d.allow);
	assert_string_equal(d.reason, "denied by intention batch->db");
	d = decide(z, grp, 2, TABLE_ALLOW, &p, "db");
	assert_false(d.allow);
	assert_string_equal(d.reason, "denied by intention group:ops->db");
}

static void
test_authz_own_cert_must_list_service(void **state)
{
	struct az *z = *state;
	struct session_peer p = peer(web_svcs, 1, prod, 1);
	struct table_intention it = {.source = "web", .destination = "cache",
	    .action = TABLE_ALLOW};
	struct authz_decision d;
	struct table *t;

	d = decide(z, &it, 1, TABLE_ALLOW, &p, "cache");
	assert_false(d.allow);
	assert_null(d.by);
	assert_string_equal(d.reason, "denied: this node's certificate (node-b) "
	    "does not list service cache");
	t = make(NULL, 0, NULL, 0, TABLE_ALLOW);
	assert_int_equal(authz_check(t, &z->cert, &p, "Bad!", &d), WEFT_EINVAL);
	assert_false(d.allow);
	assert_int_equal(authz_check(t, &z->cert, NULL, "db", &d), WEFT_EINVAL);
	assert_false(d.allow);
	table_unref(t);
}

/* ---- balancing ---- */

static void
test_balance_p2c_spreads_and_prefers_idle(void **state)
{
	struct table_endpoint eps[3] = {
		ep("db", "node-a", 1, 5432), ep("db", "node-b", 2, 5432),
		ep("db", "node-c", 3, 5432),
	};
	struct table *t = make(eps, 3, NULL, 0, TABLE_ALLOW);
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 11);
	struct balance *b;
	const struct table_endpoint *got, *all;
	size_t n, counts[3] = {0};

	(void)state;
	assert_int_equal(balance_new(NULL, &b), 0);
	table_endpoints(t, "db", &all, &n);
	/* Streams that never end: P2C keeps the counts level. */
	for (int i = 0; i < 3000; i++) {
		assert_int_equal(balance_pick(b, t, "db", 0, &rng, &got, NULL), 0);
		assert_int_equal(balance_stream_started(b, got), 0);
		counts[got - all]++;
	}
	for (int i = 0; i < 3; i++) {
		assert_in_range(counts[i], 990, 1010);
		assert_int_equal(balance_outstanding(b, &all[i]), counts[i]);
	}
	/* One endpoint far busier than the others: picked only when both
	 * draws land on it, about 1 in 9 without the idle ones winning. */
	for (unsigned k = 0; k < 900; k++)
		balance_stream_ended(b, &all[1]);
	memset(counts, 0, sizeof(counts));
	for (int i = 0; i < 900; i++) {
		assert_int_equal(balance_pick(b, t, "db", 0, &rng, &got, NULL), 0);
		counts[got - all]++;
	}
	/* all[1] now has ~100 outstanding against ~1000: it always wins
	 * when drawn (5 in 9 of the pairs include it). */
	assert_in_range(counts[1], 400, 600);
	for (int i = 0; i < 3; i++)
		while (balance_outstanding(b, &all[i]) > 0)
			balance_stream_ended(b, &all[i]);
	balance_gc(b, 0);
	assert_int_equal(balance_entries(b), 0);
	balance_free(b);
	table_unref(t);
}

/* An ejection shared by another worker keeps picks off the endpoint for
 * its time, then lets it back. */
static void
test_balance_shared_ejection(void **state)
{
	struct table_endpoint eps[3] = {
		ep("db", "node-a", 1, 1), ep("db", "node-b", 2, 1),
		ep("db", "node-c", 3, 1),
	};
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 7);
	struct balance *b;
	const struct table_endpoint *got, *a_ep;
	struct table *t;
	size_t n;
	int saw_a = 0;

	(void)state;
	t = make(eps, 3, NULL, 0, TABLE_ALLOW);
	table_endpoints(t, "db", &a_ep, &n);
	assert_int_equal(n, 3);
	assert_string_equal(a_ep->node, "node-a");
	assert_int_equal(balance_new(&(struct balance_config){
		.outlier = {.base_ms = 1000, .max_ms = 5000, .max_percent = 50},
	}, &b), 0);
	assert_int_equal(balance_eject(b, a_ep, n, 100, 2000), 0);
	assert_true(balance_is_ejected(b, a_ep, 100));
	for (int i = 0; i < 200; i++) {
		assert_int_equal(balance_pick(b, t, "db", 100 + i, &rng, &got,
		                              NULL), 0);
		assert_string_not_equal(got->node, "node-a");
	}
	assert_false(balance_is_ejected(b, a_ep, 2100));
	for (int i = 0; i < 200; i++) {
		assert_int_equal(balance_pick(b, t, "db", 2100 + i, &rng, &got,
		                              NULL), 0);
		saw_a += strcmp(got->node, "node-a") == 0;
	}
	assert_true(saw_a > 0);
	balance_free(b);
	table_unref(t);
}

static void
test_balance_skips_unusable(void **state)
{
	struct table_endpoint eps[5] = {
		ep("db", "node-a", 1, 1), ep("db", "node-b", 2, 1),
		ep("db", "node-c", 3, 1), ep("db", "node-d", 4, 1),
		ep("db", "node-e", 5, 1),
	};
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 12);
	struct balance *b;
	struct balance_miss m;
	const struct table_endpoint *got;
	struct table *t;

	(void)state;
	eps[0].member = TABLE_MEMBER_SUSPECT;
	eps[1].healthy = false;
	eps[2].ejected = true;
	eps[3].member = TABLE_MEMBER_DEAD;
	t = make(eps, 5, NULL, 0, TABLE_ALLOW);
	assert_int_equal(balance_new(NULL, &b), 0);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(balance_pick(b, t, "db", 0, &rng, &got, &m), 0);
		assert_string_equal(got->node, "node-e");
	}
	/* The last one fails to connect: nothing is left, and the miss
	 * says why. */
	assert_int_equal(balance_connect_failed(b, got, 100), 0);
	assert_int_equal(balance_pick(b, t, "db", 100, &rng, &got, &m),
	    WEFT_ENOENT);
	assert_null(got);
	assert_int_equal(m.total, 5);
	assert_int_equal(m.not_alive, 2);
	assert_int_equal(m.unhealthy, 1);
	assert_int_equal(m.ejected, 1);
	assert_int_equal(m.backoff, 1);
	assert_int_equal(balance_pick(b, t, "nope", 100, &rng, &got, &m),
	    WEFT_ENOENT);
	assert_int_equal(m.total, 0);
	balance_free(b);
	table_unref(t);
}

static void
test_balance_backoff_moves_on_and_doubles(void **state)
{
	struct table_endpoint eps[2] = {
		ep("db", "node-a", 1, 5432), ep("db", "node-b", 2, 5432),
	};
	struct table *t = make(eps, 2, NULL, 0, TABLE_ALLOW);
	struct balance_config cfg = {.backoff_base_ms = 1000,
	    .backoff_max_ms = 5000};
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 13);
	struct balance *b;
	const struct table_endpoint *got, *first;
	int64_t now = 50000;

	(void)state;
	assert_int_equal(balance_new(&cfg, &b), 0);
	assert_int_equal(balance_pick(b, t, "db", now, &rng, &first, NULL), 0);
	/* The retry after a failed connect picks the other one, every
	 * time, until the back-off ends. */
	assert_int_equal(balance_connect_failed(b, first, now), 0);
	assert_int_equal(balance_backoff_until(b, first), now + 1000);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(balance_pick(b, t, "db", now + 999, &rng, &got,
		    NULL), 0);
		assert_ptr_not_equal(got, first);
	}
	/* Failing again doubles it, up to the cap. */
	assert_int_equal(balance_connect_failed(b, first, now + 1000), 0);
	assert_int_equal(balance_backoff_until(b, first), now + 3000);
	assert_int_equal(balance_connect_failed(b, first, now + 3000), 0);
	assert_int_equal(balance_backoff_until(b, first), now + 7000);
	assert_int_equal(balance_connect_failed(b, first, now + 7000), 0);
	assert_int_equal(balance_backoff_until(b, first), now + 12000);
	/* gc keeps a node that failed lately. */
	balance_gc(b, now + 12000);
	assert_int_equal(balance_backoff_until(b, first), now + 12000);
	/* After it, the node is picked again; a success resets it. */
	{
		bool seen = false;

		for (int i = 0; i < 100 && !seen; i++) {
			assert_int_equal(balance_pick(b, t, "db", now + 12000,
			    &rng, &got, NULL), 0);
			seen = got == first;
		}
		assert_true(seen);
	}
	balance_connect_ok(b, first);
	assert_int_equal(balance_backoff_until(b, first), 0);
	assert_int_equal(balance_connect_failed(b, first, now), 0);
	assert_int_equal(balance_backoff_until(b, first), now + 1000);
	balance_free(b);
	table_unref(t);
}

static void
test_balance_weights(void **state)
{
	struct table_endpoint eps[3] = {
		ep("db", "node-a", 1, 1), ep("db", "node-b", 2, 1),
		ep("db", "node-c", 3, 1),
	};
	struct table *t;
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 14);
	struct balance *b;
	const struct table_endpoint *got, *all;
	size_t n, counts[3] = {0};

	(void)state;
	eps[0].weight = 3;
	eps[1].weight = 1;
	eps[2].weight = 0; /* drained */
	t = make(eps, 3, NULL, 0, TABLE_ALLOW);
	table_endpoints(t, "db", &all, &n);
	assert_int_equal(balance_new(NULL, &b), 0);
	/* No outstanding streams: the draws alone decide, 3 to 1. */
	for (int i = 0; i < 4000; i++) {
		assert_int_equal(balance_pick(b, t, "db", 0, &rng, &got, NULL), 0);
		counts[got - all]++;
	}
	assert_int_equal(counts[2], 0);
	assert_in_range(counts[0], 2800, 3200);
	balance_free(b);
	table_unref(t);
}

/* ---- chunk queues ---- */

static void
test_chunkq_boundaries_and_reuse(void **state)
{
	struct chunk_pool pool;
	struct chunkq q;
	static uint8_t in[3 * CHUNK_SIZE + 100], out[sizeof(in)];
	const uint8_t *p, *first;
	size_t len, added;

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7);
	chunk_pool_init(&pool, 2);
	chunkq_init(&q);
	assert_int_equal(chunkq_append(&q, &pool, in, 10, &added), 0);
	chunkq_peek(&q, &first, &len);
	assert_int_equal(len, 10);
	assert_int_equal(chunkq_append(&q, &pool, in + 10, sizeof(in) - 10,
	    &added), 0);
	assert_int_equal(added, sizeof(in) - 10);
	assert_int_equal(q.len, sizeof(in));
	assert_int_equal(pool.n_live, 4);
	/* Appending never moved what was there. */
	chunkq_peek(&q, &p, &len);
	assert_ptr_equal(p, first);
	assert_int_equal(len, CHUNK_SIZE);
	chunkq_consume(&q, &pool, CHUNK_SIZE - 1);
	chunkq_peek(&q, &p, &len);
	assert_int_equal(len, 1);
	assert_int_equal(p[0], in[CHUNK_SIZE - 1]);
	out[0] = 0;
	assert_int_equal(chunkq_take(&q, &pool, out, sizeof(out)),
	    sizeof(in) - CHUNK_SIZE + 1);
	assert_memory_equal(out, in + CHUNK_SIZE - 1, sizeof(in) - CHUNK_SIZE + 1);
	assert_int_equal(q.len, 0);
	assert_null(q.head);
	/* Chunks went back; the pool kept two. */
	assert_int_equal(pool.n_live, 0);
	assert_int_equal(pool.n_free, 2);
	assert_int_equal(chunkq_append(&q, &pool, in, 5, NULL), 0);
	assert_int_equal(pool.n_free, 1);
	chunkq_clear(&q, &pool);
	assert_int_equal(pool.n_live, 0);
	chunk_pool_fini(&pool);
}

/* Reads in place: the reserved room is where the bytes stay, a
 * reservation given back leaves nothing held, order is kept. */
static void
test_chunkq_reserve_commit(void **state)
{
	struct chunk_pool pool;
	struct chunkq q;
	static uint8_t out[CHUNK_SIZE + 200];
	const uint8_t *v;
	uint8_t *p, *p2;
	size_t len;

	(void)state;
	chunk_pool_init(&pool, 4);
	chunkq_init(&q);
	/* Given back unfilled: no chunk stays live or queued. */
	assert_int_equal(chunkq_reserve(&q, &pool, 100, &p, &len), 0);
	assert_non_null(p);
	assert_int_equal(len, 100);
	chunkq_commit(&q, &pool, 0);
	assert_null(q.head);
	assert_int_equal(q.len, 0);
	assert_int_equal(pool.n_live, 0);
	/* Filled: the view is the queue's first bytes. */
	assert_int_equal(chunkq_reserve(&q, &pool, CHUNK_SIZE * 2, &p, &len),
	    0);
	assert_int_equal(len, CHUNK_SIZE);
	memset(p, 'a', CHUNK_SIZE - 50);
	chunkq_commit(&q, &pool, CHUNK_SIZE - 50);
	chunkq_peek(&q, &v, &len);
	assert_ptr_equal(v, p);
	assert_int_equal(len, CHUNK_SIZE - 50);
	/* The tail's free end comes next, then a new chunk. */
	assert_int_equal(chunkq_reserve(&q, &pool, 1000, &p2, &len), 0);
	assert_ptr_equal(p2, p + CHUNK_SIZE - 50);
	assert_int_equal(len, 50);
	memset(p2, 'b', 50);
	chunkq_commit(&q, &pool, 50);
	assert_int_equal(chunkq_reserve(&q, &pool, 150, &p2, &len), 0);
	assert_int_equal(len, 150);
	memset(p2, 'c', 150);
	chunkq_commit(&q, &pool, 150);
	assert_int_equal(chunkq_append(&q, &pool, "dd", 2, NULL), 0);
	assert_int_equal(q.len, CHUNK_SIZE + 152);
	assert_int_equal(chunkq_take(&q, &pool, out, sizeof(out)),
	    CHUNK_SIZE + 152);
	for (size_t i = 0; i < CHUNK_SIZE + 152; i++)
		assert_int_equal(out[i], i < CHUNK_SIZE - 50 ? 'a' :
		    i < CHUNK_SIZE ? 'b' : i < CHUNK_SIZE + 150 ? 'c' : 'd');
	/* A reservation never committed goes with clear. */
	assert_int_equal(chunkq_reserve(&q, &pool, 10, &p, &len), 0);
	assert_int_equal(pool.n_live, 1);
	chunkq_clear(&q, &pool);
	assert_int_equal(pool.n_live, 0);
	chunk_pool_fini(&pool);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_lookup_and_copy),
		cmocka_unit_test(test_table_refuses_bad_specs),
		cmocka_unit_test(test_table_refcount_lifetime),
		cmocka_unit_test(test_table_revoked_ids),
		cmocka_unit_test_setup_teardown(test_authz_default, az_setup,
		    az_teardown),
		cmocka_unit_test_setup_teardown(test_authz_exact_group_wildcard,
		    az_setup, az_teardown),
		cmocka_unit_test_setup_teardown(test_authz_most_specific_wins,
		    az_setup, az_teardown),
		cmocka_unit_test_setup_teardown(test_authz_ties_deny, az_setup,
		    az_teardown),
		cmocka_unit_test_setup_teardown(
		    test_authz_own_cert_must_list_service, az_setup, az_teardown),
		cmocka_unit_test(test_balance_p2c_spreads_and_prefers_idle),
		cmocka_unit_test(test_balance_skips_unusable),
		cmocka_unit_test(test_balance_shared_ejection),
		cmocka_unit_test(test_balance_backoff_moves_on_and_doubles),
		cmocka_unit_test(test_balance_weights),
		cmocka_unit_test(test_chunkq_boundaries_and_reuse),
		cmocka_unit_test(test_chunkq_reserve_commit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
