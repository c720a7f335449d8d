/*
 * The gossip core: SWIM membership with Lifeguard, a piggyback broadcast
 * queue, push-pull anti-entropy, signed member records and cluster objects
 * (routes, intentions, revocations).
 *
 * A pure state machine.  It owns no socket, clock or randomness: time
 * (`now`, milliseconds since the Unix epoch that never go backwards: the
 * agent adds a monotonic clock to the wall time it read at start) and a
 * random generator are inputs; packets and stream messages to send are
 * outputs the caller drains, and gossip_next_deadline() says when to call
 * gossip_tick() again.
 *
 * Wire formats are in gossip/wire.h and docs/PROTOCOL.md.
 */
#ifndef WEFT_GOSSIP_GOSSIP_H
#define WEFT_GOSSIP_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "crypto/cert.h"
#include "crypto/key.h"
#include "crypto/seal.h"

struct gossip;
struct bundle;

/* An address, opaque to the core: compared, copied and put on the wire. */
struct gossip_addr {
	uint8_t family; /* 4 or 6; 0 for none */
	uint8_t ip[16]; /* IPv4 in the first 4 bytes */
	uint16_t port;
};

bool gossip_addr_eq(const struct gossip_addr *a, const struct gossip_addr *b);

/* A service a node runs, as listed in its record. */
struct gossip_service {
	const char *name;
	uint16_t port;
	uint16_t weight;
	uint8_t health; /* 0 unknown, 1 passing, 2 warning, 3 critical */
	const char *const *tags;
	size_t n_tags;
	const char *const *labels; /* subset labels, "key=value" */
	size_t n_labels;
};

/* A member record as decoded; immutable and shared, owned by the core. */
struct gossip_record {
	uint8_t key_id[KEY_ID_LEN];
	const char *name;
	uint32_t incarnation;
	uint64_t version;
	struct gossip_addr addr;      /* gossip, UDP and TCP */
	struct gossip_addr mesh_addr; /* inbound proxy */
	const struct gossip_service *services;
	size_t n_services;
	const char *const *tags; /* free-form "key=value" */
	size_t n_tags;
	/* The end of the certificate the record was verified with (Unix
	 * seconds), filled when the record is stored; not on the wire. */
	int64_t cert_not_after;
	/* The X25519 key its certificate names: the Noise static key a
	 * mesh connection to it can use for IK. */
	uint8_t dh_pk[KEY_PK_LEN];
};

enum gossip_state {
	GOSSIP_ALIVE = 0,
	GOSSIP_SUSPECT = 1,
	GOSSIP_DEAD = 2,
	GOSSIP_LEFT = 3,
};

const char *gossip_state_name(enum gossip_state s);

/* What the core learned about a certificate (see struct gossip_crypto). */
#define GOSSIP_IDENT_OPERATOR 0x1u
#define GOSSIP_IDENT_CA 0x2u

struct gossip_ident {
	uint8_t key_id[KEY_ID_LEN];
	uint8_t sign_pk[KEY_PK_LEN];
	uint8_t dh_pk[KEY_PK_LEN];
	uint32_t flags;
	int64_t not_before; /* Unix seconds */
	int64_t not_after;
};

/*
 * The cryptography the core uses, as a table so the simulator can swap in
 * a cheap test-only provider for large N.  gossip_crypto_real() fills it
 * with the real one (crypto/: Ed25519, certificates against the trust
 * bundle, X25519 + XChaCha20-Poly1305 sealing).  Every function returns 0
 * or a negative WEFT_E code.
 */
struct gossip_crypto {
	/* Signs msg in domain as this node. */
	int (*sign)(void *ctx, enum key_sig_domain d, const uint8_t *msg,
	            size_t len, uint8_t sig[KEY_SIG_LEN]);
	int (*verify)(void *ctx, const uint8_t pk[KEY_PK_LEN],
	              enum key_sig_domain d, const uint8_t *msg, size_t len,
	              const uint8_t sig[KEY_SIG_LEN]);
	/*
	 * Decodes a node certificate, verifies it against the trust bundle
	 * at now_s (Unix seconds) with the state's revocations, and checks
	 * that it allows each of the n services.  Fills *out.  The core
	 * checks the validity window and revocation again at each use.
	 */
	int (*cert_check)(void *ctx, const uint8_t *cert, size_t len,
	                  int64_t now_s, const struct cert_revocations *rev,
	                  const char *const *services, size_t n,
	                  struct gossip_ident *out);
	/* The sign key of a CA of the bundle, for objects signed by a CA. */
	int (*ca_key)(void *ctx, const uint8_t id[KEY_ID_LEN],
	              uint8_t pk[KEY_PK_LEN]);
	/* Decodes a revocation statement and verifies its CA signature. */
	int (*revoke_check)(void *ctx, const uint8_t *p, size_t len,
	                    uint8_t key_id[KEY_ID_LEN], int64_t *until);
	/* Derives the sealing keys shared with the peer's X25519 key. */
	int (*derive)(void *ctx, const uint8_t peer_dh_pk[KEY_PK_LEN],
	              struct seal_keys *out);
	int (*seal)(void *ctx, const struct seal_keys *k,
	            const uint8_t sender[KEY_ID_LEN], const struct weft_rng *rng,
	            const uint8_t *plain, size_t len, uint8_t *out, size_t cap,
	            size_t *out_len);
	int (*open)(void *ctx, const struct seal_keys *k, const uint8_t *pkt,
	            size_t len, uint8_t *out, size_t cap, size_t *out_len);
	void *ctx;
	const char *name; /* "real", or a test provider's name */
};

