#include "agent/http_back_resp.h"

#include <http_parser.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/str.h"
#include "proxy/h1.h"

#define BUF_START 2048

enum resp_state {
	ST_IDLE = 0, /* no request asked: bytes are not ours */
	ST_HEAD,     /* our scanner checks line endings before http-parser */
	ST_BODY,
	ST_DONE,     /* ended; anything more is not a response */
	ST_TUNNEL,   /* after an upgrade's 101 */
	ST_DEAD,
};

struct scan {
	size_t bytes;    /* head bytes so far */
	size_t line_len; /* bytes of the current line before its CR */
	size_t lines;
	bool cr;
};

/* A field while it is gathered: offsets into buf. */
struct field {
	size_t name, name_len, value, value_len;
};

struct http_resp {
	struct http_resp_sink sink;
	http_parser hp;
	http_parser_settings hs;
	enum resp_state state;
	struct scan scan;
	const char *err;
	int cb_err;
	bool head_request, want_upgrade;
	bool interim, upgraded, skip_body;
	bool in_trailers;
	struct h1_chunk_end chunk_end;

	char *buf; /* names and values back to back, NUL-ended */
	size_t buf_len, buf_cap;
	struct field fields[HTTP_RESP_FIELDS_MAX + 1];
	size_t n_fields;
	bool last_value;
	nghttp2_nv nv[HTTP_RESP_FIELDS_MAX + 1];
	char status[4];
};

static int
refuse(struct http_resp *r, const char *why)
{
	if (r->err == NULL)
		r->err = why;
	r->state = ST_DEAD;
	return WEFT_EMALFORMED;
}

const char *
http_resp_error(const struct http_resp *r)
{
	return r->err != NULL ? r->err : "";
}

bool
http_resp_busy(const struct http_resp *r)
{
	return (r->state == ST_HEAD && r->scan.bytes > 0) ||
	       r->state == ST_BODY;
}

/* ---- gathering fields ---- */

static int
put(struct http_resp *r, const char *at, size_t n)
{
	/* Every byte came from the head (or the trailers), each NUL stands
	 * for a ':' or a line end: the head limit bounds the buffer. */
	if (n > HTTP_RESP_HEAD_MAX + 1 - r->buf_len) {
		r->err = r->in_trailers ? "trailers too large"
		                        : "response head too large";
		return -1;
	}
	if (n > r->buf_cap - r->buf_len) {
		size_t cap = r->buf_cap;
		char *nb;

		while (n > cap - r->buf_len)
			cap *= 2;
		if (cap > HTTP_RESP_HEAD_MAX + 1)
			cap = HTTP_RESP_HEAD_MAX + 1;
		nb = realloc(r->buf, cap);
		if (nb == NULL) {
			r->cb_err = WEFT_ENOMEM;
			return -1;
		}
		r->buf = nb;
		r->buf_cap = cap;
	}
	memcpy(r->buf + r->buf_len, at, n);
	r->buf_len += n;
	return 0;
}

static int
start_string(struct http_resp *r, size_t *off)
{
	if (r->buf_len > 0 && put(r, "", 1) != 0)
		return -1;
	*off = r->buf_len;
	return 0;
}

static void
reset_fields(struct http_resp *r)
{
	r->buf_len = 0;
	r->n_fields = 0;
	r->last_value = true;
}

static int
on_message_begin(http_parser *hp)
{
	struct http_resp *r = hp->data;

	reset_fields(r);
	r->in_trailers = false;
	r->interim = r->upgraded = r->skip_body = false;
	return 0;
}

static int
on_field(http_parser *hp, const char *at, size_t n)
{
	struct http_resp *r = hp->data;
	struct field *f;

	if (r->last_value) {
		if (r->n_fields == HTTP_RESP_FIELDS_MAX) {
			r->err = r->in_trailers ? "too many trailer fields"
			                        : "too many header fields";
			return -1;
		}
		f = &r->fields[r->n_fields++];
		if (start_string(r, &f->name) != 0)
			return -1;
		f->name_len = f->value = f->value_len = 0;
		r->last_value = false;
	}
	f = &r->fields[r->n_fields - 1];
	if (put(r, at, n) != 0)
		return -1;
	f->name_len += n;
	return 0;
}

