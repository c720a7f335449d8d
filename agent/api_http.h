/*
 * The local API's HTTP/1.1 layer, without I/O: a per-connection request
 * reader fed with whatever bytes arrived (http-parser does the syntax),
 * and a response writer that appends to a growable caller-owned buffer.
 *
 * Limits are the reader's job: the header block (request target, header
 * names and values, 4 bytes per header line) is capped at max_header
 * (431), the body at max_body (413), header lines at API_HTTP_MAX_HEADERS
 * and query parameters at API_HTTP_MAX_PARAMS.  Anything else wrong is 400
 * with a reason.  After an error the reader is dead: the caller answers
 * with api_http_error()'s status and reason and closes the connection.
 */
#ifndef WEFT_AGENT_API_HTTP_H
#define WEFT_AGENT_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#define API_HTTP_MAX_HEADER_DEFAULT (16u * 1024u)
#define API_HTTP_MAX_BODY_DEFAULT (1u << 20)
#define API_HTTP_MAX_HEADERS 64
#define API_HTTP_MAX_PARAMS 32

struct api_http_limits {
	size_t max_header; /* 0: API_HTTP_MAX_HEADER_DEFAULT */
	size_t max_body;   /* 0: API_HTTP_MAX_BODY_DEFAULT */
};

struct api_header {
	const char *name; /* as sent; compare case-insensitively */
	const char *value;
};

struct api_param {
	const char *key; /* percent-decoded, '+' read as space */
	const char *value; /* "" when the parameter had no '=' */
};

/*
 * One complete request.  Every pointer points into the reader's buffers:
 * valid until the next api_http_feed() or api_http_fini() on that reader.
 */
struct api_request {
	const char *method; /* "GET", "POST", ... */
	const char *target; /* the request target as sent */
	const char *path;   /* percent-decoded path without the query */
	const char *query;  /* raw query string without '?', "" when none */
	const struct api_param *params;
	size_t nparams;
	const struct api_header *headers;
	size_t nheaders;
	const char *body; /* NUL-terminated (the NUL is not counted) */
	size_t body_len;
	bool keep_alive;   /* false: answer with Connection: close */
	uint32_t peer_uid; /* filled by the connection, not by the reader */
};

/* The first parameter named key, or NULL. */
const char *api_request_param(const struct api_request *req, const char *key);
/* The first header named name (any case), or NULL. */
const char *api_request_header(const struct api_request *req, const char *name);

/* Per-connection reader state.  Fields are private. */
struct api_http {
	http_parser parser;
	struct api_http_limits lim;
	char *hbuf; /* raw target and headers, then decoded path and params */
	size_t hcap;
	size_t hlen;
	size_t hcount; /* header-block bytes counted against max_header */
	uint32_t url_off;
	uint32_t name_off[API_HTTP_MAX_HEADERS];
	uint32_t value_off[API_HTTP_MAX_HEADERS];
	size_t nheaders;
	int phase;
	char *body; /* grows up to max_body + 1, kept between requests */
	size_t body_len;
	size_t body_cap;
	struct api_header headers[API_HTTP_MAX_HEADERS];
	struct api_param params[API_HTTP_MAX_PARAMS];
	struct api_request req;
	bool complete;
	bool want_continue;
	int status; /* != 0 once an error was found */
	char reason[160];
};

/* Allocates the header buffer once; WEFT_ENOMEM. */
int api_http_init(struct api_http *h, const struct api_http_limits *lim);
void api_http_fini(struct api_http *h);

/*
 * Feeds bytes.  Consumes at most one request: on return *used says how
 * many bytes were taken (feed the rest again afterwards) and *req is the
 * complete request, or NULL when more bytes are needed (then *used == len).
 * Returns 0, or WEFT_EMALFORMED / WEFT_ETOOBIG / WEFT_ENOMEM once the
 * stream cannot go on; see api_http_error().  The previous request's
 * pointers become invalid.
 */
int api_http_feed(struct api_http *h, const char *data, size_t len,
                  size_t *used, const struct api_request **req);

/* After a failed feed: the status to answer with and a reason. */
int api_http_error(const struct api_http *h, const char **reason);

/*
 * True once per request when its headers asked for "Expect: 100-continue"
 * and the body was not all there yet: the caller sends
 * api_http_put_continue() so that the client goes on.
 */
bool api_http_take_continue(struct api_http *h);

/* True while part of a request has been read. */
bool api_http_in_request(const struct api_http *h);

/* A growable output buffer owned by the caller; kept between requests. */
struct api_out {
	char *data;
	size_t len;
	size_t cap;
};

void api_out_init(struct api_out *o);
void api_out_free(struct api_out *o);
/* Makes room for n more bytes; WEFT_ENOMEM, or WEFT_ETOOBIG past 256 MiB. */
int api_out_reserve(struct api_out *o, size_t n);
int api_out_put(struct api_out *o, const void *p, size_t n);
/* Gives back memory above keep bytes when the buffer is empty. */
void api_out_shrink(struct api_out *o, size_t keep);

/*
 * Appends a response head: status line, Content-Type (NULL: none),
 * Content-Length (when content_length >= 0), Connection (keep-alive or
 * close), extra header lines (each ending in CRLF; NULL: none), and the
 * blank line.  WEFT_EINVAL for a status outside 100..599.
 */
int api_http_put_head(struct api_out *o, int status, const char *content_type,
                      long long content_length, bool keep_alive,
                      const char *extra);
/* A whole response with an application/json body. */
int api_http_put_response(struct api_out *o, int status, const char *body,
                          size_t body_len, bool keep_alive);
int api_http_put_continue(struct api_out *o);

#endif
