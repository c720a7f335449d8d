/*
 * Lifeguard's local health awareness (Dadgar et al., 2018, section 4.1):
 * a node that misses acks and nacks is more likely to be the slow one than
 * its peers are to be dead, so it stretches its own probe timeouts instead
 * of spreading suspicion.  The score rises on missed nacks and on having
 * to refute a suspicion about itself, and falls with every probe answered.
 */
#include "gossip/internal.h"

void
awareness_apply(struct awareness *a, int delta)
{
	long s = (long)a->score + delta;

	if (s < 0)
		s = 0;
	if (a->max > 0 && s > (long)a->max - 1)
		s = (long)a->max - 1;
	a->score = (unsigned)s;
}

int64_t
awareness_scale(const struct awareness *a, int64_t timeout)
{
	return timeout * (int64_t)(a->score + 1);
}
