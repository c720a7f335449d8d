#include "proxy/h1.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/str.h"

enum h1_state {
	ST_HEAD = 0, /* our scanner checks line endings before http-parser */
	ST_BODY,
	ST_TUNNEL,
	ST_DEAD,
};

/* Where the head scanner is inside the current head. */
struct scan {
	size_t bytes;    /* head bytes so far */
	size_t line_len; /* bytes of the current line before its CR */
	size_t lines;    /* complete non-empty lines */
	bool cr;         /* the last byte was a CR */
};

/* A field while it is gathered: offsets into buf. */
struct field {
	size_t name, name_len, value, value_len;
};

struct h1_parser {
	struct h1_limits lim;
	struct h1_sink sink;
	http_parser hp;
	http_parser_settings hs;
	enum h1_state state;
	struct scan scan;
	int err_status;
	const char *err_reason;
	int cb_err; /* a sink's own error code */
	bool paused; /* the sink asked to stop after this message */
	bool in_trailers;
	size_t trailer_bytes;
	struct h1_chunk_end chunk_end;

	/* The head as gathered: strings back to back, each NUL-ended. */
	char *buf;
	size_t buf_len, buf_cap;
	size_t url, url_len;
	bool have_url;
	struct field *fields;
	size_t n_fields;
	bool last_value; /* the last piece was a value (a new field starts) */

	struct h1_header *out;  /* end-to-end fields for on_head */
	char host_buf[256];
	char path_buf[8];
};

/* ---- refusing ---- */

static int
refuse(struct h1_parser *p, int status, const char *reason)
{
	if (p->err_status == 0) {
		p->err_status = status;
		p->err_reason = reason;
	}
	p->state = ST_DEAD;
	return WEFT_EMALFORMED;
}

void
h1_error(const struct h1_parser *p, int *status, const char **reason)
{
	*status = p->err_status;
	*reason = p->err_reason != NULL ? p->err_reason : "";
}

bool
h1_idle(const struct h1_parser *p)
{
	return p->state == ST_HEAD && p->scan.bytes == 0;
}

/* ---- gathering the head ---- */

static int
put(struct h1_parser *p, const char *at, size_t n)
{
	if (n > p->buf_cap - p->buf_len)
		return -1;
	memcpy(p->buf + p->buf_len, at, n);
	p->buf_len += n;
	return 0;
}

/* Ends the string being gathered and starts another at the end. */
static int
start_string(struct h1_parser *p, size_t *off)
{
	if (p->buf_len > 0 && put(p, "", 1) != 0)
		return -1;
	*off = p->buf_len;
	return 0;
}

static int
on_message_begin(http_parser *hp)
{
	struct h1_parser *p = hp->data;

	p->buf_len = 0;
	p->have_url = false;
	p->n_fields = 0;
	p->last_value = true;
	p->in_trailers = false;
	p->trailer_bytes = 0;
	return 0;
}

static int
on_url(http_parser *hp, const char *at, size_t n)
{
	struct h1_parser *p = hp->data;

	if (!p->have_url) {
		if (start_string(p, &p->url) != 0)
			return -1;
		p->url_len = 0;
		p->have_url = true;
	}
	if (put(p, at, n) != 0)
		return -1;
	p->url_len += n;
	return 0;
}

static int
on_field(http_parser *hp, const char *at, size_t n)
{
	struct h1_parser *p = hp->data;
	struct field *f;

	if (p->in_trailers) {
		p->trailer_bytes += n;
		return p->trailer_bytes > p->lim.max_head_bytes ? -1 : 0;
	}
	if (p->last_value) {
		if (p->n_fields == p->lim.max_headers) {
			refuse(p, 431, "too many header fields");
			return -1;
		}
		f = &p->fields[p->n_fields++];
		if (start_string(p, &f->name) != 0)
			return -1;
		f->name_len = 0;
		f->value = 0;
		f->value_len = 0;
		p->last_value = false;
	}
	f = &p->fields[p->n_fields - 1];
	if (put(p, at, n) != 0)
		return -1;
	f->name_len += n;
	return 0;
}

