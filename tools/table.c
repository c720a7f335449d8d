#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "tools/table.h"

int
table_init(struct table *t, const char *const *heads)
{
	memset(t, 0, sizeof(*t));
	while (heads[t->n_cols] != NULL) {
		if (t->n_cols == TABLE_MAX_COLS)
			return WEFT_EINVAL;
		t->heads[t->n_cols] = heads[t->n_cols];
		t->n_cols++;
	}
	return 0;
}

char *
table_clean(const char *s)
{
	char *c = strdup(s);
	size_t i;

	if (c == NULL)
		return NULL;
	for (i = 0; c[i] != '\0'; i++)
		if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
			c[i] = '?';
	return c;
}

int
table_add(struct table *t, const char *const *row)
{
	char **nc;
	size_t i, base, ncap;

	if (t->n_rows == t->cap_rows) {
		ncap = t->cap_rows ? t->cap_rows * 2 : 16;
		nc = realloc(t->cells, ncap * t->n_cols * sizeof(*nc));
		if (nc == NULL)
			return WEFT_ENOMEM;
		t->cells = nc;
		t->cap_rows = ncap;
	}
	base = t->n_rows * t->n_cols;
	for (i = 0; i < t->n_cols; i++) {
		t->cells[base + i] = table_clean(row[i] ? row[i] : "-");
		if (t->cells[base + i] == NULL) {
			while (i-- > 0)
				free(t->cells[base + i]);
			return WEFT_ENOMEM;
		}
	}
	t->n_rows++;
	return 0;
}

/* Characters on screen, counting a UTF-8 sequence once. */
static size_t
width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static void
print_row(FILE *f, const struct table *t, const char *const *row,
          const size_t *w)
{
	size_t i, pad;

	for (i = 0; i < t->n_cols; i++) {
		fputs(row[i], f);
		if (i + 1 == t->n_cols)
			break;
		for (pad = width(row[i]); pad < w[i] + 2; pad++)
			fputc(' ', f);
	}
	fputc('\n', f);
}

void
table_print(const struct table *t, FILE *f)
{
	size_t w[TABLE_MAX_COLS], r, i, n;

	for (i = 0; i < t->n_cols; i++) {
		w[i] = width(t->heads[i]);
		for (r = 0; r < t->n_rows; r++) {
			n = width(t->cells[r * t->n_cols + i]);
			if (n > w[i])
				w[i] = n;
		}
	}
	print_row(f, t, t->heads, w);
	for (r = 0; r < t->n_rows; r++)
		print_row(f, t, (const char *const *)&t->cells[r * t->n_cols],
		          w);
}

void
table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->n_rows = t->cap_rows = 0;
}
