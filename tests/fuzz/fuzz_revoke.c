/* Revocation statements. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/revoke.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct revoke r;
	struct bundle b = {0};

	if (revoke_decode(data, size, &r) == 0) {
		if (r.encoded_len != size || memcmp(r.encoded, data, size) != 0)
			abort();
		if (revoke_verify(&r, &b) == 0)
			abort();
	}
	return 0;
}
