/*
 * weftd's configuration: JSON files merged in order, then command line
 * flags on top.  Every file is checked on its own against the schema
 * first, so an error names the file, the key path and the reason
 * ("conf.d/10-web.json: services[0].port: 70000 is out of range
 * 1-65535").  Nothing here starts anything.
 */
#ifndef WEFT_AGENT_CONFIG_H
#define WEFT_AGENT_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/balance.h"
#include "proxy/table.h"

#define AGENT_DEFAULT_CONFIG "/etc/weft/weftd.json"
#define AGENT_DEFAULT_CONFIG_DIR "/etc/weft/conf.d"
#define AGENT_GOSSIP_PORT 7370
#define AGENT_MESH_PORT 7371
#define AGENT_METRICS_PORT 7372

struct agent_config_err {
	char msg[512];
};

/* An IP literal and a port: config never resolves names. */
struct agent_hostport {
	char host[64];
	uint16_t port;
};

struct agent_upstream {
	char *service;
	/* The service whose list it is in: the caller, in access logs and
	 * metrics; NULL for an upstream of the agent itself. */
	char *owner;
	struct agent_hostport local_bind;
	/* What the app speaks on local_bind ("protocol": "tcp" default,
	 * "http", "http2", "grpc"). */
	enum table_protocol protocol;
	/* Circuit limits (proxy/circuit.h); 0: the core's default. */
	unsigned max_connections;
	unsigned max_pending;
	unsigned max_requests;
};

#define AGENT_RETRY_BUFFER 65536 /* bytes of request body kept for retries */

#define AGENT_MAX_PROXY_WORKERS 64

/* The top-level "proxy" object: data-plane knobs, defaults filled in. */
struct agent_proxy_config {
	size_t retry_buffer;          /* "retry_buffer"; AGENT_RETRY_BUFFER */
	size_t max_head_bytes;        /* "max_head_bytes"; H1_MAX_HEAD_BYTES */
	size_t max_headers;           /* "max_headers"; H1_MAX_HEADERS */
	unsigned consecutive_errors;  /* "outlier.consecutive_errors"; 5 */
	int64_t base_ejection_ms;     /* "outlier.base_ejection"; "30s" */
	int64_t max_ejection_ms;      /* "outlier.max_ejection"; "300s" */
	unsigned max_ejection_percent; /* "outlier.max_ejection_percent"; 50 */
	enum balance_lb lb;           /* "lb": "p2c" (default), "round_robin" */
	char *access_log;             /* "access_log": a path, "-", or NULL */
	size_t access_log_buffer;     /* "access_log_buffer"; 256 KiB */
	int64_t head_timeout_ms;      /* "head_timeout"; "10s" */
	int64_t client_idle_timeout_ms; /* "client_idle_timeout"; "60s" */
	int64_t body_timeout_ms;      /* "body_timeout"; "20s"; 0: none */
	uint64_t body_min_rate;       /* "body_min_rate" (bytes/s); 500 */
};

struct agent_check {
	char *id;
	char *kind;   /* http, tcp, grpc, exec, ttl */
	char *target; /* path, address, service or first argv word */
	char **argv;  /* exec only, NULL-terminated */
	int64_t interval_ms;
	int64_t timeout_ms;
	int64_t ttl_ms;
	/* Consecutive results needed to change state (1: at once). */
	unsigned success_before_passing;
	unsigned failures_before_critical;
};

struct agent_service {
	char *name;
	uint16_t port;
	char *protocol; /* tcp, http, http2, grpc */
	char **tags;
	size_t n_tags;
	char **labels; /* "key=value" */
	size_t n_labels;
	unsigned weight;
	struct agent_upstream *upstreams;
	size_t n_upstreams;
	struct agent_check *checks;
	size_t n_checks;
};

/* Zero means "the core's default" for every gossip override. */
struct agent_gossip_tuning {
	int64_t probe_interval_ms;
	int64_t probe_timeout_ms;
	int64_t gossip_interval_ms;
	int64_t pushpull_interval_ms;
	int64_t reap_after_ms;
	int64_t suspicion_mult;
	int64_t suspicion_max_mult;
	int64_t indirect_checks;
	int64_t fanout;
	int64_t retransmit_mult;
};

struct agent_config {
	char *node_name;
	struct agent_hostport bind;
	char *advertise;           /* NULL: the bind address */
	struct agent_hostport *join;
	size_t n_join;
	bool retry_join;
	int64_t retry_join_max_ms; /* backoff cap */
	char *data_dir;
	char *socket;
	char *socket_group;        /* NULL: the agent's own group */
	char *key_file;
	char *cert_file;
	char *ca_file;
	int64_t cert_skew_s;
	int64_t cert_warn_before_s; /* warn in the log this long before expiry */
	bool has_metrics_addr;
	struct agent_hostport metrics_addr; /* Prometheus over TCP */
	char *log_level;
	struct agent_hostport mesh_bind;
	struct agent_gossip_tuning gossip;
	struct agent_service *services;
	size_t n_services;
	bool default_deny; /* intentions: deny what no intention allows */
	struct agent_upstream *upstreams; /* per agent, outside any service */
	size_t n_upstreams;
	struct agent_proxy_config proxy;
	/* "proxy_workers": data-plane threads, each with its own loop and
	 * listeners; 0 (the default): one per core. */
	unsigned proxy_workers;
	json_t *effective; /* the merged document, for --check-config */
};

/*
 * Parses one JSON document and checks it against the schema.  origin
 * names it in errors (a file name, or "command line").  *out is a new
 * reference.
 */
int agent_config_parse_doc(const char *origin, const char *text, size_t len,
                           json_t **out, struct agent_config_err *err);

/* Merges src into dst: objects key by key, the lists `join`, `services`
 * and `upstreams` appended, every other value replaced. */
void agent_config_merge(json_t *dst, const json_t *src);

/*
 * Builds the typed config from a merged document, with defaults filled
 * in, and checks what only the whole can tell (required keys, duplicate
 * service names).  out is freed with agent_config_free() whether or not
 * this succeeds.
 */
int agent_config_build(const json_t *doc, struct agent_config *out,
                       struct agent_config_err *err);
void agent_config_free(struct agent_config *c);

/* Parses "5s", "500ms", "2m", "1h", "1d" into milliseconds. */
int agent_parse_duration(const char *s, int64_t *ms);
/* Parses "IP", "IP:PORT", "[IPv6]:PORT" with default_port when absent. */
int agent_parse_hostport(const char *s, uint16_t default_port,
                         struct agent_hostport *out);

#endif
