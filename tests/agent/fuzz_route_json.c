/*
 * Fuzz target: route objects' JSON.  Whatever the input, the decoder
 * either refuses with an error naming a path, or gives a spec that the
 * proxy's own check accepts and that routing can use.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/route_json.h"
#include "common/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct route_json *rj;
	char err[ROUTE_JSON_ERR_MAX];
	const struct route_spec *s;
	const struct route_rule *r;
	const struct route_target *t;
	struct route_header h = {"x-canary", 8, "1", 1};
	struct route_request req = {"GET", "/pkg.Svc/M?x", &h, 1};
	size_t i;

	if (route_json_parse((const char *)data, size, &rj, err,
	                     sizeof(err)) != 0) {
		if (rj != NULL || err[0] == '\0' || strchr(err, ':') == NULL)
			abort();
		return 0;
	}
	s = route_json_spec(rj);
	if (route_validate(s, NULL, 0, NULL, 0) != 0)
		abort();
	if (route_find(s, &req, &r, &i) == 0) {
		if (route_pick_target(r, (uint64_t)size * 0x9e3779b97f4a7c15u,
		                      &t) != 0 || t->weight == 0)
			abort();
		(void)route_backoff_ms(&r->retry, (unsigned)size, size);
	}
	route_json_free(rj);
	return 0;
}
