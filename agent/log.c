#include <stdio.h>
#include <unistd.h>

#include "agent/log.h"

static void
write_line(void *ctx, enum weft_log_level level, const char *line)
{
	(void)ctx;
	/* One fprintf per line keeps concurrent lines whole. */
	fprintf(stderr, "level=%s %s\n", weft_log_level_name(level), line);
}

void
agent_log_stderr(struct weft_log *log, enum weft_log_level max)
{
	log->write = write_line;
	log->ctx = NULL;
	log->max = max;
}
