/*
 * HTTP/1.1 request reader and response writer for the local API.
 *
 * http-parser hands us the request in pieces that may end anywhere, so the
 * target and header names and values are copied, NUL-separated, into one
 * buffer allocated per connection; the decoded path and query parameters
 * are written after them in the same buffer.  The parser is paused at the
 * end of each message so that pipelined requests come out one at a time,
 * in order.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/api_http.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/log.h"

enum {
	PH_IDLE = 0, /* between requests */
	PH_URL,
	PH_FIELD,
	PH_VALUE,
	PH_BODY, /* headers done; header callbacks now are chunked trailers */
};

/* Bytes a header line costs beyond its name and value: ": " and CRLF. */
#define LINE_OVERHEAD 4
/* Body buffers above this are freed between requests. */
#define BODY_KEEP ((size_t)64 << 10)
/* Output buffers never grow past this; a reply that big is a bug. */
#define OUT_MAX ((size_t)256 << 20)

static int fail(struct api_http *h, int status, const char *fmt, ...)
	WEFT_PRINTF(3, 4);

/* Records the first error only: later ones are its consequences. */
static int
fail(struct api_http *h, int status, const char *fmt, ...)
{
	va_list ap;

	if (h->status == 0) {
		h->status = status;
		va_start(ap, fmt);
		vsnprintf(h->reason, sizeof(h->reason), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
count_header(struct api_http *h, size_t n)
{
	if (n > h->lim.max_header || h->hcount > h->lim.max_header - n)
		return fail(h, 431, "request header block is over %zu bytes",
		            h->lim.max_header);
	h->hcount += n;
	return 0;
}

static int
hput(struct api_http *h, const char *p, size_t n)
{
	/* count_header() keeps this from failing; the check stays for the
	 * day the accounting changes. */
	if (n > h->hcap - h->hlen)
		return fail(h, 431, "request header block is too large");
	memcpy(h->hbuf + h->hlen, p, n);
	h->hlen += n;
	return 0;
}

static int
on_message_begin(http_parser *p)
{
	struct api_http *h = p->data;

	h->hlen = 0;
	h->hcount = 0;
	h->nheaders = 0;
	h->body_len = 0;
	/* One big upload must not pin its buffer for the connection's life. */
	if (h->body_cap > BODY_KEEP) {
		free(h->body);
		h->body = NULL;
		h->body_cap = 0;
	}
	h->url_off = 0;
	h->want_continue = false;
	h->phase = PH_URL;
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t n)
{
	struct api_http *h = p->data;

	if (count_header(h, n))
		return -1;
	return hput(h, at, n);
}

static int
on_header_field(http_parser *p, const char *at, size_t n)
{
	struct api_http *h = p->data;

	if (h->phase == PH_BODY) /* a trailer: counted, not kept */
		return count_header(h, n);
	if (h->phase != PH_FIELD) {
		if (h->nheaders == API_HTTP_MAX_HEADERS)
			return fail(h, 431, "more than 64 header lines");
		if (count_header(h, LINE_OVERHEAD) || hput(h, "", 1))
			return -1;
		h->name_off[h->nheaders] = (uint32_t)h->hlen;
		h->value_off[h->nheaders] = 0;
		h->nheaders++;
		h->phase = PH_FIELD;
	}
	if (count_header(h, n))
		return -1;
	return hput(h, at, n);
}

static int
on_header_value(http_parser *p, const char *at, size_t n)
{
	struct api_http *h = p->data;

	if (h->phase == PH_BODY)
		return count_header(h, n);
	if (h->phase != PH_VALUE) {
		if (h->nheaders == 0) /* http-parser never does this */
			return fail(h, 400, "header value without a name");
		if (hput(h, "", 1))
			return -1;
		h->value_off[h->nheaders - 1] = (uint32_t)h->hlen;
		h->phase = PH_VALUE;
	}
	if (count_header(h, n))
		return -1;
	return hput(h, at, n);
}

/*
 * Decodes %XX (and '+' in query strings) from in[0..n) to out, NUL
 * terminated.  A NUL byte, encoded or not, would cut names short behind
 * the handlers' backs, so it is refused.
 */
static int
decode(const char *in, size_t n, char *out, bool plus_space)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = in[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -1;
			hi = hex_digit_value(in[i + 1]);
			lo = hex_digit_value(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (c == '\0')
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* Room for a decoded copy of n bytes plus its NUL, or NULL. */
static char *
scratch(struct api_http *h, size_t n)
{
	char *p;

	if (n + 1 > h->hcap - h->hlen)
		return NULL;
	p = h->hbuf + h->hlen;
	h->hlen += n + 1;
	return p;
}

static int
parse_query(struct api_http *h, const char *q, size_t n)
{
	size_t i = 0;

	h->req.nparams = 0;
	while (i < n) {
		size_t end = i, eq;
		char *k, *v;

		while (end < n && q[end] != '&')
			end++;
		eq = i;
		while (eq < end && q[eq] != '=')
			eq++;
		if (end > i) {
			if (h->req.nparams == API_HTTP_MAX_PARAMS)
				return fail(h, 400, "more than 32 query parameters");
			k = scratch(h, eq - i);
			v = scratch(h, eq < end ? end - eq - 1 : 0);
			if (k == NULL || v == NULL)
				return fail(h, 431, "query string is too large");
			if (decode(q + i, eq - i, k, true) ||
			    decode(q + eq + (eq < end), eq < end ? end - eq - 1 : 0,
			           v, true))
				return fail(h, 400,
				            "bad percent-encoding in query string");
			h->params[h->req.nparams].key = k;
			h->params[h->req.nparams].value = v;
			h->req.nparams++;
		}
		i = end + 1;
	}
	return 0;
}

/* Splits the stored target into path and query, decoded. */
static int
parse_target(struct api_http *h)
{
	const char *url = h->hbuf + h->url_off;
	size_t url_len = strlen(url);
	struct http_parser_url u;
	const char *path = "/";
	size_t path_len = 1;
	char *dpath;

	http_parser_url_init(&u);
	if (url_len == 0 || http_parser_parse_url(url, url_len, 0, &u) != 0)
		return fail(h, 400, "request target is not a valid URL");
	if (u.field_set & (1u << UF_PATH)) {
		path = url + u.field_data[UF_PATH].off;
		path_len = u.field_data[UF_PATH].len;
	}
	dpath = scratch(h, path_len);
	if (dpath == NULL)
		return fail(h, 431, "request target is too large");
	if (decode(path, path_len, dpath, false))
		return fail(h, 400, "bad percent-encoding in path");
	h->req.path = dpath;
	h->req.query = "";
	if (u.field_set & (1u << UF_QUERY)) {
		size_t qoff = u.field_data[UF_QUERY].off;
		size_t qlen = u.field_data[UF_QUERY].len;
		char *q = scratch(h, qlen);

		if (q == NULL)
			return fail(h, 431, "request target is too large");
		memcpy(q, url + qoff, qlen);
		q[qlen] = '\0';
		h->req.query = q;
		return parse_query(h, url + qoff, qlen);
	}
	h->req.nparams = 0;
	return 0;
}

/* RFC 9110 token characters: what a header name may hold. */
static bool
is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c)))
			return false;
	}
	return true;
}

