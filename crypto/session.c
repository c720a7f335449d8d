/*
 * weft's secure session over a byte stream: framing, the suite and IK/XX
 * choices, certificate checks on the handshake payloads, chunking and
 * rekeying of transport messages.  docs/PROTOCOL.md describes the wire
 * format, docs/SECURITY.md why the suite choice cannot be downgraded.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "crypto/bundle.h"
#include "crypto/session.h"

#define FRAME_HDR 2
/* XX's first message is a bare ephemeral key, as weft sends no payload
 * with it; IK's is always longer.  That is how a responder tells them
 * apart without a byte of its own on the wire. */
#define XX_MSG0_LEN NOISE_DHLEN

/* The suites the initiator offers, fastest first. */
static const enum noise_cipher_id preference[] = {
	NOISE_CIPHER_AESGCM,
	NOISE_CIPHER_CHACHAPOLY,
};
#define ALL_CIPHERS (SESSION_CIPHER_BIT(NOISE_CIPHER_AESGCM) | \
                     SESSION_CIPHER_BIT(NOISE_CIPHER_CHACHAPOLY))

/* A byte queue: data lives in p[off, off + len). */
struct bq {
	uint8_t *p;
	size_t off, len, cap;
};

struct session {
	struct session_config cfg;
	bool initiator;
	bool hs_started;
	enum session_state state;
	int err;
	char reason[SESSION_REASON_MAX];
	int64_t deadline_ms;
	int64_t now_unix;
	size_t hs_msg; /* handshake messages read or written so far */
	unsigned ciphers;  /* suites we accept and can run */
	uint8_t suite;     /* the suite offered, then run */
	uint8_t refused;   /* the suite the responder refused, or 0 */
	bool has_remote_static; /* IK's key, kept for a retried hello */
	uint8_t remote_static[NOISE_DHLEN];

	struct noise_handshake hs;
	struct noise_cipher tx, rx;
	/* Full-size records seen each way: a bulk session moves a
	 * direction to OpenSSL once it has carried SESSION_BULK_AFTER. */
	unsigned big_tx, big_rx;
	uint64_t tx_msgs, rx_msgs;

	struct cert peer_cert;
	bool have_peer_cert;
	struct session_peer peer;

	struct bq out;   /* framed bytes to send */
	bool reserved;   /* session_write_reserve's room is out... */
	size_t reserved_at; /* ...at this offset in out.p */
	struct bq plain; /* decrypted bytes to read */
	size_t frame_len; /* bytes of a partial frame held in frame[] */
	uint8_t frame[FRAME_HDR + NOISE_MAX_MSG];
};

/*
 * AESGCM records start on libsodium; a bulk session moves a direction to
 * OpenSSL (twice the speed here, but about 3 MiB of pages once a process
 * sets it up) only when that direction has carried SESSION_BULK_AFTER
 * full-size records, so that request traffic of small records never
 * pays for it while a file transfer does within its first megabytes.
 * Both compute the same AES-256-GCM, so the switch is invisible on the
 * wire.
 */
static void
bulk_check(struct session *s, struct noise_cipher *c, unsigned *big,
           size_t plain_len)
{
	if (!s->cfg.bulk || *big > SESSION_BULK_AFTER ||
	    plain_len < SESSION_BULK_RECORD)
		return;
	if (++*big == SESSION_BULK_AFTER)
		(void)noise_cipher_use_openssl(c);
}

/* ---- byte queues ---- */

static uint8_t *
bq_reserve(struct bq *q, size_t n)
{
	if (q->off > 0 && q->cap - q->off - q->len < n) {
		memmove(q->p, q->p + q->off, q->len);
		q->off = 0;
	}
	/* An empty message still needs a place to point at: NULL + 0 is
	 * undefined, and NULL means out of memory to the callers. */
	if (q->p == NULL || q->cap - q->len < n) {
		size_t cap = q->cap ? q->cap : 4096;
		uint8_t *p;

		while (cap - q->len < n) {
			if (cap > SIZE_MAX / 2)
				return NULL;
			cap *= 2;
		}
		p = realloc(q->p, cap);
		if (p == NULL)
			return NULL;
		q->p = p;
		q->cap = cap;
	}
	return q->p + q->off + q->len;
}

