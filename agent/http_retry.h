/*
 * The decisions of agent/http_call.c that need no I/O: whether a failed
 * try is retried, and when the call's one timer must next fire.  Kept
 * apart so they can be tested without a loop or a mesh.
 */
#ifndef WEFT_AGENT_HTTP_RETRY_H
#define WEFT_AGENT_HTTP_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/route.h"

/* What a call knows when a try has failed. */
struct http_retry_state {
	const struct route_retry *policy; /* the rule's; NULL: none */
	bool body_kept;      /* the body sent so far is still held */
	unsigned tries;      /* tries made, the failed one included */
	int64_t deadline_ms; /* the whole request's; 0: none */
};

enum http_retry_verdict {
	HTTP_RETRY_NO = 0,  /* the policy, max, body or deadline says no */
	HTTP_RETRY_YES,     /* counted in the budget */
	HTTP_RETRY_BUDGET,  /* the policy would, the budget refused */
};

/*
 * Whether to retry after a try that ended with outcome (http_status for a
 * response, grpc_status or -1) at now_ms.  The budget (NULL: no retry) is
 * asked last, so only a retry that happens is counted in it.
 */
enum http_retry_verdict http_retry_decide(const struct http_retry_state *s,
                                          struct route_budget *budget,
                                          int64_t now_ms,
                                          enum route_outcome outcome,
                                          int http_status, int grpc_status);

/* The phases a call's timer serves. */
enum http_timer_phase {
	HTTP_PHASE_TRYING = 1, /* a try is out, no head yet */
	HTTP_PHASE_WAITING,    /* back-off before the next try */
	HTTP_PHASE_ANSWERED,   /* the head was handed on */
	HTTP_PHASE_DONE,
};

/* Absolute times; 0 for a timeout means none. */
struct http_timer_state {
	enum http_timer_phase phase;
	int64_t deadline_ms;  /* whole request */
	int64_t try_start_ms;
	int64_t per_try_ms;
	int64_t idle_ms;
	int64_t last_ms;      /* last bytes either way */
	int64_t wake_ms;      /* end of the back-off (WAITING) */
};

/* When the timer must fire next; INT64_MAX: not at all. */
int64_t http_timer_next(const struct http_timer_state *t);

#endif
