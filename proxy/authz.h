/*
 * Authorization of inbound mesh streams.
 *
 * Decisions rest only on what the Noise handshake authenticated: the
 * peer's certificate (its services and groups, from session_peer()) and
 * this node's own certificate.  Nothing the caller writes in a request
 * counts, apart from which service it asks for.
 *
 * Order of checks:
 *  1. This node's certificate must list the destination service; if it
 *     does not, no intention can make this node serve it.
 *  2. The most specific intention that matches wins.  Destination first:
 *     an intention naming the service beats one for "*".  Then source:
 *     one naming one of the peer's services beats "group:NAME" for one of
 *     its groups, which beats "*".  Between equally specific matches that
 *     disagree (a peer with two services, or two groups), deny wins.
 *  3. No match: the table's default action.
 *
 * An allow intention with L7 rules (table_intention.http) allows HTTP
 * requests only, those its rules allow (authz_check_request): a byte
 * stream (authz_check) cannot be held to path and method rules, so
 * authz_check denies it.
 */
#ifndef WEFT_PROXY_AUTHZ_H
#define WEFT_PROXY_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>

#include "crypto/cert.h"
#include "crypto/session.h"
#include "proxy/table.h"

#define AUTHZ_REASON_MAX 256

struct authz_decision {
	bool allow;
	/* The intention that decided, NULL when the certificate check or the
	 * default did; points into the table. */
	const struct table_intention *by;
	/* One sentence: "denied by intention web->db (deny-web)". */
	char reason[AUTHZ_REASON_MAX];
};

/*
 * Decides whether peer may reach service on this node (self is this
 * node's certificate).  Always fills *d; returns 0, or WEFT_EINVAL for a
 * NULL argument or a service name that is not a DNS label (then *d says
 * deny and why).
 */
int authz_check(const struct table *t, const struct cert *self,
                const struct session_peer *peer, const char *service,
                struct authz_decision *d);

/*
 * authz_check, then for an allowing intention its L7 rules
 * (authz_l7_allows) on method and path (":path", query ignored).  An
 * allow by the default or by an intention without rules is not narrowed.
 * Always fills *d (reason names the intention and what the rules
 * refused); returns as authz_check, WEFT_EINVAL also for a NULL method or
 * path.
 */
int authz_check_request(const struct table *t, const struct cert *self,
                        const struct session_peer *peer, const char *service,
                        const char *method, const char *path,
                        struct authz_decision *d);

#endif
