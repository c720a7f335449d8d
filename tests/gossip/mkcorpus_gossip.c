/*
 * Writes seed inputs for the gossip fuzz targets, taken from real traffic
 * of small simulated clusters: packet plaintexts of each message type,
 * push-pull messages with real certificates, sealed packets.  Each file is
 * named by the SHA-256 of its bytes.
 *
 *   mkcorpus_gossip tests/fuzz/corpus
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "gossip/wire.h"
#include "simnet.h"

struct tapper {
	const char *dir;
	bool real;
	unsigned per_type[32];
	unsigned streams;
	unsigned sealed;
};

static void
save(const char *dir, const char *target, const uint8_t *p, size_t len)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	char path[4096], hex[2 * sizeof(h) + 1];
	FILE *f;

	crypto_hash_sha256(h, p, len);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(path, sizeof(path), "%s/%s", dir, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%.16s", dir, target, hex);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, len, f) != len) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

static void
tap(void *ctx, const uint8_t *p, size_t len, bool stream)
{
	struct tapper *t = ctx;
	struct wire_msg m[WIRE_MAX_MSGS];
	size_t n, skipped;
	const char *why;
	uint8_t key;

	if (stream) {
		if (t->streams++ < 4)
			save(t->dir, "gossip_stream", p, len);
		return;
	}
	if (t->real) {
		if (t->sealed++ < 2)
			save(t->dir, "seal_open", p, len);
		return;
	}
	/* The test provider seals in clear: the plaintext is inside. */
	if (len < SEAL_OVERHEAD)
		return;
	p += SEAL_HDR_LEN;
	len -= SEAL_OVERHEAD;
	if (wire_decode_packet(p, len, m, &n, &skipped, &why) != 0 || n == 0)
		return;
	/* One seed per first message type and count, a few of each. */
	key = (uint8_t)((m[0].type & 15) | (n > 1 ? 16 : 0));
	if (t->per_type[key]++ < 2)
		save(t->dir, "gossip_packet", p, len);
}

static void
run(struct tapper *t, bool real)
{
	struct simnet_config c;
	struct simnet *s;

	memset(&c, 0, sizeof(c));
	c.nodes = 6;
	c.seed = 1;
	c.loss = 0.2;
	c.delay_min_ms = 1;
	c.delay_max_ms = 3;
	c.real_crypto = real;
	c.operators = 1;
	gossip_config_default(&c.gossip, GOSSIP_PROFILE_WEFT);
	c.tap = tap;
	c.tap_ctx = t;
	t->real = real;
	if (simnet_new(&s, &c) || simnet_bootstrap(s, 5)) {
		fprintf(stderr, "mkcorpus_gossip: cannot start the cluster\n");
		exit(1);
	}
	simnet_run_until(s, 2000);
	simnet_join(s, 5, 0);
	simnet_run_until(s, 4000);
	simnet_crash(s, 2);
	simnet_run_until(s, 20000);
	simnet_leave(s, 3);
	simnet_run_until(s, 22000);
	simnet_free(s);
}

int
main(int argc, char **argv)
{
	struct tapper t;
	static const uint8_t plain[] = { 0xff, 0x92, 0x03, 0x05 };

	if (argc != 2 || sodium_init() < 0) {
		fprintf(stderr, "usage: mkcorpus_gossip DIR\n");
		return 2;
	}
	memset(&t, 0, sizeof(t));
	t.dir = argv[1];
	run(&t, false);
	t.streams = 2; /* two more, with real certificates */
	run(&t, true);
	save(t.dir, "seal_open", plain, sizeof(plain));
	return 0;
}
