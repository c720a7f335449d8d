/*
 * A test-only crypto provider for the gossip simulator at large N.  It
 * keeps the shapes (key ids, signatures that name their signer, sealed
 * packets with the sender id in clear and a checksum) at a tiny fraction
 * of the cost.  It offers NO security: anyone can compute its
 * "signatures".  The simulator says so in its output.
 */
#ifndef WEFT_TESTS_TESTCRYPTO_H
#define WEFT_TESTS_TESTCRYPTO_H

#include <stdint.h>

#include "gossip/gossip.h"

#define TESTCRYPTO_CERT_LEN 96

struct testcrypto_ctx {
	uint8_t id[KEY_ID_LEN];
	uint8_t pk[KEY_PK_LEN];
};

/* Identity of test node number n (n = 0 is reserved for the test CA). */
void testcrypto_identity(struct testcrypto_ctx *ctx, uint64_t n);
/* A fake certificate for ctx's node; operator sets the operator flag. */
void testcrypto_cert(const struct testcrypto_ctx *ctx, bool operator_group,
                     int64_t not_before, int64_t not_after,
                     uint8_t out[TESTCRYPTO_CERT_LEN]);
void testcrypto_provider(struct gossip_crypto *out, struct testcrypto_ctx *ctx);
/* A fake revocation statement, for the test CA's revocation objects. */
void testcrypto_revocation(const uint8_t id[KEY_ID_LEN], int64_t until,
                           uint8_t out[24]);

#endif
