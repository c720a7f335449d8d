/*
 * Inside the health checks: health.c (state, scheduling, maintenance,
 * publishing) and health_run.c (one run of a check on the loop).
 */
#ifndef WEFT_AGENT_HEALTH_INT_H
#define WEFT_AGENT_HEALTH_INT_H

#include <sys/socket.h>
#include <uv.h>

#include "agent/health.h"
#include "common/list.h"
#include "crypto/key.h"

enum hkind { HK_HTTP, HK_TCP, HK_GRPC, HK_EXEC, HK_TTL };

struct hrun;

/* One configured check.  Freed in its timer's close callback. */
struct hcheck {
	struct list link; /* in health.checks */
	struct health *h; /* NULL once stopped */
	char *id;
	char *service;
	enum hkind kind;
	char **argv; /* exec; NULL-terminated; owned */
	struct sockaddr_storage addr; /* http, tcp, grpc */
	char target[400];  /* what the check asks, for people */
	char path[256];    /* http request target */
	char authority[80];
	char grpc_service[128];
	int64_t interval_ms, timeout_ms, ttl_ms;
	unsigned need_ok, need_bad;
	struct health_filter f;
	char output[HEALTH_OUTPUT_MAX];
	int64_t last_change_ms; /* Unix ms; 0 never */
	int64_t last_run_ms;
	uint64_t results[4]; /* by enum health_status */
	uv_timer_t timer;    /* next run, or the TTL's end */
	struct hrun *run;    /* in flight, or NULL */
	bool refused;        /* its target is unusable: never runs */
};

/* A service as this node publishes it. */
struct hsvc {
	char *name;
	bool maint;
	char reason[HEALTH_REASON_MAX + 1];
	uint8_t published; /* health in the last record */
	bool published_maint;
	char *maint_tag;          /* owned */
	const char **tagv;        /* the service's tags + maint_tag; owned */
};

/* The last health seen per endpoint of the cluster, for events. */
struct hwatch {
	uint8_t key_id[KEY_ID_LEN];
	char service[64];
	uint8_t health;
	bool maint;
};

struct health {
	struct agent *a;
	struct list checks; /* struct hcheck */
	struct hsvc *svcs;
	size_t n_svcs;
	struct hwatch *watch;
	size_t n_watch, cap_watch;
};

/* Starts one run of c (not TTL); its result comes back through
 * hcheck_result().  0 or a WEFT_E code (then nothing runs). */
int hrun_start(struct hcheck *c);
/* Stops a run whose check is going away: no result is reported. */
void hrun_cancel(struct hrun *r);

/* A run's end: output is NUL-terminated (truncated here). */
void hcheck_result(struct hcheck *c, enum health_status s,
                   const char *output);

#endif
