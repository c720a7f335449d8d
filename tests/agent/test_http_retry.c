/*
 * The caller's retry and timer decisions (agent/http_retry.c): a failed
 * try is retried only as the rule's policy names, within max, while the
 * body is held, before the deadline, and while the service's budget
 * allows; the timer fires at the nearest deadline of the phase.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/http_retry.h"

static const struct route_retry five_xx = {
	.max = 2,
	.on = ROUTE_RETRY_5XX | ROUTE_RETRY_RESET,
	.budget_percent = 100,
};

static struct route_budget
roomy_budget(int64_t now)
{
	struct route_budget b;

	route_budget_init(&b, 0, 100, 3);
	for (int i = 0; i < 100; i++)
		route_budget_request(&b, now);
	return b;
}

static void
test_policy_names_the_outcome(void **state)
{
	struct route_budget b = roomy_budget(1000);
	struct http_retry_state s = {
		.policy = &five_xx, .body_kept = true, .tries = 1,
	};

	(void)state;
	assert_int_equal(http_retry_decide(&s, &b, 1000, ROUTE_OUTCOME_RESPONSE,
	                                   503, -1), HTTP_RETRY_YES);
	assert_int_equal(http_retry_decide(&s, &b, 1000, ROUTE_OUTCOME_RESET,
	                                   0, -1), HTTP_RETRY_YES);
	/* Not named: 4xx answers and connect failures. */
	assert_int_equal(http_retry_decide(&s, &b, 1000, ROUTE_OUTCOME_RESPONSE,
	                                   404, -1), HTTP_RETRY_NO);
	assert_int_equal(http_retry_decide(&s, &b, 1000,
	                                   ROUTE_OUTCOME_CONNECT_FAILURE, 0, -1),
	                 HTTP_RETRY_NO);
	/* Without a rule, or a rule without retries: never. */
	s.policy = NULL;
	assert_int_equal(http_retry_decide(&s, &b, 1000, ROUTE_OUTCOME_RESPONSE,
	                                   503, -1), HTTP_RETRY_NO);
	s.policy = &(struct route_retry){.max = 0, .on = ROUTE_RETRY_5XX};
	assert_int_equal(http_retry_decide(&s, &b, 1000, ROUTE_OUTCOME_RESPONSE,
	                                   503, -1), HTTP_RETRY_NO);
}

static void
test_max_counts_retries_not_tries(void **state)
{
	struct route_budget b = roomy_budget(0);
	struct http_retry_state s = {.policy = &five_xx, .body_kept = true};

	(void)state;
	/* max 2: after the first and second tries, yes; after the third, no. */
	s.tries = 1;
	assert_int_equal(http_retry_decide(&s, &b, 0, ROUTE_OUTCOME_RESPONSE,
	                                   500, -1), HTTP_RETRY_YES);
	s.tries = 2;
	assert_int_equal(http_retry_decide(&s, &b, 0, ROUTE_OUTCOME_RESPONSE,
	                                   500, -1), HTTP_RETRY_YES);
	s.tries = 3;
	assert_int_equal(http_retry_decide(&s, &b, 0, ROUTE_OUTCOME_RESPONSE,
	                                   500, -1), HTTP_RETRY_NO);
}

static void
test_body_and_deadline(void **state)
{
	struct route_budget b = roomy_budget(0);
	struct http_retry_state s = {
		.policy = &five_xx, .body_kept = false, .tries = 1,
	};

	(void)state;
	/* A body longer than the retry buffer cannot be replayed. */
	assert_int_equal(http_retry_decide(&s, &b, 0, ROUTE_OUTCOME_RESPONSE,
	                                   502, -1), HTTP_RETRY_NO);
	s.body_kept = true;
	s.deadline_ms = 500;
	assert_int_equal(http_retry_decide(&s, &b, 499, ROUTE_OUTCOME_RESPONSE,
	                                   502, -1), HTTP_RETRY_YES);
	assert_int_equal(http_retry_decide(&s, &b, 500, ROUTE_OUTCOME_RESPONSE,
	                                   502, -1), HTTP_RETRY_NO);
}

