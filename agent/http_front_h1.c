/*
 * The HTTP/1.1 front end (agent/http_front.h).
 *
 * One request at a time per app connection: parsing stops at the end of
 * each request (H1_PAUSE) and goes on once its response is written, which
 * answers pipelined requests in order without holding more than one
 * call.  Input is read into one buffer and fed to the parser only as far
 * as the call can take body bytes; what a feed still hands over past that
 * (the body after a head, in the same read) waits in a spill buffer of
 * the same bound.  The input buffer, the parser and the buffer for the
 * answer's head (struct h1work) are a connection's only from a request's
 * first byte until it sits idle again, when they go back to the front's
 * few spare ones: an idle keep-alive connection holds none of them.
 * Response bytes are written straight from the mesh stream's buffer (a
 * chunk header around them when chunked) and consumed when the write
 * completes, which re-opens the window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/heap_trim.h"
#include "agent/http_call.h"
#include "agent/http_front.h"
#include "agent/proxy_int.h"
#include "common/buf.h"
#include "common/counter.h"
#include "common/err.h"
#include "proxy/circuit.h"
#include "proxy/h1.h"
#include "proxy/h1h2.h"
#include "proxy/mesh.h"

#define IN_CAP (16u * 1024)
#define HEAD_INLINE 4096
#define HEAD_MAX (MESH_HEADER_BLOCK_MAX + 8192)
#define SERVICE_MAX 64
/* Idle connections' work sets kept per front for the next request. */
#define SPARE_WORK 16

struct http_front {
	struct agent_proxy *px;
	struct http_caller *hc;
	uv_tcp_t listener;
	struct list conns;
	uint64_t n_conns;
	struct agent_trim trim; /* n_conns (allocated) after a crowd */
	struct circuit *circuit; /* the upstream's, shared by workers */
	struct h1_limits limits;
	struct http_front_stats st;
	char service[SERVICE_MAX];
	char owner[SERVICE_MAX]; /* the upstream's service, "" for the agent's */
	bool closing;
	unsigned handles; /* the listener, the sweep and every connection */
	/* Slow clients: one timer per front walks the connections once a
	 * second (a timer per connection would cost a handle each). */
	uv_timer_t sweep;
	int64_t head_timeout_ms; /* a request head must arrive within this */
	int64_t idle_timeout_ms; /* keep-alive between requests */
	int64_t body_timeout_ms; /* a body's first allowance; 0: none */
	uint64_t body_min_rate;  /* bytes a second that earn one more */
	int64_t last_refusal_log_ms;
	unsigned refusals_unlogged;
	/* Request heads are converted one at a time, synchronously. */
	nghttp2_nv *nv;
	size_t nv_cap;
	char *scratch;
	size_t scratch_len;
	struct list spare_work; /* struct h1work, idle */
	size_t n_spare_work;
};

/* What a connection needs while a request is under way. */
struct h1work {
	struct list link;  /* on f->spare_work while spare */
	struct h1conn *c;  /* served now; the parser's sink context */
	struct h1_parser *p; /* between requests whenever spare */
	uint8_t head[HEAD_INLINE]; /* hbuf unless a head is larger */
	uint8_t *spill; /* lazily, IN_CAP; kept with the work set */
	uint8_t in[IN_CAP];
};

/* The request being answered on a connection. */
struct req {
	bool active;
	struct http_call *call;
	bool has_body;
	bool req_ended;     /* the parser saw its end */
	bool end_pending;   /* ... and the call is told once spill is out */
	bool head_request;
	bool keep_alive;
	bool upgrade;
	bool upgraded;      /* the tunnel is up: raw bytes both ways */
	bool pending;       /* holds CIRCUIT_PENDING */
	bool counted;       /* holds CIRCUIT_REQUESTS */
	bool head_queued;   /* hbuf holds a head (or error) to write */
	bool head_sent;
	bool error;         /* the answer is weft's own: done after hbuf */
	bool resp_done;     /* every byte of the answer was written */
	int version_minor;
	uint64_t body_credit; /* body bytes x 1000 not yet worth a ms */
	char upgrade_to[64];
	enum h1_framing framing;
};

/* What a connection's deadline is for. */
enum conn_wait {
	WAIT_NONE = 0, /* a request is served: the call has its timeouts */
	WAIT_IDLE,     /* between requests: closed quietly */
	WAIT_HEAD,     /* from a head's first byte to its end: 408 */
	WAIT_BODY,     /* a request body still coming in: 408 */
};

struct h1conn {
	struct list link;
	struct http_front *f;
	uv_tcp_t tcp;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	struct h1work *w; /* NULL while idle */
	struct req r;
	bool reading;
	bool writing;
	bool in_feed; /* inside h1_feed: the parser's callbacks */
	bool app_eof;
	bool closing;
	bool close_after; /* no keep-alive: close once the answer is out */
	bool counted;     /* holds CIRCUIT_CONNECTIONS */
	size_t consume;   /* body bytes of the write in flight */
	bool last_chunk;  /* the write in flight ends the answer */
	uint8_t *hbuf;    /* a head, error or last chunk to write: w->head,
	                   * or its own block when larger; NULL while idle */
	size_t hlen;
	size_t hcap;
	char chunk_line[24];
	size_t in_off, in_len; /* input waiting in w->in */
	size_t spill_off, spill_len; /* body waiting in w->spill */
	int64_t deadline_ms; /* 0: none; what for: wait */
	enum conn_wait wait;
};

