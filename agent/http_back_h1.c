/*
 * HTTP/1.1 apps behind the remote side.
 *
 * One request at a time per app connection; connections that end a
 * response cleanly with keep-alive wait in the set's idle pool, keyed by
 * the app's address, for the next request (bounded per address and in
 * all, closed after HB_IDLE_MS, and read while idle so that one the app
 * closes goes at once).  A request that meets a pooled connection the app
 * had just closed is sent again on a new one, as long as nothing of its
 * body was taken from the mesh and nothing of a response came back.
 *
 * Request: the head from h1h2_request_h1(), the body straight from the
 * mesh stream's buffer (chunked when it has no Content-Length, request
 * trailers in the last chunk), consumed from the mesh when the app's
 * socket took it.  Response: read only as far as the mesh stream has room
 * (the read buffer is sized to it, so the body always fits), parsed by
 * http_back_resp.c and written to the mesh as it comes.
 *
 * Upgrade: a request with weft-upgrade goes out with Connection: Upgrade
 * and Upgrade: <token>; after the app's 101, bytes are relayed raw both
 * ways and the connection is never pooled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/http_back_int.h"
#include "agent/http_back_resp.h"
#include "common/buf.h"
#include "common/err.h"
#include "proxy/h1h2.h"
#include "proxy/mesh.h"

struct hb_h1 {
	struct list link; /* set->h1_idle while idle */
	struct list all;  /* set->h1_all until closing */
	struct http_back_set *set;
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	struct http_resp *resp;
	struct hb_req *req; /* NULL while idle */
	char addr[HB_ADDR_MAX];
	bool connected, reading, writing, closing, idle;
	bool reused;     /* served a request before this one */
	bool got_bytes;  /* the app sent something for this request */
	bool keep_alive; /* the response allows another request */
	bool chunked;    /* the request body's framing */
	bool head_sent;
	bool app_eof;
	bool shut_app;
	size_t write_body; /* mesh bytes in the write in flight */
	uint8_t *wbuf;     /* head or last chunk for the write in flight */
	size_t wcap, wlen;
	char chunk_hdr[24];
	int64_t idle_since;
};

static void conn_start_read(struct hb_h1 *c);
static bool conn_pump(struct hb_h1 *c);
static void req_maybe_done(struct hb_req *r);

/* ---- connections ---- */

static void
conn_freed(uv_handle_t *h)
{
	struct hb_h1 *c = h->data;

	http_resp_free(c->resp);
	free(c->wbuf);
	free(c);
}

static void
conn_detach(struct hb_h1 *c)
{
	if (c->req != NULL) {
		c->req->h1 = NULL;
		c->req = NULL;
	}
}

static void
conn_close(struct hb_h1 *c)
{
	if (c->closing)
		return;
	c->closing = true;
	conn_detach(c);
	if (c->idle) {
		list_remove(&c->link);
		c->set->n_idle--;
		c->idle = false;
	}
	list_remove(&c->all);
	/* A write or connect in flight completes with ECANCELED before the
	 * close callback: freeing there is safe. */
	uv_close((uv_handle_t *)&c->tcp, conn_freed);
}

static int on_resp_head(void *ctx, const struct http_resp_head *h);
static int on_resp_body(void *ctx, const uint8_t *p, size_t n);
static int on_resp_end(void *ctx, const nghttp2_nv *t, size_t n);

static struct hb_h1 *
conn_new(struct http_back_set *set, const char *addr)
{
	struct hb_h1 *c = calloc(1, sizeof(*c));
	struct http_resp_sink sink = {on_resp_head, on_resp_body, on_resp_end,
	                              NULL};

	if (c == NULL)
		return NULL;
	sink.ctx = c;
	if (http_resp_new(&sink, &c->resp) != 0) {
		free(c);
		return NULL;
	}
	c->set = set;
	set->stats.app_connects++;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	uv_tcp_init(agent_proxy_loop(set->px), &c->tcp);
	uv_tcp_nodelay(&c->tcp, 1);
	c->tcp.data = c;
	list_init(&c->link);
	list_insert_tail(&set->h1_all, &c->all);
	return c;
}

