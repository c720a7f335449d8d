/*
 * tb-cert: issues a node certificate with an explicit validity window, for
 * what `weft cert issue` rightly does not offer: certificates that are
 * already expired, not yet valid, or shifted as a skewed clock would see
 * them (tools/testbed clock-skew, the mesh attack cases).
 *
 *   tb-cert --ca DIR --name NODE --not-before UNIX --not-after UNIX
 *           [--services a,b] [--groups a,b] --out DIR
 *
 * Writes DIR/NODE.key (0600) and DIR/NODE.crt and prints the key id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/cert.h"
#include "crypto/key.h"
#include "tools/ca_dir.h"
#include "tools/cli.h"

#define MAX_LIST 64

static size_t
split(char *s, const char **out, size_t max)
{
	size_t n = 0;

	for (char *t = strtok(s, ","); t != NULL && n < max;
	     t = strtok(NULL, ","))
		out[n++] = t;
	return n;
}

static int
usage(void)
{
	fprintf(stderr, "usage: tb-cert --ca DIR --name NODE --not-before UNIX "
	        "--not-after UNIX [--services L] [--groups L] --out DIR\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *ca = NULL, *name = NULL, *out = NULL;
	char *services = NULL, *groups = NULL;
	const char *svc[MAX_LIST], *grp[MAX_LIST];
	long long nb = 0, na = 0;
	int have_nb = 0, have_na = 0;
	struct cert_params p;
	struct ca_dir cad;
	struct key_pair k;
	uint8_t *cert;
	size_t cert_len;
	char kp[4096], cp[4096], hex[KEY_ID_HEX_LEN + 1];
	int rc;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--ca") == 0)
			ca = argv[i + 1];
		else if (strcmp(argv[i], "--name") == 0)
			name = argv[i + 1];
		else if (strcmp(argv[i], "--out") == 0)
			out = argv[i + 1];
		else if (strcmp(argv[i], "--services") == 0)
			services = argv[i + 1];
		else if (strcmp(argv[i], "--groups") == 0)
			groups = argv[i + 1];
		else if (strcmp(argv[i], "--not-before") == 0)
			have_nb = sscanf(argv[i + 1], "%lld", &nb) == 1;
		else if (strcmp(argv[i], "--not-after") == 0)
			have_na = sscanf(argv[i + 1], "%lld", &na) == 1;
		else
			return usage();
	}
	if (argc % 2 == 0 || !ca || !name || !out || !have_nb || !have_na)
		return usage();
	if (ca_dir_load(ca, &cad) != 0)
		return 1;
	memset(&p, 0, sizeof(p));
	p.name = name;
	p.not_before = nb;
	p.not_after = na;
	p.services = svc;
	p.n_services = services ? split(services, svc, MAX_LIST) : 0;
	p.groups = grp;
	p.n_groups = groups ? split(groups, grp, MAX_LIST) : 0;
	rc = key_generate(&k, KEY_KIND_NODE, &key_system_rng);
	if (rc == 0)
		rc = cert_issue(&p, &k, &cad.key, &cert, &cert_len);
	ca_dir_free(&cad);
	if (rc) {
		fprintf(stderr, "tb-cert: cannot issue: %s\n", weft_strerror(rc));
		return 1;
	}
	snprintf(kp, sizeof(kp), "%s/%s.key", out, name);
	snprintf(cp, sizeof(cp), "%s/%s.crt", out, name);
	rc = identity_write(kp, cp, &k, cert, cert_len);
	free(cert);
	key_id_hex(hex, k.id);
	key_wipe(&k);
	if (rc)
		return 1;
	printf("%s\n", hex);
	return 0;
}