static int
on_value(http_parser *hp, const char *at, size_t n)
{
	struct h1_parser *p = hp->data;
	struct field *f;

	if (p->in_trailers) {
		p->trailer_bytes += n;
		return p->trailer_bytes > p->lim.max_head_bytes ? -1 : 0;
	}
	if (p->n_fields == 0)
		return -1;
	f = &p->fields[p->n_fields - 1];
	if (!p->last_value) {
		if (start_string(p, &f->value) != 0)
			return -1;
		p->last_value = true;
	}
	if (put(p, at, n) != 0)
		return -1;
	f->value_len += n;
	return 0;
}

/* ---- checking the head ---- */

static bool
name_is(const struct h1_header *h, const char *name)
{
	return h->name_len == strlen(name) &&
	       strncasecmp(h->name, name, h->name_len) == 0;
}

/* Trims blanks in place (the value is NUL-ended in buf). */
static void
trim(struct h1_parser *p, struct h1_header *h, const struct field *f)
{
	char *v = p->buf + f->value;
	size_t n = f->value_len;

	while (n > 0 && (v[0] == ' ' || v[0] == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	v[n] = '\0';
	h->value = v;
	h->value_len = n;
}

static bool
all_digits(const char *v, size_t n)
{
	if (n == 0 || n > 18) /* 10^18: far past any body we carry */
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return false;
	return true;
}

/* reg-name, IPv4 or a bracketed IPv6 literal, with an optional port. */
static bool
good_host(const char *v, size_t n)
{
	if (n == 0 || n >= 256)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("-._~:[]", c) != NULL))
			return false;
	}
	return true;
}

/* Whether a comma list (a Connection value) holds token t, any case. */
static bool
list_has(const char *v, size_t n, const char *t, size_t tn)
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
		if (e - s == tn && strncasecmp(v + s, t, tn) == 0)
			return true;
	}
	return false;
}

static bool
hop_by_hop(const struct h1_header *h, const struct h1_header *conn,
           size_t n_conn)
{
	static const char *const hop[] = {
		"connection", "keep-alive", "proxy-connection", "te",
		"trailer", "transfer-encoding", "upgrade", "host",
	};

	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (name_is(h, hop[i]))
			return true;
	/* Connection may name more, but never the framing fields: naming
	 * Content-Length there must not make us drop it. */
	if (name_is(h, "content-length"))
		return false;
	for (size_t i = 0; i < n_conn; i++)
		if (list_has(conn[i].value, conn[i].value_len, h->name,
		             h->name_len))
			return true;
	return false;
}

static bool
token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
token(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0' || !token_char(s[i]))
			return false;
	return true;
}

/* Splits an absolute-form target "http://host[:port]/path". */
static int
absolute_target(struct h1_parser *p, const char *t, const char **path,
                const char **authority)
{
	const char *rest, *slash;
	size_t an;

	if (strncasecmp(t, "http://", 7) == 0)
		rest = t + 7;
	else if (strncasecmp(t, "https://", 8) == 0)
		rest = t + 8;
	else
		return -1;
	slash = strpbrk(rest, "/?");
	an = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	if (!good_host(rest, an) || memchr(rest, '@', an) != NULL)
		return -1;
	memcpy(p->host_buf, rest, an);
	p->host_buf[an] = '\0';
	*authority = p->host_buf;
	if (slash == NULL) {
		strcpy(p->path_buf, "/");
		*path = p->path_buf;
	} else if (*slash == '?') {
		return -1; /* "http://h?q" has no path: refuse, not guess */
	} else {
		*path = slash;
	}
	return 0;
}