static struct hb_h1 *
conn_take_idle(struct http_back_set *set, const char *addr)
{
	struct list *pos;

	list_foreach(pos, &set->h1_idle) {
		struct hb_h1 *c = list_entry(pos, struct hb_h1, link);

		if (strcmp(c->addr, addr) != 0)
			continue;
		list_remove(&c->link);
		set->n_idle--;
		c->idle = false;
		return c;
	}
	return NULL;
}

static void
conn_put_idle(struct hb_h1 *c)
{
	struct http_back_set *set = c->set;
	struct list *pos, *tmp;
	size_t same = 0;

	conn_detach(c);
	if (set->stopping) {
		conn_close(c);
		return;
	}
	c->idle = true;
	c->reused = true;
	c->idle_since = agent_proxy_now(set->px);
	list_insert_head(&set->h1_idle, &c->link);
	set->n_idle++;
	/* Bounds: the oldest go first. */
	list_foreach_safe(pos, tmp, &set->h1_idle) {
		struct hb_h1 *o = list_entry(pos, struct hb_h1, link);

		if (strcmp(o->addr, c->addr) == 0 && ++same > HB_IDLE_PER_ADDR)
			conn_close(o);
	}
	while (set->n_idle > HB_IDLE_MAX)
		conn_close(list_entry(set->h1_idle.prev, struct hb_h1, link));
	if (!c->closing)
		conn_start_read(c); /* to see the app close it */
}

void
hb_h1_sweep(struct http_back_set *set, int64_t now_ms)
{
	struct list *pos, *tmp;

	list_foreach_safe(pos, tmp, &set->h1_idle) {
		struct hb_h1 *c = list_entry(pos, struct hb_h1, link);

		if (now_ms - c->idle_since >= HB_IDLE_MS)
			conn_close(c);
	}
}

void
hb_h1_stop_all(struct http_back_set *set)
{
	while (!list_empty(&set->h1_all))
		conn_close(list_entry(set->h1_all.next, struct hb_h1, all));
}

static int
wbuf_room(struct hb_h1 *c, size_t n)
{
	uint8_t *nb;

	if (n <= c->wcap)
		return 0;
	nb = realloc(c->wbuf, n);
	if (nb == NULL)
		return WEFT_ENOMEM;
	c->wbuf = nb;
	c->wcap = n;
	return 0;
}

/* ---- the request ---- */

static bool
nv_is(const nghttp2_nv *v, const char *name)
{
	return v->namelen == strlen(name) &&
	       memcmp(v->name, name, v->namelen) == 0;
}

static bool
token(const uint8_t *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = (char)s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') ||
		      (ch != '\0' && strchr("!#$%&'*+-.^_`|~/", ch) != NULL)))
			return false;
	}
	return true;
}

/*
 * The request head for the app into set->head: weft-* fields left out
 * (weft-upgrade becomes Connection/Upgrade).  *len, *chunked; 0 or
 * WEFT_EMALFORMED with *why.
 */
