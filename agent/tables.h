/* The proxy's tables, built from gossip state and the config. */
#ifndef WEFT_AGENT_TABLES_H
#define WEFT_AGENT_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/table.h"

struct agent;

/* What one build used and skipped (each skip is also logged with its
 * reason), for metrics. */
struct agent_tables_stats {
	size_t routes, routes_skipped;
	size_t intentions, intentions_skipped; /* plain denies count as used */
	size_t labels_skipped;
};

/* A fresh snapshot (one reference, the caller's); err says why not. */
int agent_tables_build(struct agent *a, uint64_t version, struct table **out,
                       char *err, size_t cap);
/* The same, with the counts (st may be NULL). */
int agent_tables_build_ex(struct agent *a, uint64_t version,
                          struct table **out,
                          struct agent_tables_stats *st, char *err,
                          size_t cap);

#endif
