#include "agent/heap_trim.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

bool
agent_trim_due(struct agent_trim *t, uint64_t now)
{
	if (now > t->peak)
		t->peak = now;
	if (t->peak < AGENT_TRIM_PEAK || now > t->peak / 4)
		return false;
	t->peak = now;
	return true;
}

void
agent_trim_note(struct agent_trim *t, uint64_t now)
{
	if (!agent_trim_due(t, now))
		return;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}
