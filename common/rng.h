/*
 * Randomness as an input.  Cores never draw randomness of their own: the
 * agent hands them a generator backed by the system, the simulator and the
 * test vectors hand them a seeded or fixed one.
 */
#ifndef WEFT_COMMON_RNG_H
#define WEFT_COMMON_RNG_H

#include <stddef.h>

struct weft_rng {
	/* Fills out with n bytes; returns 0 or a negative WEFT_E code. */
	int (*fill)(void *ctx, void *out, size_t n);
	void *ctx;
};

static inline int
weft_rng_fill(const struct weft_rng *rng, void *out, size_t n)
{
	return rng->fill(rng->ctx, out, n);
}

#endif
