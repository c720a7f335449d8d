/* Hex for identifiers people read (key ids, hashes).  Not for secrets:
 * secret keys go through the crypto part's constant-time codecs. */
#ifndef WEFT_COMMON_HEX_H
#define WEFT_COMMON_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2n lowercase digits and a NUL; out must hold 2n + 1 bytes. */
void hex_encode(char *out, const uint8_t *in, size_t n);
/* The value of one hex digit (either case), or -1. */
int hex_digit_value(char c);
/* Decodes exactly n bytes from a string of exactly 2n hex digits.
 * Returns 0, or WEFT_EMALFORMED for a wrong length or a non-hex digit. */
int hex_decode(uint8_t *out, size_t n, const char *in);

#endif
