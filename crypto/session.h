/*
 * weft's secure session: Noise over a byte stream, with the node
 * certificates as handshake payloads (docs/PROTOCOL.md, "Secure channel").
 *
 * Sans-I/O: the caller feeds received bytes with session_recv() and takes
 * decrypted plaintext with session_plain_peek()/session_plain_consume();
 * it gives plaintext with session_write() and sends what
 * session_out_peek() shows, then session_out_consume().  Time comes in as
 * arguments: wall time (Unix seconds) for certificate checks, monotonic
 * milliseconds for the handshake deadline, which the caller enforces by
 * calling session_tick() by session_deadline().
 *
 * Any failure closes the session for good: every later call returns
 * WEFT_ECLOSED, and session_reason() says in one sentence what was wrong.
 * No plaintext is released before the peer has been authenticated.
 *
 * The session proves who the peer is; whether that peer is the one wanted
 * (the node gossip named, a node allowed to serve a service) is the
 * caller's decision, made on session_peer().
 */
#ifndef WEFT_CRYPTO_SESSION_H
#define WEFT_CRYPTO_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "crypto/cert.h"
#include "crypto/key.h"
#include "crypto/noise.h"

/* The prologue is this, then the initiator's two hello bytes (the suite
 * it offers, the suite the responder refused before or 0), so both sides
 * hash the suite choice exactly as it crossed the wire. */
#define SESSION_PROLOGUE "weft/2"
/* The initiator's first frame starts with these clear bytes. */
#define SESSION_HELLO_LEN 2
/* A responder's refusal of the offered suite: 0, then the mask of the
 * suites it accepts (SESSION_CIPHER_BIT). */
#define SESSION_REFUSAL_LEN 2
#define SESSION_CIPHER_BIT(id) (1u << (id))
/* Largest plaintext one transport message carries. */
#define SESSION_CHUNK_MAX (NOISE_MAX_MSG - NOISE_TAGLEN)
/* What makes a bulk session move to OpenSSL (session_config.bulk):
 * records of at least this many bytes, this many of them one way.  A
 * file transfer fills records; request traffic, even batched, does not. */
#define SESSION_BULK_RECORD (32u * 1024)
#define SESSION_BULK_AFTER 64u
/* Largest handshake frame accepted: the hello, a certificate plus keys
 * and tags. */
#define SESSION_HANDSHAKE_MAX (SESSION_HELLO_LEN + CERT_ENCODED_MAX + \
                               2 * NOISE_DHLEN + 3 * NOISE_TAGLEN)
#define SESSION_HANDSHAKE_TIMEOUT_MS 10000
/* Both sides rekey each direction after this many messages in it. */
#define SESSION_REKEY_AFTER 100000
#define SESSION_REASON_MAX 200

struct bundle;

/*
 * Everything here must outlive the session; nothing is copied except the
 * Noise static key, into the handshake state.
 */
struct session_config {
	const struct key_pair *self;  /* dh_sk is our Noise static key */
	const uint8_t *cert;          /* our encoded certificate */
	size_t cert_len;
	const struct bundle *bundle;  /* CAs that may sign a peer's cert */
	const struct cert_revocations *revoked; /* may be NULL */
	int64_t skew_s;               /* clock skew allowed on validity */
	enum noise_hash hash;         /* 0: NOISE_HASH_BLAKE2B */
	/* Suites (Noise ciphers) this side accepts, as SESSION_CIPHER_BIT()s;
	 * 0: every one this CPU runs.  The initiator offers the fastest,
	 * AESGCM before ChaChaPoly; docs/PROTOCOL.md has the negotiation. */
	unsigned ciphers;
	/* The session may carry bulk data (the mesh): a direction that has
	 * carried SESSION_BULK_AFTER full-size AESGCM records moves them to
	 * OpenSSL.  Otherwise (gossip's push-pull) they stay on libsodium,
	 * and a process that never moves bulk never pays OpenSSL's setup. */
	bool bulk;
	int64_t handshake_timeout_ms; /* 0: SESSION_HANDSHAKE_TIMEOUT_MS */
	uint64_t rekey_after;         /* 0: SESSION_REKEY_AFTER */
	const struct weft_rng *rng;   /* ephemeral keys */
};

