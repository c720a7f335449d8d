/*
 * Opening sealed packets: the clear header parse and the AEAD open with
 * fixed keys.  Inputs that start with 0xff are first sealed with the
 * right key, so the fuzzer also reaches the successful open path.
 */
#include <stdint.h>
#include <string.h>

#include "crypto/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
zero_fill(void *ctx, void *out, size_t n)
{
	(void)ctx;
	memset(out, 0x5a, n);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[70000], pkt[70000];
	struct weft_rng rng = { zero_fill, NULL };
	struct seal_keys k;
	uint8_t id[KEY_ID_LEN];
	size_t n;

	memset(&k, 0x11, sizeof(k));
	memcpy(k.rx, k.tx, sizeof(k.rx)); /* one key both ways, for sealing */
	if (size > 65507)
		return 0;
	(void)seal_peek_sender(data, size, id);
	if (size > 0 && data[0] == 0xff && size - 1 <= 65507 - SEAL_OVERHEAD) {
		memset(id, 1, sizeof(id));
		if (seal_packet(&k, id, &rng, data + 1, size - 1, pkt, sizeof(pkt),
		                &n) != 0)
			__builtin_trap();
		if (seal_open(&k, pkt, n, out, sizeof(out), &n) != 0 ||
		    n != size - 1 || memcmp(out, data + 1, n) != 0)
			__builtin_trap();
		return 0;
	}
	if (seal_open(&k, data, size, out, sizeof(out), &n) == 0 &&
	    n != size - SEAL_OVERHEAD)
		__builtin_trap();
	return 0;
}
