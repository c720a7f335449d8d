/*
 * The mesh hop: one connection per peer agent, carrying many streams.
 *
 * Layers: the agent's TCP socket carries a secure session (crypto/
 * session.h: Noise with certificates), which carries HTTP/2 (nghttp2 in
 * memory mode).  A TCP upstream connection is one CONNECT stream with
 * :authority "service:port"; the bytes go both ways as DATA, END_STREAM is
 * a half-close, RST_STREAM a reset.  An HTTP request is one stream too
 * (any method but CONNECT): the app's request head plus
 * `weft-service: <service>` naming the destination, the body as DATA,
 * trailers as a trailing HEADERS; the answer is the app's response, or a
 * refusal by the remote weft carrying `weft-reason`.  Wire details:
 * docs/PROTOCOL.md, "Mesh hop".
 *
 * Sans-I/O.  The agent drives a connection with
 *   mesh_conn_recv()        bytes read from the peer's socket
 *   mesh_conn_out_peek()    bytes to write to it, then mesh_conn_out_consume()
 *   mesh_conn_tick()        at mesh_conn_deadline()
 * and each stream with mesh_stream_*().  The core tells the agent what
 * happened through one event callback (struct mesh_event); commands to the
 * agent are events too ("connect stream S to 127.0.0.1:5432").
 *
 * Events are delivered at the end of the call that caused them
 * (mesh_conn_recv, mesh_conn_out_peek, mesh_conn_tick, mesh_conn_abort),
 * never from inside nghttp2.  Inside the callback the agent may call any
 * mesh_stream_*() function; it must not call mesh_conn_recv(),
 * mesh_conn_tick(), mesh_conn_abort() or mesh_conn_free().  After each
 * batch of calls (one loop turn), the agent writes while
 * mesh_conn_want_write() says so.
 *
 * Memory is bounded per stream: at most stream_window bytes wait to be
 * read (the peer may not send more: HTTP/2 flow control, re-opened only as
 * the agent consumes), and at most send_buffer bytes wait to be sent
 * (mesh_stream_write() accepts less, and MESH_EV_WRITABLE says when there
 * is room again).  Ciphertext waiting for the socket is bounded by
 * out_high_water: beyond it the core stops producing frames.  Across a
 * connection, received bytes nobody has read are bounded by twice
 * conn_buffer whatever the number of streams (the connection window,
 * conn_buffer too, is given back only as they are read once conn_buffer
 * bytes wait).  Buffers are chunks of
 * CHUNK_SIZE taken when bytes arrive and returned when they leave: an
 * idle stream holds no buffer.
 *
 * Header blocks (request, response, trailers) are bounded by
 * MESH_HEADER_BLOCK_MAX bytes (names plus values) and MESH_HEADER_FIELDS_MAX
 * fields: over that a server answers 431 and a client resets the stream.
 * The core copies a received block into one buffer per stream, so the
 * nghttp2_nv views it hands out stay valid until the stream is closed.
 *
 * Lifetimes: the agent creates connections and frees them.  A stream is
 * the agent's from mesh_stream_open() / mesh_request_open() (client) or
 * MESH_EV_CONNECT / MESH_EV_REQUEST (server) until it calls
 * mesh_stream_close(); the pointer is invalid after that.
 * mesh_conn_free() frees every stream left.
 */
#ifndef WEFT_PROXY_MESH_H
#define WEFT_PROXY_MESH_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/cert.h"
#include "crypto/session.h"
#include "proxy/table.h"

#define MESH_STREAM_WINDOW (256u * 1024)   /* inbound bytes per stream */
#define MESH_SEND_BUFFER (256u * 1024)     /* outbound bytes per stream */
#define MESH_MAX_STREAMS 2048              /* inbound, per connection */
#define MESH_OUT_HIGH_WATER (256u * 1024)  /* ciphertext waiting */
#define MESH_CONN_BUFFER (16u * 1024 * 1024) /* unread, per connection */
#define MESH_IDLE_TIMEOUT_MS (5 * 60 * 1000)
#define MESH_REASON_MAX 256
/* The header a refusal's reason travels in. */
#define MESH_REASON_HEADER "weft-reason"
/* HTTP streams: the destination service (set by the core only). */
#define MESH_SERVICE_HEADER "weft-service"
/* HTTP streams: an upgrade asked for (e.g. "websocket") and, on a 200
 * response, the app's answer to it ("101": the stream is now a tunnel).
 * The only weft-* fields callers and responders may set. */
