/*
 * HTTP/2 apps (protocol http2 or grpc) behind the remote side: one h2c
 * session with prior knowledge per app address, carrying every request
 * for it as its own stream; a new session when the old one failed or the
 * app sent GOAWAY.
 *
 * Heads and trailers pass through as they are (pseudo-fields included;
 * weft-* fields left out both ways), so a gRPC trailers-only answer stays
 * one HEADERS with END_STREAM.
 *
 * Flow control both ways: the request body is taken from the mesh
 * stream only as the app's stream window allows (nghttp2 asks for it),
 * and the app's DATA is acknowledged to the app (WINDOW_UPDATE, with
 * automatic updates turned off) only once the mesh stream took it.  What
 * the mesh stream has no room for waits in a per-request buffer, which
 * the app's window for that stream bounds (HB_H2_WINDOW).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/http_back_int.h"
#include "common/err.h"
#include "proxy/h2mem.h"
#include "proxy/mesh.h"

#define HB_H2_WINDOW (128 * 1024)          /* per stream, to the app */
#define HB_H2_CONN_WINDOW (8 * 1024 * 1024) /* per session */

struct hb_h2 {
	struct list link; /* set->h2_all until closing */
	struct list dirty_link; /* on set->h2_dirty while marked */
	bool dirty;
	struct http_back_set *set;
	char addr[HB_ADDR_MAX];
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t wreq;
	nghttp2_session *sess;
	/* The session's blocks, recycled: a warm session opens and closes
	 * streams without malloc. */
	struct h2mem mem;
	bool connected, closing, writing, dead;
	size_t streams;
	int64_t idle_since;
	uint8_t *wbuf; /* the write in flight */
	size_t wcap;
	/* The header block being received (nghttp2 gives one at a time). */
	char *hbuf;
	size_t hlen, hcap;
	nghttp2_nv nv[HB_NV_MAX];
	size_t n_nv;
	bool hbad;
	uint8_t rbuf[HB_READ_CHUNK];
};

/* Per request, what the mesh could not take yet. */
struct hb_h2_pend {
	uint8_t *data;
	size_t len, off, cap;
	bool eof;          /* END_STREAM after it */
	char *tblock;      /* trailers after it: names and values */
	nghttp2_nv *tnv;
	size_t tn;
};

static void h2s_flush(struct hb_h2 *h);

/* Frames were queued outside a read of the session's socket: written at
 * the loop turn's end (hb_h2_flush_dirty), with whatever else it queued. */
static void
h2s_mark(struct hb_h2 *h)
{
	struct http_back_set *set = h->set;

	if (h->dirty || h->closing)
		return;
	h->dirty = true;
	list_insert_tail(&set->h2_dirty, &h->dirty_link);
	hb_wake(set);
}
static void h2s_fail(struct hb_h2 *h, const char *why);

/* ---- requests ---- */

static struct hb_h2_pend *
pend_of(struct hb_req *r)
{
	return (struct hb_h2_pend *)r->h2_pend;
}

static void
pend_free(struct hb_req *r)
{
	struct hb_h2_pend *p = pend_of(r);

	if (p == NULL)
		return;
	free(p->data);
	free(p->tblock);
	free(p->tnv);
	free(p);
	r->h2_pend = NULL;
}

/* r's app stream is over (or the session went): it no longer points
 * there, and the session no longer at it. */
static void
req_detach(struct hb_req *r)
{
	struct hb_h2 *h = r->h2;

	if (h == NULL)
		return;
	if (r->h2_id > 0 && h->sess != NULL)
		nghttp2_session_set_stream_user_data(h->sess, r->h2_id, NULL);
	r->h2 = NULL;
	if (h->streams > 0 && --h->streams == 0)
		h->idle_since = agent_proxy_now(h->set->px);
}

static void
req_end(struct hb_req *r)
{
	pend_free(r);
	hb_finish(r);
}

/* Response ended on the app side: finish now, or read and drop what the
 * caller still sends first (the stream must end cleanly). */