static bool
body_expected(const http_parser *p)
{
	if (p->flags & F_CHUNKED)
		return true;
	return p->content_length != UINT64_MAX && p->content_length > 0;
}

static int
on_headers_complete(http_parser *p)
{
	struct api_http *h = p->data;
	const char *expect;

	if (hput(h, "", 1)) /* ends the target or the last value */
		return -1;
	if (p->http_major != 1 || p->http_minor > 1)
		return fail(h, 400, "HTTP version is not 1.0 or 1.1");
	if (p->upgrade)
		return fail(h, 400, "protocol upgrade and CONNECT are not "
		            "supported");
	if (p->content_length != UINT64_MAX &&
	    p->content_length > h->lim.max_body)
		return fail(h, 413, "request body is over %zu bytes", h->lim.max_body);
	for (size_t i = 0; i < h->nheaders; i++) {
		h->headers[i].name = h->hbuf + h->name_off[i];
		/* http-parser lets some of these through, e.g. a space. */
		if (!is_token(h->headers[i].name))
			return fail(h, 400, "malformed header name");
		/* A header with no value never got a value offset. */
		h->headers[i].value = h->value_off[i] ? h->hbuf + h->value_off[i]
		                                      : "";
	}
	h->req.method = http_method_str((enum http_method)p->method);
	h->req.target = h->hbuf + h->url_off;
	h->req.headers = h->headers;
	h->req.nheaders = h->nheaders;
	h->req.params = h->params;
	h->req.keep_alive = http_should_keep_alive(p) != 0;
	if (parse_target(h))
		return -1;
	expect = api_request_header(&h->req, "expect");
	if (expect != NULL) {
		if (strcasecmp(expect, "100-continue") != 0)
			return fail(h, 400, "unsupported Expect header");
		h->want_continue = body_expected(p);
	}
	h->phase = PH_BODY;
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t n)
{
	struct api_http *h = p->data;

	if (n > h->lim.max_body || h->body_len > h->lim.max_body - n)
		return fail(h, 413, "request body is over %zu bytes", h->lim.max_body);
	if (h->body_len + n + 1 > h->body_cap) {
		size_t cap = h->body_cap ? h->body_cap : 1024;
		char *nb;

		while (cap < h->body_len + n + 1)
			cap *= 2;
		if (cap > h->lim.max_body + 1)
			cap = h->lim.max_body + 1;
		nb = realloc(h->body, cap);
		if (nb == NULL)
			return fail(h, 500, "out of memory reading the body");
		h->body = nb;
		h->body_cap = cap;
	}
	memcpy(h->body + h->body_len, at, n);
	h->body_len += n;
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct api_http *h = p->data;

	if (h->body == NULL) {
		h->body = malloc(1024);
		if (h->body == NULL)
			return fail(h, 500, "out of memory reading the body");
		h->body_cap = 1024;
	}
	h->body[h->body_len] = '\0';
	h->req.body = h->body;
	h->req.body_len = h->body_len;
	h->complete = true;
	h->want_continue = false;
	h->phase = PH_IDLE;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

int
api_http_init(struct api_http *h, const struct api_http_limits *lim)
{
	memset(h, 0, sizeof(*h));
	h->lim.max_header = API_HTTP_MAX_HEADER_DEFAULT;
	h->lim.max_body = API_HTTP_MAX_BODY_DEFAULT;
	if (lim != NULL && lim->max_header)
		h->lim.max_header = lim->max_header;
	if (lim != NULL && lim->max_body)
		h->lim.max_body = lim->max_body;
	/* Raw header block with its NULs, then the decoded target: never
	 * longer than the raw one, plus a NUL per parameter part. */
	h->hcap = 2 * h->lim.max_header + 2 * API_HTTP_MAX_HEADERS +
	          2 * API_HTTP_MAX_PARAMS + 64;
	h->hbuf = malloc(h->hcap);
	if (h->hbuf == NULL)
		return WEFT_ENOMEM;
	http_parser_init(&h->parser, HTTP_REQUEST);
	h->parser.data = h;
	return 0;
}

void
api_http_fini(struct api_http *h)
{
	free(h->hbuf);
	free(h->body);
	h->hbuf = NULL;
	h->body = NULL;
}

static const char *
parser_reason(enum http_errno e)
{
	switch (e) {
	case HPE_INVALID_METHOD: return "unknown or malformed method";
	case HPE_INVALID_URL: return "malformed request target";
	case HPE_INVALID_VERSION: return "malformed HTTP version";
	case HPE_INVALID_HEADER_TOKEN: return "invalid character in a header";
	case HPE_INVALID_CONTENT_LENGTH: return "invalid Content-Length";
	case HPE_UNEXPECTED_CONTENT_LENGTH:
		return "Content-Length together with Transfer-Encoding";
	case HPE_INVALID_CHUNK_SIZE: return "invalid chunk size";
	case HPE_INVALID_TRANSFER_ENCODING: return "invalid Transfer-Encoding";
	case HPE_LF_EXPECTED: return "line feed expected";
	case HPE_CLOSED_CONNECTION: return "data after Connection: close";
	default: return http_errno_description(e);
	}
}

static int
err_code(const struct api_http *h)
{
	switch (h->status) {
	case 413:
	case 431: return WEFT_ETOOBIG;
	case 500: return WEFT_ENOMEM;
	default: return WEFT_EMALFORMED;
	}
}

int
api_http_feed(struct api_http *h, const char *data, size_t len, size_t *used,
              const struct api_request **req)
{
	enum http_errno e;
	size_t n;

	*used = 0;
	*req = NULL;
	if (h->status != 0)
		return err_code(h);
	h->complete = false;
	if (len == 0) /* http-parser reads a zero length as end of stream */
		return 0;
	n = http_parser_execute(&h->parser, &settings, data, len);
	e = HTTP_PARSER_ERRNO(&h->parser);
	*used = n;
	if (e == HPE_PAUSED && h->complete) {
		http_parser_pause(&h->parser, 0);
		*req = &h->req;
		return 0;
	}
	if (e != HPE_OK) {
		if (h->status == 0) {
			/* The parser's own header cap only catches what ours
			 * does not count, e.g. endless whitespace. */
			if (e == HPE_HEADER_OVERFLOW)
				fail(h, 431, "request header block is too large");
			else
				fail(h, 400, "malformed request: %s", parser_reason(e));
		}
		return err_code(h);
	}
	return 0;
}

int
api_http_error(const struct api_http *h, const char **reason)
{
	*reason = h->status ? h->reason : "no error";
	return h->status;
}

bool
api_http_take_continue(struct api_http *h)
{
	bool w = h->want_continue && !h->complete;

	h->want_continue = false;
	return w;
}

bool
api_http_in_request(const struct api_http *h)
{
	return h->phase != PH_IDLE;
}

const char *
api_request_param(const struct api_request *req, const char *key)
{
	for (size_t i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].key, key) == 0)
			return req->params[i].value;
	return NULL;
}

