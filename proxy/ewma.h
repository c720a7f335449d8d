/*
 * Latency-aware endpoint choice for HTTP: peak-EWMA of each endpoint's
 * latency times its outstanding requests plus one, and power of two
 * choices over that cost; or plain round robin when configured.
 *
 * Peak-EWMA: a sample above the average replaces it at once (a slow
 * endpoint is avoided at once), a sample below pulls it down with weight
 * decaying in the time since the last sample, w = tau / (tau + dt), a
 * rational stand-in for exp(-dt/tau) that needs no libm and has the same
 * ends (1 at dt 0, towards 0 as dt grows).
 *
 * The caller keeps one struct ewma per endpoint (next to the balance
 * entry) and passes the candidates that are usable; nothing here
 * allocates.
 */
#ifndef WEFT_PROXY_EWMA_H
#define WEFT_PROXY_EWMA_H

#include <stddef.h>
#include <stdint.h>

#define EWMA_TAU_MS 10000
#define EWMA_TAU_MAX_MS (1 << 20)
#define EWMA_COST_MAX_US (1ull << 36) /* samples are capped here */
/* The cost of an endpoint never measured: high enough that one slow
 * sample is not worse than the unknown, low enough to try it. */
#define EWMA_DEFAULT_US 1000

struct ewma {
	uint64_t cost_us;  /* 0 until the first sample */
	int64_t stamp_ms;  /* time of the last sample */
	unsigned outstanding;
};

enum ewma_mode {
	EWMA_P2C = 0,
	EWMA_ROUND_ROBIN,
};

struct ewma_picker {
	enum ewma_mode mode;
	int64_t tau_ms; /* 0: EWMA_TAU_MS */
	size_t next;    /* round robin position */
};

void ewma_init(struct ewma *e);
/* A request to the endpoint started / finished after rtt_us at now_ms. */
void ewma_start(struct ewma *e);
void ewma_done(struct ewma *e, const struct ewma_picker *p, uint64_t rtt_us,
               int64_t now_ms);
/* The average as of its last sample, or EWMA_DEFAULT_US when unmeasured. */
uint64_t ewma_latency_us(const struct ewma *e);
/*
 * Decays e's average by the time since its last sample, with the same
 * weight tau / (tau + dt) as a sample would get, as peak-EWMA does when it
 * reads a cost: an endpoint that once answered slowly, and so is never
 * picked again, would otherwise keep that cost for good and never get
 * the request that could show it is fast now.  For a copy to compare.
 */
void ewma_decay(struct ewma *e, const struct ewma_picker *p, int64_t now_ms);
/* latency times (outstanding + 1), saturating. */
uint64_t ewma_cost(const struct ewma *e);

/*
 * Picks one of n candidates (n > 0): two drawn with rnd and the cheaper
 * one (P2C), or the next in turn.  WEFT_ENOENT when n is 0.
 */
int ewma_pick(struct ewma_picker *p, const struct ewma *const *cands,
              size_t n, uint64_t rnd, size_t *idx);

#endif
