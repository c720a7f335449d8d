/*
 * The mesh hop: HTTP/2 CONNECT and HTTP request streams over the secure
 * session.
 *
 * nghttp2 runs in memory mode: received plaintext goes in with
 * nghttp2_session_mem_recv(); frames come out of nghttp2_session_send()
 * through send callbacks into a staging buffer, gathered there until one
 * secure message is full, and are encrypted by session_write().  DATA
 * frames are NO_COPY: their bytes go from the stream's chunks straight
 * into the stage (one copy, not two through nghttp2's frame buffer).  nghttp2's callbacks only record
 * what happened (flags on the stream, queued on the connection); the agent
 * hears about it from dispatch() once nghttp2 has returned, so whatever the
 * agent does in its event callback never re-enters nghttp2.
 *
 * Flow control is manual (no automatic WINDOW_UPDATE): a stream's window
 * re-opens only as the agent consumes what it has read, which is what
 * bounds the bytes buffered per stream.  The connection window is given
 * back at once while the connection's buffered total is under
 * conn_buffer, so one slow reader does not stall the other streams,
 * and only as the agent reads beyond that, so the total stays bounded too.
 *
 * Header blocks: HTTP/2 sends one block at a time per connection
 * (CONTINUATION frames cannot interleave), so fields are gathered in one
 * scratch area per connection and, once the block is complete and
 * wanted, copied into one allocation for the stream (struct hblock).
 */
#include "proxy/mesh.h"

#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hex.h"
#include "common/list.h"
#include "common/log.h"
#include "common/str.h"
#include "proxy/authz.h"
#include "proxy/chunkq.h"
#include "proxy/h2mem.h"

/* Chunks a connection keeps for reuse. */
#define MESH_POOL_CHUNKS 64
/* Recycled blocks kept per connection (see struct h2mem). */
#define MESH_MEM_CACHE (128u * 1024)

struct mesh_node {
	struct mesh_config cfg;
	struct table *table;
	size_t n_conns;
};

enum stream_state {
	ST_PENDING = 1, /* client: waits for the handshake */
	ST_REQUESTED,   /* client: CONNECT sent, no answer yet */
	ST_OPEN,        /* tunnel up (client: 2xx; server: accepted) */
	ST_CONNECTING,  /* server: the agent is connecting locally */
	ST_DENIED,      /* server: refused by the core; not the agent's */
	ST_REFUSED,     /* client: non-2xx; server: refused by the agent */
	ST_RESET,
};

enum {
	EV_OPENED = 1u << 0,
	EV_REFUSED = 1u << 1,
	EV_CONNECT = 1u << 2,
	EV_DENIED = 1u << 3,
	EV_READABLE = 1u << 4,
	EV_WRITABLE = 1u << 5,
	EV_RESET = 1u << 6,
	EV_REQUEST = 1u << 7,
	EV_RESPONSE = 1u << 8,
};

/* A header block kept by the core: the nv array, then the names and
 * values it points to, each NUL-terminated; one allocation. */
struct hblock {
	size_t n;
	nghttp2_nv nv[];
};

/* A field of the block being received, as offsets into the scratch. */
struct hfield {
	uint32_t name, namelen, value, valuelen;
	uint8_t flags;
};

struct mesh_stream {
	struct mesh_conn *c;
	struct list link;    /* c->streams */
	struct list ev_link; /* c->ev_queue while queued */
	bool queued;
	unsigned ev;
	unsigned hold; /* dispatch is using it */
	int32_t id;
	bool client;
	bool agent; /* the agent holds it */
	bool h2;    /* nghttp2 still has the stream */
	enum stream_state st;
	bool eof_in;        /* END_STREAM received */
	bool shut;          /* the agent shut down writing */
	bool end_sent;      /* END_STREAM handed to nghttp2 */
	bool deferred;      /* the data source said "nothing yet" */
	bool want_writable; /* a write was short */
	bool providing;     /* a data source is attached */
	bool rst_sent;
	bool finished; /* both ways ended cleanly on the wire */
	bool in_gone;  /* unread bytes dropped (chunks kept, see below) */
	struct chunkq in, out;
	struct table *table;
	void *user;
	uint16_t port;
	int status;
	uint32_t h2_error;
	int err;
	bool bad_header;
	bool bad_authority; /* matters for CONNECT only: HTTP's is the app's */
	bool http;       /* an HTTP request stream, not CONNECT */
	bool final;      /* client: the final response head arrived */
	bool has_reason; /* client: the response carried weft-reason */
	bool end_out;    /* server: END_STREAM went out on the wire */
	bool rst_after_end; /* server: RST_STREAM NO_ERROR once it has */
	unsigned n_svc;  /* server: weft-service fields seen */
	bool svc_bad;
	struct hblock *head;     /* received request or final response */
	struct hblock *trailers; /* received trailers */
	struct hblock *req;      /* client: request waiting for the handshake */
	struct hblock *trl_out;  /* trailers to send after the body */
	size_t req_n;            /* client: fields in c->nv_out */
	char method[16];
	char authority[CERT_NAME_MAX + 8];
	char service[CERT_NAME_MAX + 1];
	char host[TABLE_HOST_MAX + 1];
	char reason[MESH_REASON_MAX];
};

struct mesh_conn {
	struct mesh_node *n;
	void *user;
	bool initiator;
	struct session *sess;
	nghttp2_session *h2;
	enum mesh_conn_state state;
	bool expect;
	uint8_t expect_id[KEY_ID_LEN];
	struct list streams;
	struct list ev_queue;
	size_t n_streams;
	size_t n_client; /* client streams the peer counts against its limit */
	struct chunk_pool pool;
	/* nghttp2's allocations, the stream records and received header
	 * blocks: recycled, so a warm connection allocates nothing per
	 * stream. */
	struct h2mem mem;
	size_t in_buffered; /* bytes read by no agent yet, all streams */
	size_t conn_debt;   /* connection window not yet given back */
	/* Frames gathered into one secure message, written straight into
	 * the session's output (session_write_reserve) and sealed there in
	 * place; NULL between pumps. */
	uint8_t *stage;
	size_t stage_len;
	int stage_err;      /* session_write failed inside a send callback */
	bool hw_deferred;   /* a data source waits for out_high_water */
	bool ev_up, ev_closed, dispatching, freeing, goaway_in;
	int32_t goaway_last; /* -1, or the last stream our GOAWAY keeps */
	int err;
	int64_t now;
	int64_t idle_since; /* -1: streams are open */
	char h2_msg[160];   /* nghttp2's last complaint */
	char reason[MESH_REASON_MAX];
	/* The header block being received (see the top of the file). */
	struct hfield *hs_field;
	uint8_t *hs_buf;
	size_t hs_n, hs_used, hs_cap;
	bool hs_over; /* over MESH_HEADER_* (or out of memory) */
	/* Outgoing request head, before nghttp2 copies it. */
	nghttp2_nv *nv_out;
};

/* ---- helpers ---- */

