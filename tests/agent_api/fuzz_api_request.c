/*
 * Fuzz target api_request: request bytes through the local API's pure
 * path (reader, dispatch, writer) to response bytes.
 *
 * The first byte picks the peer (owner, root or stranger) and a chunk
 * size; the rest is fed once whole and once in chunks.  Both runs must
 * answer the same requests with the same bytes and either both refuse the
 * stream or neither.  Which refusal may differ: limits are checked as
 * http-parser hands pieces over, so a header line over the limit and a
 * bad byte further on are found in either order.  Interim 100 Continue
 * depends on where the body is cut, so its runs are not compared.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_test_routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Returns the refusal status, and trims out to the answers before it. */
static int
run(const char *in, size_t len, size_t chunk, uint32_t uid,
    struct api_out *out)
{
	static const struct api_http_limits lim = {2048, 4096};
	struct api_table t = {test_routes,
	                      sizeof(test_routes) / sizeof(test_routes[0]), NULL,
	                      TEST_OWNER_UID};
	struct api_conn c;
	int status;

	if (api_conn_init(&c, &lim, uid) != 0)
		abort();
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		if (api_conn_feed(&c, &t, in + off, n, out) != 0)
			break;
	}
	status = c.error_status;
	if (status != 0) {
		if (status < 400 || c.error_at > out->len ||
		    memcmp(out->data + c.error_at, "HTTP/1.1 ", 9) != 0)
			abort();
		out->len = c.error_at;
	}
	api_conn_fini(&c);
	return status;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t uids[] = {TEST_OWNER_UID, 0, 4242, 65534};
	struct api_out whole, pieces;
	uint32_t uid;
	size_t chunk;
	int e1, e2;

	if (size < 1)
		return 0;
	uid = uids[data[0] & 3];
	chunk = (size_t)(data[0] >> 2) + 1;
	api_out_init(&whole);
	api_out_init(&pieces);
	e1 = run((const char *)data + 1, size - 1, size, uid, &whole);
	e2 = run((const char *)data + 1, size - 1, chunk, uid, &pieces);
	if (whole.len > 0 && memcmp(whole.data, "HTTP/1.1 ", 9) != 0)
		abort();
	/* memmem wants real pointers even for empty outputs. */
	if ((whole.len == 0 ||
	     memmem(whole.data, whole.len, " 100 Continue", 13) == NULL) &&
	    (pieces.len == 0 ||
	     memmem(pieces.data, pieces.len, " 100 Continue", 13) == NULL) &&
	    ((e1 != 0) != (e2 != 0) || whole.len != pieces.len ||
	     (whole.len && memcmp(whole.data, pieces.data, whole.len) != 0)))
		abort();
	api_out_free(&whole);
	api_out_free(&pieces);
	return 0;
}