static void conn_drive(struct h1conn *c);
static void conn_pump(struct h1conn *c);
static void conn_close(struct h1conn *c);
static void on_sweep(uv_timer_t *t);

static int64_t
front_now(const struct http_front *f)
{
	return agent_proxy_now(f->px);
}

/* Between requests: idle; from a request's first byte to its head's
 * end: the head deadline (slowloris); then, while a body comes in, the
 * body deadline, which each body_min_rate bytes push back a second, at
 * most to body_timeout from now (a slow body ties up the circuit as a
 * slow head does); none while a request is served. */
static void
wait_idle(struct h1conn *c)
{
	c->deadline_ms = front_now(c->f) + c->f->idle_timeout_ms;
	c->wait = WAIT_IDLE;
}

static void
wait_head(struct h1conn *c)
{
	c->deadline_ms = front_now(c->f) + c->f->head_timeout_ms;
	c->wait = WAIT_HEAD;
}

static void
wait_none(struct h1conn *c)
{
	c->deadline_ms = 0;
	c->wait = WAIT_NONE;
}

static void
wait_body(struct h1conn *c)
{
	if (c->f->body_timeout_ms <= 0)
		return;
	c->deadline_ms = front_now(c->f) + c->f->body_timeout_ms;
	c->wait = WAIT_BODY;
}

/*
 * A refusal's reason in the log, at most one line a second per upstream
 * (a flood of bad requests must not flood the log); the count of those
 * not logged goes with the next line.
 */
static void
log_refusal(struct http_front *f, int status, const char *why)
{
	int64_t now = front_now(f);

	if (f->last_refusal_log_ms != 0 && now - f->last_refusal_log_ms < 1000) {
		f->refusals_unlogged++;
		return;
	}
	weft_logf(agent_proxy_log(f->px), WEFT_LOG_INFO,
	          "msg=\"http request refused\" service=%s status=%d "
	          "reason=\"%s\" unlogged_before=%u", f->service, status, why,
	          f->refusals_unlogged);
	f->last_refusal_log_ms = now;
	f->refusals_unlogged = 0;
}

static const char *
self_name(const struct http_front *f)
{
	return agent_proxy_node(f->px);
}

/* ---- lifetimes ---- */

static void
front_maybe_free(struct http_front *f)
{
	if (f->closing && f->handles == 0) {
		while (!list_empty(&f->spare_work)) {
			struct h1work *w = list_entry(f->spare_work.next,
			                              struct h1work, link);

			list_remove(&w->link);
			h1_parser_free(w->p);
			free(w->spill);
			free(w);
		}
		free(f->nv);
		free(f->scratch);
		free(f);
	}
}

static void
on_conn_closed(uv_handle_t *h)
{
	struct h1conn *c = h->data;
	struct http_front *f = c->f;

	if (c->w == NULL || c->hbuf != c->w->head)
		free(c->hbuf);
	if (c->w != NULL) {
		h1_parser_free(c->w->p);
		free(c->w->spill);
		free(c->w);
	}
	free(c);
	/* Counted here, not at conn_close: a crowd cut off at once is freed
	 * only as its close callbacks run, and a trim before that finds
	 * nothing free. */
	agent_trim_note(&f->trim, --f->n_conns);
	f->handles--;
	front_maybe_free(f);
}

static void
req_release(struct h1conn *c)
{
	struct circuit *ci = c->f->circuit;

	if (c->r.call != NULL) {
		http_call_free(c->r.call);
		c->r.call = NULL;
	}
	if (c->r.pending)
		circuit_release(ci, CIRCUIT_PENDING);
	if (c->r.counted)
		circuit_release(ci, CIRCUIT_REQUESTS);
	c->r.pending = c->r.counted = false;
}

static void work_put(struct http_front *f, struct h1conn *c);

