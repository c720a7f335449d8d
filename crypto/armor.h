/*
 * Text armour for keys, certificates and revocations:
 *
 *   -----BEGIN WEFT <LABEL>-----
 *   base64 (standard alphabet, padded), lines of 64
 *   -----END WEFT <LABEL>-----
 *
 * Text outside the blocks is ignored, so files may carry comments, and one
 * file may hold many blocks (a CA bundle).
 */
#ifndef WEFT_CRYPTO_ARMOR_H
#define WEFT_CRYPTO_ARMOR_H

#include <stddef.h>
#include <stdint.h>

#define ARMOR_MAX_DECODED (64 * 1024)

/* Returns a NUL-terminated text the caller frees with free(). */
int armor_encode(const char *label, const uint8_t *data, size_t len,
                 char **out, size_t *out_len);

/*
 * Decodes the next block with this label at or after *pos, and moves *pos
 * past it.  *out is allocated (free()); WEFT_ENOENT when there is no more
 * block, WEFT_EMALFORMED for a broken block (missing END, bad base64),
 * WEFT_ETOOBIG above ARMOR_MAX_DECODED.
 */
int armor_decode_next(const char *text, size_t len, size_t *pos,
                      const char *label, uint8_t **out, size_t *out_len);

#endif