static int
on_headers_complete(http_parser *hp)
{
	struct h1_parser *p = hp->data;
	struct h1_head h;
	const struct h1_header *host = NULL, *te = NULL, *cl = NULL,
	                       *expect = NULL, *upg = NULL;
	size_t n_host = 0, n_te = 0, n_cl = 0, n_out = 0, n_conn = 0;
	struct h1_header *all = p->out;
	int err;

	if (p->err_status != 0)
		return -1;
	memset(&h, 0, sizeof(h));
	if (p->have_url)
		p->buf[p->url + p->url_len] = '\0';
	else
		return refuse(p, 400, "no request target"), -1;
	if (hp->http_major != 1)
		return refuse(p, 505, "HTTP version not supported"), -1;
	if (hp->method == HTTP_CONNECT)
		return refuse(p, 405, "CONNECT is not supported"), -1;
	h.method = http_method_str((enum http_method)hp->method);
	h.target = p->buf + p->url;
	h.version_minor = hp->http_minor;

	/* All fields first, trimmed and NUL-ended; end-to-end ones are
	 * moved to the front of the same array afterwards. */
	for (size_t i = 0; i < p->n_fields; i++) {
		struct field *f = &p->fields[i];

		p->buf[f->name + f->name_len] = '\0';
		all[i].name = p->buf + f->name;
		all[i].name_len = f->name_len;
		/* http-parser lets "Name : v" through; a field name is a
		 * token with the colon right after it (RFC 9112 §5.1). */
		if (!token(all[i].name, all[i].name_len))
			return refuse(p, 400, "bad header field name"), -1;
		if (f->value_len == 0) {
			all[i].value = "";
			all[i].value_len = 0;
		} else {
			trim(p, &all[i], f);
		}
		if (name_is(&all[i], "host")) {
			host = &all[i];
			n_host++;
		} else if (name_is(&all[i], "transfer-encoding")) {
			te = &all[i];
			n_te++;
		} else if (name_is(&all[i], "content-length")) {
			cl = &all[i];
			n_cl++;
		} else if (name_is(&all[i], "expect")) {
			if (expect != NULL)
				return refuse(p, 417, "Expect more than once"),
				       -1;
			expect = &all[i];
		} else if (name_is(&all[i], "upgrade")) {
			upg = &all[i];
		}
	}

	/* Framing: exactly one way to find the end of the body. */
	if (n_cl > 1)
		return refuse(p, 400, "Content-Length more than once"), -1;
	if (n_te > 1)
		return refuse(p, 400, "Transfer-Encoding more than once"), -1;
	if (cl != NULL && te != NULL)
		return refuse(p, 400,
		              "both Content-Length and Transfer-Encoding"), -1;
	if (te != NULL && hp->http_minor == 0)
		return refuse(p, 400, "Transfer-Encoding in HTTP/1.0"), -1;
	if (te != NULL && !(te->value_len == 7 &&
	                    strncasecmp(te->value, "chunked", 7) == 0))
		return refuse(p, 501, "transfer coding other than chunked"),
		       -1;
	if (cl != NULL) {
		if (!all_digits(cl->value, cl->value_len))
			return refuse(p, 400, "bad Content-Length"), -1;
		h.has_length = true;
		h.content_length = strtoull(cl->value, NULL, 10);
	}
	h.chunked = te != NULL;
	/* http-parser frames the body itself: make sure it read the same. */
	if (h.chunked != ((hp->flags & F_CHUNKED) != 0) ||
	    (h.has_length && hp->content_length != h.content_length))
		return refuse(p, 400, "ambiguous message framing"), -1;

	/* Target and authority (RFC 9112 §3.2, §3.3). */
	if (n_host > 1)
		return refuse(p, 400, "Host more than once"), -1;
	if (hp->http_minor >= 1 && n_host == 0)
		return refuse(p, 400, "missing Host"), -1;
	if (host != NULL && !good_host(host->value, host->value_len))
		return refuse(p, 400, "bad Host"), -1;
	if (h.target[0] == '/') {
		h.path = h.target;
		h.authority = host != NULL ? host->value : "";
	} else if (strcmp(h.target, "*") == 0 && hp->method == HTTP_OPTIONS) {
		h.path = h.target;
		h.authority = host != NULL ? host->value : "";
	} else if (absolute_target(p, h.target, &h.path, &h.authority) != 0) {
		return refuse(p, 400, "bad request target"), -1;
	}

	if (expect != NULL) {
		if (!(expect->value_len == 12 &&
		      strncasecmp(expect->value, "100-continue", 12) == 0))
			return refuse(p, 417, "unsupported Expect"), -1;
		h.expect_continue = hp->http_minor >= 1;
	}

	h.upgrade = hp->upgrade && upg != NULL;
	if (h.upgrade && upg->value_len == 3 &&
	    strncasecmp(upg->value, "h2c", 3) == 0) {
		/* h2c upgrade is ours to refuse quietly: the app gets
		 * HTTP/1.1 answers, and the mesh is HTTP/2 already. */
		h.upgrade = false;
		hp->upgrade = 0;
	}
	if (h.upgrade) {
		if (h.chunked || h.content_length > 0)
			return refuse(p, 400, "Upgrade with a body"), -1;
		h.upgrade_to = upg->value;
	} else {
		hp->upgrade = 0;
	}
	h.keep_alive = http_should_keep_alive(hp) != 0;

	for (size_t i = 0; i < p->n_fields; i++)
		if (name_is(&all[i], "connection"))
			all[n_conn++] = all[i];
	/* The Connection fields now sit at the front; keep a copy of them
	 * at the end of the array while filtering. */
	memmove(all + p->n_fields, all, n_conn * sizeof(*all));
	for (size_t i = 0; i < p->n_fields; i++) {
		/* Re-read from the field offsets: the front was overwritten. */
		struct field *f = &p->fields[i];
		struct h1_header x = {
			.name = p->buf + f->name, .name_len = f->name_len,
		};

		if (f->value_len == 0) {
			x.value = "";
		} else {
			x.value = p->buf + f->value;
			while (*x.value == ' ' || *x.value == '\t')
				x.value++;
			x.value_len = strlen(x.value);
		}
		if (!hop_by_hop(&x, all + p->n_fields, n_conn))
			all[n_out++] = x;
	}
	h.headers = all;
	h.n_headers = n_out;

	if (p->sink.on_head != NULL &&
	    (err = p->sink.on_head(p->sink.ctx, &h)) != 0) {
		p->cb_err = err < 0 ? err : WEFT_EINVAL;
		return -1;
	}
	p->in_trailers = true;
	return 0;
}

