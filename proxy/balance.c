#include "proxy/balance.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proxy/ewma.h"

/*
 * One entry per endpoint (port != 0: outstanding streams) and one per
 * node (port 0: back-off), in an open-addressing table.  Sizes are small
 * (endpoints a node talks to), so a linear probe is plenty.
 */
struct bentry {
	uint8_t key_id[KEY_ID_LEN];
	uint16_t port;
	bool used;
	unsigned outstanding;
	unsigned failures;
	int64_t down_until;
	/* Endpoint entries only, for HTTP: */
	struct ewma ew;
	uint64_t last_pick;   /* round robin: least recently picked wins */
	size_t n_service;     /* the service's endpoints at the last pick */
	int64_t eject_until;  /* an ejection told to the log, not yet ended */
};

struct balance {
	struct balance_config cfg;
	struct bentry *e;
	size_t cap; /* power of two */
	size_t n;
	struct outlier *outlier;
	struct ewma_picker picker;
	uint64_t picks;
	struct balance_stats stats;
};

int
balance_new(const struct balance_config *cfg, struct balance **out)
{
	struct balance *b = calloc(1, sizeof(*b));

	*out = NULL;
	if (b == NULL)
		return WEFT_ENOMEM;
	if (cfg != NULL)
		b->cfg = *cfg;
	if (b->cfg.backoff_base_ms <= 0)
		b->cfg.backoff_base_ms = BALANCE_BACKOFF_BASE_MS;
	if (b->cfg.backoff_max_ms <= 0)
		b->cfg.backoff_max_ms = BALANCE_BACKOFF_MAX_MS;
	if (b->cfg.outlier.max_percent == 0)
		b->cfg.outlier.max_percent = BALANCE_OUTLIER_MAX_PERCENT;
	b->picker.mode = b->cfg.lb == BALANCE_LB_ROUND_ROBIN ?
	    EWMA_ROUND_ROBIN : EWMA_P2C;
	b->picker.tau_ms = b->cfg.ewma_tau_ms;
	b->cap = 16;
	if ((b->e = calloc(b->cap, sizeof(*b->e))) == NULL ||
	    outlier_new(&b->cfg.outlier, &b->outlier) != 0) {
		free(b->e);
		free(b);
		return WEFT_ENOMEM;
	}
	*out = b;
	return 0;
}

void
balance_free(struct balance *b)
{
	if (b == NULL)
		return;
	outlier_free(b->outlier);
	free(b->e);
	free(b);
}

static size_t
hash(const uint8_t id[KEY_ID_LEN], uint16_t port)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < KEY_ID_LEN; i++)
		h = (h ^ id[i]) * 1099511628211ull;
	h = (h ^ port) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

static struct bentry *
find(const struct balance *b, const uint8_t id[KEY_ID_LEN], uint16_t port)
{
	size_t mask = b->cap - 1;

	for (size_t i = hash(id, port) & mask;; i = (i + 1) & mask) {
		struct bentry *e = &b->e[i];

		if (!e->used)
			return NULL;
		if (e->port == port && memcmp(e->key_id, id, KEY_ID_LEN) == 0)
			return e;
	}
}

static void
place(struct bentry *tab, size_t cap, const struct bentry *src)
{
	size_t mask = cap - 1;
	size_t i = hash(src->key_id, src->port) & mask;

	while (tab[i].used)
		i = (i + 1) & mask;
	tab[i] = *src;
}

static int
rehash(struct balance *b, size_t cap)
{
	struct bentry *n = calloc(cap, sizeof(*n));

	if (n == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < b->cap; i++)
		if (b->e[i].used)
			place(n, cap, &b->e[i]);
	free(b->e);
	b->e = n;
	b->cap = cap;
	return 0;
}

static int
get(struct balance *b, const uint8_t id[KEY_ID_LEN], uint16_t port,
    struct bentry **out)
{
	struct bentry *e = find(b, id, port), fresh;
	int rc;