static void
conn_close(struct h1conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	req_release(c);
	if (c->counted)
		circuit_release(c->f->circuit, CIRCUIT_CONNECTIONS);
	c->counted = false;
	/* The work set goes back now unless a feed or a write still uses
	 * it (then with the connection, on_conn_closed): apps that leave
	 * by the thousand at once must not each hold one until their
	 * close callbacks run (tools/bench/rss: 10,000 idle connections
	 * closing raised RSS from 11 to 68 MiB). */
	if (c->w != NULL && !c->in_feed && !c->writing)
		work_put(c->f, c);
	list_remove(&c->link);
	/* A write in flight completes (cancelled) before the close
	 * callback: freeing there is safe. */
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void
on_shutdown(uv_shutdown_t *req, int status)
{
	struct h1conn *c = req->data;

	(void)status;
	conn_close(c);
}

/* Ends the connection once what was written is out. */
static void
conn_finish(struct h1conn *c)
{
	if (c->closing)
		return;
	c->sreq.data = c;
	if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
		conn_close(c);
	else
		c->writing = true; /* nothing else goes out */
}

/* ---- output ---- */

/* ---- the work set ---- */

static int p_on_head(void *ctx, const struct h1_head *h);
static int p_on_body(void *ctx, const uint8_t *p, size_t n);
static int p_on_end(void *ctx);

/* c gets a work set: a spare one (its parser between requests), or a
 * new one. */
static int
work_take(struct h1conn *c)
{
	struct http_front *f = c->f;
	struct h1work *w;

	if (c->w != NULL)
		return 0;
	if (!list_empty(&f->spare_work)) {
		w = list_entry(f->spare_work.next, struct h1work, link);
		list_remove(&w->link);
		f->n_spare_work--;
	} else {
		struct h1_sink sink = {
			.on_head = p_on_head,
			.on_body = p_on_body,
			.on_end = p_on_end,
			.on_tunnel = p_on_body,
		};

		if ((w = malloc(sizeof(*w))) == NULL)
			return WEFT_ENOMEM;
		w->spill = NULL;
		sink.ctx = w;
		if (h1_parser_new(&f->limits, &sink, &w->p) != 0) {
			free(w);
			return WEFT_ENOMEM;
		}
	}
	w->c = c;
	c->w = w;
	c->in_off = c->in_len = 0;
	return 0;
}

/* c's work set leaves it: on the front's spares when its parser is
 * between requests and there is room (mostly as it was: no call into
 * free then), else freed. */
static void
work_put(struct http_front *f, struct h1conn *c)
{
	struct h1work *w = c->w;

	if (c->hbuf != NULL && c->hbuf != w->head)
		free(c->hbuf);
	c->hbuf = NULL;
	c->hcap = 0;
	c->spill_off = 0;
	c->w = NULL;
	w->c = NULL;
	if (h1_idle(w->p) && f->n_spare_work < SPARE_WORK && !f->closing) {
		list_insert_head(&f->spare_work, &w->link);
		f->n_spare_work++;
		return;
	}
	h1_parser_free(w->p);
	free(w->spill);
	free(w);
}

/* Between requests, nothing read and nothing being written: the work
 * set goes back to the front (the parser sits between requests, so the
 * next connection's request starts it as a new connection's would). */
static void
work_release(struct h1conn *c)
{
	struct http_front *f = c->f;
	struct h1work *w = c->w;

	if (w == NULL || c->in_feed || c->closing || c->writing ||
	    c->r.active || c->in_len > 0 || c->spill_len > 0 ||
	    c->app_eof || c->close_after || !h1_idle(w->p))
		return;
	work_put(f, c);
}

/* Room for n bytes in hbuf (the work set's unless a head is large);
 * none (writes fail) when memory ran out. */
static struct buf
hbuf_for(struct h1conn *c, size_t n)
{
	struct buf b;

	if (c->w == NULL && work_take(c) != 0) {
		buf_init(&b, NULL, 0);
		return b;
	}
	if (n > HEAD_INLINE && c->hcap < n) {
		uint8_t *nb = c->hbuf != c->w->head ? realloc(c->hbuf, n)
		                                    : malloc(n);

		if (nb != NULL) {
			c->hbuf = nb;
			c->hcap = n;
		}
	}
	if (c->hbuf == NULL) {
		c->hbuf = c->w->head;
		c->hcap = HEAD_INLINE;
	}
	buf_init(&b, c->hbuf, c->hcap);
	return b;
}

/* weft answers this request itself. */
static void
req_error(struct h1conn *c, int status, const char *why, const char *agent)
{
	struct buf b = hbuf_for(c, HEAD_INLINE);

	if (c->r.call != NULL) {
		http_call_free(c->r.call);
		c->r.call = NULL;
	}
	/* A body not read to its end cannot be skipped safely: close. */
	c->r.keep_alive = c->r.keep_alive && !c->r.upgrade &&
	                  (c->r.req_ended || !c->r.has_body) && !c->app_eof;
	if (!c->r.keep_alive)
		c->close_after = true;
	if (h1_write_error(&b, status, why, agent, c->r.keep_alive) != 0) {
		conn_close(c);
		return;
	}
	c->hlen = b.len;
	c->r.head_queued = true;
	c->r.error = true;
	conn_pump(c);
}

/* What follows a write: the body bytes it carried are consumed. */
static void
write_done(struct h1conn *c, size_t n)
{
	if (n > 0 && c->r.call != NULL)
		http_call_read_consume(c->r.call, n);
	if (c->last_chunk) {
		c->last_chunk = false;
		c->r.resp_done = true;
	}
}

static void
on_written(uv_write_t *w, int status)
{
	struct h1conn *c = w->data;
	size_t n = c->consume;

	c->writing = false;
	c->consume = 0;
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	write_done(c, n);
	conn_pump(c);
}

/* Writes at once what the socket takes (the usual case), so a request's
 * answer costs one writev and no poll changes (uv_write re-arms the
 * socket's poll when it drains); the rest goes by uv_write.  True when
 * all of it went: the caller goes on pumping.  Not from the parser's
 * callbacks: finishing the answer there would free the parser under
 * h1_feed. */
static bool
start_write(struct h1conn *c, uv_buf_t *bufs, unsigned n, size_t consume)
{
	int w = c->in_feed ? 0 : uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
	size_t left;

	if (w == UV_EAGAIN)
		w = 0;
	if (w < 0) {
		conn_close(c);
		return false;
	}
	left = (size_t)w;
	while (n > 0 && left >= bufs[0].len) {
		left -= bufs[0].len;
		bufs++;
		n--;
	}
	if (n == 0) {
		write_done(c, consume);
		return true;
	}
	bufs[0].base += left;
	bufs[0].len -= left;
	c->wreq.data = c;
	c->consume = consume;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, n, on_written) != 0)
		conn_close(c);
	else
		c->writing = true;
	return false;
}

