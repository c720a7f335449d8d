#include "agent/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/err.h"

struct accesslog {
	uv_loop_t *loop;
	const struct weft_log *log;
	uv_file fd;
	bool own_fd;
	/* A pipe (stderr to journald): several workers write to it, and
	 * only writes of at most PIPE_BUF keep their lines whole. */
	size_t atomic_max;
	/* buf[fill] collects lines while buf[fill ^ 1] is being written. */
	char *buf[2];
	size_t len[2];
	size_t cap;
	int fill;
	bool writing;
	bool closing;
	uv_fs_t req;
	struct accesslog_stats stats;
	uint64_t dropped_logged;
	void (*done)(void *ctx);
	void *done_ctx;
};

static void start_write(struct accesslog *l);

int
accesslog_open(uv_loop_t *loop, const struct accesslog_opts *opts,
               const struct weft_log *log, struct accesslog **out,
               char *err, size_t err_len)
{
	struct accesslog *l;
	size_t cap = opts->buffer ? opts->buffer : ACCESSLOG_BUFFER_DEFAULT;

	*out = NULL;
	if (opts->path == NULL || opts->path[0] == '\0')
		return WEFT_EINVAL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return WEFT_ENOMEM;
	l->loop = loop;
	l->log = log;
	l->cap = cap;
	l->buf[0] = malloc(cap);
	l->buf[1] = malloc(cap);
	if (l->buf[0] == NULL || l->buf[1] == NULL) {
		free(l->buf[0]);
		free(l->buf[1]);
		free(l);
		return WEFT_ENOMEM;
	}
	if (strcmp(opts->path, "-") == 0) {
		l->fd = 2;
	} else {
		/* Opened once, at start: a blocking open of a slow path would
		 * stall only the start, never traffic. */
		l->fd = open(opts->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		             0640);
		if (l->fd < 0) {
			if (err != NULL)
				snprintf(err, err_len, "access log %s: %s",
				         opts->path, strerror(errno));
			free(l->buf[0]);
			free(l->buf[1]);
			free(l);
			return WEFT_EIO;
		}
		l->own_fd = true;
	}
	{
		struct stat st;

		if (fstat(l->fd, &st) == 0 && !S_ISREG(st.st_mode))
			l->atomic_max = PIPE_BUF;
	}
	*out = l;
	return 0;
}

static void
set_str(json_t *o, const char *key, const char *v)
{
	if (v != NULL)
		json_object_set_new(o, key, json_string(v));
}

static void
set_int(json_t *o, const char *key, json_int_t v)
{
	json_object_set_new(o, key, json_integer(v));
}