static void
copy_clean(char *dst, size_t cap, const char *src, size_t len)
{
	size_t j = 0;

	/* Reasons travel as header values and end up in logs: visible
	 * ASCII and spaces only. */
	for (size_t i = 0; i < len && src[i] != '\0' && j + 1 < cap; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[j++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	dst[j] = '\0';
}

static void set_reason(char *dst, const char *fmt, ...) WEFT_PRINTF(2, 3);

static void
set_reason(char *dst, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, MESH_REASON_MAX, fmt, ap);
	va_end(ap);
}

static const char *
peer_name(const struct mesh_conn *c)
{
	const struct session_peer *p = session_peer(c->sess);

	return p != NULL ? p->name : NULL;
}

static void
mark(struct mesh_stream *s, unsigned ev)
{
	s->ev |= ev;
	if (!s->queued) {
		list_insert_tail(&s->c->ev_queue, &s->ev_link);
		s->queued = true;
	}
}

/* Gives back connection window owed for bytes no longer buffered. */
static void
in_released(struct mesh_conn *c, size_t n)
{
	size_t pay;

	c->in_buffered -= n;
	if (c->conn_debt == 0 || c->h2 == NULL || c->freeing ||
	    c->state == MESH_CONN_CLOSED)
		return;
	pay = c->conn_debt < n ? c->conn_debt : n;
	c->conn_debt -= pay;
	nghttp2_session_consume_connection(c->h2, pay);
}

/* The stream's unread bytes stop counting against the connection. */
static void
stream_uncount_in(struct mesh_stream *s)
{
	if (!s->in_gone && s->in.len > 0)
		in_released(s->c, s->in.len);
	s->in_gone = true;
}

static void
stream_drop_in(struct mesh_stream *s)
{
	stream_uncount_in(s);
	chunkq_clear(&s->in, &s->c->pool);
}

/*
 * A dead stream's unread bytes are dropped, but while the agent holds the
 * stream their chunks stay where they are: the agent may be writing from
 * a view it took (mesh_stream_read_peek()).  They go with the stream.
 */
static void
stream_forget_in(struct mesh_stream *s)
{
	if (s->agent)
		stream_uncount_in(s);
	else
		stream_drop_in(s);
}

static void
stream_free(struct mesh_stream *s)
{
	struct mesh_conn *c = s->c;

	stream_drop_in(s);
	chunkq_clear(&s->out, &c->pool);
	if (s->queued)
		list_remove(&s->ev_link);
	list_remove(&s->link);
	table_unref(s->table);
	h2mem_release(&c->mem, s->head);
	h2mem_release(&c->mem, s->trailers);
	h2mem_release(&c->mem, s->req);
	h2mem_release(&c->mem, s->trl_out);
	if (s->client && c->n_client > 0)
		c->n_client--;
	if (--c->n_streams == 0)
		c->idle_since = c->now;
	h2mem_release(&c->mem, s);
}

static void
maybe_free(struct mesh_stream *s)
{
	if (!s->agent && !s->h2 && s->hold == 0)
		stream_free(s);
}

static struct mesh_stream *
stream_new(struct mesh_conn *c, bool client)
{
	struct mesh_stream *s = h2mem_calloc(&c->mem, 1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->c = c;
	s->client = client;
	chunkq_init(&s->in);
	chunkq_init(&s->out);
	list_init(&s->ev_link);
	list_insert_tail(&c->streams, &s->link);
	s->table = table_ref(c->n->table);
	c->n_streams++;
	c->idle_since = -1;
	return s;
}

/* The stream is dead for the agent: say so once. */
static void
stream_dead(struct mesh_stream *s, uint32_t h2_error, int err,
            const char *reason)
{
	if (s->st == ST_RESET)
		return;
	s->st = ST_RESET;
	s->h2_error = h2_error;
	s->err = err;
	copy_clean(s->reason, sizeof(s->reason), reason, MESH_REASON_MAX);
	chunkq_clear(&s->out, &s->c->pool);
	stream_forget_in(s);
	if (s->agent)
		mark(s, EV_RESET);
}

static void conn_fail(struct mesh_conn *c, int err, const char *fmt, ...)
    WEFT_PRINTF(3, 4);

static void
conn_fail(struct mesh_conn *c, int err, const char *fmt, ...)
{
	struct list *pos, *tmp;
	va_list ap;

	char why[MESH_REASON_MAX];

	if (c->state == MESH_CONN_CLOSED)
		return;
	c->state = MESH_CONN_CLOSED;
	c->err = err;
	/* fmt's arguments may point at c->reason itself. */
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	memcpy(c->reason, why, sizeof(why));
	/* HTTP/2 is over: nghttp2 is never called again for this
	 * connection, so no stream waits for it any more. */
	list_foreach_safe(pos, tmp, &c->streams) {
		struct mesh_stream *s = list_entry(pos, struct mesh_stream, link);

		s->h2 = false;
		/* A stream that ended cleanly keeps what it has to read. */
		if (s->st != ST_REFUSED && !s->finished)
			stream_dead(s, 0, err != 0 ? err : WEFT_ECLOSED, c->reason);
		if (!s->agent && !s->queued)
			maybe_free(s);
	}
	c->conn_debt = 0;
	c->ev_closed = true;
}

/* ---- events to the agent ---- */

static void
fire(struct mesh_conn *c, struct mesh_event *ev)
{
	ev->conn = c;
	ev->conn_user = c->user;
	ev->peer = peer_name(c);
	if (c->n->cfg.event != NULL)
		c->n->cfg.event(c->n->cfg.ctx, ev);
}

static void
fire_stream(struct mesh_stream *s, enum mesh_event_type type)
{
	struct mesh_event ev = {
		.type = type,
		.stream = type == MESH_EV_DENIED ? NULL : s,
		.stream_user = type == MESH_EV_DENIED ? NULL : s->user,
		.service = s->service,
		.host = s->host,
		.port = s->port,
		.status = s->status,
		.h2_error = s->h2_error,
		.err = s->err,
		.reason = s->reason,
		.http = s->http || (s->method[0] != '\0' &&
		                    strcmp(s->method, "CONNECT") != 0),
	};

	fire(s->c, &ev);
}

static void
dispatch(struct mesh_conn *c)
{
	if (c->dispatching)
		return;
	c->dispatching = true;
	if (c->ev_up) {
		struct mesh_event ev = {.type = MESH_EV_CONN_UP};

		c->ev_up = false;
		fire(c, &ev);
	}
	while (!list_empty(&c->ev_queue)) {
		struct mesh_stream *s = list_entry(c->ev_queue.next,
		    struct mesh_stream, ev_link);
		unsigned ev = s->ev;

		list_remove(&s->ev_link);
		s->queued = false;
		s->ev = 0;
		s->hold++;
		/* Each event is checked again after the one before: the
		 * agent may have closed or reset the stream meanwhile. */
		if (ev & EV_DENIED)
			fire_stream(s, MESH_EV_DENIED);
		if ((ev & EV_CONNECT) && s->agent && s->st == ST_CONNECTING)
			fire_stream(s, MESH_EV_CONNECT);
		if ((ev & EV_REQUEST) && s->agent && s->st == ST_CONNECTING)
			fire_stream(s, MESH_EV_REQUEST);
		if ((ev & EV_OPENED) && s->agent && s->st == ST_OPEN)
			fire_stream(s, MESH_EV_OPENED);
		if ((ev & EV_RESPONSE) && s->agent && s->st == ST_OPEN)
			fire_stream(s, MESH_EV_RESPONSE);
		if ((ev & EV_REFUSED) && s->agent && s->st == ST_REFUSED)
			fire_stream(s, MESH_EV_REFUSED);
		if ((ev & EV_READABLE) && s->agent && s->st != ST_RESET &&
		    s->st != ST_REFUSED)
			fire_stream(s, MESH_EV_READABLE);
		if ((ev & EV_WRITABLE) && s->agent && s->st != ST_RESET &&
		    !s->shut)
			fire_stream(s, MESH_EV_WRITABLE);
		if ((ev & EV_RESET) && s->agent && s->st == ST_RESET)
			fire_stream(s, MESH_EV_RESET);
		s->hold--;
		maybe_free(s);
	}
	if (c->ev_closed) {
		struct mesh_event ev = {
			.type = MESH_EV_CONN_CLOSED,
			.err = c->err,
			.reason = c->reason,
		};

		c->ev_closed = false;
		fire(c, &ev);
	}
	c->dispatching = false;
}

/* ---- nghttp2 glue ---- */
static struct mesh_stream *
stream_of(nghttp2_session *h2, int32_t id)
{
	return nghttp2_session_get_stream_user_data(h2, id);
}

/* Ciphertext that may still be produced before out_high_water. */
static size_t
out_room(const struct mesh_conn *c)
{
	const uint8_t *p;
	size_t len;

	session_out_peek(c->sess, &p, &len);
	len += c->stage_len;
	return len >= c->n->cfg.out_high_water ? 0 :
	    c->n->cfg.out_high_water - len;
}

static ssize_t
data_read(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length,
          uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct mesh_stream *s = src->ptr;
	struct mesh_conn *c = ud;
	size_t n, room = out_room(c);

	(void)buf;
	if (s->st == ST_RESET) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		return 0;
	}
	/* send_data() copies the bytes, at once (it never says WOULDBLOCK,
	 * so the stream cannot go away with a frame half sent); what bounds
	 * the ciphertext is this: no more than out_high_water allows. */
	n = s->out.len < length ? s->out.len : length;
	if (n > room) {
		n = room;
		if (n == 0) {
			s->deferred = true;
			c->hw_deferred = true;
			return NGHTTP2_ERR_DEFERRED;
		}
	}
	if (n > 0)
		*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	if (s->out.len == n && s->shut) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (s->trl_out != NULL) {
			/* The trailers end the stream instead (nghttp2 copies
			 * them). */
			int rv = nghttp2_submit_trailer(h2, id, s->trl_out->nv,
			    s->trl_out->n);

			h2mem_release(&s->c->mem, s->trl_out);
			s->trl_out = NULL;
			if (rv != 0)
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		}
		s->end_sent = true;
	} else if (n == 0) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

static void
provide(struct mesh_stream *s, nghttp2_data_provider *prd)
{
	prd->source.ptr = s;
	prd->read_callback = data_read;
	s->providing = true;
}

/* ---- header blocks ---- */

/* Room for n fields of bytes bytes in all (names plus values), from the
 * connection's recycled blocks; h2mem_release() frees it. */
static struct hblock *
hblock_new(struct mesh_conn *c, size_t n, size_t bytes)
{
	struct hblock *b = h2mem_malloc(&c->mem, sizeof(*b) +
	    n * sizeof(nghttp2_nv) + bytes + 2 * n);

	if (b != NULL)
		b->n = 0;
	return b;
}

/* Appends a field; *at is where its bytes go (past the nv slots). */
static void
hblock_add(struct hblock *b, uint8_t **at, const uint8_t *name,
           size_t namelen, const uint8_t *value, size_t valuelen,
           uint8_t flags)
{
	nghttp2_nv *nv = &b->nv[b->n++];

	nv->name = *at;
	if (namelen > 0)
		memcpy(*at, name, namelen);
	(*at)[namelen] = '\0';
	*at += namelen + 1;
	nv->value = *at;
	if (valuelen > 0)
		memcpy(*at, value, valuelen);
	(*at)[valuelen] = '\0';
	*at += valuelen + 1;
	nv->namelen = namelen;
	nv->valuelen = valuelen;
	nv->flags = flags;
}

static bool
is_name(const uint8_t *name, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(name, want, len) == 0;
}

static bool
is_weft(const uint8_t *name, size_t len)
{
	return len >= 5 && memcmp(name, "weft-", 5) == 0;
}

/* The weft-* fields an app's request keeps end to end. */
static bool
weft_kept(const uint8_t *name, size_t len)
{
	return !is_weft(name, len) || is_name(name, len, MESH_UPGRADE_HEADER);
}

static void
hs_reset(struct mesh_conn *c)
{
	c->hs_n = 0;
	c->hs_used = 0;
	c->hs_over = false;
}

static void
hs_add(struct mesh_conn *c, const uint8_t *name, size_t namelen,
       const uint8_t *value, size_t valuelen, uint8_t flags)
{
	size_t need = c->hs_used + namelen + valuelen;
	struct hfield *f;

	if (c->hs_over)
		return;
	if (c->hs_n >= MESH_HEADER_FIELDS_MAX || need > MESH_HEADER_BLOCK_MAX) {
		c->hs_over = true;
		return;
	}
	if (c->hs_field == NULL && (c->hs_field = malloc(
	    MESH_HEADER_FIELDS_MAX * sizeof(*c->hs_field))) == NULL) {
		c->hs_over = true;
		return;
	}
	if (need > c->hs_cap) {
		size_t cap = c->hs_cap != 0 ? c->hs_cap : 1024;
		uint8_t *nb;

		while (cap < need)
			cap *= 2;
		if (cap > MESH_HEADER_BLOCK_MAX)
			cap = MESH_HEADER_BLOCK_MAX;
		if ((nb = realloc(c->hs_buf, cap)) == NULL) {
			c->hs_over = true;
			return;
		}
		c->hs_buf = nb;
		c->hs_cap = cap;
	}
	f = &c->hs_field[c->hs_n++];
	f->name = (uint32_t)c->hs_used;
	f->namelen = (uint32_t)namelen;
	if (namelen > 0)
		memcpy(c->hs_buf + c->hs_used, name, namelen);
	c->hs_used += namelen;
	f->value = (uint32_t)c->hs_used;
	f->valuelen = (uint32_t)valuelen;
	if (valuelen > 0)
		memcpy(c->hs_buf + c->hs_used, value, valuelen);
	c->hs_used += valuelen;
	f->flags = flags;
}

/*
 * The gathered block as the stream's own, leaving out weft-* fields when
 * strip (all but weft-upgrade: they are the core's, never the app's).
 */
static struct hblock *
hs_take(struct mesh_conn *c, bool strip)
{
	struct hblock *b;
	uint8_t *at;

	if ((b = hblock_new(c, c->hs_n, c->hs_used)) == NULL)
		return NULL;
	at = (uint8_t *)&b->nv[c->hs_n];
	for (size_t i = 0; i < c->hs_n; i++) {
		const struct hfield *f = &c->hs_field[i];
		const uint8_t *name = c->hs_buf + f->name;

		if (strip && !weft_kept(name, f->namelen))
			continue;
		hblock_add(b, &at, name, f->namelen, c->hs_buf + f->value,
		    f->valuelen, f->flags);
	}
	return b;
}

/* A copy of nv[0..n) the core owns (to be sent later). */
static struct hblock *
hblock_copy(struct mesh_conn *c, const nghttp2_nv *nv, size_t n)
{
	size_t bytes = 0;
	struct hblock *b;
	uint8_t *at;

	for (size_t i = 0; i < n; i++)
		bytes += nv[i].namelen + nv[i].valuelen;
	if ((b = hblock_new(c, n, bytes)) == NULL)
		return NULL;
	at = (uint8_t *)&b->nv[n];
	for (size_t i = 0; i < n; i++)
		hblock_add(b, &at, nv[i].name, nv[i].namelen, nv[i].value,
		    nv[i].valuelen, nv[i].flags);
	return b;
}

static const char *
hblock_get(const struct hblock *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++)
		if (is_name(b->nv[i].name, b->nv[i].namelen, name))
			return (const char *)b->nv[i].value;
	return NULL;
}