#define MESH_UPGRADE_HEADER "weft-upgrade"
#define MESH_UPGRADED_HEADER "weft-upgraded"
/* Per header block: bytes of names and values, and fields. */
#define MESH_HEADER_BLOCK_MAX (64u * 1024)
#define MESH_HEADER_FIELDS_MAX 128

struct mesh_node;
struct mesh_conn;
struct mesh_stream;

enum mesh_event_type {
	/* The handshake finished; mesh_conn_peer() says who the peer is. */
	MESH_EV_CONN_UP = 1,
	/* The connection failed or closed: reason and err say why.  Every
	 * stream still open got MESH_EV_RESET first.  Once the output is
	 * drained (mesh_conn_done()), close the socket and free it. */
	MESH_EV_CONN_CLOSED,
	/* Client: the peer answered 2xx; the tunnel is open. */
	MESH_EV_OPENED,
	/* Client: the stream was refused: status (403, 404, 421, 502, 503,
	 * ...) and reason.  421 is given locally, without sending anything,
	 * when the peer's certificate does not list the service.  For an
	 * HTTP stream: any response carrying weft-reason, i.e. a refusal by
	 * the remote weft (431 header block too big, 400 bad request, 403,
	 * 404, 503, 502 from mesh_stream_refuse).  Close the stream. */
	MESH_EV_REFUSED,
	/* Server, a command: connect stream to host:port (the local service
	 * named service), then mesh_stream_accept() or mesh_stream_refuse().
	 * The stream is the agent's from here on. */
	MESH_EV_CONNECT,
	/* Server: a stream was refused by authorization (or a bad request);
	 * stream is NULL, nothing to do but log and count.  status and
	 * reason are what the client was told. */
	MESH_EV_DENIED,
	/* Data (or the end of it) can be read: mesh_stream_read_peek(). */
	MESH_EV_READABLE,
	/* mesh_stream_write() has room again after a short write. */
	MESH_EV_WRITABLE,
	/* The stream is dead: the peer reset it (h2_error), or the
	 * connection went away (err, reason).  Close the app side and the
	 * stream. */
	MESH_EV_RESET,
	/* Client, HTTP stream: the final response head arrived (1xx other
	 * than 101 are swallowed; a status over 599 resets the stream with
	 * PROTOCOL_ERROR); status is :status (200..599), the head is
	 * mesh_stream_head().  The body follows as MESH_EV_READABLE (eof:
	 * END_STREAM), trailers via mesh_stream_trailers() once eof. */
	MESH_EV_RESPONSE,
	/* Server, a command: an HTTP request (method other than CONNECT)
	 * for the local service named service at host:port, authorized
	 * (intentions and their L7 rules on method and path).  The head is
	 * mesh_stream_head() (pseudo-fields first, weft-service removed);
	 * the body arrives as MESH_EV_READABLE, trailers via
	 * mesh_stream_trailers() at eof.  Answer with mesh_stream_respond()
	 * or mesh_stream_refuse().  The stream is the agent's from here on. */
	MESH_EV_REQUEST,
};

struct mesh_event {
	enum mesh_event_type type;
	struct mesh_conn *conn;
	void *conn_user;
	struct mesh_stream *stream; /* NULL for connection events, DENIED */
	void *stream_user;
	const char *service; /* CONNECT, REQUEST, DENIED, REFUSED */
	const char *host;    /* CONNECT, REQUEST */
	uint16_t port;       /* CONNECT, REQUEST */
	int status;          /* REFUSED, DENIED, RESPONSE */
	uint32_t h2_error;   /* RESET: the RST_STREAM code, 0 if none */
	int err;             /* CONN_CLOSED, RESET: a WEFT_E code or 0 */
	const char *reason;  /* REFUSED, DENIED, RESET, CONN_CLOSED */
	const char *peer;    /* the peer's node name, once known */
	bool http;           /* an HTTP request, not a CONNECT stream */
};

