/*
 * The h2c front end (agent/http_front_h2.h): an nghttp2 server session
 * per app connection, one http_call per stream.
 *
 * Request body: DATA goes to http_call_write(); what the call has no room
 * for waits per stream until on_writable, and only what the call took is
 * acknowledged to the app (nghttp2_session_consume), so the wait is
 * bounded by the stream window given to the app (FH2_WINDOW).  Answer:
 * nghttp2 pulls the body from the call (http_call_read_peek/consume) as
 * the app's window allows, deferred until on_readable when nothing waits.
 *
 * Deadlines, checked by a one-second sweep per front as in the HTTP/1.1
 * front end: the connection preface and first SETTINGS within
 * proxy.head_timeout of the accept, and each header block within it of
 * its first frame (closed otherwise: there is no stream to answer on);
 * with no stream open, proxy.client_idle_timeout (GOAWAY, then closed
 * once it is out).  Bytes alone (PINGs, a trickled frame) extend none.
 *
 * Lifetimes: a stream is freed (and its call with it) when nghttp2 closes
 * it, or with its connection.  A connection closes on a socket error, an
 * HTTP/2 error, or when neither side wants more; its memory goes in the
 * close callback, and sink callbacks that come meanwhile see `closing`
 * and do nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/http_call.h"
#include "agent/http_front_h2.h"
#include "agent/proxy_int.h"
#include "common/counter.h"
#include "common/err.h"
#include "common/list.h"
#include "proxy/circuit.h"
#include "proxy/h2mem.h"
#include "proxy/mesh.h"

#define FH2_WINDOW (128 * 1024)            /* per stream, given to the app */
#define FH2_CONN_WINDOW (8 * 1024 * 1024)  /* per connection */
#define FH2_MAX_STREAMS 256                /* concurrent, per connection */
#define FH2_NV_MAX (MESH_HEADER_FIELDS_MAX + 8)
#define FH2_READ (64u * 1024)
#define FH2_MEM_CACHE (128u * 1024) /* recycled blocks per connection */

struct http_front_h2 {
	struct agent_proxy *px;
	struct http_caller *hc;
	uv_tcp_t listener;
	struct list conns;
	/* Connections with frames to write, flushed once per loop turn
	 * (many streams' answers in one write); the idle handle keeps the
	 * loop from blocking while any wait. */
	struct list dirty;
	uv_check_t flusher;
	uv_idle_t awake;
	struct circuit *circuit; /* the upstream's limits, shared by workers */
	char service[64];
	char owner[64]; /* the upstream's service, "" for the agent's */
	bool closing;
	unsigned handles; /* listener and connections not yet closed */
	struct http_front_h2_stats stats;
	uv_timer_t sweep;
	int64_t head_timeout_ms;
	int64_t idle_timeout_ms;
	nghttp2_nv out[FH2_NV_MAX]; /* blocks handed to nghttp2 (copied) */
};

/* What a connection's deadline is for. */
enum fh2_wait {
	FH2_WAIT_NONE = 0, /* streams open: the calls have their timeouts */
	FH2_WAIT_PREFACE,  /* accepted, no SETTINGS yet */
	FH2_WAIT_HEAD,     /* a header block begun, not ended */
	FH2_WAIT_IDLE,     /* no stream open */
	FH2_WAIT_GOAWAY,   /* GOAWAY queued: closed at the latest then */
};

struct fh2_conn {
	struct list link;
	int64_t deadline_ms;
	enum fh2_wait wait;
	bool settled;    /* the app's first SETTINGS came */
	int32_t head_id; /* the stream whose header block is open, or 0 */
	bool counted;    /* holds one CIRCUIT_CONNECTIONS */
	bool over_limit; /* over it: every stream is answered 503 */
	struct list dirty_link; /* on f->dirty while marked */
	bool dirty;
	struct http_front_h2 *f;
	uv_tcp_t tcp;
	uv_write_t wreq;
	nghttp2_session *sess;
	/* The session's blocks and the stream records, recycled: a warm
	 * connection opens and closes streams without malloc. */
	struct h2mem mem;
	struct list streams;
	bool writing, closing;
	uint8_t *wbuf;
	size_t wcap;
	/* The header block being received. */
	char *hbuf;
	size_t hlen, hcap;
	nghttp2_nv nv[FH2_NV_MAX];
	size_t n_nv;
	bool hbad;
	uint8_t rbuf[FH2_READ];
};

