/*
 * Push-pull streams: TCP, then weft's Noise session (certificates both
 * ways), then frames of plaintext:
 *
 *   u32 length (of type + body), u8 type, body
 *   type 1 HELLO: the initiator's gossip address (family, 16 address
 *                 bytes, port), so the responder can answer it by name
 *   type 2 GOSSIP: one stream message of the gossip core
 *
 * A stream to a peer is reused while it is open, and closed after a short
 * idle time: push-pull is occasional, so nothing is kept warm.
 */
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "agent/agent.h"
#include "common/buf.h"
#include "common/err.h"
#include "crypto/session.h"

#define STREAM_MAX 256
#define STREAM_MSG_MAX (32u << 20)
#define STREAM_IDLE_MS 10000
#define FRAME_HELLO 1
#define FRAME_GOSSIP 2

struct pending {
	struct list link;
	size_t len;
	uint8_t *data;
};

struct agent_stream {
	struct list link;
	struct agent *a;
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_timer_t timer;
	struct session *s;
	bool initiator;
	bool have_peer;
	bool closing;
	struct gossip_addr peer; /* gossip address, once known */
	char where[72];          /* for logs */
	struct list pending;     /* frames waiting for the handshake */
	int64_t last_active;
	int64_t push_ms; /* initiator: when our push went out, 0: none */
	int handles; /* handles still open, freed at zero */
};

struct wreq {
	uv_write_t req;
	size_t len;
	uint8_t data[];
};

static void stream_close(struct agent_stream *st, const char *why);

/*
 * A push-pull decodes and encodes the whole state (200 KB at 128
 * members, more for a seed answering a burst of joins) in many small
 * allocations; freed, they leave the heap holed but resident, and glibc
 * only gives back its top.  When the last stream is gone, the free pages
 * go back to the kernel: about 1 MiB of an agent's RSS at 128 members.
 */
static void
heap_give_back(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static void
on_handle_closed(uv_handle_t *h)
{
	struct agent_stream *st = h->data;
	struct agent *a = st->a;

	if (--st->handles > 0)
		return;
	free(st);
	if (a->n_streams == 0)
		heap_give_back();
}

static void
on_written(uv_write_t *req, int status)
{
	free(req);
	(void)status; /* a failed write shows up as a read error */
}

/* Moves everything the session has to send into one write. */
static void
pump_out(struct agent_stream *st)
{
	const uint8_t *p;
	size_t len;
	struct wreq *w;
	uv_buf_t b;

	session_out_peek(st->s, &p, &len);
	if (len == 0 || st->closing)
		return;
	/* libuv needs the bytes until the write completes, and the session
	 * reuses its buffer, so each write gets its own copy. */
	w = malloc(sizeof(*w) + len);
	if (w == NULL) {
		stream_close(st, "out of memory");
		return;
	}
	memcpy(w->data, p, len);
	w->len = len;
	session_out_consume(st->s, len);
	b = uv_buf_init((char *)w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&st->tcp, &b, 1, on_written) != 0) {
		free(w);
		stream_close(st, "write failed");
	}
}

static int
write_frame(struct agent_stream *st, uint8_t type, const uint8_t *body,
            size_t len)
{
	uint8_t hdr[5];
	int rc;

	hdr[0] = (uint8_t)((len + 1) >> 24);
	hdr[1] = (uint8_t)((len + 1) >> 16);
	hdr[2] = (uint8_t)((len + 1) >> 8);
	hdr[3] = (uint8_t)(len + 1);
	hdr[4] = type;
	rc = session_write(st->s, hdr, sizeof(hdr));
	if (rc == 0 && len)
		rc = session_write(st->s, body, len);
	return rc;
}

static void
flush_pending(struct agent_stream *st)
{
	while (!list_empty(&st->pending)) {
		struct pending *p = list_entry(st->pending.next, struct pending,
		                               link);

		list_remove(&p->link);
		write_frame(st, FRAME_GOSSIP, p->data, p->len);
		free(p->data);
		free(p);
	}
	pump_out(st);
}

static void
stream_close(struct agent_stream *st, const char *why)
{
	struct agent *a = st->a;

	if (st->closing)
		return;
	st->closing = true;
	if (why)
		weft_logf(&a->log, WEFT_LOG_INFO, "msg=\"stream closed\" peer=%s "
		          "reason=\"%s\"", st->where, why);
	list_remove(&st->link);
	a->n_streams--;
	while (!list_empty(&st->pending)) {
		struct pending *p = list_entry(st->pending.next, struct pending,
		                               link);

		list_remove(&p->link);
		free(p->data);
		free(p);
	}
	session_free(st->s);
	st->s = NULL;
	uv_timer_stop(&st->timer);
	uv_close((uv_handle_t *)&st->timer, on_handle_closed);
	uv_close((uv_handle_t *)&st->tcp, on_handle_closed);
}