/*
 * The real provider for node key k and trust bundle b; both are borrowed
 * and must outlive every gossip state using the table.
 */
struct gossip_crypto_real_ctx {
	const struct key_pair *key;
	const struct bundle *bundle;
	int64_t skew_s; /* allowed clock skew on validity windows */
};
void gossip_crypto_real(struct gossip_crypto *out,
                        struct gossip_crypto_real_ctx *ctx);

/* Timing and size parameters; every one of them can be set. */
struct gossip_config {
	int64_t probe_interval_ms;
	int64_t probe_timeout_ms;
	unsigned indirect_checks;      /* k members asked to ping-req */
	int64_t gossip_interval_ms;
	unsigned fanout;
	unsigned retransmit_mult;      /* sends = mult x ceil(log10(N+1)) */
	unsigned suspicion_mult;       /* min = mult x log10(N) x unit */
	unsigned suspicion_max_mult;   /* max = this x min */
	unsigned suspicion_confirm;    /* k; 0 means suspicion_mult - 2 */
	/* The unit min counts in: GOSSIP_SUSPICION_PER_PROBE (memberlist) or
	 * GOSSIP_SUSPICION_PER_GOSSIP. */
	unsigned suspicion_unit;
	/* Members expected to probe a suspect next on hearing of it (each
	 * with chance this / N); 0: only the shuffled round robin does. */
	unsigned suspicion_probers;
	/* weft's guards on a short suspicion: local health stretches the
	 * timers this node starts, and one fewer than k others confirmed is
	 * cross-checked by a push-pull before it ends (memberlist: neither). */
	bool suspicion_guard;
	unsigned awareness_max;        /* Lifeguard health score cap */
	int64_t pushpull_interval_ms;  /* at 32 members; scaled up beyond */
	int64_t reconnect_interval_ms; /* push-pull to a random dead member */
	int64_t gossip_to_dead_ms;     /* still gossip to the newly dead */
	int64_t reap_after_ms;         /* forget dead and left members */
	int64_t tombstone_ttl_ms;      /* object deletions kept this long */
	int64_t join_grace_ms;         /* no suspicion by a node this new */
	int64_t unknown_pull_ms;       /* min gap between pulls per address */
	int64_t cert_skew_s;
	size_t mtu;                    /* largest UDP payload we send */
	size_t queue_cap;              /* broadcast queue items */
	size_t seal_cache;             /* peers whose keys stay derived */
	/*
	 * Verified records and certificates, interned by their bytes.  NULL:
	 * the state keeps its own.  The simulator shares one store between
	 * all its nodes to hold one copy of each record instead of N; only
	 * nodes with the same trust bundle may share one, and never across
	 * threads.
	 */
	struct gossip_store *store;
};

struct gossip_store;
int gossip_store_new(struct gossip_store **out);
/* Every state using the store must be freed first. */
void gossip_store_free(struct gossip_store *s);
/* Bytes the store holds, for the per-member memory figure. */
size_t gossip_store_mem_usage(const struct gossip_store *s);

enum {
	GOSSIP_SUSPICION_PER_PROBE = 0,
	GOSSIP_SUSPICION_PER_GOSSIP = 1,
};

enum gossip_profile {
	GOSSIP_PROFILE_WEFT = 0,
	/* memberlist's LAN defaults, the baseline the weft ones are measured
	 * against in the simulator. */
	GOSSIP_PROFILE_MEMBERLIST = 1,
};

void gossip_config_default(struct gossip_config *c, enum gossip_profile p);