struct fh2_stream {
	struct list link;
	struct fh2_conn *c;
	int32_t id;
	struct http_call *call;
	bool req_ended;    /* http_call_end() done (or no call) */
	bool end_pending;  /* the app ended the request; pend goes first */
	uint8_t *pend;     /* body the call had no room for */
	size_t plen, poff, pcap;
	char *tblock;      /* request trailers waiting behind pend */
	nghttp2_nv *tnv;
	size_t tn;
	bool own_answer;   /* weft's answer: body from err */
	bool counted;      /* holds one CIRCUIT_REQUESTS */
	bool pending;      /* holds one CIRCUIT_PENDING (until a head) */
	char err[HTTP_CALL_REASON_MAX + 2];
	size_t err_len, err_off;
};

static void conn_flush(struct fh2_conn *c);

static void
on_awake(uv_idle_t *h)
{
	(void)h; /* only keeps the loop from blocking before the check */
}

/* Frames were queued from a call's callback: written at the loop turn's
 * end, with whatever else the turn queued. */
static void
conn_mark(struct fh2_conn *c)
{
	if (c->dirty || c->closing)
		return;
	c->dirty = true;
	list_insert_tail(&c->f->dirty, &c->dirty_link);
	uv_idle_start(&c->f->awake, on_awake);
}

/* ---- deadlines ---- */

static int64_t
fh2_now(const struct http_front_h2 *f)
{
	return agent_proxy_now(f->px);
}

/* The deadline for what the connection waits for now; one already
 * running for the same thing is kept. */
static void
conn_rewait(struct fh2_conn *c)
{
	enum fh2_wait w;
	int64_t ms = 0;

	if (c->wait == FH2_WAIT_GOAWAY)
		return;
	if (!c->settled) {
		w = FH2_WAIT_PREFACE;
		ms = c->f->head_timeout_ms;
	} else if (c->head_id != 0) {
		w = FH2_WAIT_HEAD;
		ms = c->f->head_timeout_ms;
	} else if (list_empty(&c->streams)) {
		w = FH2_WAIT_IDLE;
		ms = c->f->idle_timeout_ms;
	} else {
		w = FH2_WAIT_NONE;
	}
	if (w == c->wait)
		return;
	c->wait = w;
	c->deadline_ms = w == FH2_WAIT_NONE ? 0 : fh2_now(c->f) + ms;
}

/* ---- connections ---- */

static void
stream_unpend(struct fh2_stream *s)
{
	if (s->pending)
		circuit_release(s->c->f->circuit, CIRCUIT_PENDING);
	s->pending = false;
}

static void
stream_free(struct fh2_stream *s)
{
	stream_unpend(s);
	if (s->counted)
		circuit_release(s->c->f->circuit, CIRCUIT_REQUESTS);
	s->counted = false;
	list_remove(&s->link);
	if (s->call != NULL)
		http_call_free(s->call);
	if (s->pend != NULL) /* mostly NULL: no call into free then */
		free(s->pend);
	if (s->tblock != NULL || s->tnv != NULL) {
		free(s->tblock);
		free(s->tnv);
	}
	h2mem_release(&s->c->mem, s);
}

static void
front_maybe_free(struct http_front_h2 *f)
{
	if (f->closing && f->handles == 0)
		free(f);
}

static void
conn_freed(uv_handle_t *h)
{
	struct fh2_conn *c = h->data;
	struct http_front_h2 *f = c->f;

	while (!list_empty(&c->streams))
		stream_free(list_entry(c->streams.next, struct fh2_stream,
		                       link));
	if (c->sess != NULL)
		nghttp2_session_del(c->sess);
	h2mem_clear(&c->mem);
	free(c->wbuf);
	free(c->hbuf);
	free(c);
	f->handles--;
	front_maybe_free(f);
}

static void
conn_close(struct fh2_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	list_remove(&c->link);
	if (c->counted)
		circuit_release(c->f->circuit, CIRCUIT_CONNECTIONS);
	c->counted = false;
	if (c->dirty) {
		list_remove(&c->dirty_link);
		c->dirty = false;
	}
	uv_close((uv_handle_t *)&c->tcp, conn_freed);
}

static void
on_written(uv_write_t *req, int status)
{
	struct fh2_conn *c = req->data;

	c->writing = false;
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	conn_flush(c);
}

/* Frames gathered for one write: nghttp2 hands them out one per call, and
 * a write each cost a syscall per frame (two per request, HEADERS and
 * DATA).  Up to a frame past this. */
#define FLUSH_GATHER (16u * 1024)

/* Gathers what nghttp2 has into wbuf: bytes, 0 for none, or -1. */
static long
conn_gather(struct fh2_conn *c)
{
	size_t len = 0;

	while (len < FLUSH_GATHER) {
		const uint8_t *p;
		ssize_t n = nghttp2_session_mem_send(c->sess, &p);

		if (n < 0)
			return -1;
		if (n == 0)
			break;
		if (len + (size_t)n > c->wcap) {
			size_t cap = c->wcap ? c->wcap : 1024;
			uint8_t *nb;

			while (cap < len + (size_t)n)
				cap *= 2;
			if ((nb = realloc(c->wbuf, cap)) == NULL)
				return -1;
			c->wbuf = nb;
			c->wcap = cap;
		}
		memcpy(c->wbuf + len, p, (size_t)n);
		len += (size_t)n;
	}
	return (long)len;
}