static int
on_value(http_parser *hp, const char *at, size_t n)
{
	struct http_resp *r = hp->data;
	struct field *f;

	if (r->n_fields == 0)
		return -1;
	f = &r->fields[r->n_fields - 1];
	if (!r->last_value) {
		if (start_string(r, &f->value) != 0)
			return -1;
		r->last_value = true;
	}
	if (put(r, at, n) != 0)
		return -1;
	f->value_len += n;
	return 0;
}

/* ---- checking fields ---- */

static bool
token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is(const nghttp2_nv *v, const char *name)
{
	return v->namelen == strlen(name) &&
	       memcmp(v->name, name, v->namelen) == 0;
}

/* Whether a comma list holds token t (any case). */
static bool
list_has(const uint8_t *v, size_t n, const uint8_t *t, size_t tn)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tn &&
		    strncasecmp((const char *)v + s, (const char *)t, tn) == 0)
			return true;
	}
	return false;
}

/*
 * Turns the gathered fields into nv (from index *k on): names checked as
 * tokens and lowercased in place, values trimmed.  NULL, or why not.
 */
static const char *
make_nv(struct http_resp *r, size_t *k)
{
	/* The gathered strings are NUL-ended by the start of the next one;
	 * end the last one too. */
	if (put(r, "", 1) != 0)
		return r->err != NULL ? r->err : "out of memory";
	for (size_t i = 0; i < r->n_fields; i++) {
		struct field *f = &r->fields[i];
		char *name = r->buf + f->name;
		char *val = r->buf + f->value;
		size_t vn = f->value_len;
		nghttp2_nv *v = &r->nv[(*k)++];

		name[f->name_len] = '\0';
		if (f->name_len == 0)
			return "bad header field name";
		for (size_t j = 0; j < f->name_len; j++) {
			if (!token_char(name[j]))
				return "bad header field name";
			if (name[j] >= 'A' && name[j] <= 'Z')
				name[j] = (char)(name[j] + 32);
		}
		if (vn == 0) {
			val = name + f->name_len; /* "" */
		} else {
			while (vn > 0 && (val[0] == ' ' || val[0] == '\t')) {
				val++;
				vn--;
			}
			while (vn > 0 &&
			       (val[vn - 1] == ' ' || val[vn - 1] == '\t'))
				vn--;
			val[vn] = '\0';
		}
		/* The head's scanner saw these already; trailers it never
		 * sees, and http-parser lets some through. */
		for (size_t j = 0; j < vn; j++)
			if (((uint8_t)val[j] < 0x20 && val[j] != '\t') ||
			    val[j] == 0x7f)
				return "control character in a field value";
		*v = (nghttp2_nv){
			.name = (uint8_t *)name,
			.namelen = f->name_len,
			.value = (uint8_t *)val,
			.valuelen = vn,
			.flags = NGHTTP2_NV_FLAG_NONE,
		};
	}
	return NULL;
}

static bool
hop_by_hop(const nghttp2_nv *v, const nghttp2_nv *all, size_t n)
{
	static const char *const hop[] = {
		"connection", "keep-alive", "proxy-connection", "te",
		"trailer", "transfer-encoding", "upgrade", "host",
	};

	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (is(v, hop[i]))
			return true;
	if (v->namelen >= 5 && memcmp(v->name, "weft-", 5) == 0)
		return true;
	/* Connection may name more, but never the framing. */
	if (is(v, "content-length"))
		return false;
	for (size_t i = 0; i < n; i++)
		if (is(&all[i], "connection") &&
		    list_has(all[i].value, all[i].valuelen, v->name,
		             v->namelen))
			return true;
	return false;
}

/* Keeps the end-to-end fields of nv[from..to) in place; returns the end. */
static size_t
filter(struct http_resp *r, size_t from, size_t to, bool keep_length)
{
	bool drop[HTTP_RESP_FIELDS_MAX + 1];
	size_t out = from;

	/* Connection fields name others: judge every field before moving
	 * any over them. */
	for (size_t i = from; i < to; i++)
		drop[i] = hop_by_hop(&r->nv[i], r->nv + from, to - from) ||
		          (!keep_length && is(&r->nv[i], "content-length"));
	for (size_t i = from; i < to; i++)
		if (!drop[i])
			r->nv[out++] = r->nv[i];
	return out;
}

