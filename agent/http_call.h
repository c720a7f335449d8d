/*
 * The caller side of one HTTP request through the mesh, whatever front end
 * (HTTP/1.1, h2c) the app spoke: route, endpoint choice, the mesh stream,
 * timeouts, retries, and the errors weft answers itself.
 *
 * A front end hands over the request head as an HTTP/2 header block
 * (h1h2_request_nv() for HTTP/1.1), then the body with http_call_write()
 * and its end with http_call_end().  The answer comes back through the
 * sink: on_head once (the final head, or on_error instead: weft's own
 * answer), then the body read in place with http_call_read_peek() /
 * http_call_read_consume() whenever on_readable says so, trailers with
 * http_call_trailers() at eof.  A failure after the head (reset, timeout)
 * is on_abort: the front end can only break its connection or stream.
 *
 * Per try: virtual service = the upstream's service; its route object
 * (table_route) picks a rule (route_find) and a target (route_pick_target);
 * without a route object every healthy endpoint of the service serves.
 * balance_pick_subset chooses the endpoint, the stream goes on a pooled
 * mesh connection (agent_proxy_conn_for).  A try that failed in a way the
 * rule's retry policy names is retried after a back-off, within the rule's
 * max and the service's retry budget, as long as no head was handed to the
 * front end and the body sent so far is still held (up to the retry
 * buffer; a longer body disables retries for that request).
 *
 * Back-pressure: http_call_write() takes what the mesh stream has room
 * for; when http_call_write_room() returns 0, on_writable follows once
 * there is room.  Response bytes stay in the stream's buffer until
 * consumed, which is what opens the peer's window again.
 *
 * Lifetimes: the front end owns the call from http_call_start() and ends
 * it with http_call_free() (any time, also from inside a sink callback,
 * after which the callback must not touch the call).  No callback runs
 * from inside http_call_start() or any other http_call_* function.
 */
#ifndef WEFT_AGENT_HTTP_CALL_H
#define WEFT_AGENT_HTTP_CALL_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_CALL_RETRY_BUFFER (64u * 1024)
#define HTTP_CALL_IDLE_TIMEOUT_MS (5 * 60 * 1000)
#define HTTP_CALL_REASON_MAX 160
#define HTTP_CALL_AGENT_MAX 64

struct agent_proxy;
struct mesh_event;
struct http_caller;
struct http_call;

/* ---- one per agent_proxy ---- */

struct http_caller_config {
	size_t retry_buffer;      /* body bytes kept for retries; 0: default */
	int64_t timeout_ms;       /* whole request without a rule's; 0: none */
	int64_t idle_timeout_ms;  /* without a rule's; 0: default */
};

/* Counters for /v1/metrics. */
struct http_call_stats {
	uint64_t requests;      /* calls started */
	uint64_t responses[6];  /* heads handed on, by class: [1]..[5] */
	uint64_t retries;
	uint64_t timeouts;      /* per-try, whole or idle timeouts fired */
	uint64_t errors[6];     /* weft's own answers, by class */
	uint64_t aborted;       /* broke off after the head */
	uint64_t budget_denied; /* retries the budget refused */
};

int http_caller_new(struct agent_proxy *px, const struct http_caller_config *cfg,
                    struct http_caller **out);
/* Every call must have been freed (front ends closed) first. */
void http_caller_free(struct http_caller *hc);
const struct http_call_stats *http_caller_stats(const struct http_caller *hc);

/*
 * proxy_io.c: every event of a stream whose user kind is
 * PROXY_STREAM_HTTP_CALL.  The connection of ev is flushed by the caller
 * afterwards.
 */
void http_call_event(struct http_caller *hc, const struct mesh_event *ev);

/* ---- one request ---- */

struct http_call_sink {
	/* The final response head: status is :status, nv the whole block
	 * (pseudo-fields first), valid until http_call_free().  upgraded: the
	 * remote app switched protocols (101 for the named upgrade), the body
	 * both ways is the raw tunnel from now on. */
	void (*on_head)(void *ctx, int status, const nghttp2_nv *nv, size_t n,
	                bool upgraded);
	/* Body bytes, or their end, can be read. */
	void (*on_readable)(void *ctx);
	/* http_call_write() has room again. */
	void (*on_writable)(void *ctx);
	/* No head will come: weft answers status with a one-line reason,
	 * decided by the node named agent (this one, or the remote weft that
	 * refused).  Strings valid during the callback. */
	void (*on_error)(void *ctx, int status, const char *reason,
	                 const char *agent);
	/* After on_head: the response broke off (reset, timeout). */
	void (*on_abort)(void *ctx, const char *reason);
	void *ctx;
};

struct http_call_request {
	const char *service;   /* the upstream's (virtual) service */
	const nghttp2_nv *nv;  /* :method, :scheme, :authority, :path, fields */
	size_t n;              /* copied: nv may go once start returns */
	bool end_stream;       /* no body follows */
	const char *upgrade;   /* e.g. "websocket": sent as weft-upgrade */
	const char *source;    /* the calling app's service (logs, metrics);
	                        * NULL: unknown */
};

/* weft's own answer when a call cannot even start. */
struct http_call_error {
	int status;
	char reason[HTTP_CALL_REASON_MAX];
	char agent[HTTP_CALL_AGENT_MAX];
};

/*
 * Starts a call: routes and opens the first try.  0, or WEFT_ENOENT /
 * WEFT_EIO / WEFT_ENOMEM / WEFT_EINVAL with *err saying what to answer
 * (404 no such service / no route matches, 503 no healthy endpoint, 502
 * unreachable, 400 bad head); then there is no call.
 */
int http_call_start(struct http_caller *hc, const struct http_call_request *req,
                    const struct http_call_sink *sink, struct http_call **out,
                    struct http_call_error *err);
void http_call_free(struct http_call *call);

/*
 * Request body (or, after an upgrade, tunnel bytes): takes up to len,
 * *accepted says how many.  Bytes written after the answer ended or after
 * the call failed are taken and dropped.
 */
int http_call_write(struct http_call *call, const void *data, size_t len,
                    size_t *accepted);
/* Room now; 0 promises on_writable. */
size_t http_call_write_room(struct http_call *call);
/* The request ends, with trailers (n 0: none; copied). */
int http_call_end(struct http_call *call, const nghttp2_nv *trailers,
                  size_t n);

/* Response body in place (after on_head); *eof once it all was read. */
void http_call_read_peek(struct http_call *call, const uint8_t **p,
                         size_t *len, bool *eof);
void http_call_read_consume(struct http_call *call, size_t n);
/* Response trailers, once eof (n 0: none); valid until http_call_free(). */
int http_call_trailers(struct http_call *call, const nghttp2_nv **nv,
                       size_t *n);

#endif