/* Writes what nghttp2 has, gathered: at once while the socket takes it,
 * the rest asynchronously, one write at a time. */
static void
conn_flush(struct fh2_conn *c)
{
	for (int rounds = 0; !c->closing && !c->writing && rounds < 64;
	     rounds++) {
		long n = conn_gather(c);
		uv_buf_t b;
		int w;

		if (n < 0) {
			COUNTER_INC(c->f->stats.bad);
			conn_close(c);
			return;
		}
		if (n == 0)
			break;
		b = uv_buf_init((char *)c->wbuf, (unsigned)n);
		w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (w == UV_EAGAIN)
			w = 0;
		if (w < 0) {
			conn_close(c);
			return;
		}
		if (w == n)
			continue;
		/* wbuf stays as it is until on_written: nothing gathers
		 * while c->writing. */
		b = uv_buf_init((char *)c->wbuf + w, (unsigned)(n - w));
		c->wreq.data = c;
		if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1,
		             on_written) != 0) {
			conn_close(c);
			return;
		}
		c->writing = true;
	}
	if (!c->closing && !c->writing && !nghttp2_session_want_read(c->sess) &&
	    !nghttp2_session_want_write(c->sess))
		conn_close(c);
}

static void
on_flusher(uv_check_t *h)
{
	struct http_front_h2 *f = h->data;
	struct list batch;

	/* Connections marked by this flush (a write error cannot mark, but
	 * be bounded anyway) wait for the next turn. */
	list_init(&batch);
	while (!list_empty(&f->dirty)) {
		struct list *l = f->dirty.next;

		list_remove(l);
		list_insert_tail(&batch, l);
	}
	while (!list_empty(&batch)) {
		struct fh2_conn *c = list_entry(batch.next, struct fh2_conn,
		                                dirty_link);

		list_remove(&c->dirty_link);
		c->dirty = false;
		conn_flush(c);
	}
	if (list_empty(&f->dirty))
		uv_idle_stop(&f->awake);
}

/* ---- the answer ---- */

static bool
weft_field(const nghttp2_nv *v)
{
	return v->namelen >= 5 && memcmp(v->name, "weft-", 5) == 0;
}

