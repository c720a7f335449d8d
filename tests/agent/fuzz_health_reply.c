/* What a checked server answers, as the health checks read it: an HTTP
 * status line and a gRPC HealthCheckResponse frame.  Results must stay in
 * range; nothing may crash or read past the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/health.h"
#include "common/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned serving = 99;
	int status = -1, rc;
	/* A copy of exactly size bytes, so ASan sees any read past it. */
	uint8_t *p = malloc(size ? size : 1);

	if (p == NULL)
		return 0;
	if (size)
		memcpy(p, data, size);
	rc = health_http_status((const char *)p, size, &status);
	if (rc == 0 && (status < 100 || status > 999))
		abort();
	if (rc != 0 && rc != WEFT_EAGAIN && rc != WEFT_EMALFORMED)
		abort();
	rc = health_grpc_response(p, size, &serving);
	if (rc == 0 && serving > 3)
		abort();
	if (rc != 0 && rc != WEFT_EAGAIN && rc != WEFT_EMALFORMED)
		abort();
	free(p);
	return 0;
}
