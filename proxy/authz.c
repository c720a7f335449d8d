#include "proxy/authz.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/str.h"

/* Specificity of a source match; 0 means no match. */
enum src_rank {
	SRC_NONE = 0,
	SRC_ANY = 1,
	SRC_GROUP = 2,
	SRC_SERVICE = 3,
};

static bool
in_list(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

static enum src_rank
source_rank(const char *source, const struct session_peer *peer)
{
	if (strcmp(source, "*") == 0)
		return SRC_ANY;
	if (strncmp(source, "group:", 6) == 0)
		return in_list(peer->groups, peer->n_groups, source + 6) ?
		    SRC_GROUP : SRC_NONE;
	return in_list(peer->services, peer->n_services, source) ?
	    SRC_SERVICE : SRC_NONE;
}

/* "src->dst" or "src->dst (name)": how reasons name an intention. */
static void
intention_name(char *dst, size_t cap, const char *prefix,
               const struct table_intention *it)
{
	size_t used = 0;

	/* No printf: every request gets a reason, and a format costs more
	 * than the decision itself. */
	dst[0] = '\0';
	weft_str_put(dst, cap, &used, prefix);
	weft_str_put(dst, cap, &used, it->source);
	weft_str_put(dst, cap, &used, "->");
	weft_str_put(dst, cap, &used, it->destination);
	if (it->name[0] != '\0') {
		weft_str_put(dst, cap, &used, " (");
		weft_str_put(dst, cap, &used, it->name);
		weft_str_put(dst, cap, &used, ")");
	}
}

/* Higher is more specific; destination outranks source. */
static int
rank(const struct table_intention *it, const struct session_peer *peer,
     const char *service)
{
	int dst;
	enum src_rank src;

	if (strcmp(it->destination, service) == 0)
		dst = 2;
	else if (strcmp(it->destination, "*") == 0)
		dst = 1;
	else
		return 0;
	if ((src = source_rank(it->source, peer)) == SRC_NONE)
		return 0;
	return dst * 4 + (int)src;
}


/* The service-level decision, L7 rules aside. */
static int
decide(const struct table *t, const struct cert *self,
       const struct session_peer *peer, const char *service,
       struct authz_decision *d)
{
	const struct table_intention *its, *best = NULL;
	size_t n;
	int best_rank = 0;
	size_t used;
	const char *who;

	d->allow = false;
	d->by = NULL;
	d->reason[0] = '\0';
	if (t == NULL || self == NULL || peer == NULL || service == NULL) {
		snprintf(d->reason, sizeof(d->reason),
		    "denied: authorization had nothing to decide on");
		return WEFT_EINVAL;
	}
	if (!cert_name_valid(service)) {
		snprintf(d->reason, sizeof(d->reason),
		    "denied: the service asked for is not a valid name");
		return WEFT_EINVAL;
	}
	if (!cert_allows_service(self, service)) {
		snprintf(d->reason, sizeof(d->reason),
		    "denied: this node's certificate (%s) does not list service %s",
		    self->name, service);
		return 0;
	}
	table_intentions(t, &its, &n);
	for (size_t i = 0; i < n; i++) {
		int r = rank(&its[i], peer, service);

		if (r == 0 || r < best_rank)
			continue;
		if (r > best_rank || (its[i].action == TABLE_DENY &&
		    best->action == TABLE_ALLOW)) {
			best = &its[i];
			best_rank = r;
		}
	}
	who = peer->name != NULL ? peer->name : "?";
	if (best != NULL) {
		d->allow = best->action == TABLE_ALLOW;
		d->by = best;
		intention_name(d->reason, sizeof(d->reason), d->allow ?
		    "allowed by intention " : "denied by intention ", best);
		return 0;
	}
	d->allow = table_default_action(t) == TABLE_ALLOW;
	used = 0;
	weft_str_put(d->reason, sizeof(d->reason), &used,
	    d->allow ? "allowed" : "denied");
	weft_str_put(d->reason, sizeof(d->reason), &used,
	    " by default: no intention matches node ");
	weft_str_put(d->reason, sizeof(d->reason), &used, who);
	weft_str_put(d->reason, sizeof(d->reason), &used, " for service ");
	weft_str_put(d->reason, sizeof(d->reason), &used, service);
	return 0;
}

int
authz_check(const struct table *t, const struct cert *self,
            const struct session_peer *peer, const char *service,
            struct authz_decision *d)
{
	int rc = decide(t, self, peer, service, d);

	/* A byte stream cannot be held to path and method rules, so an
	 * allow that has them allows HTTP requests only. */
	if (rc == 0 && d->allow && d->by != NULL && d->by->n_http > 0) {
		d->allow = false;
		snprintf(d->reason, sizeof(d->reason), "denied: intention "
		    "%s->%s%s%s%s allows only HTTP requests its L7 rules allow",
		    d->by->source, d->by->destination,
		    d->by->name[0] != '\0' ? " (" : "", d->by->name,
		    d->by->name[0] != '\0' ? ")" : "");
	}
	return rc;
}

int
authz_check_request(const struct table *t, const struct cert *self,
                    const struct session_peer *peer, const char *service,
                    const char *method, const char *path,
                    struct authz_decision *d)
{
	struct authz_l7 l7;
	char who[AUTHZ_REASON_MAX / 2];
	int rc = decide(t, self, peer, service, d);

	if (rc != 0 || !d->allow)
		return rc;
	if (method == NULL || path == NULL) {
		d->allow = false;
		snprintf(d->reason, sizeof(d->reason),
		    "denied: the request has no method or path");
		return WEFT_EINVAL;
	}
	if (d->by == NULL || d->by->n_http == 0)
		return 0;
	intention_name(who, sizeof(who), "", d->by);
	l7.intention = who;
	l7.rules = d->by->http;
	l7.n_rules = d->by->n_http;
	/* Either way the reason names the intention and the rule or what
	 * no rule allowed. */
	d->allow = authz_l7_allows(&l7, method, path, d->reason,
	    sizeof(d->reason));
	return 0;
}
