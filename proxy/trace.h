/*
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) at the proxy.
 *
 * weft starts no spans of its own: it keeps a caller's traceparent as it
 * is, so the app's tracer stays in charge, and creates one only when the
 * request has none (or one that does not parse), so that every request
 * through the mesh has a trace id to log and to follow across hops.
 * tracestate travels with the traceparent it belongs to: it is dropped
 * when a new trace is started, as the recommendation says.
 *
 * Pure: randomness is an input.
 */
#ifndef WEFT_PROXY_TRACE_H
#define WEFT_PROXY_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"

#define TRACE_ID_LEN 16
#define TRACE_PARENT_ID_LEN 8
#define TRACE_FLAG_SAMPLED 0x01
/* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define TRACEPARENT_LEN 55
/* Longest traceparent value passed on as it is (later versions may
 * append fields). */
#define TRACEPARENT_MAX 512

struct trace_context {
	uint8_t version;
	uint8_t trace_id[TRACE_ID_LEN];
	uint8_t parent_id[TRACE_PARENT_ID_LEN];
	uint8_t flags;
};

/*
 * Parses a traceparent value (not NUL-terminated).  Version 00 must be
 * exactly 55 characters; a later version at least that, with a '-' after
 * the flags when longer; version ff, uppercase hex, an all-zero trace id
 * or parent id: WEFT_EMALFORMED, with *why (when not NULL) a static
 * sentence.
 */
int trace_parse(const char *s, size_t len, struct trace_context *out,
                const char **why);

/* A new context: random ids (never all zero), version 00. */
int trace_new(const struct weft_rng *rng, bool sampled,
              struct trace_context *out);

/* The version-00 header value, NUL-terminated. */
void trace_format(const struct trace_context *t,
                  char out[TRACEPARENT_LEN + 1]);
/* The trace id as 32 lowercase hex digits, NUL-terminated. */
void trace_id_hex(const struct trace_context *t, char out[2 * TRACE_ID_LEN + 1]);

/*
 * What the proxy does with one request's trace headers.  traceparent is
 * the value of the request's traceparent field, NULL when it has none;
 * n_traceparent how many such fields it had (two or more cannot be
 * trusted: a new trace is started).
 */
struct trace_decision {
	/* true: forward the request's traceparent and tracestate as they
	 * are; false: replace traceparent with header and drop tracestate. */
	bool keep;
	struct trace_context ctx;           /* the trace the request is in */
	char header[TRACEPARENT_LEN + 1];   /* when !keep */
	const char *why;                    /* why a new trace was started */
};

int trace_decide(const char *traceparent, size_t len, size_t n_traceparent,
                 const struct weft_rng *rng, bool sampled,
                 struct trace_decision *d);

#endif
