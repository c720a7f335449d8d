/*
 * The data plane's I/O.  Three kinds of object:
 *
 *   pconn   a TCP connection to (or from) a peer agent's mesh listener,
 *           carrying one mesh_conn: many streams.  Outbound ones are
 *           pooled by peer key id and reused while they can take streams.
 *   pstream one app-side TCP connection and its mesh stream: an app that
 *           connected to an upstream port (client), or the connection this
 *           agent made to a local service for an inbound stream (server).
 *   uplisten an upstream port: `local_bind` of a configured upstream.
 *
 * Bytes from an app are read straight into the stream's send buffer
 * (mesh_stream_write_reserve/commit: the read's buffer is the room the
 * stream has), so an app that sends faster than the mesh carries is
 * simply not read: no buffer grows, and no copy is made.
 * Bytes for an app are written straight from the stream's receive buffer
 * and consumed once the socket took them, which is what re-opens the
 * HTTP/2 window.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/accesslog.h"
#include "agent/agent.h"
#include "agent/heap_trim.h"
#include "agent/http_back.h"
#include "agent/http_call.h"
#include "agent/http_front.h"
#include "agent/http_front_h2.h"
#include "agent/identity.h"
#include "agent/metrics.h"
#include "agent/proxy_int.h"
#include "agent/proxy_io.h"
#include "agent/proxy_metrics.h"
#include "agent/proxy_workers.h"
#include "agent/tables.h"
#include "common/counter.h"
#include "common/err.h"
#include "crypto/session.h"
#include "proxy/balance.h"
#include "proxy/circuit.h"
#include "proxy/mesh.h"

#define RELAY_CHUNK (64u * 1024)
#define MAX_PCONNS 4096
/* Inbound connections still in their handshake: each holds about 92 KiB
 * before a byte is authenticated, so strangers get a small share. */
#define MAX_PENDING_IN 128
/* WEFT_E codes counted for failed handshakes (common/err.h); others
 * count as "other". */
#define HS_CODES 32

struct pconn {
	struct list link;
	struct agent_proxy *px;
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t wreq;
	uv_timer_t timer;
	struct mesh_conn *mc;
	bool initiator;
	bool connected;
	bool writing;
	bool closing;
	bool pending_in; /* inbound, handshake not finished */
	bool up;         /* the handshake finished */
	bool kicked;     /* on px->kicked: flush in the check phase */
	struct list kick_link;
	uint8_t key_id[KEY_ID_LEN]; /* outbound: the peer we dialled */
	char where[72];
	uint8_t *wbuf; /* the write in flight; reused */
	size_t wcap;
	int handles;
};

struct pstream {
	enum proxy_stream_kind kind; /* PROXY_STREAM_TCP: first, see proxy_int.h */
	struct agent_proxy *px;
	uv_tcp_t app;
	uv_connect_t connect;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	struct mesh_stream *ms;
	struct pconn *pc;
	struct circuit *circuit; /* client: the upstream's, one held */
	bool client;       /* app connected to us (upstream) */
	bool app_open;     /* the app socket is usable */
	bool reading;      /* uv_read_start is in force */
	bool app_eof;      /* the app half-closed */
	bool reserved;     /* alloc_app holds room in the stream */
	int reserve_err;   /* why alloc_app had none, 0: the stream was full */
	bool writing;      /* a write to the app is in flight */
	size_t write_len;  /* its length, consumed when done */
	bool shut_app;     /* we half-closed the app side */
	bool opened;       /* client: the peer said 200 */
	bool closed;
	unsigned tries;
	char service[64];
	const struct table_endpoint *ep; /* client: in the stream's table */
	struct table *table;             /* the reference that keeps ep */
	/* For the access log and metrics. */
	uint64_t start_ns;      /* uv_hrtime() */
	int64_t start_wall_ms;
	uint64_t bytes_in;      /* from the caller (app or peer) */
	uint64_t bytes_out;     /* to it */
	char source[128];       /* the calling service(s) */
	char peer[64];          /* server: the calling node */
};

struct uplisten {
	struct list link;
	struct agent_proxy *px;
	struct circuit *circuit; /* max_connections, shared by workers */
	uv_tcp_t tcp;
	char service[64];
	char owner[64]; /* the service it belongs to, "" for the agent's */
};

struct agent_proxy {
	struct agent *a; /* only while agent_proxy_worker_new runs */
	struct proxy_workers *set;
	unsigned index;
	uv_loop_t *loop;
	const struct weft_log *log;
	char node_name[64];
	/* This worker's copy of the identity: a reload on the main thread
	 * frees the agent's, so the worker never points at it. */
	struct agent_identity id;
	struct cert_revocations revoked; /* against the worker's snapshot */
	int64_t cert_skew_s;
	int64_t wall_base_ms; /* the wall clock when uv_base_ms was read */
	uint64_t uv_base_ms;
	struct mesh_node *node;
	struct balance *bal;
	struct session_config sc;
	struct table *table;
	uint64_t version;
	uv_tcp_t mesh_listener;
	uv_timer_t rebuild;
	/* agent_proxy_kick() marks a connection; one flush per connection
	 * after the loop's I/O callbacks (uv_check) writes what every call
	 * of that turn queued in as few writes as possible. */
	uv_check_t flusher;
	uv_idle_t flush_again; /* active: more kicks came during a flush */
	struct list kicked;
	struct list pconns;
	unsigned n_pconns;
	unsigned n_pending_in;
	struct list uplisteners;
	struct http_caller *hc;       /* HTTP calls for local apps */
	struct http_back_set *back;   /* HTTP requests for local services */
	struct http_front **fronts;   /* HTTP/1.1 upstream listeners */
	size_t n_fronts;
	struct http_front_h2 **fronts_h2; /* h2c ones (http2, grpc) */
	size_t n_fronts_h2;
	uint64_t http_in;             /* MESH_EV_REQUEST seen */
	/* Mesh handshakes: finished, by direction (0 out, 1 in), and
	 * failed, by direction and the WEFT_E code that ended them. */
	uint64_t hs_ok[2];
	uint64_t hs_failed[2][HS_CODES];
	struct accesslog *alog;       /* NULL: no access log; per worker */
	struct proxy_metrics *pm;     /* shared by the workers */
	struct agent_proxy_stats stats;
	bool stopping;
	struct agent_trim streams_trim; /* agent/heap_trim.h */
	uint8_t mbuf[RELAY_CHUNK]; /* mesh socket reads */
};

static void pconn_flush(struct pconn *pc);
static void pstream_close(struct pstream *ps);
static void pstream_pump_down(struct pstream *ps);
static void pstream_read_more(struct pstream *ps);
static int client_attempt(struct pstream *ps);

static int64_t
mono(const struct agent_proxy *px)
{
	return (int64_t)uv_now(px->loop);
}

/* ---- mesh connections ---- */

static void
pconn_handle_closed(uv_handle_t *h)
{
	struct pconn *pc = h->data;

	if (--pc->handles == 0) {
		if (pc->mc)
			mesh_conn_free(pc->mc);
		free(pc->wbuf);
		free(pc);
	}
}

static void
pconn_close(struct pconn *pc)
{
	if (pc->closing)
		return;
	pc->closing = true;
	list_remove(&pc->link);
	if (pc->kicked) {
		list_remove(&pc->kick_link);
		pc->kicked = false;
	}
	COUNTER_DEC(pc->px->n_pconns);
	if (pc->pending_in) {
		pc->pending_in = false;
		pc->px->n_pending_in--;
	}
	uv_timer_stop(&pc->timer);
	uv_close((uv_handle_t *)&pc->timer, pconn_handle_closed);
	uv_close((uv_handle_t *)&pc->tcp, pconn_handle_closed);
}

static void
on_pconn_timer(uv_timer_t *t)
{
	struct pconn *pc = t->data;

	mesh_conn_tick(pc->mc, mono(pc->px));
	pconn_flush(pc);
}

static void
pconn_rearm(struct pconn *pc)
{
	int64_t d, now;

	if (pc->closing)
		return;
	d = mesh_conn_deadline(pc->mc);
	now = mono(pc->px);
	if (d == INT64_MAX)
		uv_timer_stop(&pc->timer);
	else
		uv_timer_start(&pc->timer, on_pconn_timer,
		               d > now ? (uint64_t)(d - now) : 0, 0);
}

