/*
 * Lifeguard's suspicion timer (section 4.2): a suspicion starts with a
 * long timeout, max, and each independent confirmation (a different
 * member reporting the same suspicion) shrinks it along a log curve, down
 * to min after k confirmations.  A live member that is merely slow to
 * answer gets time to refute; a dead one that many see fail goes fast.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/internal.h"

int64_t
suspicion_timeout(unsigned n, unsigned k, int64_t min_ms, int64_t max_ms)
{
	double frac, t;

	if (k == 0 || n >= k)
		return min_ms;
	frac = log((double)n + 1.0) / log((double)k + 1.0);
	t = (double)max_ms - frac * (double)(max_ms - min_ms);
	if (t < (double)min_ms)
		t = (double)min_ms;
	return (int64_t)floor(t);
}

struct suspicion *
suspicion_new(uint32_t member, unsigned k, int64_t min_ms, int64_t max_ms,
              int64_t now, const uint8_t from[KEY_ID_LEN])
{
	struct suspicion *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if (k > SUSPICION_MAX_CONFIRM)
		k = SUSPICION_MAX_CONFIRM;
	s->member = member;
	s->k = k;
	s->min_ms = min_ms;
	s->max_ms = max_ms < min_ms ? min_ms : max_ms;
	s->start = now;
	/* The first suspector is not a confirmation of itself. */
	memcpy(s->seen[0], from, KEY_ID_LEN);
	s->n_seen = 1;
	s->deadline = now + suspicion_timeout(0, k, s->min_ms, s->max_ms);
	list_init(&s->link);
	return s;
}

bool
suspicion_confirm(struct suspicion *s, const uint8_t from[KEY_ID_LEN])
{
	if (s->n >= s->k)
		return false;
	for (unsigned i = 0; i < s->n_seen; i++)
		if (memcmp(s->seen[i], from, KEY_ID_LEN) == 0)
			return false;
	memcpy(s->seen[s->n_seen++], from, KEY_ID_LEN);
	s->n++;
	s->deadline = s->start + suspicion_timeout(s->n, s->k, s->min_ms,
	                                           s->max_ms);
	if (s->deadline < s->floor)
		s->deadline = s->floor;
	return true;
}
