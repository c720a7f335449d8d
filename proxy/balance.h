/*
 * Endpoint choice for outbound streams.
 *
 * The snapshot (proxy/table.h) says which endpoints exist and whether
 * gossip and health checks think they can serve.  What changes with every
 * stream lives here instead, keyed by (node key id, port), so it survives
 * snapshot swaps: how many streams each endpoint carries, and connect
 * back-off per node.
 *
 * An endpoint is usable when its member is alive (not suspect or dead),
 * its service is healthy, it is not ejected, and its node is not in
 * connect back-off at now.  Among the usable ones, two are drawn at random
 * (weighted by weight) and the one with fewer outstanding streams per
 * unit of weight wins (power of two choices).  Weight 0 means drained:
 * such endpoints are drawn only when no usable one has weight.
 *
 * A failed connect puts the endpoint's node in back-off: base, doubled for
 * each failure in a row, at most max; a later pick at a time inside it
 * skips every endpoint on that node, so retries move on.  The agent tries
 * at most BALANCE_MAX_TRIES picks for one app connection.
 *
 * HTTP requests pick with balance_pick_subset() (endpoints carrying the
 * route target's labels) and report how each ended with
 * balance_request_done().  That feeds two things kept per endpoint here:
 * a peak-EWMA of latency (proxy/ewma.h), and outlier detection
 * (proxy/outlier.h): consecutive 5xx or gateway errors eject the endpoint
 * for a base time growing with each ejection, never more than the
 * configured share of the service's endpoints at once.  Among usable
 * endpoints, two are drawn and the lower latency x (outstanding + 1)
 * wins, or round robin when configured.  Ejections and returns are
 * counted (balance_stats) and told to the log hook.
 */
#ifndef WEFT_PROXY_BALANCE_H
#define WEFT_PROXY_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "proxy/outlier.h"
#include "proxy/route.h"
#include "proxy/table.h"

#define BALANCE_MAX_TRIES 3
#define BALANCE_BACKOFF_BASE_MS 1000
#define BALANCE_BACKOFF_MAX_MS 30000

#define BALANCE_OUTLIER_MAX_PERCENT 50 /* the agent's default share */

enum balance_lb {
	BALANCE_LB_P2C = 0, /* peak-EWMA x outstanding, two choices */
	BALANCE_LB_ROUND_ROBIN,
};

/* What the log hook is told. */
enum balance_event {
	BALANCE_EV_EJECTED = 1, /* until_ms: when it comes back */
	BALANCE_EV_RETURNED,    /* its ejection time ended (seen at now) */
};

struct balance_config {
	int64_t backoff_base_ms; /* 0: BALANCE_BACKOFF_BASE_MS */
	int64_t backoff_max_ms;  /* 0: BALANCE_BACKOFF_MAX_MS */
	enum balance_lb lb;
	/* Outlier detection; zero fields take proxy/outlier.h's defaults,
	 * except max_percent: 0 means BALANCE_OUTLIER_MAX_PERCENT. */
	struct outlier_config outlier;
	int64_t ewma_tau_ms; /* 0: EWMA_TAU_MS */
	/* Called (when not NULL) on every ejection and return, from inside
	 * balance_request_done / balance_pick_subset / balance_gc; must not
	 * call back into this balance. */
	void (*log)(void *arg, enum balance_event ev,
	            const struct table_endpoint *ep, int64_t now_ms,
	            int64_t until_ms);
	void *log_arg;
};

/* How one HTTP request to an endpoint ended. */
enum balance_result {
	BALANCE_OK = 0,        /* any answer that is not an error below */
	BALANCE_5XX,           /* 500, 501, 505...: the app's own errors */
	BALANCE_GATEWAY_ERROR, /* 502/503/504, reset, connect failure, timeout */
};

struct balance_stats {
	uint64_t ejections; /* endpoints ejected, ever */
	uint64_t returns;   /* ejections that ended, ever */
	uint64_t requests;  /* balance_request_done calls */
	uint64_t errors;    /* of which 5xx or gateway errors */
};