static void
req_maybe_done(struct hb_req *r)
{
	const uint8_t *p;
	size_t len;
	bool eof = false;

	if (!r->resp_done || pend_of(r) != NULL)
		return;
	if (r->h2 != NULL && !r->req_sent)
		return; /* the app may still read the body */
	if (r->h2 != NULL) {
		/* Request sent, response ended: nghttp2 closes the stream
		 * (on_stream_close) and detaches then. */
		return;
	}
	mesh_stream_read_peek(r->ms, &p, &len, &eof);
	while (len > 0) {
		mesh_stream_read_consume(r->ms, len);
		mesh_stream_read_peek(r->ms, &p, &len, &eof);
	}
	if (eof)
		req_end(r);
}

static void
req_fail(struct hb_req *r, const char *why)
{
	req_detach(r);
	pend_free(r);
	hb_fail(r, why);
}

/* Moves waiting bytes (and then the end) into the mesh stream. */
static int
pend_flush(struct hb_h2 *h, struct hb_req *r)
{
	struct hb_h2_pend *p = pend_of(r);
	size_t accepted = 0;
	int rc = 0;

	if (p == NULL)
		return 0;
	if (p->off < p->len) {
		rc = mesh_stream_write(r->ms, p->data + p->off, p->len - p->off,
		                       &accepted);
		if (rc != 0)
			return rc;
		p->off += accepted;
		hb_sent(r, accepted);
		if (h != NULL && accepted > 0 && r->h2_id > 0)
			nghttp2_session_consume(h->sess, r->h2_id, accepted);
		if (p->off < p->len) {
			hb_arm_writable(r->ms);
			return 0;
		}
	}
	if (p->tn > 0)
		rc = mesh_stream_end_trailers(r->ms, p->tnv, p->tn);
	else if (p->eof)
		rc = mesh_stream_shutdown_write(r->ms);
	if (p->eof || p->tn > 0)
		r->resp_done = true;
	pend_free(r);
	return rc;
}

/* Trailers to keep while body bytes wait: copies of nv. */
static int
pend_trailers(struct hb_req *r, const nghttp2_nv *nv, size_t n)
{
	struct hb_h2_pend *p = pend_of(r);
	size_t total = 0, off = 0;

	for (size_t i = 0; i < n; i++)
		total += nv[i].namelen + nv[i].valuelen;
	p->tblock = malloc(total + 1);
	p->tnv = calloc(n, sizeof(*p->tnv));
	if (p->tblock == NULL || p->tnv == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		p->tnv[i] = nv[i];
		memcpy(p->tblock + off, nv[i].name, nv[i].namelen);
		p->tnv[i].name = (uint8_t *)p->tblock + off;
		off += nv[i].namelen;
		memcpy(p->tblock + off, nv[i].value, nv[i].valuelen);
		p->tnv[i].value = (uint8_t *)p->tblock + off;
		off += nv[i].valuelen;
	}
	p->tn = n;
	return 0;
}

/* ---- nghttp2 callbacks ---- */

static ssize_t
read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
          uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct hb_h2 *h = user;
	struct hb_req *r = nghttp2_session_get_stream_user_data(s, id);
	const uint8_t *p;
	size_t len, n;
	bool eof = false;

	(void)src;
	if (r == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	mesh_stream_read_peek(r->ms, &p, &len, &eof);
	if (len == 0 && !eof)
		return NGHTTP2_ERR_DEFERRED;
	n = len < length ? len : length;
	if (n > 0) {
		/* Copied into nghttp2's frame: taken from the mesh. */
		memcpy(buf, p, n);
		mesh_stream_read_consume(r->ms, n);
		r->body_taken += n;
		hb_kick_later(r);
		mesh_stream_read_peek(r->ms, &p, &len, &eof);
	}
	if (len == 0 && eof) {
		const nghttp2_nv *t;
		size_t tn = 0, k = 0;

		*flags |= NGHTTP2_DATA_FLAG_EOF;
		r->req_sent = true;
		if (mesh_stream_trailers(r->ms, &t, &tn) == 0 && tn > 0) {
			for (size_t i = 0; i < tn && k < HB_NV_MAX; i++)
				if (!(t[i].namelen >= 5 &&
				      memcmp(t[i].name, "weft-", 5) == 0))
					h->set->nv[k++] = t[i];
			if (k > 0 && nghttp2_submit_trailer(s, id, h->set->nv,
			                                    k) == 0)
				*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		}
	}
	return (ssize_t)n;
}