static int
format_head(struct hb_req *r, size_t *len, bool *chunked, const char **why)
{
	struct http_back_set *set = r->set;
	const nghttp2_nv *nv;
	const uint8_t *p;
	size_t n, k = 0, plen;
	bool eof = false, has_body;
	struct buf b;
	int rc;

	*why = "bad request head";
	if (mesh_stream_head(r->ms, &nv, &n) != 0)
		return WEFT_EMALFORMED;
	r->head_request = false;
	r->upgrade = false;
	r->has_len = false;
	for (size_t i = 0; i < n; i++) {
		if (nv_is(&nv[i], ":method") && nv[i].valuelen == 4 &&
		    memcmp(nv[i].value, "HEAD", 4) == 0)
			r->head_request = true;
		if (nv_is(&nv[i], "content-length")) {
			/* h1h2_request_h1() checks it is plain digits. */
			r->has_len = true;
			r->req_len = 0;
			for (size_t j = 0; j < nv[i].valuelen && j < 18; j++)
				r->req_len = r->req_len * 10 +
				             (uint64_t)(nv[i].value[j] - '0');
		}
		if (nv[i].namelen >= 5 && memcmp(nv[i].name, "weft-", 5) == 0) {
			if (nv_is(&nv[i], MESH_UPGRADE_HEADER)) {
				if (!token(nv[i].value, nv[i].valuelen) ||
				    nv[i].valuelen >= sizeof(r->upgrade_to)) {
					*why = "bad weft-upgrade token";
					return WEFT_EMALFORMED;
				}
				memcpy(r->upgrade_to, nv[i].value,
				       nv[i].valuelen);
				r->upgrade_to[nv[i].valuelen] = '\0';
				r->upgrade = true;
			}
			continue;
		}
		if (k == HB_NV_MAX)
			return WEFT_EMALFORMED;
		set->nv[k++] = nv[i];
	}
	mesh_stream_read_peek(r->ms, &p, &plen, &eof);
	/* An upgrade's DATA is the tunnel, not a body. */
	has_body = !eof && !r->upgrade;
	buf_init(&b, set->head, sizeof(set->head));
	rc = h1h2_request_h1(set->nv, k, has_body, &b, chunked);
	if (rc == WEFT_ENOSPACE)
		*why = "request head too large";
	if (rc != 0)
		return WEFT_EMALFORMED;
	if (r->upgrade) {
		/* h1h2 ended the head with an empty line: add the upgrade's
		 * fields before it. */
		b.len -= 2;
		buf_put(&b, "connection: upgrade\r\nupgrade: ", 30);
		buf_put(&b, r->upgrade_to, strlen(r->upgrade_to));
		buf_put(&b, "\r\n\r\n", 4);
		if (b.err != 0) {
			*why = "request head too large";
			return WEFT_EMALFORMED;
		}
	}
	*len = b.len;
	return 0;
}

static void
on_head_written(uv_write_t *req, int status)
{
	struct hb_h1 *c = req->data;
	struct hb_req *r = c->req;
	struct mesh_conn *mc;

	c->writing = false;
	if (c->closing || r == NULL)
		return;
	mc = mesh_stream_conn(r->ms);
	if (status < 0) {
		/* The response may still tell why; the read side decides. */
		c->app_eof = true;
		conn_start_read(c);
		hb_kick(c->set, mc);
		return;
	}
	c->head_sent = true;
	conn_pump(c);
	hb_kick(c->set, mc);
}

/* The head goes out at once when the socket takes it (the usual case:
 * a fresh or idle connection), saving a loop turn per request. */
static void
send_head(struct hb_h1 *c)
{
	uv_buf_t b = uv_buf_init((char *)c->wbuf, (unsigned)c->wlen);
	int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);

	conn_start_read(c);
	if (n == UV_EAGAIN)
		n = 0;
	if (n < 0) {
		c->app_eof = true;
		return;
	}
	if ((size_t)n == c->wlen) {
		c->head_sent = true;
		conn_pump(c);
		return;
	}
	b = uv_buf_init((char *)c->wbuf + n, (unsigned)(c->wlen - (size_t)n));
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1,
	             on_head_written) == 0)
		c->writing = true;
	else
		c->app_eof = true;
}

static void
on_connect(uv_connect_t *creq, int status)
{
	struct hb_h1 *c = creq->data;
	struct hb_req *r = c->req;
	struct http_back_set *set = c->set;
	struct mesh_conn *mc;

	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		if (r != NULL) {
			mc = mesh_stream_conn(r->ms);
			hb_fail(r, uv_strerror(status));
			hb_kick(set, mc);
		}
		return;
	}
	c->connected = true;
	if (r == NULL) {
		conn_close(c);
		return;
	}
	send_head(c);
}

