/*
 * Gossip wire format (docs/PROTOCOL.md, "## Gossip").  Every message is a
 * msgpack array whose first element is its type; a UDP packet's plaintext
 * (inside the seal, crypto/seal.h) is one message, often a COMPOUND of
 * several.  Push-pull messages travel on a stream.
 *
 * Decoders check the structure with common/mpcheck.h before msgpack-c
 * allocates anything, then check type and size of every field; they
 * change no state, so a packet is decoded whole before any of it applies.
 */
#ifndef WEFT_GOSSIP_WIRE_H
#define WEFT_GOSSIP_WIRE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "gossip/gossip.h"

/*
 * Message types.  WARNING: ONLY APPEND TO THIS LIST!  The numbers are part
 * of the protocol itself.  A receiver skips types it does not know, so a
 * newer node can talk to an older one.
 */
enum wire_type {
	WIRE_PING = 1,     /* [1, seq, target id] */
	WIRE_PING_REQ = 2, /* [2, seq, target id, target addr] */
	WIRE_ACK = 3,      /* [3, seq] */
	WIRE_NACK = 4,     /* [4, seq] */
	WIRE_SUSPECT = 5,  /* [5, node id, incarnation, from id] */
	WIRE_ALIVE = 6,    /* [6, record, cert | nil] */
	WIRE_DEAD = 7,     /* [7, node id, incarnation, from id] */
	WIRE_LEAVE = 8,    /* [8, leave] */
	WIRE_OBJECT = 9,   /* [9, object, signer cert | nil] */
	WIRE_COMPOUND = 10, /* [10, [message, ...]] */
	WIRE_PP_REQ = 11,  /* [11, flags, member digest, object digest] */
	WIRE_PP_RESP = 12, /* [12, flags, member digest, object digest,
	                       [entry, ...], [object entry, ...]] */
	WIRE_PP_PUSH = 13, /* [13, flags, [entry, ...], [object entry, ...]] */
};

#define WIRE_FORMAT_VERSION 1 /* first element of every signed body */

/* Caps on what a peer can make us hold or parse. */
#define WIRE_MAX_PACKET 65507       /* largest UDP payload */
#define WIRE_MAX_MSGS 128           /* messages in one packet */
#define WIRE_MAX_STREAM (64u << 20) /* one push-pull message */
#define WIRE_MAX_RECORD 4096        /* a signed record */
#define WIRE_MAX_CERT CERT_ENCODED_MAX
#define WIRE_MAX_LEAVE 256
#define WIRE_MAX_OBJECT (GOSSIP_OBJ_VALUE_MAX + 512)
#define WIRE_MAX_STR 255            /* names, tags, labels */
#define WIRE_MAX_SERVICES CERT_MAX_SERVICES
#define WIRE_MAX_TAGS 32            /* per record and per service */
#define WIRE_ADDR_LEN 19            /* family, 16 address bytes, port */
#define WIRE_DIGEST_MEMBERS 256     /* member buckets in a digest */
#define WIRE_DIGEST_OBJECTS 64      /* object buckets in a digest */
#define GOSSIP_MAX_MEMBERS 65536
#define GOSSIP_MAX_OBJECTS 16384
#define GOSSIP_MAX_PENDING_INDIRECT 64
#define GOSSIP_MAX_OUT_PACKETS 4096
#define GOSSIP_MAX_OUT_STREAMS 64

/* Push-pull flags. */
#define WIRE_PP_JOIN 0x1u      /* the sender is joining */
#define WIRE_PP_SPARSE_OK 0x2u /* the sender takes sparse digests */
#define WIRE_PP_SPARSE 0x4u    /* this message's digests may be sparse */

/* One decoded message; pointers point into the packet. */
struct wire_msg {
	uint8_t type;
	uint32_t seq;
	uint32_t inc;
	uint8_t id[KEY_ID_LEN]; /* target or node */
	uint8_t from[KEY_ID_LEN];
	struct gossip_addr addr;
	const uint8_t *a; /* record, leave or object */
	size_t a_len;
	const uint8_t *b; /* certificate, may be NULL */
	size_t b_len;
};