static bool
digits(const uint8_t *p, size_t n)
{
	if (n == 0 || n > 18)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

static int
fail(struct http_resp *r, const char *why)
{
	refuse(r, why);
	return -1;
}

static int
on_headers_complete(http_parser *hp)
{
	struct http_resp *r = hp->data;
	const nghttp2_nv *cl = NULL, *te = NULL;
	size_t n_cl = 0, n_te = 0, k = 1, end, used;
	unsigned status = hp->status_code;
	bool ka, conn_close = false, conn_keep = false;
	struct http_resp_head h;
	const char *why;
	int err;

	if (r->err != NULL)
		return -1;
	if (hp->http_major != 1)
		return fail(r, "response not HTTP/1.x");
	if (status < 100 || status > 599)
		return fail(r, "bad status code");
	if (status < 200 && status != 101) {
		/* 100 Continue, 102, 103: the caller's agent answers its app's
		 * Expect itself; nothing of these crosses the mesh. */
		r->interim = true;
		reset_fields(r);
		return 1;
	}
	if (status == 101 && !r->want_upgrade)
		return fail(r, "101 to a request without Upgrade");
	if ((why = make_nv(r, &k)) != NULL)
		return fail(r, why);
	for (size_t i = 1; i < k; i++) {
		const nghttp2_nv *v = &r->nv[i];

		if (is(v, "content-length")) {
			cl = v;
			n_cl++;
		} else if (is(v, "transfer-encoding")) {
			te = v;
			n_te++;
		} else if (is(v, "connection")) {
			conn_close |= list_has(v->value, v->valuelen,
			                       (const uint8_t *)"close", 5);
			conn_keep |= list_has(v->value, v->valuelen,
			                      (const uint8_t *)"keep-alive", 10);
		}
	}
	/* Exactly one way to find the end of the body. */
	if (n_cl > 1)
		return fail(r, "Content-Length more than once");
	if (n_te > 1)
		return fail(r, "Transfer-Encoding more than once");
	if (cl != NULL && te != NULL)
		return fail(r, "both Content-Length and Transfer-Encoding");
	if (te != NULL && hp->http_minor == 0)
		return fail(r, "Transfer-Encoding in HTTP/1.0");
	if (te != NULL && !(te->valuelen == 7 &&
	                    strncasecmp((const char *)te->value, "chunked",
	                                7) == 0))
		return fail(r, "transfer coding other than chunked");
	if (cl != NULL && !digits(cl->value, cl->valuelen))
		return fail(r, "bad Content-Length");
	r->skip_body = r->head_request || status == 101 || status == 204 ||
	               status == 304;
	if (!r->skip_body &&
	    ((te != NULL) != ((hp->flags & F_CHUNKED) != 0) ||
	     (cl != NULL &&
	      hp->content_length != strtoull((const char *)cl->value, NULL,
	                                     10))))
		return fail(r, "ambiguous message framing");

	ka = hp->http_minor >= 1 ? !conn_close : conn_keep && !conn_close;
	/* A body that ends only with the connection leaves nothing to keep. */
	if (!r->skip_body && te == NULL && cl == NULL)
		ka = false;
	r->upgraded = status == 101;
	used = 0;
	weft_str_putu(r->status, sizeof(r->status), &used, status);
	r->nv[0] = (nghttp2_nv){
		.name = (uint8_t *)(uintptr_t)":status", .namelen = 7,
		.value = (uint8_t *)r->status, .valuelen = 3,
		.flags = NGHTTP2_NV_FLAG_NONE,
	};
	/* 204 and 101 carry no length (HTTP/2 treats one as an error); a
	 * 304's or a HEAD answer's describes what a GET would get. */
	end = filter(r, 1, k, status != 204 && status != 101);
	memset(&h, 0, sizeof(h));
	h.status = (int)status;
	h.nv = r->nv;
	h.n = end;
	h.upgraded = r->upgraded;
	h.keep_alive = ka && !r->upgraded;
	h.has_body = !r->upgraded;
	if (r->sink.on_head != NULL &&
	    (err = r->sink.on_head(r->sink.ctx, &h)) != 0) {
		r->cb_err = err < 0 ? err : WEFT_EINVAL;
		return -1;
	}
	/* Trailers, if any, gather afresh. */
	reset_fields(r);
	r->in_trailers = true;
	return r->skip_body ? 1 : 0;
}

static int
on_body(http_parser *hp, const char *at, size_t n)
{
	struct http_resp *r = hp->data;
	int err;

	if (h1_chunk_end_body(&r->chunk_end,
	                      (hp->flags & F_CHUNKED) && hp->content_length == 0,
	                      (const uint8_t *)at, n) != 0) {
		r->err = "chunk data not followed by CRLF";
		return -1;
	}
	if (r->sink.on_body != NULL &&
	    (err = r->sink.on_body(r->sink.ctx, (const uint8_t *)at, n)) != 0) {
		r->cb_err = err < 0 ? err : WEFT_EINVAL;
		return -1;
	}
	return 0;
}

static int
on_message_complete(http_parser *hp)
{
	struct http_resp *r = hp->data;
	size_t k = 0, end = 0;
	const char *why;
	int err = 0;

	/* Always stop here: the next head (after an interim response) goes
	 * through our scanner, and nothing after a final one is parsed. */
	http_parser_pause(hp, 1);
	if (r->interim)
		return 0;
	if (r->upgraded) {
		r->state = ST_TUNNEL;
		return 0;
	}
	if (r->n_fields > 0) {
		if ((why = make_nv(r, &k)) != NULL)
			return fail(r, why);
		end = filter(r, 0, k, false);
	}
	r->state = ST_DONE;
	if (r->sink.on_end != NULL)
		err = r->sink.on_end(r->sink.ctx, r->nv, end);
	if (err != 0) {
		r->cb_err = err < 0 ? err : WEFT_EINVAL;
		return -1;
	}
	return 0;
}

/* ---- driving ---- */

int
http_resp_new(const struct http_resp_sink *sink, struct http_resp **out)
{
	struct http_resp *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (r == NULL)
		return WEFT_ENOMEM;
	r->buf_cap = BUF_START;
	r->buf = malloc(r->buf_cap);
	if (r->buf == NULL) {
		free(r);
		return WEFT_ENOMEM;
	}
	if (sink != NULL)
		r->sink = *sink;
	http_parser_settings_init(&r->hs);
	r->hs.on_message_begin = on_message_begin;
	r->hs.on_header_field = on_field;
	r->hs.on_header_value = on_value;
	r->hs.on_headers_complete = on_headers_complete;
	r->hs.on_body = on_body;
	r->hs.on_message_complete = on_message_complete;
	*out = r;
	return 0;
}

void
http_resp_free(struct http_resp *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r);
}

