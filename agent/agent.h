/*
 * weftd: the one place with sockets, files, clocks and signals.  It feeds
 * the gossip core time, randomness and packets, carries what the core
 * sends, and answers the local API.
 */
#ifndef WEFT_AGENT_AGENT_H
#define WEFT_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent/config.h"
#include "agent/config_load.h"
#include "agent/identity.h"
#include "agent/metrics.h"
#include "common/list.h"
#include "common/log.h"
#include "gossip/gossip.h"

#define AGENT_UDP_MAX 65536

struct api_server;
struct agent_change;
struct health;
struct metrics_server;
struct proxy_workers;

struct agent {
	uv_loop_t *loop;
	struct weft_log log;
	struct agent_config cfg;
	struct agent_config_sources sources; /* kept for SIGHUP */
	json_t *flags;                       /* owned */
	struct agent_identity id;
	struct gossip *g;
	struct gossip_crypto crypto;
	struct gossip_crypto_real_ctx crypto_ctx;
	struct cert_revocations revoked; /* backed by the gossip state */
	struct gossip_addr self_addr;
	struct gossip_addr mesh_addr;

	uv_udp_t udp;
	uv_tcp_t stream_listener;
	uv_timer_t tick;
	uv_timer_t join_timer;
	int64_t join_backoff_ms;
	bool join_ok;
	uv_timer_t snap_timer;
	bool snap_dirty;
	int64_t snap_last_ms;
	uint32_t snap_inc; /* our incarnation in the last snapshot written */
	uv_timer_t watchdog;
	uv_timer_t leave_timer;
	bool leaving;
	uv_signal_t sig_term, sig_int, sig_hup;
	struct list streams; /* struct agent_stream */
	unsigned n_streams;
	struct api_server *api; /* allocated by agent_handlers_start */
	struct proxy_workers *proxy; /* the data plane, agent/proxy_workers.c */
	struct agent_change *changes; /* last state change per member */
	size_t n_changes, cap_changes;

	/* Health checks and maintenance (health.c); metrics registry, its
	 * TCP listener (metrics_server.c); certificate expiry (expiry.c). */
	struct health *health;
	struct metrics metrics;
	/* Push-pulls this agent started and saw answered, and how long
	 * each took (agent/stream.c), in seconds. */
	struct metrics_histogram pushpull_seconds;
	struct metrics_server *msrv;
	uv_timer_t expiry_timer;
	uint64_t reloads, reload_failures;

	int64_t wall_base_ms; /* Unix ms at start */
	uint64_t uv_base_ms;  /* uv_now() at start */
	int64_t started_unix;
	uint32_t last_incarnation; /* from the snapshot */
	int exit_code;
	uint8_t rxbuf[AGENT_UDP_MAX];
};

/* Unix milliseconds that never go backwards: the wall clock read once at
 * start, advanced by the loop's monotonic clock. */
int64_t agent_now_ms(const struct agent *a);
int64_t agent_now_unix(void);

/* Lifecycle (agent.c). */
int agent_start(struct agent *a, uv_loop_t *loop);
void agent_begin_leave(struct agent *a);
int agent_reload(struct agent *a, char *err, size_t cap);
/* Re-signs and spreads this node's record with the services' current
 * health and maintenance (health.c calls it on every change). */
int agent_publish_services(struct agent *a);

/* Certificate expiry (expiry.c): a warning in the log, at start, on
 * reload and daily, from cert_warn_before before the node's or a CA's
 * certificate ends. */
void agent_expiry_start(struct agent *a);
void agent_expiry_check(struct agent *a);
void agent_expiry_stop(struct agent *a);
/* The soonest end of a member certificate (alive or suspect members),
 * Unix seconds, and whose it is; 0 when no member is known. */
int64_t agent_expiry_soonest(struct agent *a, const char **who);
/* GET /v1/certs. */
json_t *agent_certs_json(struct agent *a);
/* The expiry part of GET /v1/agent, added to obj. */
void agent_expiry_info(struct agent *a, json_t *obj);

/* Metrics of the agent and gossip (metrics_agent.c), and the optional
 * TCP listener (metrics_server.c). */
int agent_metrics_start(struct agent *a);
void agent_metrics_stop(struct agent *a);
int agent_metrics_listen(struct agent *a);   /* metrics_addr, if set */
void agent_metrics_unlisten(struct agent *a);

/* Gossip on the network (gossip_io.c). */
int agent_gossip_io_start(struct agent *a);
void agent_gossip_io_stop(struct agent *a);
/* Sends what the core queued and re-arms its timer: call after every
 * call into the core. */
void agent_flush(struct agent *a);
int agent_join(struct agent *a, const struct gossip_addr *seeds, size_t n);

/* The cert_revocations callback over the gossip state (ctx: agent). */
bool agent_is_revoked(void *ctx, const uint8_t id[KEY_ID_LEN]);

/* Secure streams for push-pull (stream.c). */
int agent_stream_listen(struct agent *a);
void agent_stream_send(struct agent *a, const struct gossip_addr *to,
                       uint8_t *msg, size_t len);
void agent_streams_close(struct agent *a);

/* Snapshot of known members in the data dir (snapshot.c). */
void agent_snapshot_mark(struct agent *a);
int agent_snapshot_load(struct agent *a, struct gossip_addr **addrs,
                        size_t *n);
int agent_snapshot_write(struct agent *a);

/* Address conversions. */
int agent_addr_from_hostport(const struct agent_hostport *hp,
                             struct gossip_addr *out);
int agent_addr_to_sockaddr(const struct gossip_addr *a,
                           struct sockaddr_storage *out);
int agent_addr_from_sockaddr(const struct sockaddr *sa,
                             struct gossip_addr *out);
/* "IP:PORT" or "[IPv6]:PORT" into out (at least 64 bytes). */
void agent_addr_format(const struct gossip_addr *a, char *out, size_t cap);

#endif
