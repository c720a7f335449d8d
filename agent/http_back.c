/*
 * The remote side's common part: the set, a request's start (which app
 * protocol, which address), its end, and how failures reach the caller.
 * The protocols live in http_back_h1.c and http_back_h2.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/accesslog.h"
#include "agent/agent.h"
#include "agent/http_back_int.h"
#include "common/err.h"
#include "common/str.h"
#include "proxy/mesh.h"
#include "proxy/table.h"
#include "proxy/trace.h"

#define SWEEP_MS 5000

const struct weft_log *
hb_log(const struct http_back_set *set)
{
	return agent_proxy_log(set->px);
}

void
hb_kick(struct http_back_set *set, struct mesh_conn *mc)
{
	(void)set;
	/* Only marks the connection: proxy_io.c flushes the marked ones once
	 * per loop turn, so this is safe anywhere. */
	if (mc != NULL)
		agent_proxy_kick(mc);
}

void
hb_kick_later(struct hb_req *r)
{
	if (r->ms != NULL)
		agent_proxy_kick(mesh_stream_conn(r->ms));
}

void
hb_arm_writable(struct mesh_stream *ms)
{
	size_t accepted = 0;
	uint8_t one = 0;

	/* The core announces room (MESH_EV_WRITABLE) only after a write it
	 * could not take whole: ask for one byte it cannot take. */
	if (mesh_stream_write_room(ms) == 0)
		(void)mesh_stream_write(ms, &one, 1, &accepted);
}

void
hb_responded(struct hb_req *r, const nghttp2_nv *nv, size_t n)
{
	r->responded = true;
	for (size_t i = 0; i < n; i++)
		if (nv[i].namelen == 7 && memcmp(nv[i].name, ":status", 7) == 0 &&
		    nv[i].valuelen == 3) {
			r->status = (nv[i].value[0] - '0') * 100 +
			            (nv[i].value[1] - '0') * 10 +
			            (nv[i].value[2] - '0');
			break;
		}
}

/* The request's access log line and metrics, as it ends. */
static void
hb_observe(struct hb_req *r)
{
	const nghttp2_nv *nv = NULL;
	size_t n = 0;
	struct accesslog_entry e = {
		.start_unix_ms = r->start_wall_ms,
		.kind = "http",
		.direction = "inbound",
		.src_service = r->source[0] ? r->source : NULL,
		.src_node = r->peer[0] ? r->peer : NULL,
		.dst_service = r->service,
		.dst_node = agent_proxy_node(r->set->px),
		.status = r->status,
		.bytes_in = r->body_taken,
		.bytes_out = r->bytes_out,
		.duration_us = (int64_t)((uv_hrtime() - r->start_ns) / 1000),
		.upstream = r->addr[0] ? r->addr : NULL,
		.error = r->broken ? "response broken off" : NULL,
	};
	char trace[2 * TRACE_ID_LEN + 1];

	if (r->ms != NULL && mesh_stream_head(r->ms, &nv, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			const char *name = (const char *)nv[i].name;
			struct trace_context t;

			if (strcmp(name, ":method") == 0)
				e.method = (const char *)nv[i].value;
			else if (strcmp(name, ":path") == 0)
				e.path = (const char *)nv[i].value;
			else if (strcmp(name, ":authority") == 0)
				e.authority = (const char *)nv[i].value;
			else if (strcmp(name, "traceparent") == 0 &&
			         trace_parse((const char *)nv[i].value,
			                     nv[i].valuelen, &t, NULL) == 0) {
				trace_id_hex(&t, trace);
				e.trace_id = trace;
			}
		}
	}
	agent_proxy_observe(r->set->px, &e, true, false, false);
}

void
hb_finish(struct hb_req *r)
{
	hb_observe(r);
	list_remove(&r->link);
	if (r->ms != NULL) {
		mesh_stream_set_user(r->ms, NULL);
		mesh_stream_close(r->ms);
		r->ms = NULL;
	}
	if (r->set->n_spare < HB_SPARE_MAX) {
		list_insert_tail(&r->set->spare, &r->link);
		r->set->n_spare++;
	} else {
		free(r);
	}
}