static void
bq_consume(struct bq *q, size_t n)
{
	if (n > q->len)
		n = q->len;
	q->off += n;
	q->len -= n;
	if (q->len == 0)
		q->off = 0;
}

static void
bq_free(struct bq *q, bool wipe)
{
	if (q->p != NULL && wipe)
		sodium_memzero(q->p, q->cap);
	free(q->p);
	memset(q, 0, sizeof(*q));
}

/* ---- closing ---- */

static int close_with(struct session *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
close_with(struct session *s, int err, const char *fmt, ...)
{
	va_list ap;

	if (s->state == SESSION_CLOSED)
		return s->err;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
	s->err = err;
	s->state = SESSION_CLOSED;
	noise_handshake_wipe(&s->hs);
	noise_cipher_wipe(&s->tx);
	noise_cipher_wipe(&s->rx);
	/* Nothing read before the close may leak out afterwards. */
	bq_free(&s->plain, true);
	sodium_memzero(s->frame, sizeof(s->frame));
	s->frame_len = 0;
	return err;
}

/* ---- suites ---- */

static unsigned
usable_ciphers(unsigned wanted)
{
	unsigned out = 0;

	for (size_t i = 0; i < sizeof(preference) / sizeof(preference[0]); i++)
		if ((wanted == 0 || (wanted & SESSION_CIPHER_BIT(preference[i]))) &&
		    noise_cipher_available(preference[i]))
			out |= SESSION_CIPHER_BIT(preference[i]);
	return out;
}

/* The first suite of preference[] in mask, or 0. */
static uint8_t
best_cipher(unsigned mask)
{
	for (size_t i = 0; i < sizeof(preference) / sizeof(preference[0]); i++)
		if (mask & SESSION_CIPHER_BIT(preference[i]))
			return (uint8_t)preference[i];
	return 0;
}

static bool
accepts(unsigned mask, unsigned suite)
{
	return suite < 8 && (mask & SESSION_CIPHER_BIT(suite));
}

static const char *
suite_name(unsigned suite)
{
	const char *n = suite < 8 ?
	    noise_cipher_name((enum noise_cipher_id)suite) : NULL;

	return n ? n : "an unknown suite";
}

/* "AESGCM and ChaChaPoly", "ChaChaPoly" or "nothing". */
static const char *
suites_text(unsigned mask, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(preference) / sizeof(preference[0]); i++) {
		if (!(mask & SESSION_CIPHER_BIT(preference[i])))
			continue;
		len += (size_t)snprintf(buf + len, cap - len, "%s%s",
		    len ? " and " : "", noise_cipher_name(preference[i]));
		if (len >= cap)
			break;
	}
	return buf[0] ? buf : "nothing";
}

/* ---- handshake ---- */

static int
hs_init(struct session *s, enum noise_pattern pattern,
        const uint8_t *remote_static)
{
	uint8_t prologue[sizeof(SESSION_PROLOGUE) - 1 + SESSION_HELLO_LEN];
	struct noise_handshake_params p = {
		.protocol = {pattern, 0, s->cfg.hash,
		    (enum noise_cipher_id)s->suite},
		.initiator = s->initiator,
		.prologue = prologue,
		.prologue_len = sizeof(prologue),
		.static_sk = s->cfg.self->dh_sk,
		.remote_static = remote_static,
		.rng = s->cfg.rng,
		.sodium_only = true, /* see bulk_check() */
	};

	/* The hello bytes go into the prologue as well as into the protocol
	 * name (the cipher): a hello changed on the way makes the two sides'
	 * transcripts differ, and the first encrypted message fails. */
	memcpy(prologue, SESSION_PROLOGUE, sizeof(SESSION_PROLOGUE) - 1);
	prologue[sizeof(SESSION_PROLOGUE) - 1] = s->suite;
	prologue[sizeof(SESSION_PROLOGUE)] = s->refused;
	s->hs_started = true;
	s->peer.pattern = pattern;
	return noise_handshake_init(&s->hs, &p);
}

/* Whether the handshake message at this index carries our certificate. */
static bool
carries_cert(const struct session *s, size_t idx)
{
	/* XX: responder's in message 1, initiator's in 2; IK: initiator's in
	 * 0 (encrypted to the known responder key), responder's in 1. */
	if (s->peer.pattern == NOISE_PATTERN_XX)
		return idx == 1 || idx == 2;
	return true;
}

