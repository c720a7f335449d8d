/*
 * Bounded byte buffers.  A writer never grows past the capacity it was
 * given: the first write that does not fit sets a sticky error and every
 * later write is ignored, so encoders check once at the end.  A reader
 * never reads past its end.
 */
#ifndef WEFT_COMMON_BUF_H
#define WEFT_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data; /* caller's memory, not owned */
	size_t len;
	size_t cap;
	int err; /* 0, or WEFT_ENOSPACE once a write did not fit */
};

void buf_init(struct buf *b, void *mem, size_t cap);
void buf_reset(struct buf *b);
int buf_put(struct buf *b, const void *p, size_t n);
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16be(struct buf *b, uint16_t v);
int buf_put_u32be(struct buf *b, uint32_t v);
int buf_put_u64be(struct buf *b, uint64_t v);

struct rd {
	const uint8_t *p; /* not owned */
	size_t len;
	size_t off;
};

void rd_init(struct rd *r, const void *p, size_t len);
size_t rd_left(const struct rd *r);
int rd_u8(struct rd *r, uint8_t *v);
int rd_u16be(struct rd *r, uint16_t *v);
int rd_u32be(struct rd *r, uint32_t *v);
int rd_u64be(struct rd *r, uint64_t *v);
/* Copies n bytes out. */
int rd_bytes(struct rd *r, void *out, size_t n);
/* Points *out at the next n bytes, inside the reader's memory. */
int rd_view(struct rd *r, const uint8_t **out, size_t n);

/* Big-endian helpers for fixed headers. */
static inline void
put_u16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint16_t
get_u16be(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

#endif
