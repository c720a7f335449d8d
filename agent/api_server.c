/*
 * The local API server on libuv.  The protocol lives in api.c and
 * api_http.c; this file owns the socket file, the client handles, their
 * buffers and timers, and nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/api_server.h"
#include "common/err.h"

/* One read's worth; everything read is consumed before the next read. */
#define READ_BUF 16384
/* Output buffers that grew for one big answer give the memory back. */
#define OUT_KEEP (64u * 1024u)

struct api_client {
	struct list link;
	struct api_server *s;
	uv_pipe_t pipe;
	uv_timer_t timer;
	uv_write_t wreq;
	struct api_conn conn;
	/* out[fill] collects answers while out[fill ^ 1] is being written:
	 * libuv needs a buffer untouched until its write callback. */
	struct api_out out[2];
	int fill;
	bool writing;
	bool reading;
	bool conn_init;
	bool timer_init;
	bool closing;
	unsigned open_handles;
	uint32_t uid;
	char rbuf[READ_BUF];
};

static void client_close(struct api_client *c);
static void flush(struct api_client *c);

static void
finish_close(struct api_server *s)
{
	void (*cb)(struct api_server *);

	if (!s->closing || s->listener_init || s->nclients > 0)
		return;
	cb = s->close_cb;
	s->close_cb = NULL;
	if (cb != NULL)
		cb(s);
}

static void
on_client_handle_closed(uv_handle_t *h)
{
	struct api_client *c = h->data;
	struct api_server *s = c->s;

	if (--c->open_handles > 0)
		return;
	list_remove(&c->link);
	s->nclients--;
	if (c->closing)
		s->nclosing--;
	if (c->conn_init)
		api_conn_fini(&c->conn);
	api_out_free(&c->out[0]);
	api_out_free(&c->out[1]);
	free(c);
	finish_close(s);
}

static void
client_close(struct api_client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->s->nclosing++;
	if (c->timer_init)
		uv_close((uv_handle_t *)&c->timer, on_client_handle_closed);
	uv_close((uv_handle_t *)&c->pipe, on_client_handle_closed);
}

static void
on_timeout(uv_timer_t *t)
{
	struct api_client *c = t->data;

	weft_logf(c->s->log, WEFT_LOG_DEBUG,
	          "msg=\"api client cut off\" reason=%s uid=%u",
	          api_http_in_request(&c->conn.http) ? "slow_request" : "idle",
	          (unsigned)c->uid);
	client_close(c);
}

static void
arm_timer(struct api_client *c)
{
	uv_timer_start(&c->timer, on_timeout, c->s->opts.timeout_ms, 0);
}

static size_t
pending(const struct api_client *c)
{
	return c->out[c->fill].len;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void
read_start(struct api_client *c)
{
	if (c->reading || c->closing)
		return;
	if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0) {
		client_close(c);
		return;
	}
	c->reading = true;
}

static void
read_stop(struct api_client *c)
{
	if (!c->reading)
		return;
	uv_read_stop((uv_stream_t *)&c->pipe);
	c->reading = false;
}

static void
on_write(uv_write_t *req, int status)
{
	struct api_client *c = req->data;
	struct api_out *done = &c->out[c->fill ^ 1];

	c->writing = false;
	done->len = 0;
	api_out_shrink(done, OUT_KEEP);
	if (c->closing)
		return;
	if (status < 0) {
		client_close(c);
		return;
	}
	flush(c);
	/* Reading was paused because the client did not take its answers;
	 * it may go on once they are mostly gone. */
	if (!c->closing && !c->conn.closing &&
	    pending(c) < c->s->opts.max_pending / 2)
		read_start(c);
}

