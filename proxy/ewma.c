#include "proxy/ewma.h"

#include <string.h>

#include "common/err.h"

void
ewma_init(struct ewma *e)
{
	memset(e, 0, sizeof(*e));
}

void
ewma_start(struct ewma *e)
{
	if (e->outstanding < UINT32_MAX)
		e->outstanding++;
}

void
ewma_done(struct ewma *e, const struct ewma_picker *p, uint64_t rtt_us,
          int64_t now_ms)
{
	int64_t tau = p != NULL && p->tau_ms > 0 ? p->tau_ms : EWMA_TAU_MS;

	if (tau > EWMA_TAU_MAX_MS)
		tau = EWMA_TAU_MAX_MS;
	int64_t dt = now_ms - e->stamp_ms;

	if (e->outstanding > 0)
		e->outstanding--;
	if (rtt_us == 0)
		rtt_us = 1; /* 0 means unmeasured */
	if (rtt_us > EWMA_COST_MAX_US)
		rtt_us = EWMA_COST_MAX_US;
	if (e->cost_us == 0 || rtt_us >= e->cost_us) {
		e->cost_us = rtt_us;
	} else {
		/* cost = w*cost + (1-w)*rtt with w = tau/(tau+dt), in
		 * integers: (tau*cost + dt*rtt) / (tau + dt).  With tau under
		 * 2^20, dt under 64 tau and costs under 2^36 us, no product
		 * overflows; past 64 tau the old average weighs under 2%. */
		uint64_t ut = (uint64_t)tau, ud;

		if (dt < 0)
			dt = 0;
		if (dt > 64 * tau)
			dt = 64 * tau;
		ud = (uint64_t)dt;
		e->cost_us = (ut * e->cost_us + ud * rtt_us) / (ut + ud);
		if (e->cost_us == 0)
			e->cost_us = 1;
	}
	if (now_ms > e->stamp_ms)
		e->stamp_ms = now_ms;
}

void
ewma_decay(struct ewma *e, const struct ewma_picker *p, int64_t now_ms)
{
	int64_t tau = p != NULL && p->tau_ms > 0 ? p->tau_ms : EWMA_TAU_MS;
	int64_t dt = now_ms - e->stamp_ms;

	if (e->cost_us == 0 || dt <= 0)
		return;
	if (tau > EWMA_TAU_MAX_MS)
		tau = EWMA_TAU_MAX_MS;
	if (dt > 64 * tau)
		dt = 64 * tau;
	/* Same bounds as in ewma_done: no product overflows. */
	e->cost_us = (uint64_t)tau * e->cost_us / (uint64_t)(tau + dt);
	if (e->cost_us == 0)
		e->cost_us = 1;
}

uint64_t
ewma_latency_us(const struct ewma *e)
{
	return e->cost_us != 0 ? e->cost_us : EWMA_DEFAULT_US;
}

uint64_t
ewma_cost(const struct ewma *e)
{
	uint64_t l = ewma_latency_us(e), m = (uint64_t)e->outstanding + 1;

	if (l > UINT64_MAX / m)
		return UINT64_MAX;
	return l * m;
}

int
ewma_pick(struct ewma_picker *p, const struct ewma *const *cands, size_t n,
          uint64_t rnd, size_t *idx)
{
	size_t a, b;

	if (n == 0)
		return WEFT_ENOENT;
	if (p->mode == EWMA_ROUND_ROBIN) {
		*idx = p->next % n;
		p->next = *idx + 1;
		return 0;
	}
	if (n == 1) {
		*idx = 0;
		return 0;
	}
	/* Two distinct draws from one random word. */
	a = (size_t)((rnd & 0xffffffffu) % n);
	b = (size_t)((rnd >> 32) % (n - 1));
	if (b >= a)
		b++;
	*idx = ewma_cost(cands[b]) < ewma_cost(cands[a]) ? b : a;
	return 0;
}
