/*
 * attack-gossip: hostile traffic against one agent, for tests/faults.
 *
 * UDP (gossip port), every packet as the named attacker builds it:
 *   unknown-key     sealed by a fresh key no certificate names
 *   bad-seal        a known member's key id, ciphertext that does not open
 *   garbage         random bytes of random length
 *   ping            a valid sealed ping from --key (the control case, and
 *                   "a revoked member still sending")
 *   own-record      the attacker's own newer record, validly signed (the
 *                   control: shows a crafted record is accepted)
 *   forged-sig      the attacker's own newer record, signature altered
 *   forge-record    the victim's record (newer incarnation, the attacker's
 *                   address) signed by the attacker, victim's certificate
 *   forge-record-mycert  the same with the attacker's certificate attached
 *   forge-leave     the victim's leave intent signed by the attacker
 *   service-claim   the attacker's own newer record listing --service,
 *                   which its certificate does not allow
 *   object          a cluster object (--kind route|intention, --name)
 *                   signed by the attacker, who is not an operator
 *   replay          every packet of --file (2-byte big-endian length, then
 *                   the packet, as tests/faults/capture.py writes them)
 *                   sent --count times, in order
 * TCP (gossip stream or mesh port):
 *   tcp             --payload plain|tls|random|idle: connect, send, and
 *                   time how long until the agent closes; with --hangup 1
 *                   we shut our side down after sending and time the
 *                   agent's close (one connection at a time)
 *   hold            open --count connections at once, each sending the
 *                   first 2 bytes of a TLS record, hold them --wait ms,
 *                   and count those the agent closed meanwhile
 *   handshake       a weft session handshake as --key/--cert, trusting
 *                   --ca for the agent's side; time until the agent closes
 *
 * Options: --to IP:PORT, --key FILE, --cert FILE (the attacker),
 * --target-cert FILE (whose X25519 key packets are sealed to),
 * --victim-cert FILE, --inc N (incarnation to claim), --addr IP:PORT
 * (gossip address written into forged records), --service NAME,
 * --kind route|intention, --name NAME, --count N, --wait MS (TCP: longest
 * wait for the close), --ca FILE, --file FILE.
 *
 * Prints one JSON line with what was sent and what came back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/file.h"
#include "crypto/armor.h"
#include "crypto/bundle.h"
#include "crypto/cert.h"
#include "crypto/key.h"
#include "crypto/seal.h"
#include "crypto/session.h"
#include "gossip/gossip.h"
#include "gossip/wire.h"

#define MAX_COUNT 1000000
#define FILE_MAX (64 * 1024)

struct opts {
	const char *mode, *to, *key, *cert, *target_cert, *victim_cert;
	const char *addr, *service, *kind, *name, *payload, *ca, *file;
	unsigned long inc, count, wait_ms, hangup;
};

struct ident {
	struct key_pair key;
	struct cert cert;
};

static void die(const char *what, int rc) __attribute__((noreturn));

static void
die(const char *what, int rc)
{
	fprintf(stderr, "attack-gossip: %s: %s\n", what,
	        rc ? weft_strerror(rc) : "failed");
	exit(1);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
load_cert(const char *path, struct cert *out)
{
	uint8_t *text, *der;
	size_t len, der_len, pos = 0;
	int rc = file_read(path, FILE_MAX, &text, &len);

	if (rc)
		die(path, rc);
	rc = armor_decode_next((const char *)text, len, &pos, CERT_ARMOR_LABEL,
	                       &der, &der_len);
	free(text);
	if (rc)
		die(path, rc);
	rc = cert_decode(der, der_len, out);
	free(der);
	if (rc)
		die(path, rc);
}

static void
load_ident(const struct opts *o, struct ident *id)
{
	uint8_t *text;
	size_t len;
	int rc;

	if (!o->key || !o->cert)
		die("--key and --cert are needed", 0);
	rc = file_read_secret(o->key, FILE_MAX, &text, &len);
	if (rc)
		die(o->key, rc);
	rc = key_decode_text((const char *)text, len, &id->key);
	free(text);
	if (rc)
		die(o->key, rc);
	load_cert(o->cert, &id->cert);
}

static void
parse_hostport(const char *s, struct sockaddr_in *sa, struct gossip_addr *ga)
{
	char ip[64];
	const char *colon = s ? strrchr(s, ':') : NULL;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(ip))
		die("IP:PORT expected", 0);
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1)
		die(s, WEFT_EINVAL);
	if (ga) {
		memset(ga, 0, sizeof(*ga));
		ga->family = 4;
		memcpy(ga->ip, &sa->sin_addr, 4);
		ga->port = ntohs(sa->sin_port);
	}
}

/* --- UDP --- */