/* Fields of a response head or trailers an app may see. */
static bool
passes(const nghttp2_nv *v)
{
	if (v->namelen == 0 || v->name[0] == ':')
		return false;
	return !(v->namelen >= 5 && strncmp((const char *)v->name, "weft-", 5) == 0);
}

/* The last chunk, with the trailers. */
static int
queue_last_chunk(struct h1conn *c)
{
	struct h1_header hs[MESH_HEADER_FIELDS_MAX];
	const nghttp2_nv *nv = NULL;
	size_t n = 0, k = 0, bytes = 16;
	struct buf b;

	if (c->r.call != NULL && http_call_trailers(c->r.call, &nv, &n) != 0)
		n = 0;
	for (size_t i = 0; i < n && k < MESH_HEADER_FIELDS_MAX; i++) {
		if (!passes(&nv[i]))
			continue;
		hs[k++] = (struct h1_header){
			.name = (const char *)nv[i].name,
			.name_len = nv[i].namelen,
			.value = (const char *)nv[i].value,
			.value_len = nv[i].valuelen,
		};
		bytes += nv[i].namelen + nv[i].valuelen + 4;
	}
	b = hbuf_for(c, bytes);
	if (h1_write_end(&b, hs, k) != 0) {
		/* Trailers a client could not read: end without them. */
		buf_reset(&b);
		if (h1_write_end(&b, NULL, 0) != 0)
			return WEFT_ENOSPACE;
	}
	c->hlen = b.len;
	return 0;
}

/* The request is answered and read: the next one, or the end. */
static void
req_finish(struct h1conn *c)
{
	req_release(c);
	memset(&c->r, 0, sizeof(c->r));
	if (c->close_after || c->app_eof) {
		conn_finish(c);
		return;
	}
	wait_idle(c);
	conn_drive(c);
	/* Pipelined bytes were part of a head: its deadline, not idleness
	 * (no read is coming to start it: they were read already). */
	if (!c->closing && !c->r.active && c->w != NULL && !h1_idle(c->w->p))
		wait_head(c);
}

/*
 * Writes what the answer has next: a queued head, body bytes (framed),
 * the end.  One write at a time.
 */
static void
conn_pump(struct h1conn *c)
{
	const uint8_t *p;
	size_t len;
	bool eof;
	uv_buf_t bufs[4];

	if (c->closing || c->writing || !c->r.active)
		return;
	if (c->r.head_queued) {
		unsigned nb = 1;

		c->r.head_queued = false;
		c->r.head_sent = true;
		bufs[0] = uv_buf_init((char *)c->hbuf, (unsigned)c->hlen);
		c->last_chunk = c->r.error;
		len = 0;
		/* The body's first run usually came with the head: one
		 * write for both. */
		if (!c->r.error && c->r.call != NULL &&
		    c->r.framing != H1_BODY_NONE) {
			http_call_read_peek(c->r.call, &p, &len, &eof);
			if (len > 0 && c->r.framing == H1_BODY_CHUNKED &&
			    !c->r.upgraded) {
				snprintf(c->chunk_line, sizeof(c->chunk_line),
				         "%zx\r\n", len);
				bufs[nb++] = uv_buf_init(c->chunk_line,
				                         (unsigned)strlen(c->chunk_line));
				bufs[nb++] = uv_buf_init((char *)(uintptr_t)p,
				                         (unsigned)len);
				bufs[nb++] = uv_buf_init((char *)(uintptr_t)"\r\n", 2);
			} else if (len > 0) {
				bufs[nb++] = uv_buf_init((char *)(uintptr_t)p,
				                         (unsigned)len);
			}
		}
		if (start_write(c, bufs, nb, len))
			conn_pump(c);
		return;
	}
	if (c->r.resp_done) {
		if (c->r.upgrade) {
			/* Not upgraded after all: the parser is in tunnel
			 * mode, so the connection ends with this answer. */
			req_release(c);
			conn_finish(c);
			return;
		}
		if (c->r.call != NULL) {
			/* What is left of the request body is read and
			 * dropped. */
			http_call_free(c->r.call);
			c->r.call = NULL;
		}
		/* Closing anyway: what is left of the request is not read. */
		if (c->r.req_ended || c->close_after)
			req_finish(c);
		else
			conn_drive(c);
		return;
	}
	if (!c->r.head_sent || c->r.call == NULL)
		return;
	http_call_read_peek(c->r.call, &p, &len, &eof);
	if (len > 0) {
		if (c->r.framing == H1_BODY_NONE) {
			/* A HEAD answer or 204/304 with bytes: not the app's. */
			http_call_read_consume(c->r.call, len);
			conn_pump(c);
			return;
		}
		if (c->r.framing == H1_BODY_CHUNKED && !c->r.upgraded) {
			snprintf(c->chunk_line, sizeof(c->chunk_line), "%zx\r\n",
			         len);
			bufs[0] = uv_buf_init(c->chunk_line,
			                      (unsigned)strlen(c->chunk_line));
			bufs[1] = uv_buf_init((char *)(uintptr_t)p, (unsigned)len);
			bufs[2] = uv_buf_init((char *)(uintptr_t)"\r\n", 2);
			if (start_write(c, bufs, 3, len))
				conn_pump(c);
		} else {
			bufs[0] = uv_buf_init((char *)(uintptr_t)p, (unsigned)len);
			if (start_write(c, bufs, 1, len))
				conn_pump(c);
		}
		return;
	}
	if (!eof)
		return;
	if (c->r.upgraded) {
		/* The remote app ended the tunnel: so does this side. */
		c->r.resp_done = true;
		req_release(c);
		conn_finish(c);
		return;
	}
	if (c->r.framing == H1_BODY_CHUNKED) {
		if (queue_last_chunk(c) != 0) {
			conn_close(c);
			return;
		}
		bufs[0] = uv_buf_init((char *)c->hbuf, (unsigned)c->hlen);
		c->last_chunk = true;
		if (start_write(c, bufs, 1, 0))
			conn_pump(c);
		return;
	}
	if (c->r.framing == H1_BODY_CLOSE)
		c->close_after = true;
	c->r.resp_done = true;
	conn_pump(c);
}

