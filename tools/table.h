/*
 * Aligned text tables for the agent commands: column widths come from the
 * data, columns are two spaces apart, the last one is not padded.  Cells
 * are copied with control characters replaced, since they come from the
 * agent and go to a terminal.
 */
#ifndef WEFT_TOOLS_TABLE_H
#define WEFT_TOOLS_TABLE_H

#include <stddef.h>
#include <stdio.h>

#define TABLE_MAX_COLS 12

struct table {
	size_t n_cols;
	const char *heads[TABLE_MAX_COLS]; /* not copied: string literals */
	char **cells; /* n_rows * n_cols, owned */
	size_t n_rows, cap_rows;
};

/* heads: n_cols names, NULL-terminated list.  WEFT_EINVAL past
 * TABLE_MAX_COLS. */
int table_init(struct table *t, const char *const *heads);
/* Adds a row of n_cols strings (NULL prints "-"); WEFT_ENOMEM. */
int table_add(struct table *t, const char *const *row);
void table_print(const struct table *t, FILE *f);
void table_free(struct table *t);

/* A copy of s with bytes below 0x20 and 0x7f replaced by '?'; NULL when
 * out of memory. */
char *table_clean(const char *s);

#endif