static void
on_timer(uv_timer_t *t)
{
	struct agent_stream *st = t->data;
	int64_t now = (int64_t)uv_now(st->a->loop);

	if (session_state(st->s) == SESSION_HANDSHAKE) {
		session_tick(st->s, now);
		if (session_state(st->s) == SESSION_CLOSED) {
			stream_close(st, session_reason(st->s));
			return;
		}
	}
	if (now - st->last_active >= STREAM_IDLE_MS) {
		stream_close(st, NULL);
		return;
	}
	uv_timer_start(&st->timer, on_timer, 1000, 0);
}

static void
handle_frame(struct agent_stream *st, uint8_t type, const uint8_t *body,
             size_t len)
{
	struct agent *a = st->a;
	int rc;

	if (type == FRAME_HELLO && !st->initiator && !st->have_peer) {
		struct rd r;
		uint8_t fam;
		uint16_t port;

		rd_init(&r, body, len);
		if (len != 19 || rd_u8(&r, &fam) || (fam != 4 && fam != 6) ||
		    rd_bytes(&r, st->peer.ip, 16) || rd_u16be(&r, &port)) {
			stream_close(st, "malformed hello");
			return;
		}
		st->peer.family = fam;
		st->peer.port = port;
		st->have_peer = true;
		return;
	}
	if (type != FRAME_GOSSIP || !st->have_peer) {
		stream_close(st, "unexpected frame");
		return;
	}
	if (st->initiator && st->push_ms != 0) {
		/* The answer to our push: the exchange is done. */
		metrics_histogram_observe(&a->pushpull_seconds,
		    (double)((int64_t)uv_now(a->loop) - st->push_ms) / 1000.0);
		st->push_ms = 0;
	}
	rc = gossip_recv_stream(a->g, agent_now_ms(a), &st->peer, body, len);
	if (rc)
		weft_logf(&a->log, WEFT_LOG_INFO, "msg=\"refused push-pull\" "
		          "peer=%s reason=\"%s\"", st->where,
		          gossip_get_stats(a->g)->last_reason
		              ? gossip_get_stats(a->g)->last_reason
		              : weft_strerror(rc));
	agent_flush(a);
}

static void
on_established(struct agent_stream *st)
{
	const struct session_peer *p = session_peer(st->s);
	struct agent *a = st->a;

	weft_logf(&a->log, WEFT_LOG_DEBUG, "msg=\"stream authenticated\" "
	          "peer=%s node=%s", st->where, p->name);
	if (st->initiator) {
		uint8_t hello[19];
		struct buf b;

		buf_init(&b, hello, sizeof(hello));
		buf_put_u8(&b, a->self_addr.family);
		buf_put(&b, a->self_addr.ip, 16);
		buf_put_u16be(&b, a->self_addr.port);
		write_frame(st, FRAME_HELLO, hello, sizeof(hello));
		flush_pending(st);
	}
}

static void
read_frames(struct agent_stream *st)
{
	for (;;) {
		const uint8_t *p;
		size_t len, flen;

		if (st->closing)
			return;
		session_plain_peek(st->s, &p, &len);
		if (len < 5)
			return;
		flen = (size_t)p[0] << 24 | (size_t)p[1] << 16 |
		       (size_t)p[2] << 8 | p[3];
		if (flen == 0 || flen > STREAM_MSG_MAX) {
			stream_close(st, "frame length out of range");
			return;
		}
		if (len < 4 + flen)
			return;
		handle_frame(st, p[4], p + 5, flen - 1);
		if (!st->closing)
			session_plain_consume(st->s, 4 + flen);
	}
}

static void
alloc_rx(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct agent_stream *st = h->data;

	(void)hint;
	/* libuv calls read right after alloc, so one buffer serves all. */
	buf->base = (char *)st->a->rxbuf;
	buf->len = sizeof(st->a->rxbuf);
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct agent_stream *st = s->data;
	bool was_handshake;
	int rc;

	if (n < 0) {
		stream_close(st, n == UV_EOF ? NULL : uv_strerror((int)n));
		return;
	}
	if (n == 0 || st->closing)
		return;
	st->last_active = (int64_t)uv_now(st->a->loop);
	was_handshake = session_state(st->s) == SESSION_HANDSHAKE;
	rc = session_recv(st->s, (const uint8_t *)buf->base, (size_t)n);
	if (rc) {
		char why[SESSION_REASON_MAX + 40];

		snprintf(why, sizeof(why), "secure channel: %s",
		         session_reason(st->s));
		pump_out(st);
		stream_close(st, why);
		return;
	}
	if (was_handshake && session_state(st->s) == SESSION_ESTABLISHED)
		on_established(st);
	read_frames(st);
	if (!st->closing)
		pump_out(st);
}

bool
agent_is_revoked(void *ctx, const uint8_t id[KEY_ID_LEN])
{
	struct agent *a = ctx;

	return a->g && gossip_is_revoked(a->g, id);
}