static ssize_t
read_answer(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t length,
            uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct fh2_stream *s = nghttp2_session_get_stream_user_data(sess, id);
	const uint8_t *p;
	size_t len, n;
	bool eof = false;

	(void)src;
	(void)user;
	if (s == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (s->own_answer) {
		n = s->err_len - s->err_off;
		if (n > length)
			n = length;
		memcpy(buf, s->err + s->err_off, n);
		s->err_off += n;
		if (s->err_off == s->err_len)
			*flags |= NGHTTP2_DATA_FLAG_EOF;
		return (ssize_t)n;
	}
	if (s->call == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	http_call_read_peek(s->call, &p, &len, &eof);
	if (len == 0 && !eof)
		return NGHTTP2_ERR_DEFERRED;
	n = len < length ? len : length;
	if (n > 0) {
		memcpy(buf, p, n);
		http_call_read_consume(s->call, n);
		http_call_read_peek(s->call, &p, &len, &eof);
	}
	if (len == 0 && eof) {
		const nghttp2_nv *t;
		size_t tn = 0, k = 0;
		struct http_front_h2 *f = s->c->f;

		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (http_call_trailers(s->call, &t, &tn) == 0 && tn > 0) {
			for (size_t i = 0; i < tn && k < FH2_NV_MAX; i++)
				if (!weft_field(&t[i]))
					f->out[k++] = t[i];
			if (k > 0 && nghttp2_submit_trailer(sess, id, f->out, k) == 0)
				*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		}
	}
	return (ssize_t)n;
}

static void
s_on_head(void *ctx, int status, const nghttp2_nv *nv, size_t n,
          bool upgraded)
{
	struct fh2_stream *s = ctx;
	struct fh2_conn *c = s->c;
	struct http_front_h2 *f = c->f;
	nghttp2_data_provider dp = {.read_callback = read_answer};
	const uint8_t *p;
	size_t len, k = 0, tn = 0;
	const nghttp2_nv *t;
	bool eof = false;

	(void)status;
	if (c->closing)
		return;
	stream_unpend(s);
	if (upgraded) {
		/* Never asked for here (an h2c app has no Upgrade). */
		nghttp2_submit_rst_stream(c->sess, NGHTTP2_FLAG_NONE, s->id,
		                          NGHTTP2_INTERNAL_ERROR);
		conn_mark(c);
		return;
	}
	for (size_t i = 0; i < n && k < FH2_NV_MAX; i++)
		if (!weft_field(&nv[i]))
			f->out[k++] = nv[i];
	/* A head that ended the stream (gRPC's trailers-only answer, a 204)
	 * stays one HEADERS with END_STREAM. */
	http_call_read_peek(s->call, &p, &len, &eof);
	if (eof && len == 0 &&
	    (http_call_trailers(s->call, &t, &tn) != 0 || tn == 0))
		nghttp2_submit_response(c->sess, s->id, f->out, k, NULL);
	else
		nghttp2_submit_response(c->sess, s->id, f->out, k, &dp);
	conn_mark(c);
}

static void
s_on_readable(void *ctx)
{
	struct fh2_stream *s = ctx;

	if (s->c->closing)
		return;
	nghttp2_session_resume_data(s->c->sess, s->id);
	conn_mark(s->c);
}

/* Hands waiting body bytes (then the end) to the call. */
static void
pend_flush(struct fh2_stream *s)
{
	struct fh2_conn *c = s->c;
	size_t acc = 0;

	if (s->call == NULL)
		return;
	if (s->poff < s->plen) {
		if (http_call_write(s->call, s->pend + s->poff, s->plen - s->poff,
		                    &acc) != 0)
			acc = s->plen - s->poff; /* the call failed: dropped */
		s->poff += acc;
		if (acc > 0)
			nghttp2_session_consume(c->sess, s->id, acc);
		if (s->poff < s->plen)
			return; /* on_writable again */
		s->poff = s->plen = 0;
	}
	if (s->end_pending && !s->req_ended) {
		s->req_ended = true;
		http_call_end(s->call, s->tnv, s->tn);
	}
}

static void
s_on_writable(void *ctx)
{
	struct fh2_stream *s = ctx;

	if (s->c->closing)
		return;
	pend_flush(s);
	conn_mark(s->c); /* window updates */
}

/* weft's own answer: status, who decided, one line why. */
static void
own_answer(struct fh2_stream *s, int status, const char *reason,
           const char *agent)
{
	struct fh2_conn *c = s->c;
	nghttp2_data_provider dp = {.read_callback = read_answer};
	char st[4], cl[24];
	nghttp2_nv nv[4];

	if (status < 100 || status > 599)
		status = 502;
	snprintf(st, sizeof(st), "%d", status);
	s->err_len = (size_t)snprintf(s->err, sizeof(s->err), "%s\n", reason);
	if (s->err_len >= sizeof(s->err))
		s->err_len = sizeof(s->err) - 1;
	s->err_off = 0;
	s->own_answer = true;
	snprintf(cl, sizeof(cl), "%zu", s->err_len);
	nv[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)st, 7, 3,
	                     NGHTTP2_NV_FLAG_NONE};
	nv[1] = (nghttp2_nv){(uint8_t *)"content-type",
	                     (uint8_t *)"text/plain; charset=utf-8", 12, 25,
	                     NGHTTP2_NV_FLAG_NONE};
	nv[2] = (nghttp2_nv){(uint8_t *)"x-weft-agent", (uint8_t *)agent, 12,
	                     strlen(agent), NGHTTP2_NV_FLAG_NONE};
	nv[3] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)cl, 14,
	                     strlen(cl), NGHTTP2_NV_FLAG_NONE};
	nghttp2_submit_response(c->sess, s->id, nv, 4, &dp);
}

static void
s_on_error(void *ctx, int status, const char *reason, const char *agent)
{
	struct fh2_stream *s = ctx;

	if (s->c->closing)
		return;
	stream_unpend(s);
	own_answer(s, status, reason, agent);
	conn_mark(s->c);
}

static void
s_on_abort(void *ctx, const char *reason)
{
	struct fh2_stream *s = ctx;

	(void)reason;
	if (s->c->closing)
		return;
	nghttp2_submit_rst_stream(s->c->sess, NGHTTP2_FLAG_NONE, s->id,
	                          NGHTTP2_INTERNAL_ERROR);
	conn_mark(s->c);
}

/* ---- the request ---- */

