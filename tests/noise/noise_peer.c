/*
 * noise-peer: plain Noise over TCP, so weft's Noise can be run against any
 * other implementation.  Empty prologue and handshake payloads; every
 * message, handshake and transport, is framed by a 2-byte big-endian
 * length; DH 25519, cipher ChaChaPoly unless --cipher AESGCM.
 *
 *   noise-peer respond --listen ADDR:PORT --pattern XX|IK|NN
 *       --hash BLAKE2b|SHA256 [--cipher ChaChaPoly|AESGCM] --static HEX
 *       [--once]
 *   noise-peer initiate --connect ADDR:PORT --pattern ... --hash ...
 *       [--cipher ...] --static HEX [--remote-static HEX] --message TEXT
 *
 * The responder prints {"listen":"ADDR:PORT","static":"HEX"} (the public
 * key; PORT 0 picks a free one), then echoes every transport message.  The
 * initiator sends TEXT, checks the echo and prints
 * {"ok":true,"handshake_hash":"HEX"}; on any failure it prints
 * {"ok":false,"error":"..."} and exits 1.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/err.h"
#include "crypto/noise.h"

#define IO_TIMEOUT_S 10
/* The responder serves connections one at a time, and a bounded number. */
#define MAX_CONNECTIONS 1000
#define MAX_ECHOES (1u << 20)

struct opts {
	bool respond;
	const char *addr;
	const char *pattern;
	const char *hash;
	const char *cipher;
	const char *message;
	bool once;
	bool has_static, has_remote;
	uint8_t static_sk[NOISE_DHLEN];
	uint8_t remote[NOISE_DHLEN];
};

static char errbuf[256];

static int failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
failf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	return -1;
}

static int
sys_fill(void *ctx, void *out, size_t n)
{
	(void)ctx;
	randombytes_buf(out, n);
	return 0;
}

static const struct weft_rng sys_rng = {sys_fill, NULL};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: noise-peer respond --listen ADDR:PORT --pattern XX|IK|NN "
	    "--hash BLAKE2b|SHA256 [--cipher ChaChaPoly|AESGCM] --static HEX "
	    "[--once]\n"
	    "       noise-peer initiate --connect ADDR:PORT --pattern XX|IK|NN "
	    "--hash BLAKE2b|SHA256 [--cipher ChaChaPoly|AESGCM] --static HEX "
	    "[--remote-static HEX] --message TEXT\n");
	exit(2);
}

static int
parse_key(const char *hex, uint8_t out[static NOISE_DHLEN])
{
	size_t n;

	if (sodium_hex2bin(out, NOISE_DHLEN, hex, strlen(hex), NULL, &n,
	    NULL) != 0 || n != NOISE_DHLEN || strlen(hex) != 2 * NOISE_DHLEN)
		return -1;
	return 0;
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	if (argc < 2)
		usage();
	memset(o, 0, sizeof(*o));
	if (strcmp(argv[1], "respond") == 0)
		o->respond = true;
	else if (strcmp(argv[1], "initiate") != 0)
		usage();
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--once") == 0) {
			o->once = true;
			continue;
		}
		if (v == NULL)
			return failf("%s needs a value", a);
		i++;
		if (strcmp(a, "--listen") == 0 && o->respond)
			o->addr = v;
		else if (strcmp(a, "--connect") == 0 && !o->respond)
			o->addr = v;
		else if (strcmp(a, "--pattern") == 0)
			o->pattern = v;
		else if (strcmp(a, "--hash") == 0)
			o->hash = v;
		else if (strcmp(a, "--cipher") == 0)
			o->cipher = v;
		else if (strcmp(a, "--message") == 0 && !o->respond)
			o->message = v;
		else if (strcmp(a, "--static") == 0) {
			if (parse_key(v, o->static_sk))
				return failf("--static: want %d hex digits",
				    2 * NOISE_DHLEN);
			o->has_static = true;
		} else if (strcmp(a, "--remote-static") == 0) {
			if (parse_key(v, o->remote))
				return failf("--remote-static: want %d hex digits",
				    2 * NOISE_DHLEN);
			o->has_remote = true;
		} else
			return failf("unknown option %s", a);
	}
	if (o->addr == NULL || o->pattern == NULL || o->hash == NULL)
		return failf("%s, --pattern and --hash are required",
		    o->respond ? "--listen" : "--connect");
	if (!o->respond && o->message == NULL)
		return failf("--message is required");
	return 0;
}