/* Gives r a connection (pooled or new) and sends its head. */
static int
attach(struct hb_req *r, bool fresh)
{
	struct http_back_set *set = r->set;
	struct hb_h1 *c = NULL;
	const char *why;
	size_t len;
	bool chunked;
	int rc;

	rc = format_head(r, &len, &chunked, &why);
	if (rc != 0) {
		char reason[MESH_REASON_MAX];

		snprintf(reason, sizeof(reason), "request cannot go to an "
		         "HTTP/1.1 app: %s", why);
		mesh_stream_refuse(r->ms, 400, reason);
		set->stats.refused++;
		hb_finish(r);
		return rc;
	}
	if (!fresh && (c = conn_take_idle(set, r->addr)) != NULL)
		set->stats.app_reused++;
	if (c == NULL && (c = conn_new(set, r->addr)) == NULL) {
		hb_fail(r, "agent out of memory");
		return WEFT_ENOMEM;
	}
	if (wbuf_room(c, len) != 0) {
		conn_close(c);
		hb_fail(r, "agent out of memory");
		return WEFT_ENOMEM;
	}
	memcpy(c->wbuf, set->head, len);
	c->wlen = len;
	c->req = r;
	r->h1 = c;
	r->tries++;
	c->chunked = chunked;
	c->got_bytes = c->head_sent = c->keep_alive = false;
	c->app_eof = c->shut_app = false;
	c->write_body = 0;
	http_resp_expect(c->resp, r->head_request, r->upgrade);
	if (c->connected) {
		send_head(c);
		return 0;
	}
	c->connect.data = c;
	rc = uv_tcp_connect(&c->connect, &c->tcp,
	                    (const struct sockaddr *)&r->sa, on_connect);
	if (rc != 0) {
		conn_close(c);
		hb_fail(r, uv_strerror(rc));
		return WEFT_EIO;
	}
	return 0;
}

int
hb_h1_start(struct hb_req *r)
{
	return attach(r, false);
}

static void
on_body_written(uv_write_t *req, int status)
{
	struct hb_h1 *c = req->data;
	struct hb_req *r = c->req;
	struct mesh_conn *mc;

	c->writing = false;
	if (c->closing || r == NULL)
		return;
	mc = mesh_stream_conn(r->ms);
	if (status < 0 && r->tunnel) {
		conn_close(c);
		hb_reset(r, uv_strerror(status));
		hb_kick(c->set, mc);
		return;
	}
	if (status < 0) {
		/* The app stopped reading: what it answers (if anything) is
		 * what the caller gets; the rest of the body goes nowhere. */
		c->app_eof = true;
		conn_start_read(c);
		hb_kick(c->set, mc);
		return;
	}
	if (c->write_body > 0) {
		mesh_stream_read_consume(r->ms, c->write_body);
		r->body_taken += c->write_body;
		c->write_body = 0;
	} else {
		/* The last chunk (or the tunnel's end) went out. */
		r->req_sent = true;
	}
	conn_pump(c);
	if (c->req != NULL)
		req_maybe_done(c->req);
	hb_kick(c->set, mc);
}

/* The last chunk, with the request's trailers when they can go. */
static int
last_chunk(struct hb_h1 *c, struct hb_req *r)
{
	const nghttp2_nv *t;
	size_t n = 0, k = 0;
	struct buf b;

	if (mesh_stream_trailers(r->ms, &t, &n) != 0)
		n = 0;
	for (size_t i = 0; i < n && k < HB_NV_MAX; i++) {
		struct h1_header *h = &c->set->trailers[k];

		if (t[i].namelen >= 5 && memcmp(t[i].name, "weft-", 5) == 0)
			continue;
		h->name = (const char *)t[i].name;
		h->name_len = t[i].namelen;
		h->value = (const char *)t[i].value;
		h->value_len = t[i].valuelen;
		k++;
	}
	if (wbuf_room(c, MESH_HEADER_BLOCK_MAX + 4 * HB_NV_MAX + 16) != 0)
		return WEFT_ENOMEM;
	buf_init(&b, c->wbuf, c->wcap);
	/* Trailers the writer refuses are dropped (RFC 9110 §6.5.1 lets a
	 * recipient discard them), never the body's end. */
	if (h1_write_end(&b, c->set->trailers, k) != 0) {
		buf_reset(&b);
		if (h1_write_end(&b, NULL, 0) != 0)
			return WEFT_ENOSPACE;
	}
	c->wlen = b.len;
	return 0;
}

/* Request body (or tunnel bytes) from the mesh to the app.  True when
 * the request was finished here (r is gone). */