static int
on_body(http_parser *hp, const char *at, size_t n)
{
	struct h1_parser *p = hp->data;
	int err;

	if (h1_chunk_end_body(&p->chunk_end,
	                      (hp->flags & F_CHUNKED) && hp->content_length == 0,
	                      (const uint8_t *)at, n) != 0) {
		p->err_status = 400;
		p->err_reason = "chunk data not followed by CRLF";
		return -1;
	}
	if (p->sink.on_body != NULL &&
	    (err = p->sink.on_body(p->sink.ctx, (const uint8_t *)at, n)) != 0) {
		p->cb_err = err < 0 ? err : WEFT_EINVAL;
		return -1;
	}
	return 0;
}

static int
on_message_complete(http_parser *hp)
{
	struct h1_parser *p = hp->data;
	int r = 0;

	if (p->sink.on_end != NULL)
		r = p->sink.on_end(p->sink.ctx);
	if (r < 0) {
		p->cb_err = r;
		return -1;
	}
	p->paused = r == H1_PAUSE;
	/* Always stop here, so the next head goes through our scanner. */
	http_parser_pause(hp, 1);
	return 0;
}

int
h1_parser_new(const struct h1_limits *limits, const struct h1_sink *sink,
              struct h1_parser **out)
{
	struct h1_parser *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (p == NULL)
		return WEFT_ENOMEM;
	if (limits != NULL)
		p->lim = *limits;
	if (p->lim.max_head_bytes == 0)
		p->lim.max_head_bytes = H1_MAX_HEAD_BYTES;
	if (p->lim.max_head_bytes > H1_HEAD_BYTES_CAP)
		p->lim.max_head_bytes = H1_HEAD_BYTES_CAP;
	if (p->lim.max_headers == 0)
		p->lim.max_headers = H1_MAX_HEADERS;
	if (p->lim.max_headers > p->lim.max_head_bytes / 3)
		p->lim.max_headers = p->lim.max_head_bytes / 3 + 1;
	if (sink != NULL)
		p->sink = *sink;
	/* Every gathered byte came from the head, and each NUL stands in
	 * for a ':' or a line end, so the head limit bounds the buffer. */
	p->buf_cap = p->lim.max_head_bytes + 1;
	p->buf = malloc(p->buf_cap);
	p->fields = calloc(p->lim.max_headers, sizeof(*p->fields));
	p->out = calloc(p->lim.max_headers * 2, sizeof(*p->out));
	if (p->buf == NULL || p->fields == NULL || p->out == NULL) {
		h1_parser_free(p);
		return WEFT_ENOMEM;
	}
	http_parser_init(&p->hp, HTTP_REQUEST);
	p->hp.data = p;
	http_parser_settings_init(&p->hs);
	p->hs.on_message_begin = on_message_begin;
	p->hs.on_url = on_url;
	p->hs.on_header_field = on_field;
	p->hs.on_header_value = on_value;
	p->hs.on_headers_complete = on_headers_complete;
	p->hs.on_body = on_body;
	p->hs.on_message_complete = on_message_complete;
	*out = p;
	return 0;
}