/* RFC 3339 in UTC with milliseconds: what log shippers parse. */
static void
format_time(int64_t unix_ms, char *out, size_t len)
{
	time_t secs = (time_t)(unix_ms / 1000);
	struct tm tm;

	if (gmtime_r(&secs, &tm) == NULL) {
		snprintf(out, len, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, (int)(unix_ms % 1000));
}

static json_t *
entry_json(const struct accesslog_entry *e)
{
	json_t *o = json_object();
	char ts[80];

	if (o == NULL)
		return NULL;
	format_time(e->start_unix_ms, ts, sizeof(ts));
	set_str(o, "time", ts);
	set_str(o, "kind", e->kind);
	set_str(o, "direction", e->direction);
	set_str(o, "src_service", e->src_service);
	set_str(o, "src_node", e->src_node);
	set_str(o, "dst_service", e->dst_service);
	set_str(o, "dst_node", e->dst_node);
	set_str(o, "method", e->method);
	set_str(o, "path", e->path);
	set_str(o, "authority", e->authority);
	if (e->status > 0)
		set_int(o, "status", e->status);
	set_int(o, "bytes_in", (json_int_t)e->bytes_in);
	set_int(o, "bytes_out", (json_int_t)e->bytes_out);
	set_int(o, "duration_us", (json_int_t)e->duration_us);
	set_int(o, "retries", (json_int_t)e->retries);
	set_str(o, "upstream", e->upstream);
	set_str(o, "trace_id", e->trace_id);
	set_str(o, "error", e->error);
	return o;
}

int
accesslog_write(struct accesslog *l, const struct accesslog_entry *e)
{
	size_t room = l->cap - l->len[l->fill], n;
	char *at = l->buf[l->fill] + l->len[l->fill];
	json_t *o;

	if (l->closing)
		return WEFT_ECLOSED;
	if ((o = entry_json(e)) == NULL) {
		l->stats.dropped++;
		return WEFT_ENOMEM;
	}
	/* jansson escapes whatever the request carried (paths are the
	 * client's bytes), so a line is always one line of valid JSON. */
	n = room > 1 ? json_dumpb(o, at, room - 1,
	                          JSON_COMPACT | JSON_ENSURE_ASCII) : 0;
	json_decref(o);
	if (n == 0 || n > room - 1 || n > ACCESSLOG_LINE_MAX) {
		l->stats.dropped++;
		return WEFT_ENOSPACE;
	}
	at[n] = '\n';
	l->len[l->fill] += n + 1;
	l->stats.lines++;
	if (!l->writing)
		start_write(l);
	return 0;
}

static void
finish_close(struct accesslog *l)
{
	void (*done)(void *) = l->done;
	void *ctx = l->done_ctx;

	if (l->own_fd) {
		uv_fs_t req;

		uv_fs_close(NULL, &req, l->fd, NULL);
		uv_fs_req_cleanup(&req);
	}
	free(l->buf[0]);
	free(l->buf[1]);
	free(l);
	if (done != NULL)
		done(ctx);
}

static void
on_written(uv_fs_t *req)
{
	struct accesslog *l = req->data;
	int was = l->fill ^ 1;
	ssize_t r = req->result;

	uv_fs_req_cleanup(req);
	l->writing = false;
	if (r < 0) {
		l->stats.errors++;
		weft_logf(l->log, WEFT_LOG_WARN, "msg=\"access log write "
		          "failed\" error=\"%s\"", uv_strerror((int)r));
		l->len[was] = 0;
	} else if ((size_t)r < l->len[was]) {
		/* A short write: the rest goes first next time. */
		memmove(l->buf[was], l->buf[was] + r, l->len[was] - (size_t)r);
		l->len[was] -= (size_t)r;
		start_write(l);
		return;
	} else {
		l->len[was] = 0;
	}
	if (l->stats.dropped > l->dropped_logged) {
		weft_logf(l->log, WEFT_LOG_WARN, "msg=\"access log lines "
		          "dropped\" count=%llu reason=\"the sink was slower than "
		          "traffic\"", (unsigned long long)(l->stats.dropped -
		                                             l->dropped_logged));
		l->dropped_logged = l->stats.dropped;
	}
	if (l->len[l->fill] > 0)
		start_write(l);
	else if (l->closing)
		finish_close(l);
}

static void
start_write(struct accesslog *l)
{
	int w;
	uv_buf_t b;

	/* A short write left bytes in the buffer being written: finish
	 * them before swapping, so lines stay in order. */
	if (l->len[l->fill ^ 1] == 0) {
		if (l->len[l->fill] == 0)
			return;
		l->fill ^= 1;
	}
	w = l->fill ^ 1;
	b = uv_buf_init(l->buf[w], (unsigned)l->len[w]);
	if (l->atomic_max > 0 && l->buf[w] != NULL &&
	    l->len[w] > l->atomic_max) {
		/* Whole lines up to PIPE_BUF (one longer line alone); the
		 * rest goes as a short write's does. */
		const char *p = l->buf[w];
		const char *nl = memrchr(p, '\n', l->atomic_max);

		if (nl == NULL)
			nl = memchr(p, '\n', l->len[w]);
		if (nl != NULL)
			b.len = (unsigned)(nl - p + 1);
	}
	l->req.data = l;
	if (uv_fs_write(l->loop, &l->req, l->fd, &b, 1, -1, on_written) != 0) {
		l->stats.errors++;
		l->len[w] = 0;
		return;
	}
	l->writing = true;
}

const struct accesslog_stats *
accesslog_stats(const struct accesslog *l)
{
	return &l->stats;
}

void
accesslog_close(struct accesslog *l, void (*done)(void *ctx), void *ctx)
{
	l->closing = true;
	l->done = done;
	l->done_ctx = ctx;
	if (!l->writing && l->len[l->fill] > 0)
		start_write(l);
	if (!l->writing)
		finish_close(l);
}