enum block_kind {
	BLOCK_REQUEST = 1,
	BLOCK_RESPONSE,
	BLOCK_TRAILERS,
};

/*
 * Whether a field the agent gives may be sent: a valid lowercase name
 * and value (nghttp2's checks, so the peer's nghttp2 will not reset the
 * stream over it), no connection-specific field (RFC 9113, 8.2.2), and
 * weft-* only where the core allows it.
 */
static bool
field_ok(const nghttp2_nv *f, enum block_kind kind)
{
	static const char *const conn_specific[] = {"connection",
	    "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"};

	if (f->namelen == 0 || f->name[0] == ':' ||
	    !nghttp2_check_header_name(f->name, f->namelen) ||
	    !nghttp2_check_header_value(f->value, f->valuelen))
		return false;
	for (size_t i = 0; i < sizeof(conn_specific) / sizeof(*conn_specific);
	    i++)
		if (is_name(f->name, f->namelen, conn_specific[i]))
			return false;
	if (is_name(f->name, f->namelen, "te"))
		return kind == BLOCK_REQUEST && f->valuelen == 8 &&
		    memcmp(f->value, "trailers", 8) == 0;
	if (is_weft(f->name, f->namelen))
		return kind == BLOCK_RESPONSE &&
		    is_name(f->name, f->namelen, MESH_UPGRADED_HEADER);
	return true;
}

/* Fields and bytes within MESH_HEADER_* (with extra fields to come). */
static bool
block_fits(const nghttp2_nv *nv, size_t n, size_t extra_n,
           size_t extra_bytes)
{
	size_t bytes = extra_bytes;

	if (n + extra_n > MESH_HEADER_FIELDS_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		bytes += nv[i].namelen + nv[i].valuelen;
	return bytes <= MESH_HEADER_BLOCK_MAX;
}

static bool
trailers_ok(const nghttp2_nv *nv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!field_ok(&nv[i], BLOCK_TRAILERS))
			return false;
	return true;
}

static int
on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *ud)
{
	struct mesh_conn *c = ud;
	struct mesh_stream *s;

	if (frame->hd.type == NGHTTP2_HEADERS)
		hs_reset(c);
	if (c->initiator || frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	/* Our GOAWAY may still be queued: nghttp2 would take this stream,
	 * the client would count it as refused.  Refuse it for real. */
	if (c->goaway_last >= 0 && frame->hd.stream_id > c->goaway_last) {
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE,
		    frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	if ((s = stream_new(c, false)) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	s->id = frame->hd.stream_id;
	s->h2 = true;
	s->st = ST_CONNECTING; /* decided when the headers are complete */
	if (nghttp2_session_set_stream_user_data(h2, s->id, s) != 0) {
		s->h2 = false;
		stream_free(s);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return 0;
}

static void
copy_field(char *dst, size_t cap, const uint8_t *v, size_t len, bool *bad)
{
	if (len >= cap) {
		*bad = true;
		len = cap - 1;
	}
	memcpy(dst, v, len);
	dst[len] = '\0';
	if (memchr(dst, '\0', len) != NULL)
		*bad = true;
}

static int
on_header(nghttp2_session *h2, const nghttp2_frame *frame,
          const uint8_t *name, size_t namelen, const uint8_t *value,
          size_t valuelen, uint8_t flags, void *ud)
{
	struct mesh_conn *c = ud;
	struct mesh_stream *s;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    (s = stream_of(h2, frame->hd.stream_id)) == NULL)
		return 0;
	hs_add(c, name, namelen, value, valuelen, flags);
	if (!c->initiator && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
		if (namelen == 7 && memcmp(name, ":method", 7) == 0)
			copy_field(s->method, sizeof(s->method), value, valuelen,
			    &s->bad_header);
		else if (namelen == 10 && memcmp(name, ":authority", 10) == 0)
			copy_field(s->authority, sizeof(s->authority), value,
			    valuelen, &s->bad_authority);
		else if (is_name(name, namelen, MESH_SERVICE_HEADER) &&
		    s->n_svc++ == 0)
			copy_field(s->service, sizeof(s->service), value,
			    valuelen, &s->svc_bad);
	} else if (c->initiator && (frame->headers.cat == NGHTTP2_HCAT_RESPONSE ||
	    (frame->headers.cat == NGHTTP2_HCAT_HEADERS && !s->final))) {
		/* A final response after a 1xx is a HEADERS frame to
		 * nghttp2, trailers are too: final tells them apart. */
		if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
			int st = 0;

			/* nghttp2 has checked it is three digits. */
			for (size_t i = 0; i < valuelen && i < 3; i++)
				st = st * 10 + (value[i] - '0');
			s->status = st;
		} else if (namelen == sizeof(MESH_REASON_HEADER) - 1 &&
		    memcmp(name, MESH_REASON_HEADER, namelen) == 0) {
			copy_clean(s->reason, sizeof(s->reason),
			    (const char *)value, valuelen);
			s->has_reason = true;
		}
	}
	return 0;
}

/* Server: answers a request the core refuses itself. */
static void
deny(struct mesh_conn *c, struct mesh_stream *s, int status,
     const char *reason, bool end_stream_in)
{
	char code[4];
	nghttp2_nv nva[2];

	snprintf(code, sizeof(code), "%d", status);
	copy_clean(s->reason, sizeof(s->reason), reason, MESH_REASON_MAX);
	nva[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)code, 7, 3,
	    NGHTTP2_NV_FLAG_NONE};
	nva[1] = (nghttp2_nv){(uint8_t *)MESH_REASON_HEADER, (uint8_t *)s->reason,
	    sizeof(MESH_REASON_HEADER) - 1, strlen(s->reason),
	    NGHTTP2_NV_FLAG_NONE};
	s->status = status;
	s->st = ST_DENIED;
	s->eof_in = end_stream_in;
	/* on_frame_send() asks the client to stop sending once the answer
	 * is out (a reset submitted now would overtake it). */
	nghttp2_submit_response(c->h2, s->id, nva, 2, NULL);
	mark(s, EV_DENIED);
}

/* "db" or "db:5432" */
static bool
parse_authority(struct mesh_stream *s)
{
	const char *colon = strchr(s->authority, ':');
	size_t n = colon != NULL ? (size_t)(colon - s->authority) :
	    strlen(s->authority);

	if (n == 0 || n > CERT_NAME_MAX)
		return false;
	memcpy(s->service, s->authority, n);
	s->service[n] = '\0';
	if (!cert_name_valid(s->service))
		return false;
	if (colon != NULL) {
		unsigned long port = 0;
		const char *p = colon + 1;

		if (*p == '\0' || strlen(p) > 5)
			return false;
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				return false;
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port == 0 || port > 65535)
			return false;
	}
	return true;
}

