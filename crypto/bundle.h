/*
 * A trust bundle: the CA certificates an agent trusts (more than one
 * during a CA rotation), read from one armoured file.
 */
#ifndef WEFT_CRYPTO_BUNDLE_H
#define WEFT_CRYPTO_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/cert.h"

#define BUNDLE_MAX_CAS 16

struct bundle {
	struct cert cas[BUNDLE_MAX_CAS];
	size_t n;
};

/*
 * Parses every "WEFT CERTIFICATE" block of text.  Each must be a CA
 * certificate with a valid self-signature (its time window is checked at
 * verification, so an expired CA is reported as such).  An empty bundle,
 * a node certificate, a duplicate CA or a bad block: an error, with the
 * index of the offending block in *bad_index when that is not NULL.
 */
int bundle_parse(struct bundle *b, const char *text, size_t len,
                 size_t *bad_index);
/* Adds one decoded CA certificate; the bundle takes over its storage. */
int bundle_add(struct bundle *b, struct cert *ca);
const struct cert *bundle_find(const struct bundle *b,
                               const uint8_t id[KEY_ID_LEN]);
void bundle_free(struct bundle *b);

#endif