static int
on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct hb_h2 *h = user;

	(void)s;
	(void)f;
	h->hlen = 0;
	h->n_nv = 0;
	h->hbad = false;
	return 0;
}

static int
on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
          size_t namelen, const uint8_t *value, size_t valuelen,
          uint8_t flags, void *user)
{
	struct hb_h2 *h = user;
	size_t need = namelen + valuelen;

	(void)s;
	(void)f;
	(void)flags;
	if (namelen >= 5 && memcmp(name, "weft-", 5) == 0)
		return 0; /* an app must not speak for weft */
	if (h->hbad || h->n_nv == HB_NV_MAX ||
	    h->hlen + need > MESH_HEADER_BLOCK_MAX) {
		h->hbad = true;
		return 0;
	}
	if (h->hlen + need > h->hcap) {
		size_t cap = h->hcap ? h->hcap : 4096;
		char *nb;

		while (cap < h->hlen + need)
			cap *= 2;
		nb = realloc(h->hbuf, cap);
		if (nb == NULL) {
			h->hbad = true;
			return 0;
		}
		/* Re-point what was gathered. */
		for (size_t i = 0; i < h->n_nv; i++) {
			h->nv[i].name = (uint8_t *)nb +
			                (h->nv[i].name - (uint8_t *)h->hbuf);
			h->nv[i].value = (uint8_t *)nb +
			                 (h->nv[i].value - (uint8_t *)h->hbuf);
		}
		h->hbuf = nb;
		h->hcap = cap;
	}
	memcpy(h->hbuf + h->hlen, name, namelen);
	memcpy(h->hbuf + h->hlen + namelen, value, valuelen);
	h->nv[h->n_nv++] = (nghttp2_nv){
		.name = (uint8_t *)h->hbuf + h->hlen,
		.namelen = namelen,
		.value = (uint8_t *)h->hbuf + h->hlen + namelen,
		.valuelen = valuelen,
		.flags = NGHTTP2_NV_FLAG_NONE,
	};
	h->hlen += need;
	return 0;
}

static void
headers_done(struct hb_h2 *h, struct hb_req *r, bool end_stream)
{
	bool has_status = h->n_nv > 0 && h->nv[0].namelen == 7 &&
	                  memcmp(h->nv[0].name, ":status", 7) == 0;
	int rc = 0;

	if (h->hbad) {
		if (!r->responded)
			req_fail(r, "response head too large for the mesh");
		else
			hb_reset(r, "trailers too large for the mesh");
		return;
	}
	if (has_status && h->nv[0].valuelen == 3 && h->nv[0].value[0] == '1')
		return; /* interim: nothing of it crosses */
	if (!r->responded) {
		if (!has_status) {
			req_fail(r, "response without :status");
			return;
		}
		rc = mesh_stream_respond(r->ms, h->nv, h->n_nv, end_stream);
		if (rc != 0) {
			char why[96];

			snprintf(why, sizeof(why), "response the mesh cannot carry "
			         "(%s)", weft_strerror(rc));
			req_fail(r, why);
			return;
		}
		hb_responded(r, h->nv, h->n_nv);
		if (end_stream)
			r->resp_done = true;
		hb_kick_later(r);
		return;
	}
	/* Trailers. */
	if (pend_of(r) != NULL) {
		if (pend_trailers(r, h->nv, h->n_nv) != 0) {
			req_detach(r);
			pend_free(r);
			hb_reset(r, "agent out of memory");
		}
		return;
	}
	rc = mesh_stream_end_trailers(r->ms, h->nv, h->n_nv);
	if (rc != 0) {
		req_detach(r);
		hb_reset(r, "trailers the mesh cannot carry");
		return;
	}
	r->resp_done = true;
	hb_kick_later(r);
}