/*
 * Server: an HTTP request.  The destination is weft-service, which only
 * the calling weft sets (it drops the app's); :authority is the app's.
 */
static void
on_http_request(struct mesh_conn *c, struct mesh_stream *s, bool end_stream)
{
	const struct mesh_node *n = c->n;
	struct authz_decision d;
	const struct table_local *local;
	const char *path;
	char why[MESH_REASON_MAX];

	s->http = true;
	if (s->n_svc != 1 || s->svc_bad || !cert_name_valid(s->service)) {
		const char *what = s->n_svc == 0 ? "weft-service is missing" :
		    s->n_svc > 1 ? "more than one weft-service" :
		    "weft-service is not a service name";

		s->service[0] = '\0';
		deny(c, s, 400, what, end_stream);
		return;
	}
	if (s->table == NULL) {
		deny(c, s, 503, "this node has no tables yet", end_stream);
		return;
	}
	if ((s->head = hs_take(c, true)) == NULL) {
		deny(c, s, 503, "out of memory", end_stream);
		return;
	}
	/* nghttp2 has checked :method and :path are there. */
	path = hblock_get(s->head, ":path");
	authz_check_request(s->table, n->cfg.self_cert, session_peer(c->sess),
	    s->service, s->method, path != NULL ? path : "", &d);
	if (!d.allow) {
		deny(c, s, 403, d.reason, end_stream);
		return;
	}
	if ((local = table_local(s->table, s->service)) == NULL) {
		set_reason(why, "service %s is not served on node %s", s->service,
		    n->cfg.self_cert->name);
		deny(c, s, 404, why, end_stream);
		return;
	}
	weft_str_copy(s->host, sizeof(s->host), local->host);
	s->port = local->port;
	s->st = ST_CONNECTING;
	s->agent = true;
	mark(s, EV_REQUEST);
}

static void
on_request(struct mesh_conn *c, struct mesh_stream *s, bool end_stream)
{
	const struct mesh_node *n = c->n;
	struct authz_decision d;
	const struct table_local *local;
	char why[MESH_REASON_MAX];

	if (c->hs_over) {
		if (s->n_svc != 1 || s->svc_bad || !cert_name_valid(s->service))
			s->service[0] = '\0';
		set_reason(why, "request header block over %u bytes or %u fields",
		    MESH_HEADER_BLOCK_MAX, MESH_HEADER_FIELDS_MAX);
		deny(c, s, 431, why, end_stream);
		return;
	}
	if (s->bad_header) {
		s->service[0] = '\0';
		deny(c, s, 400, "the request method is too long", end_stream);
		return;
	}
	if (strcmp(s->method, "CONNECT") != 0) {
		on_http_request(c, s, end_stream);
		return;
	}
	if (s->bad_authority) {
		s->service[0] = '\0';
		deny(c, s, 400, "a request header is too long", end_stream);
		return;
	}
	if (!parse_authority(s)) {
		s->service[0] = '\0';
		deny(c, s, 400, ":authority is not service or service:port",
		    end_stream);
		return;
	}
	if (s->table == NULL) {
		deny(c, s, 503, "this node has no tables yet", end_stream);
		return;
	}
	authz_check(s->table, n->cfg.self_cert, session_peer(c->sess),
	    s->service, &d);
	if (!d.allow) {
		deny(c, s, 403, d.reason, end_stream);
		return;
	}
	if ((local = table_local(s->table, s->service)) == NULL) {
		set_reason(why, "service %s is not served on node %s", s->service,
		    n->cfg.self_cert->name);
		deny(c, s, 404, why, end_stream);
		return;
	}
	weft_str_copy(s->host, sizeof(s->host), local->host);
	s->port = local->port;
	s->st = ST_CONNECTING;
	s->agent = true;
	mark(s, EV_CONNECT);
}

/* The stream fails on a block the core will not keep: reset it. */
static void
reset_over(struct mesh_conn *c, struct mesh_stream *s, const char *what)
{
	char why[MESH_REASON_MAX];
	uint32_t code = s->client ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR;

	set_reason(why, "%s header block over %u bytes or %u fields", what,
	    MESH_HEADER_BLOCK_MAX, MESH_HEADER_FIELDS_MAX);
	if (!s->rst_sent) {
		nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, code);
		s->rst_sent = true;
	}
	stream_dead(s, code, WEFT_ETOOBIG, why);
}

static void
on_response(struct mesh_conn *c, struct mesh_stream *s)
{
	if (s->st != ST_REQUESTED)
		return;
	if (c->hs_over) {
		reset_over(c, s, "response");
		return;
	}
	if (s->status < 200) {
		/* 1xx: wait for the final answer. */
		s->status = 0;
		s->has_reason = false;
		s->reason[0] = '\0';
		return;
	}
	s->final = true;
	if (s->http && s->status > 599) {
		char why[MESH_REASON_MAX];

		/* nghttp2 takes any three digits; HTTP ends at 599. */
		set_reason(why, "response status %d is not an HTTP status",
		    s->status);
		nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id,
		    NGHTTP2_PROTOCOL_ERROR);
		s->rst_sent = true;
		stream_dead(s, NGHTTP2_PROTOCOL_ERROR, WEFT_EMALFORMED, why);
		return;
	}
	if (!s->http && s->status < 300) {
		s->st = ST_OPEN;
		mark(s, EV_OPENED);
		return;
	}
	/* An HTTP answer is the app's unless the remote weft said why it
	 * refused (it strips weft-* from what apps answer). */
	if (s->http && !s->has_reason) {
		if ((s->head = hs_take(c, false)) == NULL) {
			nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id,
			    NGHTTP2_CANCEL);
			s->rst_sent = true;
			stream_dead(s, NGHTTP2_CANCEL, WEFT_ENOMEM,
			    "out of memory keeping the response head");
			return;
		}
		s->st = ST_OPEN;
		mark(s, EV_RESPONSE);
		return;
	}
	s->st = ST_REFUSED;
	if (s->reason[0] == '\0')
		set_reason(s->reason, "refused with status %d", s->status);
	chunkq_clear(&s->out, &c->pool);
	stream_forget_in(s);
	if (!s->end_sent && !s->rst_sent) {
		nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id,
		    NGHTTP2_CANCEL);
		s->rst_sent = true;
	}
	mark(s, EV_REFUSED);
}

/* Trailers (nghttp2 has checked they end the stream). */
static void
on_trailers(struct mesh_conn *c, struct mesh_stream *s)
{
	if (!s->agent || s->st == ST_RESET || s->st == ST_REFUSED ||
	    s->st == ST_DENIED || s->trailers != NULL)
		return;
	if (c->hs_over) {
		reset_over(c, s, s->client ? "response trailer" :
		    "request trailer");
		return;
	}
	if ((s->trailers = hs_take(c, !s->client)) == NULL) {
		uint32_t code = s->client ? NGHTTP2_CANCEL :
		    NGHTTP2_INTERNAL_ERROR;

		nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, code);
		s->rst_sent = true;
		stream_dead(s, code, WEFT_ENOMEM, "out of memory keeping trailers");
	}
}

static int
on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *ud)
{
	struct mesh_conn *c = ud;
	struct mesh_stream *s;
	bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
		if ((s = stream_of(h2, frame->hd.stream_id)) == NULL)
			return 0;
		if (!c->initiator && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
			on_request(c, s, end);
		else if (c->initiator && (frame->headers.cat ==
		    NGHTTP2_HCAT_RESPONSE || !s->final))
			on_response(c, s);
		else if (frame->headers.cat == NGHTTP2_HCAT_HEADERS)
			on_trailers(c, s);
		break;
	case NGHTTP2_DATA:
		if ((s = stream_of(h2, frame->hd.stream_id)) == NULL)
			return 0;
		break;
	case NGHTTP2_GOAWAY:
		c->goaway_in = true;
		if (c->state == MESH_CONN_OPEN)
			c->state = MESH_CONN_DRAINING;
		if (frame->goaway.error_code != NGHTTP2_NO_ERROR)
			set_reason(c->reason, "peer sent GOAWAY: %s",
			    nghttp2_http2_strerror(frame->goaway.error_code));
		else
			set_reason(c->reason, "peer closed the connection");
		return 0;
	default:
		return 0;
	}
	if (end && (s->st == ST_OPEN || s->st == ST_CONNECTING ||
	    s->st == ST_REQUESTED)) {
		s->eof_in = true;
		mark(s, EV_READABLE);
	} else if (end) {
		s->eof_in = true;
	}
	return 0;
}

static int
on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id,
              const uint8_t *data, size_t len, void *ud)
{
	struct mesh_conn *c = ud;
	struct mesh_stream *s = stream_of(h2, id);
	size_t added = 0;

	(void)flags;
	c->in_buffered += len;
	if (s == NULL || !s->agent || s->st == ST_RESET ||
	    s->st == ST_REFUSED || s->st == ST_DENIED) {
		/* Nobody will read these: give the window back now. */
		nghttp2_session_consume_stream(h2, id, len);
		c->in_buffered -= len;
		nghttp2_session_consume_connection(h2, len);
		return 0;
	}
	if (c->in_buffered <= c->n->cfg.conn_buffer)
		nghttp2_session_consume_connection(h2, len);
	else
		c->conn_debt += len;
	if (chunkq_append(&s->in, &c->pool, data, len, &added) != 0) {
		c->in_buffered -= len - added;
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id,
		    NGHTTP2_INTERNAL_ERROR);
		s->rst_sent = true;
		stream_dead(s, NGHTTP2_INTERNAL_ERROR, WEFT_ENOMEM,
		    "out of memory buffering the stream");
		return 0;
	}
	mark(s, EV_READABLE);
	return 0;
}

