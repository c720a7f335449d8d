/*
 * Two mesh nodes wired back to back in memory: a client (node-a, serving
 * "web", group "prod") and a server (node-b, serving "db" and "api"), with
 * real certificates from one test CA, and an event log per side that can
 * play a simple agent (accept every CONNECT, or refuse it).
 * Header-only so each test is one executable.
 */
#ifndef WEFT_TESTS_PROXY_MESHPAIR_H
#define WEFT_TESTS_PROXY_MESHPAIR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/bundle.h"
#include "crypto/cert.h"
#include "crypto/key.h"
#include "crypto/session.h"
#include "proxy/mesh.h"
#include "proxy/table.h"
#include "tests/unit/testutil.h"

#define MP_MS 1000000 /* a monotonic "now" */
#define MP_MAX_EVENTS 8192

struct mp_event {
	enum mesh_event_type type;
	struct mesh_stream *stream;
	void *user;
	int status;
	uint32_t h2_error;
	int err;
	uint16_t port;
	char reason[MESH_REASON_MAX];
	char service[64];
	char host[64];
};

enum mp_policy {
	MP_ACCEPT = 0, /* accept every CONNECT at once */
	MP_HOLD,       /* leave it to the test */
	MP_REFUSE,     /* refuse with 502 */
};

struct mp_side {
	struct key_pair key;
	uint8_t *cert_enc;
	size_t cert_len;
	struct cert cert;
	struct session_config scfg;
	struct mesh_config mcfg;
	struct mesh_node *node;
	struct mesh_conn *conn;
	struct mp_event *ev;
	size_t n_ev;
	enum mp_policy policy;
	size_t n_writable;
	size_t n_readable;
};

struct mp_world {
	struct test_rng_state rs;
	struct weft_rng rng;
	struct key_pair ca;
	struct bundle bundle;
	struct mp_side a, b; /* a: client, b: server */
	struct table *table;
	uint64_t moved;      /* bytes carried between the two, total */
	uint8_t *wire;       /* when set, a copy of what was carried */
	size_t wire_len, wire_cap;
};

static inline void
mp_record(void *ctx, const struct mesh_event *e)
{
	struct mp_side *s = ctx;
	struct mp_event *r;

	if (getenv("MP_TRACE") != NULL)
		fprintf(stderr, "%p ev %d stream %p status %d reason '%s'\n",
		    (void *)s, (int)e->type, (void *)e->stream, e->status,
		    e->reason != NULL ? e->reason : "");
	if (e->type == MESH_EV_WRITABLE)
		s->n_writable++;
	if (e->type == MESH_EV_READABLE)
		s->n_readable++;
	if (s->n_ev < MP_MAX_EVENTS) {
		r = &s->ev[s->n_ev++];
		memset(r, 0, sizeof(*r));
		r->type = e->type;
		r->stream = e->stream;
		r->user = e->stream_user;
		r->status = e->status;
		r->h2_error = e->h2_error;
		r->err = e->err;
		r->port = e->port;
		snprintf(r->reason, sizeof(r->reason), "%s",
		    e->reason != NULL ? e->reason : "");
		snprintf(r->service, sizeof(r->service), "%s",
		    e->service != NULL ? e->service : "");
		snprintf(r->host, sizeof(r->host), "%s",
		    e->host != NULL ? e->host : "");
	}
	if (e->type == MESH_EV_CONNECT) {
		if (s->policy == MP_ACCEPT && mesh_stream_accept(e->stream) != 0)
			abort();
		if (s->policy == MP_REFUSE &&
		    mesh_stream_refuse(e->stream, 502,
		    "connect to 127.0.0.1 failed: connection refused") != 0)
			abort();
	}
}

static inline void
mp_issue(struct mp_world *w, struct mp_side *s, const char *name,
         const char *const *svcs, size_t n_svcs, const char *const *grps,
         size_t n_grps)
{
	struct cert_params p = {
		.name = name,
		.services = svcs,
		.n_services = n_svcs,
		.groups = grps,
		.n_groups = n_grps,
		.not_before = T_NOW - T_DAY,
		.not_after = T_NOW + 30 * T_DAY,
	};

	free(s->cert_enc);
	cert_free(&s->cert);
	if (cert_issue(&p, &s->key, &w->ca, &s->cert_enc, &s->cert_len) != 0 ||
	    cert_decode(s->cert_enc, s->cert_len, &s->cert) != 0)
		abort();
}

static const char *const mp_a_svcs[] = {"web"};
static const char *const mp_b_svcs[] = {"db", "api"};
static const char *const mp_a_grps[] = {"prod"};
static const char *const mp_b_grps[] = {"prod", "data"};

static inline void
mp_side_init(struct mp_world *w, struct mp_side *s)
{
	s->scfg = (struct session_config){
		.self = &s->key,
		.cert = s->cert_enc,
		.cert_len = s->cert_len,
		.bundle = &w->bundle,
		.skew_s = 60,
		.rng = &w->rng,
	};
	s->mcfg.session = &s->scfg;
	if (s->mcfg.self_cert == NULL)
		s->mcfg.self_cert = &s->cert;
	s->mcfg.event = mp_record;
	s->mcfg.ctx = s;
	if (s->ev == NULL)
		s->ev = calloc(MP_MAX_EVENTS, sizeof(*s->ev));
	if (s->ev == NULL)
		abort();
}

/* The default tables: db and api served locally on 15432 and 18080, one
 * endpoint of db (node-b), intentions given. */