struct mesh_config {
	/* Keys, certificate, CA bundle, revocations, rng: as for the
	 * secure session.  Must outlive the node. */
	const struct session_config *session;
	/* This node's own certificate, decoded: the services it may serve. */
	const struct cert *self_cert;
	uint32_t stream_window;   /* 0: MESH_STREAM_WINDOW */
	uint32_t send_buffer;     /* 0: MESH_SEND_BUFFER */
	uint32_t max_streams;     /* 0: MESH_MAX_STREAMS */
	uint32_t conn_buffer;     /* 0: MESH_CONN_BUFFER; at least 65535 */
	size_t out_high_water;    /* 0: MESH_OUT_HIGH_WATER */
	int64_t idle_timeout_ms;  /* 0: MESH_IDLE_TIMEOUT_MS */
	void (*event)(void *ctx, const struct mesh_event *ev);
	void *ctx;
};

/*
 * The node: configuration and the current tables, shared by every
 * connection.  The config is copied; what it points to is not.
 */
int mesh_node_new(const struct mesh_config *cfg, struct mesh_node **out);
/* Every connection must have been freed first. */
void mesh_node_free(struct mesh_node *n);
/*
 * Swaps in a new snapshot: the node takes its own reference (the caller
 * keeps its one).  Streams started earlier keep theirs.
 */
void mesh_node_set_table(struct mesh_node *n, struct table *t);
struct table *mesh_node_table(const struct mesh_node *n);

/*
 * A connection.  The initiator (client) knows the peer's Noise static key
 * from gossip (remote_static; NULL runs XX) and, with expect_key_id, the
 * node it wants: a peer with another key id fails the connection.  The
 * responder takes whoever the CA vouches for.  now_ms is monotonic, now_unix
 * wall time for certificate checks.  user is handed back in every event.
 */
int mesh_conn_new(struct mesh_node *n, bool initiator,
                  const uint8_t *remote_static, const uint8_t *expect_key_id,
                  int64_t now_ms, int64_t now_unix, void *user,
                  struct mesh_conn **out);
/* Frees c and every stream left on it, their buffered bytes included:
 * the agent stops its writes from read views first.  No event fires. */
void mesh_conn_free(struct mesh_conn *c);

/*
 * Feeds bytes read from the socket.  Returns 0, or the error that closed
 * the connection (as session_recv(), WEFT_EAUTH for an unexpected peer,
 * WEFT_EMALFORMED for an HTTP/2 protocol error, WEFT_ECLOSED once closed);
 * mesh_conn_reason() says why.
 */
int mesh_conn_recv(struct mesh_conn *c, int64_t now_ms, const uint8_t *data,
                   size_t len);
/* The socket reached EOF or failed: closes the connection, resets streams. */
void mesh_conn_abort(struct mesh_conn *c, int err, const char *reason);

/*
 * Produces frames and shows the bytes to write (len 0: nothing now).  The
 * view is valid until the next call on this connection; write, then
 * mesh_conn_out_consume() what was written.
 */
void mesh_conn_out_peek(struct mesh_conn *c, const uint8_t **p, size_t *len);
void mesh_conn_out_consume(struct mesh_conn *c, size_t n);
/* Whether out_peek would have anything to write. */
bool mesh_conn_want_write(const struct mesh_conn *c);

/* When mesh_conn_tick() must next be called (INT64_MAX: no deadline). */
int64_t mesh_conn_deadline(const struct mesh_conn *c);
/* Handshake timeout, idle close. */
int mesh_conn_tick(struct mesh_conn *c, int64_t now_ms);

/* Stops new streams (GOAWAY); the connection closes once they end. */
void mesh_conn_shutdown(struct mesh_conn *c);

enum mesh_conn_state {
	MESH_CONN_HANDSHAKE = 1,
	MESH_CONN_OPEN,
	MESH_CONN_DRAINING, /* GOAWAY sent or received: no new streams */
	MESH_CONN_CLOSED,
};

enum mesh_conn_state mesh_conn_state(const struct mesh_conn *c);
/* Closed and nothing left to write: close the socket, free the conn.
 * Streams that ended cleanly stay readable until the agent frees it. */
bool mesh_conn_done(const struct mesh_conn *c);
/* Whether a new stream may be opened here (open or handshaking, under the
 * peer's stream limit); if not, use another connection. */
