/*
 * The gossip core's small parts on their own: Lifeguard's suspicion
 * timeout and health score, and the broadcast queue's order, replacement,
 * retransmit limit and cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gossip/internal.h"

static void
test_suspicion_timeout(void **state)
{
	(void)state;
	/* No confirmations: max; k or more: min; in between, a log curve
	 * that falls fastest at the first confirmation. */
	assert_int_equal(suspicion_timeout(0, 3, 1000, 6000), 6000);
	assert_int_equal(suspicion_timeout(3, 3, 1000, 6000), 1000);
	assert_int_equal(suspicion_timeout(9, 3, 1000, 6000), 1000);
	/* n = 1 of k = 3: 6000 - 5000 * log(2) / log(4) = 3500 */
	assert_int_equal(suspicion_timeout(1, 3, 1000, 6000), 3500);
	assert_true(suspicion_timeout(2, 3, 1000, 6000) < 3500);
	assert_true(suspicion_timeout(2, 3, 1000, 6000) > 1000);
	/* k = 0: nobody to confirm, straight to min. */
	assert_int_equal(suspicion_timeout(0, 0, 1000, 6000), 1000);
}

static void
test_suspicion_confirm(void **state)
{
	static const uint8_t a[KEY_ID_LEN] = { 1 }, b[KEY_ID_LEN] = { 2 },
	                     c[KEY_ID_LEN] = { 3 };
	struct suspicion *s = suspicion_new(7, 2, 1000, 6000, 100000, a);

	(void)state;
	assert_non_null(s);
	assert_int_equal(s->deadline, 106000);
	/* The first suspector does not confirm itself, nor does anyone
	 * twice. */
	assert_false(suspicion_confirm(s, a));
	assert_true(suspicion_confirm(s, b));
	assert_false(suspicion_confirm(s, b));
	assert_true(s->deadline < 106000 && s->deadline > 101000);
	assert_true(suspicion_confirm(s, c));
	assert_int_equal(s->deadline, 101000);
	/* Past k, nothing more to shrink. */
	assert_false(suspicion_confirm(s, (const uint8_t[KEY_ID_LEN]){ 4 }));
	free(s);
}

static void
test_awareness(void **state)
{
	struct awareness aw = { 0, 8 };

	(void)state;
	assert_int_equal(awareness_scale(&aw, 500), 500);
	awareness_apply(&aw, 3);
	assert_int_equal(aw.score, 3);
	assert_int_equal(awareness_scale(&aw, 500), 2000);
	awareness_apply(&aw, 100);
	assert_int_equal(aw.score, 7); /* stays below max */
	awareness_apply(&aw, -100);
	assert_int_equal(aw.score, 0);
}

/* Fills one packet from q and returns the message bytes in order. */
static size_t
fill(struct bqueue *q, uint8_t *out, size_t budget, unsigned limit)
{
	size_t used = 0;

	bqueue_fill(q, out, budget, &used, limit, WIRE_MAX_MSGS);
	return used;
}

static void
test_queue_order_and_limit(void **state)
{
	struct bqueue q;
	uint8_t out[64];
	size_t n;

	(void)state;
	assert_int_equal(bqueue_init(&q, 16), 0);
	bqueue_put(&q, 1, (const uint8_t *)"a", 1);
	bqueue_put(&q, 2, (const uint8_t *)"b", 1);
	/* Newest first among the never-sent. */
	n = fill(&q, out, 1, 3);
	assert_int_equal(n, 1);
	assert_memory_equal(out, "b", 1);
	/* Least-sent before newest: a (0 sends) before b (1 send). */
	n = fill(&q, out, 1, 3);
	assert_memory_equal(out, "a", 1);
	bqueue_put(&q, 3, (const uint8_t *)"c", 1);
	n = fill(&q, out, sizeof(out), 3);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "c", 1);
	/* After `limit` sends a message leaves the queue. */
	assert_int_equal(q.count, 3);
	fill(&q, out, sizeof(out), 3);
	fill(&q, out, sizeof(out), 3);
	assert_int_equal(q.count, 0);
	assert_int_equal(fill(&q, out, sizeof(out), 3), 0);
	bqueue_fini(&q);
}

static void
test_queue_replace_and_cap(void **state)
{
	struct bqueue q;
	uint8_t out[64];
	size_t n;

	(void)state;
	assert_int_equal(bqueue_init(&q, 3), 0);
	bqueue_put(&q, 9, (const uint8_t *)"old", 3);
	fill(&q, out, sizeof(out), 10);
	/* A newer message about the same thing replaces the older one, and
	 * starts again from zero sends. */
	bqueue_put(&q, 9, (const uint8_t *)"new", 3);
	assert_int_equal(q.count, 1);
	n = fill(&q, out, sizeof(out), 10);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "new", 3);
	/* Messages that do not fit wait for the next packet. */
	bqueue_put(&q, 1, (const uint8_t *)"xxxx", 4);
	n = fill(&q, out, 3, 10);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "new", 3);
	/* Full: the most-sent message is dropped for the new one. */
	bqueue_put(&q, 2, (const uint8_t *)"y", 1);
	bqueue_put(&q, 3, (const uint8_t *)"z", 1);
	assert_int_equal(q.count, 3);
	assert_int_equal(q.dropped, 1);
	n = fill(&q, out, sizeof(out), 10);
	assert_int_equal(n, 6);
	assert_null(memmem(out, n, "new", 3));
	bqueue_fini(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suspicion_timeout),
		cmocka_unit_test(test_suspicion_confirm),
		cmocka_unit_test(test_awareness),
		cmocka_unit_test(test_queue_order_and_limit),
		cmocka_unit_test(test_queue_replace_and_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
