/*
 * Signing cluster objects (intentions, routes) for `weft intentions` and
 * `weft routes`: the operator's key and certificate, a signed object
 * message armoured and posted to the local weftd (POST /v1/objects),
 * which verifies it and gossips it.
 */
#ifndef WEFT_TOOLS_OBJSIGN_H
#define WEFT_TOOLS_OBJSIGN_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "crypto/cert.h"
#include "crypto/key.h"
#include "tools/agent_cli.h"

#define OBJSIGN_NAME_RULE \
	"1-255 of a-z, 0-9, '-', '.' and '_', starting and ending with a " \
	"letter or digit"

struct objsign_signer {
	struct key_pair key;
	struct cert cert;
};

/* Object names: DNS-label-like, but as long as gossip allows, with dots
 * and underscores for names such as "web.to.db" or "deny_all". */
bool objsign_name_valid(const char *s);

/*
 * Loads and checks the signer: a private node key (kpath), its
 * certificate (cpath), the operator group in it, its validity now.
 * what ("intentions", "routes") is for messages.  Returns 0 or the exit
 * status, the failure printed; free with objsign_signer_free().
 */
int objsign_signer_load(const char *kpath, const char *cpath,
                        const char *what, struct objsign_signer *s);
void objsign_signer_free(struct objsign_signer *s);

/*
 * Signs one object of kind (GOSSIP_OBJ_*) named name with value (a
 * tombstone when NULL) at hlc, armours it and posts it.  Returns the exit
 * status; the failure is printed, the reply too with --json.
 */
int objsign_post(const struct agent_conn *c, const struct objsign_signer *s,
                 uint8_t kind, const char *name, const char *value,
                 uint64_t hlc);

/* How messages name the objects of a file: "a route object", "route",
 * "route objects". */
struct objsign_words {
	const char *one;
	const char *noun;
	const char *plural;
};

/*
 * Reads the JSON file an `apply` takes: one object or a list of them
 * (a single object becomes a list of one), not empty, at most max_items;
 * file_max bounds the file.  Returns 0 with *doc a list (the caller's
 * reference), or the exit status with the failure printed (*doc may then
 * hold a reference to drop).
 */
int objsign_load_list(const char *path, size_t file_max, size_t max_items,
                      const struct objsign_words *w, json_t **doc);

/* Wall-clock milliseconds in the HLC's upper bits: a later apply of the
 * same name wins everywhere, and the agent's clock moves past it. */
uint64_t objsign_hlc_now(void);

#endif
