#include "proxy/authz_l7.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static size_t
path_len(const char *path)
{
	const char *q = strchr(path, '?');

	return q != NULL ? (size_t)(q - path) : strlen(path);
}

/* Paths a prefix check could be fooled by: dot segments, empty segments
 * and encoded '/', '.' or '%' that the app may decode after us. */
static bool
ambiguous(const char *path, size_t n)
{
	if (n == 0 || path[0] != '/')
		return true;
	for (size_t i = 0; i < n; i++) {
		if (path[i] == '%') {
			if (i + 2 >= n)
				return true;
			if (strncasecmp(path + i, "%2f", 3) == 0 ||
			    strncasecmp(path + i, "%2e", 3) == 0 ||
			    strncasecmp(path + i, "%5c", 3) == 0 ||
			    strncasecmp(path + i, "%25", 3) == 0)
				return true;
		}
		if (path[i] == '\\')
			return true;
		if (path[i] != '/')
			continue;
		if (i + 1 < n && path[i + 1] == '/')
			return true;
		if (i + 1 < n && path[i + 1] == '.' &&
		    (i + 2 == n || path[i + 2] == '/'))
			return true;
		if (i + 2 < n && path[i + 1] == '.' && path[i + 2] == '.' &&
		    (i + 3 == n || path[i + 3] == '/'))
			return true;
	}
	return false;
}

static bool
rule_allows(const struct authz_l7_rule *r, const char *method,
            const char *path, size_t n)
{
	if (r->path_prefix != NULL) {
		size_t pl = strlen(r->path_prefix);

		if (n < pl || memcmp(path, r->path_prefix, pl) != 0)
			return false;
	}
	if (r->n_methods == 0)
		return true;
	for (size_t i = 0; i < r->n_methods; i++)
		if (strcmp(r->methods[i], method) == 0)
			return true;
	return false;
}

bool
authz_l7_allows(const struct authz_l7 *l7, const char *method,
                const char *path, char *reason, size_t reason_len)
{
	const char *name = l7 != NULL && l7->intention != NULL ?
	                   l7->intention : "?";
	bool prefixes = false;
	size_t n;

	if (reason != NULL && reason_len > 0)
		reason[0] = '\0';
	if (l7 == NULL || l7->n_rules == 0) {
		if (reason != NULL)
			snprintf(reason, reason_len, "no L7 restriction");
		return true;
	}
	if (method == NULL || path == NULL) {
		if (reason != NULL)
			snprintf(reason, reason_len,
			         "denied by intention %s: no method or path",
			         name);
		return false;
	}
	n = path_len(path);
	for (size_t i = 0; i < l7->n_rules && i < AUTHZ_L7_MAX_RULES; i++)
		prefixes |= l7->rules[i].path_prefix != NULL;
	if (prefixes && ambiguous(path, n)) {
		if (reason != NULL)
			snprintf(reason, reason_len,
			         "denied by intention %s: ambiguous path", name);
		return false;
	}
	for (size_t i = 0; i < l7->n_rules && i < AUTHZ_L7_MAX_RULES; i++) {
		if (rule_allows(&l7->rules[i], method, path, n)) {
			if (reason != NULL)
				snprintf(reason, reason_len,
				         "allowed by intention %s rule %zu",
				         name, i);
			return true;
		}
	}
	if (reason != NULL)
		snprintf(reason, reason_len,
		         "denied by intention %s: %s %.*s matches no rule",
		         name, method, (int)(n > 64 ? 64 : n), path);
	return false;
}
