#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"

static const char *const level_names[] = {"error", "warn", "info", "debug"};

const char *
weft_log_level_name(enum weft_log_level level)
{
	if ((unsigned)level >= sizeof(level_names) / sizeof(level_names[0]))
		return "unknown";
	return level_names[level];
}

int
weft_log_level_parse(const char *s, enum weft_log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum weft_log_level)i;
			return 0;
		}
	}
	return WEFT_EINVAL;
}

void
weft_logf(const struct weft_log *log, enum weft_log_level level,
          const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (log == NULL || log->write == NULL || level > log->max)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log->write(log->ctx, level, line);
}
