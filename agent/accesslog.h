/*
 * The access log: one JSON line per HTTP request or TCP stream the data
 * plane carried, to a file or to stderr.
 *
 * Traffic never waits for the log.  Lines are collected in one buffer
 * while the previous batch is being written (a libuv file write, off the
 * loop); when the buffer is full because the sink is slow, the line is
 * dropped and counted, and the count is logged once the sink catches up
 * and exported as a metric.
 */
#ifndef WEFT_AGENT_ACCESSLOG_H
#define WEFT_AGENT_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/log.h"

#define ACCESSLOG_BUFFER_DEFAULT (256u * 1024)
#define ACCESSLOG_LINE_MAX 8192 /* longer lines are dropped, counted */

struct accesslog_opts {
	const char *path;  /* a file (appended to, 0640), or "-" for stderr */
	size_t buffer;     /* bytes waiting to be written; 0: the default */
};

/* One request or stream, as the data plane saw it.  Strings may be NULL
 * (left out of the line). */
struct accesslog_entry {
	int64_t start_unix_ms;   /* wall clock when it started */
	const char *kind;        /* "http" or "tcp" */
	const char *direction;   /* "outbound" (app -> mesh) or "inbound" */
	const char *src_service;
	const char *src_node;
	const char *dst_service;
	const char *dst_node;
	const char *method;      /* http */
	const char *path;        /* http */
	const char *authority;   /* http */
	int status;              /* http status; 0: none (tcp, or no answer) */
	uint64_t bytes_in;       /* from the app that made the request */
	uint64_t bytes_out;      /* to it */
	int64_t duration_us;
	unsigned retries;
	const char *upstream;    /* the endpoint it went to, "node host:port" */
	const char *trace_id;    /* 32 hex digits */
	const char *error;       /* weft's reason when weft answered or cut */
};

struct accesslog_stats {
	uint64_t lines;   /* written */
	uint64_t dropped; /* the buffer was full or the line too long */
	uint64_t errors;  /* writes the sink refused */
};

struct accesslog;

/*
 * Opens the sink (the file is created 0640 if missing).  WEFT_EIO with
 * err (when not NULL) naming the path and the system's reason.
 */
int accesslog_open(uv_loop_t *loop, const struct accesslog_opts *opts,
                   const struct weft_log *log, struct accesslog **out,
                   char *err, size_t err_len);
/* Appends one line; never blocks.  0, or WEFT_ENOSPACE when dropped. */
int accesslog_write(struct accesslog *l, const struct accesslog_entry *e);
const struct accesslog_stats *accesslog_stats(const struct accesslog *l);
/*
 * Writes what is buffered, then closes the file and frees l; done (may
 * be NULL) is called once that has happened.  l is invalid afterwards.
 */
void accesslog_close(struct accesslog *l, void (*done)(void *ctx),
                     void *ctx);

#endif
