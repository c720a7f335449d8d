/*
 * The log sink.  Cores do not log: they return errors and events.  The
 * agent and the CLI set one sink and log where a decision is made, one line
 * per event in "level=... msg=... key=value" form.  Never log key material.
 */
#ifndef WEFT_COMMON_LOG_H
#define WEFT_COMMON_LOG_H

enum weft_log_level {
	WEFT_LOG_ERROR = 0,
	WEFT_LOG_WARN = 1,
	WEFT_LOG_INFO = 2,
	WEFT_LOG_DEBUG = 3,
};

struct weft_log {
	void (*write)(void *ctx, enum weft_log_level level, const char *line);
	void *ctx;
	enum weft_log_level max; /* lines above this level are dropped */
};

#if defined(__GNUC__)
#define WEFT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define WEFT_PRINTF(a, b)
#endif

/* Formats one line and hands it to the sink; a NULL log discards it. */
void weft_logf(const struct weft_log *log, enum weft_log_level level,
               const char *fmt, ...) WEFT_PRINTF(3, 4);

const char *weft_log_level_name(enum weft_log_level level);
/* Parses "error", "warn", "info", "debug"; returns 0 or WEFT_EINVAL. */
int weft_log_level_parse(const char *s, enum weft_log_level *out);

#endif