/* Who this node is.  Everything is copied by gossip_new(). */
struct gossip_identity {
	const char *name;
	struct gossip_addr addr;
	struct gossip_addr mesh_addr;
	const struct gossip_service *services;
	size_t n_services;
	const char *const *tags;
	size_t n_tags;
	const uint8_t *cert; /* our node certificate, encoded */
	size_t cert_len;
	/* The incarnation to start at: above the last one this node used
	 * (the agent keeps it in its snapshot), so rumours of its death from
	 * before a restart are refuted at once.  0 on a first start. */
	uint32_t incarnation;
};

enum gossip_event_kind {
	GOSSIP_EV_JOINED = 1,
	GOSSIP_EV_UPDATED,
	GOSSIP_EV_SUSPECT,
	GOSSIP_EV_ALIVE, /* alive again after suspicion or death */
	GOSSIP_EV_FAILED,
	GOSSIP_EV_LEFT,
	GOSSIP_EV_REAPED,
	GOSSIP_EV_OBJECT_PUT,
	GOSSIP_EV_OBJECT_DELETED,
};

const char *gossip_event_name(enum gossip_event_kind k);

struct gossip_object;

/* Pointers are borrowed for the duration of the callback. */
struct gossip_event {
	enum gossip_event_kind kind;
	const uint8_t *key_id;            /* member events */
	const struct gossip_record *rec;  /* member events */
	const struct gossip_object *obj;  /* object events */
};

struct gossip_callbacks {
	/* Must not call back into the core. */
	void (*on_event)(void *ctx, const struct gossip_event *ev);
	void *ctx;
};

/*
 * Creates the state for this node.  cfg, id, crypto, rng and cb are
 * copied or borrowed: crypto's and rng's contexts must outlive the state.
 * The own certificate must pass cert_check and allow every service listed.
 * Caller frees with gossip_free().
 */
int gossip_new(struct gossip **out, const struct gossip_config *cfg,
               const struct gossip_identity *id,
               const struct gossip_crypto *crypto, const struct weft_rng *rng,
               const struct gossip_callbacks *cb, int64_t now);
void gossip_free(struct gossip *g);

/* Starts push-pull exchanges with the seeds (stream messages out). */
int gossip_join(struct gossip *g, int64_t now, const struct gossip_addr *seeds,
                size_t n);

/* Signs and broadcasts a leave intent; the state stops probing. */
int gossip_leave(struct gossip *g, int64_t now);

/* Replaces this node's services; a new record version is broadcast. */
int gossip_set_services(struct gossip *g, int64_t now,
                        const struct gossip_service *services, size_t n);

/*
 * Replaces this node's certificate with a reissued one for the same key
 * (a renewal): checked like the first (WEFT_EINVAL for another key), then
 * a new record version is broadcast so every member learns the new end.
 */
int gossip_set_cert(struct gossip *g, int64_t now, const uint8_t *cert,
                    size_t len);

/*
 * One UDP packet from `from`.  Returns 0 when it was processed, or the
 * reason it was dropped (the packet then changed nothing; see stats).
 */
int gossip_recv_packet(struct gossip *g, int64_t now,
                       const struct gossip_addr *from, const uint8_t *p,
                       size_t len);

/*
 * A packet we sent to `to` was answered with ICMP port unreachable (the
 * host is up, nothing listens on that port: a crashed agent).  A hint
 * that hastens probing that address; it kills no one by itself.
 */
void gossip_recv_refused(struct gossip *g, int64_t now,
                         const struct gossip_addr *to);

/* Runs every timer due at now. */
int gossip_tick(struct gossip *g, int64_t now);

/* When gossip_tick() must be called next. */
int64_t gossip_next_deadline(const struct gossip *g);

/* A packet to send.  On a pop the caller owns data and frees it. */
struct gossip_packet {
	struct gossip_addr to;
	uint8_t *data;
	size_t len;
};

bool gossip_pop_packet(struct gossip *g, struct gossip_packet *out);

/*
 * Push-pull travels as stream messages: the caller carries each one to
 * `to` over a secure stream (TCP + Noise in the agent) and hands it to
 * that node's gossip_recv_stream(), which may answer with a stream message
 * back to the sender.  On a pop the caller owns data and frees it.
 */
struct gossip_stream_msg {
	struct gossip_addr to;
	uint8_t *data;
	size_t len;
};

bool gossip_pop_stream(struct gossip *g, struct gossip_stream_msg *out);

int gossip_recv_stream(struct gossip *g, int64_t now,
                       const struct gossip_addr *from, const uint8_t *p,
                       size_t len);

/*
 * Encodes this node's whole state as one push message (a stream message a
 * peer merges without answering).  *out is allocated (free()).
 */
int gossip_export_state(struct gossip *g, uint8_t **out, size_t *out_len);

