/* Helpers shared by the unit tests: a deterministic rng and key/cert
 * factories.  Header-only so each test is one executable. */
#ifndef WEFT_TESTS_TESTUTIL_H
#define WEFT_TESTS_TESTUTIL_H

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "crypto/bundle.h"
#include "crypto/cert.h"
#include "crypto/key.h"

/* A stream of bytes that depends only on the seed and the call count. */
struct test_rng_state {
	uint64_t seed;
	uint64_t calls;
};

static inline int
test_rng_fill(void *ctx, void *out, size_t n)
{
	struct test_rng_state *s = ctx;
	uint8_t seed[randombytes_SEEDBYTES] = {0};

	memcpy(seed, &s->seed, sizeof(s->seed));
	memcpy(seed + 8, &s->calls, sizeof(s->calls));
	s->calls++;
	randombytes_buf_deterministic(out, n, seed);
	return 0;
}

static inline struct weft_rng
test_rng(struct test_rng_state *s, uint64_t seed)
{
	struct weft_rng r = {test_rng_fill, s};

	s->seed = seed;
	s->calls = 0;
	return r;
}

#define T_NOW 1800000000LL /* a fixed "now" for every test */
#define T_DAY 86400LL

/* Issues and decodes a certificate; fails the test on error. */
static inline void
test_issue(struct cert *out, const struct key_pair *subject,
           const struct key_pair *issuer, const char *name,
           const char *const *services, size_t n_services,
           const char *const *groups, size_t n_groups, int64_t not_before,
           int64_t not_after)
{
	struct cert_params p = {
		.is_ca = subject->kind == KEY_KIND_CA,
		.name = name,
		.services = services,
		.n_services = n_services,
		.groups = groups,
		.n_groups = n_groups,
		.not_before = not_before,
		.not_after = not_after,
	};
	uint8_t *enc;
	size_t len;

	if (cert_issue(&p, subject, issuer, &enc, &len) != 0)
		abort();
	if (cert_decode(enc, len, out) != 0)
		abort();
	free(enc);
}

#endif