/* ---- the call's callbacks ---- */

static void
call_on_head(void *ctx, int status, const nghttp2_nv *nv, size_t n,
             bool upgraded)
{
	struct h1conn *c = ctx;
	struct h1_header hs[MESH_HEADER_FIELDS_MAX + 1];
	struct h1_response r;
	size_t k = 0, bytes = 256;
	struct buf b;
	int rc;

	if (c->r.pending) {
		circuit_release(c->f->circuit, CIRCUIT_PENDING);
		c->r.pending = false;
	}
	for (size_t i = 0; i < n; i++)
		bytes += nv[i].namelen + nv[i].valuelen + 4;
	if (bytes > HEAD_MAX)
		bytes = HEAD_MAX;
	b = hbuf_for(c, bytes);
	if (upgraded) {
		for (size_t i = 0; i < n && k < MESH_HEADER_FIELDS_MAX; i++) {
			if (!passes(&nv[i]) ||
			    (nv[i].namelen == 10 &&
			     memcmp(nv[i].name, "connection", 10) == 0) ||
			    (nv[i].namelen == 7 &&
			     memcmp(nv[i].name, "upgrade", 7) == 0))
				continue;
			hs[k++] = (struct h1_header){
				.name = (const char *)nv[i].name,
				.name_len = nv[i].namelen,
				.value = (const char *)nv[i].value,
				.value_len = nv[i].valuelen,
			};
		}
		hs[k++] = (struct h1_header){
			.name = "upgrade", .name_len = 7,
			.value = c->r.upgrade_to,
			.value_len = strlen(c->r.upgrade_to),
		};
		r = (struct h1_response){
			.status = 101,
			.headers = hs,
			.n_headers = k,
			.framing = H1_BODY_NONE,
			.keep_alive = true,
		};
		rc = h1_write_head(&b, &r);
		/* h1 writes Connection only as "close": end the head with
		 * the one an upgrade needs. */
		if (rc == 0) {
			b.len -= 2;
			buf_put(&b, "connection: upgrade\r\n\r\n", 23);
			rc = b.err;
		}
		c->r.upgraded = true;
		c->r.framing = H1_BODY_CLOSE;
	} else {
		rc = h1h2_response_h1(nv, n, c->r.head_request,
		                      c->r.version_minor,
		                      c->r.keep_alive && !c->app_eof &&
		                          !c->r.upgrade,
		                      &r, hs, MESH_HEADER_FIELDS_MAX);
		if (rc == 0) {
			/* weft-* fields are the mesh's, never the app's. */
			for (size_t i = 0; i < r.n_headers;)
				if (hs[i].name_len >= 5 &&
				    strncmp(hs[i].name, "weft-", 5) == 0)
					hs[i] = hs[--r.n_headers];
				else
					i++;
			rc = h1_write_head(&b, &r);
		}
		if (rc == 0) {
			c->r.framing = r.framing;
			c->r.keep_alive = r.keep_alive;
			if (!r.keep_alive || c->r.upgrade)
				c->close_after = true;
		}
	}
	(void)status;
	if (rc == 0 && b.err)
		rc = b.err;
	if (rc != 0) {
		req_error(c, 502, "response head not valid for HTTP/1.1",
		          self_name(c->f));
		return;
	}
	c->hlen = b.len;
	c->r.head_queued = true;
	conn_pump(c);
}

static void
call_on_readable(void *ctx)
{
	conn_pump(ctx);
}

static void
call_on_writable(void *ctx)
{
	conn_drive(ctx);
}

static void
call_on_error(void *ctx, int status, const char *reason, const char *agent)
{
	struct h1conn *c = ctx;

	http_call_free(c->r.call);
	c->r.call = NULL;
	req_error(c, status, reason, agent);
}

static void
call_on_abort(void *ctx, const char *reason)
{
	struct h1conn *c = ctx;

	(void)reason;
	/* The head is out: HTTP/1.1 can only break the connection. */
	conn_close(c);
}

static const struct http_call_sink call_sink = {
	.on_head = call_on_head,
	.on_readable = call_on_readable,
	.on_writable = call_on_writable,
	.on_error = call_on_error,
	.on_abort = call_on_abort,
};

/* ---- the parser's callbacks ---- */

