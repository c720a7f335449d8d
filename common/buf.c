#include <string.h>

#include "common/buf.h"
#include "common/err.h"

void
buf_init(struct buf *b, void *mem, size_t cap)
{
	b->data = mem;
	b->len = 0;
	b->cap = cap;
	b->err = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->err = 0;
}

int
buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->err)
		return b->err;
	if (n > b->cap - b->len) {
		b->err = WEFT_ENOSPACE;
		return b->err;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

int
buf_put_u16be(struct buf *b, uint16_t v)
{
	uint8_t t[2];

	put_u16be(t, v);
	return buf_put(b, t, sizeof(t));
}

int
buf_put_u32be(struct buf *b, uint32_t v)
{
	uint8_t t[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
	                (uint8_t)v};

	return buf_put(b, t, sizeof(t));
}

int
buf_put_u64be(struct buf *b, uint64_t v)
{
	int rc = buf_put_u32be(b, (uint32_t)(v >> 32));

	return rc ? rc : buf_put_u32be(b, (uint32_t)v);
}

void
rd_init(struct rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

size_t
rd_left(const struct rd *r)
{
	return r->len - r->off;
}

int
rd_view(struct rd *r, const uint8_t **out, size_t n)
{
	if (n > rd_left(r))
		return WEFT_ETRUNC;
	*out = r->p + r->off;
	r->off += n;
	return 0;
}

int
rd_bytes(struct rd *r, void *out, size_t n)
{
	const uint8_t *v;
	int rc = rd_view(r, &v, n);

	if (rc == 0 && n)
		memcpy(out, v, n);
	return rc;
}

int
rd_u8(struct rd *r, uint8_t *v)
{
	return rd_bytes(r, v, 1);
}

int
rd_u16be(struct rd *r, uint16_t *v)
{
	const uint8_t *p;
	int rc = rd_view(r, &p, 2);

	if (rc == 0)
		*v = get_u16be(p);
	return rc;
}

int
rd_u32be(struct rd *r, uint32_t *v)
{
	const uint8_t *p;
	int rc = rd_view(r, &p, 4);

	if (rc == 0)
		*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		     (uint32_t)p[2] << 8 | p[3];
	return rc;
}

int
rd_u64be(struct rd *r, uint64_t *v)
{
	uint32_t hi, lo;
	int rc = rd_u32be(r, &hi);

	if (rc == 0)
		rc = rd_u32be(r, &lo);
	if (rc == 0)
		*v = (uint64_t)hi << 32 | lo;
	return rc;
}