static int
hs_write(struct session *s)
{
	size_t n, plen = 0, hello = 0;
	const uint8_t *payload = NULL;
	uint8_t *dst;
	int rc;

	if (carries_cert(s, s->hs_msg)) {
		payload = s->cfg.cert;
		plen = s->cfg.cert_len;
	}
	dst = bq_reserve(&s->out, FRAME_HDR + SESSION_HANDSHAKE_MAX);
	if (dst == NULL)
		return close_with(s, WEFT_ENOMEM, "out of memory");
	if (s->initiator && s->hs_msg == 0) {
		dst[FRAME_HDR] = s->suite;
		dst[FRAME_HDR + 1] = s->refused;
		hello = SESSION_HELLO_LEN;
	}
	rc = noise_handshake_write(&s->hs, payload, plen,
	    dst + FRAME_HDR + hello, SESSION_HANDSHAKE_MAX - hello, &n);
	if (rc)
		return close_with(s, rc, "handshake message %zu: cannot write: %s",
		    s->hs_msg, weft_strerror(rc));
	n += hello;
	put_u16be(dst, (uint16_t)n);
	s->out.len += FRAME_HDR + n;
	s->hs_msg++;
	return 0;
}

static int
verify_peer(struct session *s, const uint8_t *payload, size_t len)
{
	struct cert_verdict v;
	const uint8_t *rs = noise_handshake_remote_static(&s->hs);
	char text[128];
	int rc;

	if (len == 0)
		return close_with(s, WEFT_EAUTH, "peer sent no certificate");
	rc = cert_decode(payload, len, &s->peer_cert);
	if (rc)
		return close_with(s, WEFT_EAUTH,
		    "peer certificate does not decode: %s", weft_strerror(rc));
	s->have_peer_cert = true;
	rc = cert_verify(&s->peer_cert, s->cfg.bundle, s->now_unix,
	    s->cfg.skew_s, s->cfg.revoked, &v);
	if (rc) {
		cert_verdict_format(&v, text, sizeof(text));
		return close_with(s, rc, "peer certificate for %s refused: %s",
		    s->peer_cert.name ? s->peer_cert.name : "?", text);
	}
	/* The certificate must name the key the handshake proved the peer
	 * holds; otherwise anyone could present anyone's certificate. */
	if (rs == NULL || sodium_memcmp(rs, s->peer_cert.dh_pk, NOISE_DHLEN)) {
		char a[17], b[17];

		hex_encode(a, s->peer_cert.dh_pk, 8);
		if (rs != NULL)
			hex_encode(b, rs, 8);
		else
			strcpy(b, "none");
		return close_with(s, WEFT_EAUTH,
		    "peer certificate for %s is for X25519 key %s..., but the "
		    "handshake authenticated key %s...", s->peer_cert.name, a, b);
	}
	return 0;
}

static int
establish(struct session *s)
{
	const uint8_t *h;
	size_t hl;
	int rc;

	h = noise_handshake_hash(&s->hs, &hl);
	memcpy(s->peer.handshake_hash, h, hl);
	s->peer.hash_len = hl;
	memcpy(s->peer.static_pk, s->peer_cert.dh_pk, NOISE_DHLEN);
	rc = noise_handshake_split(&s->hs, &s->tx, &s->rx);
	if (rc)
		return close_with(s, rc, "handshake split failed");
	s->peer.name = s->peer_cert.name;
	s->peer.services = s->peer_cert.services;
	s->peer.n_services = s->peer_cert.n_services;
	s->peer.groups = s->peer_cert.groups;
	s->peer.n_groups = s->peer_cert.n_groups;
	memcpy(s->peer.key_id, s->peer_cert.key_id, KEY_ID_LEN);
	s->peer.cert = &s->peer_cert;
	s->peer.cipher = (enum noise_cipher_id)s->suite;
	s->state = SESSION_ESTABLISHED;
	s->deadline_ms = INT64_MAX;
	return 0;
}

/*
 * The responder reads the initiator's hello.  Returns 0 with *started
 * set when the Noise handshake has begun on the offered suite, 0 with it
 * clear when the offer was refused and a retry is awaited, or the error
 * that closed the session.
 */
