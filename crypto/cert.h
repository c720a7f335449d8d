/*
 * Certificates.  A CA certificate is self-signed; a node certificate is
 * signed by a CA and binds a node name, the services it may serve and its
 * groups to its Ed25519 and X25519 public keys for a validity window.
 *
 * Encoding (docs/PROTOCOL.md): a msgpack array [body: bin, sig: bin 64]
 * where body is a canonical msgpack map with integer keys in ascending
 * order, and sig is the issuer's Ed25519 signature of the body in domain
 * KEY_SIG_CERT.  The decoder accepts only the canonical form, so one
 * certificate has exactly one encoding.
 */
#ifndef WEFT_CRYPTO_CERT_H
#define WEFT_CRYPTO_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/key.h"

#define CERT_VERSION 1
#define CERT_NAME_MAX 63 /* a DNS label */
#define CERT_MAX_SERVICES 64
#define CERT_MAX_GROUPS 32
#define CERT_ENCODED_MAX 8192
#define CERT_ARMOR_LABEL "CERTIFICATE"

struct cert {
	bool is_ca;
	const char *name; /* points into strs */
	const char *services[CERT_MAX_SERVICES];
	size_t n_services;
	const char *groups[CERT_MAX_GROUPS];
	size_t n_groups;
	uint8_t sign_pk[KEY_PK_LEN];
	uint8_t dh_pk[KEY_PK_LEN]; /* zero in a CA certificate */
	int64_t not_before;        /* Unix seconds */
	int64_t not_after;
	uint8_t issuer[KEY_ID_LEN];
	uint8_t key_id[KEY_ID_LEN]; /* derived from sign_pk */
	uint8_t sig[KEY_SIG_LEN];

	uint8_t *encoded; /* the whole certificate as decoded; owned */
	size_t encoded_len;
	const uint8_t *body; /* the signed bytes, inside encoded */
	size_t body_len;
	char *strs; /* owned storage for name, services and groups */
};

/* What to put in a certificate. */
struct cert_params {
	bool is_ca;
	const char *name;
	const char *const *services;
	size_t n_services;
	const char *const *groups;
	size_t n_groups;
	int64_t not_before;
	int64_t not_after;
};

/*
 * Encodes and signs a certificate for subject (its public keys) with
 * issuer's key.  For a CA certificate, subject and issuer are the same key.
 * Invalid names, too many services, a window that ends before it starts:
 * WEFT_EINVAL.  *out is allocated (free()).
 */
int cert_issue(const struct cert_params *p, const struct key_pair *subject,
               const struct key_pair *issuer, uint8_t **out, size_t *out_len);

/* Decodes one certificate; does not verify it.  On success the caller
 * owns *out's storage and releases it with cert_free(). */
int cert_decode(const uint8_t *p, size_t len, struct cert *out);
/* As cert_decode, and on failure points *why (when not NULL) at a static
 * sentence naming what was wrong ("trailing bytes after the signature"). */
int cert_decode_ex(const uint8_t *p, size_t len, struct cert *out,
                   const char **why);
void cert_free(struct cert *c);

/* Whether s is a lowercase DNS label (1-63 of a-z, 0-9, '-', not at the
 * ends), the rule for node, service and group names. */
bool cert_name_valid(const char *s);

bool cert_has_group(const struct cert *c, const char *group);
bool cert_allows_service(const struct cert *c, const char *service);

/* Why a certificate was not accepted. */
enum cert_reason {
	CERT_VALID = 0,
	CERT_BAD_SIGNATURE,
	CERT_EXPIRED,
	CERT_NOT_YET_VALID,
	CERT_UNKNOWN_ISSUER,
	CERT_ISSUER_NOT_CA,
	CERT_ISSUER_EXPIRED,
	CERT_ISSUER_NOT_YET_VALID,
	CERT_NODE_IS_CA,
	CERT_CA_NOT_SELF_SIGNED,
	CERT_REVOKED,
	CERT_NOT_CA, /* a node certificate offered as a CA */
};

struct cert_verdict {
	enum cert_reason reason;
	int64_t seconds;              /* how far outside the window, if so */
	uint8_t key_id[KEY_ID_LEN];   /* the key the reason is about */
};

/* Answers whether a key id is revoked; gossip keeps the set. */
struct cert_revocations {
	bool (*is_revoked)(void *ctx, const uint8_t key_id[KEY_ID_LEN]);
	void *ctx;
};

struct bundle;

/*
 * Verifies a node certificate against a trust bundle at time now (Unix
 * seconds), allowing skew seconds on each side of validity windows: the
 * issuer is in the bundle, is a CA and inside its own window, the
 * signature verifies, the certificate is not a CA, is inside its window,
 * and is not revoked (revoked may be NULL).  Returns 0, or a negative
 * WEFT_E code with the reason in *v.
 */
int cert_verify(const struct cert *c, const struct bundle *b, int64_t now,
                int64_t skew, const struct cert_revocations *revoked,
                struct cert_verdict *v);

/* Verifies a self-signed CA certificate: flag, self-signature, window. */
int cert_verify_ca(const struct cert *c, int64_t now, int64_t skew,
                   struct cert_verdict *v);

/* A sentence for people: "expired 3 days ago", "signed by unknown CA
 * 8f3a...".  Returns the length snprintf would have written. */
int cert_verdict_format(const struct cert_verdict *v, char *out, size_t cap);

/* "3 days", "5 hours", "40 seconds": the largest whole unit. */
int cert_duration_format(int64_t seconds, char *out, size_t cap);

#endif