static int
on_stream_close(nghttp2_session *h2, int32_t id, uint32_t code, void *ud)
{
	struct mesh_conn *c = ud;
	struct mesh_stream *s = stream_of(h2, id);
	char why[MESH_REASON_MAX];

	if (s == NULL || c->freeing)
		return 0;
	s->h2 = false;
	nghttp2_session_set_stream_user_data(h2, id, NULL);
	if (code == NGHTTP2_NO_ERROR && s->eof_in && s->end_sent)
		s->finished = true;
	if (code == NGHTTP2_NO_ERROR && s->eof_in && s->http && s->client &&
	    !s->finished) {
		/* The whole response arrived and the server asked us to stop
		 * sending the request (RFC 9113, 8.1): the answer stands. */
		s->finished = true;
		s->shut = true;
		s->want_writable = false;
		chunkq_clear(&s->out, &c->pool);
	}
	if (s->st != ST_RESET && s->st != ST_REFUSED && s->st != ST_DENIED &&
	    !s->finished) {
		if (code == NGHTTP2_REFUSED_STREAM)
			set_reason(why, "the peer did not process the stream "
			    "(REFUSED_STREAM): safe to retry elsewhere");
		else
			set_reason(why, "stream reset: %s",
			    nghttp2_http2_strerror(code));
		stream_dead(s, code, code == NGHTTP2_NO_ERROR ? 0 : WEFT_ECLOSED,
		    why);
	}
	maybe_free(s);
	return 0;
}

/*
 * A refusal is complete once its HEADERS are out, a response the agent
 * let go of once its END_STREAM is: a client still sending is asked to
 * stop without calling it an error (RFC 9113, 8.1).
 */
static int
on_frame_send(nghttp2_session *h2, const nghttp2_frame *frame, void *ud)
{
	struct mesh_stream *s;

	(void)ud;
	if ((frame->hd.type != NGHTTP2_HEADERS &&
	    frame->hd.type != NGHTTP2_DATA) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
	    (s = stream_of(h2, frame->hd.stream_id)) == NULL || s->client)
		return 0;
	s->end_out = true;
	if ((s->st == ST_DENIED || s->st == ST_REFUSED || s->rst_after_end) &&
	    !s->eof_in && !s->rst_sent) {
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, s->id,
		    NGHTTP2_NO_ERROR);
		s->rst_sent = true;
	}
	return 0;
}

static int
on_error(nghttp2_session *h2, int lib_error, const char *msg, size_t len,
         void *ud)
{
	struct mesh_conn *c = ud;

	(void)h2;
	(void)lib_error;
	copy_clean(c->h2_msg, sizeof(c->h2_msg), msg, len);
	return 0;
}

static ssize_t send_frames(nghttp2_session *h2, const uint8_t *d, size_t n,
                           int flags, void *ud);
static int send_data(nghttp2_session *h2, nghttp2_frame *frame,
                     const uint8_t *framehd, size_t length,
                     nghttp2_data_source *src, void *ud);

static int
h2_new(struct mesh_conn *c)
{
	const struct mesh_config *cfg = &c->n->cfg;
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
	nghttp2_mem mem;
	nghttp2_settings_entry iv[3];
	size_t niv = 0;
	int rc;

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return WEFT_ENOMEM;
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cbs);
		return WEFT_ENOMEM;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
	    on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
	    on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
	    on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	nghttp2_session_callbacks_set_error_callback2(cbs, on_error);
	nghttp2_session_callbacks_set_send_callback(cbs, send_frames);
	nghttp2_session_callbacks_set_send_data_callback(cbs, send_data);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_no_closed_streams(opt, 1);
	h2mem_mem(&c->mem, &mem);
	if (c->initiator)
		rc = nghttp2_session_client_new3(&c->h2, cbs, c, opt, &mem);
	else
		rc = nghttp2_session_server_new3(&c->h2, cbs, c, opt, &mem);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (rc != 0)
		return WEFT_ENOMEM;
	iv[niv++] = (nghttp2_settings_entry){
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->max_streams};
	iv[niv++] = (nghttp2_settings_entry){
	    NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cfg->stream_window};
	if (c->initiator)
		iv[niv++] = (nghttp2_settings_entry){
		    NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
	if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, niv) != 0 ||
	    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0,
	    (int32_t)cfg->conn_buffer) != 0)
		return WEFT_ENOMEM;
	return 0;
}

/* ---- node ---- */

int
mesh_node_new(const struct mesh_config *cfg, struct mesh_node **out)
{
	struct mesh_node *n;

	*out = NULL;
	if (cfg == NULL || cfg->session == NULL || cfg->self_cert == NULL)
		return WEFT_EINVAL;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return WEFT_ENOMEM;
	n->cfg = *cfg;
	if (n->cfg.stream_window == 0)
		n->cfg.stream_window = MESH_STREAM_WINDOW;
	if (n->cfg.stream_window > (1u << 30))
		n->cfg.stream_window = 1u << 30;
	if (n->cfg.send_buffer == 0)
		n->cfg.send_buffer = MESH_SEND_BUFFER;
	if (n->cfg.max_streams == 0)
		n->cfg.max_streams = MESH_MAX_STREAMS;
	if (n->cfg.conn_buffer == 0)
		n->cfg.conn_buffer = MESH_CONN_BUFFER;
	if (n->cfg.conn_buffer < 65535)
		n->cfg.conn_buffer = 65535;
	if (n->cfg.conn_buffer > (1u << 30))
		n->cfg.conn_buffer = 1u << 30;
	if (n->cfg.out_high_water == 0)
		n->cfg.out_high_water = MESH_OUT_HIGH_WATER;
	if (n->cfg.idle_timeout_ms <= 0)
		n->cfg.idle_timeout_ms = MESH_IDLE_TIMEOUT_MS;
	*out = n;
	return 0;
}

void
mesh_node_free(struct mesh_node *n)
{
	if (n == NULL)
		return;
	table_unref(n->table);
	free(n);
}

void
mesh_node_set_table(struct mesh_node *n, struct table *t)
{
	struct table *old = n->table;

	n->table = table_ref(t);
	table_unref(old);
}

struct table *
mesh_node_table(const struct mesh_node *n)
{
	return n->table;
}

/* ---- connection ---- */

int
mesh_conn_new(struct mesh_node *n, bool initiator, const uint8_t *remote_static,
              const uint8_t *expect_key_id, int64_t now_ms, int64_t now_unix,
              void *user, struct mesh_conn **out)
{
	struct mesh_conn *c;
	int rc;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return WEFT_ENOMEM;
	c->n = n;
	c->user = user;
	c->initiator = initiator;
	c->state = MESH_CONN_HANDSHAKE;
	c->now = now_ms;
	c->idle_since = now_ms;
	c->goaway_last = -1;
	list_init(&c->streams);
	list_init(&c->ev_queue);
	chunk_pool_init(&c->pool, MESH_POOL_CHUNKS);
	h2mem_init(&c->mem, MESH_MEM_CACHE);
	if (expect_key_id != NULL) {
		c->expect = true;
		memcpy(c->expect_id, expect_key_id, KEY_ID_LEN);
	}
	if ((rc = session_new(n->cfg.session, initiator, remote_static, now_ms,
	    now_unix, &c->sess)) != 0 || (rc = h2_new(c)) != 0) {
		mesh_conn_free(c);
		return rc;
	}
	n->n_conns++;
	*out = c;
	return 0;
}

void
mesh_conn_free(struct mesh_conn *c)
{
	struct list *pos, *tmp;

	if (c == NULL)
		return;
	c->freeing = true;
	if (c->h2 != NULL)
		nghttp2_session_del(c->h2);
	c->h2 = NULL;
	list_foreach_safe(pos, tmp, &c->streams) {
		struct mesh_stream *s = list_entry(pos, struct mesh_stream, link);

		stream_free(s);
	}
	session_free(c->sess);
	chunk_pool_fini(&c->pool);
	h2mem_clear(&c->mem);
	free(c->hs_field);
	free(c->hs_buf);
	free(c->nv_out);
	if (c->sess != NULL && c->n->n_conns > 0)
		c->n->n_conns--;
	free(c);
}

static int submit_stream(struct mesh_conn *c, struct mesh_stream *s);

static void
established(struct mesh_conn *c)
{
	const struct session_peer *p = session_peer(c->sess);
	struct list *pos, *tmp;

	if (c->expect && memcmp(p->key_id, c->expect_id, KEY_ID_LEN) != 0) {
		char got[2 * KEY_ID_LEN + 1], want[2 * KEY_ID_LEN + 1];

		hex_encode(got, p->key_id, KEY_ID_LEN);
		hex_encode(want, c->expect_id, KEY_ID_LEN);
		conn_fail(c, WEFT_EAUTH, "peer is node %s (key %s), not the "
		    "node gossip named (key %s)", p->name, got, want);
		return;
	}
	c->state = MESH_CONN_OPEN;
	c->ev_up = true;
	list_foreach_safe(pos, tmp, &c->streams) {
		struct mesh_stream *s = list_entry(pos, struct mesh_stream, link);

		if (s->st == ST_PENDING)
			submit_stream(c, s);
	}
}

/* Marks the connection closed once HTTP/2 has nothing left to do. */
static void
check_finished(struct mesh_conn *c)
{

	if (c->state == MESH_CONN_CLOSED || c->state == MESH_CONN_HANDSHAKE ||
	    nghttp2_session_want_read(c->h2) ||
	    nghttp2_session_want_write(c->h2))
		return;
	if (c->reason[0] == '\0')
		set_reason(c->reason, "%s", c->h2_msg[0] != '\0' ? c->h2_msg :
		    "the connection was closed");
	conn_fail(c, c->goaway_in || c->h2_msg[0] == '\0' ? 0 :
	    WEFT_EMALFORMED, "%s", c->reason);
}

