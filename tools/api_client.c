#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "tools/api_client.h"

int
api_socket_choose(const char *flag, const char *weft_socket,
                  const char *xdg_runtime_dir, bool root, char *out,
                  size_t cap, enum api_socket_source *source)
{
	struct sockaddr_un sa;
	int n;

	if (flag != NULL && *flag != '\0') {
		*source = API_SOCKET_FLAG;
		n = snprintf(out, cap, "%s", flag);
	} else if (weft_socket != NULL && *weft_socket != '\0') {
		*source = API_SOCKET_ENV;
		n = snprintf(out, cap, "%s", weft_socket);
	} else if (!root && xdg_runtime_dir != NULL &&
	           *xdg_runtime_dir != '\0') {
		/* An agent run by this user puts its socket there. */
		*source = API_SOCKET_XDG;
		n = snprintf(out, cap, "%s/weft/weftd.sock", xdg_runtime_dir);
	} else {
		*source = API_SOCKET_BUILTIN;
		n = snprintf(out, cap, "%s", API_SOCKET_DEFAULT);
	}
	if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof(sa.sun_path))
		return WEFT_ETOOBIG;
	return 0;
}

const char *
api_socket_source_name(enum api_socket_source s)
{
	switch (s) {
	case API_SOCKET_FLAG: return "--socket";
	case API_SOCKET_ENV: return "WEFT_SOCKET";
	case API_SOCKET_XDG: return "XDG_RUNTIME_DIR";
	case API_SOCKET_BUILTIN: return "the default";
	}
	return "?";
}

/* ---- the reply parser ---- */