const char *
api_request_header(const struct api_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

void
api_out_init(struct api_out *o)
{
	o->data = NULL;
	o->len = 0;
	o->cap = 0;
}

void
api_out_free(struct api_out *o)
{
	free(o->data);
	api_out_init(o);
}

int
api_out_reserve(struct api_out *o, size_t n)
{
	size_t cap;
	char *nd;

	if (n <= o->cap - o->len)
		return 0;
	if (n > OUT_MAX - o->len)
		return WEFT_ETOOBIG;
	cap = o->cap ? o->cap : 512;
	while (cap - o->len < n)
		cap = cap > OUT_MAX / 2 ? OUT_MAX : cap * 2;
	nd = realloc(o->data, cap);
	if (nd == NULL)
		return WEFT_ENOMEM;
	o->data = nd;
	o->cap = cap;
	return 0;
}

int
api_out_put(struct api_out *o, const void *p, size_t n)
{
	int rc = api_out_reserve(o, n);

	if (rc)
		return rc;
	if (n)
		memcpy(o->data + o->len, p, n);
	o->len += n;
	return 0;
}

void
api_out_shrink(struct api_out *o, size_t keep)
{
	if (o->len == 0 && o->cap > keep)
		api_out_free(o);
}

int
api_http_put_head(struct api_out *o, int status, const char *content_type,
                  long long content_length, bool keep_alive,
                  const char *extra)
{
	char line[256];
	int n;
	int rc;

	if (status < 100 || status > 599)
		return WEFT_EINVAL;
	n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status,
	             http_status_str((enum http_status)status));
	if ((rc = api_out_put(o, line, (size_t)n)))
		return rc;
	if (content_type != NULL) {
		n = snprintf(line, sizeof(line), "Content-Type: %s\r\n",
		             content_type);
		if (n < 0 || (size_t)n >= sizeof(line))
			return WEFT_EINVAL;
		if ((rc = api_out_put(o, line, (size_t)n)))
			return rc;
	}
	if (content_length >= 0) {
		n = snprintf(line, sizeof(line), "Content-Length: %lld\r\n",
		             content_length);
		if ((rc = api_out_put(o, line, (size_t)n)))
			return rc;
	}
	if (status >= 200) {
		const char *c = keep_alive ? "Connection: keep-alive\r\n"
		                           : "Connection: close\r\n";

		if ((rc = api_out_put(o, c, strlen(c))))
			return rc;
	}
	if (extra != NULL && (rc = api_out_put(o, extra, strlen(extra))))
		return rc;
	return api_out_put(o, "\r\n", 2);
}

int
api_http_put_response(struct api_out *o, int status, const char *body,
                      size_t body_len, bool keep_alive)
{
	int rc = api_http_put_head(o, status, "application/json",
	                           (long long)body_len, keep_alive, NULL);

	if (rc)
		return rc;
	return api_out_put(o, body, body_len);
}

int
api_http_put_continue(struct api_out *o)
{
	static const char c[] = "HTTP/1.1 100 Continue\r\n\r\n";

	return api_out_put(o, c, sizeof(c) - 1);
}
