/* Prometheus text exposition and the collector registry (metrics.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/metrics.h"
#include "common/err.h"
#include "common/log.h"

/* A scrape bigger than this is a bug in a collector, not a big cluster. */
#define METRICS_OUT_MAX (64u << 20)

void
metrics_writer_init(struct metrics_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void
metrics_writer_fini(struct metrics_writer *w)
{
	for (size_t i = 0; i < w->n_seen; i++)
		free(w->seen[i]);
	free(w->data);
	memset(w, 0, sizeof(*w));
}

static void
put(struct metrics_writer *w, const char *s, size_t n)
{
	if (w->err)
		return;
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		char *p;

		while (cap < w->len + n + 1)
			cap *= 2;
		if (cap > METRICS_OUT_MAX) {
			w->err = WEFT_ETOOBIG;
			return;
		}
		if ((p = realloc(w->data, cap)) == NULL) {
			w->err = WEFT_ENOMEM;
			return;
		}
		w->data = p;
		w->cap = cap;
	}
	memcpy(w->data + w->len, s, n);
	w->len += n;
	w->data[w->len] = '\0';
}

static void
puts_(struct metrics_writer *w, const char *s)
{
	put(w, s, strlen(s));
}

static void putf(struct metrics_writer *w, const char *fmt, ...)
	WEFT_PRINTF(2, 3);

static void
putf(struct metrics_writer *w, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		w->err = WEFT_EINVAL;
		return;
	}
	put(w, tmp, (size_t)n);
}

static bool
valid_name(const char *s, bool label)
{
	if (s == NULL || *s == '\0')
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             c == '_' || (!label && c == ':');

		if (!alpha && !(p != s && c >= '0' && c <= '9'))
			return false;
	}
	return !(label && s[0] == '_' && s[1] == '_');
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

void
metrics_family(struct metrics_writer *w, const char *name,
               enum metrics_type type, const char *help)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};

	if (w->err)
		return;
	if (!valid_name(name, false) || strlen(name) >= sizeof(w->family) ||
	    (type == METRICS_COUNTER && !ends_with(name, "_total")) ||
	    w->n_seen == METRICS_MAX_FAMILIES) {
		w->err = WEFT_EINVAL;
		return;
	}
	for (size_t i = 0; i < w->n_seen; i++)
		if (strcmp(w->seen[i], name) == 0) {
			w->err = WEFT_EINVAL;
			return;
		}
	if ((w->seen[w->n_seen] = strdup(name)) == NULL) {
		w->err = WEFT_ENOMEM;
		return;
	}
	w->n_seen++;
	snprintf(w->family, sizeof(w->family), "%s", name);
	w->type = type;
	puts_(w, "# HELP ");
	puts_(w, name);
	puts_(w, " ");
	for (const char *p = help ? help : ""; *p; p++) {
		if (*p == '\\')
			puts_(w, "\\\\");
		else if (*p == '\n')
			puts_(w, "\\n");
		else
			put(w, p, 1);
	}
	putf(w, "\n# TYPE %s %s\n", name, types[type]);
}

static void
put_labels(struct metrics_writer *w, const struct metrics_label *l, size_t n,
           const char *le)
{
	if (n == 0 && le == NULL)
		return;
	if (n > METRICS_MAX_LABELS) {
		w->err = WEFT_EINVAL;
		return;
	}
	puts_(w, "{");
	for (size_t i = 0; i < n; i++) {
		if (!valid_name(l[i].name, true) || strcmp(l[i].name, "le") == 0) {
			w->err = WEFT_EINVAL;
			return;
		}
		if (i)
			puts_(w, ",");
		puts_(w, l[i].name);
		puts_(w, "=\"");
		for (const char *p = l[i].value ? l[i].value : ""; *p; p++) {
			if (*p == '\\')
				puts_(w, "\\\\");
			else if (*p == '"')
				puts_(w, "\\\"");
			else if (*p == '\n')
				puts_(w, "\\n");
			else
				put(w, p, 1);
		}
		puts_(w, "\"");
	}
	if (le) {
		puts_(w, n ? ",le=\"" : "le=\"");
		puts_(w, le);
		puts_(w, "\"");
	}
	puts_(w, "}");
}

