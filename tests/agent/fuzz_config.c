/* The config loader: any bytes as a config file, merged over a good one,
 * then built.  Errors must come with a message; nothing may crash or
 * leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char base[] =
		"{\"node_name\": \"a\", \"bind\": \"127.0.0.1\", \"identity\": "
		"{\"key\": \"k\", \"cert\": \"c\", \"ca\": \"a\"}}";
	struct agent_config_err err = {{0}};
	struct agent_config c;
	json_t *doc, *merged;

	if (agent_config_parse_doc("fuzz", (const char *)data, size, &doc,
	                           &err) != 0) {
		if (err.msg[0] == '\0')
			abort(); /* an error must say what was wrong */
		return 0;
	}
	if (agent_config_parse_doc("base", base, sizeof(base) - 1, &merged,
	                           &err) != 0)
		abort();
	agent_config_merge(merged, doc);
	err.msg[0] = '\0';
	if (agent_config_build(merged, &c, &err) != 0 && err.msg[0] == '\0')
		abort();
	agent_config_free(&c);
	json_decref(doc);
	json_decref(merged);
	return 0;
}
