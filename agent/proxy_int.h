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
struct agent_upstream;
struct circuit;
struct json_t;
struct weft_log;

enum proxy_stream_kind {
	PROXY_STREAM_TCP = 1,   /* proxy_io.c's pstream: a TCP relay */
	PROXY_STREAM_HTTP_CALL, /* caller side of an HTTP request */
	PROXY_STREAM_HTTP_BACK, /* remote side: the request to the local app */
};

/* The worker's own loop: every handle of the data plane lives on the
 * loop of the worker that made it (agent/proxy_workers.c). */
uv_loop_t *agent_proxy_loop(struct agent_proxy *px);
/*
 * The agent, for reading its config while a worker is being made (on the
 * main thread, in agent_proxy_worker_new and what it calls).  Never later:
 * a worker on another thread must not touch what the main thread changes.
 */
const struct agent *agent_proxy_agent(struct agent_proxy *px);
/* The log sink (thread-safe: one write per line). */
const struct weft_log *agent_proxy_log(struct agent_proxy *px);
/* Whether the agent has had a push-pull from the cluster since it
 * started (before that, an unknown service is not known to be missing). */
bool agent_proxy_heard(struct agent_proxy *px);
/* The circuit limits of upstream u, one object shared by every worker
 * (atomic counters), made on first use; NULL without memory.  Main
 * thread, while workers are made. */
struct circuit *agent_proxy_circuit(struct agent_proxy *px,
                                    const struct agent_upstream *u);
/*
 * Binds and listens on sa with SO_REUSEPORT, so each worker has its own
 * listening socket on the same address and the kernel spreads
 * connections among them.  The first worker to bind an address checks
 * that no other process listens there (SO_REUSEPORT would otherwise let
 * it share silently).  t is initialised on the worker's loop.  0 or a
 * negative libuv error.
 */
int agent_proxy_listen(struct agent_proxy *px, uv_tcp_t *t,
                       const struct sockaddr *sa, uv_connection_cb cb);
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
/* Hands a monitor event to the main thread, which streams it to
 * `weft monitor` clients; takes over ev (a jansson json_t). */
void agent_proxy_post_event(struct agent_proxy *px, struct json_t *ev);
/* A monitor event of type "proxy" (denied, ejected, returned). */
void agent_proxy_event(struct agent_proxy *px, const char *event,
                       const char *service, const char *node,
                       const char *reason);
/* The services a peer's certificate lists, joined with '+' ("unknown"
 * for none), as the source of what it sent. */
void agent_proxy_peer_services(const struct session_peer *peer, char *out,
                               size_t cap);

#endif
