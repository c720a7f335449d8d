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
 */
#ifndef WEFT_PROXY_BALANCE_H
#define WEFT_PROXY_BALANCE_H

#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "proxy/table.h"

#define BALANCE_MAX_TRIES 3
#define BALANCE_BACKOFF_BASE_MS 1000
#define BALANCE_BACKOFF_MAX_MS 30000

struct balance_config {
	int64_t backoff_base_ms; /* 0: BALANCE_BACKOFF_BASE_MS */
	int64_t backoff_max_ms;  /* 0: BALANCE_BACKOFF_MAX_MS */
};

/* Why nothing could be picked: counts of the service's endpoints. */
struct balance_miss {
	size_t total;
	size_t not_alive; /* suspect or dead */
	size_t unhealthy;
	size_t ejected;
	size_t backoff;
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
