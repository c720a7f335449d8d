/*
 * Prometheus text exposition (format 0.0.4) and a small registry of
 * collectors.
 *
 * A part that has numbers to show registers a collector: a function that,
 * at each scrape, writes whole metric families with the writer below.  The
 * registry calls the collectors in registration order; the writer checks
 * that each family is announced once (HELP and TYPE) and that its samples
 * follow it, which is what `promtool check metrics` asks.  Names follow
 * Prometheus: under `weft_`, base units (`_seconds`, `_bytes`), counters
 * ending in `_total`.
 *
 * The data plane's glue registers its own collector (labelled by source
 * and destination service) with metrics_register(): nothing here knows
 * about it.  No I/O: the caller serves the bytes (handlers.c for the Unix
 * socket, metrics_server.c for TCP).
 *
 * For the proxy, in agent_proxy_start() (agent_start initialises the
 * registry before any part starts):
 *
 *     metrics_register(&a->metrics, "proxy", proxy_collect, a->proxy);
 *
 * and metrics_unregister(&a->metrics, a->proxy) before a->proxy is
 * freed.  proxy_collect writes, per family, metrics_family() once and
 * then one metrics_sample() or metrics_histogram_write() per label set
 * ({"src", "web"}, {"dst", "api"}, ...), e.g.
 * weft_proxy_requests_total{src,dst,code_class}, and
 * weft_proxy_request_duration_seconds as a histogram whose
 * struct metrics_histogram lives in the proxy's per-route state.
 */
#ifndef WEFT_AGENT_METRICS_H
#define WEFT_AGENT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_COLLECTORS 32
#define METRICS_MAX_FAMILIES 256
#define METRICS_MAX_LABELS 8
#define METRICS_MAX_BUCKETS 24

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

struct metrics_label {
	const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]* */
	const char *value; /* any UTF-8; escaped on output */
};

/*
 * The output of one scrape.  Grows as needed; free with
 * metrics_writer_fini().  err is sticky: after the first error nothing
 * more is written, and metrics_render() returns it.
 */
struct metrics_writer {
	char *data;
	size_t len, cap;
	int err;
	char family[128]; /* the family being written */
	enum metrics_type type;
	/* Families announced so far in this scrape, by name. */
	char *seen[METRICS_MAX_FAMILIES];
	size_t n_seen;
};

void metrics_writer_init(struct metrics_writer *w);
void metrics_writer_fini(struct metrics_writer *w);

/*
 * Starts a family: "# HELP" and "# TYPE" lines.  A name that is not a
 * metric name, a counter without `_total`, or a family announced twice in
 * one scrape sets w->err to WEFT_EINVAL.
 */
void metrics_family(struct metrics_writer *w, const char *name,
                    enum metrics_type type, const char *help);
/* One sample of the current counter or gauge family. */
void metrics_sample(struct metrics_writer *w, const struct metrics_label *l,
                    size_t n_labels, double value);

/*
 * A histogram with fixed upper bounds (seconds, bytes...), cumulative on
 * output.  Observations are counted in the first bucket whose bound is
 * at least the value; bounds must be increasing.
 */
struct metrics_histogram {
	const double *bounds; /* borrowed; n_bounds entries, +Inf implied */
	size_t n_bounds;
	uint64_t counts[METRICS_MAX_BUCKETS + 1]; /* last: above every bound */
	uint64_t count;
	double sum;
};

/* WEFT_EINVAL when there are more than METRICS_MAX_BUCKETS bounds or
 * they do not increase. */
int metrics_histogram_init(struct metrics_histogram *h, const double *bounds,
                           size_t n_bounds);
void metrics_histogram_observe(struct metrics_histogram *h, double v);
/* The _bucket, _sum and _count samples of the current histogram family. */
void metrics_histogram_write(struct metrics_writer *w,
                             const struct metrics_label *l, size_t n_labels,
                             const struct metrics_histogram *h);

/* Writes its families with w; called once per scrape. */
typedef void metrics_collect_fn(void *ctx, struct metrics_writer *w);

struct metrics {
	struct {
		metrics_collect_fn *fn;
		void *ctx;
		const char *name; /* who registered it, for errors */
	} c[METRICS_MAX_COLLECTORS];
	size_t n;
	uint64_t scrapes;
	uint64_t scrape_errors;
	const char *last_error; /* the collector that failed last */
};

void metrics_init(struct metrics *m);
/* Adds a collector; ctx must stay valid until metrics_unregister().
 * WEFT_ETOOBIG when the table is full. */
int metrics_register(struct metrics *m, const char *name,
                     metrics_collect_fn *fn, void *ctx);
/* Removes every collector registered with ctx. */
void metrics_unregister(struct metrics *m, void *ctx);

/*
 * Runs every collector into w.  A collector that sets an error has its
 * part cut from the output and the others still run; returns 0, or the
 * first such error (m->last_error names the collector).
 */
int metrics_render(struct metrics *m, struct metrics_writer *w);

#endif
