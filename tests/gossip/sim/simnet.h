/*
 * A simulated network for the gossip core: N nodes of the real core in one
 * process, a virtual clock, per-packet loss, a delay distribution,
 * partitions, crashes, restarts and paused nodes, all from one seed.
 * Used by the cluster tests and by weft-sim.
 */
#ifndef WEFT_TESTS_SIMNET_H
#define WEFT_TESTS_SIMNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/bundle.h"
#include "crypto/key.h"
#include "gossip/gossip.h"
#include "testcrypto.h"

/* Simulated time 0 is this Unix time (ms), so certificates make sense. */
#define SIMNET_T0 1767225600000ll

struct simnet_config {
	size_t nodes;
	uint64_t seed;
	double loss;           /* per packet, 0..1 */
	int64_t delay_min_ms;  /* one-way, uniform in [min, max] */
	int64_t delay_max_ms;
	bool real_crypto;      /* crypto/ for everything, else testcrypto */
	bool share_store;      /* one record store for all nodes */
	bool icmp;             /* a crashed node's host refuses packets */
	size_t operators;      /* nodes 0..operators-1 are in "operator" */
	struct gossip_config gossip;
	/* Called for every event any node reports (t relative ms). */
	void (*on_event)(void *ctx, size_t node, int64_t t,
	                 const struct gossip_event *ev);
	void *ev_ctx;
	/* Sees every packet and stream message sent, before loss. */
	void (*tap)(void *ctx, const uint8_t *p, size_t len, bool stream);
	void *tap_ctx;
};

struct simnode;

struct simid {
	uint8_t id[KEY_ID_LEN];
	size_t index;
};

struct simnet {
	struct simnet_config cfg;
	struct simnode *nodes;
	size_t n;
	int64_t now; /* relative ms */
	uint64_t rng;
	/* event heap */
	struct simev *heap;
	size_t heap_n, heap_cap;
	uint64_t seq;
	/* real crypto */
	struct key_pair ca;
	uint8_t *ca_cert;
	size_t ca_cert_len;
	struct bundle bundle;
	struct gossip_store *store;
	bool partitioned;
	bool streams_cross; /* the partition cuts UDP only */
	struct simid *ids; /* sorted, for simnet_find */
	uint64_t delivered, lost, cut;
};

int simnet_new(struct simnet **out, const struct simnet_config *cfg);
void simnet_free(struct simnet *s);

/* Creates node i's gossip state (not connected to anyone). */
int simnet_start(struct simnet *s, size_t i);
/* Starts nodes 0..n-1 and makes each know all the others, as after a
 * converged join, through the real push-pull merge. */
int simnet_bootstrap(struct simnet *s, size_t n);
/* Node i joins through node seed. */
int simnet_join(struct simnet *s, size_t i, size_t seed);
void simnet_crash(struct simnet *s, size_t i);
/* Starts node i again from nothing and joins it through seed. */
int simnet_restart(struct simnet *s, size_t i, size_t seed);
/* Node i stops processing until now + ms; what arrives waits. */
void simnet_pause(struct simnet *s, size_t i, int64_t ms);
/* Each node i gets group[i]; packets between groups are lost. */
void simnet_partition(struct simnet *s, const int *group);
/* The same for UDP only: push-pull streams still cross (a firewall that
 * drops datagrams, or a lossy path that TCP's retransmissions get over). */
void simnet_partition_udp(struct simnet *s, const int *group);
void simnet_heal(struct simnet *s);
int simnet_leave(struct simnet *s, size_t i);
/* Runs every event up to and including time t (relative ms). */
void simnet_run_until(struct simnet *s, int64_t t);

struct gossip *simnet_gossip(struct simnet *s, size_t i);
bool simnet_is_up(const struct simnet *s, size_t i);
bool simnet_is_paused(const struct simnet *s, size_t i);
const uint8_t *simnet_id(const struct simnet *s, size_t i);
/* The node's signing key (real crypto only) and certificate. */
const struct key_pair *simnet_key(const struct simnet *s, size_t i);
const uint8_t *simnet_cert(const struct simnet *s, size_t i, size_t *len);
/* Index of the node with this key id, or SIZE_MAX. */
size_t simnet_find(const struct simnet *s, const uint8_t id[KEY_ID_LEN]);
/* How node `at` sees node `about`: GOSSIP_* state, or -1 if unknown. */
int simnet_view(struct simnet *s, size_t at, size_t about);
/* Bytes and packets node i sent (UDP and stream). */
void simnet_traffic(const struct simnet *s, size_t i, uint64_t *bytes,
                    uint64_t *pkts);
uint64_t simnet_rand(struct simnet *s);
/* Hands node i a raw packet as if from node `from` (tests of refusal). */
int simnet_inject(struct simnet *s, size_t i, size_t from, const uint8_t *p,
                  size_t len);

#endif
