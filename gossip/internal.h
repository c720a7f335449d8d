/*
 * The gossip core's insides, shared by its files: member.c (the member
 * table and its one state machine), probe.c, suspicion.c, awareness.c,
 * broadcast.c, pushpull.c, objects.c, store.c and gossip.c (the entry
 * points).  Nothing here is part of the API.
 */
#ifndef WEFT_GOSSIP_INTERNAL_H
#define WEFT_GOSSIP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/list.h"
#include "gossip/gossip.h"
#include "gossip/wire.h"

/* --- store.c: verified records and certificates, interned --- */

struct certent {
	struct gossip_ident ident;
	uint8_t *bytes; /* owned */
	size_t len;
	uint32_t refs;
	struct certent *next; /* hash chain by key id */
};

struct rec {
	struct gossip_record *r; /* decoded; owned */
	uint8_t *bytes;          /* the signed envelope; owned */
	size_t len;
	uint64_t hash;           /* of bytes */
	struct certent *cert;    /* holds a reference */
	uint32_t refs;
	struct rec *next;        /* hash chain by bytes */
};

struct gossip_store {
	struct rec **rtab;
	size_t rcap, rcount;
	struct certent **ctab;
	size_t ccap, ccount;
	unsigned users;
	bool owned_by_state; /* created by gossip_new, freed with it */
};

uint64_t store_hash(const uint8_t *p, size_t len);
uint64_t id_u64(const uint8_t id[KEY_ID_LEN]);
struct rec *store_find_rec(struct gossip_store *s, const uint8_t *p,
                           size_t len, uint64_t hash);
struct certent *store_find_cert(struct gossip_store *s,
                                const uint8_t id[KEY_ID_LEN]);
/* Takes ownership of bytes and r on success; the result has one ref. */
int store_add_rec(struct gossip_store *s, uint8_t *bytes, size_t len,
                  uint64_t hash, struct gossip_record *r, struct certent *c,
                  struct rec **out);
/* Returns the entry for the key id, added or replaced by these bytes. */
int store_put_cert(struct gossip_store *s, const uint8_t *bytes, size_t len,
                   const struct gossip_ident *ident, struct certent **out);
void rec_ref(struct rec *r);
void rec_unref(struct gossip_store *s, struct rec *r);
void cert_ref(struct certent *c);
void cert_unref(struct gossip_store *s, struct certent *c);
size_t store_mem(const struct gossip_store *s);

/* --- awareness.c: Lifeguard's local health --- */

struct awareness {
	unsigned score; /* 0 is healthy */
	unsigned max;   /* score stays below this */
};

void awareness_apply(struct awareness *a, int delta);
int64_t awareness_scale(const struct awareness *a, int64_t timeout);

/* --- suspicion.c: Lifeguard's shrinking suspicion timer --- */

#define SUSPICION_MAX_CONFIRM 16

struct suspicion {
	uint32_t member;
	unsigned n; /* independent confirmations so far */
	unsigned k; /* confirmations that take the timer down to min */
	int64_t start, min_ms, max_ms, deadline;
	uint8_t seen[SUSPICION_MAX_CONFIRM + 1][KEY_ID_LEN];
	unsigned n_seen;
	bool asked; /* the last-chance ping went out */
	int64_t floor; /* the deadline never falls below this */
	struct list link;
};

struct suspicion *suspicion_new(uint32_t member, unsigned k, int64_t min_ms,
                                int64_t max_ms, int64_t now,
                                const uint8_t from[KEY_ID_LEN]);
/* True when from is a new independent confirmation (the timer shrank). */
bool suspicion_confirm(struct suspicion *s, const uint8_t from[KEY_ID_LEN]);
int64_t suspicion_timeout(unsigned n, unsigned k, int64_t min_ms,
                          int64_t max_ms);

/* --- broadcast.c: the piggyback queue --- */

#define BCAST_MAX_TIERS 64

struct bcast {
	uint64_t key;   /* what it is about; a newer one replaces it */
	uint32_t transmits;
	uint64_t seq;
	struct list link;   /* in its tier */
	struct bcast *next; /* hash chain */
	size_t len;
	uint8_t msg[];
};

