/*
 * One run of a health check on the loop: an HTTP GET, a TCP connect, a
 * gRPC health call over h2c, or a command.  Every run has a timeout; a
 * run ends by reporting one result, then closes its handles and frees
 * itself from the last close callback.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "agent/agent.h"
#include "agent/health_int.h"
#include "common/err.h"

/* Bytes of a reply kept: enough for a status line, headers and a body
 * excerpt for the output. */
#define RUN_BUF 4096
/* After a command exits, how long its pipes may still deliver output. */
#define DRAIN_MS 200

struct hrun {
	struct hcheck *c; /* NULL once cancelled */
	enum hkind kind;
	bool done;        /* the result went out (or was cancelled) */
	unsigned open;    /* handles not closed yet */
	uv_timer_t timer;
	uv_tcp_t tcp;
	bool tcp_init;
	uv_connect_t creq;
	uv_process_t proc;
	bool proc_init, exited, timed_out, draining;
	int64_t exit_status;
	int term_signal;
	uv_pipe_t out[2];
	bool out_init[2], out_eof[2];
	nghttp2_session *h2;
	int32_t stream;
	int http_status;
	int grpc_status;
	char grpc_message[128];
	const uint8_t *req;
	size_t req_len, req_off;
	uint8_t reqbuf[192];
	char buf[RUN_BUF + 1];
	size_t len;
	char scratch[16384];
};

struct wreq {
	uv_write_t req;
	size_t len;
	char data[];
};

static void on_handle_closed(uv_handle_t *h);

static void
close_handle(struct hrun *r, uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, on_handle_closed);
}

static void
on_handle_closed(uv_handle_t *h)
{
	struct hrun *r = h->data;

	if (--r->open > 0)
		return;
	if (r->h2)
		nghttp2_session_del(r->h2);
	free(r);
}

/* Closes what may be closed; a command still running keeps its process
 * handle until it has been reaped (exit callback). */
static void
close_all(struct hrun *r)
{
	uv_timer_stop(&r->timer);
	close_handle(r, (uv_handle_t *)&r->timer);
	if (r->tcp_init)
		close_handle(r, (uv_handle_t *)&r->tcp);
	for (int i = 0; i < 2; i++)
		if (r->out_init[i])
			close_handle(r, (uv_handle_t *)&r->out[i]);
	if (r->proc_init && r->exited)
		close_handle(r, (uv_handle_t *)&r->proc);
}

/* The command and whatever it started (its own process group); the pid
 * too, in case it had not made its group yet. */
static void
kill_tree(struct hrun *r)
{
	kill(-r->proc.pid, SIGKILL);
	uv_process_kill(&r->proc, SIGKILL);
}

static void exec_maybe_done(struct hrun *r);
static void finish(struct hrun *r, enum health_status s, const char *fmt, ...)
	WEFT_PRINTF(3, 4);

static void
finish(struct hrun *r, enum health_status s, const char *fmt, ...)
{
	char out[HEALTH_OUTPUT_MAX];
	va_list ap;

	if (r->done)
		return;
	r->done = true;
	va_start(ap, fmt);
	vsnprintf(out, sizeof(out), fmt, ap);
	va_end(ap);
	if (r->c)
		hcheck_result(r->c, s, out);
	r->c = NULL;
	if (r->proc_init && !r->exited)
		kill_tree(r);
	close_all(r);
}

void
hrun_cancel(struct hrun *r)
{
	r->c = NULL;
	finish(r, HEALTH_UNKNOWN, "cancelled");
}

static int
send_bytes(struct hrun *r, const void *p, size_t n);

/* ---- timers and sockets ---- */

static void
out_append(struct hrun *r, const char *p, size_t n)
{
	if (n > RUN_BUF - r->len)
		n = RUN_BUF - r->len;
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = '\0';
}

static void
http_conclude(struct hrun *r, bool timed_out)
{
	struct hcheck *c = r->c;
	const char *body, *eol;
	char line[128] = "";
	int st;

	if (health_http_status(r->buf, r->len, &st) != 0) {
		if (timed_out)
			finish(r, HEALTH_CRITICAL, "GET %s: no answer within %lld ms",
			       c->target, (long long)c->timeout_ms);
		else
			finish(r, HEALTH_CRITICAL, "GET %s: the reply is not HTTP",
			       c->target);
		return;
	}
	eol = strstr(r->buf, "\r\n");
	snprintf(line, sizeof(line), "%.*s",
	         eol ? (int)(eol - r->buf) : (int)r->len, r->buf);
	body = strstr(r->buf, "\r\n\r\n");
	body = body ? body + 4 : "";
	finish(r, health_http_result(st), "GET %s: %s%s%.300s", c->target, line,
	       *body ? "\n" : "", body);
}