static int
on_begin_headers(nghttp2_session *sess, const nghttp2_frame *fr, void *user)
{
	struct fh2_conn *c = user;
	struct fh2_stream *s;

	c->head_id = fr->hd.stream_id;
	conn_rewait(c);
	c->hlen = 0;
	c->n_nv = 0;
	c->hbad = false;
	if (fr->hd.type != NGHTTP2_HEADERS ||
	    fr->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = h2mem_calloc(&c->mem, 1, sizeof(*s));
	if (s == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	s->c = c;
	s->id = fr->hd.stream_id;
	list_insert_tail(&c->streams, &s->link);
	nghttp2_session_set_stream_user_data(sess, s->id, s);
	return 0;
}

static int
on_header(nghttp2_session *sess, const nghttp2_frame *fr, const uint8_t *name,
          size_t namelen, const uint8_t *value, size_t valuelen,
          uint8_t flags, void *user)
{
	struct fh2_conn *c = user;
	size_t need = namelen + valuelen;

	(void)sess;
	(void)fr;
	(void)flags;
	if (namelen >= 5 && memcmp(name, "weft-", 5) == 0)
		return 0; /* an app does not speak for weft */
	if (c->hbad || c->n_nv == FH2_NV_MAX ||
	    c->hlen + need > MESH_HEADER_BLOCK_MAX) {
		c->hbad = true;
		return 0;
	}
	if (c->hlen + need > c->hcap) {
		size_t cap = c->hcap ? c->hcap : 4096;
		char *nb;

		while (cap < c->hlen + need)
			cap *= 2;
		nb = realloc(c->hbuf, cap);
		if (nb == NULL) {
			c->hbad = true;
			return 0;
		}
		for (size_t i = 0; i < c->n_nv; i++) {
			c->nv[i].name = (uint8_t *)nb +
			                (c->nv[i].name - (uint8_t *)c->hbuf);
			c->nv[i].value = (uint8_t *)nb +
			                 (c->nv[i].value - (uint8_t *)c->hbuf);
		}
		c->hbuf = nb;
		c->hcap = cap;
	}
	memcpy(c->hbuf + c->hlen, name, namelen);
	memcpy(c->hbuf + c->hlen + namelen, value, valuelen);
	c->nv[c->n_nv++] = (nghttp2_nv){
		.name = (uint8_t *)c->hbuf + c->hlen,
		.namelen = namelen,
		.value = (uint8_t *)c->hbuf + c->hlen + namelen,
		.valuelen = valuelen,
		.flags = NGHTTP2_NV_FLAG_NONE,
	};
	c->hlen += need;
	return 0;
}

static bool
is(const nghttp2_nv *v, const char *name)
{
	return v->namelen == strlen(name) &&
	       memcmp(v->name, name, v->namelen) == 0;
}

static void
start_call(struct fh2_conn *c, struct fh2_stream *s, bool end_stream)
{
	struct http_front_h2 *f = c->f;
	struct http_call_sink sink = {
		.on_head = s_on_head,
		.on_readable = s_on_readable,
		.on_writable = s_on_writable,
		.on_error = s_on_error,
		.on_abort = s_on_abort,
		.ctx = s,
	};
	struct http_call_request req = {0};
	struct http_call_error err;
	const nghttp2_nv *host = NULL;
	bool have_authority = false, expect = false;
	size_t k = 0;
	const char *self = agent_proxy_node(f->px);

	if (c->hbad) {
		own_answer(s, 431, "request header block too large", self);
		s->req_ended = true;
		return;
	}
	/* Circuit limits: over one, 503 at once rather than a queue. */
	if (c->over_limit || circuit_acquire(f->circuit,
	                                     CIRCUIT_REQUESTS) != 0) {
		COUNTER_INC(f->stats.circuit_overflows);
		own_answer(s, 503, c->over_limit
		               ? "circuit open: too many connections"
		               : "circuit open: too many requests in flight",
		           self);
		s->req_ended = true;
		return;
	}
	s->counted = true;
	if (circuit_acquire(f->circuit, CIRCUIT_PENDING) != 0) {
		COUNTER_INC(f->stats.circuit_overflows);
		own_answer(s, 503, "circuit open: too many pending requests",
		           self);
		s->req_ended = true;
		return;
	}
	s->pending = true;
	/* Pseudo-fields first (nghttp2 checked their order); Host becomes
	 * :authority when that is missing (RFC 9113 §8.3.1), and goes. */
	for (size_t i = 0; i < c->n_nv; i++) {
		if (is(&c->nv[i], "host")) {
			host = &c->nv[i];
			continue;
		}
		if (is(&c->nv[i], ":authority"))
			have_authority = true;
		/* Answered here, as the HTTP/1.1 front end does: the body
		 * goes on at once, so the remote side need not wait. */
		if (is(&c->nv[i], "expect") && c->nv[i].valuelen == 12 &&
		    strncasecmp((const char *)c->nv[i].value, "100-continue",
		                12) == 0) {
			expect = true;
			continue;
		}
		f->out[k++] = c->nv[i];
	}
	if (!have_authority && host != NULL && k < FH2_NV_MAX) {
		/* After :method/:scheme/:path, still among the pseudo-fields:
		 * move the regular fields up by one. */
		size_t at = 0;

		while (at < k && f->out[at].namelen > 0 &&
		       f->out[at].name[0] == ':')
			at++;
		memmove(f->out + at + 1, f->out + at, (k - at) * sizeof(*f->out));
		f->out[at] = (nghttp2_nv){(uint8_t *)":authority", host->value,
		                          10, host->valuelen,
		                          NGHTTP2_NV_FLAG_NONE};
		k++;
	}
	req.service = f->service;
	req.source = f->owner;
	req.nv = f->out;
	req.n = k;
	req.end_stream = end_stream;
	COUNTER_INC(f->stats.streams);
	if (http_call_start(f->hc, &req, &sink, &s->call, &err) != 0) {
		s->call = NULL;
		s->req_ended = true;
		stream_unpend(s);
		own_answer(s, err.status, err.reason, err.agent);
		return;
	}
	if (end_stream)
		s->req_ended = true;
	else if (expect) {
		static const nghttp2_nv cont[] = {
			{(uint8_t *)":status", (uint8_t *)"100", 7, 3,
			 NGHTTP2_NV_FLAG_NONE},
		};

		nghttp2_submit_headers(c->sess, NGHTTP2_FLAG_NONE, s->id, NULL,
		                       cont, 1, NULL);
	}
}

/* Keeps request trailers (copied) until the waiting body is handed on. */
static int
keep_trailers(struct fh2_stream *s, const nghttp2_nv *nv, size_t n)
{
	size_t total = 0, off = 0;

	for (size_t i = 0; i < n; i++)
		total += nv[i].namelen + nv[i].valuelen;
	s->tblock = malloc(total + 1);
	s->tnv = calloc(n ? n : 1, sizeof(*s->tnv));
	if (s->tblock == NULL || s->tnv == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		s->tnv[i] = nv[i];
		s->tnv[i].name = (uint8_t *)s->tblock + off;
		memcpy(s->tblock + off, nv[i].name, nv[i].namelen);
		off += nv[i].namelen;
		s->tnv[i].value = (uint8_t *)s->tblock + off;
		memcpy(s->tblock + off, nv[i].value, nv[i].valuelen);
		off += nv[i].valuelen;
	}
	s->tn = n;
	return 0;
}

static int
on_frame_recv(nghttp2_session *sess, const nghttp2_frame *fr, void *user)
{
	struct fh2_conn *c = user;
	struct fh2_stream *s;
	bool end = (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	if (fr->hd.type == NGHTTP2_SETTINGS && !c->settled) {
		c->settled = true;
		conn_rewait(c);
	}
	if (fr->hd.type == NGHTTP2_HEADERS && fr->hd.stream_id == c->head_id) {
		/* The block is whole (called at its end); the next one, in
		 * this same read perhaps, gets a deadline of its own. */
		c->head_id = 0;
		conn_rewait(c);
	}
	if (fr->hd.stream_id == 0)
		return 0;
	s = nghttp2_session_get_stream_user_data(sess, fr->hd.stream_id);
	if (s == NULL)
		return 0;
	if (fr->hd.type == NGHTTP2_HEADERS &&
	    fr->headers.cat == NGHTTP2_HCAT_REQUEST) {
		start_call(c, s, end);
		return 0;
	}
	if (!end || s->req_ended)
		return 0;
	/* The request ends: with trailers (HEADERS) or a DATA frame. */
	if (fr->hd.type == NGHTTP2_HEADERS && !c->hbad && c->n_nv > 0) {
		if (s->plen > s->poff) {
			if (keep_trailers(s, c->nv, c->n_nv) != 0)
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
			s->end_pending = true;
			return 0;
		}
		s->req_ended = true;
		http_call_end(s->call, c->nv, c->n_nv);
		return 0;
	}
	s->end_pending = true;
	pend_flush(s);
	return 0;
}

static int
on_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t id,
              const uint8_t *data, size_t len, void *user)
{
	struct fh2_stream *s = nghttp2_session_get_stream_user_data(sess, id);
	size_t acc = 0;

	(void)flags;
	(void)user;
	if (s == NULL || s->call == NULL || s->req_ended) {
		nghttp2_session_consume(sess, id, len); /* nobody reads it */
		return 0;
	}
	if (s->plen == s->poff) {
		if (http_call_write(s->call, data, len, &acc) != 0)
			acc = len;
		if (acc > 0)
			nghttp2_session_consume(sess, id, acc);
		if (acc == len)
			return 0;
		data += acc;
		len -= acc;
		s->plen = s->poff = 0;
	}
	/* Bounded by the window the app was given for this stream. */
	if (s->plen + len > s->pcap) {
		size_t cap = s->pcap ? s->pcap : 16384;
		uint8_t *nb;

		if (s->poff > 0) {
			memmove(s->pend, s->pend + s->poff, s->plen - s->poff);
			s->plen -= s->poff;
			s->poff = 0;
		}
		while (cap < s->plen + len)
			cap *= 2;
		if (cap > s->pcap) {
			nb = realloc(s->pend, cap);
			if (nb == NULL)
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
			s->pend = nb;
			s->pcap = cap;
		}
	}
	memcpy(s->pend + s->plen, data, len);
	s->plen += len;
	return 0;
}

static int
on_stream_close(nghttp2_session *sess, int32_t id, uint32_t code, void *user)
{
	struct fh2_stream *s = nghttp2_session_get_stream_user_data(sess, id);
	struct fh2_conn *c = user;

	(void)code;
	if (id == c->head_id)
		c->head_id = 0;
	if (s != NULL) {
		nghttp2_session_set_stream_user_data(sess, id, NULL);
		stream_free(s);
	}
	if (!c->closing)
		conn_rewait(c);
	return 0;
}

/* ---- accepting ---- */

static void
alloc_conn(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct fh2_conn *c = h->data;

	(void)hint;
	buf->base = (char *)c->rbuf;
	buf->len = sizeof(c->rbuf);
}

static void
on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct fh2_conn *c = st->data;
	ssize_t rc;

	if (c->closing || n == 0)
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	rc = nghttp2_session_mem_recv(c->sess, (const uint8_t *)buf->base,
	                              (size_t)n);
	if (rc < 0) {
		COUNTER_INC(c->f->stats.bad);
		weft_logf(agent_proxy_log(c->f->px), WEFT_LOG_INFO,
		          "msg=\"h2c app connection ended\" service=%s "
		          "reason=\"%s\"", c->f->service,
		          nghttp2_strerror((int)rc));
		conn_close(c);
		return;
	}
	conn_rewait(c);
	conn_flush(c);
}

static int
conn_session(struct fh2_conn *c)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_mem mem;
	nghttp2_settings_entry iv[2] = {
		{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, FH2_MAX_STREAMS},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, FH2_WINDOW},
	};
	int rc;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return WEFT_ENOMEM;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	                                                        on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	                                                          on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	                                                       on_stream_close);
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cb);
		return WEFT_ENOMEM;
	}
	nghttp2_option_set_no_auto_window_update(opt, 1);
	h2mem_mem(&c->mem, &mem);
	rc = nghttp2_session_server_new3(&c->sess, cb, c, opt, &mem);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	if (rc != 0)
		return WEFT_ENOMEM;
	if (nghttp2_submit_settings(c->sess, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
	    nghttp2_session_set_local_window_size(c->sess, NGHTTP2_FLAG_NONE, 0,
	                                          FH2_CONN_WINDOW) != 0)
		return WEFT_ENOMEM;
	return 0;
}