static void
say_why(struct hb_req *r, const char *why, char *out, size_t cap)
{
	snprintf(out, cap, "local service %s at %s: %s", r->service, r->addr,
	         why);
}

void
hb_fail(struct hb_req *r, const char *why)
{
	char reason[MESH_REASON_MAX];

	say_why(r, why, reason, sizeof(reason));
	weft_logf(hb_log(r->set), WEFT_LOG_WARN, "msg=\"http request "
	          "failed\" service=%s reason=\"%s\"", r->service, reason);
	if (r->ms != NULL) {
		if (!r->responded) {
			mesh_stream_refuse(r->ms, 502, reason);
			r->set->stats.refused++;
			r->status = 502;
		} else {
			mesh_stream_reset(r->ms);
			r->set->stats.broken++;
			r->broken = true;
		}
	}
	hb_finish(r);
}

void
hb_reset(struct hb_req *r, const char *why)
{
	char reason[MESH_REASON_MAX];

	say_why(r, why, reason, sizeof(reason));
	weft_logf(hb_log(r->set), WEFT_LOG_INFO, "msg=\"http response "
	          "broken off\" service=%s reason=\"%s\"", r->service, reason);
	if (r->ms != NULL)
		mesh_stream_reset(r->ms);
	r->set->stats.broken++;
	r->broken = true;
	hb_finish(r);
}

static void
on_awake(uv_idle_t *h)
{
	(void)h; /* only keeps the loop from blocking before the check */
}

void
hb_wake(struct http_back_set *set)
{
	if (!set->stopping)
		uv_idle_start(&set->awake, on_awake);
}

static void
on_flusher(uv_check_t *h)
{
	struct http_back_set *set = h->data;

	hb_h2_flush_dirty(set);
	if (list_empty(&set->h2_dirty))
		uv_idle_stop(&set->awake);
	else
		uv_idle_start(&set->awake, on_awake);
}

static void
on_sweep(uv_timer_t *t)
{
	struct http_back_set *set = t->data;

	hb_h1_sweep(set, agent_proxy_now(set->px));
	hb_h2_sweep(set, agent_proxy_now(set->px));
}

int
http_back_new(struct agent_proxy *px, struct http_back_set **out)
{
	struct http_back_set *set = calloc(1, sizeof(*set));

	*out = NULL;
	if (set == NULL)
		return WEFT_ENOMEM;
	set->px = px;
	list_init(&set->reqs);
	list_init(&set->spare);
	list_init(&set->h1_idle);
	list_init(&set->h1_all);
	list_init(&set->h2_all);
	list_init(&set->h2_dirty);
	uv_check_init(agent_proxy_loop(px), &set->flusher);
	set->flusher.data = set;
	uv_check_start(&set->flusher, on_flusher);
	uv_idle_init(agent_proxy_loop(px), &set->awake);
	set->awake.data = set;
	uv_timer_init(agent_proxy_loop(px), &set->sweep);
	set->sweep.data = set;
	uv_timer_start(&set->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
	uv_unref((uv_handle_t *)&set->sweep);
	*out = set;
	return 0;
}

const struct http_back_stats *
http_back_stats(const struct http_back_set *set)
{
	return &set->stats;
}

void
http_back_free(struct http_back_set *set)
{
	if (set == NULL)
		return;
	while (!list_empty(&set->spare)) {
		struct hb_req *r = list_entry(set->spare.next, struct hb_req,
		                              link);

		list_remove(&r->link);
		free(r);
	}
	free(set);
}

void
http_back_stop_all(struct http_back_set *set)
{
	if (set == NULL || set->stopping)
		return;
	set->stopping = true;
	uv_timer_stop(&set->sweep);
	uv_close((uv_handle_t *)&set->sweep, NULL);
	uv_check_stop(&set->flusher);
	uv_close((uv_handle_t *)&set->flusher, NULL);
	uv_idle_stop(&set->awake);
	uv_close((uv_handle_t *)&set->awake, NULL);
	hb_h1_stop_all(set);
	hb_h2_stop_all(set);
	while (!list_empty(&set->reqs)) {
		struct hb_req *r = list_entry(set->reqs.next, struct hb_req,
		                              link);

		if (r->ms != NULL)
			mesh_stream_reset(r->ms);
		hb_finish(r);
	}
}

/* "host:port" and the socket address of the app. */
static int
app_addr(struct hb_req *r, const char *host, uint16_t port)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;

	if (host == NULL || host[0] == '\0')
		host = "127.0.0.1";
	if (uv_ip4_addr(host, port, &s4) == 0) {
		size_t used = 0;

		memcpy(&r->sa, &s4, sizeof(s4));
		r->addr[0] = '\0';
		weft_str_put(r->addr, sizeof(r->addr), &used, host);
		weft_str_put(r->addr, sizeof(r->addr), &used, ":");
		weft_str_putu(r->addr, sizeof(r->addr), &used, port);
		return 0;
	}
	if (uv_ip6_addr(host, port, &s6) == 0) {
		memcpy(&r->sa, &s6, sizeof(s6));
		snprintf(r->addr, sizeof(r->addr), "[%s]:%u", host, port);
		return 0;
	}
	snprintf(r->addr, sizeof(r->addr), "%s:%u", host, port);
	return WEFT_EINVAL;
}