static int
read_hello(struct session *s, const uint8_t **msg, size_t *len, bool *started)
{
	char ours[48];
	unsigned suite, prev;
	uint8_t *dst;
	int rc;

	*started = false;
	if (*len < SESSION_HELLO_LEN)
		return close_with(s, WEFT_EMALFORMED, "first handshake message "
		    "of %zu bytes has no suite header", *len);
	suite = (*msg)[0];
	prev = (*msg)[1];
	if (suite == 0)
		return close_with(s, WEFT_EMALFORMED,
		    "first handshake message names no suite");
	/* A retry must say which offer we refused, and we must have
	 * refused exactly that one on this connection: otherwise an
	 * attacker could have forged the refusal the initiator retried on. */
	if (prev != s->refused) {
		if (prev == 0)
			return close_with(s, WEFT_EMALFORMED, "second first "
			    "handshake message does not name the refused suite");
		return close_with(s, WEFT_EAUTH, "peer retried after a refusal "
		    "of %s that we never sent (a suite downgrade attempt)",
		    suite_name(prev));
	}
	if (prev != 0 && suite == prev)
		return close_with(s, WEFT_EMALFORMED,
		    "peer retried with the suite we refused");
	if (!accepts(s->ciphers, suite)) {
		if (s->refused)
			return close_with(s, WEFT_EPOLICY, "peer offered %s after "
			    "%s; we accept only %s", suite_name(suite),
			    suite_name(prev), suites_text(s->ciphers, ours,
			    sizeof(ours)));
		dst = bq_reserve(&s->out, FRAME_HDR + SESSION_REFUSAL_LEN);
		if (dst == NULL)
			return close_with(s, WEFT_ENOMEM, "out of memory");
		put_u16be(dst, SESSION_REFUSAL_LEN);
		dst[FRAME_HDR] = 0;
		dst[FRAME_HDR + 1] = (uint8_t)s->ciphers;
		s->out.len += FRAME_HDR + SESSION_REFUSAL_LEN;
		s->refused = (uint8_t)suite;
		return 0;
	}
	s->suite = (uint8_t)suite;
	*msg += SESSION_HELLO_LEN;
	*len -= SESSION_HELLO_LEN;
	rc = hs_init(s, *len == XX_MSG0_LEN ? NOISE_PATTERN_XX :
	    NOISE_PATTERN_IK, NULL);
	if (rc)
		return close_with(s, rc, "cannot start handshake: %s",
		    weft_strerror(rc));
	*started = true;
	return 0;
}

/* The initiator's answer to a refusal: the next suite both accept, once. */
static int
retry_hello(struct session *s, const uint8_t *msg)
{
	char ours[48], theirs[48];
	unsigned mask = msg[1];
	uint8_t next;
	int rc;

	if (msg[0] != 0)
		return close_with(s, WEFT_EMALFORMED,
		    "second handshake message of %d bytes is not a refusal",
		    SESSION_REFUSAL_LEN);
	if (s->refused)
		return close_with(s, WEFT_EPOLICY, "peer refused %s too",
		    suite_name(s->suite));
	next = best_cipher(s->ciphers & mask &
	    ~SESSION_CIPHER_BIT(s->suite));
	if (next == 0)
		return close_with(s, WEFT_EPOLICY, "peer refused %s and accepts "
		    "%s; we accept only %s", suite_name(s->suite),
		    suites_text(mask & ALL_CIPHERS, theirs, sizeof(theirs)),
		    suites_text(s->ciphers, ours, sizeof(ours)));
	noise_handshake_wipe(&s->hs);
	s->refused = s->suite;
	s->suite = next;
	s->hs_msg = 0;
	rc = hs_init(s, s->peer.pattern, s->has_remote_static ?
	    s->remote_static : NULL);
	if (rc)
		return close_with(s, rc, "cannot restart handshake: %s",
		    weft_strerror(rc));
	return hs_write(s);
}