static void
on_accept(uv_stream_t *server, int status)
{
	struct http_front_h2 *f = server->data;
	struct fh2_conn *c;

	if (status < 0 || f->closing)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->f = f;
	/* As the mesh's: 64 streams' blocks stay warm. */
	h2mem_init(&c->mem, FH2_MEM_CACHE);
	list_init(&c->streams);
	uv_tcp_init(agent_proxy_loop(f->px), &c->tcp);
	c->tcp.data = c;
	list_insert_tail(&f->conns, &c->link);
	f->handles++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
	    conn_session(c) != 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	conn_rewait(c); /* the preface's deadline */
	COUNTER_INC(f->stats.connections);
	if (circuit_acquire(f->circuit, CIRCUIT_CONNECTIONS) != 0) {
		/* HTTP/2 has no answer without a stream: the session runs,
		 * and each stream it opens is answered 503. */
		COUNTER_INC(f->stats.circuit_overflows);
		c->over_limit = true;
	} else {
		c->counted = true;
	}
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_conn, on_read) != 0) {
		conn_close(c);
		return;
	}
	conn_flush(c); /* our SETTINGS */
}

static void
on_sweep(uv_timer_t *t)
{
	struct http_front_h2 *f = t->data;
	int64_t now = fh2_now(f);
	struct list *pos, *next;

	for (pos = f->conns.next; pos != &f->conns; pos = next) {
		struct fh2_conn *c = list_entry(pos, struct fh2_conn, link);
		const char *why;

		next = pos->next;
		if (c->closing || c->deadline_ms == 0 || now < c->deadline_ms)
			continue;
		c->deadline_ms = 0;
		switch (c->wait) {
		case FH2_WAIT_IDLE:
			/* GOAWAY; the flush closes the connection once it is
			 * out and the session wants nothing more. */
			COUNTER_INC(f->stats.idle_closed);
			if (nghttp2_session_terminate_session(
			        c->sess, NGHTTP2_NO_ERROR) != 0) {
				conn_close(c);
				continue;
			}
			/* An app that does not read cannot hold it open. */
			c->wait = FH2_WAIT_GOAWAY;
			c->deadline_ms = now + f->head_timeout_ms;
			conn_flush(c);
			continue;
		case FH2_WAIT_GOAWAY:
			conn_close(c);
			continue;
		case FH2_WAIT_PREFACE:
			why = "no HTTP/2 preface and SETTINGS within head_timeout";
			break;
		case FH2_WAIT_HEAD:
			why = "header block not complete within head_timeout";
			break;
		default:
			continue;
		}
		COUNTER_INC(f->stats.head_timeouts);
		weft_logf(agent_proxy_log(f->px), WEFT_LOG_INFO,
		          "msg=\"h2c app connection ended\" service=%s "
		          "reason=\"%s (%lld ms)\"", f->service, why,
		          (long long)f->head_timeout_ms);
		conn_close(c);
	}
}