/* Appends to a growing NUL-terminated buffer bounded by max. */
static int
grow_append(char **buf, size_t *len, size_t *cap, size_t max,
            const char *data, size_t n)
{
	char *nb;
	size_t ncap;

	if (n > max - *len)
		return WEFT_ETOOBIG;
	if (*len + n + 1 > *cap) {
		ncap = *cap ? *cap : 256;
		while (ncap < *len + n + 1)
			ncap *= 2;
		nb = realloc(*buf, ncap);
		if (nb == NULL)
			return WEFT_ENOMEM;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static bool
streaming(const struct api_reply *r)
{
	return r->on_line != NULL && r->status >= 200 && r->status < 300;
}

/* Hands the waiting line over; a CR before the LF is not part of it, and
 * empty lines (keep-alives) are skipped. */
static int
emit_line(struct api_reply *r)
{
	size_t n = r->line_len;
	int rc;

	if (n > 0 && r->line[n - 1] == '\r')
		n--;
	r->line_len = 0;
	if (n == 0)
		return 0;
	r->line[n] = '\0';
	rc = r->on_line(r->line_ctx, r->line, n);
	if (rc)
		r->line_rc = rc;
	return rc;
}

static int
stream_bytes(struct api_reply *r, const char *at, size_t len)
{
	const char *nl;
	size_t n;
	int rc;

	while (len > 0) {
		nl = memchr(at, '\n', len);
		n = nl ? (size_t)(nl - at) : len;
		rc = grow_append(&r->line, &r->line_len, &r->line_cap,
		                 API_LINE_MAX, at, n);
		if (rc == WEFT_ETOOBIG) {
			snprintf(r->why, sizeof(r->why), "an event line over "
			         "%u bytes", API_LINE_MAX);
			return rc;
		}
		if (rc)
			return rc;
		if (nl == NULL)
			break;
		if ((rc = emit_line(r)) != 0)
			return rc;
		at += n + 1;
		len -= n + 1;
	}
	return 0;
}

/* http-parser callbacks cannot return our codes: they park it in
 * stop_rc and return nonzero. */
static int
on_headers_complete(http_parser *hp)
{
	struct api_reply *r = hp->data;

	r->status = (int)hp->status_code;
	r->headers_done = true;
	/* http-parser takes any three digits. */
	if (r->status < 100 || r->status > 599) {
		snprintf(r->why, sizeof(r->why), "a reply with status %d",
		         r->status);
		r->stop_rc = WEFT_EMALFORMED;
		return -1; /* 1 and 2 would mean "no body" and "upgrade" */
	}
	return 0;
}

static int
on_body(http_parser *hp, const char *at, size_t len)
{
	struct api_reply *r = hp->data;
	int rc;

	if (streaming(r)) {
		rc = stream_bytes(r, at, len);
	} else {
		rc = grow_append(&r->body, &r->body_len, &r->body_cap,
		                 API_BODY_MAX, at, len);
		if (rc == WEFT_ETOOBIG)
			snprintf(r->why, sizeof(r->why), "a reply body over "
			         "%u bytes", API_BODY_MAX);
	}
	if (rc == 0)
		return 0;
	r->stop_rc = rc;
	return 1;
}

static int
on_message_complete(http_parser *hp)
{
	struct api_reply *r = hp->data;

	/* An interim reply (100 Continue) is followed by the real one. */
	if (r->status >= 100 && r->status < 200) {
		r->status = 0;
		r->headers_done = false;
		return 0;
	}
	if (streaming(r) && r->line_len > 0 &&
	    (r->stop_rc = emit_line(r)) != 0)
		return 1;
	r->complete = true;
	/* Whatever follows is not ours to parse. */
	http_parser_pause(hp, 1);
	return 0;
}

void
api_reply_init(struct api_reply *r, api_line_fn on_line, void *ctx)
{
	memset(r, 0, sizeof(*r));
	http_parser_init(&r->hp, HTTP_RESPONSE);
	r->hp.data = r;
	http_parser_settings_init(&r->hs);
	r->hs.on_headers_complete = on_headers_complete;
	r->hs.on_body = on_body;
	r->hs.on_message_complete = on_message_complete;
	r->on_line = on_line;
	r->line_ctx = ctx;
}

void
api_reply_free(struct api_reply *r)
{
	free(r->body);
	free(r->line);
	r->body = r->line = NULL;
	r->body_len = r->body_cap = r->line_len = r->line_cap = 0;
}

/* After http_parser_execute: our code for what it stopped on. */
static int
parser_result(struct api_reply *r)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&r->hp);

	if (e == HPE_OK || (e == HPE_PAUSED && r->complete))
		return 0;
	if ((e == HPE_CB_headers_complete || e == HPE_CB_body ||
	     e == HPE_CB_message_complete) && r->stop_rc != 0)
		return r->stop_rc;
	snprintf(r->why, sizeof(r->why), "something that is not an HTTP reply "
	         "(%s)",
	         http_errno_description(e));
	return WEFT_EMALFORMED;
}

int
api_reply_feed(struct api_reply *r, const char *data, size_t len)
{
	if (r->complete || len == 0)
		return 0;
	if (HTTP_PARSER_ERRNO(&r->hp) != HPE_OK)
		return WEFT_EMALFORMED; /* it failed before: stay failed */
	http_parser_execute(&r->hp, &r->hs, data, len);
	/* http-parser stops at an upgrade and would leave the rest unread;
	 * the API never switches protocols. */
	if (r->hp.upgrade && !r->complete) {
		snprintf(r->why, sizeof(r->why), "a protocol upgrade");
		r->hp.http_errno = HPE_UNKNOWN;
		return WEFT_EMALFORMED;
	}
	return parser_result(r);
}

int
api_reply_eof(struct api_reply *r)
{
	if (r->complete)
		return 0;
	if (HTTP_PARSER_ERRNO(&r->hp) != HPE_OK)
		return WEFT_EMALFORMED;
	/* Zero bytes tell http-parser the connection ended: a body that
	 * runs until then is complete now. */
	http_parser_execute(&r->hp, &r->hs, NULL, 0);
	if (r->complete)
		return 0;
	if (r->stop_rc != 0)
		return r->stop_rc;
	snprintf(r->why, sizeof(r->why), "%s",
	         r->headers_done ? "the reply ends before its body does"
	                         : "the connection closed before a reply");
	return WEFT_ETRUNC;
}

