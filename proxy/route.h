/*
 * Routes: which target a request goes to, and how failures are retried.
 *
 * A route object (docs/PROTOCOL.md, "Route objects") belongs to one
 * virtual service and holds ordered rules; the first rule whose match
 * accepts the request wins.  Its action is a weighted choice among
 * targets (a service plus subset labels), timeouts and a retry policy.
 *
 * Everything here is a pure decision.  The spec is borrowed: these
 * functions keep no pointer into it past the call, and whoever built it
 * (agent/route_json.c) frees it.  Randomness arrives as a uint64_t the
 * caller drew, time as milliseconds the caller read.
 */
#ifndef WEFT_PROXY_ROUTE_H
#define WEFT_PROXY_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caps so that a bad object cannot make matching unbounded. */
#define ROUTE_MAX_RULES 256
#define ROUTE_MAX_TARGETS 64
#define ROUTE_MAX_HEADERS 32
#define ROUTE_MAX_METHODS 16
#define ROUTE_MAX_LABELS 16
#define ROUTE_MAX_RETRIES 10
#define ROUTE_WEIGHT_MAX 1000000u
#define ROUTE_REASON_MAX 160

enum route_path_kind {
	ROUTE_PATH_ANY = 0,
	ROUTE_PATH_PREFIX,
	ROUTE_PATH_EXACT,
};

enum route_header_kind {
	ROUTE_HEADER_EXACT = 0,
	ROUTE_HEADER_PREFIX,
	ROUTE_HEADER_PRESENT,
};

/* Header names compare without case; values exactly. */
struct route_header_match {
	const char *name;
	enum route_header_kind kind;
	const char *value; /* NULL for PRESENT */
	bool invert;       /* the rule matches when this one does not */
};

struct route_match {
	enum route_path_kind path_kind;
	const char *path;            /* for PREFIX and EXACT */
	const char *const *methods;  /* none: any method */
	size_t n_methods;
	const struct route_header_match *headers; /* all must hold */
	size_t n_headers;
	/* gRPC: from a :path of "/pkg.Service/Method"; NULL: any. */
	const char *grpc_service;
	const char *grpc_method;
};

struct route_label {
	const char *key;
	const char *value;
};

struct route_target {
	const char *service;
	const struct route_label *labels; /* the subset: all must match */
	size_t n_labels;
	uint32_t weight; /* 0: never chosen while another has weight */
};

/* Conditions a retry may be made on (bits of route_retry.on). */
enum route_retry_on {
	ROUTE_RETRY_5XX = 1u << 0,           /* any 5xx status */
	ROUTE_RETRY_GATEWAY_ERROR = 1u << 1, /* 502, 503, 504 */
	ROUTE_RETRY_RESET = 1u << 2,         /* stream reset, no answer */
	ROUTE_RETRY_CONNECT_FAILURE = 1u << 3,
	ROUTE_RETRY_GRPC_CANCELLED = 1u << 4,
	ROUTE_RETRY_GRPC_DEADLINE_EXCEEDED = 1u << 5,
	ROUTE_RETRY_GRPC_RESOURCE_EXHAUSTED = 1u << 6,
	ROUTE_RETRY_GRPC_UNAVAILABLE = 1u << 7,
};

#define ROUTE_BACKOFF_BASE_MS 25
#define ROUTE_BACKOFF_MAX_MS 250
#define ROUTE_BUDGET_PERCENT 20
#define ROUTE_BUDGET_MIN_RETRIES 3 /* per window, so idle services retry */

struct route_retry {
	unsigned max;               /* retries after the first try; 0: none */
	int64_t per_try_timeout_ms; /* 0: only the route's timeout */
	uint32_t on;                /* enum route_retry_on bits */
	unsigned budget_percent;    /* 0: ROUTE_BUDGET_PERCENT */
	int64_t backoff_base_ms;    /* 0: ROUTE_BACKOFF_BASE_MS */
	int64_t backoff_max_ms;     /* 0: ROUTE_BACKOFF_MAX_MS */
};

struct route_rule {
	struct route_match match;
	const struct route_target *targets;
	size_t n_targets;
	int64_t timeout_ms;      /* whole request; 0: none */
	int64_t idle_timeout_ms; /* no bytes either way; 0: none */
	struct route_retry retry;
};

struct route_spec {
	const char *name;
	const char *service; /* the virtual service the rules are for */
	const struct route_rule *rules;
	size_t n_rules;
};

