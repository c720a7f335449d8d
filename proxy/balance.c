#include "proxy/balance.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

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
};

struct balance {
	struct balance_config cfg;
	struct bentry *e;
	size_t cap; /* power of two */
	size_t n;
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
	b->cap = 16;
	if ((b->e = calloc(b->cap, sizeof(*b->e))) == NULL) {
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
		else if (eps[i].ejected)
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

	/* Out of memory: keep everything, try again next time. */
	if (fresh == NULL)
		return;
	for (size_t i = 0; i < cap; i++) {
		const struct bentry *e = &old[i];

		/* A node that failed lately is kept, so that failing again
		 * soon after its back-off keeps doubling it. */
		if (!e->used || (e->outstanding == 0 && (e->failures == 0 ||
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
