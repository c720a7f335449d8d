#include "tools/objsign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "crypto/armor.h"
#include "gossip/gossip.h"
#include "tools/ca_dir.h"
#include "tools/cli.h"

bool
objsign_name_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > GOSSIP_OBJ_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');

		if (!alnum && ch != '-' && ch != '.' && ch != '_')
			return false;
		if ((i == 0 || i == n - 1) && !alnum)
			return false;
	}
	return true;
}

/* The agent verifies the certificate against its CA bundle; what can be
 * told here is told here. */
int
objsign_signer_load(const char *kpath, const char *cpath, const char *what,
                    struct objsign_signer *s)
{
	char left[128];
	char *text;
	size_t len;
	int64_t now = (int64_t)time(NULL);
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = cli_read_file(kpath, CA_FILE_MAX, true, &text, &len)) != 0)
		return rc;
	rc = key_decode_text(text, len, &s->key);
	key_text_free(text, len);
	if (rc)
		return cli_fail(kpath, "not a weft private key (%s)",
		                weft_strerror(rc));
	if (s->key.kind != KEY_KIND_NODE) {
		rc = cli_fail(kpath, "a CA key; %s are signed with an "
		              "operator's node key and its certificate", what);
		goto fail_key;
	}
	if ((rc = cert_file_load(cpath, &s->cert)) != 0)
		goto fail_key;
	if (s->cert.is_ca)
		rc = cli_fail(cpath, "a CA certificate; give the operator's "
		              "node certificate");
	else if (memcmp(s->cert.sign_pk, s->key.sign_pk, KEY_PK_LEN) != 0)
		rc = cli_fail(cpath, "not the certificate of %s (it is for "
		              "another key)", kpath);
	else if (!cert_has_group(&s->cert, "operator"))
		rc = cli_fail(cpath, "%s's certificate does not list the "
		              "`operator` group; agents refuse %s it "
		              "signs (issue one with --groups operator)",
		              s->cert.name, what);
	else if (now < s->cert.not_before || now > s->cert.not_after) {
		cli_time_left(s->cert.not_before, s->cert.not_after, now, left,
		              sizeof(left));
		rc = cli_fail(cpath, "%s; agents refuse what it signs", left);
	}
	if (rc == 0)
		return 0;
	cert_free(&s->cert);
fail_key:
	key_wipe(&s->key);
	return rc;
}

void
objsign_signer_free(struct objsign_signer *s)
{
	key_wipe(&s->key);
	cert_free(&s->cert);
}

int
objsign_post(const struct agent_conn *c, const struct objsign_signer *s,
             uint8_t kind, const char *name, const char *value, uint64_t hlc)
{
	uint8_t *msg = NULL;
	size_t msg_len, text_len;
	char *text = NULL;
	json_t *body, *reply = NULL;
	int rc;

	rc = gossip_object_make(&s->key, s->cert.encoded, s->cert.encoded_len,
	                        kind, name, hlc, value == NULL,
	                        (const uint8_t *)value,
	                        value ? strlen(value) : 0, &msg, &msg_len);
	if (rc)
		return cli_fail(name, "cannot sign the object (%s)",
		                weft_strerror(rc));
	rc = armor_encode(GOSSIP_OBJECT_ARMOR_LABEL, msg, msg_len, &text,
	                  &text_len);
	free(msg);
	if (rc)
		return cli_fail(name, "cannot armour the object (%s)",
		                weft_strerror(rc));
	body = json_pack("{s:s}", "armored", text);
	free(text);
	if (body == NULL)
		return cli_fail(name, "out of memory");
	rc = agent_call(c, "POST", "/v1/objects", body, &reply);
	json_decref(body);
	if (rc == 0 && c->json)
		agent_print_json(reply);
	json_decref(reply);
	return rc;
}

uint64_t
objsign_hlc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000)
	       << 16;
}

int
objsign_load_list(const char *path, size_t file_max, size_t max_items,
                  const struct objsign_words *w, json_t **doc)
{
	json_error_t je;
	json_t *list;
	char *text;
	size_t len, n;
	int rc;

	*doc = NULL;
	if ((rc = cli_read_file(path, file_max, false, &text, &len)) != 0)
		return rc;
	*doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (*doc == NULL)
		return cli_fail(path, "line %d, column %d: %s", je.line,
		                je.column, je.text);
	if (json_is_object(*doc)) {
		list = json_array();
		if (list == NULL || json_array_append(list, *doc) != 0) {
			json_decref(list);
			return cli_fail(path, "out of memory");
		}
		json_decref(*doc);
		*doc = list;
	}
	if (!json_is_array(*doc))
		return cli_fail(path, "neither %s nor a list of them", w->one);
	n = json_array_size(*doc);
	if (n == 0)
		return cli_fail(path, "an empty list: no %s to apply", w->noun);
	if (n > max_items)
		return cli_fail(path, "%zu %s; at most %zu in one file", n,
		                w->plural, max_items);
	return 0;
}
