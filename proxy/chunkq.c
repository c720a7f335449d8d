#include "proxy/chunkq.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

void
chunk_pool_init(struct chunk_pool *pool, size_t max_free)
{
	pool->free = NULL;
	pool->n_free = 0;
	pool->max_free = max_free;
	pool->n_live = 0;
}

void
chunk_pool_fini(struct chunk_pool *pool)
{
	while (pool->free != NULL) {
		struct chunk *c = pool->free;

		pool->free = c->next;
		free(c);
	}
	pool->n_free = 0;
}

static struct chunk *
chunk_get(struct chunk_pool *pool)
{
	struct chunk *c = pool->free;

	if (c != NULL) {
		pool->free = c->next;
		pool->n_free--;
	} else if ((c = malloc(sizeof(*c))) == NULL) {
		return NULL;
	}
	c->next = NULL;
	c->off = 0;
	c->end = 0;
	pool->n_live++;
	return c;
}

static void
chunk_put(struct chunk_pool *pool, struct chunk *c)
{
	pool->n_live--;
	if (pool->n_free >= pool->max_free) {
		free(c);
		return;
	}
	c->next = pool->free;
	pool->free = c;
	pool->n_free++;
}

void
chunkq_init(struct chunkq *q)
{
	q->head = NULL;
	q->tail = NULL;
	q->len = 0;
	q->spare = NULL;
}

int
chunkq_append(struct chunkq *q, struct chunk_pool *pool, const void *p,
              size_t n, size_t *added)
{
	const uint8_t *src = p;
	size_t done = 0;

	while (done < n) {
		struct chunk *t = q->tail;
		size_t room, k;

		if (t == NULL || t->end == CHUNK_SIZE) {
			struct chunk *c = chunk_get(pool);

			if (c == NULL) {
				if (added != NULL)
					*added = done;
				return WEFT_ENOMEM;
			}
			if (t == NULL)
				q->head = c;
			else
				t->next = c;
			q->tail = c;
			t = c;
		}
		room = CHUNK_SIZE - t->end;
		k = n - done < room ? n - done : room;
		memcpy(t->data + t->end, src + done, k);
		t->end += k;
		done += k;
		q->len += k;
	}
	if (added != NULL)
		*added = done;
	return 0;
}

int
chunkq_reserve(struct chunkq *q, struct chunk_pool *pool, size_t max,
               uint8_t **p, size_t *len)
{
	struct chunk *t = q->tail;

	*p = NULL;
	*len = 0;
	if (max == 0)
		return 0;
	if (t == NULL || t->end == CHUNK_SIZE) {
		if (q->spare == NULL && (q->spare = chunk_get(pool)) == NULL)
			return WEFT_ENOMEM;
		t = q->spare;
	} else if (q->spare != NULL) {
		/* An earlier reservation nobody committed. */
		chunk_put(pool, q->spare);
		q->spare = NULL;
	}
	*p = t->data + t->end;
	*len = CHUNK_SIZE - t->end < max ? CHUNK_SIZE - t->end : max;
	return 0;
}

void
chunkq_commit(struct chunkq *q, struct chunk_pool *pool, size_t n)
{
	struct chunk *c = q->spare;

	q->spare = NULL;
	if (c != NULL) {
		if (n == 0) {
			chunk_put(pool, c);
			return;
		}
		if (q->tail == NULL)
			q->head = c;
		else
			q->tail->next = c;
		q->tail = c;
	}
	if (n == 0)
		return;
	q->tail->end += n;
	q->len += n;
}

void
chunkq_peek(const struct chunkq *q, const uint8_t **p, size_t *len)
{
	if (q->head == NULL) {
		*p = NULL;
		*len = 0;
		return;
	}
	*p = q->head->data + q->head->off;
	*len = q->head->end - q->head->off;
}

void
chunkq_consume(struct chunkq *q, struct chunk_pool *pool, size_t n)
{
	if (n > q->len)
		n = q->len;
	q->len -= n;
	while (n > 0) {
		struct chunk *h = q->head;
		size_t avail = h->end - h->off;
		size_t k = n < avail ? n : avail;

		h->off += k;
		n -= k;
		if (h->off == h->end) {
			q->head = h->next;
			if (q->head == NULL)
				q->tail = NULL;
			chunk_put(pool, h);
		}
	}
}

size_t
chunkq_take(struct chunkq *q, struct chunk_pool *pool, uint8_t *out,
            size_t cap)
{
	size_t done = 0;

	while (done < cap && q->len > 0) {
		const uint8_t *p;
		size_t len;

		chunkq_peek(q, &p, &len);
		if (len > cap - done)
			len = cap - done;
		memcpy(out + done, p, len);
		chunkq_consume(q, pool, len);
		done += len;
	}
	return done;
}

void
chunkq_clear(struct chunkq *q, struct chunk_pool *pool)
{
	while (q->head != NULL) {
		struct chunk *h = q->head;

		q->head = h->next;
		chunk_put(pool, h);
	}
	q->tail = NULL;
	q->len = 0;
	if (q->spare != NULL) {
		chunk_put(pool, q->spare);
		q->spare = NULL;
	}
}
