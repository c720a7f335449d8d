/*
 * The HTTP/1.1 front end, sans I/O: bytes from the app in, request heads
 * and body pieces out through callbacks; and a response writer into the
 * caller's buffer.
 *
 * Parsing rides on http-parser, with checks of our own where it is
 * lenient, so that a request can never be read two ways (RFC 9112 §11.2,
 * request smuggling).  Refused with a status and a reason, after which the
 * parser takes no more input and the caller answers (h1_write_error) and
 * closes:
 *  - both Content-Length and Transfer-Encoding; Content-Length twice (even
 *    with equal values) or not plain digits; Transfer-Encoding twice or
 *    other than exactly "chunked" (501), or in HTTP/1.0;
 *  - a bare CR or a bare LF anywhere in the head, obsolete line folding,
 *    control characters, a malformed header line;
 *  - a head over max_head_bytes or with over max_headers fields (431);
 *  - a bad chunk size or chunk framing;
 *  - HTTP/1.1 without exactly one valid Host, a target not in origin,
 *    absolute or asterisk form, CONNECT (405), a version other than 1.x
 *    (505), an Expect other than 100-continue (417).
 * Body bytes are handed on as they arrive, never gathered.  Trailers of a
 * chunked request are checked for size and dropped (RFC 9110 §6.5.1
 * lets a recipient discard them).
 */
#ifndef WEFT_PROXY_H1_H
#define WEFT_PROXY_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define H1_MAX_HEAD_BYTES 16384
#define H1_MAX_HEADERS 100
#define H1_HEAD_BYTES_CAP 1048576 /* a limit above this is clamped */

struct h1_limits {
	size_t max_head_bytes; /* request line and fields; 0: default */
	size_t max_headers;    /* 0: default */
};

struct h1_header {
	const char *name; /* NUL-terminated */
	size_t name_len;
	const char *value; /* NUL-terminated, surrounding blanks trimmed */
	size_t value_len;
};

/* A request head.  Every pointer lives until the next h1_feed(). */
struct h1_head {
	const char *method;
	const char *target;    /* as sent */
	const char *path;      /* origin form: "/a?b", or "*" */
	const char *authority; /* from an absolute target, else Host */
	int version_minor;     /* HTTP/1.<minor> */
	/* End-to-end fields: hop-by-hop ones (Connection and what it names,
	 * Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
	 * Upgrade) and Host are left out. */
	const struct h1_header *headers;
	size_t n_headers;
	bool chunked;
	bool has_length;
	uint64_t content_length; /* when has_length */
	bool keep_alive;
	bool expect_continue;
	bool upgrade;             /* the rest of the connection is a tunnel */
	const char *upgrade_to;   /* the Upgrade field, when upgrade */
};

/* on_end's answer to stop after this request (keep pipelined ones). */
#define H1_PAUSE 1

struct h1_sink {
	int (*on_head)(void *ctx, const struct h1_head *h);
	int (*on_body)(void *ctx, const uint8_t *p, size_t n);
	/* 0 to go on, H1_PAUSE to return from h1_feed() right after. */
	int (*on_end)(void *ctx);
	/* Bytes after an upgrade's head, in order. */
	int (*on_tunnel)(void *ctx, const uint8_t *p, size_t n);
	void *ctx;
};

struct h1_parser;

/* sink is copied; limits NULL: defaults. */
int h1_parser_new(const struct h1_limits *limits, const struct h1_sink *sink,
                  struct h1_parser **out);
void h1_parser_free(struct h1_parser *p);

/*
 * Parses len bytes.  Returns 0 with *consumed == len, or with less when
 * on_end paused (feed the rest later); WEFT_EMALFORMED when the request
 * is refused (h1_error() says how), after which every call returns
 * WEFT_ECLOSED; a negative code a callback returned, as is.
 */
int h1_feed(struct h1_parser *p, const uint8_t *data, size_t len,
            size_t *consumed);
/* The status (400, 405, 417, 431, 501, 505) and reason of a refusal. */
void h1_error(const struct h1_parser *p, int *status, const char **reason);
/* Whether the parser sits between requests (nothing half read). */
bool h1_idle(const struct h1_parser *p);

/*
 * The CRLF after each chunk's data.  Debian's http-parser is built
 * without HTTP_PARSER_STRICT and skips those two bytes unread, so
 * "5\r\nhelloXX0\r\n\r\n" would be one chunk to weft and something else
 * to a stricter parser in front of or behind it.  A parser keeps one of
 * these: h1_chunk_end_feed() before each http_parser_execute() with the
 * same bytes, h1_chunk_end_body() from its on_body.  The bytes are only
 * read, never consumed: http-parser still walks over them.
 */
struct h1_chunk_end {
	const uint8_t *end; /* end of the bytes being executed */
	unsigned need;      /* bytes of the CRLF not yet seen: 0, 1 or 2 */
};

/* WEFT_EMALFORMED when d starts with something else than the rest of a
 * pending CRLF. */
int h1_chunk_end_feed(struct h1_chunk_end *c, const uint8_t *d, size_t n);
/* chunk_done: the parser is chunked and this body piece ends a chunk's
 * data (http-parser's content_length is 0).  WEFT_EMALFORMED when what
 * follows the piece within the executed bytes is not CRLF. */
int h1_chunk_end_body(struct h1_chunk_end *c, bool chunk_done,
                      const uint8_t *at, size_t n);

/* ---- responses ---- */

enum h1_framing {
	H1_BODY_NONE = 0, /* no body: 1xx, 204, 304, answers to HEAD */
	H1_BODY_LENGTH,   /* Content-Length: content_length */
	H1_BODY_CHUNKED,
	H1_BODY_CLOSE,    /* until the connection closes */
};

struct h1_response {
	int status;         /* 100..999 */
	const char *reason; /* NULL: the usual phrase */
	const struct h1_header *headers;
	size_t n_headers;
	enum h1_framing framing;
	uint64_t content_length;
	bool keep_alive; /* false: "Connection: close" */
};

/*
 * Writes the status line and fields.  Names must be tokens and values
 * free of CR, LF and NUL, and framing fields (Content-Length,
 * Transfer-Encoding, Connection) come from framing, not headers:
 * otherwise WEFT_EINVAL.  WEFT_ENOSPACE when b is too small.
 */
int h1_write_head(struct buf *b, const struct h1_response *r);
/* One chunk of a chunked body (nothing for n 0: that would end it). */
int h1_write_chunk(struct buf *b, const void *data, size_t n);
/* The last chunk, with trailers (checked as fields are). */
int h1_write_end(struct buf *b, const struct h1_header *trailers, size_t n);
int h1_write_continue(struct buf *b);
/* A response weft makes itself: status, a one-line text/plain body why,
 * and "x-weft-agent: agent". */
int h1_write_error(struct buf *b, int status, const char *why,
                   const char *agent, bool keep_alive);
const char *h1_reason(int status);

#endif