static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct hb_h2 *h = user;
	struct hb_req *r;
	bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	if (f->hd.type == NGHTTP2_GOAWAY) {
		/* No new streams here: the next request opens a session. */
		h->dead = true;
		return 0;
	}
	if (f->hd.stream_id == 0)
		return 0;
	r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (r == NULL)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS) {
		headers_done(h, r, end);
		return 0;
	}
	if (f->hd.type == NGHTTP2_DATA && end && r->responded &&
	    !r->resp_done) {
		struct hb_h2_pend *p = pend_of(r);

		if (p != NULL) {
			p->eof = true;
			return 0;
		}
		if (mesh_stream_shutdown_write(r->ms) != 0) {
			req_detach(r);
			hb_reset(r, "mesh stream closed");
			return 0;
		}
		r->resp_done = true;
		hb_kick_later(r);
	}
	return 0;
}

static int
on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id,
              const uint8_t *data, size_t len, void *user)
{
	struct hb_req *r = nghttp2_session_get_stream_user_data(s, id);
	struct hb_h2_pend *p;
	size_t accepted = 0;

	(void)flags;
	(void)user;
	if (r == NULL || !r->responded) {
		/* Nobody reads it: give the window back. */
		nghttp2_session_consume(s, id, len);
		return 0;
	}
	p = pend_of(r);
	if (p == NULL) {
		if (mesh_stream_write(r->ms, data, len, &accepted) != 0) {
			nghttp2_session_consume(s, id, len);
			req_detach(r);
			hb_reset(r, "mesh stream closed");
			return 0;
		}
		if (accepted > 0) {
			hb_sent(r, accepted);
			nghttp2_session_consume(s, id, accepted);
			hb_kick_later(r);
		}
		if (accepted == len)
			return 0;
		data += accepted;
		len -= accepted;
		p = calloc(1, sizeof(*p));
		if (p == NULL)
			goto oom;
		r->h2_pend = p;
		hb_arm_writable(r->ms);
	}
	/* Bounded by the stream window the app was given. */
	if (p->len + len > p->cap) {
		size_t cap = p->cap ? p->cap : 16384;
		uint8_t *nb;

		if (p->off > 0) {
			memmove(p->data, p->data + p->off, p->len - p->off);
			p->len -= p->off;
			p->off = 0;
		}
		while (cap < p->len + len)
			cap *= 2;
		nb = cap > p->cap ? realloc(p->data, cap) : p->data;
		if (nb == NULL)
			goto oom;
		p->data = nb;
		if (cap > p->cap)
			p->cap = cap;
	}
	memcpy(p->data + p->len, data, len);
	p->len += len;
	return 0;
oom:
	nghttp2_session_consume(s, id, len);
	req_detach(r);
	pend_free(r);
	hb_reset(r, "agent out of memory");
	return 0;
}

static int
on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
	struct hb_req *r = nghttp2_session_get_stream_user_data(s, id);
	char why[96];

	(void)user;
	if (r == NULL)
		return 0;
	hb_kick_later(r);
	req_detach(r);
	if (r->resp_done || (pend_of(r) != NULL &&
	                     (pend_of(r)->eof || pend_of(r)->tn > 0))) {
		req_maybe_done(r);
		return 0;
	}
	snprintf(why, sizeof(why), "the app reset the stream (%s)",
	         nghttp2_http2_strerror(code));
	pend_free(r);
	if (r->responded)
		hb_reset(r, why);
	else
		hb_fail(r, why);
	return 0;
}

/* ---- the session's socket ---- */

static void
h2s_freed(uv_handle_t *hd)
{
	struct hb_h2 *h = hd->data;

	if (h->sess != NULL)
		nghttp2_session_del(h->sess);
	h2mem_clear(&h->mem);
	free(h->wbuf);
	free(h->hbuf);
	free(h);
}

static void
h2s_close(struct hb_h2 *h)
{
	if (h->closing)
		return;
	h->closing = true;
	h->dead = true;
	list_remove(&h->link);
	if (h->dirty) {
		list_remove(&h->dirty_link);
		h->dirty = false;
	}
	uv_close((uv_handle_t *)&h->tcp, h2s_freed);
}

