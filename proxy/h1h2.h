/*
 * HTTP/1.1 <-> HTTP/2 header mapping for requests crossing the mesh
 * (RFC 9113 §8.2-8.3): an app's HTTP/1.1 request becomes one HTTP/2
 * stream's header block, and an HTTP/2 answer becomes an HTTP/1.1
 * response head for that app; the remote side does the reverse for an
 * HTTP/1.1 app behind it (h1h2_request_h1).  Pure: arrays and buffers are
 * the caller's.
 */
#ifndef WEFT_PROXY_H1H2_H
#define WEFT_PROXY_H1H2_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "proxy/h1.h"

/*
 * The HTTP/2 request block for h: :method, :scheme "http", :authority,
 * :path, then h's fields with names lowercased (written into scratch),
 * keeping TE only as "trailers".  Pointers in nv point into h and
 * scratch.  WEFT_ENOSPACE when nv_cap or scratch is too small;
 * WEFT_EINVAL for an empty authority.
 */
int h1h2_request_nv(const struct h1_head *h, nghttp2_nv *nv, size_t nv_cap,
                    size_t *n, char *scratch, size_t scratch_len);

/*
 * An HTTP/2 response block to an HTTP/1.1 response head: :status gives
 * the status; other pseudo-fields and connection-specific fields are
 * left out; framing comes from content-length when given (and valid),
 * else chunked for HTTP/1.1 with keep-alive, else until close.  No body
 * for HEAD, 1xx, 204 and 304 (a HEAD answer keeps its content-length,
 * which describes the GET's body: the caller sends no body after it).
 * Fields point into nv.  WEFT_EMALFORMED for
 * a missing or bad :status or a bad content-length, WEFT_ENOSPACE when
 * hs_cap is too small.
 */
int h1h2_response_h1(const nghttp2_nv *nv, size_t n, bool head_request,
                     int version_minor, bool keep_alive,
                     struct h1_response *r, struct h1_header *hs,
                     size_t hs_cap);

/*
 * An HTTP/2 request block to HTTP/1.1 request bytes for an app: request
 * line from :method and :path, Host from :authority, the other fields,
 * and framing: content-length when given, else chunked when the stream
 * has a body (has_body), else none.  *chunked says which the body must
 * use (h1_write_chunk / h1_write_end).  WEFT_EMALFORMED for a missing
 * pseudo-field, a field the HTTP/2 rules forbid (connection-specific,
 * uppercase) or CR/LF/NUL anywhere.
 */
int h1h2_request_h1(const nghttp2_nv *nv, size_t n, bool has_body,
                    struct buf *b, bool *chunked);

#endif