struct udp {
	int fd;
	struct sockaddr_in to;
	unsigned long sent, answers;
};

/* Answers (acks) are counted, never waited for while sending. */
static void
udp_drain(struct udp *u)
{
	uint8_t rx[2048];

	while (recv(u->fd, rx, sizeof(rx), MSG_DONTWAIT) > 0)
		u->answers++;
}

static void
udp_send(struct udp *u, const uint8_t *p, size_t len)
{
	if (sendto(u->fd, p, len, 0, (struct sockaddr *)&u->to,
	           sizeof(u->to)) == (ssize_t)len)
		u->sent++;
	udp_drain(u);
	/* Paced, so the receiver's socket buffer never overflows: a packet
	 * the kernel drops would look like one the agent failed to count. */
	usleep(300);
}

/* Seals plain for the target as `me` and sends it. */
static void
seal_send(struct udp *u, const struct key_pair *me, const struct cert *target,
          const uint8_t *plain, size_t len)
{
	struct seal_keys k;
	uint8_t pkt[WIRE_MAX_PACKET];
	size_t n = 0;
	int rc = seal_derive(&k, me->dh_pk, me->dh_sk, target->dh_pk);

	if (rc == 0)
		rc = seal_packet(&k, me->id, &key_system_rng, plain, len, pkt,
		                 sizeof(pkt), &n);
	seal_keys_wipe(&k);
	if (rc)
		die("seal", rc);
	udp_send(u, pkt, n);
}

/* An ALIVE message: record [body, sig] signed by signer, cert attached. */
static size_t
alive_msg(const struct gossip_record *r, const struct key_pair *signer,
          const struct cert *attach, bool spoil_sig, uint8_t *out, size_t cap)
{
	uint8_t *body, *env, sig[KEY_SIG_LEN];
	size_t body_len, env_len;
	struct buf b;
	int rc = wire_encode_record_body(r, &body, &body_len);

	if (rc == 0)
		rc = key_sign(signer, KEY_SIG_RECORD, body, body_len, sig);
	if (rc)
		die("record", rc);
	if (spoil_sig)
		sig[7] ^= 0x20;
	rc = wire_envelope(body, body_len, sig, &env, &env_len);
	free(body);
	if (rc)
		die("envelope", rc);
	buf_init(&b, out, cap);
	wire_put_pair(&b, WIRE_ALIVE, env, env_len, attach->encoded,
	              attach->encoded_len);
	free(env);
	if (b.err)
		die("alive message", b.err);
	return b.len;
}

static void
record_of(const struct cert *c, const struct gossip_addr *addr, uint32_t inc,
          struct gossip_record *r)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->key_id, c->key_id, KEY_ID_LEN);
	r->name = c->name;
	r->incarnation = inc;
	/* Versions grow with time; a forged record must look newest. */
	r->version = (uint64_t)time(NULL) * 1000 + 999;
	r->addr = *addr;
	r->mesh_addr = *addr;
	r->mesh_addr.port = (uint16_t)(addr->port + 1);
}