static struct agent_stream *
stream_new(struct agent *a, bool initiator)
{
	struct session_config sc = {
		.self = &a->id.key,
		.cert = a->id.cert.encoded,
		.cert_len = a->id.cert.encoded_len,
		.bundle = &a->id.bundle,
		.revoked = &a->revoked,
		.skew_s = a->cfg.cert_skew_s,
		.rng = &key_system_rng,
	};
	struct agent_stream *st;

	if (a->n_streams >= STREAM_MAX)
		return NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NULL;
	if (session_new(&sc, initiator, NULL, (int64_t)uv_now(a->loop),
	                agent_now_unix(), &st->s) != 0) {
		free(st);
		return NULL;
	}
	st->a = a;
	st->initiator = initiator;
	list_init(&st->pending);
	uv_tcp_init(a->loop, &st->tcp);
	uv_timer_init(a->loop, &st->timer);
	st->tcp.data = st;
	st->timer.data = st;
	st->handles = 2;
	st->last_active = (int64_t)uv_now(a->loop);
	list_insert_tail(&a->streams, &st->link);
	a->n_streams++;
	uv_timer_start(&st->timer, on_timer, 1000, 0);
	return st;
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct agent_stream *st = req->data;

	if (st->closing)
		return;
	if (status) {
		stream_close(st, uv_strerror(status));
		return;
	}
	uv_read_start((uv_stream_t *)&st->tcp, alloc_rx, on_read);
	pump_out(st); /* the first handshake message */
}

void
agent_stream_send(struct agent *a, const struct gossip_addr *to,
                  uint8_t *msg, size_t len)
{
	struct agent_stream *st = NULL;
	struct list *pos;
	struct pending *p;
	struct sockaddr_storage ss;

	list_foreach(pos, &a->streams) {
		struct agent_stream *s = list_entry(pos, struct agent_stream, link);

		if (s->have_peer && !s->closing && gossip_addr_eq(&s->peer, to)) {
			st = s;
			break;
		}
	}
	if (st != NULL && st->initiator && st->push_ms == 0)
		st->push_ms = (int64_t)uv_now(a->loop);
	if (st && session_state(st->s) == SESSION_ESTABLISHED) {
		write_frame(st, FRAME_GOSSIP, msg, len);
		free(msg);
		pump_out(st);
		return;
	}
	if (st == NULL) {
		if (agent_addr_to_sockaddr(to, &ss) != 0 ||
		    (st = stream_new(a, true)) == NULL) {
			free(msg);
			return;
		}
		st->peer = *to;
		st->have_peer = true;
		st->push_ms = (int64_t)uv_now(a->loop);
		agent_addr_format(to, st->where, sizeof(st->where));
		st->connect.data = st;
		if (uv_tcp_connect(&st->connect, &st->tcp, (struct sockaddr *)&ss,
		                   on_connect) != 0) {
			free(msg);
			stream_close(st, "connect failed");
			return;
		}
	}
	p = malloc(sizeof(*p));
	if (p == NULL) {
		free(msg);
		return;
	}
	p->data = msg;
	p->len = len;
	list_insert_tail(&st->pending, &p->link);
}

static void
on_accept(uv_stream_t *server, int status)
{
	struct agent *a = server->data;
	struct agent_stream *st;
	struct sockaddr_storage ss;
	struct gossip_addr remote;
	int len = sizeof(ss);

	if (status)
		return;
	st = stream_new(a, false);
	if (st == NULL) {
		/* Over the cap: accept and drop, so the backlog drains. */
		uv_tcp_t *t = malloc(sizeof(*t));

		if (t == NULL)
			return;
		uv_tcp_init(a->loop, t);
		if (uv_accept(server, (uv_stream_t *)t) == 0)
			weft_logf(&a->log, WEFT_LOG_WARN, "msg=\"too many streams, "
			          "refusing one\"");
		uv_close((uv_handle_t *)t, (uv_close_cb)free);
		return;
	}
	if (uv_accept(server, (uv_stream_t *)&st->tcp) != 0) {
		stream_close(st, "accept failed");
		return;
	}
	if (uv_tcp_getpeername(&st->tcp, (struct sockaddr *)&ss, &len) == 0 &&
	    agent_addr_from_sockaddr((struct sockaddr *)&ss, &remote) == 0)
		agent_addr_format(&remote, st->where, sizeof(st->where));
	uv_read_start((uv_stream_t *)&st->tcp, alloc_rx, on_read);
}

int
agent_stream_listen(struct agent *a)
{
	struct sockaddr_storage ss;
	struct gossip_addr bind;
	int rc;

	list_init(&a->streams);
	rc = agent_addr_from_hostport(&a->cfg.bind, &bind);
	if (rc == 0)
		rc = agent_addr_to_sockaddr(&bind, &ss);
	if (rc)
		return rc;
	uv_tcp_init(a->loop, &a->stream_listener);
	a->stream_listener.data = a;
	rc = uv_tcp_bind(&a->stream_listener, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&a->stream_listener, 128, on_accept);
	if (rc) {
		weft_logf(&a->log, WEFT_LOG_ERROR, "msg=\"cannot listen for "
		          "gossip streams\" error=\"%s\"", uv_strerror(rc));
		return WEFT_EIO;
	}
	return 0;
}

void
agent_streams_close(struct agent *a)
{
	while (!list_empty(&a->streams))
		stream_close(list_entry(a->streams.next, struct agent_stream,
		                        link), NULL);
	uv_close((uv_handle_t *)&a->stream_listener, NULL);
}
