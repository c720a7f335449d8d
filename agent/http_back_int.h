/*
 * What the remote side's files share (agent/http_back*.c): the set, one
 * request, and the hooks of each app protocol.
 */
#ifndef WEFT_AGENT_HTTP_BACK_INT_H
#define WEFT_AGENT_HTTP_BACK_INT_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "agent/http_back.h"
#include "agent/proxy_int.h"
#include "common/list.h"
#include "proxy/h1.h"

#define HB_READ_CHUNK (64u * 1024)
/* A request head for an HTTP/1.1 app: the mesh's block limit plus the
 * request line and the separators. */
#define HB_HEAD_MAX (MESH_HEADER_BLOCK_MAX + 8192)
#define HB_NV_MAX (MESH_HEADER_FIELDS_MAX + 8)
/* Idle HTTP/1.1 connections kept per app address and in all. */
#define HB_IDLE_PER_ADDR 128
#define HB_IDLE_MAX 256
#define HB_IDLE_MS (30 * 1000)
#define HB_ADDR_MAX 80
/* Finished request records kept for the next requests, per set. */
#define HB_SPARE_MAX 64

enum hb_proto {
	HB_H1 = 1,
	HB_H2,
};

struct hb_h1;
struct hb_h2;

struct http_back_set {
	struct agent_proxy *px;
	struct list reqs;    /* struct hb_req, live */
	struct list spare;   /* struct hb_req, finished, to reuse */
	size_t n_spare;
	struct list h1_idle; /* struct hb_h1, most recently used first */
	size_t n_idle;
	struct list h1_all;  /* every struct hb_h1 not closing */
	struct list h2_all;  /* struct hb_h2 */
	/* h2c sessions with frames to write, flushed once per loop turn
	 * (many streams' frames in one write); the idle handle keeps the
	 * loop from blocking while any wait. */
	struct list h2_dirty;
	uv_check_t flusher;
	uv_idle_t awake;
	uv_timer_t sweep;
	bool stopping;
	struct http_back_stats stats;
	uint8_t rbuf[HB_READ_CHUNK]; /* app reads land here, one at a time */
	uint8_t head[HB_HEAD_MAX];   /* request heads are formatted here */
	nghttp2_nv nv[HB_NV_MAX];
	struct h1_header trailers[HB_NV_MAX];
};

/* One request from the mesh. */
struct hb_req {
	enum proxy_stream_kind kind; /* PROXY_STREAM_HTTP_BACK: first */
	struct http_back_set *set;
	struct list link;
	struct mesh_stream *ms;
	enum hb_proto proto;
	bool grpc;           /* the local service's protocol is grpc */
	char service[64];
	char addr[HB_ADDR_MAX]; /* "host:port" of the app, the pool key */
	struct sockaddr_storage sa;

	bool head_request;
	bool upgrade;        /* weft-upgrade asked */
	char upgrade_to[64];

	bool responded;      /* mesh_stream_respond() done */
	bool resp_done;      /* the response ended on the mesh */
	bool req_sent;       /* the whole request went to the app */
	bool tunnel;         /* after an upgrade */
	uint64_t body_taken; /* request body bytes consumed from the mesh */
	bool has_len;        /* the request head has a Content-Length */
	uint64_t req_len;    /* its value */
	unsigned tries;

	struct hb_h1 *h1;       /* HTTP/1.1: the connection serving it */
	struct hb_h2 *h2;       /* HTTP/2: the session carrying it */
	int32_t h2_id;          /* its stream id there */
	void *h2_pend;          /* HTTP/2: response bytes the mesh had no
	                         * room for (http_back_h2.c) */
	/* For the access log and metrics (hb_finish reports). */
	uint64_t start_ns;
	int64_t start_wall_ms;
	uint64_t bytes_out;     /* response body bytes onto the mesh */
	int status;             /* the answer's, or 502 when refused */
	bool broken;            /* reset after the head */
	char source[128];
	char peer[64];
};

/* The app could not be reached or answered badly before the head:
 * refuse 502 with "local service NAME at ADDR: why", log, finish. */
void hb_fail(struct hb_req *r, const char *why);
/* Resets the mesh stream (the response was under way) and finishes. */
void hb_reset(struct hb_req *r, const char *why);
/* Closes the mesh stream and frees r (detached from its app side),
 * reporting it (access log, metrics) first. */
void hb_finish(struct hb_req *r);
/* r's answer head went out with mesh_stream_respond(nv): remembers its
 * status. */
void hb_responded(struct hb_req *r, const nghttp2_nv *nv, size_t n);
/* n response body bytes went onto the mesh. */
static inline void
hb_sent(struct hb_req *r, size_t n)
{
	r->bytes_out += n;
}
/* Marks a mesh connection for proxy_io.c's flush at the end of the loop
 * turn (agent_proxy_kick()): safe anywhere, delivers no event. */
void hb_kick(struct http_back_set *set, struct mesh_conn *mc);
void hb_kick_later(struct hb_req *r);
/* Keeps the loop from blocking until the check phase (frames queued). */
void hb_wake(struct http_back_set *set);
/* Arms MESH_EV_WRITABLE when the stream has no room. */
void hb_arm_writable(struct mesh_stream *ms);
const struct weft_log *hb_log(const struct http_back_set *set);

/* HTTP/1.1 apps (http_back_h1.c). */
int hb_h1_start(struct hb_req *r);
void hb_h1_event(struct hb_req *r, const struct mesh_event *ev);
void hb_h1_sweep(struct http_back_set *set, int64_t now_ms);
void hb_h1_stop_all(struct http_back_set *set);

/* HTTP/2 apps (http_back_h2.c). */
int hb_h2_start(struct hb_req *r);
void hb_h2_event(struct hb_req *r, const struct mesh_event *ev);
void hb_h2_sweep(struct http_back_set *set, int64_t now_ms);
void hb_h2_flush_dirty(struct http_back_set *set);
void hb_h2_stop_all(struct http_back_set *set);

#endif