static void
flush(struct api_client *c)
{
	struct api_out *o = &c->out[c->fill];
	uv_buf_t b;

	if (c->closing || c->writing)
		return;
	if (o->len == 0) {
		if (c->conn.closing) /* the last answer is out */
			client_close(c);
		return;
	}
	b = uv_buf_init(o->data, (unsigned)o->len);
	c->writing = true;
	c->fill ^= 1;
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->pipe, &b, 1, on_write) != 0) {
		c->writing = false;
		client_close(c);
	}
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct api_client *c = h->data;

	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct api_client *c = st->data;
	unsigned long before = c->conn.requests;

	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		/* End of input: answers already queued still go out. */
		read_stop(c);
		if (nread == UV_EOF && !c->conn.stream) {
			c->conn.closing = true;
			flush(c);
		} else {
			client_close(c);
		}
		return;
	}
	if (c->conn.stream) /* read only to notice the client leaving */
		return;
	if (api_conn_feed(&c->conn, &c->s->table, buf->base, (size_t)nread,
	                  &c->out[c->fill]) != 0) {
		weft_logf(c->s->log, WEFT_LOG_WARN,
		          "msg=\"api answer could not be built\" uid=%u",
		          (unsigned)c->uid);
		client_close(c);
		return;
	}
	if (c->conn.error_status != 0) {
		const char *reason;

		api_http_error(&c->conn.http, &reason);
		weft_logf(c->s->log, WEFT_LOG_DEBUG, "msg=\"api request refused\" "
		          "status=%d reason=\"%s\" uid=%u", c->conn.error_status,
		          reason, (unsigned)c->uid);
	}
	if (c->conn.stream) {
		uv_timer_stop(&c->timer);
		weft_logf(c->s->log, WEFT_LOG_DEBUG,
		          "msg=\"api event stream opened\" uid=%u",
		          (unsigned)c->uid);
	} else if (c->conn.requests != before) {
		arm_timer(c);
	}
	if (c->conn.closing || pending(c) > c->s->opts.max_pending)
		read_stop(c);
	flush(c);
}

static int
peer_uid(uv_pipe_t *p, uint32_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)p, &fd) != 0)
		return WEFT_EIO;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    len != sizeof(cred))
		return WEFT_EIO;
	*uid = (uint32_t)cred.uid;
	return 0;
}

/*
 * The table is full and c wants in.  Idle clients hold a slot for
 * nothing, so the one idle longest gives way; when none is idle, the
 * socket's owner or root may still displace the oldest client of another
 * uid.  Without this, the socket's group could keep the operator's CLI
 * out with a handful of idle connections.
 */
static bool
make_room(struct api_server *s, const struct api_client *c)
{
	bool privileged = c->uid == 0 || c->uid == s->table.owner_uid;
	struct api_client *idle = NULL, *other = NULL, *o;
	struct list *pos;

	list_foreach(pos, &s->clients) {
		o = list_entry(pos, struct api_client, link);
		if (o == c || o->closing)
			continue;
		if (idle == NULL && o->conn_init && !o->conn.stream &&
		    !o->writing && pending(o) == 0 &&
		    !api_http_in_request(&o->conn.http))
			idle = o;
		if (other == NULL && o->uid != 0 && o->uid != s->table.owner_uid)
			other = o;
	}
	if (idle == NULL && privileged)
		idle = other;
	if (idle == NULL)
		return false;
	weft_logf(s->log, WEFT_LOG_INFO, "msg=\"api client displaced\" "
	          "reason=too_many_clients uid=%u by_uid=%u",
	          (unsigned)idle->uid, (unsigned)c->uid);
	s->displaced++;
	client_close(idle);
	return true;
}