	if (e != NULL) {
		*out = e;
		return 0;
	}
	/* Keep the table at most half full so probes stay short. */
	if ((b->n + 1) * 2 > b->cap && (rc = rehash(b, b->cap * 2)) != 0)
		return rc;
	memset(&fresh, 0, sizeof(fresh));
	memcpy(fresh.key_id, id, KEY_ID_LEN);
	fresh.port = port;
	fresh.used = true;
	place(b->e, b->cap, &fresh);
	b->n++;
	*out = find(b, id, port);
	return 0;
}

static unsigned
outstanding_of(const struct balance *b, const struct table_endpoint *ep)
{
	const struct bentry *e = find(b, ep->key_id, ep->port);

	return e != NULL ? e->outstanding : 0;
}

static struct outlier_key
okey(const struct table_endpoint *ep)
{
	struct outlier_key k;

	k.service = ep->service;
	memcpy(k.key_id, ep->key_id, KEY_ID_LEN);
	k.port = ep->port;
	return k;
}

/* The ejection is mirrored in the endpoint's entry when it happens, so
 * a pick asks the hash table, not outlier detection's list. */
bool
balance_is_ejected(const struct balance *b, const struct table_endpoint *ep,
                   int64_t now_ms)
{
	const struct bentry *e = find(b, ep->key_id, ep->port);

	return e != NULL && e->eject_until > now_ms;
}

/* An ejection told to the log has ended: count and tell its return. */
static void
note_return(struct balance *b, struct bentry *e,
            const struct table_endpoint *ep, int64_t now)
{
	if (e == NULL || e->eject_until == 0 || now < e->eject_until)
		return;
	e->eject_until = 0;
	b->stats.returns++;
	if (b->cfg.log != NULL)
		b->cfg.log(b->cfg.log_arg, BALANCE_EV_RETURNED, ep, now, 0);
}

static bool
in_backoff(const struct balance *b, const struct table_endpoint *ep,
           int64_t now)
{
	const struct bentry *e = find(b, ep->key_id, 0);

	return e != NULL && e->down_until > now;
}

/* Draws an index in [0, total) from 32 random bits, nearly uniformly:
 * the bias is at most total / 2^32. */
static uint64_t
draw(uint32_t r, uint64_t total)
{
	return ((uint64_t)r * total) >> 32;
}

static size_t
weighted(const struct table_endpoint *eps, const size_t *idx, size_t n,
         bool by_weight, uint64_t total, uint32_t r)
{
	uint64_t x;

	if (!by_weight)
		return idx[draw(r, n)];
	x = draw(r, total);
	for (size_t i = 0; i < n; i++) {
		if (x < eps[idx[i]].weight)
			return idx[i];
		x -= eps[idx[i]].weight;
	}
	return idx[n - 1];
}

int
balance_pick(struct balance *b, const struct table *t, const char *service,
             int64_t now_ms, const struct weft_rng *rng,
             const struct table_endpoint **out, struct balance_miss *miss)
{
	const struct table_endpoint *eps;
	size_t n, n_ok = 0, small[64], *idx = small;
	uint64_t total = 0;
	struct balance_miss m = {0};
	uint32_t r[2];
	size_t x, y;
	uint64_t lx, ly;
	int rc;

	*out = NULL;
	table_endpoints(t, service, &eps, &n);
	m.total = n;
	if (n > sizeof(small) / sizeof(small[0]) &&
	    (idx = malloc(n * sizeof(*idx))) == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (eps[i].member != TABLE_MEMBER_ALIVE)
			m.not_alive++;
		else if (!eps[i].healthy)
			m.unhealthy++;
		else if (eps[i].ejected || balance_is_ejected(b, &eps[i], now_ms))
			m.ejected++;
		else if (in_backoff(b, &eps[i], now_ms))
			m.backoff++;
		else {
			idx[n_ok++] = i;
			total += eps[i].weight;
		}
	}
	if (n_ok == 0) {
		if (miss != NULL)
			*miss = m;
		rc = WEFT_ENOENT;
		goto out;
	}
	if ((rc = weft_rng_fill(rng, r, sizeof(r))) != 0)
		goto out;
	x = weighted(eps, idx, n_ok, total > 0, total, r[0]);
	y = weighted(eps, idx, n_ok, total > 0, total, r[1]);
	/* Fewer outstanding streams per unit of weight wins:
	 * o_x / w_x < o_y / w_y, cross-multiplied; weight 0 counts as 1
	 * when every endpoint is drained. */
	lx = (uint64_t)outstanding_of(b, &eps[x]) *
	    (total > 0 ? eps[y].weight : 1);
	ly = (uint64_t)outstanding_of(b, &eps[y]) *
	    (total > 0 ? eps[x].weight : 1);
	*out = &eps[ly < lx ? y : x];
	if (miss != NULL)
		*miss = m;
out:
	if (idx != small)
		free(idx);
	return rc;
}