void
h1_parser_free(struct h1_parser *p)
{
	if (p == NULL)
		return;
	free(p->buf);
	free(p->fields);
	free(p->out);
	free(p);
}

/* Bytes that may sit inside a head line: visible ASCII, space, tab and
 * obs-text; not CR, LF, other controls or DEL. */
static inline bool
line_byte(uint8_t c)
{
	return c >= 0x20 ? c != 0x7f : c == '\t';
}

/*
 * Scans head bytes: every line ends in CRLF, nothing else is a line end,
 * no control characters, no folding.  Returns how many bytes belong to
 * the head so far (through the empty line when *done), or -1.
 */
static long
scan_head(struct h1_parser *p, const uint8_t *d, size_t n, bool *done)
{
	/* Locals, written back once: d may alias the state (uint8_t), which
	 * otherwise costs a load and a store per field per byte. */
	struct scan s = p->scan;
	size_t max = p->lim.max_head_bytes;
	const char *why = NULL;
	int status = 400;
	long ret = (long)n;

	*done = false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = d[i];

		if (++s.bytes > max) {
			status = 431;
			why = "request head too large";
			break;
		}
		if (s.cr) {
			if (c != '\n') {
				why = "bare CR in head";
				break;
			}
			s.cr = false;
			if (s.line_len > 0) {
				s.lines++;
				s.line_len = 0;
			} else if (s.lines > 0) {
				*done = true;
				ret = (long)i + 1;
				break;
			}
			/* else: an empty line before the request line, which
			 * RFC 9112 §2.2 lets a server ignore. */
			continue;
		}
		if (c == '\r') {
			s.cr = true;
			continue;
		}
		if (c == '\n') {
			why = "bare LF in head";
			break;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			why = "control character in head";
			break;
		}
		if (s.line_len == 0 && s.lines > 0 && (c == ' ' || c == '\t')) {
			why = "obsolete line folding";
			break;
		}
		s.line_len++;
		/* The rest of the line's plain bytes in one run (the checks
		 * above matter only at a CR, a line's start or a bad byte),
		 * stopping where the head would grow past max. */
		{
			size_t j = i + 1, end = n;

			if (max - s.bytes < end - j)
				end = j + (max - s.bytes);
			while (j < end && line_byte(d[j]))
				j++;
			s.bytes += j - (i + 1);
			s.line_len += j - (i + 1);
			i = j - 1;
		}
	}
	p->scan = s;
	if (why != NULL)
		return refuse(p, status, why), -1;
	return ret;
}

static int
parser_failed(struct h1_parser *p)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);

	if (p->cb_err != 0) {
		p->state = ST_DEAD;
		return p->cb_err;
	}
	if (p->err_status != 0)
		return refuse(p, p->err_status, p->err_reason);
	switch (e) {
	case HPE_INVALID_CHUNK_SIZE:
		return refuse(p, 400, "bad chunk size");
	case HPE_HEADER_OVERFLOW:
		return refuse(p, 431, "request head too large");
	case HPE_UNEXPECTED_CONTENT_LENGTH:
		return refuse(p, 400, "Content-Length more than once or with "
		                      "Transfer-Encoding");
	case HPE_INVALID_CONTENT_LENGTH:
		return refuse(p, 400, "bad Content-Length");
	case HPE_CB_header_field:
	case HPE_CB_header_value:
	case HPE_CB_url:
		return refuse(p, 431, "request head too large");
	default:
		return refuse(p, 400, http_errno_description(e));
	}
}

