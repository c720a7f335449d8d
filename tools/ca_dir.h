/*
 * A CA directory as `weft ca init` writes it: ca.key (0600) and ca.crt.
 * Loading checks that the two belong together, so a command never signs
 * with a key whose certificate says something else.
 */
#ifndef WEFT_TOOLS_CA_DIR_H
#define WEFT_TOOLS_CA_DIR_H

#include "crypto/cert.h"
#include "crypto/key.h"

#define CA_KEY_FILE "ca.key"
#define CA_CERT_FILE "ca.crt"
#define CA_FILE_MAX (64 * 1024)

struct ca_dir {
	struct key_pair key;
	struct cert cert;
};

/* Prints the failure ("weft: DIR/ca.key: ...") and returns CLI_EXIT_FAIL;
 * on success release with ca_dir_free(), which wipes the key. */
int ca_dir_load(const char *dir, struct ca_dir *out);
void ca_dir_free(struct ca_dir *ca);

/*
 * Reads the first armoured certificate in a file and decodes it.  Prints
 * the failure and returns CLI_EXIT_FAIL; on success the caller releases
 * *out with cert_free().
 */
int cert_file_load(const char *path, struct cert *out);

/*
 * Writes a key (0600) and its armoured certificate, the key first, never
 * over existing files.  Prints the failure and returns CLI_EXIT_FAIL.
 */
int identity_write(const char *key_path, const char *cert_path,
                   const struct key_pair *k, const uint8_t *cert,
                   size_t cert_len);

#endif