static inline struct table *
mp_table(const struct table_intention *its, size_t n_its,
         enum table_action dflt, uint64_t version)
{
	static const struct table_local locals[] = {
		{.service = "db", .port = 15432},
		{.service = "api", .host = "127.0.0.9", .port = 18080},
		{.service = "cache", .port = 16379},
	};
	struct table_endpoint ep = {
		.service = "db",
		.node = "node-b",
		.mesh_addr = "127.0.0.3:7371",
		.port = 5432,
		.weight = 1,
		.healthy = true,
	};
	struct table_spec spec = {
		.endpoints = &ep,
		.n_endpoints = 1,
		.intentions = its,
		.n_intentions = n_its,
		.locals = locals,
		.n_locals = 3,
		.default_action = dflt,
		.version = version,
	};
	struct table *t;

	if (table_new(&spec, &t, NULL, NULL) != 0)
		abort();
	return t;
}

/* Builds both nodes (configs may be adjusted before mp_connect). */
static inline struct mp_world *
mp_world_new(void)
{
	struct mp_world *w = calloc(1, sizeof(*w));
	struct cert ca_cert;

	if (w == NULL)
		abort();
	w->rng = test_rng(&w->rs, 42);
	if (key_generate(&w->ca, KEY_KIND_CA, &w->rng) ||
	    key_generate(&w->a.key, KEY_KIND_NODE, &w->rng) ||
	    key_generate(&w->b.key, KEY_KIND_NODE, &w->rng))
		abort();
	test_issue(&ca_cert, &w->ca, &w->ca, "root", NULL, 0, NULL, 0,
	    T_NOW - T_DAY, T_NOW + 3650 * T_DAY);
	if (bundle_add(&w->bundle, &ca_cert) != 0)
		abort();
	mp_issue(w, &w->a, "node-a", mp_a_svcs, 1, mp_a_grps, 1);
	mp_issue(w, &w->b, "node-b", mp_b_svcs, 2, mp_b_grps, 2);
	mp_side_init(w, &w->a);
	mp_side_init(w, &w->b);
	w->table = mp_table(NULL, 0, TABLE_ALLOW, 1);
	return w;
}

/* Makes the nodes and connections (a: initiator with IK). */
static inline void
mp_start(struct mp_world *w)
{
	mp_side_init(w, &w->a);
	mp_side_init(w, &w->b);
	if (mesh_node_new(&w->a.mcfg, &w->a.node) != 0 ||
	    mesh_node_new(&w->b.mcfg, &w->b.node) != 0)
		abort();
	mesh_node_set_table(w->a.node, w->table);
	mesh_node_set_table(w->b.node, w->table);
	if (mesh_conn_new(w->a.node, true, w->b.key.dh_pk, w->b.key.id, MP_MS,
	    T_NOW, &w->a, &w->a.conn) != 0 ||
	    mesh_conn_new(w->b.node, false, NULL, NULL, MP_MS, T_NOW, &w->b,
	    &w->b.conn) != 0)
		abort();
}

/* Moves bytes one way; returns how many. */
static inline size_t
mp_move(struct mp_world *w, struct mp_side *from, struct mp_side *to)
{
	const uint8_t *p;
	size_t len;

	mesh_conn_out_peek(from->conn, &p, &len);
	if (len == 0)
		return 0;
	if (w->wire != NULL && w->wire_len + len <= w->wire_cap) {
		memcpy(w->wire + w->wire_len, p, len);
		w->wire_len += len;
	}
	mesh_conn_recv(to->conn, MP_MS, p, len);
	mesh_conn_out_consume(from->conn, len);
	w->moved += len;
	return len;
}

/* Carries bytes both ways until both are quiet; bounded. */
static inline void
mp_pump(struct mp_world *w)
{
	for (int i = 0; i < 100000; i++) {
		size_t n = mp_move(w, &w->a, &w->b);

		n += mp_move(w, &w->b, &w->a);
		if (n == 0)
			return;
	}
	abort();
}

static inline void
mp_side_fini(struct mp_side *s)
{
	mesh_conn_free(s->conn);
	s->conn = NULL;
	mesh_node_free(s->node);
	s->node = NULL;
	free(s->cert_enc);
	cert_free(&s->cert);
	free(s->ev);
	key_wipe(&s->key);
}

static inline void
mp_world_free(struct mp_world *w)
{
	mp_side_fini(&w->a);
	mp_side_fini(&w->b);
	table_unref(w->table);
	bundle_free(&w->bundle);
	key_wipe(&w->ca);
	free(w);
}

/* The index of the k-th (0-based) event of type t, or -1. */
static inline long
mp_find(const struct mp_side *s, enum mesh_event_type t, size_t k)
{
	for (size_t i = 0; i < s->n_ev; i++)
		if (s->ev[i].type == t && k-- == 0)
			return (long)i;
	return -1;
}

static inline size_t
mp_count(const struct mp_side *s, enum mesh_event_type t)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_ev; i++)
		n += s->ev[i].type == t;
	return n;
}

/* Reads everything s has buffered into out (cap bytes); returns count. */
static inline size_t
mp_read_all(struct mesh_stream *s, uint8_t *out, size_t cap, bool *eof)
{
	size_t got = 0;

	for (;;) {
		const uint8_t *p;
		size_t len;

		mesh_stream_read_peek(s, &p, &len, eof);
		if (len == 0)
			return got;
		if (len > cap - got)
			abort();
		memcpy(out + got, p, len);
		got += len;
		mesh_stream_read_consume(s, len);
	}
}

#endif
