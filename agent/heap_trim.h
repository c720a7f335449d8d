/*
 * Giving free heap pages back after a crowd has gone.  Thousands of
 * connections that came and went leave their memory free but resident
 * (glibc returns only the top of a heap on its own): about 29 MiB after
 * 10,000 TCP streams, 21 MiB after a_http's 1,000 slowloris connections.
 * A counter of open things notes each change here; once it falls to a
 * quarter of a peak of AGENT_TRIM_PEAK or more, malloc_trim() hands the
 * free pages to the kernel.  Rare, so the call's cost does not matter.
 * The counters are per worker, and SO_REUSEPORT spreads a crowd over the
 * workers: 1,000 connections are about 500 each on two.
 */
#ifndef WEFT_AGENT_HEAP_TRIM_H
#define WEFT_AGENT_HEAP_TRIM_H

#include <stdbool.h>
#include <stdint.h>

#define AGENT_TRIM_PEAK 256

struct agent_trim {
	uint64_t peak; /* open at most since the last trim */
};

/* Whether `now` open calls for a trim; the peak restarts from now if so. */
bool agent_trim_due(struct agent_trim *t, uint64_t now);
/* agent_trim_due(), and the trim when due. */
void agent_trim_note(struct agent_trim *t, uint64_t now);

#endif