static void
on_pconn_written(uv_write_t *req, int status)
{
	struct pconn *pc = req->data;

	pc->writing = false;
	if (status < 0) {
		if (!pc->closing)
			mesh_conn_abort(pc->mc, WEFT_EIO, uv_strerror(status));
	}
	pconn_flush(pc);
}

/*
 * Writes what the core has.  As long as the socket takes the bytes at
 * once (uv_try_write), straight from the core's view and again for what
 * the core produces next; what the socket does not take is copied (the
 * view changes on the next call) and written asynchronously, one write
 * at a time.  Closes when done.
 */
static void
pconn_flush(struct pconn *pc)
{
	const uint8_t *p;
	size_t len;
	uv_buf_t b;
	int n, rounds;

	if (pc->closing)
		return;
	/* Bounded: each round writes what the core produced, and the core
	 * produces at most out_high_water bytes per round. */
	for (rounds = 0; !pc->writing && pc->connected && rounds < 64;
	     rounds++) {
		mesh_conn_out_peek(pc->mc, &p, &len);
		if (len == 0)
			break;
		b = uv_buf_init((char *)p, (unsigned)len);
		n = uv_try_write((uv_stream_t *)&pc->tcp, &b, 1);
		if (n == UV_EAGAIN)
			n = 0;
		if (n < 0) {
			mesh_conn_abort(pc->mc, WEFT_EIO, uv_strerror(n));
			break;
		}
		mesh_conn_out_consume(pc->mc, (size_t)n);
		if ((size_t)n == len)
			continue;
		p += n;
		len -= (size_t)n;
		if (len > pc->wcap) {
			uint8_t *nb = realloc(pc->wbuf, len);

			if (nb == NULL) {
				mesh_conn_abort(pc->mc, WEFT_ENOMEM,
				                "out of memory");
				break;
			}
			pc->wbuf = nb;
			pc->wcap = len;
		}
		/* The core's view changes on the next call; libuv needs the
		 * bytes until the write completes. */
		memcpy(pc->wbuf, p, len);
		mesh_conn_out_consume(pc->mc, len);
		b = uv_buf_init((char *)pc->wbuf, (unsigned)len);
		pc->wreq.data = pc;
		if (uv_write(&pc->wreq, (uv_stream_t *)&pc->tcp, &b, 1,
		             on_pconn_written) == 0)
			pc->writing = true;
		else
			mesh_conn_abort(pc->mc, WEFT_EIO, "write failed");
	}
	if (mesh_conn_done(pc->mc) && !pc->writing) {
		pconn_close(pc);
		return;
	}
	pconn_rearm(pc);
}

static void
alloc_mesh(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct pconn *pc = h->data;

	(void)hint;
	buf->base = (char *)pc->px->mbuf;
	buf->len = sizeof(pc->px->mbuf);
}

static void
on_mesh_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct pconn *pc = s->data;

	if (pc->closing || n == 0)
		return;
	if (n < 0)
		mesh_conn_abort(pc->mc, n == UV_EOF ? WEFT_ECLOSED : WEFT_EIO,
		                n == UV_EOF ? "peer closed the connection"
		                            : uv_strerror((int)n));
	else
		mesh_conn_recv(pc->mc, mono(pc->px), (const uint8_t *)buf->base,
		               (size_t)n);
	pconn_flush(pc);
}

static struct pconn *
pconn_new(struct agent_proxy *px, bool initiator, const uint8_t *key_id,
          const uint8_t *remote_static)
{
	struct pconn *pc;

	if (px->n_pconns >= MAX_PCONNS)
		return NULL;
	pc = calloc(1, sizeof(*pc));
	if (pc == NULL)
		return NULL;
	pc->px = px;
	pc->initiator = initiator;
	if (key_id)
		memcpy(pc->key_id, key_id, KEY_ID_LEN);
	if (mesh_conn_new(px->node, initiator, remote_static, key_id, mono(px),
	                  agent_now_unix(), pc, &pc->mc) != 0) {
		free(pc);
		return NULL;
	}
	uv_tcp_init(px->loop, &pc->tcp);
	uv_timer_init(px->loop, &pc->timer);
	uv_tcp_nodelay(&pc->tcp, 1);
	pc->tcp.data = pc->timer.data = pc;
	pc->handles = 2;
	list_insert_tail(&px->pconns, &pc->link);
	COUNTER_INC(px->n_pconns);
	return pc;
}

static void
on_pconn_connect(uv_connect_t *req, int status)
{
	struct pconn *pc = req->data;

	if (pc->closing)
		return;
	if (status < 0) {
		COUNTER_INC(pc->px->stats.connect_fail);
		mesh_conn_abort(pc->mc, WEFT_EIO, uv_strerror(status));
		pconn_flush(pc);
		return;
	}
	pc->connected = true;
	uv_read_start((uv_stream_t *)&pc->tcp, alloc_mesh, on_mesh_read);
	pconn_flush(pc);
}

/* A connection to ep's agent that can take one more stream. */
static struct pconn *
pconn_for(struct agent_proxy *px, const struct table_endpoint *ep)
{
	struct list *pos;
	struct pconn *pc;
	struct agent_hostport hp;
	struct gossip_addr ga;
	struct sockaddr_storage ss;

	list_foreach(pos, &px->pconns) {
		pc = list_entry(pos, struct pconn, link);
		if (pc->initiator && !pc->closing &&
		    memcmp(pc->key_id, ep->key_id, KEY_ID_LEN) == 0 &&
		    mesh_conn_can_open(pc->mc))
			return pc;
	}
	if (agent_parse_hostport(ep->mesh_addr, AGENT_MESH_PORT, &hp) != 0 ||
	    agent_addr_from_hostport(&hp, &ga) != 0 ||
	    agent_addr_to_sockaddr(&ga, &ss) != 0)
		return NULL;
	/* Gossip told us the peer's Noise static key (from its certificate):
	 * IK, one round trip less than XX. */
	pc = pconn_new(px, true, ep->key_id,
	               sodium_is_zero(ep->static_pk, sizeof(ep->static_pk))
	                   ? NULL
	                   : ep->static_pk);
	if (pc == NULL)
		return NULL;
	snprintf(pc->where, sizeof(pc->where), "%s (%s)", ep->node,
	         ep->mesh_addr);
	pc->connect.data = pc;
	COUNTER_INC(px->stats.conns_out);
	if (uv_tcp_connect(&pc->connect, &pc->tcp, (struct sockaddr *)&ss,
	                   on_pconn_connect) != 0) {
		mesh_conn_abort(pc->mc, WEFT_EIO, "connect failed");
		pconn_close(pc);
		return NULL;
	}
	return pc;
}

/* ---- app-side streams ---- */

static void
pstream_freed(uv_handle_t *h)
{
	struct pstream *ps = h->data;

	if (ps->table)
		table_unref(ps->table);
	free(ps);
}

/* The stream's access log line and metrics, once, as it closes. */
static void
pstream_observe(struct pstream *ps)
{
	const struct table_endpoint *ep = ps->ep;
	char up[160];
	struct accesslog_entry e = {
		.start_unix_ms = ps->start_wall_ms,
		.kind = "tcp",
		.direction = ps->client ? "outbound" : "inbound",
		.src_service = ps->source[0] ? ps->source : NULL,
		.src_node = ps->client ? ps->px->node_name : ps->peer,
		.dst_service = ps->service[0] ? ps->service : NULL,
		.dst_node = ps->client ? (ep ? ep->node : NULL)
		                       : ps->px->node_name,
		.bytes_in = ps->bytes_in,
		.bytes_out = ps->bytes_out,
		.duration_us = (int64_t)((uv_hrtime() - ps->start_ns) / 1000),
		.retries = ps->tries > 1 ? ps->tries - 1 : 0,
	};

	if (ps->client && ps->service[0] == '\0')
		return; /* accepted and closed before it was anything */
	if (ps->client && ep != NULL) {
		snprintf(up, sizeof(up), "%s %s", ep->node, ep->mesh_addr);
		e.upstream = up;
	}
	if (ps->client && !ps->opened)
		e.error = "no stream opened";
	agent_proxy_observe(ps->px, &e, !ps->client, false, false);
}

