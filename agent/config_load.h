/* Where the configuration comes from, in merge order. */
#ifndef WEFT_AGENT_CONFIG_LOAD_H
#define WEFT_AGENT_CONFIG_LOAD_H

#include <stdbool.h>

#include "agent/config.h"

struct agent_config_sources {
	const char *file;   /* NULL for none */
	bool file_required; /* false for the default path */
	const char *dir;    /* every *.json in name order; NULL for none */
	const json_t *flags; /* checked already; merged last */
};

/* Reads, checks and merges every source, then builds *out; on failure
 * err says which file and key, and *out must still be freed. */
int agent_config_load(const struct agent_config_sources *src,
                      struct agent_config *out, struct agent_config_err *err);

#endif
