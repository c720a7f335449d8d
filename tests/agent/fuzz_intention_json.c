/*
 * Fuzz target: intention objects' JSON.  Whatever the input, the decoder
 * either refuses with one line saying where and why, or gives an
 * intention the proxy's table accepts and whose L7 rules decide.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/intention_json.h"
#include "common/err.h"
#include "proxy/authz_l7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct intention_json *ij;
	char err[INTENTION_JSON_ERR_MAX], why[128];
	struct table_intention it;
	struct table_spec spec = {.default_action = TABLE_DENY};
	struct table *t;
	struct authz_l7 l7;

	if (intention_json_parse((const char *)data, size, &ij, err,
	                         sizeof(err)) != 0) {
		if (ij != NULL || err[0] == '\0')
			abort();
		return 0;
	}
	it = *intention_json_get(ij);
	if (it.name != NULL)
		abort();
	it.name = "fuzz";
	spec.intentions = &it;
	spec.n_intentions = 1;
	/* What the agent decodes, the table must take: otherwise one object
	 * would refuse every snapshot. */
	if (table_new(&spec, &t, NULL, NULL) != 0)
		abort();
	table_unref(t);
	l7 = (struct authz_l7){"fuzz", it.http, it.n_http};
	(void)authz_l7_allows(&l7, "GET", "/a/b?c", why, sizeof(why));
	(void)authz_l7_allows(&l7, "POST", "/", why, sizeof(why));
	intention_json_free(ij);
	return 0;
}