/* Every request still on h fails (502 before a head, reset after). */
static void
h2s_fail(struct hb_h2 *h, const char *why)
{
	struct list *pos, *tmp;

	list_foreach_safe(pos, tmp, &h->set->reqs) {
		struct hb_req *r = list_entry(pos, struct hb_req, link);

		if (r->proto != HB_H2 || r->h2 != h)
			continue;
		hb_kick_later(r);
		req_detach(r);
		pend_free(r);
		if (r->responded)
			hb_reset(r, why);
		else
			hb_fail(r, why);
	}
	h2s_close(h);
}

static void
h2s_written(uv_write_t *req, int status)
{
	struct hb_h2 *h = req->data;

	h->writing = false;
	if (h->closing)
		return;
	if (status < 0)
		h2s_fail(h, uv_strerror(status));
	else
		h2s_flush(h);
}

/* Frames gathered for one write: nghttp2 hands them out one per call, and
 * a write each cost a syscall per frame.  Up to a frame past this. */
#define FLUSH_GATHER (16u * 1024)

/* Gathers what nghttp2 has into wbuf: bytes, 0 for none, or -1 (*why). */
static long
h2s_gather(struct hb_h2 *h, const char **why)
{
	size_t len = 0;

	while (len < FLUSH_GATHER) {
		const uint8_t *p;
		ssize_t n = nghttp2_session_mem_send(h->sess, &p);

		if (n < 0) {
			*why = nghttp2_strerror((int)n);
			return -1;
		}
		if (n == 0)
			break;
		if (len + (size_t)n > h->wcap) {
			size_t cap = h->wcap ? h->wcap : 1024;
			uint8_t *nb;

			while (cap < len + (size_t)n)
				cap *= 2;
			if ((nb = realloc(h->wbuf, cap)) == NULL) {
				*why = "agent out of memory";
				return -1;
			}
			h->wbuf = nb;
			h->wcap = cap;
		}
		memcpy(h->wbuf + len, p, (size_t)n);
		len += (size_t)n;
	}
	return (long)len;
}

/*
 * Writes what nghttp2 has, gathered: at once while the socket takes it,
 * the rest asynchronously, one write at a time.  Closes the session when
 * neither side wants more.
 */
static void
h2s_flush(struct hb_h2 *h)
{
	if (h->closing || !h->connected)
		return;
	for (int rounds = 0; !h->writing && rounds < 64; rounds++) {
		const char *why = NULL;
		long n = h2s_gather(h, &why);
		uv_buf_t b;
		int w;

		if (n < 0) {
			h2s_fail(h, why);
			return;
		}
		if (n == 0)
			break;
		b = uv_buf_init((char *)h->wbuf, (unsigned)n);
		w = uv_try_write((uv_stream_t *)&h->tcp, &b, 1);
		if (w == UV_EAGAIN)
			w = 0;
		if (w < 0) {
			h2s_fail(h, uv_strerror(w));
			return;
		}
		if (w == n)
			continue;
		/* wbuf stays as it is until h2s_written: nothing gathers
		 * while h->writing. */
		b = uv_buf_init((char *)h->wbuf + w, (unsigned)(n - w));
		h->wreq.data = h;
		if (uv_write(&h->wreq, (uv_stream_t *)&h->tcp, &b, 1,
		             h2s_written) != 0) {
			h2s_fail(h, "write failed");
			return;
		}
		h->writing = true;
	}
	if (!h->writing && !nghttp2_session_want_read(h->sess) &&
	    !nghttp2_session_want_write(h->sess))
		h2s_fail(h, "the app closed the HTTP/2 session");
}

static void
h2s_alloc(uv_handle_t *hd, size_t hint, uv_buf_t *buf)
{
	struct hb_h2 *h = hd->data;

	(void)hint;
	buf->base = (char *)h->rbuf;
	buf->len = sizeof(h->rbuf);
}