/* The cost P2C compares: peak-EWMA latency x (outstanding + 1), the
 * latency decayed by the time since its last sample. */
static uint64_t
cost_of(const struct balance *b, const struct table_endpoint *ep,
        int64_t now_ms)
{
	const struct bentry *e = find(b, ep->key_id, ep->port);
	struct ewma w;

	if (e == NULL) {
		ewma_init(&w);
		return ewma_cost(&w);
	}
	w = e->ew;
	w.outstanding = e->outstanding;
	ewma_decay(&w, &b->picker, now_ms);
	return ewma_cost(&w);
}

/* The index (into idx) of a draw by weight, skipping position skip
 * (n when none); total excludes the skipped weight. */
static size_t
draw_pos(const struct table_endpoint *eps, const size_t *idx, size_t n,
         bool by_weight, uint64_t total, size_t skip, uint32_t r)
{
	uint64_t x;
	size_t last = n;

	if (!by_weight) {
		size_t k = (size_t)draw(r, skip < n ? n - 1 : n);

		return skip < n && k >= skip ? k + 1 : k;
	}
	x = draw(r, total);
	for (size_t i = 0; i < n; i++) {
		if (i == skip)
			continue;
		last = i;
		if (x < eps[idx[i]].weight)
			return i;
		x -= eps[idx[i]].weight;
	}
	return last;
}

int
balance_pick_subset(struct balance *b, const struct table *t,
                    const char *service, const struct route_label *labels,
                    size_t n_labels, int64_t now_ms,
                    const struct weft_rng *rng,
                    const struct table_endpoint **out,
                    struct balance_miss *miss)
{
	const struct table_endpoint *eps;
	size_t n, n_ok = 0, small[64], *idx = small, pick;
	uint64_t total = 0;
	struct balance_miss m = {0};
	struct bentry *e;
	int rc = 0;