/* Runs http-parser over d; *used gets what it took. */
static int
run(struct h1_parser *p, const uint8_t *d, size_t n, size_t *used)
{
	size_t k;
	enum http_errno e;

	*used = 0;
	if (h1_chunk_end_feed(&p->chunk_end, d, n) != 0)
		return refuse(p, 400, "chunk data not followed by CRLF");
	k = http_parser_execute(&p->hp, &p->hs, (const char *)d, n);
	e = HTTP_PARSER_ERRNO(&p->hp);
	*used = k;
	if (e == HPE_PAUSED) {
		http_parser_pause(&p->hp, 0);
		return 1; /* a message ended */
	}
	if (e != HPE_OK)
		return parser_failed(p);
	if (k != n && !p->hp.upgrade)
		return refuse(p, 400, "malformed request");
	return 0;
}

static void
next_message(struct h1_parser *p)
{
	memset(&p->scan, 0, sizeof(p->scan));
	memset(&p->chunk_end, 0, sizeof(p->chunk_end));
	p->state = p->hp.upgrade ? ST_TUNNEL : ST_HEAD;
}

int
h1_feed(struct h1_parser *p, const uint8_t *data, size_t len,
        size_t *consumed)
{
	size_t off = 0;
	int r, err;

	*consumed = 0;
	if (p->state == ST_DEAD)
		return WEFT_ECLOSED;
	p->paused = false;
	while (off < len) {
		size_t used = 0;

		switch (p->state) {
		case ST_HEAD: {
			bool done;
			long k = scan_head(p, data + off, len - off, &done);

			if (k < 0)
				return WEFT_EMALFORMED;
			r = run(p, data + off, (size_t)k, &used);
			if (r < 0)
				return r;
			if (used != (size_t)k)
				return refuse(p, 400, "malformed request");
			off += used;
			if (r == 1)
				next_message(p);
			else if (done)
				p->state = ST_BODY;
			break;
		}
		case ST_BODY:
			r = run(p, data + off, len - off, &used);
			if (r < 0)
				return r;
			off += used;
			if (r == 1)
				next_message(p);
			break;
		case ST_TUNNEL:
			if (p->sink.on_tunnel != NULL &&
			    (err = p->sink.on_tunnel(p->sink.ctx, data + off,
			                             len - off)) != 0) {
				p->state = ST_DEAD;
				return err < 0 ? err : WEFT_EINVAL;
			}
			off = len;
			break;
		case ST_DEAD:
			return WEFT_ECLOSED;
		}
		*consumed = off;
		if (p->paused)
			return 0;
	}
	*consumed = off;
	return 0;
}

/* ---- chunk ends ---- */

/* Checks what of the CRLF still owed lies in [d, end). */
static int
chunk_end_check(struct h1_chunk_end *c, const uint8_t *d)
{
	if (c->end == NULL)
		return 0;
	while (c->need > 0 && d < c->end) {
		if (*d++ != (c->need == 2 ? '\r' : '\n'))
			return WEFT_EMALFORMED;
		c->need--;
	}
	return 0;
}

int
h1_chunk_end_feed(struct h1_chunk_end *c, const uint8_t *d, size_t n)
{
	if (n == 0) {
		/* An end of input (d may be NULL): nothing to peek at, and
		 * no pointer into a buffer that is gone. */
		c->end = NULL;
		return 0;
	}
	c->end = d + n;
	return chunk_end_check(c, d);
}

int
h1_chunk_end_body(struct h1_chunk_end *c, bool chunk_done, const uint8_t *at,
                  size_t n)
{
	if (!chunk_done)
		return 0;
	c->need = 2;
	return chunk_end_check(c, at + n);
}

/* ---- responses ---- */

const char *
h1_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

static bool
good_field(const struct h1_header *h)
{
	if (h->name == NULL || h->name_len == 0 || h->value == NULL)
		return false;
	if (!token(h->name, h->name_len))
		return false;
	for (size_t i = 0; i < h->value_len; i++) {
		unsigned char c = (unsigned char)h->value[i];

		if (c == '\r' || c == '\n' || c == '\0')
			return false;
	}
	return true;
}

static int
put_str(struct buf *b, const char *s)
{
	return buf_put(b, s, strlen(s));
}

