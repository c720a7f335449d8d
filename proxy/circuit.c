#include "proxy/circuit.h"

#include <string.h>

#include "common/err.h"

static const unsigned defaults[CIRCUIT_KINDS_] = {
	CIRCUIT_MAX_CONNECTIONS, CIRCUIT_MAX_PENDING, CIRCUIT_MAX_REQUESTS,
};

void
circuit_set_limits(struct circuit *c, const struct circuit_limits *lim)
{
	for (int k = 0; k < CIRCUIT_KINDS_; k++)
		c->max[k] = lim != NULL && lim->max[k] > 0 ? lim->max[k] :
		            defaults[k];
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
	if ((unsigned)kind >= CIRCUIT_KINDS_)
		return WEFT_EINVAL;
	if (c->used[kind] >= c->max[kind]) {
		c->overflows[kind]++;
		return WEFT_ETOOBIG;
	}
	c->used[kind]++;
	return 0;
}

void
circuit_release(struct circuit *c, enum circuit_kind kind)
{
	if ((unsigned)kind < CIRCUIT_KINDS_ && c->used[kind] > 0)
		c->used[kind]--;
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