static int
p_on_head(void *ctx, const struct h1_head *h)
{
	struct h1conn *c = ((struct h1work *)ctx)->c;
	struct http_front *f = c->f;
	struct http_call_request req = {0};
	struct http_call_error err;
	struct http_call_sink sink = call_sink;
	size_t n = 0, k = 0;
	int rc;

	/* The head is whole: its deadline is met. */
	wait_none(c);
	memset(&c->r, 0, sizeof(c->r));
	c->r.active = true;
	c->r.keep_alive = h->keep_alive;
	c->r.version_minor = h->version_minor;
	c->r.head_request = strcmp(h->method, "HEAD") == 0;
	c->r.upgrade = h->upgrade;
	if (h->upgrade)
		snprintf(c->r.upgrade_to, sizeof(c->r.upgrade_to), "%s",
		         h->upgrade_to);
	c->r.has_body = h->chunked || (h->has_length && h->content_length > 0);
	if (circuit_acquire(f->circuit, CIRCUIT_REQUESTS) != 0) {
		COUNTER_INC(f->st.circuit_overflows);
		req_error(c, 503, "circuit open: too many requests in flight",
		          self_name(f));
		return 0;
	}
	c->r.counted = true;
	if (circuit_acquire(f->circuit, CIRCUIT_PENDING) != 0) {
		COUNTER_INC(f->st.circuit_overflows);
		req_error(c, 503, "circuit open: too many pending requests",
		          self_name(f));
		return 0;
	}
	c->r.pending = true;
	rc = h1h2_request_nv(h, f->nv, f->nv_cap, &n, f->scratch,
	                     f->scratch_len);
	if (rc) {
		req_error(c, rc == WEFT_EINVAL ? 400 : 431,
		          rc == WEFT_EINVAL ? "missing Host" : "request head too large",
		          self_name(f));
		return 0;
	}
	/* 100-continue is answered here; the remote app gets the body. */
	for (size_t i = 0; i < n; i++)
		if (!(f->nv[i].namelen == 6 &&
		      memcmp(f->nv[i].name, "expect", 6) == 0))
			f->nv[k++] = f->nv[i];
	req.service = f->service;
	req.source = f->owner;
	req.nv = f->nv;
	req.n = k;
	req.end_stream = !c->r.has_body && !h->upgrade;
	req.upgrade = h->upgrade ? h->upgrade_to : NULL;
	sink.ctx = c;
	if (http_call_start(f->hc, &req, &sink, &c->r.call, &err) != 0) {
		req_error(c, err.status, err.reason, err.agent);
		return 0;
	}
	if (c->r.has_body && !h->upgrade)
		wait_body(c);
	if (h->expect_continue && c->r.has_body) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		uv_buf_t b = uv_buf_init((char *)(uintptr_t)cont,
		                         sizeof(cont) - 1);

		/* Nothing else is being written now: the previous answer
		 * was finished before this head was parsed. */
		if (!c->writing)
			(void)start_write(c, &b, 1, 0);
	}
	return 0;
}

/* Body (or tunnel) bytes: to the call, the rest to the spill. */
static int
p_on_body(void *ctx, const uint8_t *p, size_t n)
{
	struct h1conn *c = ((struct h1work *)ctx)->c;
	uint64_t rate = c->f->body_min_rate;
	size_t acc = 0;

	if (c->wait == WAIT_BODY && rate > 0) {
		int64_t most = front_now(c->f) + c->f->body_timeout_ms;

		c->r.body_credit += (uint64_t)n * 1000;
		c->deadline_ms += (int64_t)(c->r.body_credit / rate);
		c->r.body_credit %= rate;
		/* No banking: a burst buys at most body_timeout of stall, so
		 * a client cannot pay once and then trickle for an hour. */
		if (c->deadline_ms > most)
			c->deadline_ms = most;
	}
	if (c->r.call == NULL || n == 0)
		return 0; /* answered already: dropped */
	if (c->spill_len == 0)
		http_call_write(c->r.call, p, n, &acc);
	if (acc == n)
		return 0;
	if (c->w->spill == NULL && (c->w->spill = malloc(IN_CAP)) == NULL)
		return WEFT_ENOMEM;
	/* Only an empty spill is fed past (spill_off 0), and a feed is at
	 * most IN_CAP bytes, so the rest of one fits. */
	if (c->spill_len + (n - acc) > IN_CAP)
		return WEFT_ETOOBIG;
	memcpy(c->w->spill + c->spill_len, p + acc, n - acc);
	c->spill_len += n - acc;
	return 0;
}

static int
p_on_end(void *ctx)
{
	struct h1conn *c = ((struct h1work *)ctx)->c;

	if (c->r.upgrade)
		return 0; /* the tunnel bytes follow: on_tunnel */
	if (c->wait == WAIT_BODY)
		wait_none(c);
	c->r.req_ended = true;
	c->r.end_pending = c->r.call != NULL;
	return H1_PAUSE;
}

/* ---- input ---- */