static void
on_timeout(uv_timer_t *t)
{
	struct hrun *r = t->data;
	struct hcheck *c = r->c;

	if (r->done || c == NULL)
		return;
	switch (r->kind) {
	case HK_HTTP:
		http_conclude(r, true);
		break;
	case HK_EXEC:
		if (r->exited) { /* only the drain was left */
			r->out_eof[0] = r->out_eof[1] = true;
			exec_maybe_done(r);
			break;
		}
		r->timed_out = true;
		finish(r, HEALTH_CRITICAL, "%s: timed out after %lld ms, "
		       "killed%s%s", c->target, (long long)c->timeout_ms,
		       r->len ? "; output: " : "", r->buf);
		break;
	default:
		finish(r, HEALTH_CRITICAL, "%s: no answer within %lld ms",
		       c->target, (long long)c->timeout_ms);
		break;
	}
}

static void
on_write(uv_write_t *req, int status)
{
	struct hrun *r = req->data;

	free(req);
	if (status < 0 && !r->done && r->c)
		finish(r, HEALTH_CRITICAL, "%s: send failed: %s", r->c->target,
		       uv_strerror(status));
}

static int
send_bytes(struct hrun *r, const void *p, size_t n)
{
	struct wreq *w = malloc(sizeof(*w) + n);
	uv_buf_t b;
	int rc;

	if (w == NULL)
		return WEFT_ENOMEM;
	memcpy(w->data, p, n);
	w->len = n;
	w->req.data = r;
	b = uv_buf_init(w->data, (unsigned)n);
	rc = uv_write(&w->req, (uv_stream_t *)&r->tcp, &b, 1, on_write);
	if (rc) {
		free(w);
		return WEFT_EIO;
	}
	return 0;
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct hrun *r = h->data;

	(void)hint;
	*b = uv_buf_init(r->scratch, sizeof(r->scratch));
}

/* ---- grpc over h2c ---- */

static int grpc_pump(struct hrun *r);

static void
grpc_conclude(struct hrun *r)
{
	struct hcheck *c = r->c;
	static const char *const names[] = {"UNKNOWN", "SERVING", "NOT_SERVING",
	                                    "SERVICE_UNKNOWN"};
	unsigned serving;

	if (r->http_status != 200) {
		finish(r, HEALTH_CRITICAL, "%s: HTTP status %d", c->target,
		       r->http_status);
	} else if (r->grpc_status > 0) {
		finish(r, HEALTH_CRITICAL, "%s: grpc-status %d %s", c->target,
		       r->grpc_status, r->grpc_message);
	} else if (health_grpc_response((const uint8_t *)r->buf, r->len,
	                                &serving) != 0) {
		finish(r, HEALTH_CRITICAL, "%s: the reply is not a "
		       "HealthCheckResponse", c->target);
	} else {
		finish(r, serving == 1 ? HEALTH_PASSING : HEALTH_CRITICAL,
		       "%s: %s", c->target, names[serving]);
	}
}

static int
h2_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
             size_t namelen, const uint8_t *value, size_t valuelen,
             uint8_t flags, void *ud)
{
	struct hrun *r = ud;
	char v[128];

	(void)s;
	(void)f;
	(void)flags;
	snprintf(v, sizeof(v), "%.*s", (int)valuelen, (const char *)value);
	if (namelen == 7 && memcmp(name, ":status", 7) == 0)
		r->http_status = atoi(v);
	else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0)
		r->grpc_status = atoi(v);
	else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0)
		snprintf(r->grpc_message, sizeof(r->grpc_message), "%s", v);
	return 0;
}

static int
h2_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
           size_t len, void *ud)
{
	struct hrun *r = ud;

	(void)s;
	(void)flags;
	if (id == r->stream)
		out_append(r, (const char *)data, len);
	return 0;
}

static int
h2_on_close(nghttp2_session *s, int32_t id, uint32_t err, void *ud)
{
	struct hrun *r = ud;

	(void)s;
	if (id != r->stream || r->done || r->c == NULL)
		return 0;
	if (err != NGHTTP2_NO_ERROR)
		finish(r, HEALTH_CRITICAL, "%s: stream reset (%s)", r->c->target,
		       nghttp2_http2_strerror(err));
	else
		grpc_conclude(r);
	return 0;
}