/*
 * Decodes a packet's plaintext into at most WIRE_MAX_MSGS messages.
 * Unknown types are skipped (counted in *skipped).  On error *why names
 * what was wrong and nothing is returned.
 */
int wire_decode_packet(const uint8_t *p, size_t len, struct wire_msg *msgs,
                       size_t *n, size_t *skipped, const char **why);

/* A push-pull entry, as decoded. */
struct wire_entry {
	uint8_t state;
	uint32_t inc;
	const uint8_t *rec;
	size_t rec_len;
	const uint8_t *cert;
	size_t cert_len;
	const uint8_t *leave;
	size_t leave_len;
};

struct wire_obj_entry {
	const uint8_t *obj;
	size_t obj_len;
	const uint8_t *cert;
	size_t cert_len;
};

/* A decoded stream message; arrays are allocated (wire_stream_fini). */
struct wire_stream {
	uint8_t type;
	uint32_t flags;
	/* The digests, expanded (a sparse one lists its non-zero buckets). */
	uint64_t mdigest[WIRE_DIGEST_MEMBERS];
	uint64_t odigest[WIRE_DIGEST_OBJECTS];
	struct wire_entry *entries;
	size_t n_entries;
	struct wire_obj_entry *objs;
	size_t n_objs;
};

int wire_decode_stream(const uint8_t *p, size_t len, struct wire_stream *out,
                       const char **why);
void wire_stream_fini(struct wire_stream *s);

/* Decoded record body; strings are allocated in one block (free(rec)). */
int wire_decode_record(const uint8_t *p, size_t len,
                       struct gossip_record **rec, const uint8_t **body,
                       size_t *body_len, uint8_t sig[KEY_SIG_LEN],
                       const char **why);

struct wire_leave {
	uint8_t key_id[KEY_ID_LEN];
	uint32_t inc;
	const uint8_t *body;
	size_t body_len;
	uint8_t sig[KEY_SIG_LEN];
};

int wire_decode_leave(const uint8_t *p, size_t len, struct wire_leave *out,
                      const char **why);

struct wire_object {
	struct gossip_object o;
	char name[GOSSIP_OBJ_NAME_MAX + 1];
	const uint8_t *body;
	size_t body_len;
	uint8_t sig[KEY_SIG_LEN];
};

/* o.name points into out->name; o.value into p. */
int wire_decode_object(const uint8_t *p, size_t len, struct wire_object *out,
                       const char **why);

/* Encoders.  They write into a bounded buffer; check b->err once. */
void wire_packer_init(msgpack_packer *pk, struct buf *b);
void wire_put_bin(msgpack_packer *pk, const void *p, size_t n);
void wire_put_addr(msgpack_packer *pk, const struct gossip_addr *a);
void wire_put_ping(struct buf *b, uint8_t type, uint32_t seq,
                   const uint8_t id[KEY_ID_LEN],
                   const struct gossip_addr *addr);
void wire_put_ack(struct buf *b, uint8_t type, uint32_t seq);
void wire_put_claim(struct buf *b, uint8_t type, const uint8_t id[KEY_ID_LEN],
                    uint32_t inc, const uint8_t from[KEY_ID_LEN]);
void wire_put_pair(struct buf *b, uint8_t type, const uint8_t *a, size_t a_len,
                   const uint8_t *c, size_t c_len);
void wire_put_leave_msg(struct buf *b, const uint8_t *leave, size_t len);

/* Record and leave bodies (the signed bytes). */
int wire_encode_record_body(const struct gossip_record *r, uint8_t **out,
                            size_t *out_len);
int wire_encode_leave_body(const uint8_t id[KEY_ID_LEN], uint32_t inc,
                           uint8_t *out, size_t cap, size_t *out_len);
int wire_encode_object_body(const struct gossip_object *o, uint8_t **out,
                            size_t *out_len);
/* [body, sig]; *out is allocated (free()). */
int wire_envelope(const uint8_t *body, size_t body_len,
                  const uint8_t sig[KEY_SIG_LEN], uint8_t **out,
                  size_t *out_len);

#endif
