/*
 * Circuit limits per upstream: connections open to it, requests waiting
 * for a connection or a stream, requests in flight.  A request over a
 * limit is refused at once (the front end answers 503) rather than
 * queued without bound, so one slow upstream cannot take the agent's
 * memory or every caller's latency with it.
 *
 * A counter object the caller keeps per upstream service; no
 * allocation, no time.  Every acquire that returned 0 is matched by one
 * release.  The counters are atomic: the data-plane workers of one agent
 * share one circuit per upstream, so a limit holds for the host.  Read
 * used[] and overflows[] with __atomic_load_n.
 */
#ifndef WEFT_PROXY_CIRCUIT_H
#define WEFT_PROXY_CIRCUIT_H

#include <stdint.h>

#define CIRCUIT_MAX_CONNECTIONS 1024
#define CIRCUIT_MAX_PENDING 1024
#define CIRCUIT_MAX_REQUESTS 1024

enum circuit_kind {
	CIRCUIT_CONNECTIONS = 0,
	CIRCUIT_PENDING,
	CIRCUIT_REQUESTS,
	CIRCUIT_KINDS_
};

struct circuit_limits {
	unsigned max[CIRCUIT_KINDS_]; /* 0: the defaults above */
};

struct circuit {
	unsigned max[CIRCUIT_KINDS_];
	unsigned used[CIRCUIT_KINDS_];
	uint64_t overflows[CIRCUIT_KINDS_]; /* refusals, for metrics */
};

void circuit_init(struct circuit *c, const struct circuit_limits *lim);
/* Takes one of kind: 0, or WEFT_ETOOBIG (and counts an overflow) when
 * the limit is reached; WEFT_EINVAL for a bad kind. */
int circuit_acquire(struct circuit *c, enum circuit_kind kind);
/* Gives one back; one too many is ignored. */
void circuit_release(struct circuit *c, enum circuit_kind kind);
/* Changes the limits in place: what is held stays held, new acquires
 * see the new limit. */
void circuit_set_limits(struct circuit *c, const struct circuit_limits *lim);
/* A kind's name for logs and metrics ("connections", ...). */
const char *circuit_kind_name(enum circuit_kind kind);

#endif