struct bqueue {
	struct list tiers[BCAST_MAX_TIERS]; /* by transmits, newest first */
	struct bcast **tab;
	size_t tcap;
	size_t count, cap;
	uint64_t seq;
	uint64_t dropped;
};

int bqueue_init(struct bqueue *q, size_t cap);
/* A direct probe's round trip, for the stats' histogram (gossip.c). */
struct gossip;
void gossip_note_rtt(struct gossip *g, int64_t rtt_ms);
void bqueue_fini(struct bqueue *q);
/* Queues a copy of msg, replacing any older message with the same key. */
int bqueue_put(struct bqueue *q, uint64_t key, const uint8_t *msg, size_t len);
/*
 * Appends queued messages (each already a msgpack message) to b while
 * they fit in budget bytes, least-sent and newest first; each counts as
 * one transmission, and those sent limit times leave the queue.
 * Returns how many were appended.
 */
size_t bqueue_fill(struct bqueue *q, uint8_t *out, size_t budget,
                   size_t *used, unsigned limit, size_t max_msgs);
#define BKEY_MEMBER(id) (id_u64(id) & ~(1ull << 63))
#define BKEY_OBJECT(h) ((h) | (1ull << 63))

/* --- objects.c --- */

struct obj {
	struct gossip_object o; /* name and value point into this entry */
	uint8_t *msg;           /* the signed object; owned */
	size_t msg_len;
	uint8_t *cert;          /* signer certificate, or NULL; owned */
	size_t cert_len;
	uint64_t key;           /* hash of kind and name */
	uint64_t dig;           /* digest contribution */
	int64_t expires;        /* ms; 0 never */
	char *name_buf;
	uint8_t *value_buf;
	struct obj *next;
};

/* --- the state --- */

struct member {
	uint8_t id[KEY_ID_LEN];  /* the record's, kept here for lookups */
	struct rec *rec;         /* holds a reference; NULL in a free slot */
	struct suspicion *susp;  /* while suspect */
	int64_t since;           /* last state change */
	uint32_t inc;            /* effective incarnation */
	uint8_t state;           /* enum gossip_state */
	uint8_t has_leave;
	uint8_t pad[2];
};

struct seal_slot {
	uint8_t id[KEY_ID_LEN];
	bool used;
	struct seal_keys keys;
};

struct probe {
	bool active;
	bool acked;
	bool indirect_sent;
	uint32_t target;
	uint8_t target_id[KEY_ID_LEN];
	uint32_t seq;
	int64_t start, ack_deadline, end;
	unsigned nacks_expected, nacks;
	bool refused; /* the target's host said its port is closed */
};

struct indirect {
	bool used;
	uint32_t seq;      /* ours, on the ping to the target */
	uint32_t orig_seq; /* the requester's */
	uint8_t orig_id[KEY_ID_LEN];
	struct gossip_addr orig_addr;
	struct gossip_addr target_addr;
	int64_t deadline;
};

struct pull_slot {
	struct gossip_addr addr;
	int64_t at;
};

#define PULL_SLOTS 256

struct gossip {
	struct gossip_config cfg;
	struct gossip_crypto crypto;
	struct weft_rng rng;
	struct gossip_callbacks cb;
	struct gossip_store *store;

	uint8_t self_id[KEY_ID_LEN];
	struct rec *self_rec;
	struct certent *self_cert; /* holds a reference */
	uint32_t self_inc;
	uint64_t self_version;
	/* After a renewal, our records carry the certificate up to this
	 * version (versions follow the clock in ms), so that an update
	 * replacing the first one in the queue carries it too. */
	uint64_t self_cert_until;
	bool leaving;
	bool joining; /* until the first push-pull answer */
	/* Early push-pulls with random members after a join: members that
	 * joined at the same moment may each have missed the other's alive
	 * record, and the regular interval is minutes at a few hundred. */
	unsigned join_followups;
	/* Push-pulls sooner while members keep arriving (gossip.c). */
	size_t pp_live_last;
	unsigned news_followups;
	/* An early push-pull after meeting new members through gossip
	 * (churn_pull_at: when the last one was brought forward to). */
	int64_t churn_pull_at;
	int64_t created;