static void
pstream_close(struct pstream *ps)
{
	struct agent_proxy *px = ps->px;

	if (ps->closed)
		return;
	ps->closed = true;
	pstream_observe(ps);
	if (ps->circuit != NULL)
		circuit_release(ps->circuit, CIRCUIT_CONNECTIONS);
	if (ps->ms) {
		mesh_stream_close(ps->ms);
		ps->ms = NULL;
		COUNTER_DEC(px->stats.active_streams);
		agent_trim_note(&px->streams_trim, px->stats.active_streams);
		if (ps->client && ps->ep)
			balance_stream_ended(px->bal, ps->ep);
	}
	if (ps->pc)
		pconn_flush(ps->pc);
	/* A write or shutdown still in flight completes with ECANCELED
	 * before the close callback, so freeing there is safe. */
	uv_close((uv_handle_t *)&ps->app, pstream_freed);
}

/* Both directions ended and nothing is left to write: done. */
static void
pstream_maybe_done(struct pstream *ps)
{
	const uint8_t *p;
	size_t len;
	bool eof = false;

	if (ps->closed || ps->ms == NULL)
		return;
	mesh_stream_read_peek(ps->ms, &p, &len, &eof);
	if (ps->app_eof && eof && !ps->writing && ps->shut_app)
		pstream_close(ps);
}

/* The read lands in the stream's own chunk: on_app_read commits what it
 * returned (libuv calls it after every alloc), and gives back the rest. */
static void
alloc_app(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct pstream *ps = h->data;
	uint8_t *p = NULL;
	size_t len = 0;

	(void)hint;
	ps->reserve_err = 0;
	if (ps->ms != NULL && !ps->closed) {
		ps->reserve_err = mesh_stream_write_reserve(ps->ms, &p, &len);
		if (ps->reserve_err != 0)
			len = 0;
	}
	ps->reserved = len > 0;
	/* A zero-length buffer makes libuv report UV_ENOBUFS; the read
	 * callback then stops reading until the stream has room. */
	buf->base = (char *)p;
	buf->len = len;
}

/*
 * Stops reading the app until the stream has room.  The core announces
 * room (MESH_EV_WRITABLE) only after a write it could not take whole, and
 * reads are sized to the room, so ask for one byte it cannot take: that
 * arms the event and takes nothing.
 */
static void
pause_app(struct pstream *ps)
{
	size_t accepted = 0;
	uint8_t one = 0;

	if (mesh_stream_write_room(ps->ms) > 0)
		return; /* room already: keep reading */
	uv_read_stop((uv_stream_t *)&ps->app);
	ps->reading = false;
	/* No room, so nothing is taken (accepted stays 0). */
	mesh_stream_write(ps->ms, &one, 1, &accepted);
}

static void
on_app_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct pstream *ps = s->data;

	(void)buf;
	if (ps->reserved) {
		/* First, before anything else touches the stream. */
		ps->reserved = false;
		if (ps->ms != NULL)
			mesh_stream_write_commit(ps->ms, n > 0 ? (size_t)n : 0);
	}
	if (ps->closed)
		return;
	if (n == UV_ENOBUFS) {
		if (ps->reserve_err == WEFT_ENOMEM) {
			mesh_stream_reset(ps->ms);
			pstream_close(ps);
			return;
		}
		if (ps->reserve_err != 0) {
			/* The stream takes no more (shut or reset): its
			 * event closes it. */
			uv_read_stop(s);
			ps->reading = false;
			return;
		}
		pause_app(ps);
		return;
	}
	if (n == UV_EOF) {
		uv_read_stop(s);
		ps->reading = false;
		ps->app_eof = true;
		if (ps->ms)
			mesh_stream_shutdown_write(ps->ms);
		pconn_flush(ps->pc);
		pstream_maybe_done(ps);
		return;
	}
	if (n < 0) {
		if (ps->ms)
			mesh_stream_reset(ps->ms);
		pstream_close(ps);
		return;
	}
	if (n == 0)
		return;
	/* Committed above: the read went into the room it was given. */
	if (ps->client) {
		COUNTER_ADD(ps->px->stats.bytes_up, (size_t)n);
		ps->bytes_in += (size_t)n;
	} else {
		ps->bytes_out += (size_t)n;
	}
	if (mesh_stream_write_room(ps->ms) == 0)
		pause_app(ps);
	pconn_flush(ps->pc);
}

static void
pstream_read_more(struct pstream *ps)
{
	if (ps->closed || ps->reading || ps->app_eof || !ps->app_open ||
	    ps->ms == NULL || mesh_stream_write_room(ps->ms) == 0)
		return;
	if (uv_read_start((uv_stream_t *)&ps->app, alloc_app, on_app_read) == 0)
		ps->reading = true;
}

static void
on_app_shutdown(uv_shutdown_t *req, int status)
{
	struct pstream *ps = req->data;

	(void)status;
	if (!ps->closed)
		pstream_maybe_done(ps);
}

static void
on_app_written(uv_write_t *req, int status)
{
	struct pstream *ps = req->data;

	ps->writing = false;
	if (ps->closed)
		return;
	if (status < 0) {
		mesh_stream_reset(ps->ms);
		pstream_close(ps);
		return;
	}
	mesh_stream_read_consume(ps->ms, ps->write_len);
	if (ps->client) {
		COUNTER_ADD(ps->px->stats.bytes_down, ps->write_len);
		ps->bytes_out += ps->write_len;
	} else {
		ps->bytes_in += ps->write_len;
	}
	ps->write_len = 0;
	pconn_flush(ps->pc); /* window updates */
	pstream_pump_down(ps);
}

/*
 * One run to the app socket now, without blocking: bytes taken, 0 when
 * the socket is full, or a negative libuv error.  more: another run
 * follows at once, so the kernel holds a partial segment for it
 * (MSG_MORE, a TCP_CORK for this one call: no setsockopt pair per pump);
 * the last run goes without it and pushes what is held.  Only while no
 * libuv write is queued on the socket (ps->writing false), as
 * uv_try_write.
 */
static int
app_send(struct pstream *ps, const uint8_t *p, size_t len, bool more)
{
	uv_os_fd_t fd;
	ssize_t n;

	if (uv_fileno((uv_handle_t *)&ps->app, &fd) != 0)
		return UV_EBADF;
	do
		n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL |
		                          (more ? MSG_MORE : 0));
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return 0;
	return uv_translate_sys_error(errno);
}

/*
 * Mesh to app, straight from the stream's buffer, whose runs are at most
 * a chunk (16 KiB).  Runs go out synchronously while the socket takes
 * them, each consumed at once (which re-opens the window); with
 * TCP_NODELAY they would leave as one 16 KiB segment each, every one
 * waking the app, so every run but the last is sent with MSG_MORE.
 * What the socket does not take goes through one asynchronous write,
 * consumed when it completes.
 */
static void
pstream_pump_down(struct pstream *ps)
{
	const uint8_t *p;
	size_t len, done = 0;
	bool eof;
	uv_buf_t b;
	int n = 0;

	if (ps->closed || ps->writing || !ps->app_open || ps->ms == NULL)
		return;
	/* Bounded by what the stream holds (its window). */
	for (;;) {
		mesh_stream_read_peek(ps->ms, &p, &len, &eof);
		if (len == 0)
			break;
		n = app_send(ps, p, len, mesh_stream_read_pending(ps->ms) > len);
		if (n < 0)
			break;
		mesh_stream_read_consume(ps->ms, (size_t)n);
		done += (size_t)n;
		if ((size_t)n < len) {
			b = uv_buf_init((char *)p + n, (unsigned)(len - (size_t)n));
			ps->wreq.data = ps;
			ps->write_len = len - (size_t)n;
			if (uv_write(&ps->wreq, (uv_stream_t *)&ps->app, &b, 1,
			             on_app_written) == 0)
				ps->writing = true;
			else
				n = UV_EIO;
			break;
		}
	}
	if (ps->client) {
		COUNTER_ADD(ps->px->stats.bytes_down, done);
		ps->bytes_out += done;
	} else {
		ps->bytes_in += done;
	}
	if (n < 0 && len) {
		mesh_stream_reset(ps->ms);
		pstream_close(ps);
		return;
	}
	if (done)
		pconn_flush(ps->pc); /* window updates */
	if (ps->writing || len)
		return;
	if (eof && !ps->shut_app) {
		ps->shut_app = true;
		ps->sreq.data = ps;
		if (uv_shutdown(&ps->sreq, (uv_stream_t *)&ps->app,
		                on_app_shutdown) != 0)
			pstream_maybe_done(ps);
	}
}