/*
 * Checks a spec against the caps and shapes above.  On WEFT_EINVAL,
 * where (when not NULL) gets a JSON-style path such as
 * "routes[1].targets[0].weight" and why a sentence.
 */
int route_validate(const struct route_spec *s, char *where, size_t where_len,
                   char *why, size_t why_len);

/* One request header as the front end saw it (not NUL-terminated). */
struct route_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* What matching looks at: method, :path (query included), headers. */
struct route_request {
	const char *method;
	const char *path;
	const struct route_header *headers;
	size_t n_headers;
};

/* The first rule of s that matches req; WEFT_ENOENT when none does. */
int route_find(const struct route_spec *s, const struct route_request *req,
               const struct route_rule **out, size_t *index);
bool route_rule_matches(const struct route_rule *r,
                        const struct route_request *req);

/*
 * Splits a gRPC :path "/pkg.Service/Method" into its service
 * ("pkg.Service") and method ("Method"), pointing into path;
 * WEFT_EMALFORMED when path is not of that form.
 */
int route_grpc_split(const char *path, const char **svc, size_t *svc_len,
                     const char **method, size_t *method_len);

/* A target drawn by weight with rnd (uniform over uint64_t). */
int route_pick_target(const struct route_rule *r, uint64_t rnd,
                      const struct route_target **out);

/* How one try ended, for the retry decision. */
enum route_outcome {
	ROUTE_OUTCOME_RESPONSE = 0, /* an answer with http_status */
	ROUTE_OUTCOME_RESET,        /* the stream was reset before an answer */
	ROUTE_OUTCOME_CONNECT_FAILURE,
	ROUTE_OUTCOME_TIMEOUT,      /* the per-try timeout fired */
};

/* gRPC status codes the policy knows by name. */
#define ROUTE_GRPC_CANCELLED 1
#define ROUTE_GRPC_DEADLINE_EXCEEDED 4
#define ROUTE_GRPC_RESOURCE_EXHAUSTED 8
#define ROUTE_GRPC_UNAVAILABLE 14

/*
 * Whether policy p retries a try that ended with outcome (http_status for
 * a response, grpc_status from grpc-status or -1).  A per-try timeout
 * counts as a gateway error.  Says nothing of max or the budget.
 */
bool route_retry_on(const struct route_retry *p, enum route_outcome outcome,
                    int http_status, int grpc_status);

/* The condition name of one bit ("5xx", "gateway-error", ...), or NULL;
 * and the bit for a name, 0 when unknown. */
const char *route_retry_name(uint32_t bit);
uint32_t route_retry_bit(const char *name);

/*
 * The wait before retry number attempt (1 for the first retry): full
 * jitter over an exponential ceiling, base * 2^(attempt-1) capped at
 * max; rnd uniform over uint64_t.  Always in [0, ceiling].
 */
int64_t route_backoff_ms(const struct route_retry *p, unsigned attempt,
                         uint64_t rnd);

/*
 * Retry budget: in a sliding window (ROUTE_BUDGET_SLOTS slots of
 * window_ms / ROUTE_BUDGET_SLOTS), a retry is allowed while retries stay
 * under percent of requests, or under min_retries, so that retries cannot
 * multiply an outage.  Time only moves forward; an earlier now_ms counts
 * in the current slot.
 */
#define ROUTE_BUDGET_SLOTS 10
#define ROUTE_BUDGET_WINDOW_MS 10000

struct route_budget {
	int64_t slot_ms;
	int64_t slot_start[ROUTE_BUDGET_SLOTS];
	uint32_t requests[ROUTE_BUDGET_SLOTS];
	uint32_t retries[ROUTE_BUDGET_SLOTS];
	unsigned percent;
	unsigned min_retries;
};

/* window_ms 0: ROUTE_BUDGET_WINDOW_MS; percent 0: ROUTE_BUDGET_PERCENT. */
void route_budget_init(struct route_budget *b, int64_t window_ms,
                       unsigned percent, unsigned min_retries);
/* A request (a first try) started. */
void route_budget_request(struct route_budget *b, int64_t now_ms);
/* Asks for one retry; true (and counts it) when the budget allows. */
bool route_budget_try_retry(struct route_budget *b, int64_t now_ms);
/* Requests and retries in the window at now_ms. */
void route_budget_counts(const struct route_budget *b, int64_t now_ms,
                         uint64_t *requests, uint64_t *retries);

#endif
