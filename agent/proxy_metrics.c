#include "agent/proxy_metrics.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/err.h"

#define NAME_MAX_LEN 64

/* Seconds: from a local hop (~100 us) to a slow upstream. */
static const double duration_bounds[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30,
};

struct pair {
	bool inbound, tcp;
	char source[NAME_MAX_LEN];
	char destination[NAME_MAX_LEN];
	uint64_t responses[6]; /* index 1..5: status class; 0: no answer */
	uint64_t bytes_in, bytes_out;
	uint64_t retries, timeouts, generated, denied;
	struct metrics_histogram duration;
};

struct ejected {
	char destination[NAME_MAX_LEN];
	uint64_t count;
};

/* One per agent, shared by its data-plane workers: each update and each
 * scrape holds the lock, a few hundred nanoseconds per request. */
struct proxy_metrics {
	uv_mutex_t mu;
	struct pair *pairs;
	size_t n_pairs;
	struct ejected *ejected;
	size_t n_ejected;
};

int
proxy_metrics_new(struct proxy_metrics **out)
{
	struct proxy_metrics *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (m == NULL)
		return WEFT_ENOMEM;
	if (uv_mutex_init(&m->mu) != 0) {
		free(m);
		return WEFT_ENOMEM;
	}
	/* Allocated up front: a scrape or a request never reallocates. */
	m->pairs = calloc(PROXY_METRICS_MAX_PAIRS + 1, sizeof(*m->pairs));
	m->ejected = calloc(PROXY_METRICS_MAX_PAIRS + 1, sizeof(*m->ejected));
	if (m->pairs == NULL || m->ejected == NULL) {
		proxy_metrics_free(m);
		return WEFT_ENOMEM;
	}
	*out = m;
	return 0;
}

void
proxy_metrics_free(struct proxy_metrics *m)
{
	if (m == NULL)
		return;
	uv_mutex_destroy(&m->mu);
	free(m->pairs);
	free(m->ejected);
	free(m);
}

static const char *
name_or(const char *s, const char *dflt)
{
	return s != NULL && s[0] != '\0' ? s : dflt;
}

static bool
name_is(const char *have, const char *want)
{
	return strncmp(have, want, NAME_MAX_LEN - 1) == 0;
}

static void
set_name(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n > NAME_MAX_LEN - 1)
		n = NAME_MAX_LEN - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The set for these labels: found, new, or the overflow set once full. */
static struct pair *
pair_for(struct proxy_metrics *m, bool inbound, bool tcp, const char *src,
         const char *dst)
{
	struct pair *p;

	src = name_or(src, "unknown");
	dst = name_or(dst, "unknown");
	for (size_t i = 0; i < m->n_pairs; i++) {
		p = &m->pairs[i];
		if (p->inbound == inbound && p->tcp == tcp &&
		    name_is(p->source, src) && name_is(p->destination, dst))
			return p;
	}
	if (m->n_pairs == PROXY_METRICS_MAX_PAIRS) {
		/* The spare slot takes all overflow; its direction and kind
		 * are those of the first request that overflowed. */
		p = &m->pairs[PROXY_METRICS_MAX_PAIRS];
		if (p->source[0] == '\0') {
			p->inbound = inbound;
			p->tcp = tcp;
			set_name(p->source, PROXY_METRICS_OTHER);
			set_name(p->destination, PROXY_METRICS_OTHER);
			metrics_histogram_init(&p->duration, duration_bounds,
			    sizeof(duration_bounds) / sizeof(duration_bounds[0]));
		}
		return p;
	}
	p = &m->pairs[m->n_pairs++];
	p->inbound = inbound;
	p->tcp = tcp;
	set_name(p->source, src);
	set_name(p->destination, dst);
	metrics_histogram_init(&p->duration, duration_bounds,
	    sizeof(duration_bounds) / sizeof(duration_bounds[0]));
	return p;
}

void
proxy_metrics_observe(struct proxy_metrics *m,
                      const struct proxy_metrics_obs *o)
{
	struct pair *p;
	int cls = o->status >= 100 && o->status <= 599 ? o->status / 100 : 0;

	uv_mutex_lock(&m->mu);
	p = pair_for(m, o->inbound, o->tcp, o->source, o->destination);
	p->responses[cls]++;
	p->bytes_in += o->bytes_in;
	p->bytes_out += o->bytes_out;
	p->retries += o->retries;
	p->timeouts += o->timeout;
	p->generated += o->generated;
	metrics_histogram_observe(&p->duration,
	                          o->duration_s >= 0 ? o->duration_s : 0);
	uv_mutex_unlock(&m->mu);
}

void
proxy_metrics_denied(struct proxy_metrics *m, bool inbound, bool tcp,
                     const char *source, const char *destination)
{
	uv_mutex_lock(&m->mu);
	pair_for(m, inbound, tcp, source, destination)->denied++;
	uv_mutex_unlock(&m->mu);
}