static void
h2s_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct hb_h2 *h = st->data;

	if (h->closing || n == 0)
		return;
	if (n < 0) {
		h2s_fail(h, n == UV_EOF ? "the app closed the connection"
		                            : uv_strerror((int)n));
	} else {
		ssize_t rc = nghttp2_session_mem_recv(
			h->sess, (const uint8_t *)buf->base, (size_t)n);

		if (rc < 0) {
			char why[96];

			snprintf(why, sizeof(why), "bad HTTP/2 from the app: %s",
			         nghttp2_strerror((int)rc));
			h2s_fail(h, why);
		} else {
			h2s_flush(h);
		}
	}
}

static void
h2s_connected(uv_connect_t *req, int status)
{
	struct hb_h2 *h = req->data;

	if (h->closing)
		return;
	if (status < 0) {
		h2s_fail(h, uv_strerror(status));
	} else {
		h->connected = true;
		if (uv_read_start((uv_stream_t *)&h->tcp, h2s_alloc,
		                  h2s_read) != 0)
			h2s_fail(h, "cannot read");
		else
			h2s_flush(h);
	}
}

static struct hb_h2 *
h2s_new(struct http_back_set *set, const struct hb_req *r)
{
	struct hb_h2 *h = calloc(1, sizeof(*h));
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_mem mem;
	nghttp2_settings_entry iv[2] = {
		{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, HB_H2_WINDOW},
	};
	int rc;

	if (h == NULL)
		return NULL;
	h2mem_init(&h->mem, 0);
	if (nghttp2_session_callbacks_new(&cb) != 0) {
		free(h);
		return NULL;
	}
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
		free(h);
		return NULL;
	}
	nghttp2_option_set_no_auto_window_update(opt, 1);
	h2mem_mem(&h->mem, &mem);
	rc = nghttp2_session_client_new3(&h->sess, cb, h, opt, &mem);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	if (rc != 0 ||
	    nghttp2_submit_settings(h->sess, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
	    nghttp2_session_set_local_window_size(h->sess, NGHTTP2_FLAG_NONE, 0,
	                                          HB_H2_CONN_WINDOW) != 0) {
		if (h->sess != NULL)
			nghttp2_session_del(h->sess);
		h2mem_clear(&h->mem);
		free(h);
		return NULL;
	}
	h->set = set;
	set->stats.h2_sessions++;
	snprintf(h->addr, sizeof(h->addr), "%s", r->addr);
	uv_tcp_init(agent_proxy_loop(set->px), &h->tcp);
	uv_tcp_nodelay(&h->tcp, 1);
	h->tcp.data = h;
	list_insert_tail(&set->h2_all, &h->link);
	h->connect.data = h;
	if (uv_tcp_connect(&h->connect, &h->tcp,
	                   (const struct sockaddr *)&r->sa,
	                   h2s_connected) != 0) {
		h2s_close(h);
		return NULL;
	}
	return h;
}

static struct hb_h2 *
h2s_for(struct http_back_set *set, const struct hb_req *r)
{
	struct list *pos;

	list_foreach(pos, &set->h2_all) {
		struct hb_h2 *h = list_entry(pos, struct hb_h2, link);

		if (!h->dead && !h->closing && strcmp(h->addr, r->addr) == 0 &&
		    nghttp2_session_check_request_allowed(h->sess))
			return h;
	}
	return h2s_new(set, r);
}

/* ---- for http_back.c ---- */

