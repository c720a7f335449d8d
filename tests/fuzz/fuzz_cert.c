/* Certificate decoding: raw msgpack bytes, and the same bytes as a trust
 * bundle's text.  A certificate that decodes must re-encode identically
 * and survive verification against an empty bundle. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/bundle.h"
#include "crypto/cert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cert c;
	struct bundle b = {0};
	size_t bad;

	if (cert_decode(data, size, &c) == 0) {
		struct cert_verdict v;
		struct cert again;

		if (c.encoded_len != size || memcmp(c.encoded, data, size) != 0)
			abort();
		if (cert_decode(c.encoded, c.encoded_len, &again) != 0)
			abort();
		cert_free(&again);
		if (cert_verify(&c, &b, 1800000000, 60, NULL, &v) == 0)
			abort(); /* nothing verifies against no CA */
		cert_verify_ca(&c, 1800000000, 60, &v);
		cert_free(&c);
	}
	if (bundle_parse(&b, (const char *)data, size, &bad) == 0)
		bundle_free(&b);
	return 0;
}