static int
hs_read(struct session *s, const uint8_t *msg, size_t len)
{
	static const char *const what[] = {"first", "second", "third"};
	uint8_t payload[SESSION_HANDSHAKE_MAX];
	size_t plen, idx = s->hs_msg;
	int rc;

	if (len > SESSION_HANDSHAKE_MAX)
		return close_with(s, WEFT_ETOOBIG,
		    "handshake message of %zu bytes is over the limit of %d",
		    len, SESSION_HANDSHAKE_MAX);
	if (!s->initiator && s->hs_msg == 0) {
		bool started;

		rc = read_hello(s, &msg, &len, &started);
		if (rc || !started)
			return rc;
	} else if (s->initiator && s->hs_msg == 1 &&
	    len == SESSION_REFUSAL_LEN) {
		/* Noise's second message is never this short. */
		return retry_hello(s, msg);
	}
	if (noise_handshake_action(&s->hs) != NOISE_ACTION_READ)
		return close_with(s, WEFT_EMALFORMED,
		    "unexpected message during the handshake");
	rc = noise_handshake_read(&s->hs, msg, len, payload, sizeof(payload),
	    &plen);
	if (rc == WEFT_ETRUNC)
		return close_with(s, rc, "%s handshake message is truncated "
		    "(%zu bytes)", what[idx % 3], len);
	if (rc)
		return close_with(s, rc, "%s handshake message refused: %s",
		    what[idx % 3], rc == WEFT_ECRYPTO ?
		    "authentication failed (corrupted, replayed or forged, or "
		    "the initiator has a stale key for us)" : weft_strerror(rc));
	s->hs_msg++;
	if (carries_cert(s, idx)) {
		rc = verify_peer(s, payload, plen);
		sodium_memzero(payload, plen);
		if (rc)
			return rc;
	} else if (plen != 0) {
		return close_with(s, WEFT_EMALFORMED,
		    "%s handshake message has an unexpected payload", what[idx % 3]);
	}
	if (noise_handshake_action(&s->hs) == NOISE_ACTION_WRITE) {
		rc = hs_write(s);
		if (rc)
			return rc;
	}
	if (noise_handshake_action(&s->hs) == NOISE_ACTION_SPLIT)
		return establish(s);
	return 0;
}

/* ---- transport ---- */

static int
transport_read(struct session *s, const uint8_t *msg, size_t len)
{
	uint8_t *dst;
	size_t n;
	int rc;

	if (len < NOISE_TAGLEN)
		return close_with(s, WEFT_EMALFORMED,
		    "transport message of %zu bytes is shorter than its tag", len);
	dst = bq_reserve(&s->plain, len - NOISE_TAGLEN);
	if (dst == NULL)
		return close_with(s, WEFT_ENOMEM, "out of memory");
	bulk_check(s, &s->rx, &s->big_rx, len - NOISE_TAGLEN);
	rc = noise_cipher_decrypt(&s->rx, NULL, 0, msg, len, dst,
	    len - NOISE_TAGLEN, &n);
	if (rc == WEFT_ECRYPTO)
		return close_with(s, rc, "transport message %llu failed "
		    "authentication (corrupted, replayed, reordered or forged)",
		    (unsigned long long)s->rx_msgs);
	if (rc)
		return close_with(s, rc, "transport message %llu: %s",
		    (unsigned long long)s->rx_msgs, weft_strerror(rc));
	s->plain.len += n;
	if (++s->rx_msgs % s->cfg.rekey_after == 0)
		noise_cipher_rekey(&s->rx);
	return 0;
}

static int
frame_in(struct session *s, const uint8_t *msg, size_t len)
{
	if (s->state == SESSION_HANDSHAKE)
		return hs_read(s, msg, len);
	return transport_read(s, msg, len);
}

