/*
 * What agent/proxy_io.c shares with the HTTP files of the data plane
 * (agent/http_*.c): the libuv loop, pooled mesh connections, the tables,
 * and the convention that tells stream owners apart.
 *
 * Every mesh stream's user pointer (mesh_stream_set_user) points at a
 * struct whose first member is an enum proxy_stream_kind, so that
 * proxy_io.c's one event callback can hand each event to its owner.
 */
#ifndef WEFT_AGENT_PROXY_INT_H
#define WEFT_AGENT_PROXY_INT_H

#include <uv.h>

#include "proxy/balance.h"
#include "proxy/mesh.h"
#include "proxy/table.h"

struct agent;
struct agent_proxy;

enum proxy_stream_kind {
	PROXY_STREAM_TCP = 1,   /* proxy_io.c's pstream: a TCP relay */
	PROXY_STREAM_HTTP_CALL, /* caller side of an HTTP request */
	PROXY_STREAM_HTTP_BACK, /* remote side: the request to the local app */
};

uv_loop_t *agent_proxy_loop(struct agent_proxy *px);
struct agent *agent_proxy_agent(struct agent_proxy *px);
/* The current snapshot (no reference taken: table_ref() to keep it). */
struct table *agent_proxy_table(struct agent_proxy *px);
struct balance *agent_proxy_balance(struct agent_proxy *px);
/* Monotonic milliseconds, the loop's clock. */
int64_t agent_proxy_now(struct agent_proxy *px);

/*
 * A pooled mesh connection to ep's node that can take one more stream
 * (dialled now if there is none); WEFT_EIO when it cannot be dialled.
 * The connection belongs to proxy_io.c: hold it only as long as a stream
 * on it.
 */
int agent_proxy_conn_for(struct agent_proxy *px,
                         const struct table_endpoint *ep,
                         struct mesh_conn **out);

/*
 * Writes what the core has for c's socket.  Call after mesh_stream_*()
 * calls made outside a mesh event (from libuv callbacks of app sockets or
 * timers); inside a mesh event proxy_io.c flushes afterwards anyway.
 */
void agent_proxy_kick(struct mesh_conn *c);

/* ---- what operators see (agent/proxy_obs.c) ---- */

struct accesslog;
struct accesslog_entry;
struct proxy_metrics;
struct session_peer;

/* The access log (NULL when off) and the per-service metrics. */
struct accesslog *agent_proxy_accesslog(struct agent_proxy *px);
struct proxy_metrics *agent_proxy_metrics(struct agent_proxy *px);
/* The wall clock in milliseconds, for access log times. */
int64_t agent_proxy_wall_ms(struct agent_proxy *px);
/* This node's name. */
const char *agent_proxy_node(struct agent_proxy *px);

/*
 * One request or stream finished: its access log line (when the log is
 * on) and its metrics.  timeout: weft cut it at a timeout; generated:
 * weft answered itself.
 */
void agent_proxy_observe(struct agent_proxy *px,
                         const struct accesslog_entry *e, bool inbound,
                         bool timeout, bool generated);
/* A monitor event of type "proxy" (denied, ejected, returned). */
void agent_proxy_event(struct agent_proxy *px, const char *event,
                       const char *service, const char *node,
                       const char *reason);
/* The services a peer's certificate lists, joined with '+' ("unknown"
 * for none), as the source of what it sent. */
void agent_proxy_peer_services(const struct session_peer *peer, char *out,
                               size_t cap);

#endif
