#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"
#include "crypto/armor.h"
#include "tools/ca_dir.h"
#include "tools/cli.h"

static int
load_key(const char *path, struct key_pair *key)
{
	char *text;
	size_t len;
	int rc;

	rc = cli_read_file(path, CA_FILE_MAX, true, &text, &len);
	if (rc)
		return rc;
	rc = key_decode_text(text, len, key);
	key_text_free(text, len);
	if (rc)
		return cli_fail(path, "not a weft private key (%s)",
		                weft_strerror(rc));
	if (key->kind != KEY_KIND_CA) {
		key_wipe(key);
		return cli_fail(path, "a node key, not a CA key");
	}
	return 0;
}

int
cert_file_load(const char *path, struct cert *out)
{
	char *text;
	uint8_t *der;
	size_t len, der_len, pos = 0;
	int rc;

	rc = cli_read_file(path, CA_FILE_MAX, false, &text, &len);
	if (rc)
		return rc;
	rc = armor_decode_next(text, len, &pos, CERT_ARMOR_LABEL, &der,
	                       &der_len);
	free(text);
	if (rc == WEFT_ENOENT)
		return cli_fail(path, "no WEFT " CERT_ARMOR_LABEL " block");
	if (rc)
		return cli_fail(path, "broken armour (%s)", weft_strerror(rc));
	memset(out, 0, sizeof(*out));
	rc = cert_decode(der, der_len, out);
	free(der);
	if (rc)
		return cli_fail(path, "not a valid certificate (%s)",
		                weft_strerror(rc));
	return 0;
}

int
ca_dir_load(const char *dir, struct ca_dir *out)
{
	char key_path[CLI_PATH_MAX], cert_path[CLI_PATH_MAX];
	int rc;

	memset(out, 0, sizeof(*out));
	if (!cli_join_path(key_path, dir, CA_KEY_FILE) ||
	    !cli_join_path(cert_path, dir, CA_CERT_FILE))
		return cli_fail(dir, "path too long");
	rc = load_key(key_path, &out->key);
	if (rc)
		return rc;
	rc = cert_file_load(cert_path, &out->cert);
	if (rc) {
		key_wipe(&out->key);
		return rc;
	}
	if (!out->cert.is_ca) {
		rc = cli_fail(cert_path, "a node certificate, not a CA "
		              "certificate");
	} else if (memcmp(out->cert.sign_pk, out->key.sign_pk,
	                  KEY_PK_LEN) != 0) {
		rc = cli_fail(dir, "%s and %s do not belong together (the "
		              "certificate is for another key)", CA_CERT_FILE,
		              CA_KEY_FILE);
	}
	if (rc)
		ca_dir_free(out);
	return rc;
}

void
ca_dir_free(struct ca_dir *ca)
{
	key_wipe(&ca->key);
	cert_free(&ca->cert);
}

/*
 * Writes both files, the key first: a crash between the two leaves a key
 * without a certificate, which a rerun refuses to overwrite rather than
 * silently pairing a fresh certificate with a lost key.
 */
int
identity_write(const char *key_path, const char *cert_path, const struct key_pair *k,
         const uint8_t *cert, size_t cert_len)
{
	char *key_text, *cert_text;
	size_t key_len, cert_text_len;
	int rc;

	rc = key_encode_text(k, &key_text, &key_len);
	if (rc)
		return cli_fail(key_path, "cannot encode the key (%s)",
		                weft_strerror(rc));
	rc = file_write_atomic(key_path, key_text, key_len, 0600, 1);
	key_text_free(key_text, key_len);
	if (rc == WEFT_EEXIST)
		return cli_fail(key_path, "already exists; refusing to "
		                "overwrite it");
	if (rc)
		return cli_fail(key_path, "cannot write it (%s)",
		                weft_strerror(rc));
	rc = armor_encode(CERT_ARMOR_LABEL, cert, cert_len, &cert_text,
	                  &cert_text_len);
	if (rc == 0) {
		rc = file_write_atomic(cert_path, cert_text, cert_text_len,
		                       0644, 1);
		free(cert_text);
	}
	if (rc) {
		/* The key alone is of no use and would block a retry. */
		unlink(key_path);
		if (rc == WEFT_EEXIST)
			return cli_fail(cert_path, "already exists; refusing "
			                "to overwrite it");
		return cli_fail(cert_path, "cannot write it (%s)",
		                weft_strerror(rc));
	}
	return 0;
}