static void
alloc_in(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct h1conn *c = h->data;

	(void)hint;
	/* A request's first byte is coming (or the app left): the work
	 * set from here.  Without one, zero length: libuv says
	 * UV_ENOBUFS, and on_read ends the connection. */
	if (c->in_len > 0 || work_take(c) != 0) {
		/* Zero length: libuv says UV_ENOBUFS, reading stops. */
		*b = uv_buf_init(NULL, 0);
		return;
	}
	c->in_off = 0;
	*b = uv_buf_init((char *)c->w->in, IN_CAP);
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct h1conn *c = s->data;

	(void)b;
	if (c->closing)
		return;
	if (n == UV_ENOBUFS || n == 0) {
		if (n == UV_ENOBUFS) {
			uv_read_stop(s);
			c->reading = false;
			if (c->w == NULL) {
				conn_close(c); /* out of memory */
				return;
			}
		}
		work_release(c); /* nothing came after all */
		return;
	}
	if (n < 0) {
		uv_read_stop(s);
		c->reading = false;
		c->app_eof = true;
		if (!c->r.active) {
			conn_close(c);
			return;
		}
		if (c->r.upgraded || (c->r.upgrade && c->r.call != NULL)) {
			/* The app ended its side of the tunnel. */
			c->r.req_ended = true;
			c->r.end_pending = true;
			conn_drive(c);
			return;
		}
		/* The request was cut short, or the app gave up waiting for
		 * the answer: the call is cancelled (its stream reset), so a
		 * hanging upstream holds nothing for a client that left. */
		conn_close(c);
		return;
	}
	c->in_off = 0;
	c->in_len = (size_t)n;
	if (!c->r.active && c->wait != WAIT_HEAD)
		wait_head(c);
	/* Reading stays on: while these bytes wait, the next read gets a
	 * zero-length buffer and stops (UV_ENOBUFS), which costs nothing
	 * in the usual case where they are parsed at once. */
	conn_drive(c);
}

/* Feeds the parser as far as the current call can take, then reads. */
static void
conn_drive(struct h1conn *c)
{
	size_t used, lim, acc;
	int rc;

	/* Bounded: each round consumes input or returns. */
	for (int rounds = 0; rounds < 64 && !c->closing; rounds++) {
		if (c->spill_len > 0) {
			if (c->r.call != NULL) {
				acc = 0;
				http_call_write(c->r.call,
				                c->w->spill + c->spill_off,
				                c->spill_len, &acc);
				c->spill_off += acc;
				c->spill_len -= acc;
				if (c->spill_len > 0)
					return; /* on_writable comes back */
			}
			c->spill_len = c->spill_off = 0;
		}
		if (c->r.end_pending) {
			c->r.end_pending = false;
			if (c->r.call != NULL)
				http_call_end(c->r.call, NULL, 0);
		}
		if (c->r.active && c->r.req_ended) {
			if (c->r.resp_done)
				req_finish(c);
			return; /* pipelined requests wait for this answer */
		}
		if (c->in_len == 0)
			break;
		lim = c->in_len;
		if (c->r.active && c->r.call != NULL) {
			size_t room = http_call_write_room(c->r.call);

			if (room == 0)
				return;
			if (room < lim)
				lim = room;
		}
		c->in_feed = true;
		rc = h1_feed(c->w->p, c->w->in + c->in_off, lim, &used);
		c->in_feed = false;
		c->in_off += used;
		c->in_len -= used;
		if (rc == WEFT_EMALFORMED) {
			int status;
			const char *why;

			h1_error(c->w->p, &status, &why);
			COUNTER_INC(c->f->st.bad_requests);
			log_refusal(c->f, status, why);
			c->in_len = 0;
			if (c->r.active && c->r.head_sent) {
				conn_close(c);
				return;
			}
			c->r.active = true;
			c->r.keep_alive = false;
			c->r.req_ended = true; /* the parser takes no more */
			req_error(c, status, why, self_name(c->f));
			return;
		}
		if (rc < 0) {
			conn_close(c);
			return;
		}
	}
	/* Reading on while an answer is awaited notices an app that left;
	 * what it pipelined waits in the buffer (one read's worth). */
	if (!c->closing && !c->reading && c->in_len == 0 && !c->app_eof) {
		if (uv_read_start((uv_stream_t *)&c->tcp, alloc_in, on_read) == 0)
			c->reading = true;
	}
	work_release(c);
}

/* ---- the listener ---- */

static void
on_accept(uv_stream_t *server, int status)
{
	struct http_front *f = server->data;
	struct h1conn *c;

	if (status < 0 || f->closing)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->f = f;
	uv_tcp_init(agent_proxy_loop(f->px), &c->tcp);
	c->tcp.data = c;
	f->handles++;
	list_insert_tail(&f->conns, &c->link);
	agent_trim_note(&f->trim, ++f->n_conns);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	COUNTER_INC(f->st.connections);
	if (circuit_acquire(f->circuit, CIRCUIT_CONNECTIONS) != 0) {
		COUNTER_INC(f->st.circuit_overflows);
		c->r.active = true;
		c->r.keep_alive = false;
		req_error(c, 503, "circuit open: too many connections",
		          self_name(f));
		return;
	}
	c->counted = true;
	wait_head(c);
	conn_drive(c);
}