static bool
conn_pump(struct hb_h1 *c)
{
	struct hb_req *r = c->req;
	const uint8_t *p;
	size_t len, nb = 0;
	bool eof = false;
	uv_buf_t b[3];

	/* In a tunnel the app's end of its side does not end ours. */
	if (r == NULL || c->closing || !c->head_sent || c->writing ||
	    (c->app_eof && !r->tunnel) || r->req_sent)
		return false;
	if (r->upgrade && !r->tunnel)
		return false; /* nothing goes before the app's 101 */
	mesh_stream_read_peek(r->ms, &p, &len, &eof);
	c->wreq.data = c;
	/* The mesh checks DATA against Content-Length already; a body that
	 * still disagreed would make the app read a second request. */
	if (!r->tunnel && !c->chunked && r->has_len &&
	    (r->body_taken + len > r->req_len ||
	     (eof && r->body_taken + len < r->req_len))) {
		conn_close(c);
		hb_reset(r, "request body and Content-Length disagree");
		return true;
	}
	if (len > 0) {
		if (c->chunked && !r->tunnel) {
			int hn = snprintf(c->chunk_hdr, sizeof(c->chunk_hdr),
			                  "%zx\r\n", len);

			b[nb++] = uv_buf_init(c->chunk_hdr, (unsigned)hn);
			b[nb++] = uv_buf_init((char *)p, (unsigned)len);
			b[nb++] = uv_buf_init((char *)"\r\n", 2);
		} else {
			b[nb++] = uv_buf_init((char *)p, (unsigned)len);
		}
		c->write_body = len;
		if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, b,
		             (unsigned)nb, on_body_written) == 0) {
			c->writing = true;
		} else if (r->tunnel) {
			conn_close(c);
			hb_reset(r, "tunnel write failed");
			return true;
		} else {
			c->app_eof = true;
		}
		return false;
	}
	if (!eof)
		return false;
	if (r->tunnel) {
		/* The caller ended its side of the tunnel. */
		r->req_sent = true;
		c->shut_app = true;
		c->sreq.data = c;
		if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, NULL) != 0)
			c->app_eof = true;
		return false;
	}
	if (!c->chunked) {
		r->req_sent = true;
		return false;
	}
	if (last_chunk(c, r) != 0) {
		c->app_eof = true;
		return false;
	}
	c->write_body = 0;
	b[0] = uv_buf_init((char *)c->wbuf, (unsigned)c->wlen);
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, b, 1,
	             on_body_written) == 0)
		c->writing = true;
	else
		c->app_eof = true;
	return false;
}

/* ---- the response ---- */

static int
on_resp_head(void *ctx, const struct http_resp_head *h)
{
	struct hb_h1 *c = ctx;
	struct hb_req *r = c->req;
	struct http_back_set *set = c->set;
	const nghttp2_nv *nv = h->nv;
	size_t n = h->n;
	int rc;

	if (h->upgraded) {
		static const nghttp2_nv up[2] = {
			{(uint8_t *)":status", (uint8_t *)"200", 7, 3,
			 NGHTTP2_NV_FLAG_NONE},
			{(uint8_t *)MESH_UPGRADED_HEADER, (uint8_t *)"101",
			 sizeof(MESH_UPGRADED_HEADER) - 1, 3,
			 NGHTTP2_NV_FLAG_NONE},
		};

		if (n > HB_NV_MAX - 1)
			return WEFT_ENOSPACE;
		memcpy(set->nv, up, sizeof(up));
		memcpy(set->nv + 2, h->nv + 1, (n - 1) * sizeof(*nv));
		nv = set->nv;
		n += 1;
	}
	rc = mesh_stream_respond(r->ms, nv, n, !h->has_body && !h->upgraded);
	if (rc != 0)
		return rc;
	hb_responded(r, nv, n);
	c->keep_alive = h->keep_alive;
	if (h->upgraded) {
		r->tunnel = true;
		c->keep_alive = false;
	} else if (!h->has_body) {
		r->resp_done = true;
	}
	return 0;
}

