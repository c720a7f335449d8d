/* traceparent values from the outside: parse, and what parses must
 * format back to the same bytes for version 00. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace_context t;
	char out[TRACEPARENT_LEN + 1];

	if (trace_parse((const char *)data, size, &t, NULL) != 0)
		return 0;
	if (t.version == 0) {
		trace_format(&t, out);
		if (size != TRACEPARENT_LEN || memcmp(out, data, size) != 0)
			abort();
	}
	return 0;
}