int
http_front_h1_open(struct agent_proxy *px, struct http_caller *hc,
                   const struct agent_upstream *u, struct http_front **out)
{
	/* Opened while the worker is made, on the main thread: the config
	 * is safe to read here, never later. */
	const struct agent *a = agent_proxy_agent(px);
	struct http_front *f = calloc(1, sizeof(*f));
	struct gossip_addr ga;
	struct sockaddr_storage ss;
	int rc;

	*out = NULL;
	if (f == NULL)
		return WEFT_ENOMEM;
	f->px = px;
	f->hc = hc;
	list_init(&f->conns);
	list_init(&f->spare_work);
	snprintf(f->service, sizeof(f->service), "%s", u->service);
	snprintf(f->owner, sizeof(f->owner), "%s", u->owner ? u->owner : "");
	f->limits.max_head_bytes = a->cfg.proxy.max_head_bytes;
	f->limits.max_headers = a->cfg.proxy.max_headers;
	f->circuit = agent_proxy_circuit(px, u);
	if (f->circuit == NULL) {
		free(f);
		return WEFT_ENOMEM;
	}
	/* A head fits the parser's limits, so its block fits these. */
	f->nv_cap = (f->limits.max_headers ? f->limits.max_headers
	                                   : H1_MAX_HEADERS) + 8;
	f->scratch_len = f->limits.max_head_bytes ? f->limits.max_head_bytes
	                                          : H1_MAX_HEAD_BYTES;
	if (f->scratch_len > H1_HEAD_BYTES_CAP)
		f->scratch_len = H1_HEAD_BYTES_CAP;
	f->nv = calloc(f->nv_cap, sizeof(*f->nv));
	f->scratch = malloc(f->scratch_len);
	if (f->nv == NULL || f->scratch == NULL) {
		free(f->nv);
		free(f->scratch);
		free(f);
		return WEFT_ENOMEM;
	}
	f->head_timeout_ms = a->cfg.proxy.head_timeout_ms;
	f->idle_timeout_ms = a->cfg.proxy.client_idle_timeout_ms;
	f->body_timeout_ms = a->cfg.proxy.body_timeout_ms;
	f->body_min_rate = a->cfg.proxy.body_min_rate;
	uv_tcp_init(agent_proxy_loop(px), &f->listener);
	f->listener.data = f;
	uv_timer_init(agent_proxy_loop(px), &f->sweep);
	f->sweep.data = f;
	f->handles = 2;
	uv_timer_start(&f->sweep, on_sweep, 1000, 1000);
	/* The sweep alone must not keep the loop running at shutdown. */
	uv_unref((uv_handle_t *)&f->sweep);
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
	          "service=%s addr=%s:%u protocol=http", u->service,
	          u->local_bind.host, u->local_bind.port);
	return 0;
}

static void
on_sweep(uv_timer_t *t)
{
	struct http_front *f = t->data;
	int64_t now = front_now(f);
	struct list *pos, *next;
	char why[96];

	for (pos = f->conns.next; pos != &f->conns; pos = next) {
		struct h1conn *c = list_entry(pos, struct h1conn, link);

		next = pos->next;
		if (c->closing || c->deadline_ms == 0)
			continue;
		/* Body bytes waiting, or not reading: weft holds the body
		 * back (the call is full), not the client, whose second it
		 * is not to lose. */
		if (c->wait == WAIT_BODY &&
		    (!c->reading || c->in_len > 0 || c->spill_len > 0)) {
			c->deadline_ms += 1000;
			continue;
		}
		if (now < c->deadline_ms)
			continue;
		c->deadline_ms = 0;
		switch (c->wait) {
		case WAIT_NONE:
			continue;
		case WAIT_IDLE:
			COUNTER_INC(f->st.idle_closed);
			conn_close(c); /* idle keep-alive connection */
			continue;
		case WAIT_HEAD:
			/* A head still incomplete: 408, the connection goes. */
			COUNTER_INC(f->st.head_timeouts);
			snprintf(why, sizeof(why), "request head not complete "
			         "within %lld ms", (long long)f->head_timeout_ms);
			break;
		case WAIT_BODY:
			COUNTER_INC(f->st.body_timeouts);
			snprintf(why, sizeof(why), "request body too slow: not "
			         "complete within %lld ms plus 1 s per %llu bytes",
			         (long long)f->body_timeout_ms,
			         (unsigned long long)f->body_min_rate);
			break;
		}
		c->wait = WAIT_NONE;
		log_refusal(f, 408, why);
		if (c->r.active && c->r.head_sent) {
			/* The answer has begun: nothing left to say. */
			conn_close(c);
			continue;
		}
		c->in_len = 0;
		c->r.active = true;
		c->r.keep_alive = false;
		c->r.req_ended = true;
		req_error(c, 408, why, self_name(f));
	}
}

static void
on_sweep_closed(uv_handle_t *h)
{
	struct http_front *f = h->data;

	f->handles--;
	front_maybe_free(f);
}

static void
on_listener_closed(uv_handle_t *h)
{
	struct http_front *f = h->data;

	f->handles--;
	front_maybe_free(f);
}

void
http_front_close(struct http_front *f)
{
	if (f == NULL || f->closing)
		return;
	f->closing = true;
	while (!list_empty(&f->conns))
		conn_close(list_entry(f->conns.next, struct h1conn, link));
	uv_timer_stop(&f->sweep);
	uv_close((uv_handle_t *)&f->sweep, on_sweep_closed);
	uv_close((uv_handle_t *)&f->listener, on_listener_closed);
}

const struct http_front_stats *
http_front_stats(const struct http_front *f)
{
	return &f->st;
}
