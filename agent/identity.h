/*
 * The node's identity as weftd runs with it: key, certificate and trust
 * bundle, loaded from files and checked before anything starts.
 */
#ifndef WEFT_AGENT_IDENTITY_H
#define WEFT_AGENT_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "agent/config.h"
#include "crypto/bundle.h"
#include "crypto/cert.h"
#include "crypto/key.h"

struct agent_identity {
	struct key_pair key;
	struct cert cert;  /* owns its encoded bytes: cert.encoded */
	struct bundle bundle;
};

/*
 * Loads and checks: the key file is private, the certificate verifies
 * against the bundle at now (Unix seconds), is for this node name, matches
 * the key, and allows every configured service.  On failure err says
 * which file and why; *out holds nothing to free.
 */
int agent_identity_load(const struct agent_config *c, int64_t now,
                        struct agent_identity *out, char *err, size_t cap);
void agent_identity_free(struct agent_identity *id);
/*
 * A deep copy (the key, and the certificate and bundle decoded again from
 * their bytes) for a data-plane worker on another thread, which must not
 * share storage that a reload frees.  *dst holds nothing on failure.
 */
int agent_identity_copy(const struct agent_identity *src,
                        struct agent_identity *dst);

#endif