static struct pstream *
pstream_new(struct agent_proxy *px, bool client)
{
	struct pstream *ps = calloc(1, sizeof(*ps));

	if (ps == NULL)
		return NULL;
	ps->kind = PROXY_STREAM_TCP;
	ps->px = px;
	ps->client = client;
	ps->start_ns = uv_hrtime();
	ps->start_wall_ms = agent_proxy_wall_ms(px);
	uv_tcp_init(px->loop, &ps->app);
	uv_tcp_nodelay(&ps->app, 1);
	ps->app.data = ps;
	return ps;
}

/* ---- events from the core ---- */

/* Server side: the connection to the local service is up, or not. */
static void
on_local_connect(uv_connect_t *req, int status)
{
	struct pstream *ps = req->data;
	char why[160];

	if (ps->closed)
		return;
	if (status < 0) {
		snprintf(why, sizeof(why), "local service %s: %s", ps->service,
		         uv_strerror(status));
		weft_logf(ps->px->log, WEFT_LOG_WARN, "msg=\"inbound stream "
		          "failed\" reason=\"%s\"", why);
		mesh_stream_refuse(ps->ms, 502, why);
		pstream_close(ps);
		return;
	}
	ps->app_open = true;
	mesh_stream_accept(ps->ms);
	pstream_read_more(ps);
	pstream_pump_down(ps);
	pconn_flush(ps->pc);
}

static void
on_mesh_event(void *ctx, const struct mesh_event *ev)
{
	struct agent_proxy *px = ctx;
	struct pstream *ps = ev->stream_user;

	/* Every stream's user starts with its kind (proxy_int.h). */
	if (ps != NULL && ps->kind == PROXY_STREAM_HTTP_CALL) {
		http_call_event(px->hc, ev);
		return;
	}
	if (ps != NULL && ps->kind == PROXY_STREAM_HTTP_BACK) {
		http_back_event(ev);
		return;
	}
	switch (ev->type) {
	case MESH_EV_CONN_UP:
		if (ev->conn_user) {
			struct pconn *upc = ev->conn_user;

			upc->up = true;
			COUNTER_INC(px->hs_ok[upc->initiator ? 0 : 1]);
		}
		if (ev->conn_user &&
		    ((struct pconn *)ev->conn_user)->pending_in) {
			((struct pconn *)ev->conn_user)->pending_in = false;
			px->n_pending_in--;
		}
		weft_logf(px->log, WEFT_LOG_DEBUG, "msg=\"mesh connection up\" "
		          "peer=%s handshake=%s", ev->peer ? ev->peer : "?",
		          mesh_conn_peer(ev->conn) &&
		                  mesh_conn_peer(ev->conn)->pattern ==
		                      NOISE_PATTERN_IK
		              ? "IK"
		              : "XX");
		break;
	case MESH_EV_CONN_CLOSED:
		if (ev->conn_user && !((struct pconn *)ev->conn_user)->up) {
			struct pconn *dpc = ev->conn_user;
			int code = ev->err < 0 && -ev->err < HS_CODES ? -ev->err : 0;

			COUNTER_INC(px->hs_failed[dpc->initiator ? 0 : 1][code]);
			dpc->up = true; /* counted once */
		}
		if (ev->err && ev->err != WEFT_ECLOSED)
			weft_logf(px->log, WEFT_LOG_INFO, "msg=\"mesh connection "
			          "closed\" peer=%s addr=%s reason=\"%s\"",
			          ev->peer ? ev->peer : "?",
			          ev->conn_user && ((struct pconn *)ev->conn_user)->where[0]
			              ? ((struct pconn *)ev->conn_user)->where
			              : "?",
			          ev->reason ? ev->reason : "");
		break;
	case MESH_EV_OPENED:
		if (ps) {
			ps->opened = true;
			if (ps->ep)
				balance_connect_ok(px->bal, ps->ep);
			pstream_read_more(ps);
		}
		break;
	case MESH_EV_REFUSED:
		COUNTER_INC(px->stats.refused_out);
		weft_logf(px->log, WEFT_LOG_WARN, "msg=\"stream refused\" "
		          "service=%s peer=%s status=%d reason=\"%s\"",
		          ev->service ? ev->service : "?",
		          ev->peer ? ev->peer : "?", ev->status,
		          ev->reason ? ev->reason : "");
		if (ps)
			pstream_close(ps);
		break;
	case MESH_EV_DENIED:
		COUNTER_INC(px->stats.denied_in);
		weft_logf(px->log, WEFT_LOG_WARN, "msg=\"inbound stream denied\" "
		          "service=%s peer=%s status=%d reason=\"%s\"",
		          ev->service ? ev->service : "?",
		          ev->peer ? ev->peer : "?", ev->status,
		          ev->reason ? ev->reason : "");
		if (ev->status == 403) {
			char src[128];

			agent_proxy_peer_services(mesh_conn_peer(ev->conn), src,
			                          sizeof(src));
			proxy_metrics_denied(px->pm, true, !ev->http, src,
			                     ev->service);
			agent_proxy_event(px, "denied", ev->service, ev->peer,
			                  ev->reason);
		}
		break;
	case MESH_EV_CONNECT: {
		struct sockaddr_in sin;
		struct pstream *in;

		in = pstream_new(px, false);
		if (in == NULL) {
			mesh_stream_refuse(ev->stream, 502, "agent out of memory");
			mesh_stream_close(ev->stream);
			break;
		}
		if (uv_ip4_addr(ev->host ? ev->host : "127.0.0.1", ev->port,
		                &sin) != 0) {
			/* The handle is in the loop now: close, never free. */
			in->ms = ev->stream;
			COUNTER_INC(px->stats.active_streams); /* pstream_close counts it down */
			mesh_stream_refuse(ev->stream, 502, "bad local address");
			pstream_close(in);
			break;
		}
		in->ms = ev->stream;
		in->pc = mesh_conn_user(ev->conn);
		snprintf(in->service, sizeof(in->service), "%s",
		         ev->service ? ev->service : "");
		snprintf(in->peer, sizeof(in->peer), "%s",
		         ev->peer ? ev->peer : "");
		agent_proxy_peer_services(mesh_conn_peer(ev->conn), in->source,
		                          sizeof(in->source));
		mesh_stream_set_user(ev->stream, in);
		COUNTER_INC(px->stats.streams_in);
		COUNTER_INC(px->stats.active_streams);
		in->connect.data = in;
		if (uv_tcp_connect(&in->connect, &in->app,
		                   (struct sockaddr *)&sin, on_local_connect) != 0) {
			mesh_stream_refuse(ev->stream, 502, "cannot connect to the "
			                   "local service");
			pstream_close(in);
		}
		break;
	}
	case MESH_EV_REQUEST:
		COUNTER_INC(px->http_in);
		COUNTER_INC(px->stats.streams_in);
		/* The stream is the back end's whatever the result. */
		(void)http_back_start(px->back, ev);
		break;
	case MESH_EV_RESPONSE:
		/* Not for a TCP stream: only HTTP streams get answers. */
		if (ps)
			pstream_close(ps);
		break;
	case MESH_EV_READABLE:
		if (ps)
			pstream_pump_down(ps);
		break;
	case MESH_EV_WRITABLE:
		if (ps)
			pstream_read_more(ps);
		break;
	case MESH_EV_RESET:
		if (ps == NULL)
			break;
		/* A client stream the peer never opened may go elsewhere:
		 * nothing was read from the app yet. */
		if (ps->client && !ps->opened && ps->tries < BALANCE_MAX_TRIES) {
			if (ps->ep)
				balance_connect_failed(px->bal, ps->ep, mono(px));
			mesh_stream_close(ps->ms);
			ps->ms = NULL;
			COUNTER_DEC(px->stats.active_streams);
			if (ps->ep)
				balance_stream_ended(px->bal, ps->ep);
			ps->ep = NULL;
			if (client_attempt(ps) != 0)
				pstream_close(ps);
			break;
		}
		pstream_close(ps);
		break;
	}
}

/* ---- client side: app connections on upstream ports ---- */