static int
feed_h2(struct mesh_conn *c)
{
	const uint8_t *p;
	size_t len;
	ssize_t n;

	session_plain_peek(c->sess, &p, &len);
	if (len == 0)
		return 0;
	n = nghttp2_session_mem_recv(c->h2, p, len);
	session_plain_consume(c->sess, len);
	if (n < 0) {
		conn_fail(c, WEFT_EMALFORMED, "HTTP/2: %s%s%s",
		    nghttp2_strerror((int)n), c->h2_msg[0] != '\0' ? ": " : "",
		    c->h2_msg);
		return WEFT_EMALFORMED;
	}
	return 0;
}

int
mesh_conn_recv(struct mesh_conn *c, int64_t now_ms, const uint8_t *data,
               size_t len)
{
	enum session_state was;
	int rc;

	c->now = now_ms;
	if (c->state == MESH_CONN_CLOSED)
		return WEFT_ECLOSED;
	was = session_state(c->sess);
	if ((rc = session_recv(c->sess, data, len)) != 0) {
		conn_fail(c, rc, "secure session: %s", session_reason(c->sess));
		dispatch(c);
		return rc;
	}
	if (was == SESSION_HANDSHAKE &&
	    session_state(c->sess) == SESSION_ESTABLISHED)
		established(c);
	if (c->state != MESH_CONN_CLOSED && c->state != MESH_CONN_HANDSHAKE) {
		feed_h2(c);
		check_finished(c);
	}
	dispatch(c);
	return c->state == MESH_CONN_CLOSED ? c->err : 0;
}

void
mesh_conn_abort(struct mesh_conn *c, int err, const char *reason)
{
	conn_fail(c, err, "%s", reason != NULL ? reason : "aborted");
	dispatch(c);
}

/* Seals what is staged (and gives the room back when nothing is). */
static int
stage_flush(struct mesh_conn *c)
{
	int rc;

	if (c->stage == NULL)
		return 0;
	rc = session_write_commit(c->sess, c->stage_len);
	c->stage = NULL;
	c->stage_len = 0;
	return rc;
}

/* Room for n more staged bytes: a new message when they do not fit. */
static int
stage_room(struct mesh_conn *c, size_t n)
{
	int rc = 0;

	if (c->stage != NULL && n <= SESSION_CHUNK_MAX - c->stage_len)
		return 0;
	if (n > SESSION_CHUNK_MAX)
		rc = WEFT_ETOOBIG;
	if (rc == 0)
		rc = stage_flush(c);
	if (rc == 0)
		rc = session_write_reserve(c->sess, &c->stage);
	if (rc != 0)
		c->stage_err = rc;
	return rc;
}