static void
put_value(struct metrics_writer *w, double v)
{
	if (isnan(v))
		puts_(w, " NaN\n");
	else if (isinf(v))
		puts_(w, v > 0 ? " +Inf\n" : " -Inf\n");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		putf(w, " %.0f\n", v);
	else
		putf(w, " %.9g\n", v);
}

void
metrics_sample(struct metrics_writer *w, const struct metrics_label *l,
               size_t n_labels, double value)
{
	if (w->err)
		return;
	if (w->family[0] == '\0' || w->type == METRICS_HISTOGRAM ||
	    (w->type == METRICS_COUNTER && value < 0)) {
		w->err = WEFT_EINVAL;
		return;
	}
	puts_(w, w->family);
	put_labels(w, l, n_labels, NULL);
	put_value(w, value);
}

int
metrics_histogram_init(struct metrics_histogram *h, const double *bounds,
                       size_t n_bounds)
{
	memset(h, 0, sizeof(*h));
	if (n_bounds > METRICS_MAX_BUCKETS)
		return WEFT_EINVAL;
	for (size_t i = 1; i < n_bounds; i++)
		if (!(bounds[i] > bounds[i - 1]))
			return WEFT_EINVAL;
	h->bounds = bounds;
	h->n_bounds = n_bounds;
	return 0;
}

void
metrics_histogram_observe(struct metrics_histogram *h, double v)
{
	size_t i = 0;

	while (i < h->n_bounds && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

void
metrics_histogram_write(struct metrics_writer *w,
                        const struct metrics_label *l, size_t n_labels,
                        const struct metrics_histogram *h)
{
	uint64_t cum = 0;
	char le[48];

	if (w->err)
		return;
	if (w->family[0] == '\0' || w->type != METRICS_HISTOGRAM) {
		w->err = WEFT_EINVAL;
		return;
	}
	for (size_t i = 0; i <= h->n_bounds; i++) {
		cum += h->counts[i];
		if (i < h->n_bounds)
			snprintf(le, sizeof(le), "%.9g", h->bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		puts_(w, w->family);
		puts_(w, "_bucket");
		put_labels(w, l, n_labels, le);
		put_value(w, (double)cum);
	}
	puts_(w, w->family);
	puts_(w, "_sum");
	put_labels(w, l, n_labels, NULL);
	put_value(w, h->sum);
	puts_(w, w->family);
	puts_(w, "_count");
	put_labels(w, l, n_labels, NULL);
	put_value(w, (double)h->count);
}

void
metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof(*m));
}

int
metrics_register(struct metrics *m, const char *name, metrics_collect_fn *fn,
                 void *ctx)
{
	if (m->n == METRICS_MAX_COLLECTORS)
		return WEFT_ETOOBIG;
	m->c[m->n].fn = fn;
	m->c[m->n].ctx = ctx;
	m->c[m->n].name = name;
	m->n++;
	return 0;
}

void
metrics_unregister(struct metrics *m, void *ctx)
{
	size_t j = 0;

	for (size_t i = 0; i < m->n; i++)
		if (m->c[i].ctx != ctx)
			m->c[j++] = m->c[i];
	m->n = j;
}

int
metrics_render(struct metrics *m, struct metrics_writer *w)
{
	int first = 0;

	m->scrapes++;
	for (size_t i = 0; i < m->n; i++) {
		size_t before = w->len;

		w->family[0] = '\0';
		m->c[i].fn(m->c[i].ctx, w);
		if (w->err) {
			/* One broken collector does not hide the others: its
			 * part is cut, the rest still goes out. */
			w->len = before;
			if (w->data)
				w->data[before] = '\0';
			m->scrape_errors++;
			m->last_error = m->c[i].name;
			if (first == 0)
				first = w->err;
			w->err = 0;
		}
	}
	w->family[0] = '\0';
	return first;
}