	/* members */
	struct member *m;
	uint32_t n_slots, cap_slots;
	uint32_t *free_slots;
	uint32_t n_free, cap_free;
	uint32_t *idx;  /* open addressing: slot index + 1, 0 empty */
	size_t idx_cap; /* power of two */
	size_t counts[4];
	uint32_t self;

	/* probing */
	uint32_t *order;
	size_t n_order, order_pos, order_cap;
	struct probe probe;
	int64_t next_probe;
	/* A suspect to probe next, out of turn, to confirm or clear a
	 * suspicion heard from others sooner than the round robin would. */
	bool probe_soon;
	bool probe_soon_alive; /* a refusal hint: alive members too */
	uint32_t probe_soon_idx;
	uint8_t probe_soon_id[KEY_ID_LEN];
	int64_t last_refusal_hint;
	uint32_t seq;
	struct indirect pend[GOSSIP_MAX_PENDING_INDIRECT];
	struct awareness aw;

	/* suspicion timers */
	struct list suspicions;
	int64_t last_cross_check; /* push-pull before an unconfirmed death */

	/* dissemination */
	struct bqueue q;
	int64_t next_gossip;

	/* anti-entropy */
	int64_t next_pushpull;
	int64_t next_reconnect;
	int64_t next_reap;
	uint64_t mdig[WIRE_DIGEST_MEMBERS];
	uint64_t odig[WIRE_DIGEST_OBJECTS];
	/* Push-pull peers that take sparse digests (pushpull.c). */
	uint64_t *sparse_peers;
	size_t sparse_cap, sparse_n;
	struct pull_slot pulls[PULL_SLOTS];
	int64_t pull_window;
	unsigned pulls_in_window;

	/* objects */
	struct obj **otab;
	size_t ocap, ocount, olive;
	uint64_t hlc;
	uint64_t *revoked; /* open addressing set of key ids (as u64) */
	size_t rcap, rcount;

	/* sealing */
	struct seal_slot *seal;

	/* output */
	struct gossip_packet *out;
	size_t out_head, out_n, out_cap;
	struct gossip_stream_msg *sout;
	size_t sout_n, sout_cap;

	struct gossip_stats stats;
	int64_t deadline;
};

/* gossip.c */
void gossip_emit(struct gossip *g, enum gossip_event_kind k,
                 const struct member *m, const struct gossip_object *o);
uint64_t gossip_rand(struct gossip *g);
uint32_t gossip_rand_below(struct gossip *g, uint32_t n);
/* Builds and queues one sealed packet: msg (n_msgs messages) first,
 * then broadcasts that fit. */
int gossip_send(struct gossip *g, const struct member *to,
                const struct gossip_addr *addr, const uint8_t *msg,
                size_t len, size_t n_msgs, bool piggyback);
int gossip_send_stream(struct gossip *g, const struct gossip_addr *to,
                       uint8_t *data, size_t len);
unsigned gossip_retransmit_limit(const struct gossip *g);
size_t gossip_live_count(const struct gossip *g);
bool gossip_random_member(struct gossip *g, uint8_t state, uint32_t *out);
void gossip_pull_soon(struct gossip *g, int64_t now);
void gossip_refuse(struct gossip *g, uint64_t *counter, const char *why);
bool gossip_revocations_has(void *ctx, const uint8_t id[KEY_ID_LEN]);
int gossip_cert_check(struct gossip *g, int64_t now, const uint8_t *cert,
                      size_t len, const char *const *services, size_t n,
                      struct gossip_ident *out);

/* member.c */
struct member *member_find(const struct gossip *g, const uint8_t id[KEY_ID_LEN]);
uint32_t member_index(const struct gossip *g, const struct member *m);
const uint8_t *member_id(const struct member *m);
int member_add(struct gossip *g, struct rec *r, uint32_t *out);
void member_remove(struct gossip *g, uint32_t i);
void member_set_state(struct gossip *g, struct member *m, uint8_t st,
                      uint32_t inc, int64_t now);
