#include "proxy/circuit.h"

#include <stdbool.h>
#include <string.h>

#include "common/err.h"

static const unsigned defaults[CIRCUIT_KINDS_] = {
	CIRCUIT_MAX_CONNECTIONS, CIRCUIT_MAX_PENDING, CIRCUIT_MAX_REQUESTS,
};

void
circuit_set_limits(struct circuit *c, const struct circuit_limits *lim)
{
	for (int k = 0; k < CIRCUIT_KINDS_; k++)
		__atomic_store_n(&c->max[k], lim != NULL && lim->max[k] > 0
		                 ? lim->max[k] : defaults[k], __ATOMIC_RELAXED);
}

void
circuit_init(struct circuit *c, const struct circuit_limits *lim)
{
	memset(c, 0, sizeof(*c));
	circuit_set_limits(c, lim);
}

int
circuit_acquire(struct circuit *c, enum circuit_kind kind)
{
	unsigned used;

	if ((unsigned)kind >= CIRCUIT_KINDS_)
		return WEFT_EINVAL;
	used = __atomic_load_n(&c->used[kind], __ATOMIC_RELAXED);
	do {
		if (used >= __atomic_load_n(&c->max[kind], __ATOMIC_RELAXED)) {
			__atomic_fetch_add(&c->overflows[kind], 1,
			                   __ATOMIC_RELAXED);
			return WEFT_ETOOBIG;
		}
	} while (!__atomic_compare_exchange_n(&c->used[kind], &used, used + 1,
	                                      true, __ATOMIC_RELAXED,
	                                      __ATOMIC_RELAXED));
	return 0;
}

void
circuit_release(struct circuit *c, enum circuit_kind kind)
{
	unsigned used;

	if ((unsigned)kind >= CIRCUIT_KINDS_)
		return;
	used = __atomic_load_n(&c->used[kind], __ATOMIC_RELAXED);
	while (used > 0 &&
	       !__atomic_compare_exchange_n(&c->used[kind], &used, used - 1,
	                                    true, __ATOMIC_RELAXED,
	                                    __ATOMIC_RELAXED))
		;
}

const char *
circuit_kind_name(enum circuit_kind kind)
{
	switch (kind) {
	case CIRCUIT_CONNECTIONS:
		return "connections";
	case CIRCUIT_PENDING:
		return "pending";
	case CIRCUIT_REQUESTS:
		return "requests";
	case CIRCUIT_KINDS_:
		break;
	}
	return "?";
}
