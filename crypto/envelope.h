/*
 * The signed envelope shared by certificates and revocations, and the
 * strict msgpack reading both need.  Gossip records, leave intents and
 * objects use the same envelope.
 *
 *   envelope = msgpack array [body: bin, sig: bin 64]
 *
 * Bodies are maps with small positive integer keys in strictly ascending
 * order; a reader walks them with envelope_field().
 */
#ifndef WEFT_CRYPTO_ENVELOPE_H
#define WEFT_CRYPTO_ENVELOPE_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/key.h"

/* Wraps body and signature; *out is allocated (free()). */
int envelope_wrap(const uint8_t *body, size_t body_len,
                  const uint8_t sig[static KEY_SIG_LEN], uint8_t **out,
                  size_t *out_len);

/* Points *body into p; copies the signature.  Trailing bytes, a wrong
 * shape or a signature of the wrong size: WEFT_EMALFORMED. */
int envelope_unwrap(const uint8_t *p, size_t len, const uint8_t **body,
                    size_t *body_len, uint8_t sig[static KEY_SIG_LEN],
                    const char **why);

/* Unpacks one whole map (and nothing after it) into *u, after the bounds
 * check of common/mpcheck.h. */
int envelope_unpack_map(const uint8_t *p, size_t len, msgpack_unpacked *u,
                        const char **why);

/* Reads an int64 from a msgpack integer. */
int envelope_int(const msgpack_object *o, int64_t *v);
/* Copies a bin of exactly n bytes. */
int envelope_bin(const msgpack_object *o, uint8_t *out, size_t n);
/* Copies a str of at most max bytes into a NUL-terminated out (max + 1
 * bytes), refusing embedded NULs. */
int envelope_str(const msgpack_object *o, char *out, size_t max);

/* msgpack-c packer writing into an sbuffer; the *_clear variant wipes. */
void envelope_sbuffer_wipe(msgpack_sbuffer *sb);

#endif
