/*
 * Outlier detection: endpoints that keep failing are taken out for a
 * while, judged from real traffic rather than health checks.
 *
 * consecutive_errors answers in a row that were 5xx (or, with
 * gateway_only, 502/503/504, resets and connect failures) eject the
 * endpoint for base_ms times the number of times it was ejected, at most
 * max_ms.  Never more than max_percent of a service's endpoints are out
 * at once (one always may be, as long as none is), so a service-wide
 * outage cannot eject everything.  An endpoint returns at the end of its
 * time; one that stayed in for max_ms since its last ejection starts
 * again from base_ms.
 *
 * Endpoints are keyed by (service, key id, port), as in proxy/balance.h;
 * time is an input and only moves forward.
 */
#ifndef WEFT_PROXY_OUTLIER_H
#define WEFT_PROXY_OUTLIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/key.h"

#define OUTLIER_CONSECUTIVE 5
#define OUTLIER_BASE_MS 30000
#define OUTLIER_MAX_MS 300000
#define OUTLIER_MAX_PERCENT 10
#define OUTLIER_SERVICE_MAX 63
#define OUTLIER_MAX_ENTRIES 65536

struct outlier_config {
	unsigned consecutive_errors; /* 0: OUTLIER_CONSECUTIVE */
	int64_t base_ms;             /* 0: OUTLIER_BASE_MS */
	int64_t max_ms;              /* 0: OUTLIER_MAX_MS */
	unsigned max_percent;        /* 0: OUTLIER_MAX_PERCENT; at most 100 */
	bool gateway_only;           /* count only gateway errors */
};

struct outlier_key {
	const char *service;
	uint8_t key_id[KEY_ID_LEN];
	uint16_t port;
};

/* How one request to the endpoint ended. */
enum outlier_result {
	OUTLIER_OK = 0,          /* any answer that is not an error below */
	OUTLIER_5XX,             /* 500, 501, 505... */
	OUTLIER_GATEWAY,         /* 502, 503, 504 */
	OUTLIER_RESET,           /* reset or connect failure */
};

struct outlier;

int outlier_new(const struct outlier_config *cfg, struct outlier **out);
void outlier_free(struct outlier *o);

/*
 * Records a result from k at now_ms; n_endpoints is how many endpoints
 * the service has now (for the share).  *ejected (when not NULL) says
 * whether this result ejected k.  WEFT_ENOMEM, or WEFT_ETOOBIG past
 * OUTLIER_MAX_ENTRIES, or WEFT_EINVAL for a service name too long.
 */
int outlier_report(struct outlier *o, const struct outlier_key *k,
                   enum outlier_result r, size_t n_endpoints, int64_t now_ms,
                   bool *ejected);
/*
 * Takes k out for for_ms (at most max_ms) because someone else saw it
 * fail: another data-plane worker of the same agent, which shares what
 * it ejects so that every worker need not pay consecutive_errors
 * failures of its own.  The max_percent share holds as for a report; an
 * endpoint already out stays as it is.  *ejected says whether it went.
 */
int outlier_eject(struct outlier *o, const struct outlier_key *k,
                  size_t n_endpoints, int64_t now_ms, int64_t for_ms,
                  bool *ejected);
/* Whether k is out at now_ms. */
bool outlier_is_ejected(const struct outlier *o, const struct outlier_key *k,
                        int64_t now_ms);
/* Until when k is out (0 when it is not at now_ms). */
int64_t outlier_ejected_until(const struct outlier *o,
                              const struct outlier_key *k, int64_t now_ms);
/* How many of service's endpoints are out at now_ms. */
size_t outlier_ejected_count(const struct outlier *o, const char *service,
                             int64_t now_ms);
/* Forgets endpoints that are in, have no errors in a row and were last
 * ejected more than max_ms ago. */
void outlier_gc(struct outlier *o, int64_t now_ms);
size_t outlier_entries(const struct outlier *o);

#endif
