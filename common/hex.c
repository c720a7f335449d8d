#include <string.h>

#include "common/err.h"
#include "common/hex.h"

void
hex_encode(char *out, const uint8_t *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int
hex_digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hex_decode(uint8_t *out, size_t n, const char *in)
{
	if (strlen(in) != 2 * n)
		return WEFT_EMALFORMED;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit_value(in[2 * i]);
		int lo = hex_digit_value(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return WEFT_EMALFORMED;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