/* Member queries.  Records are borrowed until the next call into g. */
size_t gossip_member_count(const struct gossip *g, enum gossip_state s);
int gossip_member_get(const struct gossip *g, const uint8_t id[KEY_ID_LEN],
                      enum gossip_state *state,
                      const struct gossip_record **rec);
/* Calls fn for every member (this node included). */
void gossip_member_foreach(const struct gossip *g,
                           void (*fn)(void *ctx, enum gossip_state s,
                                      const struct gossip_record *rec),
                           void *ctx);
const uint8_t *gossip_self_id(const struct gossip *g);

/* Cluster objects. */
enum gossip_object_kind {
	GOSSIP_OBJ_ROUTE = 1,
	GOSSIP_OBJ_INTENTION = 2,
	GOSSIP_OBJ_REVOCATION = 3,
};

#define GOSSIP_OBJ_NAME_MAX 255
/* The text armour of a signed object message (crypto/armor.h). */
#define GOSSIP_OBJECT_ARMOR_LABEL "OBJECT"
#define GOSSIP_OBJ_VALUE_MAX 8192

struct gossip_object {
	uint8_t kind;
	const char *name;
	uint64_t hlc; /* hybrid logical clock: ms << 16 | logical */
	uint8_t signer[KEY_ID_LEN];
	bool deleted;
	const uint8_t *value;
	size_t value_len;
};

/*
 * Builds a signed object message: sign is the signer's key (an operator's
 * node key or a CA key), cert its certificate (NULL for a CA of the
 * bundle).  *out is allocated (free()).
 */
int gossip_object_make(const struct key_pair *sign, const uint8_t *cert,
                       size_t cert_len, uint8_t kind, const char *name,
                       uint64_t hlc, bool deleted, const uint8_t *value,
                       size_t value_len, uint8_t **out, size_t *out_len);

/* An HLC stamp for a new write at now, after every version seen. */
uint64_t gossip_hlc_next(struct gossip *g, int64_t now);

/* Verifies, stores and broadcasts a signed object message. */
int gossip_object_put(struct gossip *g, int64_t now, const uint8_t *msg,
                      size_t len);

/* Borrowed until the next call into g; deleted ones are tombstones. */
const struct gossip_object *gossip_object_get(const struct gossip *g,
                                              uint8_t kind, const char *name);
size_t gossip_object_count(const struct gossip *g, bool with_tombstones);
void gossip_object_foreach(const struct gossip *g,
                           void (*fn)(void *ctx,
                                      const struct gossip_object *o),
                           void *ctx);
bool gossip_is_revoked(const struct gossip *g, const uint8_t id[KEY_ID_LEN]);

/* Counters, for metrics and for the tests. */
#define GOSSIP_RTT_BUCKETS 10

struct gossip_stats {
	uint64_t pkts_in, pkts_out, bytes_in, bytes_out;
	uint64_t streams_in, streams_out, stream_bytes_in, stream_bytes_out;
	uint64_t drop_unknown_key;  /* sealed by a key id we do not know */
	uint64_t drop_revoked_key;
	uint64_t drop_bad_seal;
	uint64_t drop_malformed;    /* decoder refused (see last_reason) */
	uint64_t refused_records;   /* bad signature, certificate, policy */
	uint64_t refused_objects;
	uint64_t unknown_pulls;     /* pulls started by an unknown key id */
	uint64_t probes, probe_fails, indirect_probes;
	uint64_t suspicions, refutations, deaths_declared;
	uint64_t sig_verifies, sig_cache_hits;
	uint64_t queue_dropped;
	uint64_t refusals; /* ICMP port unreachable for our packets */
	/* Round trips of direct probes answered in time, in milliseconds
	 * (the core's clock): counts per bucket of gossip_rtt_bounds_ms(),
	 * the last one above every bound. */
	uint64_t probe_rtt_le[GOSSIP_RTT_BUCKETS + 1];
	uint64_t probe_rtt_count;
	uint64_t probe_rtt_sum_ms;
	const char *last_reason;    /* static text of the last refusal */
};

const struct gossip_stats *gossip_get_stats(const struct gossip *g);
/* The upper bounds (ms) of the probe round-trip buckets, ascending. */
const int64_t *gossip_rtt_bounds_ms(size_t *n);
/* Broadcasts waiting in the piggyback queue. */
size_t gossip_queue_depth(const struct gossip *g);
/* Lifeguard's local health score (0 is healthy). */
unsigned gossip_health_score(const struct gossip *g);
/* Bytes the state holds, for the per-member memory figure. */
size_t gossip_mem_usage(const struct gossip *g);

#endif