static int
run_udp(const struct opts *o)
{
	struct udp u = {.fd = -1};
	struct ident me;
	struct cert target, victim;
	struct gossip_addr ga, self_addr;
	struct gossip_record r;
	struct gossip_service svc;
	uint8_t msg[WIRE_MAX_PACKET], garbage[1500];
	size_t n = 0;
	bool have_target = false, have_victim = false;
	bool need_me = strcmp(o->mode, "garbage") != 0 &&
	               strcmp(o->mode, "unknown-key") != 0 &&
	               strcmp(o->mode, "replay") != 0;
	int rc;

	parse_hostport(o->to, &u.to, &ga);
	u.fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (u.fd < 0)
		die("socket", WEFT_EIO);
	if (need_me)
		load_ident(o, &me);
	if (strcmp(o->mode, "garbage") != 0 && strcmp(o->mode, "replay") != 0) {
		if (!o->target_cert)
			die("--target-cert is needed", 0);
		load_cert(o->target_cert, &target);
		have_target = true;
	}
	if (o->addr)
		parse_hostport(o->addr, &(struct sockaddr_in){0}, &self_addr);
	else
		self_addr = ga;

	if (strcmp(o->mode, "unknown-key") == 0) {
		/* A fresh node key in each packet: nobody knows any of them. */
		for (unsigned long i = 0; i < o->count; i++) {
			struct key_pair stranger;
			struct buf b;

			rc = key_generate(&stranger, KEY_KIND_NODE, &key_system_rng);
			if (rc)
				die("key", rc);
			buf_init(&b, msg, sizeof(msg));
			wire_put_ping(&b, WIRE_PING, (uint32_t)i, target.key_id, NULL);
			seal_send(&u, &stranger, &target, msg, b.len);
			key_wipe(&stranger);
		}
		goto out;
	}
	if (strcmp(o->mode, "garbage") == 0) {
		for (unsigned long i = 0; i < o->count; i++) {
			uint8_t l[2];

			weft_rng_fill(&key_system_rng, l, 2);
			n = 1 + ((size_t)l[0] << 8 | l[1]) % sizeof(garbage);
			weft_rng_fill(&key_system_rng, garbage, n);
			if (i % 2)
				garbage[0] = SEAL_VERSION; /* past the version check */
			udp_send(&u, garbage, n);
		}
		goto out;
	}
	if (strcmp(o->mode, "replay") == 0) {
		uint8_t *cap;
		size_t cap_len;

		if (!o->file)
			die("--file is needed", 0);
		rc = file_read(o->file, 64u << 20, &cap, &cap_len);
		if (rc)
			die(o->file, rc);
		for (unsigned long i = 0; i < o->count; i++) {
			for (size_t at = 0; at + 2 <= cap_len;) {
				size_t len = (size_t)cap[at] << 8 | cap[at + 1];

				if (at + 2 + len > cap_len)
					break;
				udp_send(&u, cap + at + 2, len);
				at += 2 + len;
			}
		}
		free(cap);
		goto out;
	}
	if (strcmp(o->mode, "bad-seal") == 0) {
		struct buf b;
		uint8_t pkt[256];

		buf_init(&b, msg, sizeof(msg));
		wire_put_ping(&b, WIRE_PING, 1, target.key_id, NULL);
		for (unsigned long i = 0; i < o->count; i++) {
			size_t len = SEAL_OVERHEAD + b.len;

			/* The member's real key id in clear, bytes that are
			 * not its seal behind it. */
			pkt[0] = SEAL_VERSION;
			memcpy(pkt + 1, me.key.id, KEY_ID_LEN);
			weft_rng_fill(&key_system_rng, pkt + 1 + KEY_ID_LEN,
			              len - 1 - KEY_ID_LEN);
			udp_send(&u, pkt, len);
		}
		goto out;
	}
	if (strcmp(o->mode, "ping") == 0) {
		struct buf b;

		for (unsigned long i = 0; i < o->count; i++) {
			buf_init(&b, msg, sizeof(msg));
			wire_put_ping(&b, WIRE_PING, (uint32_t)(1000000 + i),
			              target.key_id, NULL);
			seal_send(&u, &me.key, &target, msg, b.len);
		}
		goto out;
	}
	if (strcmp(o->mode, "forged-sig") == 0 ||
	    strcmp(o->mode, "own-record") == 0) {
		record_of(&me.cert, &self_addr, (uint32_t)o->inc, &r);
		n = alive_msg(&r, &me.key, &me.cert,
		              strcmp(o->mode, "forged-sig") == 0, msg, sizeof(msg));
	} else if (strcmp(o->mode, "forge-record") == 0 ||
	           strcmp(o->mode, "forge-record-mycert") == 0 ||
	           strcmp(o->mode, "forge-leave") == 0) {
		if (!o->victim_cert)
			die("--victim-cert is needed", 0);
		load_cert(o->victim_cert, &victim);
		have_victim = true;
		if (strcmp(o->mode, "forge-leave") == 0) {
			uint8_t body[64], sig[KEY_SIG_LEN], *env = NULL;
			size_t body_len, env_len = 0;
			struct buf b;

			rc = wire_encode_leave_body(victim.key_id, (uint32_t)o->inc,
			                            body, sizeof(body), &body_len);
			if (rc == 0)
				rc = key_sign(&me.key, KEY_SIG_LEAVE, body, body_len,
				              sig);
			if (rc == 0)
				rc = wire_envelope(body, body_len, sig, &env, &env_len);
			if (rc)
				die("leave", rc);
			buf_init(&b, msg, sizeof(msg));
			wire_put_leave_msg(&b, env, env_len);
			free(env);
			n = b.len;
		} else {
			record_of(&victim, &self_addr, (uint32_t)o->inc, &r);
			n = alive_msg(&r, &me.key,
			              strcmp(o->mode, "forge-record") == 0 ?
			              &victim : &me.cert, false, msg, sizeof(msg));
		}
	} else if (strcmp(o->mode, "service-claim") == 0) {
		if (!o->service)
			die("--service is needed", 0);
		record_of(&me.cert, &self_addr, (uint32_t)o->inc, &r);
		memset(&svc, 0, sizeof(svc));
		svc.name = o->service;
		svc.port = 8080;
		svc.weight = 100;
		r.services = &svc;
		r.n_services = 1;
		n = alive_msg(&r, &me.key, &me.cert, false, msg, sizeof(msg));
	} else if (strcmp(o->mode, "object") == 0) {
		uint8_t *m;
		const char *value = "{\"source\": \"*\", \"destination\": \"*\", "
		                    "\"action\": \"allow\"}";
		uint8_t kind = o->kind && strcmp(o->kind, "route") == 0 ?
		               GOSSIP_OBJ_ROUTE : GOSSIP_OBJ_INTENTION;

		rc = gossip_object_make(&me.key, me.cert.encoded,
		                        me.cert.encoded_len, kind,
		                        o->name ? o->name : "attack",
		                        (uint64_t)now_ms() << 16 | 0xffff, false,
		                        (const uint8_t *)value, strlen(value), &m, &n);
		if (rc)
			die("object", rc);
		if (n > sizeof(msg))
			die("object too big", 0);
		memcpy(msg, m, n);
		free(m);
	} else {
		fprintf(stderr, "attack-gossip: unknown mode %s\n", o->mode);
		return 2;
	}
	for (unsigned long i = 0; i < o->count; i++)
		seal_send(&u, &me.key, &target, msg, n);
out:
	/* Give answers a moment to arrive, so they are counted. */
	for (int i = 0; i < 5; i++) {
		struct pollfd p = {u.fd, POLLIN, 0};

		if (poll(&p, 1, 100) > 0)
			udp_drain(&u);
	}
	printf("{\"mode\": \"%s\", \"sent\": %lu, \"answers\": %lu}\n", o->mode,
	       u.sent, u.answers);
	close(u.fd);
	if (need_me) {
		cert_free(&me.cert);
		key_wipe(&me.key);
	}
	if (have_target)
		cert_free(&target);
	if (have_victim)
		cert_free(&victim);
	return 0;
}