static void
on_connection(uv_stream_t *l, int status)
{
	struct api_server *s = l->data;
	struct api_http_limits lim = {s->opts.max_header, s->opts.max_body};
	struct api_client *c;

	if (status < 0) {
		weft_logf(s->log, WEFT_LOG_WARN, "msg=\"api accept failed\" "
		          "error=\"%s\"", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		weft_logf(s->log, WEFT_LOG_ERROR,
		          "msg=\"api client refused\" reason=out_of_memory");
		return;
	}
	c->s = s;
	uv_pipe_init(s->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->open_handles = 1;
	list_insert_tail(&s->clients, &c->link);
	s->nclients++;
	if (uv_accept(l, (uv_stream_t *)&c->pipe) != 0) {
		client_close(c);
		return;
	}
	if (peer_uid(&c->pipe, &c->uid) != 0) {
		client_close(c);
		return;
	}
	if (s->nclients - s->nclosing > s->opts.max_conns &&
	    !make_room(s, c)) {
		s->refused++;
		weft_logf(s->log, WEFT_LOG_WARN, "msg=\"api client refused\" "
		          "reason=too_many_clients max=%u uid=%u",
		          s->opts.max_conns, (unsigned)c->uid);
		client_close(c);
		return;
	}
	if (api_conn_init(&c->conn, &lim, c->uid) != 0) {
		client_close(c);
		return;
	}
	c->conn_init = true;
	uv_timer_init(s->loop, &c->timer);
	c->timer.data = c;
	c->timer_init = true;
	c->open_handles++;
	arm_timer(c);
	read_start(c);
}

static int
errno_to_weft(int e)
{
	switch (e) {
	case EACCES:
	case EPERM:
	case EROFS: return WEFT_EPERM;
	case EEXIST:
	case EADDRINUSE: return WEFT_EEXIST;
	case ENAMETOOLONG: return WEFT_ETOOBIG;
	default: return WEFT_EIO;
	}
}

static int
set_error(struct api_server *s, int rc, const char *what, int e)
{
	snprintf(s->error, sizeof(s->error), "api socket %s: %s: %s", s->path,
	         what, strerror(e));
	return rc;
}

/* mkdir -p of path's directory, each created level 0755. */
static int
make_parent(struct api_server *s)
{
	char dir[sizeof(s->path)];
	char *slash;
	struct stat st;

	memcpy(dir, s->path, sizeof(dir));
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;

			*p = '\0';
			if (mkdir(dir, 0755) == 0) {
				/* The umask must not lock the socket's group out. */
				if (chmod(dir, 0755) != 0)
					return set_error(s, errno_to_weft(errno),
					                 "cannot set its directory's mode",
					                 errno);
			} else if (errno != EEXIST) {
				return set_error(s, errno_to_weft(errno),
				                 "cannot create its directory", errno);
			}
			*p = saved;
			if (saved == '\0')
				break;
		}
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return set_error(s, WEFT_EIO, "its directory is not a directory",
		                 ENOTDIR);
	return 0;
}

/*
 * A socket file left by an agent that died is removed; one that answers
 * belongs to a live agent and is left alone, as is anything that is not a
 * socket.  A non-blocking connect tells the two apart without waiting:
 * ECONNREFUSED means nobody listens, EAGAIN a full backlog of a live one.
 */
static int
clear_stale(struct api_server *s)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc, e;

	if (lstat(s->path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return set_error(s, errno_to_weft(errno), "cannot inspect it",
		                 errno);
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(s->error, sizeof(s->error), "api socket %s: exists and "
		         "is not a socket; refusing to replace it", s->path);
		return WEFT_EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return set_error(s, WEFT_EIO, "cannot probe it", errno);
	memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	close(fd);
	if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
		snprintf(s->error, sizeof(s->error), "api socket %s: another "
		         "agent is listening on it", s->path);
		return WEFT_EEXIST;
	}
	if (e != ECONNREFUSED)
		return set_error(s, errno_to_weft(e), "cannot probe it", e);
	if (unlink(s->path) != 0 && errno != ENOENT)
		return set_error(s, errno_to_weft(errno),
		                 "cannot remove the stale socket", errno);
	weft_logf(s->log, WEFT_LOG_INFO, "msg=\"removed stale api socket\" "
	          "path=%s", s->path);
	return 0;
}

static void
on_listener_closed(uv_handle_t *h)
{
	struct api_server *s = h->data;

	s->listener_init = false;
	finish_close(s);
}

int
api_server_start(struct api_server *s, uv_loop_t *loop, const char *path,
                 int group_gid, const struct api_route *routes, size_t n,
                 void *ctx)
{
	struct stat st;
	int rc;

	s->error[0] = '\0';
	s->loop = loop;
	s->bound = false;
	s->closing = false;
	s->nclients = 0;
	s->refused = 0;
	s->close_cb = NULL;
	list_init(&s->clients);
	api_out_init(&s->scratch);
	s->table = (struct api_table){routes, n, ctx, 0};
	if (s->opts.timeout_ms == 0)
		s->opts.timeout_ms = API_SERVER_TIMEOUT_MS_DEFAULT;
	if (s->opts.max_conns == 0)
		s->opts.max_conns = API_SERVER_MAX_CONNS_DEFAULT;
	if (s->opts.max_pending == 0)
		s->opts.max_pending = API_SERVER_MAX_PENDING_DEFAULT;
	/* Initialised first so that every outcome ends the same way, with
	 * api_server_close() and its callback from the loop. */
	uv_pipe_init(loop, &s->listener, 0);
	s->listener.data = s;
	s->listener_init = true;
	s->path[0] = '\0';
	if (strlen(path) >= sizeof(s->path) || path[0] == '\0') {
		snprintf(s->error, sizeof(s->error), "api socket path is empty "
		         "or longer than %zu bytes", sizeof(s->path) - 1);
		return WEFT_ETOOBIG;
	}
	memcpy(s->path, path, strlen(path) + 1);
	if ((rc = make_parent(s)) || (rc = clear_stale(s)))
		return rc;
	rc = uv_pipe_bind(&s->listener, s->path);
	if (rc != 0)
		return set_error(s, errno_to_weft(-rc), "cannot bind", -rc);
	if (lstat(s->path, &st) != 0)
		return set_error(s, WEFT_EIO, "cannot stat it", errno);
	s->bound = true;
	s->table.owner_uid = (uint32_t)st.st_uid;
	s->sock_dev = (uint64_t)st.st_dev;
	s->sock_ino = (uint64_t)st.st_ino;
	/* Nobody can connect before listen, so the mode is right before the
	 * first client arrives. */
	if (chmod(s->path, 0660) != 0)
		return set_error(s, errno_to_weft(errno), "cannot set mode 0660",
		                 errno);
	if (group_gid >= 0 && chown(s->path, (uid_t)-1, (gid_t)group_gid) != 0)
		return set_error(s, errno_to_weft(errno),
		                 "cannot give it to the configured group", errno);
	rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
	if (rc != 0)
		return set_error(s, errno_to_weft(-rc), "cannot listen", -rc);
	weft_logf(s->log, WEFT_LOG_INFO, "msg=\"api listening\" path=%s "
	          "owner_uid=%u", s->path, (unsigned)st.st_uid);
	return 0;
}

int
api_server_broadcast_event(struct api_server *s, const json_t *ev)
{
	struct list *pos;
	int rc, count = 0;

	if (s->closing)
		return 0;
	s->scratch.len = 0;
	if ((rc = api_put_event(&s->scratch, ev)))
		return rc;
	list_foreach(pos, &s->clients) {
		struct api_client *c = list_entry(pos, struct api_client, link);

		if (c->closing || !c->conn.stream)
			continue;
		if (pending(c) + s->scratch.len > s->opts.max_pending ||
		    api_out_put(&c->out[c->fill], s->scratch.data,
		                s->scratch.len) != 0) {
			weft_logf(s->log, WEFT_LOG_WARN, "msg=\"api event client "
			          "cut off\" reason=too_slow uid=%u",
			          (unsigned)c->uid);
			client_close(c);
			continue;
		}
		flush(c);
		count++;
	}
	s->scratch.len = 0;
	api_out_shrink(&s->scratch, OUT_KEEP);
	return count;
}

void
api_server_close(struct api_server *s, void (*cb)(struct api_server *s))
{
	struct list *pos;

	s->close_cb = cb;
	s->closing = true;
	list_foreach(pos, &s->clients)
		client_close(list_entry(pos, struct api_client, link));
	if (s->listener_init && !uv_is_closing((uv_handle_t *)&s->listener))
		uv_close((uv_handle_t *)&s->listener, on_listener_closed);
	if (s->bound) {
		struct stat st;

		/* Only our own file: a new agent may have replaced it. */
		if (lstat(s->path, &st) == 0 && (uint64_t)st.st_dev == s->sock_dev &&
		    (uint64_t)st.st_ino == s->sock_ino)
			unlink(s->path);
		s->bound = false;
	}
	api_out_free(&s->scratch);
	finish_close(s);
}

unsigned
api_server_clients(const struct api_server *s)
{
	unsigned n = 0;
	const struct list *pos;

	list_foreach(pos, &s->clients) {
		const struct api_client *c =
		        list_entry(pos, const struct api_client, link);

		n += !c->closing;
	}
	return n;
}