/* Picks an endpoint and opens a stream to it; 0, or why not. */
static int
client_attempt(struct pstream *ps)
{
	struct agent_proxy *px = ps->px;
	const struct table_endpoint *ep;
	struct balance_miss miss;
	struct pconn *pc;
	int rc;

	ps->tries++;
	if (ps->table == NULL)
		ps->table = table_ref(px->table);
	rc = balance_pick(px->bal, ps->table, ps->service, mono(px),
	                  &key_system_rng, &ep, &miss);
	if (rc) {
		COUNTER_INC(px->stats.no_endpoint);
		weft_logf(px->log, WEFT_LOG_WARN, "msg=\"no endpoint\" "
		          "service=%s endpoints=%zu not_alive=%zu unhealthy=%zu "
		          "ejected=%zu backoff=%zu", ps->service, miss.total,
		          miss.not_alive, miss.unhealthy, miss.ejected,
		          miss.backoff);
		return rc;
	}
	pc = pconn_for(px, ep);
	if (pc == NULL)
		return WEFT_ENOMEM;
	rc = mesh_stream_open(pc->mc, ps->service, ep->port, ps, &ps->ms);
	if (rc)
		return rc;
	ps->pc = pc;
	ps->ep = ep;
	balance_stream_started(px->bal, ep);
	COUNTER_INC(px->stats.streams_out);
	COUNTER_INC(px->stats.active_streams);
	pconn_flush(pc);
	return 0;
}

static void
on_upstream_accept(uv_stream_t *server, int status)
{
	struct uplisten *ul = server->data;
	struct agent_proxy *px = ul->px;
	struct pstream *ps;

	if (status < 0)
		return;
	ps = pstream_new(px, true);
	if (ps == NULL)
		return;
	if (uv_accept(server, (uv_stream_t *)&ps->app) != 0) {
		pstream_close(ps);
		return;
	}
	/* Over max_connections: closed at once, as an HTTP front end
	 * answers 503, so that apps cannot hold the agent's memory. */
	if (circuit_acquire(ul->circuit, CIRCUIT_CONNECTIONS) != 0) {
		COUNTER_INC(px->stats.circuit_overflows);
		pstream_close(ps);
		return;
	}
	ps->circuit = ul->circuit;
	ps->app_open = true;
	snprintf(ps->service, sizeof(ps->service), "%s", ul->service);
	snprintf(ps->source, sizeof(ps->source), "%s", ul->owner);
	/* The app is not read until the peer opened the stream, so that a
	 * refused or failed attempt can go to another endpoint. */
	if (client_attempt(ps) != 0)
		pstream_close(ps);
}

static int
listen_upstream(struct agent_proxy *px, const struct agent_upstream *u)
{
	struct uplisten *ul;
	struct gossip_addr ga;
	struct sockaddr_storage ss;
	int rc;

	if (u->protocol == TABLE_PROTO_HTTP) {
		struct http_front **nf, *f = NULL;

		nf = realloc(px->fronts, (px->n_fronts + 1) * sizeof(*nf));
		if (nf == NULL)
			return WEFT_ENOMEM;
		px->fronts = nf;
		rc = http_front_h1_open(px, px->hc, u, &f);
		if (f != NULL)
			px->fronts[px->n_fronts++] = f;
		return rc;
	}
	if (u->protocol == TABLE_PROTO_HTTP2 || u->protocol == TABLE_PROTO_GRPC) {
		struct http_front_h2 **nf, *f = NULL;

		nf = realloc(px->fronts_h2, (px->n_fronts_h2 + 1) * sizeof(*nf));
		if (nf == NULL)
			return WEFT_ENOMEM;
		px->fronts_h2 = nf;
		rc = http_front_h2_open(px, px->hc, u, &f);
		if (f != NULL)
			px->fronts_h2[px->n_fronts_h2++] = f;
		return rc;
	}
	ul = calloc(1, sizeof(*ul));
	if (ul == NULL)
		return WEFT_ENOMEM;
	ul->px = px;
	if ((ul->circuit = agent_proxy_circuit(px, u)) == NULL) {
		free(ul);
		return WEFT_ENOMEM;
	}
	snprintf(ul->service, sizeof(ul->service), "%s", u->service);
	snprintf(ul->owner, sizeof(ul->owner), "%s", u->owner ? u->owner : "");
	uv_tcp_init(px->loop, &ul->tcp);
	ul->tcp.data = ul;
	list_insert_tail(&px->uplisteners, &ul->link);
	rc = agent_addr_from_hostport(&u->local_bind, &ga);
	if (rc == 0)
		rc = agent_addr_to_sockaddr(&ga, &ss);
	if (rc == 0)
		rc = agent_proxy_listen(px, &ul->tcp, (const struct sockaddr *)&ss,
		                        on_upstream_accept);
	if (rc) {
		weft_logf(px->log, WEFT_LOG_ERROR, "msg=\"cannot listen for "
		          "upstream\" service=%s addr=%s:%u error=\"%s\"",
		          u->service, u->local_bind.host, u->local_bind.port,
		          rc < 0 && rc > -4096 ? uv_strerror(rc) : "bad address");
		return WEFT_EIO;
	}
	weft_logf(px->log, WEFT_LOG_INFO, "msg=\"upstream listening\" "
	          "service=%s addr=%s:%u", u->service, u->local_bind.host,
	          u->local_bind.port);
	return 0;
}

/* ---- server side: the mesh listener ---- */

static void
on_mesh_accept(uv_stream_t *server, int status)
{
	struct agent_proxy *px = server->data;
	struct pconn *pc;

	if (status < 0)
		return;
	pc = px->n_pending_in < MAX_PENDING_IN ? pconn_new(px, false, NULL, NULL)
	                                       : NULL;
	if (pc == NULL) {
		uv_tcp_t *t = malloc(sizeof(*t));

		if (t == NULL)
			return;
		uv_tcp_init(px->loop, t);
		uv_accept(server, (uv_stream_t *)t);
		uv_close((uv_handle_t *)t, (uv_close_cb)free);
		return;
	}
	if (uv_accept(server, (uv_stream_t *)&pc->tcp) != 0) {
		pconn_close(pc);
		return;
	}
	{
		struct sockaddr_storage ss;
		struct gossip_addr ga;
		int len = sizeof(ss);

		/* Unauthenticated peers have no name yet: log their address. */
		if (uv_tcp_getpeername(&pc->tcp, (struct sockaddr *)&ss, &len) == 0 &&
		    agent_addr_from_sockaddr((struct sockaddr *)&ss, &ga) == 0)
			agent_addr_format(&ga, pc->where, sizeof(pc->where));
	}
	COUNTER_INC(px->stats.conns_in);
	pc->pending_in = true;
	px->n_pending_in++;
	pc->connected = true;
	uv_read_start((uv_stream_t *)&pc->tcp, alloc_mesh, on_mesh_read);
	pconn_flush(pc);
}

/* ---- tables ---- */

/*
 * The handshake checks a peer's certificate once; a revocation that
 * arrives later, or the end of its validity, must not leave it a pooled
 * connection that takes new streams for minutes.  Such connections are
 * closed (their streams reset); reconnecting means a new handshake, which
 * refuses the peer.
 */
static void
drop_untrusted_peers(struct agent_proxy *px)
{
	int64_t now = agent_now_unix();
	struct list *pos, *tmp;

	list_foreach_safe(pos, tmp, &px->pconns) {
		struct pconn *pc = list_entry(pos, struct pconn, link);
		const struct session_peer *peer;
		const char *why = NULL;

		if (pc->closing || (peer = mesh_conn_peer(pc->mc)) == NULL)
			continue;
		if (table_is_revoked(px->table, peer->key_id))
			why = "peer certificate revoked";
		else if (peer->cert != NULL &&
		         now - px->cert_skew_s > peer->cert->not_after)
			why = "peer certificate expired";
		if (why == NULL)
			continue;
		/* The close is logged with why (MESH_EV_CONN_CLOSED). */
		mesh_conn_abort(pc->mc, WEFT_EREVOKED, why);
		pconn_flush(pc);
	}
}

void
agent_proxy_worker_set_table(struct agent_proxy *px, struct table *t)
{
	if (px->stopping) {
		table_unref(t);
		return;
	}
	mesh_node_set_table(px->node, t);
	if (px->table)
		table_unref(px->table);
	px->table = t;
	balance_gc(px->bal, mono(px));
	drop_untrusted_peers(px);
}

/* Handshakes check revocations against the worker's snapshot, which the
 * main thread rebuilds whenever a revocation arrives. */
static bool
worker_is_revoked(void *ctx, const uint8_t key_id[KEY_ID_LEN])
{
	const struct agent_proxy *px = ctx;

	return table_is_revoked(px->table, key_id);
}

/* ---- for the HTTP files (agent/proxy_int.h) ---- */