/* --- TCP --- */

struct closes {
	unsigned long attempts, refused_connect, closed, open;
	int64_t max_ms, sum_ms;
};

/* Waits for the agent to close fd (EOF or reset); -1 if it did not. */
static int64_t
wait_close(int fd, unsigned long wait_ms)
{
	int64_t t0 = now_ms();
	uint8_t rx[4096];

	for (;;) {
		int64_t left = (int64_t)wait_ms - (now_ms() - t0);
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;

		if (left <= 0)
			return -1;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		r = recv(fd, rx, sizeof(rx), 0);
		if (r <= 0)
			return now_ms() - t0;
	}
}

static int
tcp_connect(const struct sockaddr_in *to)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
note_close(struct closes *c, int64_t ms)
{
	if (ms < 0) {
		c->open++;
		return;
	}
	c->closed++;
	c->sum_ms += ms;
	if (ms > c->max_ms)
		c->max_ms = ms;
}

/* A TLS 1.2/1.3 ClientHello's first bytes: record header, handshake type. */
static const uint8_t tls_hello[] = {
	0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03,
	0x5b, 0x90, 0x9d, 0x9b, 0x72, 0x0b, 0xbc, 0x0c, 0xbc, 0x2b, 0x92,
	0xa8, 0x48, 0x97, 0xcf, 0xbd, 0x39, 0x04, 0xcc, 0x16, 0x0a, 0x85,
	0x03, 0x90, 0x9f, 0x77, 0x04, 0x33, 0xd4, 0xde, 0x00, 0x00, 0x20,
	0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x2c, 0xc0, 0x30, 0xcc, 0xa9, 0xcc,
	0xa8, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0x01, 0x00, 0x00, 0x58,
	0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09, 'l', 'o', 'c',
	'a', 'l', 'h', 'o', 's', 't', 0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,
};

