/*
 * Fuzz target: an app's HTTP/1.1 response read for the mesh.  The first
 * byte picks the request kind (HEAD, upgrade) and how the rest is split
 * into reads; whatever the input, the reader either refuses with a reason
 * or hands out a head whose fields HTTP/2 can carry (lowercase token
 * names, no connection-specific or weft-* field) and never more body than
 * it was given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/http_back_resp.h"
#include "common/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct acc {
	size_t body, given;
	int heads, ends;
};

static void
check_fields(const nghttp2_nv *nv, size_t n, size_t from)
{
	for (size_t i = from; i < n; i++) {
		if (nv[i].namelen == 0 || nv[i].name[0] == ':')
			abort();
		for (size_t j = 0; j < nv[i].namelen; j++)
			if (nv[i].name[j] >= 'A' && nv[i].name[j] <= 'Z')
				abort();
		if (nghttp2_check_header_name(nv[i].name, nv[i].namelen) == 0)
			abort();
		if ((nv[i].namelen >= 5 &&
		     memcmp(nv[i].name, "weft-", 5) == 0) ||
		    (nv[i].namelen == 17 &&
		     memcmp(nv[i].name, "transfer-encoding", 17) == 0) ||
		    (nv[i].namelen == 10 &&
		     memcmp(nv[i].name, "connection", 10) == 0))
			abort();
		for (size_t j = 0; j < nv[i].valuelen; j++)
			if (nv[i].value[j] == '\r' || nv[i].value[j] == '\n' ||
			    nv[i].value[j] == '\0')
				abort();
	}
}

static int
f_head(void *ctx, const struct http_resp_head *h)
{
	struct acc *a = ctx;

	a->heads++;
	if (h->n == 0 || h->status < 101 || h->status > 599 ||
	    h->nv[0].namelen != 7 || memcmp(h->nv[0].name, ":status", 7) != 0)
		abort();
	check_fields(h->nv, h->n, 1);
	return 0;
}

static int
f_body(void *ctx, const uint8_t *p, size_t n)
{
	struct acc *a = ctx;

	(void)p;
	a->body += n;
	if (a->heads != 1 || a->body > a->given)
		abort();
	return 0;
}

static int
f_end(void *ctx, const nghttp2_nv *t, size_t n)
{
	struct acc *a = ctx;

	a->ends++;
	if (a->heads != 1 || a->ends != 1)
		abort();
	check_fields(t, n, 0);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acc a = {0};
	struct http_resp_sink sink = {f_head, f_body, f_end, &a};
	struct http_resp *r;
	size_t off = 1, step, used;
	int rc = 0;

	if (size < 1 || http_resp_new(&sink, &r) != 0)
		return 0;
	a.given = size;
	http_resp_expect(r, data[0] & 1, (data[0] & 2) != 0);
	step = (size_t)(data[0] >> 2) + 1;
	while (off < size) {
		size_t n = size - off < step ? size - off : step;

		rc = http_resp_feed(r, data + off, n, &used);
		if (used > n)
			abort();
		off += used;
		if (rc != 0 || used < n)
			break;
	}
	if (rc == WEFT_EMALFORMED && http_resp_error(r)[0] == '\0')
		abort();
	if (rc == 0 && off == size)
		(void)http_resp_eof(r);
	http_resp_free(r);
	return 0;
}
