/*
 * The h2c front end: an upstream with protocol "http2" or "grpc" listens
 * for HTTP/2 with prior knowledge (no TLS, no Upgrade: h2c) from its app,
 * and each stream the app opens becomes one http_call (agent/http_call.h).
 *
 * Heads and trailers pass through as HTTP/2 blocks; bodies stream both
 * ways with flow control: the app's DATA is acknowledged (WINDOW_UPDATE,
 * automatic updates off) only as the call takes it, and the answer is
 * read from the call only as the app's window allows.  weft's own answers
 * (no route, no endpoint, timeout, ...) are a response with the status,
 * x-weft-agent and a one-line text body; an answer that breaks off after
 * its head resets the app's stream (INTERNAL_ERROR).  The upstream's
 * circuit limits hold as for HTTP/1.1: over max_requests or max_pending a
 * stream is answered 503 at once; a connection over max_connections stays
 * up but answers each of its streams 503.
 *
 * Use from agent/proxy_io.c: for an upstream whose protocol is
 * TABLE_PROTO_HTTP2 or TABLE_PROTO_GRPC, http_front_h2_open() instead of
 * the TCP listener; http_front_h2_close() when stopping (before the
 * caller is freed: it frees every call it holds).
 */
#ifndef WEFT_AGENT_HTTP_FRONT_H2_H
#define WEFT_AGENT_HTTP_FRONT_H2_H

#include <stdint.h>

struct agent_proxy;
struct agent_upstream;
struct http_caller;
struct http_front_h2;

struct http_front_h2_stats {
	uint64_t connections; /* accepted */
	uint64_t streams;     /* requests started */
	uint64_t bad;         /* connections ended for an HTTP/2 error */
	uint64_t circuit_overflows; /* answered 503 for a circuit limit */
	uint64_t head_timeouts; /* closed: preface or a header block late */
	uint64_t idle_closed;   /* GOAWAY: no stream for client_idle_timeout */
};

/*
 * Listens on u->local_bind for h2c apps calling u->service; keeps no
 * pointer into u.  WEFT_EIO when it cannot listen (logged; *out is set
 * anyway and must be closed).
 */
int http_front_h2_open(struct agent_proxy *px, struct http_caller *hc,
                       const struct agent_upstream *u,
                       struct http_front_h2 **out);

/* Stops listening, closes every connection and frees their calls; the
 * memory goes once the loop has run the close callbacks.  NULL is fine. */
void http_front_h2_close(struct http_front_h2 *f);

const struct http_front_h2_stats *
http_front_h2_stats(const struct http_front_h2 *f);

#endif
