/*
 * Byte queues made of fixed-size chunks from a per-connection pool.
 *
 * A stream's buffered bytes live in chunks that never move: a view that
 * chunkq_peek() gives stays valid until those bytes are consumed, so the
 * agent may hand it to a socket write that completes later.  Consumed
 * chunks go back to the pool, which keeps at most max_free of them, so a
 * busy connection allocates nothing per packet and an idle one holds
 * little memory.
 */
#ifndef WEFT_PROXY_CHUNKQ_H
#define WEFT_PROXY_CHUNKQ_H

#include <stddef.h>
#include <stdint.h>

#define CHUNK_SIZE 16384

struct chunk {
	struct chunk *next;
	size_t off; /* first unread byte */
	size_t end; /* one past the last written byte */
	uint8_t data[CHUNK_SIZE];
};

struct chunk_pool {
	struct chunk *free;
	size_t n_free;
	size_t max_free;
	size_t n_live; /* chunks handed out and not yet returned */
};

struct chunkq {
	struct chunk *head;
	struct chunk *tail;
	size_t len;
	struct chunk *spare; /* reserved (chunkq_reserve), not yet linked */
};

void chunk_pool_init(struct chunk_pool *pool, size_t max_free);
/* Frees the pooled chunks; chunks still in queues are the queues'. */
void chunk_pool_fini(struct chunk_pool *pool);

void chunkq_init(struct chunkq *q);
/*
 * Appends up to n bytes; *added says how many went in (fewer only when
 * memory ran out, then WEFT_ENOMEM is returned).
 */
int chunkq_append(struct chunkq *q, struct chunk_pool *pool, const void *p,
                  size_t n, size_t *added);
/* The first contiguous run of bytes (len 0 when empty). */
void chunkq_peek(const struct chunkq *q, const uint8_t **p, size_t *len);
/* Drops n bytes (at most len) from the front. */
void chunkq_consume(struct chunkq *q, struct chunk_pool *pool, size_t n);
/* Copies up to cap bytes out and consumes them; returns how many. */
size_t chunkq_take(struct chunkq *q, struct chunk_pool *pool, uint8_t *out,
                   size_t cap);
/*
 * Room to write up to max bytes in place, after the last byte: the tail
 * chunk's free end, or a new chunk held aside until bytes are committed
 * (so a reservation nobody fills leaves no empty chunk in the queue).
 * *len is 0 when memory ran out (WEFT_ENOMEM).  Valid until the next call
 * on q; at most one reservation at a time.
 */
int chunkq_reserve(struct chunkq *q, struct chunk_pool *pool, size_t max,
                   uint8_t **p, size_t *len);
/* The first n reserved bytes now hold data; 0 gives the room back. */
void chunkq_commit(struct chunkq *q, struct chunk_pool *pool, size_t n);
/* Gives every chunk back (a reserved one too). */
void chunkq_clear(struct chunkq *q, struct chunk_pool *pool);

#endif