uv_loop_t *
agent_proxy_loop(struct agent_proxy *px)
{
	return px->loop;
}

const struct agent *
agent_proxy_agent(struct agent_proxy *px)
{
	return px->a;
}

const struct weft_log *
agent_proxy_log(struct agent_proxy *px)
{
	return px->log;
}

bool
agent_proxy_heard(struct agent_proxy *px)
{
	return proxy_workers_heard(px->set);
}

struct circuit *
agent_proxy_circuit(struct agent_proxy *px, const struct agent_upstream *u)
{
	return proxy_workers_circuit(px->set, u, &(struct circuit_limits){
		.max = {
			[CIRCUIT_CONNECTIONS] = u->max_connections,
			[CIRCUIT_PENDING] = u->max_pending,
			[CIRCUIT_REQUESTS] = u->max_requests,
		},
	});
}

static socklen_t
sockaddr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                 : sizeof(struct sockaddr_in);
}

int
agent_proxy_listen(struct agent_proxy *px, uv_tcp_t *t,
                   const struct sockaddr *sa, uv_connection_cb cb)
{
	int fd, on = 1, rc;

	if (proxy_workers_first_bind(px->set, sa)) {
		/* Without SO_REUSEPORT this bind fails if anything listens
		 * there, even a process that set SO_REUSEPORT itself. */
		fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		rc = bind(fd, sa, sockaddr_len(sa)) == 0 ? 0 : -errno;
		close(fd);
		if (rc)
			return rc;
	}
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
	    bind(fd, sa, sockaddr_len(sa)) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if ((rc = uv_tcp_open(t, fd)) != 0) {
		close(fd);
		return rc;
	}
	return uv_listen((uv_stream_t *)t, 511, cb);
}

struct table *
agent_proxy_table(struct agent_proxy *px)
{
	return px->table;
}

struct balance *
agent_proxy_balance(struct agent_proxy *px)
{
	return px->bal;
}

int64_t
agent_proxy_now(struct agent_proxy *px)
{
	return mono(px);
}

struct accesslog *
agent_proxy_accesslog(struct agent_proxy *px)
{
	return px->alog;
}

struct proxy_metrics *
agent_proxy_metrics(struct agent_proxy *px)
{
	return px->pm;
}

int64_t
agent_proxy_wall_ms(struct agent_proxy *px)
{
	return px->wall_base_ms + (int64_t)(uv_now(px->loop) - px->uv_base_ms);
}

const char *
agent_proxy_node(struct agent_proxy *px)
{
	return px->node_name;
}

void
agent_proxy_post_event(struct agent_proxy *px, struct json_t *ev)
{
	proxy_workers_post_event(px->set, ev);
}

int
agent_proxy_conn_for(struct agent_proxy *px, const struct table_endpoint *ep,
                     struct mesh_conn **out)
{
	struct pconn *pc = pconn_for(px, ep);

	*out = NULL;
	if (pc == NULL)
		return WEFT_EIO;
	*out = pc->mc;
	return 0;
}

void
agent_proxy_kick(struct mesh_conn *c)
{
	struct pconn *pc = mesh_conn_user(c);

	if (pc == NULL || pc->closing || pc->kicked)
		return;
	pc->kicked = true;
	list_insert_tail(&pc->px->kicked, &pc->kick_link);
}

static void
on_flush_again(uv_idle_t *h)
{
	(void)h; /* only keeps the loop from blocking before the check */
}

static void
on_flusher(uv_check_t *h)
{
	struct agent_proxy *px = h->data;
	struct list batch;

	/* Bounded: connections kicked by this flush wait for the next
	 * turn, which the idle handle makes come without blocking. */
	list_init(&batch);
	while (!list_empty(&px->kicked)) {
		struct list *l = px->kicked.next;

		list_remove(l);
		list_insert_tail(&batch, l);
	}
	while (!list_empty(&batch)) {
		struct pconn *pc = list_entry(batch.next, struct pconn,
		                              kick_link);

		list_remove(&pc->kick_link);
		pc->kicked = false;
		pconn_flush(pc);
	}
	if (list_empty(&px->kicked))
		uv_idle_stop(&px->flush_again);
	else
		uv_idle_start(&px->flush_again, on_flush_again);
}

/* ---- metrics: every worker's counters, summed ---- */

struct sums {
	struct agent_proxy_stats st;
	uint64_t pconns, http_in;
	uint64_t hs_ok[2], hs_failed[2][HS_CODES];
	struct http_call_stats hs;
	uint64_t bad, overflow, conns, conns_h2, bad_h2;
	uint64_t late_head, late_body, idle; /* slow or idle app clients */
};

static void
sum_worker(const struct agent_proxy *px, struct sums *s)
{
	const struct agent_proxy_stats *st = &px->stats;
	const struct http_call_stats *hs = http_caller_stats(px->hc);

	s->st.streams_out += COUNTER_GET(st->streams_out);
	s->st.streams_in += COUNTER_GET(st->streams_in);
	s->st.refused_out += COUNTER_GET(st->refused_out);
	s->st.denied_in += COUNTER_GET(st->denied_in);
	s->st.no_endpoint += COUNTER_GET(st->no_endpoint);
	s->st.connect_fail += COUNTER_GET(st->connect_fail);
	s->st.conns_out += COUNTER_GET(st->conns_out);
	s->st.conns_in += COUNTER_GET(st->conns_in);
	s->st.active_streams += COUNTER_GET(st->active_streams);
	s->st.circuit_overflows += COUNTER_GET(st->circuit_overflows);
	s->st.bytes_up += COUNTER_GET(st->bytes_up);
	s->st.bytes_down += COUNTER_GET(st->bytes_down);
	s->pconns += COUNTER_GET(px->n_pconns);
	s->http_in += COUNTER_GET(px->http_in);
	for (int d = 0; d < 2; d++) {
		s->hs_ok[d] += COUNTER_GET(px->hs_ok[d]);
		for (int k = 0; k < HS_CODES; k++)
			s->hs_failed[d][k] += COUNTER_GET(px->hs_failed[d][k]);
	}
	s->hs.requests += COUNTER_GET(hs->requests);
	for (int i = 0; i < 6; i++) {
		s->hs.responses[i] += COUNTER_GET(hs->responses[i]);
		s->hs.errors[i] += COUNTER_GET(hs->errors[i]);
	}
	s->hs.retries += COUNTER_GET(hs->retries);
	s->hs.timeouts += COUNTER_GET(hs->timeouts);
	s->hs.aborted += COUNTER_GET(hs->aborted);
	s->hs.budget_denied += COUNTER_GET(hs->budget_denied);
	/* The front arrays are fixed once the worker is made; a stopping
	 * worker's are no longer read (the set unregisters first). */
	for (size_t i = 0; i < px->n_fronts; i++) {
		const struct http_front_stats *f = http_front_stats(px->fronts[i]);

		s->bad += COUNTER_GET(f->bad_requests);
		s->overflow += COUNTER_GET(f->circuit_overflows);
		s->conns += COUNTER_GET(f->connections);
		s->late_head += COUNTER_GET(f->head_timeouts);
		s->late_body += COUNTER_GET(f->body_timeouts);
		s->idle += COUNTER_GET(f->idle_closed);
	}
	for (size_t i = 0; i < px->n_fronts_h2; i++) {
		const struct http_front_h2_stats *f =
		    http_front_h2_stats(px->fronts_h2[i]);

		s->conns_h2 += COUNTER_GET(f->connections);
		s->bad_h2 += COUNTER_GET(f->bad);
		s->overflow += COUNTER_GET(f->circuit_overflows);
		s->late_head += COUNTER_GET(f->head_timeouts);
		s->idle += COUNTER_GET(f->idle_closed);
	}
}

static void
counter(struct metrics_writer *w, const char *name, const char *help,
        const char *label, const char *v1, uint64_t n1, const char *v2,
        uint64_t n2)
{
	metrics_family(w, name, METRICS_COUNTER, help);
	if (label == NULL) {
		metrics_sample(w, NULL, 0, (double)n1);
		return;
	}
	metrics_sample(w, &(struct metrics_label){label, v1}, 1, (double)n1);
	metrics_sample(w, &(struct metrics_label){label, v2}, 1, (double)n2);
}