int
session_recv(struct session *s, const uint8_t *data, size_t len)
{
	int rc;

	if (s->state == SESSION_CLOSED)
		return WEFT_ECLOSED;
	while (len > 0) {
		size_t need, take;

		/* Whole frames straight from the caller's bytes: no copy. */
		if (s->frame_len == 0 && len >= FRAME_HDR &&
		    len - FRAME_HDR >= get_u16be(data)) {
			size_t fl = get_u16be(data);

			rc = frame_in(s, data + FRAME_HDR, fl);
			if (rc)
				return rc;
			data += FRAME_HDR + fl;
			len -= FRAME_HDR + fl;
			continue;
		}
		/* A partial frame: gather the header, then the body. */
		if (s->frame_len < FRAME_HDR) {
			take = FRAME_HDR - s->frame_len;
			if (take > len)
				take = len;
			memcpy(s->frame + s->frame_len, data, take);
			s->frame_len += take;
			data += take;
			len -= take;
			if (s->frame_len < FRAME_HDR)
				continue;
		}
		/* Refuse an oversized handshake frame at its header: waiting
		 * for up to 64 KiB of it would let junk (a TLS hello, text)
		 * hold the connection until the handshake deadline. */
		if (s->state == SESSION_HANDSHAKE &&
		    get_u16be(s->frame) > SESSION_HANDSHAKE_MAX)
			return close_with(s, WEFT_ETOOBIG,
			    "handshake message of %u bytes is over the limit of %d",
			    (unsigned)get_u16be(s->frame), SESSION_HANDSHAKE_MAX);
		need = FRAME_HDR + (size_t)get_u16be(s->frame);
		take = need - s->frame_len;
		if (take > len)
			take = len;
		memcpy(s->frame + s->frame_len, data, take);
		s->frame_len += take;
		data += take;
		len -= take;
		if (s->frame_len < need)
			continue;
		s->frame_len = 0;
		rc = frame_in(s, s->frame + FRAME_HDR, need - FRAME_HDR);
		if (rc)
			return rc;
	}
	return 0;
}

int
session_write(struct session *s, const uint8_t *data, size_t len)
{
	if (s->state == SESSION_CLOSED)
		return WEFT_ECLOSED;
	if (s->state != SESSION_ESTABLISHED || s->reserved)
		return WEFT_ESTATE;
	while (len > 0) {
		size_t chunk = len > SESSION_CHUNK_MAX ? SESSION_CHUNK_MAX : len;
		uint8_t *dst = bq_reserve(&s->out, FRAME_HDR + chunk +
		    NOISE_TAGLEN);
		size_t n;
		int rc;

		if (dst == NULL)
			return close_with(s, WEFT_ENOMEM, "out of memory");
		bulk_check(s, &s->tx, &s->big_tx, chunk);
		rc = noise_cipher_encrypt(&s->tx, NULL, 0, data, chunk,
		    dst + FRAME_HDR, chunk + NOISE_TAGLEN, &n);
		if (rc)
			return close_with(s, rc, "cannot encrypt: %s",
			    weft_strerror(rc));
		put_u16be(dst, (uint16_t)n);
		s->out.len += FRAME_HDR + n;
		if (++s->tx_msgs % s->cfg.rekey_after == 0)
			noise_cipher_rekey(&s->tx);
		data += chunk;
		len -= chunk;
	}
	return 0;
}

int
session_write_reserve(struct session *s, uint8_t **plain)
{
	uint8_t *dst;

	*plain = NULL;
	if (s->state == SESSION_CLOSED)
		return WEFT_ECLOSED;
	if (s->state != SESSION_ESTABLISHED || s->reserved)
		return WEFT_ESTATE;
	dst = bq_reserve(&s->out, FRAME_HDR + SESSION_CHUNK_MAX + NOISE_TAGLEN);
	if (dst == NULL)
		return close_with(s, WEFT_ENOMEM, "out of memory");
	s->reserved = true;
	s->reserved_at = (size_t)(dst - s->out.p);
	*plain = dst + FRAME_HDR;
	return 0;
}

int
session_write_commit(struct session *s, size_t len)
{
	uint8_t *dst;
	size_t n;
	int rc;

	if (!s->reserved)
		return WEFT_EINVAL;
	s->reserved = false; /* given back whatever happens next */
	if (len > SESSION_CHUNK_MAX)
		return WEFT_EINVAL;
	if (s->state == SESSION_CLOSED)
		return WEFT_ECLOSED;
	if (len == 0)
		return 0;
	/* Output sent in between may have moved the queue's end down:
	 * the plaintext follows it. */
	dst = s->out.p + s->out.off + s->out.len;
	if (s->out.p + s->reserved_at != dst)
		memmove(dst + FRAME_HDR, s->out.p + s->reserved_at + FRAME_HDR,
		        len);
	bulk_check(s, &s->tx, &s->big_tx, len);
	rc = noise_cipher_encrypt(&s->tx, NULL, 0, dst + FRAME_HDR, len,
	    dst + FRAME_HDR, len + NOISE_TAGLEN, &n);
	if (rc)
		return close_with(s, rc, "cannot encrypt: %s", weft_strerror(rc));
	put_u16be(dst, (uint16_t)n);
	s->out.len += FRAME_HDR + n;
	if (++s->tx_msgs % s->cfg.rekey_after == 0)
		noise_cipher_rekey(&s->tx);
	return 0;
}