/* Accepts a record (with optional cert) through the store. */
int member_verify(struct gossip *g, int64_t now, const uint8_t *rec,
                  size_t rec_len,
                  const uint8_t *cert, size_t cert_len, struct rec **out);
int member_on_alive(struct gossip *g, int64_t now, const uint8_t *rec,
                    size_t rec_len, const uint8_t *cert, size_t cert_len,
                    bool quiet_new);
void member_on_suspect(struct gossip *g, int64_t now,
                       const uint8_t id[KEY_ID_LEN], uint32_t inc,
                       const uint8_t from[KEY_ID_LEN]);
void member_on_dead(struct gossip *g, int64_t now, const uint8_t id[KEY_ID_LEN],
                    uint32_t inc, const uint8_t from[KEY_ID_LEN]);
int member_on_leave(struct gossip *g, int64_t now, const uint8_t *p,
                    size_t len);
int member_refute(struct gossip *g, int64_t now, uint32_t claimed);
int member_sign_self(struct gossip *g, uint32_t inc, uint64_t version);
int member_publish_self(struct gossip *g, const struct gossip_record *tmpl);
void member_free_all(struct gossip *g);
void member_broadcast_alive(struct gossip *g, const struct member *m,
                            bool cert);
void member_reap(struct gossip *g, int64_t now);
void member_suspicion_tick(struct gossip *g, int64_t now);
void member_revoke(struct gossip *g, int64_t now,
                   const uint8_t id[KEY_ID_LEN]);
uint64_t member_digest(const struct member *m);
int64_t member_suspicion_min(const struct gossip *g);
int64_t member_suspicion_max(const struct gossip *g);
const uint8_t *member_zero_id(void);

/* probe.c */
void probe_tick(struct gossip *g, int64_t now);
void probe_on_ping(struct gossip *g, int64_t now, const struct gossip_addr *from,
                   const struct member *sender, const struct wire_msg *m);
void probe_on_ping_req(struct gossip *g, int64_t now,
                       const struct gossip_addr *from,
                       const struct member *sender, const struct wire_msg *m);
void probe_on_ack(struct gossip *g, int64_t now, const struct wire_msg *m);
void probe_on_nack(struct gossip *g, int64_t now, const struct wire_msg *m);
void probe_add_member(struct gossip *g, uint32_t idx);
void probe_last_chance(struct gossip *g, struct member *m);
void probe_suspect_soon(struct gossip *g, int64_t now, uint32_t idx);
void probe_on_refused(struct gossip *g, int64_t now,
                      const struct gossip_addr *to);
int64_t suspicion_ask_at(const struct gossip *g, const struct suspicion *s);
int64_t probe_deadline(const struct gossip *g);

/* pushpull.c */
int pushpull_start(struct gossip *g, int64_t now, const struct gossip_addr *to,
                   uint32_t flags);
int pushpull_recv(struct gossip *g, int64_t now, const struct gossip_addr *from,
                  const uint8_t *p, size_t len);
int64_t pushpull_interval(const struct gossip *g);
int pushpull_encode(struct gossip *g, uint8_t type, uint32_t flags,
                    const uint64_t *want_m, const uint64_t *want_o,
                    uint8_t **out, size_t *out_len);
void pushpull_unknown_key(struct gossip *g, int64_t now,
                          const struct gossip_addr *from);

/* objects.c */
int objects_init(struct gossip *g);
void objects_fini(struct gossip *g);
int objects_on_msg(struct gossip *g, int64_t now, const uint8_t *p,
                   size_t len, const uint8_t *cert, size_t cert_len,
                   bool rebroadcast);
void objects_expire(struct gossip *g, int64_t now);
struct obj *objects_first(const struct gossip *g, size_t *bucket);
struct obj *objects_next(const struct gossip *g, struct obj *o,
                         size_t *bucket);
size_t objects_mem(const struct gossip *g);

#endif
