#include "agent/http_retry.h"

enum http_retry_verdict
http_retry_decide(const struct http_retry_state *s,
                  struct route_budget *budget, int64_t now_ms,
                  enum route_outcome outcome, int http_status,
                  int grpc_status)
{
	const struct route_retry *p = s->policy;

	if (p == NULL || !s->body_kept || p->max == 0)
		return HTTP_RETRY_NO;
	/* tries counts the first one: max retries allow max + 1 tries. */
	if (s->tries > p->max)
		return HTTP_RETRY_NO;
	if (!route_retry_on(p, outcome, http_status, grpc_status))
		return HTTP_RETRY_NO;
	if (s->deadline_ms != 0 && now_ms >= s->deadline_ms)
		return HTTP_RETRY_NO;
	if (budget == NULL || !route_budget_try_retry(budget, now_ms))
		return HTTP_RETRY_BUDGET;
	return HTTP_RETRY_YES;
}

static int64_t
earlier(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

int64_t
http_timer_next(const struct http_timer_state *t)
{
	int64_t next = INT64_MAX;

	switch (t->phase) {
	case HTTP_PHASE_WAITING:
		next = t->wake_ms;
		break;
	case HTTP_PHASE_TRYING:
		if (t->per_try_ms > 0)
			next = t->try_start_ms + t->per_try_ms;
		if (t->idle_ms > 0)
			next = earlier(next, t->last_ms + t->idle_ms);
		break;
	case HTTP_PHASE_ANSWERED:
		if (t->idle_ms > 0)
			next = t->last_ms + t->idle_ms;
		break;
	case HTTP_PHASE_DONE:
		return INT64_MAX;
	}
	if (t->deadline_ms > 0)
		next = earlier(next, t->deadline_ms);
	return next;
}