static int
run_tcp(const struct opts *o)
{
	struct sockaddr_in to;
	struct closes c = {0};
	const char *pl = o->payload ? o->payload : "plain";
	static const char plain[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

	parse_hostport(o->to, &to, NULL);
	for (unsigned long i = 0; i < o->count; i++) {
		uint8_t rnd[512];
		int fd = tcp_connect(&to);
		size_t n = 0;
		const uint8_t *p = NULL;

		c.attempts++;
		if (fd < 0) {
			c.refused_connect++;
			continue;
		}
		if (strcmp(pl, "plain") == 0) {
			p = (const uint8_t *)plain;
			n = sizeof(plain) - 1;
		} else if (strcmp(pl, "tls") == 0) {
			p = tls_hello;
			n = sizeof(tls_hello);
		} else if (strcmp(pl, "random") == 0) {
			weft_rng_fill(&key_system_rng, rnd, sizeof(rnd));
			p = rnd;
			n = 1 + rnd[0] % sizeof(rnd);
		} else if (strcmp(pl, "idle") != 0) {
			die("--payload plain|tls|random|idle", 0);
		}
		if (n && send(fd, p, n, MSG_NOSIGNAL) < 0) {
			note_close(&c, 0);
			close(fd);
			continue;
		}
		if (o->hangup)
			shutdown(fd, SHUT_WR);
		note_close(&c, wait_close(fd, o->wait_ms));
		close(fd);
	}
	printf("{\"mode\": \"tcp\", \"payload\": \"%s\", \"attempts\": %lu, "
	       "\"connect_refused\": %lu, \"closed_by_agent\": %lu, "
	       "\"still_open\": %lu, \"max_close_ms\": %lld, "
	       "\"mean_close_ms\": %lld}\n", pl, c.attempts, c.refused_connect,
	       c.closed, c.open, (long long)c.max_ms,
	       (long long)(c.closed ? c.sum_ms / (int64_t)c.closed : 0));
	return 0;
}

static int
run_hold(const struct opts *o)
{
	struct sockaddr_in to;
	int *fds = calloc(o->count, sizeof(*fds));
	unsigned long opened = 0, closed = 0;
	int64_t t0;

	if (fds == NULL)
		die("memory", WEFT_ENOMEM);
	parse_hostport(o->to, &to, NULL);
	for (unsigned long i = 0; i < o->count; i++) {
		fds[i] = tcp_connect(&to);
		if (fds[i] >= 0 &&
		    send(fds[i], tls_hello, 2, MSG_NOSIGNAL) == 2)
			opened++;
	}
	t0 = now_ms();
	printf("{\"mode\": \"hold\", \"opened\": %lu}\n", opened);
	fflush(stdout);
	while (now_ms() - t0 < (int64_t)o->wait_ms)
		usleep(100000);
	for (unsigned long i = 0; i < o->count; i++) {
		uint8_t rx[64];
		ssize_t r;

		if (fds[i] < 0)
			continue;
		r = recv(fds[i], rx, sizeof(rx), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			closed++;
		close(fds[i]);
	}
	free(fds);
	printf("{\"mode\": \"hold\", \"opened\": %lu, \"closed_by_agent\": "
	       "%lu}\n", opened, closed);
	return 0;
}

/* Pumps the session until it is established, closed, or the peer hangs up.
 * Returns 1 when the agent closed the connection, 0 when it is still open
 * after wait_ms, and sets *ms to the time from our last handshake bytes. */
static int
handshake_once(const struct opts *o, const struct sockaddr_in *to,
               const struct session_config *cfg, int64_t *ms, char *why,
               size_t why_len)
{
	struct session *s;
	int fd = tcp_connect(to);
	int64_t sent_at = now_ms();
	int result = -1;
	struct timespec ts;

	why[0] = '\0';
	if (fd < 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (session_new(cfg, true, NULL, now_ms(), ts.tv_sec, &s) != 0) {
		close(fd);
		return -1;
	}
	for (;;) {
		const uint8_t *p;
		size_t n;
		uint8_t rx[16384];
		struct pollfd pf = {fd, POLLIN, 0};
		ssize_t r;

		session_out_peek(s, &p, &n);
		if (n) {
			if (send(fd, p, n, MSG_NOSIGNAL) != (ssize_t)n) {
				result = 1;
				*ms = now_ms() - sent_at;
				break;
			}
			session_out_consume(s, n);
			sent_at = now_ms();
		}
		if (session_state(s) == SESSION_CLOSED) {
			/* We refused the agent: not what is measured. */
			snprintf(why, why_len, "%s", session_reason(s));
			result = -1;
			break;
		}
		if (now_ms() - sent_at > (int64_t)o->wait_ms) {
			result = 0;
			break;
		}
		if (poll(&pf, 1, 50) <= 0)
			continue;
		r = recv(fd, rx, sizeof(rx), 0);
		if (r <= 0) {
			result = 1;
			*ms = now_ms() - sent_at;
			break;
		}
		session_recv(s, rx, (size_t)r);
	}
	session_free(s);
	close(fd);
	return result;
}

static int
run_handshake(const struct opts *o)
{
	struct sockaddr_in to;
	struct ident me;
	struct bundle b;
	struct session_config cfg;
	struct closes c = {0};
	unsigned long errors = 0;
	uint8_t *text;
	size_t len;
	char why[SESSION_REASON_MAX + 1] = "";
	int rc;

	parse_hostport(o->to, &to, NULL);
	load_ident(o, &me);
	if (!o->ca)
		die("--ca is needed", 0);
	rc = file_read(o->ca, FILE_MAX, &text, &len);
	if (rc == 0) {
		memset(&b, 0, sizeof(b));
		rc = bundle_parse(&b, (const char *)text, len, NULL);
		free(text);
	}
	if (rc)
		die(o->ca, rc);
	memset(&cfg, 0, sizeof(cfg));
	cfg.self = &me.key;
	cfg.cert = me.cert.encoded;
	cfg.cert_len = me.cert.encoded_len;
	cfg.bundle = &b;
	cfg.skew_s = 60;
	cfg.rng = &key_system_rng;
	for (unsigned long i = 0; i < o->count; i++) {
		int64_t ms = 0;
		int r = handshake_once(o, &to, &cfg, &ms, why, sizeof(why));

		c.attempts++;
		if (r < 0)
			errors++;
		else
			note_close(&c, r == 1 ? ms : -1);
	}
	printf("{\"mode\": \"handshake\", \"attempts\": %lu, \"errors\": %lu, "
	       "\"closed_by_agent\": %lu, \"still_open\": %lu, "
	       "\"max_close_ms\": %lld, \"mean_close_ms\": %lld, "
	       "\"our_reason\": \"%s\"}\n", c.attempts, errors, c.closed, c.open,
	       (long long)c.max_ms,
	       (long long)(c.closed ? c.sum_ms / (int64_t)c.closed : 0), why);
	bundle_free(&b);
	cert_free(&me.cert);
	key_wipe(&me.key);
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o = {.count = 1, .wait_ms = 12000};

	if (argc < 2) {
		fprintf(stderr, "usage: attack-gossip MODE [options] (see the "
		        "comment at the top of tests/faults/attack_gossip.c)\n");
		return 2;
	}
	o.mode = argv[1];
	for (int i = 2; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (strcmp(k, "--to") == 0)
			o.to = v;
		else if (strcmp(k, "--key") == 0)
			o.key = v;
		else if (strcmp(k, "--cert") == 0)
			o.cert = v;
		else if (strcmp(k, "--target-cert") == 0)
			o.target_cert = v;
		else if (strcmp(k, "--victim-cert") == 0)
			o.victim_cert = v;
		else if (strcmp(k, "--addr") == 0)
			o.addr = v;
		else if (strcmp(k, "--service") == 0)
			o.service = v;
		else if (strcmp(k, "--kind") == 0)
			o.kind = v;
		else if (strcmp(k, "--name") == 0)
			o.name = v;
		else if (strcmp(k, "--payload") == 0)
			o.payload = v;
		else if (strcmp(k, "--file") == 0)
			o.file = v;
		else if (strcmp(k, "--ca") == 0)
			o.ca = v;
		else if (strcmp(k, "--inc") == 0)
			o.inc = strtoul(v, NULL, 10);
		else if (strcmp(k, "--count") == 0)
			o.count = strtoul(v, NULL, 10);
		else if (strcmp(k, "--hangup") == 0)
			o.hangup = strtoul(v, NULL, 10);
		else if (strcmp(k, "--wait") == 0)
			o.wait_ms = strtoul(v, NULL, 10);
		else {
			fprintf(stderr, "attack-gossip: unknown option %s\n", k);
			return 2;
		}
	}
	if (argc % 2 != 0 || o.count == 0 || o.count > MAX_COUNT || !o.to) {
		fprintf(stderr, "attack-gossip: --to, and --count 1..%d\n",
		        MAX_COUNT);
		return 2;
	}
	if (strcmp(o.mode, "tcp") == 0)
		return run_tcp(&o);
	if (strcmp(o.mode, "handshake") == 0)
		return run_handshake(&o);
	if (strcmp(o.mode, "hold") == 0)
		return run_hold(&o);
	return run_udp(&o);
}
