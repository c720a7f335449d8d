/*
 * Fuzz target: the HTTP/1.1 front end (proxy/h1.c).
 *
 * Input: byte 0 sets the piece size the rest is fed in (1-16, so heads
 * and chunk lines split everywhere) and bit 4 a small head limit; the
 * rest is what an app writes.  Checked: every head delivered holds
 * NUL-ended strings of the lengths given, no hop-by-hop or framing-
 * ambiguous field and a path; bodies only between a head and its end; a
 * refusal has a known status and a reason that h1_write_error() can send,
 * and nothing more is taken after it.  Each head also goes through
 * h1h2_request_nv(), the HTTP/2 block it becomes on the mesh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/err.h"
#include "proxy/h1.h"
#include "proxy/h1h2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct st {
	int heads, ends;
	bool in_msg, tunnel;
};

static int
on_head(void *ctx, const struct h1_head *h)
{
	struct st *s = ctx;

	if (s->in_msg || s->tunnel)
		abort();
	s->in_msg = true;
	s->heads++;
	if (h->method == NULL || h->path == NULL || h->authority == NULL ||
	    h->target == NULL || (h->chunked && h->has_length))
		abort();
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct h1_header *f = &h->headers[i];

		if (strlen(f->name) != f->name_len ||
		    strlen(f->value) != f->value_len || f->name_len == 0)
			abort();
		if (strcasecmp(f->name, "transfer-encoding") == 0 ||
		    strcasecmp(f->name, "connection") == 0 ||
		    strcasecmp(f->name, "host") == 0 ||
		    strpbrk(f->value, "\r\n") != NULL)
			abort();
	}
	if (h->upgrade)
		s->tunnel = true;
	/* The HTTP/2 block for the mesh holds the four pseudo-fields and
	 * every field, in lowercase. */
	{
		static nghttp2_nv nv[4 + 2 * H1_MAX_HEADERS];
		static char scratch[H1_MAX_HEAD_BYTES];
		size_t n;
		int rc = h1h2_request_nv(h, nv, sizeof(nv) / sizeof(nv[0]), &n,
		                         scratch, sizeof(scratch));

		if (h->authority[0] == '\0') {
			if (rc != WEFT_EINVAL)
				abort();
		} else if (rc != 0 || n != 4 + h->n_headers) {
			abort();
		} else {
			for (size_t i = 4; i < n; i++)
				for (size_t j = 0; j < nv[i].namelen; j++)
					if (nv[i].name[j] >= 'A' &&
					    nv[i].name[j] <= 'Z')
						abort();
		}
	}
	return 0;
}

static int
on_body(void *ctx, const uint8_t *p, size_t n)
{
	struct st *s = ctx;

	if (!s->in_msg || n == 0 || p == NULL)
		abort();
	return 0;
}

static int
on_end(void *ctx)
{
	struct st *s = ctx;

	if (!s->in_msg)
		abort();
	s->in_msg = false;
	s->ends++;
	return s->ends % 3 == 0 ? H1_PAUSE : 0;
}

static int
on_tunnel(void *ctx, const uint8_t *p, size_t n)
{
	struct st *s = ctx;

	if (!s->tunnel || n == 0 || p == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st s = {0};
	struct h1_sink sink = {on_head, on_body, on_end, on_tunnel, &s};
	struct h1_limits small = {.max_head_bytes = 256, .max_headers = 8};
	struct h1_parser *p;
	size_t step, off = 1;
	int rc = 0;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] & 15) + 1;
	if (h1_parser_new(data[0] & 16 ? &small : NULL, &sink, &p) != 0)
		return 0;
	while (off < size && rc == 0) {
		size_t n = size - off < step ? size - off : step, used;

		rc = h1_feed(p, data + off, n, &used);
		if (used > n)
			abort();
		if (rc == 0 && used < n && used == 0 && !h1_idle(p))
			abort();
		off += rc == 0 ? used : n;
	}
	if (rc == WEFT_EMALFORMED) {
		int status;
		const char *why;
		uint8_t mem[1024];
		struct buf b;
		size_t used;

		h1_error(p, &status, &why);
		if (status != 400 && status != 405 && status != 417 &&
		    status != 431 && status != 501 && status != 505)
			abort();
		if (why == NULL || why[0] == '\0')
			abort();
		buf_init(&b, mem, sizeof(mem));
		if (h1_write_error(&b, status, why, "fuzz", false) != 0)
			abort();
		if (h1_feed(p, (const uint8_t *)"x", 1, &used) != WEFT_ECLOSED)
			abort();
	} else if (rc != 0) {
		abort();
	}
	h1_parser_free(p);
	return 0;
}