static void
test_budget_caps_and_counts_only_retries_made(void **state)
{
	struct route_budget b;
	struct http_retry_state s = {
		.policy = &(struct route_retry){
			.max = 5, .on = ROUTE_RETRY_5XX, .budget_percent = 20,
		},
		.body_kept = true,
		.tries = 1,
	};
	uint64_t req, ret;
	int yes = 0, refused = 0;

	(void)state;
	route_budget_init(&b, 0, 20, 3);
	for (int i = 0; i < 50; i++)
		route_budget_request(&b, 0);
	/* 20% of 50 requests: 10 retries, then the budget says no. */
	for (int i = 0; i < 30; i++) {
		enum http_retry_verdict v = http_retry_decide(
			&s, &b, 0, ROUTE_OUTCOME_RESPONSE, 503, -1);

		yes += v == HTTP_RETRY_YES;
		refused += v == HTTP_RETRY_BUDGET;
	}
	assert_int_equal(yes, 10);
	assert_int_equal(refused, 20);
	/* Answers the policy does not retry never reach the budget. */
	assert_int_equal(http_retry_decide(&s, &b, 0, ROUTE_OUTCOME_RESPONSE,
	                                   200, -1), HTTP_RETRY_NO);
	route_budget_counts(&b, 0, &req, &ret);
	assert_int_equal(req, 50);
	assert_int_equal(ret, 10);
	/* No budget at all: the policy's yes is refused. */
	assert_int_equal(http_retry_decide(&s, NULL, 0, ROUTE_OUTCOME_RESPONSE,
	                                   503, -1), HTTP_RETRY_BUDGET);
}

static void
test_grpc_status(void **state)
{
	struct route_budget b = roomy_budget(0);
	struct http_retry_state s = {
		.policy = &(struct route_retry){
			.max = 1, .on = ROUTE_RETRY_GRPC_UNAVAILABLE,
		},
		.body_kept = true,
		.tries = 1,
	};

	(void)state;
	assert_int_equal(http_retry_decide(&s, &b, 0, ROUTE_OUTCOME_RESPONSE,
	                                   200, ROUTE_GRPC_UNAVAILABLE),
	                 HTTP_RETRY_YES);
	assert_int_equal(http_retry_decide(&s, &b, 0, ROUTE_OUTCOME_RESPONSE,
	                                   200, 0), HTTP_RETRY_NO);
}

static void
test_timer_picks_the_nearest(void **state)
{
	struct http_timer_state t = {
		.phase = HTTP_PHASE_TRYING,
		.deadline_ms = 10000,
		.try_start_ms = 1000,
		.per_try_ms = 500,
		.idle_ms = 300000,
		.last_ms = 1000,
	};

	(void)state;
	assert_int_equal(http_timer_next(&t), 1500); /* the try */
	t.per_try_ms = 0;
	assert_int_equal(http_timer_next(&t), 10000); /* the whole request */
	t.deadline_ms = 0;
	assert_int_equal(http_timer_next(&t), 301000); /* idleness */
	t.idle_ms = 0;
	assert_int_equal(http_timer_next(&t), INT64_MAX);

	/* Waiting: the back-off's end, unless the deadline comes first. */
	t = (struct http_timer_state){
		.phase = HTTP_PHASE_WAITING, .wake_ms = 2000,
		.deadline_ms = 1800, .per_try_ms = 100, .try_start_ms = 0,
	};
	assert_int_equal(http_timer_next(&t), 1800);
	t.deadline_ms = 0;
	assert_int_equal(http_timer_next(&t), 2000);

	/* Answered: the per-try timeout is over, idleness and the whole
	 * request still count. */
	t = (struct http_timer_state){
		.phase = HTTP_PHASE_ANSWERED, .per_try_ms = 10,
		.try_start_ms = 0, .idle_ms = 1000, .last_ms = 5000,
		.deadline_ms = 9000,
	};
	assert_int_equal(http_timer_next(&t), 6000);
	t.last_ms = 8500;
	assert_int_equal(http_timer_next(&t), 9000);
	t.phase = HTTP_PHASE_DONE;
	assert_int_equal(http_timer_next(&t), INT64_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_names_the_outcome),
		cmocka_unit_test(test_max_counts_retries_not_tries),
		cmocka_unit_test(test_body_and_deadline),
		cmocka_unit_test(test_budget_caps_and_counts_only_retries_made),
		cmocka_unit_test(test_grpc_status),
		cmocka_unit_test(test_timer_picks_the_nearest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