static void
listener_closed(uv_handle_t *h)
{
	struct http_front_h2 *f = h->data;

	f->handles--;
	front_maybe_free(f);
}

int
http_front_h2_open(struct agent_proxy *px, struct http_caller *hc,
                   const struct agent_upstream *u,
                   struct http_front_h2 **out)
{
	struct http_front_h2 *f = calloc(1, sizeof(*f));
	struct gossip_addr ga;
	struct sockaddr_storage ss;
	int rc;

	*out = NULL;
	if (f == NULL)
		return WEFT_ENOMEM;
	f->px = px;
	f->hc = hc;
	list_init(&f->conns);
	list_init(&f->dirty);
	f->circuit = agent_proxy_circuit(px, u);
	if (f->circuit == NULL) {
		free(f);
		return WEFT_ENOMEM;
	}
	snprintf(f->service, sizeof(f->service), "%s", u->service);
	snprintf(f->owner, sizeof(f->owner), "%s", u->owner ? u->owner : "");
	uv_tcp_init(agent_proxy_loop(px), &f->listener);
	f->listener.data = f;
	uv_check_init(agent_proxy_loop(px), &f->flusher);
	f->flusher.data = f;
	uv_check_start(&f->flusher, on_flusher);
	uv_idle_init(agent_proxy_loop(px), &f->awake);
	f->awake.data = f;
	f->head_timeout_ms = agent_proxy_agent(px)->cfg.proxy.head_timeout_ms;
	f->idle_timeout_ms =
	    agent_proxy_agent(px)->cfg.proxy.client_idle_timeout_ms;
	uv_timer_init(agent_proxy_loop(px), &f->sweep);
	f->sweep.data = f;
	uv_timer_start(&f->sweep, on_sweep, 1000, 1000);
	/* The sweep alone must not keep the loop running at shutdown. */
	uv_unref((uv_handle_t *)&f->sweep);
	f->handles = 4;
	rc = agent_addr_from_hostport(&u->local_bind, &ga);
	if (rc == 0)
		rc = agent_addr_to_sockaddr(&ga, &ss);
	if (rc == 0)
		rc = agent_proxy_listen(px, &f->listener,
		                        (const struct sockaddr *)&ss, on_accept);
	*out = f;
	if (rc) {
		weft_logf(agent_proxy_log(px), WEFT_LOG_ERROR, "msg=\"cannot listen for "
		          "upstream\" service=%s addr=%s:%u error=\"%s\"",
		          u->service, u->local_bind.host, u->local_bind.port,
		          rc < 0 && rc > -4096 ? uv_strerror(rc) : "bad address");
		return WEFT_EIO;
	}
	weft_logf(agent_proxy_log(px), WEFT_LOG_INFO, "msg=\"upstream listening\" "
	          "service=%s addr=%s:%u protocol=%s", u->service,
	          u->local_bind.host, u->local_bind.port,
	          table_protocol_name(u->protocol));
	return 0;
}

void
http_front_h2_close(struct http_front_h2 *f)
{
	if (f == NULL || f->closing)
		return;
	f->closing = true;
	uv_close((uv_handle_t *)&f->listener, listener_closed);
	uv_close((uv_handle_t *)&f->flusher, listener_closed);
	uv_close((uv_handle_t *)&f->awake, listener_closed);
	uv_timer_stop(&f->sweep);
	uv_close((uv_handle_t *)&f->sweep, listener_closed);
	while (!list_empty(&f->conns))
		conn_close(list_entry(f->conns.next, struct fh2_conn, link));
}

const struct http_front_h2_stats *
http_front_h2_stats(const struct http_front_h2 *f)
{
	return &f->stats;
}
