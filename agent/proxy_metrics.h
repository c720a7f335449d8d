/*
 * Data-plane metrics labelled by source and destination service:
 * requests by response class, a duration histogram, bytes, retries,
 * timeouts and denials, for HTTP requests and TCP streams alike.
 *
 * One series set per (direction, source, destination, protocol).  The
 * number of sets is capped (PROXY_METRICS_MAX_PAIRS): what arrives after
 * the cap is counted under source and destination "_other_", so a caller
 * who can name services cannot grow the agent's memory or the scrape.
 */
#ifndef WEFT_AGENT_PROXY_METRICS_H
#define WEFT_AGENT_PROXY_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/metrics.h"

#define PROXY_METRICS_MAX_PAIRS 512
#define PROXY_METRICS_OTHER "_other_"

struct proxy_metrics;

/* One finished request or stream. */
struct proxy_metrics_obs {
	bool inbound;        /* served for a peer (else: for a local app) */
	bool tcp;            /* a TCP stream, not an HTTP request */
	const char *source;  /* the calling service; NULL: "unknown" */
	const char *destination;
	int status;          /* HTTP status; 0: none (TCP, or reset) */
	double duration_s;
	uint64_t bytes_in;   /* from the caller */
	uint64_t bytes_out;  /* to the caller */
	unsigned retries;
	bool timeout;        /* weft cut it at a timeout */
	bool generated;      /* weft answered itself (no route, 503, ...) */
};

int proxy_metrics_new(struct proxy_metrics **out);
void proxy_metrics_free(struct proxy_metrics *m);

void proxy_metrics_observe(struct proxy_metrics *m,
                           const struct proxy_metrics_obs *o);
/* A request or stream authorization refused (inbound) or a peer refused
 * with 403 (outbound). */
void proxy_metrics_denied(struct proxy_metrics *m, bool inbound, bool tcp,
                          const char *source, const char *destination);
/* Outlier detection took an endpoint of destination out of rotation. */
void proxy_metrics_ejected(struct proxy_metrics *m, const char *destination);

/* A metrics collector (agent/metrics.h); ctx is the proxy_metrics. */
void proxy_metrics_collect(void *ctx, struct metrics_writer *w);

#endif
