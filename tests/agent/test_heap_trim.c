/* When free heap pages go back: agent/heap_trim.c's rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/heap_trim.h"

static void
test_small_crowds_never(void **state)
{
	struct agent_trim t = {0};

	(void)state;
	for (uint64_t n = 0; n < AGENT_TRIM_PEAK; n++)
		assert_false(agent_trim_due(&t, n));
	for (uint64_t n = AGENT_TRIM_PEAK - 1; n > 0; n--)
		assert_false(agent_trim_due(&t, n - 1));
}

static void
test_a_quarter_of_the_peak(void **state)
{
	struct agent_trim t = {0};
	int due = 0;

	(void)state;
	for (uint64_t n = 0; n <= 4000; n++)
		assert_false(agent_trim_due(&t, n));
	/* Down from 4,000: at 1,000, where the peak restarts, then at 250
	 * (a quarter of that), and not again on the way to 0: 250 is below
	 * AGENT_TRIM_PEAK. */
	for (uint64_t n = 4000; n > 0; n--) {
		bool d = agent_trim_due(&t, n - 1);

		if (d)
			assert_true(n - 1 == 1000 || n - 1 == 250);
		due += d;
	}
	assert_int_equal(due, 2);
	/* A second crowd: due again. */
	for (uint64_t n = 0; n <= 2000; n++)
		assert_false(agent_trim_due(&t, n));
	assert_false(agent_trim_due(&t, 501));
	assert_true(agent_trim_due(&t, 500));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_crowds_never),
		cmocka_unit_test(test_a_quarter_of_the_peak),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