static ssize_t
send_frames(nghttp2_session *h2, const uint8_t *d, size_t n, int flags,
            void *ud)
{
	struct mesh_conn *c = ud;

	(void)h2;
	(void)flags;
	if (out_room(c) == 0)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (n >= SESSION_CHUNK_MAX) {
		if ((c->stage_err = stage_flush(c)) != 0 ||
		    (c->stage_err = session_write(c->sess, d, n)) != 0)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		return (ssize_t)n;
	}
	if (stage_room(c, n) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	memcpy(c->stage + c->stage_len, d, n);
	c->stage_len += n;
	return (ssize_t)n;
}

/* A NO_COPY DATA frame: its header, then its bytes from the chunks. */
static int
send_data(nghttp2_session *h2, nghttp2_frame *frame, const uint8_t *framehd,
          size_t length, nghttp2_data_source *src, void *ud)
{
	struct mesh_conn *c = ud;
	struct mesh_stream *s = src->ptr;
	size_t pad = frame->data.padlen, got;

	(void)h2;
	if (stage_room(c, 9 + pad + length) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	memcpy(c->stage + c->stage_len, framehd, 9);
	c->stage_len += 9;
	if (pad > 0)
		c->stage[c->stage_len++] = (uint8_t)(pad - 1);
	got = chunkq_take(&s->out, &c->pool, c->stage + c->stage_len, length);
	if (got != length)
		return NGHTTP2_ERR_CALLBACK_FAILURE; /* data_read promised */
	c->stage_len += length;
	if (pad > 1) {
		memset(c->stage + c->stage_len, 0, pad - 1);
		c->stage_len += pad - 1;
	}
	if (s->want_writable && s->out.len <= c->n->cfg.send_buffer / 2) {
		s->want_writable = false;
		mark(s, EV_WRITABLE);
	}
	return 0;
}

static void resume(struct mesh_stream *s);

/* Streams that waited for room under out_high_water go on. */
static void
resume_hw(struct mesh_conn *c)
{
	struct list *pos;

	if (!c->hw_deferred || out_room(c) == 0)
		return;
	c->hw_deferred = false;
	list_foreach(pos, &c->streams) {
		struct mesh_stream *s = list_entry(pos, struct mesh_stream, link);

		if (s->out.len > 0 || s->shut)
			resume(s);
	}
}

/* Frames from nghttp2 into the secure session, gathered so that one
 * secure message carries as many frames as fit. */
static void
pump(struct mesh_conn *c)
{
	int rc;

	if (c->state == MESH_CONN_CLOSED || c->state == MESH_CONN_HANDSHAKE)
		return;
	resume_hw(c);
	c->stage_err = 0;
	rc = nghttp2_session_send(c->h2);
	if (rc != 0 && c->stage_err == 0) {
		(void)stage_flush(c);
		conn_fail(c, WEFT_EMALFORMED, "HTTP/2: %s",
		    nghttp2_strerror(rc));
		return;
	}
	if (c->stage_err == 0)
		c->stage_err = stage_flush(c);
	else
		(void)stage_flush(c);
	if (c->stage_err != 0) {
		conn_fail(c, c->stage_err, "secure session: %s",
		    session_reason(c->sess));
		return;
	}
	check_finished(c);
}

void
mesh_conn_out_peek(struct mesh_conn *c, const uint8_t **p, size_t *len)
{
	/* Events from sending (room to write again) may make the agent
	 * write more, so pump again; a few rounds are plenty, the rest
	 * waits for the next call. */
	for (int i = 0; i < 4; i++) {
		pump(c);
		if (list_empty(&c->ev_queue) && !c->ev_closed)
			break;
		dispatch(c);
	}
	if (session_state(c->sess) == SESSION_CLOSED) {
		*p = NULL;
		*len = 0;
		return;
	}
	session_out_peek(c->sess, p, len);
}

void
mesh_conn_out_consume(struct mesh_conn *c, size_t n)
{
	session_out_consume(c->sess, n);
}

bool
mesh_conn_want_write(const struct mesh_conn *c)
{
	const uint8_t *p;
	size_t len;

	if (session_state(c->sess) == SESSION_CLOSED)
		return false;
	session_out_peek(c->sess, &p, &len);
	if (len > 0)
		return true;
	return (c->state == MESH_CONN_OPEN || c->state == MESH_CONN_DRAINING) &&
	    (nghttp2_session_want_write(c->h2) || c->hw_deferred);
}

int64_t
mesh_conn_deadline(const struct mesh_conn *c)
{
	int64_t t;

	switch (c->state) {
	case MESH_CONN_HANDSHAKE:
		return session_deadline(c->sess);
	case MESH_CONN_OPEN:
		if (c->n_streams > 0 || c->idle_since < 0)
			return INT64_MAX;
		t = c->idle_since;
		return t > INT64_MAX - c->n->cfg.idle_timeout_ms ? INT64_MAX :
		    t + c->n->cfg.idle_timeout_ms;
	default:
		return INT64_MAX;
	}
}

int
mesh_conn_tick(struct mesh_conn *c, int64_t now_ms)
{
	int rc;

	c->now = now_ms;
	if (c->state == MESH_CONN_HANDSHAKE &&
	    (rc = session_tick(c->sess, now_ms)) != 0) {
		conn_fail(c, rc, "secure session: %s", session_reason(c->sess));
	} else if (c->state == MESH_CONN_OPEN &&
	    now_ms >= mesh_conn_deadline(c)) {
		set_reason(c->reason, "idle for %lld ms",
		    (long long)c->n->cfg.idle_timeout_ms);
		c->state = MESH_CONN_DRAINING;
		c->goaway_last = nghttp2_session_get_last_proc_stream_id(c->h2);
		nghttp2_session_terminate_session(c->h2, NGHTTP2_NO_ERROR);
	}
	dispatch(c);
	return c->state == MESH_CONN_CLOSED ? c->err : 0;
}

void
mesh_conn_shutdown(struct mesh_conn *c)
{
	if (c->state == MESH_CONN_HANDSHAKE) {
		conn_fail(c, 0, "shut down during the handshake");
		dispatch(c);
		return;
	}
	if (c->state != MESH_CONN_OPEN)
		return;
	c->state = MESH_CONN_DRAINING;
	set_reason(c->reason, "shut down");
	c->goaway_last = nghttp2_session_get_last_proc_stream_id(c->h2);
	nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, c->goaway_last,
	    NGHTTP2_NO_ERROR, NULL, 0);
}

enum mesh_conn_state
mesh_conn_state(const struct mesh_conn *c)
{
	return c->state;
}

bool
mesh_conn_done(const struct mesh_conn *c)
{
	return c->state == MESH_CONN_CLOSED && !mesh_conn_want_write(c);
}

bool
mesh_conn_can_open(const struct mesh_conn *c)
{
	uint32_t limit;

	if (c->state != MESH_CONN_OPEN && c->state != MESH_CONN_HANDSHAKE)
		return false;
	/* Until the peer's SETTINGS arrive, our own limit bounds what
	 * waits for the handshake. */
	limit = c->state == MESH_CONN_HANDSHAKE ? c->n->cfg.max_streams :
	    nghttp2_session_get_remote_settings(c->h2,
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	return c->n_client < limit;
}

size_t
mesh_conn_streams(const struct mesh_conn *c)
{
	return c->n_streams;
}

const struct session_peer *
mesh_conn_peer(const struct mesh_conn *c)
{
	return session_peer(c->sess);
}

const char *
mesh_conn_reason(const struct mesh_conn *c)
{
	return c->reason;
}

void *
mesh_conn_user(const struct mesh_conn *c)
{
	return c->user;
}

/* ---- streams ---- */

static int
submit_stream(struct mesh_conn *c, struct mesh_stream *s)
{
	const struct session_peer *p = session_peer(c->sess);
	nghttp2_nv nva[2];
	nghttp2_data_provider prd;
	int32_t id;

	if (!cert_allows_service(p->cert, s->service)) {
		/* The peer could never serve it: nothing is sent. */
		s->st = ST_REFUSED;
		s->status = 421;
		set_reason(s->reason, "node %s's certificate does not list "
		    "service %s", p->name, s->service);
		chunkq_clear(&s->out, &c->pool);
		mark(s, EV_REFUSED);
		return WEFT_EPOLICY;
	}
	if (s->http) {
		/* Sent at once from the agent's nv, or from the copy made
		 * while the handshake ran; nghttp2 keeps its own. */
		bool body = !s->end_sent;

		if (body)
			provide(s, &prd);
		id = nghttp2_submit_request(c->h2, NULL, s->req != NULL ?
		    s->req->nv : c->nv_out, s->req != NULL ? s->req->n :
		    s->req_n, body ? &prd : NULL, s);
		h2mem_release(&c->mem, s->req);
		s->req = NULL;
	} else {
		nva[0] = (nghttp2_nv){(uint8_t *)":method", (uint8_t *)"CONNECT",
		    7, 7, NGHTTP2_NV_FLAG_NONE};
		nva[1] = (nghttp2_nv){(uint8_t *)":authority",
		    (uint8_t *)s->authority, 10, strlen(s->authority),
		    NGHTTP2_NV_FLAG_NONE};
		provide(s, &prd);
		id = nghttp2_submit_request(c->h2, NULL, nva, 2, &prd, s);
	}
	if (id < 0) {
		s->providing = false;
		stream_dead(s, 0, id == NGHTTP2_ERR_NOMEM ? WEFT_ENOMEM :
		    WEFT_EINVAL, nghttp2_strerror(id));
		return id == NGHTTP2_ERR_NOMEM ? WEFT_ENOMEM : WEFT_EINVAL;
	}
	s->id = id;
	s->h2 = true;
	s->st = ST_REQUESTED;
	return 0;
}

int
mesh_stream_open(struct mesh_conn *c, const char *service, uint16_t port,
                 void *user, struct mesh_stream **out)
{
	struct mesh_stream *s;
	const struct session_peer *p;
	int rc;

	*out = NULL;
	if (service == NULL || !cert_name_valid(service))
		return WEFT_EINVAL;
	if (!c->initiator || !mesh_conn_can_open(c))
		return WEFT_ESTATE;
	p = session_peer(c->sess);
	if (p != NULL && !cert_allows_service(p->cert, service))
		return WEFT_EPOLICY;
	if ((s = stream_new(c, true)) == NULL)
		return WEFT_ENOMEM;
	s->user = user;
	s->agent = true;
	s->port = port;
	c->n_client++;
	weft_str_copy(s->service, sizeof(s->service), service);
	weft_str_copy(s->authority, sizeof(s->authority), service);
	if (port != 0) {
		size_t used = strlen(s->authority);

		weft_str_put(s->authority, sizeof(s->authority), &used, ":");
		weft_str_putu(s->authority, sizeof(s->authority), &used, port);
	}
	s->st = ST_PENDING;
	if (c->state == MESH_CONN_OPEN && (rc = submit_stream(c, s)) != 0) {
		s->agent = false;
		if (s->queued) {
			list_remove(&s->ev_link);
			s->queued = false;
		}
		maybe_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int
mesh_stream_accept(struct mesh_stream *s)
{
	struct mesh_conn *c = s->c;
	nghttp2_nv nva[1];
	nghttp2_data_provider prd;

	if (s->client || !s->agent || s->http)
		return WEFT_EINVAL;
	if (s->st != ST_CONNECTING)
		return s->st == ST_RESET ? WEFT_ECLOSED : WEFT_ESTATE;
	nva[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)"200", 7, 3,
	    NGHTTP2_NV_FLAG_NONE};
	provide(s, &prd);
	if (nghttp2_submit_response(c->h2, s->id, nva, 1, &prd) != 0) {
		s->providing = false;
		return WEFT_ENOMEM;
	}
	s->st = ST_OPEN;
	return 0;
}

int
mesh_stream_refuse(struct mesh_stream *s, int status, const char *reason)
{
	struct mesh_conn *c = s->c;
	char code[4];
	nghttp2_nv nva[2];

	if (s->client || !s->agent || status < 400 || status > 599)
		return WEFT_EINVAL;
	if (s->st != ST_CONNECTING)
		return s->st == ST_RESET ? WEFT_ECLOSED : WEFT_ESTATE;
	snprintf(code, sizeof(code), "%d", status);
	copy_clean(s->reason, sizeof(s->reason), reason != NULL ? reason :
	    "refused", MESH_REASON_MAX);
	nva[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)code, 7, 3,
	    NGHTTP2_NV_FLAG_NONE};
	nva[1] = (nghttp2_nv){(uint8_t *)MESH_REASON_HEADER, (uint8_t *)s->reason,
	    sizeof(MESH_REASON_HEADER) - 1, strlen(s->reason),
	    NGHTTP2_NV_FLAG_NONE};
	if (nghttp2_submit_response(c->h2, s->id, nva, 2, NULL) != 0)
		return WEFT_ENOMEM;
	s->status = status;
	s->st = ST_REFUSED;
	chunkq_clear(&s->out, &c->pool);
	stream_forget_in(s);
	return 0;
}

static bool
writable_state(const struct mesh_stream *s)
{
	return s->st == ST_PENDING || s->st == ST_REQUESTED ||
	    s->st == ST_OPEN || s->st == ST_CONNECTING;
}

static void
resume(struct mesh_stream *s)
{
	if (s->deferred && s->h2 && s->providing) {
		s->deferred = false;
		nghttp2_session_resume_data(s->c->h2, s->id);
	}
}

int
mesh_stream_write_reserve(struct mesh_stream *s, uint8_t **p, size_t *len)
{
	size_t room = mesh_stream_write_room(s);

	*p = NULL;
	*len = 0;
	if (!writable_state(s) || s->shut)
		return WEFT_ECLOSED;
	if (s->http && !s->client && s->st == ST_CONNECTING)
		return WEFT_ESTATE;
	if (room == 0) {
		s->want_writable = true;
		return 0;
	}
	return chunkq_reserve(&s->out, &s->c->pool, room, p, len);
}

void
mesh_stream_write_commit(struct mesh_stream *s, size_t n)
{
	/* A reset between the two dropped the reservation with the rest
	 * (chunkq_clear): nothing to commit then. */
	if (!writable_state(s) || s->shut) {
		chunkq_commit(&s->out, &s->c->pool, 0);
		return;
	}
	chunkq_commit(&s->out, &s->c->pool, n);
	if (n > 0)
		resume(s);
}

int
mesh_stream_write(struct mesh_stream *s, const void *data, size_t len,
                  size_t *accepted)
{
	size_t room = mesh_stream_write_room(s), n, added = 0;
	int rc;

	*accepted = 0;
	if (!writable_state(s) || s->shut)
		return WEFT_ECLOSED;
	if (s->http && !s->client && s->st == ST_CONNECTING)
		return WEFT_ESTATE; /* the body follows mesh_stream_respond() */
	n = len < room ? len : room;
	rc = chunkq_append(&s->out, &s->c->pool, data, n, &added);
	*accepted = added;
	if (added < len)
		s->want_writable = true;
	if (added > 0)
		resume(s);
	return rc;
}

size_t
mesh_stream_write_room(const struct mesh_stream *s)
{
	size_t cap = s->c->n->cfg.send_buffer;

	return s->out.len < cap ? cap - s->out.len : 0;
}

int
mesh_stream_shutdown_write(struct mesh_stream *s)
{
	if (!writable_state(s))
		return WEFT_ECLOSED;
	if (s->http && !s->client && s->st == ST_CONNECTING)
		return WEFT_ESTATE;
	if (s->shut)
		return 0;
	s->shut = true;
	s->want_writable = false;
	resume(s);
	return 0;
}

void
mesh_stream_read_peek(const struct mesh_stream *s, const uint8_t **p,
                      size_t *len, bool *eof)
{
	if (s->in_gone) {
		*p = NULL;
		*len = 0;
		*eof = false;
		return;
	}
	chunkq_peek(&s->in, p, len);
	*eof = s->eof_in && s->in.len == 0 && s->st != ST_RESET;
}

void
mesh_stream_read_consume(struct mesh_stream *s, size_t n)
{
	struct mesh_conn *c = s->c;

	if (n > s->in.len)
		n = s->in.len;
	if (n == 0 || s->in_gone)
		return;
	chunkq_consume(&s->in, &c->pool, n);
	in_released(c, n);
	if (s->h2 && s->id > 0)
		nghttp2_session_consume_stream(c->h2, s->id, n);
}

size_t
mesh_stream_read_pending(const struct mesh_stream *s)
{
	return s->in_gone ? 0 : s->in.len;
}

int
mesh_stream_reset(struct mesh_stream *s)
{
	struct mesh_conn *c = s->c;

	if (s->st == ST_RESET)
		return 0;
	if (s->h2 && s->id > 0 && !s->rst_sent) {
		nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id,
		    !s->http ? NGHTTP2_CONNECT_ERROR : s->client ?
		    NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR);
		s->rst_sent = true;
	}
	/* The agent asked for it: no event back. */
	s->st = ST_RESET;
	chunkq_clear(&s->out, &c->pool);
	stream_forget_in(s);
	return 0;
}

void
mesh_stream_close(struct mesh_stream *s)
{
	bool finished = s->shut && s->eof_in;

	if (!s->agent)
		return;
	if (s->http && !s->client && s->st == ST_OPEN && s->shut && !finished &&
	    s->h2) {
		/* The whole response is queued; the rest of the request is
		 * not wanted: once the response is out, the client is asked
		 * to stop sending (on_frame_send), not told of an error. */
		if (!s->end_out)
			s->rst_after_end = true;
		else if (!s->rst_sent) {
			nghttp2_submit_rst_stream(s->c->h2, NGHTTP2_FLAG_NONE,
			    s->id, NGHTTP2_NO_ERROR);
			s->rst_sent = true;
		}
	} else if (s->st != ST_RESET && s->st != ST_REFUSED && !finished) {
		mesh_stream_reset(s);
	}
	s->agent = false;
	if (s->queued) {
		list_remove(&s->ev_link);
		s->queued = false;
		s->ev = 0;
	}
	stream_drop_in(s);
	maybe_free(s);
}

void
mesh_stream_set_user(struct mesh_stream *s, void *user)
{
	s->user = user;
}

void *
mesh_stream_user(const struct mesh_stream *s)
{
	return s->user;
}

struct mesh_conn *
mesh_stream_conn(const struct mesh_stream *s)
{
	return s->c;
}

const char *
mesh_stream_service(const struct mesh_stream *s)
{
	return s->service;
}

const struct table *
mesh_stream_table(const struct mesh_stream *s)
{
	return s->table;
}

int32_t
mesh_stream_id(const struct mesh_stream *s)
{
	return s->id > 0 ? s->id : 0;
}

/* ---- HTTP streams ---- */

/*
 * The request head as sent: the agent's pseudo-fields (each once, first,
 * :method not CONNECT, :scheme and :path present), its fields but
 * weft-* other than weft-upgrade, then weft-service.  Into c->nv_out,
 * pointing at nv and service.
 */
static int
request_nv(struct mesh_conn *c, const char *service, const nghttp2_nv *nv,
           size_t n, size_t *out_n)
{
	static const char *const pseudo[] = {":method", ":scheme",
	    ":authority", ":path"};
	unsigned seen = 0;
	size_t k = 0, i = 0, bytes;

	if (c->nv_out == NULL && (c->nv_out = malloc(
	    (MESH_HEADER_FIELDS_MAX + 1) * sizeof(*c->nv_out))) == NULL)
		return WEFT_ENOMEM;
	for (; i < n && nv[i].namelen > 0 && nv[i].name[0] == ':'; i++) {
		size_t j = 0;

		while (j < 4 && !is_name(nv[i].name, nv[i].namelen, pseudo[j]))
			j++;
		if (j == 4 || (seen & (1u << j)) || nv[i].valuelen == 0 ||
		    !nghttp2_check_header_value(nv[i].value, nv[i].valuelen))
			return WEFT_EINVAL;
		if (j == 0 && is_name(nv[i].value, nv[i].valuelen, "CONNECT"))
			return WEFT_EINVAL; /* mesh_stream_open() */
		seen |= 1u << j;
		if (k == MESH_HEADER_FIELDS_MAX)
			return WEFT_ETOOBIG;
		c->nv_out[k++] = nv[i];
	}
	if ((seen & 0xb) != 0xb)
		return WEFT_EINVAL; /* :method, :scheme and :path */
	for (; i < n; i++) {
		if (!weft_kept(nv[i].name, nv[i].namelen))
			continue;
		if (!field_ok(&nv[i], BLOCK_REQUEST) &&
		    !is_name(nv[i].name, nv[i].namelen, MESH_UPGRADE_HEADER))
			return WEFT_EINVAL;
		if (is_name(nv[i].name, nv[i].namelen, MESH_UPGRADE_HEADER) &&
		    (nv[i].valuelen == 0 ||
		    !nghttp2_check_header_value(nv[i].value, nv[i].valuelen)))
			return WEFT_EINVAL;
		if (k == MESH_HEADER_FIELDS_MAX)
			return WEFT_ETOOBIG;
		c->nv_out[k++] = nv[i];
	}
	bytes = sizeof(MESH_SERVICE_HEADER) - 1 + strlen(service);
	if (!block_fits(c->nv_out, k, 1, bytes))
		return WEFT_ETOOBIG;
	c->nv_out[k++] = (nghttp2_nv){(uint8_t *)MESH_SERVICE_HEADER,
	    (uint8_t *)service, sizeof(MESH_SERVICE_HEADER) - 1,
	    strlen(service), NGHTTP2_NV_FLAG_NONE};
	*out_n = k;
	return 0;
}

int
mesh_request_open(struct mesh_conn *c, const char *service,
                  const nghttp2_nv *nv, size_t n, bool end_stream, void *user,
                  struct mesh_stream **out)
{
	struct mesh_stream *s;
	const struct session_peer *p;
	size_t k = 0;
	int rc;

	*out = NULL;
	if (service == NULL || !cert_name_valid(service) || nv == NULL)
		return WEFT_EINVAL;
	if (!c->initiator || !mesh_conn_can_open(c))
		return WEFT_ESTATE;
	p = session_peer(c->sess);
	if (p != NULL && !cert_allows_service(p->cert, service))
		return WEFT_EPOLICY;
	if ((s = stream_new(c, true)) == NULL)
		return WEFT_ENOMEM;
	/* weft-service points at the stream's own copy of the name. */
	weft_str_copy(s->service, sizeof(s->service), service);
	if ((rc = request_nv(c, s->service, nv, n, &k)) != 0) {
		maybe_free(s);
		return rc;
	}
	s->user = user;
	s->agent = true;
	s->http = true;
	c->n_client++;
	if (end_stream) {
		s->shut = true;
		s->end_sent = true;
	}
	s->st = ST_PENDING;
	if (c->state == MESH_CONN_OPEN) {
		s->req_n = k;
		rc = submit_stream(c, s);
	} else if ((s->req = hblock_copy(c, c->nv_out, k)) == NULL) {
		rc = WEFT_ENOMEM;
	}
	if (rc != 0) {
		s->agent = false;
		if (s->queued) {
			list_remove(&s->ev_link);
			s->queued = false;
		}
		maybe_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int
mesh_stream_head(const struct mesh_stream *s, const nghttp2_nv **nv,
                 size_t *n)
{
	if (s->head == NULL) {
		*nv = NULL;
		*n = 0;
		return WEFT_ESTATE;
	}
	*nv = s->head->nv;
	*n = s->head->n;
	return 0;
}

int
mesh_stream_trailers(const struct mesh_stream *s, const nghttp2_nv **nv,
                     size_t *n)
{
	*nv = s->trailers != NULL ? s->trailers->nv : NULL;
	*n = s->trailers != NULL ? s->trailers->n : 0;
	return 0;
}

int
mesh_stream_respond(struct mesh_stream *s, const nghttp2_nv *nv, size_t n,
                    bool end_stream)
{
	struct mesh_conn *c = s->c;
	nghttp2_data_provider prd;
	int status = 0;

	if (s->client || !s->agent || !s->http || nv == NULL || n == 0)
		return WEFT_EINVAL;
	if (s->st != ST_CONNECTING)
		return s->st == ST_RESET ? WEFT_ECLOSED : WEFT_ESTATE;
	if (!is_name(nv[0].name, nv[0].namelen, ":status") ||
	    nv[0].valuelen != 3)
		return WEFT_EINVAL;
	for (size_t i = 0; i < 3; i++) {
		if (nv[0].value[i] < '0' || nv[0].value[i] > '9')
			return WEFT_EINVAL;
		status = status * 10 + (nv[0].value[i] - '0');
	}
	if (status < 200 || status > 599)
		return WEFT_EINVAL;
	for (size_t i = 1; i < n; i++)
		if (!field_ok(&nv[i], BLOCK_RESPONSE))
			return WEFT_EINVAL;
	if (!block_fits(nv, n, 0, 0))
		return WEFT_ETOOBIG;
	if (!end_stream)
		provide(s, &prd);
	if (nghttp2_submit_response(c->h2, s->id, nv, n, end_stream ? NULL :
	    &prd) != 0) {
		s->providing = false;
		return WEFT_ENOMEM;
	}
	s->status = status;
	s->st = ST_OPEN;
	if (end_stream) {
		s->shut = true;
		s->end_sent = true;
	}
	return 0;
}

int
mesh_stream_end_trailers(struct mesh_stream *s, const nghttp2_nv *nv,
                         size_t n)
{
	if (!s->http)
		return WEFT_EINVAL;
	if (n == 0)
		return mesh_stream_shutdown_write(s);
	if (!writable_state(s) || s->shut)
		return WEFT_ECLOSED;
	if (!s->client && s->st == ST_CONNECTING)
		return WEFT_ESTATE;
	if (nv == NULL || !trailers_ok(nv, n))
		return WEFT_EINVAL;
	if (!block_fits(nv, n, 0, 0))
		return WEFT_ETOOBIG;
	if ((s->trl_out = hblock_copy(s->c, nv, n)) == NULL)
		return WEFT_ENOMEM;
	s->shut = true;
	s->want_writable = false;
	resume(s);
	return 0;
}
