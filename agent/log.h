/* weftd's log sink: one line per event on stderr, "level=... msg=..."
 * followed by key=value pairs, which journald keeps as they are. */
#ifndef WEFT_AGENT_LOG_H
#define WEFT_AGENT_LOG_H

#include "common/log.h"

void agent_log_stderr(struct weft_log *log, enum weft_log_level max);

#endif