static int
put_fields(struct buf *b, const struct h1_header *hs, size_t n, bool framing)
{
	for (size_t i = 0; i < n; i++) {
		if (!good_field(&hs[i]))
			return WEFT_EINVAL;
		if (framing && (name_is(&hs[i], "content-length") ||
		                name_is(&hs[i], "transfer-encoding") ||
		                name_is(&hs[i], "connection")))
			return WEFT_EINVAL;
		buf_put(b, hs[i].name, hs[i].name_len);
		put_str(b, ": ");
		buf_put(b, hs[i].value, hs[i].value_len);
		put_str(b, "\r\n");
	}
	return 0;
}

int
h1_write_head(struct buf *b, const struct h1_response *r)
{
	char line[64];
	size_t used;
	const char *reason;
	int err;

	if (r == NULL || r->status < 100 || r->status > 999)
		return WEFT_EINVAL;
	reason = r->reason != NULL ? r->reason : h1_reason(r->status);
	for (const char *c = reason; *c != '\0'; c++)
		if (*c == '\r' || *c == '\n')
			return WEFT_EINVAL;
	used = 0;
	weft_str_put(line, sizeof(line), &used, "HTTP/1.1 ");
	weft_str_putu(line, sizeof(line), &used, (unsigned)r->status);
	weft_str_put(line, sizeof(line), &used, " ");
	put_str(b, line);
	put_str(b, reason);
	put_str(b, "\r\n");
	if ((err = put_fields(b, r->headers, r->n_headers, true)) != 0)
		return err;
	switch (r->framing) {
	case H1_BODY_NONE:
	case H1_BODY_CLOSE:
		break;
	case H1_BODY_LENGTH:
		used = 0;
		weft_str_put(line, sizeof(line), &used, "content-length: ");
		weft_str_putu(line, sizeof(line), &used,
		              (unsigned long long)r->content_length);
		weft_str_put(line, sizeof(line), &used, "\r\n");
		put_str(b, line);
		break;
	case H1_BODY_CHUNKED:
		put_str(b, "transfer-encoding: chunked\r\n");
		break;
	}
	if (!r->keep_alive || r->framing == H1_BODY_CLOSE)
		put_str(b, "connection: close\r\n");
	put_str(b, "\r\n");
	return b->err;
}

int
h1_write_chunk(struct buf *b, const void *data, size_t n)
{
	char size[24];

	if (n == 0)
		return b->err;
	snprintf(size, sizeof(size), "%zx\r\n", n);
	put_str(b, size);
	buf_put(b, data, n);
	put_str(b, "\r\n");
	return b->err;
}

int
h1_write_end(struct buf *b, const struct h1_header *trailers, size_t n)
{
	int err;

	put_str(b, "0\r\n");
	if ((err = put_fields(b, trailers, n, true)) != 0)
		return err;
	put_str(b, "\r\n");
	return b->err;
}

int
h1_write_continue(struct buf *b)
{
	put_str(b, "HTTP/1.1 100 Continue\r\n\r\n");
	return b->err;
}

int
h1_write_error(struct buf *b, int status, const char *why, const char *agent,
               bool keep_alive)
{
	char body[256];
	int n;
	struct h1_header hs[2] = {
		{.name = "content-type", .name_len = 12,
		 .value = "text/plain; charset=utf-8", .value_len = 25},
		{.name = "x-weft-agent", .name_len = 12,
		 .value = agent != NULL ? agent : "",
		 .value_len = agent != NULL ? strlen(agent) : 0},
	};
	struct h1_response r = {
		.status = status,
		.headers = hs,
		.n_headers = agent != NULL ? 2 : 1,
		.framing = H1_BODY_LENGTH,
		.keep_alive = keep_alive,
	};
	int err;

	n = snprintf(body, sizeof(body), "%s\n",
	             why != NULL ? why : h1_reason(status));
	if (n < 0)
		return WEFT_EINVAL;
	if ((size_t)n >= sizeof(body))
		n = (int)sizeof(body) - 1;
	for (int i = 0; i < n - 1; i++)
		if (body[i] == '\r' || body[i] == '\n')
			body[i] = ' ';
	body[n - 1] = '\n';
	r.content_length = (uint64_t)n;
	if ((err = h1_write_head(b, &r)) != 0)
		return err;
	buf_put(b, body, (size_t)n);
	return b->err;
}