static void
next_head(struct http_resp *r)
{
	memset(&r->scan, 0, sizeof(r->scan));
	memset(&r->chunk_end, 0, sizeof(r->chunk_end));
	http_parser_init(&r->hp, HTTP_RESPONSE);
	r->hp.data = r;
	r->state = ST_HEAD;
}

void
http_resp_expect(struct http_resp *r, bool head_request, bool upgrade)
{
	if (r->state == ST_DEAD)
		return;
	r->head_request = head_request;
	r->want_upgrade = upgrade;
	r->err = NULL;
	next_head(r);
}

/*
 * Every line ends in CRLF and nothing else ends a line; no control
 * characters, no folding.  Returns how many bytes belong to the head so
 * far (through the empty line when *done), or -1.
 */
static long
scan_head(struct http_resp *r, const uint8_t *d, size_t n, bool *done)
{
	/* Locals, written back once: d may alias the state (uint8_t), which
	 * otherwise costs a load and a store per field per byte. */
	struct scan s = r->scan;
	const char *why = NULL;
	long ret = (long)n;

	*done = false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = d[i];

		if (++s.bytes > HTTP_RESP_HEAD_MAX) {
			why = "response head too large";
			break;
		}
		if (s.cr) {
			if (c != '\n') {
				why = "bare CR in response head";
				break;
			}
			s.cr = false;
			if (s.line_len == 0) {
				if (s.lines == 0) {
					why = "empty line before the status line";
					break;
				}
				*done = true;
				ret = (long)i + 1;
				break;
			}
			s.lines++;
			s.line_len = 0;
			continue;
		}
		if (c == '\r') {
			s.cr = true;
			continue;
		}
		if (c == '\n') {
			why = "bare LF in response head";
			break;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			why = "control character in response head";
			break;
		}
		if (s.line_len == 0 && s.lines > 0 && (c == ' ' || c == '\t')) {
			why = "obsolete line folding";
			break;
		}
		s.line_len++;
	}
	r->scan = s;
	if (why != NULL)
		return refuse(r, why), -1;
	return ret;
}

