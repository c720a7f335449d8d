/*
 * The data plane on libuv: the mesh listener, upstream listeners, pooled
 * mesh connections to peer agents, and the relay between app sockets and
 * mesh streams.  The decisions (authorization, endpoint choice, HTTP/2,
 * flow control) are proxy/'s; this file only moves bytes and reports.
 */
#ifndef WEFT_AGENT_PROXY_IO_H
#define WEFT_AGENT_PROXY_IO_H

#include <stdint.h>

struct agent;
struct agent_proxy;

/* Starts proxy_workers (0: one per core) data-plane workers, each
 * listening on the mesh and upstream addresses (agent/proxy_workers.h). */
int agent_proxy_start(struct agent *a);
/* Closes listeners and connections; the struct is freed once every
 * handle has closed. */
void agent_proxy_stop(struct agent *a);
/* After the loop has run every close callback. */
void agent_proxy_free(struct agent *a);
/* The identity was reloaded (a->id replaced in place): new handshakes
 * present the new certificate. */
void agent_proxy_identity_changed(struct agent *a);
/* Gossip changed: rebuild the tables soon (coalesced). */
void agent_proxy_mark_dirty(struct agent *a);

/* Counters of one worker, summed over workers for metrics. */
struct agent_proxy_stats {
	uint64_t streams_out, streams_in;
	uint64_t refused_out; /* our streams the peer refused */
	uint64_t denied_in;   /* inbound streams authorization refused */
	uint64_t no_endpoint; /* app connections with nowhere to go */
	uint64_t connect_fail;
	uint64_t conns_out, conns_in;
	uint64_t active_streams;
	uint64_t circuit_overflows; /* TCP app connections over the limit */
	uint64_t bytes_up, bytes_down;
};

#endif
