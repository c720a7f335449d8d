/*
 * The remote side of an HTTP request crossing the mesh: a request stream
 * that arrived here (MESH_EV_REQUEST, already authorized) goes to the
 * local app in the app's declared protocol, and the answer goes back on
 * the stream.
 *
 *   HTTP/1.1 apps (protocol "http"): pooled keep-alive connections per
 *     local service address, one request at a time on each; the app's
 *     response is parsed strictly (http-parser, response mode) and mapped
 *     to an HTTP/2 response head, body and trailers; Upgrade requests
 *     (weft-upgrade) become a raw tunnel after the app's 101.
 *   HTTP/2 apps ("http2", "grpc"): one h2c connection (prior knowledge)
 *     per local service address, many streams, heads and trailers passed
 *     through.
 *
 * Bodies stream both ways with back-pressure: the app is read only while
 * the mesh stream has room, and mesh bytes are consumed only when the
 * app's socket took them.
 *
 * Use from agent/proxy_io.c:
 *   - agent_proxy_start: http_back_new(px, &set) once, kept in px.
 *   - on MESH_EV_REQUEST: http_back_start(set, ev).  The stream is taken
 *     over whatever the result (on failure it was refused or reset and
 *     closed here); the return value is for counting only.  The stream's
 *     user then points at a struct whose first member is
 *     PROXY_STREAM_HTTP_BACK.
 *   - every later event of a stream whose user kind is
 *     PROXY_STREAM_HTTP_BACK (READABLE, WRITABLE, RESET, and any other):
 *     http_back_event(ev).  Inside a mesh event proxy_io.c flushes the
 *     connection afterwards; from its own libuv callbacks this code calls
 *     agent_proxy_kick().
 *   - agent_proxy_stop: http_back_stop_all(set) while the mesh
 *     connections (and so the streams) still exist, before or after
 *     aborting them but before their handles' close callbacks run: it
 *     closes every request's mesh stream and every app socket.
 *   - agent_proxy_free (after the loop ran the close callbacks):
 *     http_back_free(set).
 */
#ifndef WEFT_AGENT_HTTP_BACK_H
#define WEFT_AGENT_HTTP_BACK_H

#include <stdint.h>

struct agent_proxy;
struct mesh_event;

/* One per agent_proxy: the app connection pools and live requests. */
struct http_back_set;

int http_back_new(struct agent_proxy *px, struct http_back_set **out);

/*
 * MESH_EV_REQUEST: ev->stream is the request, ev->service the local
 * service, ev->host/ev->port its address.  Returns 0, or why it could not
 * start (the stream has then been refused 502 and closed already).
 */
int http_back_start(struct http_back_set *set, const struct mesh_event *ev);

/* Any later event of a stream owned here (user kind PROXY_STREAM_HTTP_BACK). */
void http_back_event(const struct mesh_event *ev);

/* Shutdown: closes every request (its mesh stream too) and every app
 * connection.  No stream owned here is left afterwards. */
void http_back_stop_all(struct http_back_set *set);

/* After http_back_stop_all and the loop's close callbacks; NULL is fine. */
void http_back_free(struct http_back_set *set);

/* Counters for /v1/metrics. */
struct http_back_stats {
	uint64_t requests;     /* MESH_EV_REQUEST taken */
	uint64_t app_connects; /* HTTP/1.1 connections opened to apps */
	uint64_t app_reused;   /* requests sent on a pooled connection */
	uint64_t h2_sessions;  /* h2c sessions opened to apps */
	uint64_t refused;      /* answered 502 before a head (unreachable,
	                        * bad answer) or 400 (unsendable request) */
	uint64_t broken;       /* reset after the head went */
};

const struct http_back_stats *http_back_stats(const struct http_back_set *set);

#endif