int
api_reply_json(struct api_reply *r, json_t **out)
{
	json_error_t err;
	json_t *j;

	if (r->body == NULL || r->body_len == 0) {
		snprintf(r->why, sizeof(r->why), "an empty reply");
		return WEFT_ENOENT;
	}
	j = json_loadb(r->body, r->body_len, 0, &err);
	if (j == NULL) {
		snprintf(r->why, sizeof(r->why), "a reply that is not JSON "
		         "(%s)", err.text);
		return WEFT_EMALFORMED;
	}
	*out = j;
	return 0;
}

void
api_reply_error_text(const struct api_reply *r, char *out, size_t cap)
{
	json_t *j, *e;
	const char *s;
	size_t i;

	j = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	e = json_is_object(j) ? json_object_get(j, "error") : NULL;
	if (json_is_string(e) && json_string_length(e) > 0) {
		snprintf(out, cap, "%s", json_string_value(e));
	} else {
		s = http_status_str((enum http_status)r->status);
		snprintf(out, cap, "weftd answered %d %s", r->status,
		         s && strcmp(s, "<unknown>") != 0 ? s : "");
		/* No trailing space for a status without a name. */
		i = strlen(out);
		if (i > 0 && out[i - 1] == ' ')
			out[i - 1] = '\0';
	}
	json_decref(j);
	/* It goes to a terminal: no control characters from the agent. */
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = '?';
}

/* ---- the connection ---- */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
set_fail(struct api_failure *f, enum api_fail step, int err, int rc)
{
	f->step = step;
	f->sys_errno = err;
	return rc;
}

static int
connect_unix(const struct api_call *c, int *fdp, struct api_failure *f)
{
	struct sockaddr_un sa;
	struct timeval tv;
	int fd, err, fl;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(c->socket) >= sizeof(sa.sun_path))
		return set_fail(f, API_FAIL_CONNECT, ENAMETOOLONG,
		                WEFT_ETOOBIG);
	memcpy(sa.sun_path, c->socket, strlen(c->socket) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return set_fail(f, API_FAIL_CONNECT, errno, WEFT_EIO);
	/* A Unix connect waits only when the agent's backlog is full; the
	 * send timeout bounds that wait (Linux honours it there). */
	if (c->timeout_ms >= 0) {
		tv.tv_sec = c->timeout_ms / 1000;
		tv.tv_usec = (c->timeout_ms % 1000) * 1000;
		if (tv.tv_sec == 0 && tv.tv_usec == 0)
			tv.tv_usec = 1000;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		err = errno;
		close(fd);
		if (err == EAGAIN || err == EINPROGRESS)
			return set_fail(f, API_FAIL_TIMEOUT, err,
			                WEFT_ETIMEDOUT);
		return set_fail(f, API_FAIL_CONNECT, err, WEFT_EIO);
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
		err = errno;
		close(fd);
		return set_fail(f, API_FAIL_IO, err, WEFT_EIO);
	}
	*fdp = fd;
	return 0;
}

static int
build_request(const struct api_call *c, char **out, size_t *out_len)
{
	char *body = NULL, *req, length[48] = "";
	size_t blen = 0;
	int n;

	if (c->body != NULL) {
		body = json_dumps(c->body, JSON_COMPACT);
		if (body == NULL)
			return WEFT_ENOMEM;
		blen = strlen(body);
	}
	/* A POST without a body still says so: Content-Length: 0. */
	if (body != NULL || strcmp(c->method, "GET") != 0)
		snprintf(length, sizeof(length), "Content-Length: %zu\r\n",
		         blen);
	n = asprintf(&req,
	             "%s %s HTTP/1.1\r\n"
	             "Host: weft\r\n"
	             "Accept: application/json\r\n"
	             "%s%s"
	             "Connection: close\r\n"
	             "\r\n"
	             "%s",
	             c->method, c->path,
	             body ? "Content-Type: application/json\r\n" : "",
	             length, body ? body : "");
	free(body);
	if (n < 0)
		return WEFT_ENOMEM;
	*out = req;
	*out_len = (size_t)n;
	return 0;
}