static int
parser_failed(struct http_resp *r)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&r->hp);

	if (r->cb_err != 0) {
		r->state = ST_DEAD;
		return r->cb_err;
	}
	if (r->err != NULL)
		return refuse(r, r->err);
	switch (e) {
	case HPE_INVALID_CHUNK_SIZE:
		return refuse(r, "bad chunk size");
	case HPE_HEADER_OVERFLOW:
		return refuse(r, "response head too large");
	case HPE_UNEXPECTED_CONTENT_LENGTH:
		return refuse(r, "Content-Length more than once or with "
		                 "Transfer-Encoding");
	case HPE_INVALID_CONTENT_LENGTH:
		return refuse(r, "bad Content-Length");
	case HPE_INVALID_TRANSFER_ENCODING:
		return refuse(r, "transfer coding other than chunked");
	default:
		return refuse(r, http_errno_description(e));
	}
}

/* Runs http-parser; 1 when a message ended (it pauses there). */
static int
run(struct http_resp *r, const uint8_t *d, size_t n, size_t *used)
{
	size_t k;
	enum http_errno e;

	*used = 0;
	if (h1_chunk_end_feed(&r->chunk_end, d, n) != 0)
		return refuse(r, "chunk data not followed by CRLF");
	k = http_parser_execute(&r->hp, &r->hs, (const char *)d, n);
	e = HTTP_PARSER_ERRNO(&r->hp);
	*used = k;
	if (e == HPE_PAUSED) {
		http_parser_pause(&r->hp, 0);
		return 1;
	}
	if (e != HPE_OK)
		return parser_failed(r);
	if (k != n)
		return refuse(r, "malformed response");
	return 0;
}

int
http_resp_feed(struct http_resp *r, const uint8_t *data, size_t len,
               size_t *consumed)
{
	size_t off = 0;
	int rc;

	*consumed = 0;
	if (r->state == ST_DEAD)
		return WEFT_ECLOSED;
	while (off < len) {
		size_t used = 0;

		switch (r->state) {
		case ST_HEAD: {
			bool done;
			long k = scan_head(r, data + off, len - off, &done);

			if (k < 0)
				return WEFT_EMALFORMED;
			rc = run(r, data + off, (size_t)k, &used);
			if (rc < 0)
				return rc;
			if (rc == 0 && used != (size_t)k)
				return refuse(r, "malformed response");
			off += used;
			if (rc == 1 && r->interim)
				next_head(r);
			else if (rc == 0 && done)
				r->state = ST_BODY;
			break;
		}
		case ST_BODY:
			rc = run(r, data + off, len - off, &used);
			if (rc < 0)
				return rc;
			off += used;
			break;
		default: /* IDLE, DONE, TUNNEL: not ours to parse */
			*consumed = off;
			return 0;
		}
		*consumed = off;
	}
	*consumed = off;
	return 0;
}

int
http_resp_eof(struct http_resp *r)
{
	size_t used;
	int rc;

	switch (r->state) {
	case ST_IDLE:
	case ST_DONE:
	case ST_TUNNEL:
		return 0;
	case ST_BODY:
		if ((r->hp.flags & F_CHUNKED) == 0 &&
		    r->hp.content_length == ULLONG_MAX) {
			/* Read until close: the close ends it. */
			rc = run(r, NULL, 0, &used);
			if (rc < 0)
				return rc;
			if (r->state == ST_DONE)
				return 0;
		}
		refuse(r, "the app closed the connection mid-response");
		return WEFT_ETRUNC;
	case ST_HEAD:
		refuse(r, r->scan.bytes > 0
		              ? "the app closed the connection mid-head"
		              : "the app closed the connection without a "
		                "response");
		return WEFT_ETRUNC;
	case ST_DEAD:
		break;
	}
	return WEFT_ECLOSED;
}