static ssize_t
h2_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
             uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct hrun *r = ud;
	size_t n = r->req_len - r->req_off;

	(void)s;
	(void)id;
	(void)src;
	if (n > len)
		n = len;
	memcpy(buf, r->req + r->req_off, n);
	r->req_off += n;
	if (r->req_off == r->req_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int
grpc_pump(struct hrun *r)
{
	for (;;) {
		const uint8_t *p;
		ssize_t n = nghttp2_session_mem_send(r->h2, &p);

		if (n < 0)
			return WEFT_EIO;
		if (n == 0)
			return 0;
		if (send_bytes(r, p, (size_t)n))
			return WEFT_EIO;
	}
}

static int
grpc_begin(struct hrun *r)
{
	struct hcheck *c = r->c;
	nghttp2_session_callbacks *cb;
	char path[] = "/grpc.health.v1.Health/Check";
	nghttp2_nv nva[] = {
		{(uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0},
		{(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
		{(uint8_t *)":path", (uint8_t *)path, 5, sizeof(path) - 1, 0},
		{(uint8_t *)":authority", (uint8_t *)c->authority, 10,
		 strlen(c->authority), 0},
		{(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16,
		 0},
		{(uint8_t *)"te", (uint8_t *)"trailers", 2, 8, 0},
	};
	nghttp2_data_provider prd = {.read_callback = h2_read_body};
	int rc;

	r->req_len = health_grpc_request(c->grpc_service, r->reqbuf,
	                                 sizeof(r->reqbuf));
	r->req = r->reqbuf;
	if (r->req_len == 0)
		return WEFT_EINVAL;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return WEFT_ENOMEM;
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	                                                          h2_on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_on_close);
	rc = nghttp2_session_client_new(&r->h2, cb, r);
	nghttp2_session_callbacks_del(cb);
	if (rc != 0)
		return WEFT_ENOMEM;
	if (nghttp2_submit_settings(r->h2, NGHTTP2_FLAG_NONE, NULL, 0) != 0)
		return WEFT_EIO;
	r->stream = nghttp2_submit_request(r->h2, NULL, nva,
	                                   sizeof(nva) / sizeof(nva[0]), &prd,
	                                   r);
	if (r->stream < 0)
		return WEFT_EIO;
	return grpc_pump(r);
}

/* ---- tcp-based runs ---- */

static void
on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct hrun *r = st->data;

	if (r->done || r->c == NULL)
		return;
	if (n == 0)
		return;
	if (r->kind == HK_GRPC) {
		if (n < 0) {
			finish(r, HEALTH_CRITICAL, "%s: connection closed before "
			       "the answer (%s)", r->c->target, uv_strerror((int)n));
			return;
		}
		if (nghttp2_session_mem_recv(r->h2, (const uint8_t *)b->base,
		                             (size_t)n) < 0 ||
		    (!r->done && grpc_pump(r) != 0)) {
			if (r->c)
				finish(r, HEALTH_CRITICAL, "%s: HTTP/2 error (is it "
				       "an h2c gRPC server?)", r->c->target);
		}
		return;
	}
	/* http */
	if (n < 0) {
		http_conclude(r, false);
		return;
	}
	out_append(r, b->base, (size_t)n);
	if (r->len == RUN_BUF)
		http_conclude(r, false);
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct hrun *r = req->data;
	struct hcheck *c = r->c;
	char head[600];
	int n;

	if (r->done || c == NULL)
		return;
	if (status < 0) {
		finish(r, HEALTH_CRITICAL, "%s%s: connect: %s",
		       r->kind == HK_TCP ? "TCP " : "", c->target,
		       uv_strerror(status));
		return;
	}
	if (r->kind == HK_TCP) {
		finish(r, HEALTH_PASSING, "TCP connect %s: success", c->target);
		return;
	}
	if (uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read) != 0) {
		finish(r, HEALTH_CRITICAL, "%s: cannot read", c->target);
		return;
	}
	if (r->kind == HK_GRPC) {
		if (grpc_begin(r) != 0)
			finish(r, HEALTH_CRITICAL, "%s: cannot start the HTTP/2 "
			       "request", c->target);
		return;
	}
	n = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: %s\r\n"
	             "User-Agent: weft-health\r\nAccept: */*\r\n"
	             "Connection: close\r\n\r\n", c->path, c->authority);
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    send_bytes(r, head, (size_t)n) != 0)
		finish(r, HEALTH_CRITICAL, "%s: cannot send the request",
		       c->target);
}