enum session_state {
	SESSION_HANDSHAKE = 1,
	SESSION_ESTABLISHED,
	SESSION_CLOSED,
};

/* Who the peer is, valid while the session lives. */
struct session_peer {
	const char *name;
	const char *const *services;
	size_t n_services;
	const char *const *groups;
	size_t n_groups;
	uint8_t key_id[KEY_ID_LEN];
	uint8_t static_pk[NOISE_DHLEN];
	uint8_t handshake_hash[NOISE_HASHLEN_MAX];
	size_t hash_len;
	enum noise_pattern pattern; /* IK or XX */
	enum noise_cipher_id cipher; /* the suite both sides ran */
	const struct cert *cert;
};

struct session;

/*
 * Creates a session.  An initiator that knows the responder's static key
 * (remote_static, from gossip) runs IK, otherwise XX; its first message is
 * queued for sending at once.  A responder takes whichever the initiator
 * chose.  now_unix is the time certificates are checked against; now_ms
 * starts the handshake deadline.  WEFT_EINVAL when cfg->ciphers names an
 * unknown cipher or none this CPU runs.  Free with session_free().
 */
int session_new(const struct session_config *cfg, bool initiator,
                const uint8_t *remote_static, int64_t now_ms, int64_t now_unix,
                struct session **out);
/* Wipes every key and frees the session; NULL is fine. */
void session_free(struct session *s);

/*
 * Feeds received bytes; consumes all of them.  Returns 0, or the error that
 * closed the session (WEFT_EMALFORMED, WEFT_ETOOBIG, WEFT_ETRUNC,
 * WEFT_ECRYPTO, WEFT_EAUTH, certificate errors as from cert_verify, ...);
 * WEFT_ECLOSED once closed.
 */
int session_recv(struct session *s, const uint8_t *data, size_t len);

/*
 * Encrypts plaintext for sending, in messages of at most SESSION_CHUNK_MAX
 * bytes.  WEFT_ESTATE before the session is established.
 */
int session_write(struct session *s, const uint8_t *data, size_t len);

/*
 * The same without a copy: *plain points at room for SESSION_CHUNK_MAX
 * plaintext bytes inside the output, where the caller writes one
 * message's plaintext; session_write_commit(s, len) seals those len bytes
 * in place (0: nothing was written, the room is given back).  Between
 * the two, no other call may touch the session's output (session_write
 * refuses with WEFT_ESTATE).  WEFT_ESTATE before the session is
 * established or when room is out already; WEFT_EINVAL for a commit
 * without room or past SESSION_CHUNK_MAX (the room is given back).
 */
int session_write_reserve(struct session *s, uint8_t **plain);
int session_write_commit(struct session *s, size_t len);

/* Bytes waiting to be sent; the view is valid until the next call. */
void session_out_peek(const struct session *s, const uint8_t **p, size_t *len);
void session_out_consume(struct session *s, size_t n);

/* Decrypted plaintext waiting to be read. */
void session_plain_peek(const struct session *s, const uint8_t **p,
                        size_t *len);
void session_plain_consume(struct session *s, size_t n);

/*
 * The monotonic time by which the handshake must finish (INT64_MAX once
 * established).  session_tick() closes the session with WEFT_ETIMEDOUT when
 * now_ms has reached that deadline during the handshake.
 */
int64_t session_deadline(const struct session *s);
int session_tick(struct session *s, int64_t now_ms);

enum session_state session_state(const struct session *s);
/* NULL until established. */
const struct session_peer *session_peer(const struct session *s);
/* Which code runs the AEAD each way: "libsodium" or "OpenSSL" (a bulk
 * session's AESGCM directions move once they carry bulk). */
const char *session_aead_impl(const struct session *s, bool send);
/* Why the session closed ("" while open), and the error code. */
const char *session_reason(const struct session *s);
int session_error(const struct session *s);

#endif
