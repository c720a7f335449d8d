/*
 * An HTTP/1.1 app's response, read for the mesh, sans I/O: bytes from the
 * app in; the head as an HTTP/2 field list, body pieces and trailers out
 * through callbacks.
 *
 * Parsing rides on http-parser in response mode, strictly, because what
 * comes out is re-framed for HTTP/2 and must mean one thing: refused
 * (http_resp_error() says why; the remote side answers 502) are a
 * response with both Content-Length and Transfer-Encoding, Content-Length
 * twice or not plain digits, a transfer coding other than exactly
 * "chunked", bad chunk framing, a bare CR or LF or a control character in
 * the head, obsolete line folding, a head over HTTP_RESP_HEAD_MAX bytes
 * or HTTP_RESP_FIELDS_MAX fields, a status outside 100..599, a 101 that
 * was not asked for, and bytes after a response the app was not asked
 * for.
 *
 * Interim responses (1xx but 101) are skipped.  Field names come out
 * lowercased; hop-by-hop fields (Connection and what it names,
 * Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade,
 * Host) and any weft-* field (an app must not speak for weft) are left
 * out, in the head and in trailers; Content-Length stays in the head (it
 * describes the body, or for HEAD and 304 the GET's).  Pure: no sockets.
 */
#ifndef WEFT_AGENT_HTTP_BACK_RESP_H
#define WEFT_AGENT_HTTP_BACK_RESP_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The mesh's own limits on a header block (proxy/mesh.h). */
#define HTTP_RESP_HEAD_MAX (64u * 1024)
#define HTTP_RESP_FIELDS_MAX 127 /* plus :status */

struct http_resp_head {
	int status;
	/* :status first, then the end-to-end fields.  Valid during on_head
	 * only. */
	const nghttp2_nv *nv;
	size_t n;
	bool upgraded;   /* a 101 to an upgrade request: a tunnel follows */
	bool keep_alive; /* the connection may carry another request */
	bool has_body;   /* body pieces (maybe none) and on_end follow */
};

struct http_resp_sink {
	int (*on_head)(void *ctx, const struct http_resp_head *h);
	int (*on_body)(void *ctx, const uint8_t *p, size_t n);
	/* The response ended; trailers (n 0: none) are valid during the
	 * call only.  Not called after an upgrade's head. */
	int (*on_end)(void *ctx, const nghttp2_nv *trailers, size_t n);
	void *ctx;
};

struct http_resp;

/* sink is copied. */
int http_resp_new(const struct http_resp_sink *sink, struct http_resp **out);
void http_resp_free(struct http_resp *r);

/*
 * Reads the answer to the next request: head_request (no body whatever
 * the fields say), upgrade (a 101 is welcome).  Call before feeding the
 * first byte of each response.
 */
void http_resp_expect(struct http_resp *r, bool head_request, bool upgrade);

/*
 * Parses len bytes.  Returns 0 with *consumed == len, or with less once
 * the response ended (on_end) or was upgraded (on_head with upgraded):
 * the rest is the tunnel after an upgrade, and garbage otherwise (the
 * caller does not reuse the connection).  WEFT_EMALFORMED when the
 * response is refused (http_resp_error()); afterwards every call returns
 * WEFT_ECLOSED.  A negative code a callback returned, as is.
 */
int http_resp_feed(struct http_resp *r, const uint8_t *data, size_t len,
                   size_t *consumed);

/*
 * The app closed its side.  Ends a body read until close (on_end, 0);
 * WEFT_ETRUNC when a response was under way otherwise (cut short), or
 * none had started; 0 when the parser was idle after a complete one.
 */
int http_resp_eof(struct http_resp *r);

/* Why the response was refused (a short static sentence), or "". */
const char *http_resp_error(const struct http_resp *r);

/* Whether a response is under way (head or body partly read). */
bool http_resp_busy(const struct http_resp *r);

#endif