static int
start_tcp(struct hrun *r)
{
	struct hcheck *c = r->c;
	int rc = uv_tcp_init(c->h->a->loop, &r->tcp);

	if (rc)
		return WEFT_EIO;
	r->tcp_init = true;
	r->open++;
	r->tcp.data = r;
	r->creq.data = r;
	rc = uv_tcp_connect(&r->creq, &r->tcp, (const struct sockaddr *)&c->addr,
	                    on_connect);
	if (rc)
		finish(r, HEALTH_CRITICAL, "%s: connect: %s", c->target,
		       uv_strerror(rc));
	return 0;
}

/* ---- exec ---- */

static enum health_status
exec_status(const struct hrun *r)
{
	if (r->term_signal)
		return HEALTH_CRITICAL;
	return r->exit_status == 0 ? HEALTH_PASSING
	       : r->exit_status == 1 ? HEALTH_WARNING
	                             : HEALTH_CRITICAL;
}

static void
exec_maybe_done(struct hrun *r)
{
	if (r->done || !r->exited || !r->out_eof[0] || !r->out_eof[1])
		return;
	if (r->term_signal)
		finish(r, HEALTH_CRITICAL, "killed by signal %d%s%s",
		       r->term_signal, r->len ? ": " : "", r->buf);
	else
		finish(r, exec_status(r), "exit %lld%s%s",
		       (long long)r->exit_status, r->len ? ": " : "", r->buf);
}

static void
on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct hrun *r = p->data;

	r->exited = true;
	r->exit_status = status;
	r->term_signal = sig;
	if (r->done) {
		close_handle(r, (uv_handle_t *)&r->proc);
		return;
	}
	close_handle(r, (uv_handle_t *)&r->proc);
	exec_maybe_done(r);
	if (!r->done && !r->draining) {
		/* A grandchild may hold the pipes open: wait a little. */
		r->draining = true;
		uv_timer_start(&r->timer, on_timeout, DRAIN_MS, 0);
	}
}

static void
on_pipe_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct hrun *r = st->data;
	int i = st == (uv_stream_t *)&r->out[0] ? 0 : 1;

	if (n > 0) {
		out_append(r, b->base, (size_t)n);
		return;
	}
	if (n == 0)
		return;
	r->out_eof[i] = true;
	uv_read_stop(st);
	exec_maybe_done(r);
}

static int
start_exec(struct hrun *r)
{
	struct hcheck *c = r->c;
	uv_loop_t *loop = c->h->a->loop;
	uv_process_options_t o;
	uv_stdio_container_t io[3];
	int rc;

	for (int i = 0; i < 2; i++) {
		if (uv_pipe_init(loop, &r->out[i], 0) != 0)
			return WEFT_EIO;
		r->out_init[i] = true;
		r->open++;
		r->out[i].data = r;
	}
	memset(&o, 0, sizeof(o));
	memset(io, 0, sizeof(io));
	io[0].flags = UV_IGNORE;
	io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	io[1].data.stream = (uv_stream_t *)&r->out[0];
	io[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	io[2].data.stream = (uv_stream_t *)&r->out[1];
	o.exit_cb = on_exit_cb;
	o.file = c->argv[0];
	o.args = c->argv;
	o.stdio = io;
	o.stdio_count = 3;
	/* Its own session and process group, so that a timeout kills
	 * whatever it started too. */
	o.flags = UV_PROCESS_DETACHED;
	r->proc.data = r;
	rc = uv_spawn(loop, &r->proc, &o);
	r->proc_init = true;
	r->open++;
	if (rc) {
		r->exited = true; /* nothing to reap */
		finish(r, HEALTH_CRITICAL, "cannot run %s: %s", c->argv[0],
		       uv_strerror(rc));
		return 0;
	}
	for (int i = 0; i < 2; i++)
		if (uv_read_start((uv_stream_t *)&r->out[i], on_alloc,
		                  on_pipe_read) != 0)
			r->out_eof[i] = true;
	return 0;
}

int
hrun_start(struct hcheck *c)
{
	struct hrun *r = calloc(1, sizeof(*r));
	int rc;

	if (r == NULL)
		return WEFT_ENOMEM;
	r->c = c;
	r->kind = c->kind;
	r->grpc_status = -1;
	uv_timer_init(c->h->a->loop, &r->timer);
	r->timer.data = r;
	r->open = 1;
	c->run = r;
	uv_timer_start(&r->timer, on_timeout, (uint64_t)c->timeout_ms, 0);
	rc = c->kind == HK_EXEC ? start_exec(r) : start_tcp(r);
	if (rc) {
		r->c = NULL;
		c->run = NULL;
		r->done = true;
		if (r->proc_init && !r->exited)
			kill_tree(r);
		close_all(r);
	}
	return rc;
}
