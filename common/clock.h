/*
 * Time as an input.  Cores take "now" as an argument; only the agent (and
 * the simulator's virtual clock) implements this interface.
 *
 * Monotonic time is in milliseconds from an arbitrary origin; wall time is
 * Unix seconds, used only where a certificate's validity is checked.
 */
#ifndef WEFT_COMMON_CLOCK_H
#define WEFT_COMMON_CLOCK_H

#include <stdint.h>

struct weft_clock {
	int64_t (*mono_ms)(void *ctx);
	int64_t (*wall_s)(void *ctx);
	void *ctx;
};

#endif