static int
on_resp_body(void *ctx, const uint8_t *p, size_t n)
{
	struct hb_h1 *c = ctx;
	size_t accepted = 0;
	int rc;

	rc = mesh_stream_write(c->req->ms, p, n, &accepted);
	hb_sent(c->req, accepted);
	/* Reads are sized to the room, so all of it fits. */
	if (rc == 0 && accepted < n)
		rc = WEFT_ENOSPACE;
	return rc;
}

static int
on_resp_end(void *ctx, const nghttp2_nv *t, size_t n)
{
	struct hb_h1 *c = ctx;
	struct hb_req *r = c->req;
	int rc;

	if (r->resp_done)
		return 0; /* no body: the head ended the stream */
	rc = n > 0 ? mesh_stream_end_trailers(r->ms, t, n)
	           : mesh_stream_shutdown_write(r->ms);
	if (rc != 0)
		return rc;
	r->resp_done = true;
	return 0;
}

/* Finishes r once both directions are done with the app. */
static void
req_maybe_done(struct hb_req *r)
{
	struct hb_h1 *c = r->h1;
	const uint8_t *p;
	size_t len;
	bool eof = false;

	if (!r->resp_done)
		return;
	if (r->tunnel) {
		if (c != NULL && !(r->req_sent && c->app_eof))
			return;
		if (c != NULL)
			conn_close(c);
		hb_finish(r);
		return;
	}
	if (c != NULL && !r->req_sent && !c->app_eof && !c->writing &&
	    c->head_sent && conn_pump(c)) /* maybe only the end is left */
		return;
	if (c != NULL && !r->req_sent) {
		/* The app answered before taking the whole request: the
		 * connection cannot carry another; drop the rest. */
		weft_logf(hb_log(r->set), WEFT_LOG_DEBUG,
		          "msg=\"app answered before the request's end\" "
		          "service=%s addr=%s", r->service, r->addr);
		conn_close(c);
		c = NULL;
	}
	if (c != NULL) {
		if (c->keep_alive && !c->app_eof && !c->writing) {
			conn_put_idle(c);
		} else {
			weft_logf(hb_log(r->set), WEFT_LOG_DEBUG,
			          "msg=\"app connection not kept\" service=%s "
			          "addr=%s keep_alive=%d app_eof=%d writing=%d",
			          r->service, r->addr, c->keep_alive,
			          c->app_eof, c->writing);
			conn_close(c);
		}
	}
	/* The request's body after an early answer is read and dropped
	 * until the caller ends it, so that the stream ends cleanly. */
	mesh_stream_read_peek(r->ms, &p, &len, &eof);
	while (len > 0) {
		mesh_stream_read_consume(r->ms, len);
		mesh_stream_read_peek(r->ms, &p, &len, &eof);
	}
	if (eof)
		hb_finish(r);
}

/* ---- reading the app ---- */

static void
alloc_app(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct hb_h1 *c = h->data;
	size_t room = sizeof(c->set->rbuf);

	(void)hint;
	if (c->req != NULL && c->req->ms != NULL)
		room = mesh_stream_write_room(c->req->ms);
	if (room > sizeof(c->set->rbuf))
		room = sizeof(c->set->rbuf);
	/* Zero: libuv reports UV_ENOBUFS and reading pauses. */
	buf->base = (char *)c->set->rbuf;
	buf->len = room;
}

static void
tunnel_to_mesh(struct hb_h1 *c, const uint8_t *p, size_t n)
{
	struct hb_req *r = c->req;
	size_t accepted = 0;

	if (n == 0)
		return;
	if (mesh_stream_write(r->ms, p, n, &accepted) != 0 || accepted < n) {
		conn_close(c);
		hb_reset(r, "tunnel write failed");
		return;
	}
	hb_sent(r, accepted);
}

/* The app's side ended or failed; what the caller gets depends on how
 * far the response went. */
