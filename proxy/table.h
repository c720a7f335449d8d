/*
 * The proxy's tables: an immutable snapshot of service endpoints,
 * intentions and the services this node serves locally.
 *
 * The agent builds a snapshot from gossip state and its own config with
 * table_new(), which copies everything it is given, and swaps it in
 * (mesh_node_set_table()).  Whoever keeps a snapshot holds a reference:
 * streams keep the one they started with, so a swap never changes the
 * rules under a stream in flight.  The count is atomic: data-plane
 * workers on several threads share one snapshot, read only.
 */
#ifndef WEFT_PROXY_TABLE_H
#define WEFT_PROXY_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/key.h"
#include "crypto/noise.h"
#include "proxy/authz_l7.h"
#include "proxy/route.h"

#define TABLE_ADDR_MAX 63 /* "host:port" of a mesh listener */
#define TABLE_HOST_MAX 63
/* Caps on what one snapshot may hold, so a bad cluster object cannot
 * make the agent build an unbounded table. */
#define TABLE_MAX_ENDPOINTS 65536
#define TABLE_MAX_INTENTIONS 16384
#define TABLE_MAX_LOCAL 1024
#define TABLE_MAX_ROUTES 4096
#define TABLE_MAX_LABELS ROUTE_MAX_LABELS /* per endpoint */
#define TABLE_LABEL_MAX 63                /* a label key or value */

enum table_action {
	TABLE_DENY = 0,
	TABLE_ALLOW = 1,
};

/* The member's state as gossip last saw it. */
enum table_member {
	TABLE_MEMBER_ALIVE = 0,
	TABLE_MEMBER_SUSPECT,
	TABLE_MEMBER_DEAD, /* kept only so a listing can show it */
};

struct table_endpoint {
	const char *service;
	const char *node;              /* node name from its certificate */
	uint8_t key_id[KEY_ID_LEN];    /* the node's key id */
	uint8_t static_pk[NOISE_DHLEN]; /* its Noise static key (IK) */
	const char *mesh_addr;         /* its mesh listener, "host:port" */
	uint16_t port;                 /* the service's port there */
	uint32_t weight;               /* 0: drained, picked only if all are */
	bool healthy;                  /* the service's health check */
	bool ejected;                  /* outlier detection took it out */
	enum table_member member;
	/* Subset labels from the member record ("key=value" there); keys
	 * unique.  Route targets pick endpoints by them. */
	const struct route_label *labels;
	size_t n_labels;
};

/* source: a service name, "group:NAME" or "*"; destination: a service
 * name or "*". name is the cluster object's name (for reasons). */
struct table_intention {
	const char *name;
	const char *source;
	const char *destination;
	enum table_action action;
	/* L7 rules of an allow intention ("http" in the object): a request
	 * passes when one rule allows it; none: no L7 restriction. */
	const struct authz_l7_rule *http;
	size_t n_http;
};

/* What a local service speaks; the remote side talks to its app so. */
enum table_protocol {
	TABLE_PROTO_TCP = 0,
	TABLE_PROTO_HTTP,
	TABLE_PROTO_HTTP2,
	TABLE_PROTO_GRPC,
};

/* A service this node serves: where inbound streams for it connect. */
struct table_local {
	const char *service;
	const char *host; /* NULL: "127.0.0.1" */
	uint16_t port;
	enum table_protocol protocol;
};

/* What table_new() copies; nothing here is kept. */
struct table_spec {
	const struct table_endpoint *endpoints;
	size_t n_endpoints;
	const struct table_intention *intentions;
	size_t n_intentions;
	const struct table_local *locals;
	size_t n_locals;
	/* Route objects, each valid by route_validate(). */
	const struct route_spec *routes;
	size_t n_routes;
	enum table_action default_action;
	uint64_t version; /* the agent's own counter, shown in listings */
	/* Key ids of revoked certificates: a data-plane worker checks a
	 * handshaking peer against its snapshot, never the gossip state. */
	const uint8_t (*revoked)[KEY_ID_LEN];
	size_t n_revoked;
};

struct table;

/*
 * Copies spec into a new snapshot with one reference (deep: route specs,
 * labels and L7 rules too).  A name that is not a DNS label, a source or
 * destination not of the forms above, an address over TABLE_ADDR_MAX, a
 * local service listed twice, a label with an empty or long key or value
 * or a key twice, an L7 rule over the caps of proxy/authz_l7.h, a route
 * route_validate() refuses, or a count over the caps: WEFT_EINVAL, with
 * *why (when not NULL) pointing at a static sentence and *bad_index at
 * the offending entry of its array.  The agent skips bad cluster objects
 * before this, so one of them cannot take the whole snapshot down.
 */
int table_new(const struct table_spec *spec, struct table **out,
              const char **why, size_t *bad_index);
/* Takes one more reference; returns t.  NULL is fine. */
struct table *table_ref(struct table *t);
/* Drops one reference; the last one frees the snapshot.  NULL is fine. */
void table_unref(struct table *t);
unsigned table_refcount(const struct table *t);

uint64_t table_version(const struct table *t);
/* Whether the snapshot lists key_id as revoked (false for a NULL t). */
bool table_is_revoked(const struct table *t,
                      const uint8_t key_id[KEY_ID_LEN]);
enum table_action table_default_action(const struct table *t);

/* The endpoints of service, in a stable order (n 0 when unknown).  The
 * array lives as long as the snapshot. */
void table_endpoints(const struct table *t, const char *service,
                     const struct table_endpoint **eps, size_t *n);
void table_intentions(const struct table *t,
                      const struct table_intention **its, size_t *n);
/* The local service called service, or NULL. */
const struct table_local *table_local(const struct table *t,
                                      const char *service);

/*
 * The route object for virtual service service, or NULL when it has none
 * (then requests go to any healthy endpoint of the service).  When
 * several route objects name the same service, the one whose name sorts
 * lowest (strcmp) wins.  Lives as long as the snapshot.
 */
const struct route_spec *table_route(const struct table *t,
                                     const char *service);
/* Every route object, sorted by service then name (listings). */
void table_routes(const struct table *t, const struct route_spec **routes,
                  size_t *n);

/* Whether ep carries every one of labels (n 0: true). */
bool table_endpoint_matches(const struct table_endpoint *ep,
                            const struct route_label *labels, size_t n);

/* "tcp", "http", "http2", "grpc"; and back (WEFT_EINVAL when unknown). */
const char *table_protocol_name(enum table_protocol p);
int table_protocol_parse(const char *s, enum table_protocol *out);

#endif
