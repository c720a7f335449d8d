#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/armor.h"
#include "crypto/bundle.h"

int
bundle_add(struct bundle *b, struct cert *ca)
{
	struct cert_verdict v;
	int rc;

	if (b->n == BUNDLE_MAX_CAS)
		return WEFT_ETOOBIG;
	if (bundle_find(b, ca->key_id) != NULL)
		return WEFT_EEXIST;
	/* The window is checked when a certificate is verified, so that an
	 * expired CA is reported as such rather than as unknown. */
	rc = cert_verify_ca(ca, 0, 0, &v);
	if (rc && rc != WEFT_EEXPIRED && rc != WEFT_ENOTYET)
		return rc;
	b->cas[b->n++] = *ca;
	memset(ca, 0, sizeof(*ca));
	return 0;
}

int
bundle_parse(struct bundle *b, const char *text, size_t len,
             size_t *bad_index)
{
	size_t pos = 0, index = 0;
	int rc = 0;

	memset(b, 0, sizeof(*b));
	for (;; index++) {
		struct cert c;
		uint8_t *bin;
		size_t bin_len;

		rc = armor_decode_next(text, len, &pos, CERT_ARMOR_LABEL, &bin,
		                       &bin_len);
		if (rc == WEFT_ENOENT) {
			rc = b->n ? 0 : WEFT_ENOENT;
			break;
		}
		if (rc)
			break;
		rc = cert_decode(bin, bin_len, &c);
		free(bin);
		if (rc)
			break;
		rc = bundle_add(b, &c);
		if (rc) {
			cert_free(&c);
			break;
		}
	}
	if (rc) {
		if (bad_index)
			*bad_index = index;
		bundle_free(b);
	}
	return rc;
}

const struct cert *
bundle_find(const struct bundle *b, const uint8_t id[KEY_ID_LEN])
{
	for (size_t i = 0; i < b->n; i++)
		if (memcmp(b->cas[i].key_id, id, KEY_ID_LEN) == 0)
			return &b->cas[i];
	return NULL;
}

void
bundle_free(struct bundle *b)
{
	for (size_t i = 0; i < b->n; i++)
		cert_free(&b->cas[i]);
	b->n = 0;
}