static void
app_gone(struct hb_h1 *c, ssize_t err)
{
	struct hb_req *r = c->req;
	char why[160];
	int rc;

	c->app_eof = true;
	if (r->tunnel) {
		if (err != UV_EOF) {
			conn_close(c);
			hb_reset(r, uv_strerror((int)err));
			return;
		}
		mesh_stream_shutdown_write(r->ms);
		r->resp_done = true;
		req_maybe_done(r);
		return;
	}
	rc = http_resp_eof(c->resp);
	if (rc == 0) {
		req_maybe_done(r);
		return;
	}
	/* A pooled connection the app closed as we reused it: once more on
	 * a fresh one, if nothing is lost by it. */
	if (c->reused && !c->got_bytes && r->body_taken == 0 &&
	    !r->responded && r->tries < 2) {
		conn_close(c);
		attach(r, true);
		return;
	}
	if (err != UV_EOF)
		snprintf(why, sizeof(why), "%s", uv_strerror((int)err));
	else
		snprintf(why, sizeof(why), "%s", http_resp_error(c->resp));
	conn_close(c);
	if (r->responded)
		hb_reset(r, why);
	else
		hb_fail(r, why);
}

static void
on_app_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct hb_h1 *c = s->data;
	struct hb_req *r = c->req;
	struct http_back_set *set = c->set;
	struct mesh_conn *mc;
	size_t used = 0;
	int rc;

	if (c->closing || n == 0)
		return;
	if (r == NULL) {
		/* Idle: the app closed it, or said something unasked. */
		conn_close(c);
		return;
	}
	mc = mesh_stream_conn(r->ms);
	if (n == UV_ENOBUFS) {
		uv_read_stop(s);
		c->reading = false;
		hb_arm_writable(r->ms);
		hb_kick(set, mc);
		return;
	}
	if (n < 0) {
		uv_read_stop(s);
		c->reading = false;
		app_gone(c, n);
		hb_kick(set, mc);
		return;
	}
	c->got_bytes = true;
	if (r->tunnel) {
		tunnel_to_mesh(c, (const uint8_t *)buf->base, (size_t)n);
		hb_kick(set, mc);
		return;
	}
	rc = http_resp_feed(c->resp, (const uint8_t *)buf->base, (size_t)n,
	                    &used);
	if (rc != 0) {
		char why[160];

		if (rc == WEFT_EMALFORMED)
			snprintf(why, sizeof(why), "bad response: %s",
			         http_resp_error(c->resp));
		else if (!r->responded)
			snprintf(why, sizeof(why), "response the mesh cannot "
			         "carry (%s)", weft_strerror(rc));
		else
			snprintf(why, sizeof(why), "%s", weft_strerror(rc));
		conn_close(c);
		if (r->responded)
			hb_reset(r, why);
		else
			hb_fail(r, why);
		hb_kick(set, mc);
		return;
	}
	if (r->tunnel) {
		tunnel_to_mesh(c, (const uint8_t *)buf->base + used,
		               (size_t)n - used);
		if (c->req != NULL)
			conn_pump(c);
	} else if (used < (size_t)n) {
		/* Bytes after the answer: the app is not one to trust with
		 * another request. */
		c->keep_alive = false;
	}
	if (c->req != NULL && r->resp_done)
		req_maybe_done(r);
	else if (c->req != NULL && mesh_stream_write_room(r->ms) == 0) {
		uv_read_stop(s);
		c->reading = false;
		hb_arm_writable(r->ms);
	}
	hb_kick(set, mc);
}

static void
conn_start_read(struct hb_h1 *c)
{
	if (c->closing || c->reading || !c->connected)
		return;
	if (c->req != NULL && (c->req->resp_done && !c->req->tunnel))
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_app, on_app_read) == 0)
		c->reading = true;
}

/* ---- mesh events ---- */

void
hb_h1_event(struct hb_req *r, const struct mesh_event *ev)
{
	struct hb_h1 *c = r->h1;

	switch (ev->type) {
	case MESH_EV_READABLE:
		if (c != NULL && conn_pump(c))
			break;
		if (r->resp_done)
			req_maybe_done(r);
		break;
	case MESH_EV_WRITABLE:
		if (c != NULL)
			conn_start_read(c);
		break;
	case MESH_EV_RESET:
		if (c != NULL)
			conn_close(c);
		hb_finish(r);
		break;
	default:
		break;
	}
}