bool mesh_conn_can_open(const struct mesh_conn *c);
/* Streams the agent holds or the peer still uses. */
size_t mesh_conn_streams(const struct mesh_conn *c);
const struct session_peer *mesh_conn_peer(const struct mesh_conn *c);
const char *mesh_conn_reason(const struct mesh_conn *c);
void *mesh_conn_user(const struct mesh_conn *c);

/*
 * Client: opens a CONNECT stream to service (port: the service's port as
 * gossip announced it) on c.  May be called during the handshake; the
 * request leaves once the peer is known to serve service.  Data written
 * before MESH_EV_OPENED is sent at once (the peer buffers it until its
 * local connection is up).  WEFT_ESTATE when c cannot open streams,
 * WEFT_EINVAL for a bad service name.
 */
int mesh_stream_open(struct mesh_conn *c, const char *service, uint16_t port,
                     void *user, struct mesh_stream **out);

/*
 * Client: opens an HTTP request stream to service on c.  nv is the
 * request head: :method (not CONNECT), :scheme, :authority (the app's
 * Host), :path, then fields with lowercase names (h1h2_request_nv()).
 * The core drops any weft-* field of the caller's other than
 * weft-upgrade and adds weft-service: service itself; nv is copied, so
 * it may go once this returns.  end_stream: no body (nothing may be
 * written).  Otherwise the body goes with mesh_stream_write() and ends
 * with mesh_stream_shutdown_write() or mesh_stream_end_trailers().  May
 * be called during the handshake, like mesh_stream_open().  Then
 * MESH_EV_RESPONSE, MESH_EV_REFUSED or MESH_EV_RESET.  WEFT_EINVAL for a
 * bad service name or head (a pseudo-field missing, repeated, unknown or
 * after a field; CONNECT; an uppercase or connection-specific field; TE
 * other than "trailers"; CR, LF or NUL in a value), WEFT_ETOOBIG over
 * the limits (weft-service included), WEFT_ESTATE when c cannot open
 * streams, WEFT_EPOLICY when the peer's certificate does not list
 * service.
 */
int mesh_request_open(struct mesh_conn *c, const char *service,
                      const nghttp2_nv *nv, size_t n, bool end_stream,
                      void *user, struct mesh_stream **out);

/*
 * The received head: the request (server, from MESH_EV_REQUEST) or the
 * final response (client, from MESH_EV_RESPONSE).  Pseudo-fields first,
 * names and values NUL-terminated (lengths in nv too).  A request's head
 * has no weft-* field but weft-upgrade.  Valid until the stream is
 * closed; WEFT_ESTATE before it arrived (and on CONNECT streams).
 */
int mesh_stream_head(const struct mesh_stream *s, const nghttp2_nv **nv,
                     size_t *n);
/* The received trailers (*n 0 when none); read them once eof is seen. */
int mesh_stream_trailers(const struct mesh_stream *s, const nghttp2_nv **nv,
                         size_t *n);

/*
 * Server, after MESH_EV_REQUEST, once: the response head, :status first
 * (200..599; 1xx and 101 are not: an upgrade answers 200 with
 * weft-upgraded), then fields with lowercase names.  WEFT_EINVAL for a
 * connection-specific field (TE included), a weft-* field other than
 * weft-upgraded, a bad name or value; WEFT_ETOOBIG over the limits;
 * WEFT_ESTATE once answered or refused.  nv is copied.  end_stream: no
 * body.  Otherwise the body goes with
 * mesh_stream_write() and ends with mesh_stream_shutdown_write() or
 * mesh_stream_end_trailers().
 */
int mesh_stream_respond(struct mesh_stream *s, const nghttp2_nv *nv,
                        size_t n, bool end_stream);
/*
 * Ends the body after the queued bytes with a trailer block (gRPC's
 * grpc-status); n 0 is a plain END_STREAM (mesh_stream_shutdown_write()).
 * Fields as for mesh_stream_respond() (no pseudo-fields, no weft-*); nv
 * is copied.  WEFT_EINVAL on a CONNECT stream, WEFT_ESTATE on a server
 * stream not yet answered, WEFT_ECLOSED once the body has ended.
 */