	*out = NULL;
	table_endpoints(t, service, &eps, &n);
	m.total = n;
	if (n > sizeof(small) / sizeof(small[0]) &&
	    (idx = malloc(n * sizeof(*idx))) == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct bentry *pe = find(b, eps[i].key_id, eps[i].port);

		note_return(b, pe, &eps[i], now_ms);
		if (!table_endpoint_matches(&eps[i], labels, n_labels))
			m.unlabelled++;
		else if (eps[i].member != TABLE_MEMBER_ALIVE)
			m.not_alive++;
		else if (!eps[i].healthy)
			m.unhealthy++;
		else if (eps[i].ejected || (pe != NULL && pe->eject_until > now_ms))
			m.ejected++;
		else if (in_backoff(b, &eps[i], now_ms))
			m.backoff++;
		else {
			idx[n_ok++] = i;
			total += eps[i].weight;
		}
	}
	if (miss != NULL)
		*miss = m;
	if (n_ok == 0) {
		rc = WEFT_ENOENT;
		goto out;
	}
	/* Drained endpoints (weight 0) only when nothing has weight. */
	if (total > 0) {
		size_t w = 0;

		for (size_t i = 0; i < n_ok; i++)
			if (eps[idx[i]].weight > 0)
				idx[w++] = idx[i];
		n_ok = w;
	}
	if (b->cfg.lb == BALANCE_LB_ROUND_ROBIN) {
		uint64_t best = UINT64_MAX;
		const struct bentry *pe;

		/* The least recently picked: round robin over whatever the
		 * usable set is now, per service, with no position to keep. */
		pick = 0;
		for (size_t i = 0; i < n_ok; i++) {
			pe = find(b, eps[idx[i]].key_id, eps[idx[i]].port);
			if ((pe != NULL ? pe->last_pick : 0) < best) {
				best = pe != NULL ? pe->last_pick : 0;
				pick = i;
			}
		}
	} else if (n_ok == 1) {
		pick = 0;
	} else {
		uint32_t r[2];
		size_t x, y;

		if ((rc = weft_rng_fill(rng, r, sizeof(r))) != 0)
			goto out;
		x = draw_pos(eps, idx, n_ok, total > 0, total, n_ok, r[0]);
		y = draw_pos(eps, idx, n_ok, total > 0,
		    total - eps[idx[x]].weight, x, r[1]);
		pick = cost_of(b, &eps[idx[y]], now_ms) <
		    cost_of(b, &eps[idx[x]], now_ms) ?
		    y : x;
	}
	*out = &eps[idx[pick]];
	/* Remembered for the share of ejections and for round robin; out
	 * of memory only loses that. */
	if (get(b, (*out)->key_id, (*out)->port, &e) == 0) {
		e->n_service = n;
		e->last_pick = ++b->picks;
	}
out:
	if (idx != small)
		free(idx);
	return rc;
}

void
balance_request_done(struct balance *b, const struct table_endpoint *ep,
                     int64_t now_ms, int64_t latency_ms,
                     enum balance_result r)
{
	if (latency_ms < 0)
		latency_ms = 0;
	if (latency_ms > (int64_t)(EWMA_COST_MAX_US / 1000))
		latency_ms = (int64_t)(EWMA_COST_MAX_US / 1000);
	balance_request_done_us(b, ep, now_ms, latency_ms * 1000, r);
}

void
balance_request_done_us(struct balance *b, const struct table_endpoint *ep,
                        int64_t now_ms, int64_t latency_us,
                        enum balance_result r)
{
	struct bentry *e;
	struct outlier_key k = okey(ep);
	enum outlier_result o = r == BALANCE_5XX           ? OUTLIER_5XX
	                        : r == BALANCE_GATEWAY_ERROR ? OUTLIER_GATEWAY
	                                                     : OUTLIER_OK;
	bool ejected = false;
	unsigned outstanding;
	uint64_t rtt_us;

	b->stats.requests++;
	if (r != BALANCE_OK)
		b->stats.errors++;
	if (get(b, ep->key_id, ep->port, &e) != 0)
		return;
	note_return(b, e, ep, now_ms);
	outstanding = e->ew.outstanding;
	rtt_us = latency_us > (int64_t)EWMA_COST_MAX_US ? EWMA_COST_MAX_US :
	    (uint64_t)(latency_us > 0 ? latency_us : 0);
	/* A gateway error that came back fast (refused, reset) must not
	 * make an endpoint look fast; a slow one (a timeout) should make it
	 * look slow.  Answers always teach latency. */
	if (latency_us >= 0 &&
	    (r != BALANCE_GATEWAY_ERROR || rtt_us >= ewma_latency_us(&e->ew)))
		ewma_done(&e->ew, &b->picker, rtt_us, now_ms);
	e->ew.outstanding = outstanding;
	if (outlier_report(b->outlier, &k, o,
	    e->n_service > 0 ? e->n_service : 1, now_ms, &ejected) != 0 ||
	    !ejected)
		return;
	e->eject_until = outlier_ejected_until(b->outlier, &k, now_ms);
	b->stats.ejections++;
	if (b->cfg.log != NULL)
		b->cfg.log(b->cfg.log_arg, BALANCE_EV_EJECTED, ep, now_ms,
		    e->eject_until);
}

