/*
 * The data plane's workers.  proxy_workers.c (the set, on the main
 * thread) builds routing snapshots from gossip and hands them, and
 * renewed identities, to every worker; proxy_io.c is one worker: its own
 * libuv loop, listeners (SO_REUSEPORT), pooled mesh connections, streams
 * and balancer state.  Worker 0 runs on the agent's loop; the others on
 * threads of their own.
 *
 * Threads share only: the snapshot (immutable, reference-counted
 * atomically), the per-service metrics (locked), the circuit limits
 * (atomic), the log sink, and the set's mailbox and event queue.
 */
#ifndef WEFT_AGENT_PROXY_WORKERS_H
#define WEFT_AGENT_PROXY_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct agent;
struct agent_identity;
struct agent_proxy;
struct circuit;
struct circuit_limits;
struct json_t;
struct metrics_writer;
struct proxy_metrics;
struct proxy_workers;
struct sockaddr;
struct table;

struct proxy_worker_init {
	struct agent *a;  /* read here, on the main thread, never later */
	struct proxy_workers *set;
	unsigned index;
	uv_loop_t *loop;  /* the worker's */
	struct table *table;      /* its first snapshot: the worker takes a
	                           * reference of its own */
	struct proxy_metrics *pm; /* shared */
};

/* Main thread, before the worker's loop runs: everything set up and
 * listening.  On failure *out may still be set and must be stopped and
 * freed (its loop run) like a running one. */
int agent_proxy_worker_new(const struct proxy_worker_init *in,
                           struct agent_proxy **out);
/* The worker's thread: a new snapshot (the worker takes over the
 * reference). */
void agent_proxy_worker_set_table(struct agent_proxy *px, struct table *t);
/* The worker's thread: a renewed certificate (takes over *id's storage;
 * id itself stays the caller's). */
void agent_proxy_worker_set_identity(struct agent_proxy *px,
                                     struct agent_identity *id,
                                     int64_t skew_s);
/* The worker's thread: another worker ejected this endpoint (outlier
 * detection) for for_ms; take it out here too. */
void agent_proxy_worker_eject(struct agent_proxy *px, const char *service,
                              const uint8_t *key_id, uint16_t port,
                              int64_t for_ms);
/* The worker's thread: closes listeners and connections. */
void agent_proxy_worker_stop(struct agent_proxy *px);
/* After its loop has run every close callback. */
void agent_proxy_worker_free(struct agent_proxy *px);
/* Any thread: the counters of n workers, summed, as metrics. */
void agent_proxy_workers_collect(struct agent_proxy *const *w, size_t n,
                                 struct metrics_writer *mw);

/* For the workers (proxy_io.c): the set's side. */
void proxy_workers_post_event(struct proxy_workers *set, struct json_t *ev);
bool proxy_workers_heard(const struct proxy_workers *set);
/* Worker from ejected an endpoint: tell the others (a few are queued per
 * worker; past that, they find out from their own traffic). */
void proxy_workers_share_ejection(struct proxy_workers *set, unsigned from,
                                  const char *service, const uint8_t *key_id,
                                  uint16_t port, int64_t for_ms);
struct circuit *proxy_workers_circuit(struct proxy_workers *set,
                                      const void *key,
                                      const struct circuit_limits *lim);
/* Whether sa must be checked as free before the first SO_REUSEPORT bind
 * (true once per address). */
bool proxy_workers_first_bind(struct proxy_workers *set,
                              const struct sockaddr *sa);

#endif
