/*
 * L7 restrictions on an intention: an allow intention may further limit
 * which paths and methods the source may use.  This is a second check,
 * made per request once proxy/authz.h allowed the stream; it never turns
 * a deny into an allow.
 */
#ifndef WEFT_PROXY_AUTHZ_L7_H
#define WEFT_PROXY_AUTHZ_L7_H

#include <stdbool.h>
#include <stddef.h>

#define AUTHZ_L7_MAX_RULES 64
#define AUTHZ_L7_MAX_METHODS 16

/* One permission: a request is allowed when its path starts with
 * path_prefix (NULL: any) and its method is listed (none: any). */
struct authz_l7_rule {
	const char *path_prefix;
	const char *const *methods;
	size_t n_methods;
};

/* The L7 part of an intention; no rules: no restriction. */
struct authz_l7 {
	const char *intention; /* its name, for reasons */
	const struct authz_l7_rule *rules;
	size_t n_rules;
};

/*
 * Whether method and path (query ignored) pass l7; reason (when not
 * NULL) gets a sentence either way.  A path with "/../", "/./", "//" or
 * a percent-encoded slash or dot is refused outright when any rule has a
 * prefix, so that a prefix cannot be walked around.
 */
bool authz_l7_allows(const struct authz_l7 *l7, const char *method,
                     const char *path, char *reason, size_t reason_len);

#endif
