/*
 * Writes seed inputs for the crypto fuzz targets into DIR/<target>/:
 * run by hand when a format changes (tests/fuzz/README.md).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "crypto/armor.h"
#include "crypto/cert.h"
#include "crypto/revoke.h"

static void
put(const char *dir, const char *name, const void *p, size_t n)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (file_write_atomic(path, p, n, 0644, 0) != 0) {
		fprintf(stderr, "mkcorpus: cannot write %s\n", path);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	const char *svcs[] = {"api", "web"}, *grps[] = {"operator", "prod"};
	struct key_pair ca, node;
	struct cert_params cp = {.is_ca = true, .name = "root",
	                         .not_before = 1700000000,
	                         .not_after = 2000000000};
	uint8_t *cac, *nc, *rv;
	size_t cal, nl, rl, tl, kl;
	char dir[512], *text, *ktext;

	if (argc != 2 || sodium_init() < 0) {
		fprintf(stderr, "usage: mkcorpus DIR\n");
		return 2;
	}
	if (key_generate(&ca, KEY_KIND_CA, &key_system_rng) ||
	    key_generate(&node, KEY_KIND_NODE, &key_system_rng) ||
	    cert_issue(&cp, &ca, &ca, &cac, &cal))
		return 1;
	cp = (struct cert_params){.name = "web-1", .services = svcs,
	                          .n_services = 2, .groups = grps, .n_groups = 2,
	                          .not_before = 1700000000,
	                          .not_after = 1900000000};
	if (cert_issue(&cp, &node, &ca, &nc, &nl) ||
	    revoke_create(node.id, 1800000000, 1900000000, "key leaked", &ca,
	                  &rv, &rl))
		return 1;
	snprintf(dir, sizeof(dir), "%s/cert", argv[1]);
	put(dir, "ca.bin", cac, cal);
	put(dir, "node.bin", nc, nl);
	if (armor_encode(CERT_ARMOR_LABEL, cac, cal, &text, &tl))
		return 1;
	put(dir, "bundle.txt", text, tl);
	free(text);
	snprintf(dir, sizeof(dir), "%s/keyfile", argv[1]);
	if (key_encode_text(&ca, &ktext, &kl))
		return 1;
	put(dir, "ca.key", ktext, kl);
	key_text_free(ktext, kl);
	if (key_encode_text(&node, &ktext, &kl))
		return 1;
	put(dir, "node.key", ktext, kl);
	key_text_free(ktext, kl);
	snprintf(dir, sizeof(dir), "%s/revoke", argv[1]);
	put(dir, "revoke.bin", rv, rl);
	free(cac);
	free(nc);
	free(rv);
	return 0;
}