int
hb_h2_start(struct hb_req *r)
{
	struct http_back_set *set = r->set;
	const nghttp2_nv *nv;
	const uint8_t *p;
	size_t n, k = 0, len;
	bool eof = false, has_te = false;
	nghttp2_data_provider dp = {.read_callback = read_body};
	struct hb_h2 *h;
	int32_t id;

	if (mesh_stream_head(r->ms, &nv, &n) != 0) {
		hb_fail(r, "no request head");
		return WEFT_ESTATE;
	}
	for (size_t i = 0; i < n; i++) {
		if (nv[i].namelen >= 5 && memcmp(nv[i].name, "weft-", 5) == 0) {
			if (nv[i].namelen == sizeof(MESH_UPGRADE_HEADER) - 1 &&
			    memcmp(nv[i].name, MESH_UPGRADE_HEADER,
			           nv[i].namelen) == 0) {
				mesh_stream_refuse(r->ms, 501, "an upgrade to an "
				                   "HTTP/2 app is not supported");
				set->stats.refused++;
				hb_finish(r);
				return WEFT_EINVAL;
			}
			continue;
		}
		if (nv[i].namelen == 2 && memcmp(nv[i].name, "te", 2) == 0)
			has_te = true;
		if (k < HB_NV_MAX) {
			set->nv[k] = nv[i];
			/* New each request: not worth the app's HPACK table. */
			if (nv[i].namelen == 11 &&
			    memcmp(nv[i].name, "traceparent", 11) == 0)
				set->nv[k].flags = NGHTTP2_NV_FLAG_NO_INDEX;
			k++;
		}
	}
	/* gRPC servers insist on "te: trailers", which an HTTP/1.1 caller
	 * cannot carry through its front end (TE is hop-by-hop there). */
	if (r->grpc && !has_te && k < HB_NV_MAX)
		set->nv[k++] = (nghttp2_nv){(uint8_t *)"te", (uint8_t *)"trailers",
		                            2, 8, NGHTTP2_NV_FLAG_NONE};
	h = h2s_for(set, r);
	if (h == NULL) {
		hb_fail(r, "cannot start an HTTP/2 session");
		return WEFT_ENOMEM;
	}
	mesh_stream_read_peek(r->ms, &p, &len, &eof);
	id = nghttp2_submit_request(h->sess, NULL, set->nv, k,
	                            eof && len == 0 ? NULL : &dp, r);
	if (id < 0) {
		hb_fail(r, nghttp2_strerror(id));
		return WEFT_EINVAL;
	}
	if (eof && len == 0)
		r->req_sent = true;
	r->h2 = h;
	r->h2_id = id;
	h->streams++;
	h2s_mark(h);
	return 0;
}

void
hb_h2_event(struct hb_req *r, const struct mesh_event *ev)
{
	struct hb_h2 *h = r->h2;

	switch (ev->type) {
	case MESH_EV_READABLE:
		if (h != NULL && !r->req_sent) {
			nghttp2_session_resume_data(h->sess, r->h2_id);
			h2s_mark(h);
		} else {
			req_maybe_done(r);
		}
		break;
	case MESH_EV_WRITABLE:
		if (pend_flush(h, r) != 0) {
			req_detach(r);
			pend_free(r);
			hb_reset(r, "mesh stream closed");
			break;
		}
		if (h != NULL)
			h2s_mark(h); /* window updates */
		else
			req_maybe_done(r);
		break;
	case MESH_EV_RESET:
		if (h != NULL && r->h2_id > 0) {
			nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE,
			                          r->h2_id, NGHTTP2_CANCEL);
			req_detach(r);
			h2s_mark(h);
		}
		req_end(r);
		break;
	default:
		break;
	}
}

void
hb_h2_flush_dirty(struct http_back_set *set)
{
	struct list batch;

	/* Sessions marked by this flush wait for the next turn. */
	list_init(&batch);
	while (!list_empty(&set->h2_dirty)) {
		struct list *l = set->h2_dirty.next;

		list_remove(l);
		list_insert_tail(&batch, l);
	}
	while (!list_empty(&batch)) {
		struct hb_h2 *h = list_entry(batch.next, struct hb_h2,
		                             dirty_link);

		list_remove(&h->dirty_link);
		h->dirty = false;
		h2s_flush(h);
	}
}

void
hb_h2_sweep(struct http_back_set *set, int64_t now_ms)
{
	struct list *pos, *tmp;

	list_foreach_safe(pos, tmp, &set->h2_all) {
		struct hb_h2 *h = list_entry(pos, struct hb_h2, link);

		if (h->streams == 0 && now_ms - h->idle_since >= HB_IDLE_MS) {
			nghttp2_session_terminate_session(h->sess,
			                                  NGHTTP2_NO_ERROR);
			h2s_flush(h);
			h2s_close(h);
		}
	}
}

void
hb_h2_stop_all(struct http_back_set *set)
{
	while (!list_empty(&set->h2_all)) {
		struct hb_h2 *h = list_entry(set->h2_all.next, struct hb_h2,
		                             link);

		h2s_fail(h, "agent stopping");
	}
}