int mesh_stream_end_trailers(struct mesh_stream *s, const nghttp2_nv *nv,
                             size_t n);

/* Server, after MESH_EV_CONNECT: the local connection is up (200). */
int mesh_stream_accept(struct mesh_stream *s);
/* Server, after MESH_EV_CONNECT, or after MESH_EV_REQUEST before
 * mesh_stream_respond(): the local connection failed; status (e.g. 502)
 * and a one-line reason go to the client (in weft-reason). */
int mesh_stream_refuse(struct mesh_stream *s, int status, const char *reason);

/*
 * Queues up to len bytes for the peer; *accepted says how many were taken
 * (fewer when the send buffer is full: wait for MESH_EV_WRITABLE).
 * WEFT_ECLOSED after a reset or shutdown_write (or an HTTP request opened
 * with end_stream); WEFT_ESTATE on a server HTTP stream before
 * mesh_stream_respond().
 */
int mesh_stream_write(struct mesh_stream *s, const void *data, size_t len,
                      size_t *accepted);
/* Room in the send buffer now. */
size_t mesh_stream_write_room(const struct mesh_stream *s);
/*
 * Writes without a copy: room to put up to mesh_stream_write_room()
 * bytes in place (*len may be less: the end of a chunk), then
 * mesh_stream_write_commit() of what was put there, e.g. a libuv alloc
 * callback hands out *p and the read callback that follows commits what
 * the read returned.  Nothing else may be called on the stream between
 * the two.  *len 0 when the stream takes no more now: as after a short
 * mesh_stream_write(), MESH_EV_WRITABLE says when it has room again.
 * Errors as mesh_stream_write(), WEFT_ENOMEM when memory ran out.
 */
int mesh_stream_write_reserve(struct mesh_stream *s, uint8_t **p,
                              size_t *len);
/* The first n reserved bytes are data (as mesh_stream_write() of them);
 * 0 gives the room back. */
void mesh_stream_write_commit(struct mesh_stream *s, size_t n);
/* Half-close: END_STREAM after the queued bytes. */
int mesh_stream_shutdown_write(struct mesh_stream *s);

/*
 * The next run of received bytes.  The bytes stay in place until
 * consumed or until the stream is closed, whatever else happens on the
 * connection (a reset included), so the agent may write straight from
 * them; it closes the stream only once no write from them is pending
 * (closing the app socket is enough).  After a reset nothing more is
 * shown.  *eof is true when the peer half-closed and every byte has been
 * consumed.
 */
void mesh_stream_read_peek(const struct mesh_stream *s, const uint8_t **p,
                           size_t *len, bool *eof);
/* Marks n bytes read; re-opens that much flow-control window. */
void mesh_stream_read_consume(struct mesh_stream *s, size_t n);
/* Bytes received and not yet consumed. */
size_t mesh_stream_read_pending(const struct mesh_stream *s);

/* Resets the stream now (the app's side failed): RST_STREAM
 * CONNECT_ERROR for a CONNECT stream; for an HTTP stream CANCEL from the
 * client, INTERNAL_ERROR from the server.  Buffered bytes dropped.  Close
 * it afterwards. */
int mesh_stream_reset(struct mesh_stream *s);
/*
 * The agent is done with s.  A stream that has ended both ways (EOF read,
 * write shut down) finishes sending what it queued; any other is reset.
 * Except a server HTTP stream whose response has ended but whose request
 * has not (an early answer, a 413 say): the response is sent whole, then
 * the client is asked to stop sending (RST_STREAM NO_ERROR); the client
 * keeps the response, sees eof, and its writes get WEFT_ECLOSED, no
 * MESH_EV_RESET.  s is invalid afterwards.
 */
void mesh_stream_close(struct mesh_stream *s);

void mesh_stream_set_user(struct mesh_stream *s, void *user);
void *mesh_stream_user(const struct mesh_stream *s);
struct mesh_conn *mesh_stream_conn(const struct mesh_stream *s);
const char *mesh_stream_service(const struct mesh_stream *s);
/* The snapshot the stream started with. */
const struct table *mesh_stream_table(const struct mesh_stream *s);
/* The HTTP/2 stream id (0 until sent). */
int32_t mesh_stream_id(const struct mesh_stream *s);

#endif
