/* The proxy's tables, built from gossip state and the config. */
#ifndef WEFT_AGENT_TABLES_H
#define WEFT_AGENT_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/table.h"

struct agent;

/* A fresh snapshot (one reference, the caller's); err says why not. */
int agent_tables_build(struct agent *a, uint64_t version, struct table **out,
                       char *err, size_t cap);

#endif
