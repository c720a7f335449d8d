/*
 * Small string copies for hot paths, where snprintf("%s") costs a format
 * parse and a stdio stream set-up per call (a tenth of an HTTP request's
 * instructions once did).  Same result as snprintf: at most cap - 1 bytes
 * and a terminating NUL whenever cap > 0.
 */
#ifndef WEFT_COMMON_STR_H
#define WEFT_COMMON_STR_H

#include <stddef.h>
#include <string.h>

/* Appends n bytes of src at *used in dst (cap bytes), truncating. */
static inline void
weft_str_putn(char *dst, size_t cap, size_t *used, const char *src, size_t n)
{
	if (cap == 0)
		return;
	if (*used >= cap - 1) {
		dst[cap - 1] = '\0';
		return;
	}
	if (n > cap - 1 - *used)
		n = cap - 1 - *used;
	memcpy(dst + *used, src, n);
	*used += n;
	dst[*used] = '\0';
}

static inline void
weft_str_put(char *dst, size_t cap, size_t *used, const char *src)
{
	weft_str_putn(dst, cap, used, src, strlen(src));
}

/* Appends the decimal form of v. */
static inline void
weft_str_putu(char *dst, size_t cap, size_t *used, unsigned long long v)
{
	char d[24];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	weft_str_putn(dst, cap, used, d + i, sizeof(d) - i);
}

/* dst = src, as snprintf(dst, cap, "%s", src). */
static inline void
weft_str_copy(char *dst, size_t cap, const char *src)
{
	size_t used = 0;

	if (cap > 0)
		dst[0] = '\0';
	weft_str_put(dst, cap, &used, src);
}

#endif