/* Why nothing could be picked: counts of the service's endpoints. */
struct balance_miss {
	size_t total;
	size_t not_alive; /* suspect or dead */
	size_t unhealthy;
	size_t ejected;
	size_t backoff;
	size_t unlabelled; /* alive but without the subset's labels */
};

struct balance;

int balance_new(const struct balance_config *cfg, struct balance **out);
void balance_free(struct balance *b);

/*
 * Picks an endpoint of service from t at now_ms, drawing randomness from
 * rng.  WEFT_ENOENT when the service has no usable endpoint, with *miss
 * (when not NULL) saying why; the endpoint lives as long as t.
 */
int balance_pick(struct balance *b, const struct table *t, const char *service,
                 int64_t now_ms, const struct weft_rng *rng,
                 const struct table_endpoint **out, struct balance_miss *miss);

/*
 * Picks an endpoint of service carrying every one of labels (n_labels 0:
 * any), by the configured lb: peak-EWMA x outstanding with two random
 * choices among usable endpoints (weight 0 ones only when none has
 * weight), or round robin.  Usable: alive, healthy, not ejected (by the
 * table or by outlier detection at now_ms), node not in connect
 * back-off.  WEFT_ENOENT when none is, with *miss (when not NULL) saying
 * why; the endpoint lives as long as t.
 */
int balance_pick_subset(struct balance *b, const struct table *t,
                        const char *service, const struct route_label *labels,
                        size_t n_labels, int64_t now_ms,
                        const struct weft_rng *rng,
                        const struct table_endpoint **out,
                        struct balance_miss *miss);

/*
 * An HTTP request to ep (picked by balance_pick_subset at some point
 * before) ended at now_ms after latency_ms: feeds its EWMA and outlier
 * detection, which may eject it (the log hook is told).  Does not touch
 * the outstanding count: call balance_stream_ended for that.  Out of
 * memory only loses this one sample.
 */
void balance_request_done(struct balance *b, const struct table_endpoint *ep,
                          int64_t now_ms, int64_t latency_ms,
                          enum balance_result r);
/*
 * The same with the latency in microseconds, which is what loopback and
 * LAN answers need (in whole milliseconds they all look alike, and the
 * first to be measured at 1 ms loses every draw for good).  latency_us
 * below 0: no latency sample (a try that waited for a new connection's
 * handshake says nothing of the endpoint's speed); outliers still count.
 */
void balance_request_done_us(struct balance *b,
                             const struct table_endpoint *ep, int64_t now_ms,
                             int64_t latency_us, enum balance_result r);
/*
 * Takes ep out for for_ms because another worker of this agent ejected
 * it (outlier_eject); n_service: the service's endpoints now.  No log
 * event: the worker that saw the failures reported it.
 */
int balance_eject(struct balance *b, const struct table_endpoint *ep,
                  size_t n_service, int64_t now_ms, int64_t for_ms);
/* Whether outlier detection has ep out at now_ms. */
bool balance_is_ejected(const struct balance *b,
                        const struct table_endpoint *ep, int64_t now_ms);
void balance_stats(const struct balance *b, struct balance_stats *out);

/* A stream to ep started or ended (its outstanding count). */
int balance_stream_started(struct balance *b, const struct table_endpoint *ep);
void balance_stream_ended(struct balance *b, const struct table_endpoint *ep);
unsigned balance_outstanding(const struct balance *b,
                             const struct table_endpoint *ep);

/* Connecting to ep's node failed at now_ms / succeeded. */
int balance_connect_failed(struct balance *b, const struct table_endpoint *ep,
                           int64_t now_ms);
void balance_connect_ok(struct balance *b, const struct table_endpoint *ep);
/* Until when ep's node is in back-off (0 when it is not). */
int64_t balance_backoff_until(const struct balance *b,
                              const struct table_endpoint *ep);

/* Forgets entries with no outstanding stream and no failure within the
 * last backoff_max_ms. */
void balance_gc(struct balance *b, int64_t now_ms);
size_t balance_entries(const struct balance *b);

#endif
