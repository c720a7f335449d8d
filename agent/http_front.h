/*
 * Front ends for upstreams that speak HTTP: the listener on an upstream's
 * local_bind and the app connections it accepts.  Each request becomes
 * one http_call (agent/http_call.h).
 *
 *   http_front_h1.c: HTTP/1.1 (protocol "http"): strict parsing
 *     (proxy/h1.h), keep-alive, pipelined requests answered in order,
 *     Expect: 100-continue answered here, Upgrade carried as a tunnel,
 *     circuit limits per upstream (proxy/circuit.h).
 */
#ifndef WEFT_AGENT_HTTP_FRONT_H
#define WEFT_AGENT_HTTP_FRONT_H

#include <stdint.h>

struct agent_proxy;
struct agent_upstream;
struct http_caller;
struct http_front;

struct http_front_stats {
	uint64_t connections;       /* accepted */
	uint64_t bad_requests;      /* refused by the parser (400, 431, ...) */
	uint64_t circuit_overflows; /* answered 503 for a circuit limit */
	uint64_t head_timeouts;     /* 408: a head not complete in time */
	uint64_t body_timeouts;     /* 408 (or a cut): a body too slow */
	uint64_t idle_closed;       /* keep-alive idle past its timeout */
};

/*
 * Listens on u->local_bind for HTTP/1.1 apps calling u->service.  The
 * front keeps no pointer into u.  WEFT_EIO when it cannot listen (logged).
 */
int http_front_h1_open(struct agent_proxy *px, struct http_caller *hc,
                       const struct agent_upstream *u,
                       struct http_front **out);

/* Stops listening and closes every connection, freeing their calls; the
 * memory goes once the loop has run the close callbacks. */
void http_front_close(struct http_front *f);

const struct http_front_stats *http_front_stats(const struct http_front *f);

#endif
