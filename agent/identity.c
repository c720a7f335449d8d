#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/identity.h"
#include "common/err.h"
#include "common/file.h"
#include "crypto/armor.h"

#define IDENTITY_FILE_MAX (256u * 1024)

static int
load_key(const char *path, struct key_pair *k, char *err, size_t cap)
{
	uint8_t *text;
	size_t len;
	int rc = file_read_secret(path, IDENTITY_FILE_MAX, &text, &len);

	if (rc == WEFT_EPERM) {
		snprintf(err, cap, "%s: key file is readable or writable by group "
		         "or others, or is not a regular file; chmod 600 it", path);
		return rc;
	}
	if (rc) {
		snprintf(err, cap, "%s: cannot read key: %s", path,
		         weft_strerror(rc));
		return rc;
	}
	rc = key_decode_text((const char *)text, len, k);
	free(text);
	if (rc == 0 && k->kind != KEY_KIND_NODE)
		rc = WEFT_EPOLICY;
	if (rc)
		snprintf(err, cap, "%s: not a weft node key: %s", path,
		         rc == WEFT_EPOLICY ? "it is a CA key" : weft_strerror(rc));
	return rc;
}

static int
load_cert(const char *path, struct cert *c, char *err, size_t cap)
{
	uint8_t *text, *bin;
	size_t len, bin_len, pos = 0;
	const char *why = "";
	int rc = file_read(path, IDENTITY_FILE_MAX, &text, &len);

	if (rc) {
		snprintf(err, cap, "%s: cannot read certificate: %s", path,
		         weft_strerror(rc));
		return rc;
	}
	rc = armor_decode_next((const char *)text, len, &pos, CERT_ARMOR_LABEL,
	                       &bin, &bin_len);
	free(text);
	if (rc) {
		snprintf(err, cap, "%s: no WEFT CERTIFICATE block: %s", path,
		         weft_strerror(rc));
		return rc;
	}
	rc = cert_decode_ex(bin, bin_len, c, &why);
	free(bin);
	if (rc)
		snprintf(err, cap, "%s: bad certificate: %s", path, why);
	return rc;
}

static int
load_bundle(const char *path, struct bundle *b, char *err, size_t cap)
{
	uint8_t *text;
	size_t len, bad = 0;
	int rc = file_read(path, IDENTITY_FILE_MAX, &text, &len);

	if (rc) {
		snprintf(err, cap, "%s: cannot read CA bundle: %s", path,
		         weft_strerror(rc));
		return rc;
	}
	rc = bundle_parse(b, (const char *)text, len, &bad);
	free(text);
	if (rc == WEFT_ENOENT)
		snprintf(err, cap, "%s: no CA certificate in the bundle", path);
	else if (rc)
		snprintf(err, cap, "%s: certificate %zu of the bundle: %s", path,
		         bad + 1, rc == WEFT_EPOLICY ? "not a CA certificate"
		                                     : weft_strerror(rc));
	return rc;
}

int
agent_identity_load(const struct agent_config *c, int64_t now,
                    struct agent_identity *out, char *err, size_t cap)
{
	struct cert_verdict v;
	char why[160];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = load_key(c->key_file, &out->key, err, cap);
	if (rc == 0)
		rc = load_cert(c->cert_file, &out->cert, err, cap);
	if (rc == 0)
		rc = load_bundle(c->ca_file, &out->bundle, err, cap);
	if (rc)
		goto fail;
	rc = cert_verify(&out->cert, &out->bundle, now, c->cert_skew_s, NULL, &v);
	if (rc) {
		cert_verdict_format(&v, why, sizeof(why));
		snprintf(err, cap, "%s: certificate not valid for %s: %s",
		         c->cert_file, c->ca_file, why);
		goto fail;
	}
	if (memcmp(out->cert.sign_pk, out->key.sign_pk, KEY_PK_LEN) != 0 ||
	    memcmp(out->cert.dh_pk, out->key.dh_pk, KEY_PK_LEN) != 0) {
		snprintf(err, cap, "%s: certificate does not match the key in %s",
		         c->cert_file, c->key_file);
		rc = WEFT_EAUTH;
		goto fail;
	}
	if (strcmp(out->cert.name, c->node_name) != 0) {
		snprintf(err, cap, "%s: certificate is for node \"%s\", not \"%s\"",
		         c->cert_file, out->cert.name, c->node_name);
		rc = WEFT_EPOLICY;
		goto fail;
	}
	for (size_t i = 0; i < c->n_services; i++) {
		if (!cert_allows_service(&out->cert, c->services[i].name)) {
			snprintf(err, cap, "%s: certificate does not allow service "
			         "\"%s\"", c->cert_file, c->services[i].name);
			rc = WEFT_EPOLICY;
			goto fail;
		}
	}
	return 0;
fail:
	agent_identity_free(out);
	return rc;
}

void
agent_identity_free(struct agent_identity *id)
{
	key_wipe(&id->key);
	cert_free(&id->cert);
	bundle_free(&id->bundle);
}

int
agent_identity_copy(const struct agent_identity *src,
                    struct agent_identity *dst)
{
	int rc;

	memset(dst, 0, sizeof(*dst));
	dst->key = src->key;
	rc = cert_decode(src->cert.encoded, src->cert.encoded_len, &dst->cert);
	for (size_t i = 0; rc == 0 && i < src->bundle.n; i++) {
		struct cert ca;

		rc = cert_decode(src->bundle.cas[i].encoded,
		                 src->bundle.cas[i].encoded_len, &ca);
		if (rc == 0 && (rc = bundle_add(&dst->bundle, &ca)) != 0)
			cert_free(&ca);
	}
	if (rc)
		agent_identity_free(dst);
	return rc;
}