/* HTTP requests made for local apps (the caller side). */
static void
collect_http(const struct sums *s, struct metrics_writer *w)
{
	static const char *const cls[6] = {"", "1xx", "2xx", "3xx", "4xx",
	                                   "5xx"};
	const struct http_call_stats *hs = &s->hs;

	counter(w, "weft_http_app_connections_total", "App connections "
	        "accepted on HTTP upstream ports, by protocol.", "protocol",
	        "http1", s->conns, "h2c", s->conns_h2);
	counter(w, "weft_http_h2_errors_total", "h2c app connections ended "
	        "for an HTTP/2 protocol error.", NULL, NULL, s->bad_h2, NULL, 0);
	counter(w, "weft_http_requests_total", "HTTP requests from local apps "
	        "(out) and from peers (in).", "direction", "out", hs->requests,
	        "in", s->http_in);
	metrics_family(w, "weft_http_responses_total", METRICS_COUNTER,
	               "Response heads from remote apps handed to local apps, "
	               "by class.");
	for (int i = 1; i <= 5; i++)
		metrics_sample(w, &(struct metrics_label){"class", cls[i]}, 1,
		               (double)hs->responses[i]);
	metrics_family(w, "weft_http_generated_total", METRICS_COUNTER,
	               "Answers weft made itself (no route, no endpoint, "
	               "denied, timeout, unreachable), by class.");
	for (int i = 1; i <= 5; i++)
		metrics_sample(w, &(struct metrics_label){"class", cls[i]}, 1,
		               (double)hs->errors[i]);
	counter(w, "weft_http_retries_total", "HTTP tries after the first.",
	        NULL, NULL, hs->retries, NULL, 0);
	counter(w, "weft_http_retry_budget_denied_total", "Retries the retry "
	        "budget refused.", NULL, NULL, hs->budget_denied, NULL, 0);
	counter(w, "weft_http_timeouts_total", "HTTP request, per-try and "
	        "idle timeouts that fired.", NULL, NULL, hs->timeouts, NULL, 0);
	counter(w, "weft_http_aborted_total", "HTTP responses cut after their "
	        "head (reset or timeout).", NULL, NULL, hs->aborted, NULL, 0);
	counter(w, "weft_http_bad_requests_total", "HTTP requests the front "
	        "end refused as malformed.", NULL, NULL, s->bad, NULL, 0);
	counter(w, "weft_http_circuit_overflows_total", "Requests answered 503 "
	        "for a circuit limit.", NULL, NULL, s->overflow, NULL, 0);
	metrics_family(w, "weft_http_client_timeouts_total", METRICS_COUNTER,
	               "App connections on HTTP upstream ports cut for "
	               "slowness or idleness: a request head (or h2c preface "
	               "or header block) past head_timeout, a body past "
	               "body_timeout, no request past client_idle_timeout.");
	metrics_sample(w, &(struct metrics_label){"kind", "head"}, 1,
	               (double)s->late_head);
	metrics_sample(w, &(struct metrics_label){"kind", "body"}, 1,
	               (double)s->late_body);
	metrics_sample(w, &(struct metrics_label){"kind", "idle"}, 1,
	               (double)s->idle);
}

/* Handshakes by direction, and failures by what ended them. */
static void
collect_handshakes(const struct sums *s, struct metrics_writer *w)
{
	static const char *const dirs[2] = {"out", "in"};
	struct metrics_label l[2];

	counter(w, "weft_proxy_handshakes_total", "Mesh handshakes finished, "
	        "by direction.", "direction", "out", s->hs_ok[0], "in",
	        s->hs_ok[1]);
	metrics_family(w, "weft_proxy_handshake_failures_total",
	               METRICS_COUNTER, "Mesh connections that ended before "
	               "their handshake finished, by direction and reason.");
	for (int d = 0; d < 2; d++)
		for (int k = 0; k < HS_CODES; k++) {
			if (s->hs_failed[d][k] == 0)
				continue;
			l[0] = (struct metrics_label){"direction", dirs[d]};
			l[1] = (struct metrics_label){"reason",
			    k == 0 ? "other" : weft_strerror(-k)};
			metrics_sample(w, l, 2, (double)s->hs_failed[d][k]);
		}
}

/* Streams each worker carried: how evenly SO_REUSEPORT and the app's
 * connections spread the load. */
static void
collect_workers(struct agent_proxy *const *wk, size_t n,
                struct metrics_writer *w)
{
	metrics_family(w, "weft_proxy_worker_streams_total", METRICS_COUNTER,
	               "Mesh streams opened by each data-plane worker, both "
	               "directions.");
	for (size_t i = 0; i < n; i++) {
		char idx[16];

		if (wk[i] == NULL)
			continue;
		snprintf(idx, sizeof(idx), "%u", wk[i]->index);
		metrics_sample(w, &(struct metrics_label){"worker", idx}, 1,
		               (double)(COUNTER_GET(wk[i]->stats.streams_out) +
		                        COUNTER_GET(wk[i]->stats.streams_in)));
	}
}

void
agent_proxy_workers_collect(struct agent_proxy *const *wk, size_t n,
                            struct metrics_writer *w)
{
	struct sums s;
	const struct agent_proxy_stats *st = &s.st;

	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < n; i++)
		if (wk[i] != NULL)
			sum_worker(wk[i], &s);
	counter(w, "weft_proxy_streams_total", "Mesh streams opened, by "
	        "direction (out: for local apps, in: to local services).",
	        "direction", "out", st->streams_out, "in", st->streams_in);
	counter(w, "weft_proxy_connections_total", "Mesh connections made "
	        "(out) and accepted (in).", "direction", "out", st->conns_out,
	        "in", st->conns_in);
	counter(w, "weft_proxy_bytes_total", "Bytes carried for local apps: "
	        "up (app to mesh) and down.", "direction", "up", st->bytes_up,
	        "down", st->bytes_down);
	counter(w, "weft_proxy_refused_total", "Outbound streams the remote "
	        "agent refused.", NULL, NULL, st->refused_out, NULL, 0);
	counter(w, "weft_proxy_denied_total", "Inbound streams refused by "
	        "authorization.", NULL, NULL, st->denied_in, NULL, 0);
	counter(w, "weft_proxy_no_endpoint_total", "App connections closed for "
	        "want of a usable endpoint.", NULL, NULL, st->no_endpoint, NULL,
	        0);
	counter(w, "weft_proxy_connect_failures_total", "Failed connections to "
	        "peer agents' mesh listeners.", NULL, NULL, st->connect_fail,
	        NULL, 0);
	counter(w, "weft_proxy_circuit_overflows_total", "App connections to "
	        "TCP upstream ports closed at once for max_connections.", NULL,
	        NULL, st->circuit_overflows, NULL, 0);
	metrics_family(w, "weft_proxy_active_streams", METRICS_GAUGE,
	               "Mesh streams open now.");
	metrics_sample(w, NULL, 0, (double)st->active_streams);
	metrics_family(w, "weft_proxy_mesh_connections", METRICS_GAUGE,
	               "Mesh connections open now.");
	metrics_sample(w, NULL, 0, (double)s.pconns);
	metrics_family(w, "weft_proxy_workers", METRICS_GAUGE,
	               "Data-plane worker threads (proxy_workers).");
	metrics_sample(w, NULL, 0, (double)n);
	collect_workers(wk, n, w);
	collect_handshakes(&s, w);
	collect_http(&s, w);
}

static void
on_balance_event(void *arg, enum balance_event ev,
                 const struct table_endpoint *ep, int64_t now_ms,
                 int64_t until_ms)
{
	struct agent_proxy *px = arg;

	if (ev == BALANCE_EV_EJECTED) {
		char why[64];

		weft_logf(px->log, WEFT_LOG_WARN, "msg=\"endpoint ejected\" "
		          "service=%s node=%s for_ms=%lld worker=%u", ep->service,
		          ep->node, (long long)(until_ms - now_ms), px->index);
		snprintf(why, sizeof(why), "out for %lld ms",
		         (long long)(until_ms - now_ms));
		proxy_metrics_ejected(px->pm, ep->service);
		agent_proxy_event(px, "ejected", ep->service, ep->node, why);
		/* Every worker must not pay consecutive_errors failures of
		 * its own before it stops sending there. */
		proxy_workers_share_ejection(px->set, px->index, ep->service,
		                             ep->key_id, ep->port,
		                             until_ms - now_ms);
	} else {
		weft_logf(px->log, WEFT_LOG_INFO, "msg=\"endpoint returned\" "
		          "service=%s node=%s worker=%u", ep->service, ep->node,
		          px->index);
		agent_proxy_event(px, "returned", ep->service, ep->node, NULL);
	}
}