int
balance_eject(struct balance *b, const struct table_endpoint *ep,
              size_t n_service, int64_t now_ms, int64_t for_ms)
{
	struct bentry *e;
	struct outlier_key k = okey(ep);
	bool ejected = false;
	int rc;

	if ((rc = get(b, ep->key_id, ep->port, &e)) != 0)
		return rc;
	rc = outlier_eject(b->outlier, &k, n_service > 0 ? n_service : 1,
	                   now_ms, for_ms, &ejected);
	if (rc == 0 && ejected) {
		e->eject_until = outlier_ejected_until(b->outlier, &k, now_ms);
		b->stats.ejections++;
	}
	return rc;
}

void
balance_stats(const struct balance *b, struct balance_stats *out)
{
	*out = b->stats;
}

int
balance_stream_started(struct balance *b, const struct table_endpoint *ep)
{
	struct bentry *e;
	int rc = get(b, ep->key_id, ep->port, &e);

	if (rc == 0)
		e->outstanding++;
	return rc;
}

void
balance_stream_ended(struct balance *b, const struct table_endpoint *ep)
{
	struct bentry *e = find(b, ep->key_id, ep->port);

	if (e != NULL && e->outstanding > 0)
		e->outstanding--;
}

unsigned
balance_outstanding(const struct balance *b, const struct table_endpoint *ep)
{
	return outstanding_of(b, ep);
}

int
balance_connect_failed(struct balance *b, const struct table_endpoint *ep,
                       int64_t now_ms)
{
	struct bentry *e;
	int64_t d = b->cfg.backoff_base_ms;
	int rc = get(b, ep->key_id, 0, &e);

	if (rc != 0)
		return rc;
	for (unsigned i = 0; i < e->failures && d < b->cfg.backoff_max_ms; i++)
		d *= 2;
	if (d > b->cfg.backoff_max_ms)
		d = b->cfg.backoff_max_ms;
	if (e->failures < 64)
		e->failures++;
	e->down_until = now_ms > INT64_MAX - d ? INT64_MAX : now_ms + d;
	return 0;
}

void
balance_connect_ok(struct balance *b, const struct table_endpoint *ep)
{
	struct bentry *e = find(b, ep->key_id, 0);

	if (e != NULL) {
		e->failures = 0;
		e->down_until = 0;
	}
}

int64_t
balance_backoff_until(const struct balance *b, const struct table_endpoint *ep)
{
	const struct bentry *e = find(b, ep->key_id, 0);

	return e != NULL ? e->down_until : 0;
}

void
balance_gc(struct balance *b, int64_t now_ms)
{
	struct bentry *old = b->e;
	size_t cap = b->cap, n = 0;
	struct bentry *fresh = calloc(cap, sizeof(*fresh));

	outlier_gc(b->outlier, now_ms);
	/* Out of memory: keep everything, try again next time. */
	if (fresh == NULL)
		return;
	for (size_t i = 0; i < cap; i++) {
		const struct bentry *e = &old[i];

		/* A node that failed lately is kept, so that failing again
		 * soon after its back-off keeps doubling it. */
		if (!e->used || (e->outstanding == 0 && e->eject_until == 0 &&
		    (e->failures == 0 ||
		    e->down_until <= now_ms - b->cfg.backoff_max_ms)))
			continue;
		place(fresh, cap, e);
		n++;
	}
	free(old);
	b->e = fresh;
	b->n = n;
}

size_t
balance_entries(const struct balance *b)
{
	return b->n;
}