void
proxy_metrics_ejected(struct proxy_metrics *m, const char *destination)
{
	const char *dst = name_or(destination, "unknown");
	struct ejected *e = NULL;

	uv_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n_ejected && e == NULL; i++)
		if (name_is(m->ejected[i].destination, dst))
			e = &m->ejected[i];
	if (e == NULL && m->n_ejected == PROXY_METRICS_MAX_PAIRS) {
		e = &m->ejected[PROXY_METRICS_MAX_PAIRS];
		set_name(e->destination, PROXY_METRICS_OTHER);
	} else if (e == NULL) {
		e = &m->ejected[m->n_ejected++];
		set_name(e->destination, dst);
	}
	e->count++;
	uv_mutex_unlock(&m->mu);
}

static size_t
labels(const struct pair *p, struct metrics_label *l)
{
	l[0] = (struct metrics_label){"direction",
	                              p->inbound ? "inbound" : "outbound"};
	l[1] = (struct metrics_label){"protocol", p->tcp ? "tcp" : "http"};
	l[2] = (struct metrics_label){"source", p->source};
	l[3] = (struct metrics_label){"destination", p->destination};
	return 4;
}

typedef uint64_t field_fn(const struct pair *p);

static uint64_t f_bytes_in(const struct pair *p) { return p->bytes_in; }
static uint64_t f_bytes_out(const struct pair *p) { return p->bytes_out; }
static uint64_t f_retries(const struct pair *p) { return p->retries; }
static uint64_t f_timeouts(const struct pair *p) { return p->timeouts; }
static uint64_t f_generated(const struct pair *p) { return p->generated; }
static uint64_t f_denied(const struct pair *p) { return p->denied; }

static void
each(struct proxy_metrics *m, struct metrics_writer *w, const char *name,
     const char *help, field_fn *f)
{
	struct metrics_label l[METRICS_MAX_LABELS];

	metrics_family(w, name, METRICS_COUNTER, help);
	for (size_t i = 0; i < PROXY_METRICS_MAX_PAIRS + 1; i++) {
		const struct pair *p = &m->pairs[i];

		if (p->source[0] != '\0')
			metrics_sample(w, l, labels(p, l), (double)f(p));
	}
}

void
proxy_metrics_collect(void *ctx, struct metrics_writer *w)
{
	static const char *const classes[] = {"none", "1xx", "2xx", "3xx",
	                                      "4xx", "5xx"};
	struct proxy_metrics *m = ctx;
	struct metrics_label l[METRICS_MAX_LABELS];

	uv_mutex_lock(&m->mu);
	metrics_family(w, "weft_proxy_requests_total", METRICS_COUNTER,
	               "HTTP requests and TCP streams finished, by response "
	               "class (none: no answer, or TCP)");
	for (size_t i = 0; i < PROXY_METRICS_MAX_PAIRS + 1; i++) {
		const struct pair *p = &m->pairs[i];
		size_t n;

		if (p->source[0] == '\0')
			continue;
		n = labels(p, l);
		for (int c = 0; c < 6; c++) {
			if (p->responses[c] == 0 && c != 2)
				continue;
			l[n] = (struct metrics_label){"code_class", classes[c]};
			metrics_sample(w, l, n + 1, (double)p->responses[c]);
		}
	}
	metrics_family(w, "weft_proxy_request_duration_seconds",
	               METRICS_HISTOGRAM, "Time from the first byte of a "
	               "request (or a stream's start) to its end");
	for (size_t i = 0; i < PROXY_METRICS_MAX_PAIRS + 1; i++) {
		const struct pair *p = &m->pairs[i];

		if (p->source[0] != '\0')
			metrics_histogram_write(w, l, labels(p, l), &p->duration);
	}
	each(m, w, "weft_proxy_request_bytes_received_total",
	     "Bytes received from the caller", f_bytes_in);
	each(m, w, "weft_proxy_request_bytes_sent_total",
	     "Bytes sent to the caller", f_bytes_out);
	each(m, w, "weft_proxy_retries_total", "Retries made", f_retries);
	each(m, w, "weft_proxy_timeouts_total", "Requests weft cut at a "
	     "timeout", f_timeouts);
	each(m, w, "weft_proxy_generated_responses_total", "Answers weft "
	     "made itself (no route, no endpoint, timeout, ...)", f_generated);
	each(m, w, "weft_proxy_intention_denials_total", "Requests and "
	     "streams refused by intentions", f_denied);
	metrics_family(w, "weft_proxy_ejections_total", METRICS_COUNTER,
	               "Endpoints outlier detection took out of rotation");
	for (size_t i = 0; i < PROXY_METRICS_MAX_PAIRS + 1; i++) {
		const struct ejected *e = &m->ejected[i];

		if (e->destination[0] == '\0')
			continue;
		l[0] = (struct metrics_label){"destination", e->destination};
		metrics_sample(w, l, 1, (double)e->count);
	}
	uv_mutex_unlock(&m->mu);
}
