/*
 * mkobject KEY CERT KIND NAME VALUE_FILE: prints a signed cluster object
 * (kind "route" or "intention") in its text armour, with VALUE_FILE's
 * bytes as they are.  The CLI refuses values the agents would skip; this
 * lets tests/integration/t_routes.sh hand an agent one anyway, to see
 * that a bad object from the cluster never takes the routing table down.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/file.h"
#include "crypto/armor.h"
#include "crypto/cert.h"
#include "crypto/key.h"
#include "gossip/gossip.h"

static _Noreturn void
die(const char *what)
{
	fprintf(stderr, "mkobject: %s\n", what);
	exit(1);
}

int
main(int argc, char **argv)
{
	uint8_t *key_text = NULL, *cert_text = NULL, *der = NULL, *value = NULL;
	uint8_t *msg = NULL;
	size_t key_len, cert_len, der_len, value_len, msg_len, pos = 0, out_len;
	struct key_pair key;
	struct cert cert;
	struct timespec ts;
	char *out;
	uint8_t kind;

	if (argc != 6)
		die("usage: mkobject KEY CERT route|intention NAME VALUE_FILE");
	kind = strcmp(argv[3], "route") == 0 ? GOSSIP_OBJ_ROUTE
	       : strcmp(argv[3], "intention") == 0 ? GOSSIP_OBJ_INTENTION
	                                           : 0;
	if (kind == 0)
		die("KIND is route or intention");
	if (file_read_secret(argv[1], 65536, &key_text, &key_len) != 0 ||
	    key_decode_text((const char *)key_text, key_len, &key) != 0)
		die("cannot read the key");
	if (file_read(argv[2], 65536, &cert_text, &cert_len) != 0 ||
	    armor_decode_next((const char *)cert_text, cert_len, &pos,
	                      "CERTIFICATE", &der, &der_len) != 0 ||
	    cert_decode(der, der_len, &cert) != 0)
		die("cannot read the certificate");
	if (file_read(argv[5], GOSSIP_OBJ_VALUE_MAX, &value, &value_len) != 0)
		die("cannot read the value");
	clock_gettime(CLOCK_REALTIME, &ts);
	if (gossip_object_make(&key, cert.encoded, cert.encoded_len, kind,
	                       argv[4], ((uint64_t)ts.tv_sec * 1000 +
	                       (uint64_t)ts.tv_nsec / 1000000) << 16, false,
	                       value, value_len, &msg, &msg_len) != 0)
		die("cannot sign");
	if (armor_encode(GOSSIP_OBJECT_ARMOR_LABEL, msg, msg_len, &out,
	                 &out_len) != 0)
		die("cannot armour");
	fwrite(out, 1, out_len, stdout);
	free(out);
	free(msg);
	free(value);
	free(der);
	free(cert_text);
	free(key_text);
	cert_free(&cert);
	key_wipe(&key);
	return 0;
}