static int
protocol_of(const struct opts *o, struct noise_protocol *p)
{
	char name[NOISE_NAME_MAX + 32];

	snprintf(name, sizeof(name), "Noise_%s_25519_%s_%s", o->pattern,
	    o->cipher ? o->cipher : "ChaChaPoly", o->hash);
	if (noise_protocol_parse(name, p) != 0 || p->psk_mask)
		return failf("unsupported protocol %s", name);
	if (!noise_cipher_available(p->cipher))
		return failf("%s needs AES-NI, which this CPU lacks", name);
	if (noise_protocol_needs_static(p, !o->respond) && !o->has_static)
		return failf("pattern %s needs --static", o->pattern);
	if (!o->respond && noise_protocol_needs_remote_static(p) &&
	    !o->has_remote)
		return failf("pattern %s needs --remote-static", o->pattern);
	return 0;
}

static int
resolve(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = {0}, *res;
	size_t hl;

	if (colon == NULL || colon == addr)
		return failf("address %s is not ADDR:PORT", addr);
	hl = (size_t)(colon - addr);
	if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']') {
		addr++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return failf("address %s is too long", addr);
	memcpy(host, addr, hl);
	host[hl] = '\0';
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return failf("address %s is not a numeric ADDR:PORT", addr);
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void
set_timeouts(int fd)
{
	struct timeval tv = {IO_TIMEOUT_S, 0};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int
read_full(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return 1; /* end of stream */
		if (r < 0)
			return failf("read: %s", strerror(errno));
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
write_full(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return failf("write: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one framed message; 1 at a clean end of stream. */
static int
recv_frame(int fd, uint8_t *buf, size_t *len)
{
	uint8_t hdr[2];
	int rc = read_full(fd, hdr, 2);

	if (rc)
		return rc;
	*len = (size_t)hdr[0] << 8 | hdr[1];
	rc = read_full(fd, buf, *len);
	if (rc == 1)
		return failf("stream ended inside a message");
	return rc;
}

static int
send_frame(int fd, uint8_t *frame, size_t len)
{
	frame[0] = (uint8_t)(len >> 8);
	frame[1] = (uint8_t)len;
	return write_full(fd, frame, len + 2);
}

struct chan {
	struct noise_cipher tx, rx;
	uint8_t hash[NOISE_HASHLEN_MAX];
	size_t hash_len;
};

static int
handshake(int fd, const struct opts *o, const struct noise_protocol *proto,
          struct chan *c)
{
	static uint8_t buf[2 + NOISE_MAX_MSG];
	struct noise_handshake hs;
	struct noise_handshake_params p = {
		.protocol = *proto,
		.initiator = !o->respond,
		.static_sk = o->has_static ? o->static_sk : NULL,
		.remote_static = o->has_remote && !o->respond ? o->remote : NULL,
		.rng = &sys_rng,
	};
	uint8_t payload[NOISE_MAX_MSG];
	size_t n, pn;
	int rc = noise_handshake_init(&hs, &p);

	if (rc)
		return failf("handshake setup: %s", weft_strerror(rc));
	for (;;) {
		switch (noise_handshake_action(&hs)) {
		case NOISE_ACTION_WRITE:
			rc = noise_handshake_write(&hs, NULL, 0, buf + 2,
			    NOISE_MAX_MSG, &n);
			if (rc)
				return failf("handshake write: %s",
				    weft_strerror(rc));
			if (send_frame(fd, buf, n))
				return -1;
			break;
		case NOISE_ACTION_READ:
			rc = recv_frame(fd, buf, &n);
			if (rc == 1)
				return failf("peer closed during the handshake");
			if (rc)
				return -1;
			rc = noise_handshake_read(&hs, buf, n, payload,
			    sizeof(payload), &pn);
			if (rc)
				return failf("handshake message refused: %s",
				    weft_strerror(rc));
			break;
		case NOISE_ACTION_SPLIT: {
			const uint8_t *h = noise_handshake_hash(&hs, &c->hash_len);

			memcpy(c->hash, h, c->hash_len);
			noise_handshake_split(&hs, &c->tx, &c->rx);
			noise_handshake_wipe(&hs);
			return 0;
		}
		default:
			noise_handshake_wipe(&hs);
			return failf("handshake failed");
		}
	}
}

static int
serve(int fd, const struct opts *o, const struct noise_protocol *proto)
{
	static uint8_t in[NOISE_MAX_MSG], out[2 + NOISE_MAX_MSG];
	struct chan c;
	int rc = handshake(fd, o, proto, &c);

	for (unsigned i = 0; rc == 0 && i < MAX_ECHOES; i++) {
		size_t n, pn;

		rc = recv_frame(fd, in, &n);
		if (rc == 1) {
			rc = 0;
			break;
		}
		if (rc)
			break;
		if (noise_cipher_decrypt(&c.rx, NULL, 0, in, n, in, sizeof(in),
		    &pn) != 0) {
			rc = failf("transport message %u refused", i);
			break;
		}
		if (noise_cipher_encrypt(&c.tx, NULL, 0, in, pn, out + 2,
		    NOISE_MAX_MSG, &n) != 0) {
			rc = failf("cannot encrypt the echo");
			break;
		}
		rc = send_frame(fd, out, n);
	}
	noise_cipher_wipe(&c.tx);
	noise_cipher_wipe(&c.rx);
	return rc;
}

static int
respond(const struct opts *o, const struct noise_protocol *proto)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char host[NI_MAXHOST], port[NI_MAXSERV];
	char pk_hex[2 * NOISE_DHLEN + 1] = "";
	int one = 1, lfd;

	if (resolve(o->addr, &ss, &sl))
		return -1;
	lfd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (lfd < 0)
		return failf("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&ss, sl) != 0 || listen(lfd, 8) != 0) {
		close(lfd);
		return failf("cannot listen on %s: %s", o->addr, strerror(errno));
	}
	sl = sizeof(ss);
	getsockname(lfd, (struct sockaddr *)&ss, &sl);
	getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
	if (o->has_static) {
		uint8_t pk[NOISE_DHLEN];

		noise_dh_public(pk, o->static_sk);
		sodium_bin2hex(pk_hex, sizeof(pk_hex), pk, sizeof(pk));
	}
	printf("{\"listen\":\"%s%s%s:%s\",\"static\":\"%s\"}\n",
	    ss.ss_family == AF_INET6 ? "[" : "", host,
	    ss.ss_family == AF_INET6 ? "]" : "", port, pk_hex);
	fflush(stdout);
	for (unsigned i = 0; i < MAX_CONNECTIONS; i++) {
		int fd = accept(lfd, NULL, NULL);
		int rc;

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			close(lfd);
			return failf("accept: %s", strerror(errno));
		}
		set_timeouts(fd);
		rc = serve(fd, o, proto);
		close(fd);
		if (rc)
			fprintf(stderr, "noise-peer: connection %u: %s\n", i, errbuf);
		if (o->once) {
			close(lfd);
			return rc;
		}
	}
	close(lfd);
	return 0;
}

static int
initiate(const struct opts *o, const struct noise_protocol *proto)
{
	static uint8_t buf[2 + NOISE_MAX_MSG], back[NOISE_MAX_MSG];
	struct sockaddr_storage ss;
	socklen_t sl;
	struct chan c;
	size_t mlen = strlen(o->message), n, pn;
	char hex[2 * NOISE_HASHLEN_MAX + 1];
	int fd, rc;

	if (mlen > NOISE_MAX_MSG - NOISE_TAGLEN)
		return failf("--message is over %d bytes",
		    NOISE_MAX_MSG - NOISE_TAGLEN);
	if (resolve(o->addr, &ss, &sl))
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return failf("socket: %s", strerror(errno));
	set_timeouts(fd);
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
		close(fd);
		return failf("cannot connect to %s: %s", o->addr, strerror(errno));
	}
	rc = handshake(fd, o, proto, &c);
	if (rc == 0 && noise_cipher_encrypt(&c.tx, NULL, 0,
	    (const uint8_t *)o->message, mlen, buf + 2, NOISE_MAX_MSG, &n) != 0)
		rc = failf("cannot encrypt the message");
	if (rc == 0)
		rc = send_frame(fd, buf, n);
	if (rc == 0) {
		rc = recv_frame(fd, back, &n);
		if (rc == 1)
			rc = failf("responder closed without echoing");
	}
	if (rc == 0 && noise_cipher_decrypt(&c.rx, NULL, 0, back, n, back,
	    sizeof(back), &pn) != 0)
		rc = failf("echo refused: authentication failed");
	if (rc == 0 && (pn != mlen || memcmp(back, o->message, mlen) != 0))
		rc = failf("echo differs from the message sent");
	close(fd);
	if (rc == 0) {
		sodium_bin2hex(hex, sizeof(hex), c.hash, c.hash_len);
		printf("{\"ok\":true,\"handshake_hash\":\"%s\"}\n", hex);
	}
	noise_cipher_wipe(&c.tx);
	noise_cipher_wipe(&c.rx);
	return rc;
}

/* Error text for a JSON string: quotes and backslashes escaped. */
static void
print_error(void)
{
	printf("{\"ok\":false,\"error\":\"");
	for (const char *p = errbuf; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		putchar((unsigned char)*p < 0x20 ? ' ' : *p);
	}
	printf("\"}\n");
	fprintf(stderr, "noise-peer: %s\n", errbuf);
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct noise_protocol proto;
	int rc;

	if (sodium_init() < 0) {
		fprintf(stderr, "noise-peer: libsodium did not start\n");
		return 1;
	}
	if (parse_args(argc, argv, &o) || protocol_of(&o, &proto)) {
		print_error();
		return 1;
	}
	rc = o.respond ? respond(&o, &proto) : initiate(&o, &proto);
	if (rc && o.respond)
		fprintf(stderr, "noise-peer: %s\n", errbuf);
	else if (rc)
		print_error();
	sodium_memzero(&o, sizeof(o));
	return rc ? 1 : 0;
}
