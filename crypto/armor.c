#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/armor.h"

#define LINE 64

static size_t
fmt_marker(char *out, size_t cap, const char *what, const char *label)
{
	int n = snprintf(out, cap, "-----%s WEFT %s-----", what, label);

	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

int
armor_encode(const char *label, const uint8_t *data, size_t len, char **out,
             size_t *out_len)
{
	char begin[96], end[96];
	size_t nb = fmt_marker(begin, sizeof(begin), "BEGIN", label);
	size_t ne = fmt_marker(end, sizeof(end), "END", label);
	size_t b64len, cap, pos = 0;
	char *b64, *text;

	if (nb == 0 || ne == 0 || len > ARMOR_MAX_DECODED)
		return WEFT_EINVAL;
	b64len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	b64 = malloc(b64len);
	if (b64 == NULL)
		return WEFT_ENOMEM;
	sodium_bin2base64(b64, b64len, data, len, sodium_base64_VARIANT_ORIGINAL);
	b64len = strlen(b64);
	cap = nb + 1 + b64len + b64len / LINE + 1 + ne + 2;
	text = malloc(cap);
	if (text == NULL) {
		sodium_memzero(b64, b64len);
		free(b64);
		return WEFT_ENOMEM;
	}
	memcpy(text, begin, nb);
	pos = nb;
	text[pos++] = '\n';
	for (size_t i = 0; i < b64len; i += LINE) {
		size_t n = b64len - i < LINE ? b64len - i : LINE;

		memcpy(text + pos, b64 + i, n);
		pos += n;
		text[pos++] = '\n';
	}
	memcpy(text + pos, end, ne);
	pos += ne;
	text[pos++] = '\n';
	text[pos] = '\0';
	/* The base64 of a private key is as secret as the key. */
	sodium_memzero(b64, b64len);
	free(b64);
	*out = text;
	*out_len = pos;
	return 0;
}

static const char *
find(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	if (n > len)
		return NULL;
	for (size_t i = 0; i + n <= len; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
			return hay + i;
	return NULL;
}

int
armor_decode_next(const char *text, size_t len, size_t *pos,
                  const char *label, uint8_t **out, size_t *out_len)
{
	char begin[96], end[96];
	size_t nb = fmt_marker(begin, sizeof(begin), "BEGIN", label);
	size_t ne = fmt_marker(end, sizeof(end), "END", label);
	const char *b, *e, *body;
	size_t body_len, bin_len, cap;
	uint8_t *bin;

	if (nb == 0 || ne == 0 || *pos > len)
		return WEFT_EINVAL;
	b = find(text + *pos, len - *pos, begin);
	if (b == NULL)
		return WEFT_ENOENT;
	body = b + nb;
	e = find(body, (size_t)(text + len - body), end);
	if (e == NULL)
		return WEFT_EMALFORMED;
	body_len = (size_t)(e - body);
	cap = body_len / 4 * 3 + 3;
	if (cap > ARMOR_MAX_DECODED + 3)
		return WEFT_ETOOBIG;
	bin = malloc(cap ? cap : 1);
	if (bin == NULL)
		return WEFT_ENOMEM;
	/* libsodium's decoder is constant-time, which matters for keys. */
	if (sodium_base642bin(bin, cap, body, body_len, " \t\r\n", &bin_len, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    bin_len == 0) {
		sodium_memzero(bin, cap);
		free(bin);
		return WEFT_EMALFORMED;
	}
	*out = bin;
	*out_len = bin_len;
	*pos = (size_t)(e - text) + ne;
	return 0;
}
