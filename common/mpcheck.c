#include "common/err.h"
#include "common/mpcheck.h"

static uint64_t
be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * One header: how many header bytes, how many raw payload bytes follow,
 * and how many child objects it announces.
 */
static int
header(const uint8_t *p, size_t left, size_t *hdr, uint64_t *raw,
       uint64_t *children)
{
	uint8_t t = p[0];
	unsigned n = 0;

	*raw = 0;
	*children = 0;
	*hdr = 1;
	if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
		return 0; /* fixint, negative fixint, nil, false, true */
	if (t >= 0x80 && t <= 0x8f) {
		*children = 2u * (t & 0x0f);
		return 0;
	}
	if (t >= 0x90 && t <= 0x9f) {
		*children = t & 0x0f;
		return 0;
	}
	if (t >= 0xa0 && t <= 0xbf) {
		*raw = t & 0x1f;
		return 0;
	}
	switch (t) {
	case 0xc1:
		return WEFT_EMALFORMED; /* never used */
	case 0xcc: case 0xd0: *raw = 1; return 0;
	case 0xcd: case 0xd1: *raw = 2; return 0;
	case 0xca: case 0xce: case 0xd2: *raw = 4; return 0;
	case 0xcb: case 0xcf: case 0xd3: *raw = 8; return 0;
	case 0xd4: *raw = 2; return 0; /* fixext: type byte + data */
	case 0xd5: *raw = 3; return 0;
	case 0xd6: *raw = 5; return 0;
	case 0xd7: *raw = 9; return 0;
	case 0xd8: *raw = 17; return 0;
	case 0xc4: case 0xd9: n = 1; break; /* bin8, str8 */
	case 0xc5: case 0xda: n = 2; break;
	case 0xc6: case 0xdb: n = 4; break;
	case 0xc7: case 0xc8: case 0xc9: /* ext 8/16/32: length, then type */
		n = t == 0xc7 ? 1 : t == 0xc8 ? 2 : 4;
		if (left < 1 + (size_t)n)
			return WEFT_ETRUNC;
		*hdr = 1 + n;
		*raw = be(p + 1, n) + 1;
		return 0;
	case 0xdc: case 0xde: n = 2; break; /* array16, map16 */
	case 0xdd: case 0xdf: n = 4; break;
	default:
		return WEFT_EMALFORMED;
	}
	if (left < 1 + (size_t)n)
		return WEFT_ETRUNC;
	*hdr = 1 + n;
	if (t == 0xdc || t == 0xdd)
		*children = be(p + 1, n);
	else if (t == 0xde || t == 0xdf)
		*children = 2 * be(p + 1, n);
	else
		*raw = be(p + 1, n);
	return 0;
}

int
mpcheck_object(const uint8_t *p, size_t len, unsigned max_depth,
               size_t *obj_len)
{
	/* pending[d]: objects still to read at depth d. */
	uint64_t pending[MPCHECK_MAX_DEPTH + 1];
	unsigned depth = 0;
	size_t off = 0;

	if (max_depth > MPCHECK_MAX_DEPTH)
		max_depth = MPCHECK_MAX_DEPTH;
	pending[0] = 1;
	for (;;) {
		size_t hdr;
		uint64_t raw, children;
		int rc;

		while (pending[depth] == 0) {
			if (depth == 0) {
				*obj_len = off;
				return 0;
			}
			depth--;
		}
		if (off >= len)
			return WEFT_ETRUNC;
		rc = header(p + off, len - off, &hdr, &raw, &children);
		if (rc)
			return rc;
		pending[depth]--;
		off += hdr;
		if (raw > len - off)
			return WEFT_ETRUNC;
		off += (size_t)raw;
		if (children == 0)
			continue;
		/* Every child takes at least one byte. */
		if (children > len - off)
			return WEFT_ETRUNC;
		if (depth + 1 > max_depth)
			return WEFT_EMALFORMED;
		pending[++depth] = children;
	}
}