/*
 * Waits for events on fd until the deadline (< 0: none).  1 when ready,
 * 0 at the deadline, -1 when stopped by *stop, -2 on a poll error.
 */
static int
wait_fd(const struct api_call *c, int fd, short events, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	struct timespec ts, *tsp;
	long long left;
	int n;

	for (;;) {
		if (c->stop != NULL && *c->stop)
			return -1;
		tsp = NULL;
		if (deadline >= 0) {
			left = deadline - now_ms();
			if (left <= 0)
				return 0;
			ts.tv_sec = (time_t)(left / 1000);
			ts.tv_nsec = (long)(left % 1000) * 1000000;
			tsp = &ts;
		}
		n = ppoll(&p, 1, tsp, c->wait_mask);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -2;
	}
}

static int
send_all(const struct api_call *c, int fd, const char *data, size_t len,
         long long deadline, struct api_failure *f)
{
	ssize_t n;
	int w;

	while (len > 0) {
		n = send(fd, data, len, MSG_NOSIGNAL);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return set_fail(f, API_FAIL_IO, errno, WEFT_EIO);
		w = wait_fd(c, fd, POLLOUT, deadline);
		if (w == 0)
			return set_fail(f, API_FAIL_TIMEOUT, 0, WEFT_ETIMEDOUT);
		if (w == -1)
			return set_fail(f, API_FAIL_STOPPED, 0, WEFT_ECLOSED);
		if (w < 0)
			return set_fail(f, API_FAIL_IO, errno, WEFT_EIO);
	}
	return 0;
}

static int
read_reply(const struct api_call *c, int fd, struct api_reply *r,
           long long deadline, struct api_failure *f)
{
	char buf[16384];
	ssize_t n;
	int w, rc;

	while (!r->complete) {
		/* A stream has no end to wait for: only its head is bounded. */
		w = wait_fd(c, fd, POLLIN,
		            r->headers_done && r->on_line ? -1 : deadline);
		if (w == 0)
			return set_fail(f, API_FAIL_TIMEOUT, 0, WEFT_ETIMEDOUT);
		if (w == -1)
			return set_fail(f, API_FAIL_STOPPED, 0, WEFT_ECLOSED);
		if (w < 0)
			return set_fail(f, API_FAIL_IO, errno, WEFT_EIO);
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			return set_fail(f, API_FAIL_IO, errno, WEFT_EIO);
		}
		if (n == 0) {
			rc = api_reply_eof(r);
			if (rc == WEFT_ETRUNC) {
				snprintf(f->why, sizeof(f->why), "%s", r->why);
				return set_fail(f, API_FAIL_CLOSED, 0, rc);
			}
		} else {
			rc = api_reply_feed(r, buf, (size_t)n);
		}
		if (rc && r->line_rc != 0)
			return set_fail(f, API_FAIL_LINE, 0, rc);
		if (rc) {
			snprintf(f->why, sizeof(f->why), "%s", r->why);
			return set_fail(f, API_FAIL_REPLY, 0, rc);
		}
	}
	return 0;
}

int
api_request(const struct api_call *c, struct api_reply *r,
            struct api_failure *f)
{
	long long deadline = c->timeout_ms < 0 ? -1
	                     : now_ms() + c->timeout_ms;
	char *req;
	size_t req_len;
	int fd = -1, rc;

	memset(f, 0, sizeof(*f));
	if ((rc = build_request(c, &req, &req_len)) != 0)
		return set_fail(f, API_FAIL_IO, ENOMEM, rc);
	rc = connect_unix(c, &fd, f);
	if (rc == 0)
		rc = send_all(c, fd, req, req_len, deadline, f);
	free(req);
	if (rc == 0)
		rc = read_reply(c, fd, r, deadline, f);
	if (fd >= 0)
		close(fd);
	return rc;
}