/* ---- lifecycle and accessors ---- */

int
session_new(const struct session_config *cfg, bool initiator,
            const uint8_t *remote_static, int64_t now_ms, int64_t now_unix,
            struct session **out)
{
	struct session *s;
	int rc;

	*out = NULL;
	if (cfg->self == NULL || cfg->cert == NULL || cfg->cert_len == 0 ||
	    cfg->cert_len > CERT_ENCODED_MAX || cfg->bundle == NULL ||
	    cfg->rng == NULL)
		return WEFT_EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return WEFT_ENOMEM;
	s->cfg = *cfg;
	if (s->cfg.hash == 0)
		s->cfg.hash = NOISE_HASH_BLAKE2B;
	if (s->cfg.handshake_timeout_ms <= 0)
		s->cfg.handshake_timeout_ms = SESSION_HANDSHAKE_TIMEOUT_MS;
	if (s->cfg.rekey_after == 0)
		s->cfg.rekey_after = SESSION_REKEY_AFTER;
	s->initiator = initiator;
	s->ciphers = usable_ciphers(cfg->ciphers);
	if ((cfg->ciphers & ~ALL_CIPHERS) || s->ciphers == 0) {
		free(s);
		return WEFT_EINVAL;
	}
	s->suite = best_cipher(s->ciphers);
	if (remote_static != NULL) {
		memcpy(s->remote_static, remote_static, NOISE_DHLEN);
		s->has_remote_static = true;
	}
	s->state = SESSION_HANDSHAKE;
	s->now_unix = now_unix;
	s->deadline_ms = now_ms > INT64_MAX - s->cfg.handshake_timeout_ms ?
	    INT64_MAX : now_ms + s->cfg.handshake_timeout_ms;
	if (initiator) {
		rc = hs_init(s, remote_static ? NOISE_PATTERN_IK :
		    NOISE_PATTERN_XX, remote_static);
		if (rc == 0)
			rc = hs_write(s);
		if (rc) {
			session_free(s);
			return rc;
		}
	}
	*out = s;
	return 0;
}

void
session_free(struct session *s)
{
	if (s == NULL)
		return;
	noise_handshake_wipe(&s->hs);
	noise_cipher_wipe(&s->tx);
	noise_cipher_wipe(&s->rx);
	if (s->have_peer_cert)
		cert_free(&s->peer_cert);
	bq_free(&s->out, false);
	bq_free(&s->plain, true);
	sodium_memzero(s->frame, sizeof(s->frame));
	free(s);
}

void
session_out_peek(const struct session *s, const uint8_t **p, size_t *len)
{
	*p = s->out.p ? s->out.p + s->out.off : NULL;
	*len = s->out.len;
}

void
session_out_consume(struct session *s, size_t n)
{
	bq_consume(&s->out, n);
}

void
session_plain_peek(const struct session *s, const uint8_t **p, size_t *len)
{
	*p = s->plain.p ? s->plain.p + s->plain.off : NULL;
	*len = s->plain.len;
}

void
session_plain_consume(struct session *s, size_t n)
{
	bq_consume(&s->plain, n);
}

int64_t
session_deadline(const struct session *s)
{
	return s->state == SESSION_HANDSHAKE ? s->deadline_ms : INT64_MAX;
}

int
session_tick(struct session *s, int64_t now_ms)
{
	if (s->state == SESSION_CLOSED)
		return WEFT_ECLOSED;
	if (s->state == SESSION_HANDSHAKE && now_ms >= s->deadline_ms)
		return close_with(s, WEFT_ETIMEDOUT,
		    "handshake did not finish within %lld ms",
		    (long long)s->cfg.handshake_timeout_ms);
	return 0;
}

enum session_state
session_state(const struct session *s)
{
	return s->state;
}

const struct session_peer *
session_peer(const struct session *s)
{
	return s->state == SESSION_ESTABLISHED ? &s->peer : NULL;
}

const char *
session_reason(const struct session *s)
{
	return s->reason;
}

int
session_error(const struct session *s)
{
	return s->err;
}

const char *
session_aead_impl(const struct session *s, bool send)
{
	return noise_cipher_impl(send ? &s->tx : &s->rx);
}
