/* Private key files: armour, base64 and the msgpack body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct key_pair k;

	if (key_decode_text((const char *)data, size, &k) == 0) {
		char *text;
		size_t len;
		struct key_pair back;

		/* What decodes must encode and decode to the same key. */
		if (key_encode_text(&k, &text, &len) != 0)
			abort();
		if (key_decode_text(text, len, &back) != 0 ||
		    memcmp(&k, &back, sizeof(k)) != 0)
			abort();
		key_text_free(text, len);
		key_wipe(&k);
		key_wipe(&back);
	}
	return 0;
}
