/*
 * Counters that one thread writes and another reads: a data-plane worker
 * counts, the main thread's metrics scrape reads.  Relaxed atomic loads
 * and stores cost what plain ones do (no lock prefix): there is only one
 * writer, so its read-modify-write needs no atomic add.
 */
#ifndef WEFT_COMMON_COUNTER_H
#define WEFT_COMMON_COUNTER_H

#define COUNTER_ADD(x, n) \
	__atomic_store_n(&(x), (x) + (n), __ATOMIC_RELAXED)
#define COUNTER_SUB(x, n) \
	__atomic_store_n(&(x), (x) - (n), __ATOMIC_RELAXED)
#define COUNTER_INC(x) COUNTER_ADD(x, 1)
#define COUNTER_DEC(x) COUNTER_SUB(x, 1)
#define COUNTER_GET(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

#endif