int
http_back_start(struct http_back_set *set, const struct mesh_event *ev)
{
	const struct table_local *loc;
	struct hb_req *r;

	if (set->stopping) {
		mesh_stream_refuse(ev->stream, 503, "agent stopping");
		mesh_stream_close(ev->stream);
		return WEFT_ESTATE;
	}
	if (!list_empty(&set->spare)) {
		/* A finished record: no malloc per request. */
		r = list_entry(set->spare.next, struct hb_req, link);
		list_remove(&r->link);
		set->n_spare--;
		memset(r, 0, sizeof(*r));
	} else {
		r = calloc(1, sizeof(*r));
	}
	if (r == NULL) {
		mesh_stream_refuse(ev->stream, 502, "agent out of memory");
		mesh_stream_close(ev->stream);
		return WEFT_ENOMEM;
	}
	set->stats.requests++;
	r->kind = PROXY_STREAM_HTTP_BACK;
	r->set = set;
	r->ms = ev->stream;
	r->start_ns = uv_hrtime();
	r->start_wall_ms = agent_proxy_wall_ms(set->px);
	weft_str_copy(r->peer, sizeof(r->peer), ev->peer ? ev->peer : "");
	agent_proxy_peer_services(mesh_conn_peer(ev->conn), r->source,
	                          sizeof(r->source));
	list_insert_tail(&set->reqs, &r->link);
	mesh_stream_set_user(r->ms, r);
	weft_str_copy(r->service, sizeof(r->service),
	              ev->service != NULL ? ev->service : "?");
	loc = table_local(mesh_stream_table(r->ms), r->service);
	r->grpc = loc != NULL && loc->protocol == TABLE_PROTO_GRPC;
	r->proto = loc != NULL && (loc->protocol == TABLE_PROTO_HTTP2 ||
	                           loc->protocol == TABLE_PROTO_GRPC)
	               ? HB_H2
	               : HB_H1;
	if (app_addr(r, ev->host, ev->port) != 0) {
		hb_fail(r, "bad local address");
		return WEFT_EINVAL;
	}
	return r->proto == HB_H2 ? hb_h2_start(r) : hb_h1_start(r);
}

void
http_back_event(const struct mesh_event *ev)
{
	struct hb_req *r = ev->stream_user;

	if (r == NULL || r->kind != PROXY_STREAM_HTTP_BACK)
		return;
	if (r->proto == HB_H2)
		hb_h2_event(r, ev);
	else
		hb_h1_event(r, ev);
}