void
agent_proxy_worker_eject(struct agent_proxy *px, const char *service,
                         const uint8_t *key_id, uint16_t port, int64_t for_ms)
{
	const struct table_endpoint *eps;
	size_t n;

	if (px->stopping || px->table == NULL)
		return;
	table_endpoints(px->table, service, &eps, &n);
	for (size_t i = 0; i < n; i++)
		if (eps[i].port == port &&
		    memcmp(eps[i].key_id, key_id, KEY_ID_LEN) == 0) {
			(void)balance_eject(px->bal, &eps[i], n, mono(px),
			                    for_ms);
			return;
		}
}

/* ---- a worker's life ---- */

static void
point_session_at_identity(struct agent_proxy *px)
{
	/* The mesh node reads the session config through this struct. */
	px->sc.self = &px->id.key;
	px->sc.cert = px->id.cert.encoded;
	px->sc.cert_len = px->id.cert.encoded_len;
	px->sc.bundle = &px->id.bundle;
	px->sc.skew_s = px->cert_skew_s;
}

static int
open_listeners(struct agent_proxy *px, const struct agent *a)
{
	struct sockaddr_storage ss;
	int rc;

	rc = agent_addr_to_sockaddr(&a->mesh_addr, &ss);
	if (rc == 0)
		rc = agent_proxy_listen(px, &px->mesh_listener,
		                        (const struct sockaddr *)&ss,
		                        on_mesh_accept);
	if (rc) {
		char addr[72];

		agent_addr_format(&a->mesh_addr, addr, sizeof(addr));
		weft_logf(px->log, WEFT_LOG_ERROR, "msg=\"cannot listen for the "
		          "mesh\" addr=%s error=\"%s\"", addr,
		          rc < 0 && rc > -4096 ? uv_strerror(rc) : "bad address");
		return WEFT_EIO;
	}
	for (size_t i = 0; i < a->cfg.n_upstreams; i++)
		if ((rc = listen_upstream(px, &a->cfg.upstreams[i])) != 0)
			return rc;
	for (size_t i = 0; i < a->cfg.n_services; i++)
		for (size_t j = 0; j < a->cfg.services[i].n_upstreams; j++)
			if ((rc = listen_upstream(px,
			                          &a->cfg.services[i].upstreams[j])) != 0)
				return rc;
	return 0;
}

static int
worker_setup(struct agent_proxy *px, const struct agent *a)
{
	struct mesh_config mc = {0};
	int rc;

	rc = agent_identity_copy(&a->id, &px->id);
	if (rc)
		return rc;
	px->revoked = (struct cert_revocations){worker_is_revoked, px};
	px->sc = (struct session_config){
		.revoked = &px->revoked,
		.rng = &key_system_rng,
		.bulk = true,
	};
	point_session_at_identity(px);
	mc.session = &px->sc;
	mc.self_cert = &px->id.cert;
	mc.event = on_mesh_event;
	mc.ctx = px;
	rc = mesh_node_new(&mc, &px->node);
	if (rc == 0)
		rc = balance_new(&(struct balance_config){
			.lb = a->cfg.proxy.lb,
			.outlier = {
				.consecutive_errors = a->cfg.proxy.consecutive_errors,
				.base_ms = a->cfg.proxy.base_ejection_ms,
				.max_ms = a->cfg.proxy.max_ejection_ms,
				.max_percent = a->cfg.proxy.max_ejection_percent,
			},
			.log = on_balance_event,
			.log_arg = px,
		}, &px->bal);
	if (rc == 0)
		rc = http_caller_new(px, &(struct http_caller_config){
			.retry_buffer = a->cfg.proxy.retry_buffer,
		}, &px->hc);
	if (rc == 0)
		rc = http_back_new(px, &px->back);
	if (rc == 0 && a->cfg.proxy.access_log != NULL) {
		char why[256] = "";

		/* One writer per worker, each appending whole lines. */
		rc = accesslog_open(px->loop, &(struct accesslog_opts){
			.path = a->cfg.proxy.access_log,
			.buffer = a->cfg.proxy.access_log_buffer,
		}, px->log, &px->alog, why, sizeof(why));
		if (rc)
			weft_logf(px->log, WEFT_LOG_ERROR, "msg=\"cannot open the "
			          "access log\" reason=\"%s\"", why);
	}
	return rc;
}

int
agent_proxy_worker_new(const struct proxy_worker_init *in,
                       struct agent_proxy **out)
{
	struct agent_proxy *px = calloc(1, sizeof(*px));
	struct agent *a = in->a;
	int rc;

	*out = px;
	if (px == NULL)
		return WEFT_ENOMEM;
	px->a = a;
	px->set = in->set;
	px->index = in->index;
	px->loop = in->loop;
	px->log = &a->log;
	px->pm = in->pm;
	px->cert_skew_s = a->cfg.cert_skew_s;
	snprintf(px->node_name, sizeof(px->node_name), "%s",
	         a->cfg.node_name ? a->cfg.node_name : "");
	uv_update_time(px->loop);
	px->uv_base_ms = uv_now(px->loop);
	px->wall_base_ms = agent_now_ms(a);
	list_init(&px->pconns);
	list_init(&px->uplisteners);
	list_init(&px->kicked);
	/* The handles first: a worker that fails later is stopped like a
	 * running one, and stopping closes them. */
	uv_check_init(px->loop, &px->flusher);
	uv_idle_init(px->loop, &px->flush_again);
	px->flusher.data = px;
	uv_check_start(&px->flusher, on_flusher);
	uv_tcp_init(px->loop, &px->mesh_listener);
	px->mesh_listener.data = px;
	px->table = table_ref(in->table);
	rc = worker_setup(px, a);
	if (rc == 0) {
		mesh_node_set_table(px->node, px->table);
		rc = open_listeners(px, a);
	}
	px->a = NULL; /* from here on, the config is the main thread's */
	return rc;
}

static void
free_uplisten(uv_handle_t *h)
{
	free(h->data);
}

void
agent_proxy_worker_free(struct agent_proxy *px)
{
	if (px == NULL)
		return;
	if (px->table)
		table_unref(px->table);
	mesh_node_free(px->node);
	balance_free(px->bal);
	http_caller_free(px->hc);
	http_back_free(px->back);
	agent_identity_free(&px->id);
	free(px->fronts);
	free(px->fronts_h2);
	free(px);
}

void
agent_proxy_worker_stop(struct agent_proxy *px)
{
	if (px == NULL || px->stopping)
		return;
	px->stopping = true;
	uv_close((uv_handle_t *)&px->flusher, NULL);
	uv_close((uv_handle_t *)&px->flush_again, NULL);
	uv_close((uv_handle_t *)&px->mesh_listener, NULL);
	while (!list_empty(&px->uplisteners)) {
		struct uplisten *ul = list_entry(px->uplisteners.next,
		                                 struct uplisten, link);

		list_remove(&ul->link);
		uv_close((uv_handle_t *)&ul->tcp, free_uplisten);
	}
	/* Front ends free their calls, which closes the calls' streams,
	 * while the connections still exist. */
	for (size_t i = 0; i < px->n_fronts; i++)
		http_front_close(px->fronts[i]);
	px->n_fronts = 0;
	for (size_t i = 0; i < px->n_fronts_h2; i++)
		http_front_h2_close(px->fronts_h2[i]);
	px->n_fronts_h2 = 0;
	if (px->back)
		http_back_stop_all(px->back);
	while (!list_empty(&px->pconns)) {
		struct pconn *pc = list_entry(px->pconns.next, struct pconn, link);

		mesh_conn_abort(pc->mc, WEFT_ECLOSED, "agent stopping");
		pconn_close(pc);
	}
	/* After the streams: their last lines go out with the rest. */
	if (px->alog != NULL) {
		accesslog_close(px->alog, NULL, NULL);
		px->alog = NULL;
	}
}

void
agent_proxy_worker_set_identity(struct agent_proxy *px,
                                struct agent_identity *id, int64_t skew_s)
{
	/* Streams already open keep the identity they authenticated with;
	 * new handshakes present the new certificate. */
	agent_identity_free(&px->id);
	px->id = *id;
	memset(id, 0, sizeof(*id));
	px->cert_skew_s = skew_s;
	point_session_at_identity(px);
}
