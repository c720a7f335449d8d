/*
 * Health checks of the local services, and maintenance mode.
 *
 * Each configured check runs on the agent's loop: http (GET, 2xx passes,
 * 429 warns, anything else fails), tcp (connect), grpc (the standard
 * grpc.health.v1.Health/Check over h2c), exec (argv without a shell: exit
 * 0 passes, 1 warns, others fail; killed at its timeout) and ttl (passes
 * while updates arrive within the TTL).  A check changes state after
 * success_before_passing / failures_before_critical consecutive results.
 *
 * A service's health is the worst of its checks (passing when it has
 * none).  In maintenance a service is published as critical with the tag
 * HEALTH_MAINT_TAG_PREFIX + reason, so that every proxy skips it while
 * the API shows "maintenance" rather than a failure.  Changes go into this
 * node's record (agent_publish_services: re-signed and gossiped), the log,
 * and the event stream.
 */
#ifndef WEFT_AGENT_HEALTH_H
#define WEFT_AGENT_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gossip/gossip.h"

#define HEALTH_OUTPUT_MAX 512
#define HEALTH_REASON_MAX 200
/* The service tag that marks maintenance; the reason follows it. */
#define HEALTH_MAINT_TAG_PREFIX "weft:maintenance="

enum health_status {
	HEALTH_UNKNOWN = 0, /* not run yet */
	HEALTH_PASSING = 1,
	HEALTH_WARNING = 2,
	HEALTH_CRITICAL = 3,
};

const char *health_status_name(enum health_status s);
/* "passing", "warning", "critical" (also "pass", "warn", "fail"). */
int health_status_parse(const char *s, enum health_status *out);

/*
 * The flap filter of one check, without I/O: results in, state out.
 * A passing result counts towards need_ok, a warning or critical one
 * towards need_bad; the state follows once the streak is long enough.
 */
struct health_filter {
	enum health_status state;
	unsigned ok_streak, bad_streak;
};

/* Returns true when the state changed. */
bool health_filter_apply(struct health_filter *f, enum health_status result,
                         unsigned need_ok, unsigned need_bad);

/*
 * Parses the status line and headers of an HTTP/1.x response in buf
 * (len bytes, maybe more to come) for the http check: *status is the
 * code once known.  0 when the status is known, WEFT_EAGAIN when more
 * bytes are needed, WEFT_EMALFORMED otherwise.
 */
int health_http_status(const char *buf, size_t len, int *status);
/* The state an HTTP status gives: 2xx passing, 429 warning, else
 * critical. */
enum health_status health_http_result(int status);

/*
 * The gRPC health request body for service (may be ""): a gRPC frame
 * around HealthCheckRequest.  Returns its length, or 0 when cap is too
 * small.
 */
size_t health_grpc_request(const char *service, uint8_t *out, size_t cap);
/*
 * The serving status in a gRPC frame holding HealthCheckResponse:
 * 0 with *serving set (1 SERVING, 2 NOT_SERVING, 0 UNKNOWN, 3
 * SERVICE_UNKNOWN), WEFT_EAGAIN for an incomplete frame, or
 * WEFT_EMALFORMED.
 */
int health_grpc_response(const uint8_t *p, size_t len, unsigned *serving);

struct agent;
struct health;

/* Builds the checks of a->cfg (they start with the loop).  0 or
 * WEFT_ENOMEM. */
int agent_health_start(struct agent *a);
/* After a reload: checks with the same service, id and kind keep their
 * state, others start fresh; publishes when a service's health changed. */
int agent_health_reload(struct agent *a);
/* Stops every check; memory goes back once their handles are closed. */
void agent_health_stop(struct agent *a);

/*
 * Sets svc's health from its checks and, in maintenance, adds the
 * maintenance tag (the tags then point into memory kept until the next
 * health change).  For a service the health module does not know yet:
 * unknown when it has checks, passing otherwise.
 */
void agent_health_decorate(struct agent *a, struct gossip_service *svc,
                           size_t n_checks);

/* A TTL check's update ("pass", "warn", "fail") with an optional note.
 * WEFT_ENOENT for no such check, WEFT_EINVAL when it is not a TTL one. */
int agent_health_ttl_update(struct agent *a, const char *id,
                            enum health_status s, const char *note);
/* Maintenance of one service, or of all (service NULL).  WEFT_ENOENT for
 * a service this node does not run. */
int agent_health_maint(struct agent *a, const char *service, bool enable,
                       const char *reason);

/* {"checks": [...], "maintenance": [...]} for GET /v1/checks. */
json_t *agent_health_json(struct agent *a);

/*
 * A member record arrived (or this node's changed): every endpoint whose
 * health differs from the last one seen is logged and streamed as a
 * {"type": "health"} event.  Records of members that left are forgotten.
 */
void agent_health_watch(struct agent *a, const struct gossip_record *rec,
                        bool gone);

/* The checks' metrics collector (ctx: the agent). */
struct metrics_writer;
void agent_health_metrics(void *ctx, struct metrics_writer *w);

/* The maintenance reason in a service's tags, or NULL. */
const char *health_maint_reason(const struct gossip_service *svc);

#endif
