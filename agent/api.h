/*
 * The local API's routes and dispatch, without I/O.
 *
 * A route table maps method and path to a handler.  The dispatcher finds
 * the route (404 for an unknown path, 405 for a known path with another
 * method), refuses a route that changes the agent to a peer that is
 * neither root nor the socket's owner (403), calls the handler and turns
 * its reply into HTTP bytes.  api_conn ties the HTTP reader to the
 * dispatcher for one connection: bytes in, response bytes out; the server
 * (api_server.h) adds the socket, and the fuzz target drives it directly.
 */
#ifndef WEFT_AGENT_API_H
#define WEFT_AGENT_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/api_http.h"
#include "common/log.h"

/*
 * What a handler answers.  The dispatcher sets status 200, body NULL and
 * stream false before the call.  The handler sets body to a new reference
 * (or uses api_reply_json / api_reply_error); the dispatcher serialises it
 * and drops the reference.  A NULL body is sent as {} (nothing for 204).
 *
 * text, when set instead of body, is sent as it is with content_type
 * (e.g. Prometheus metrics); the dispatcher frees it with free().
 *
 * stream = true turns the connection into an event stream (GET /v1/events):
 * the head is sent without a length, the body (if any) as the first line,
 * and afterwards the server writes one JSON per line for every
 * api_server_broadcast_event(); input on that connection is ignored.
 */
struct api_reply {
	int status;
	json_t *body;
	bool stream;
	char allow[64]; /* set by the dispatcher for 405 */
	char *text;               /* owned; see above */
	size_t text_len;
	const char *content_type; /* static; for text */
};

/*
 * A handler returns 0 (reply as set), or a negative WEFT_E... code: then a
 * reply without a body becomes an error reply whose status follows the
 * code (EINVAL/EMALFORMED/ERANGE 400, EPERM/EPOLICY 403, ENOENT 404,
 * EEXIST 409, ETOOBIG 413, others 500).
 */
typedef int api_handler_fn(void *ctx, const struct api_request *req,
                           struct api_reply *reply);

struct api_route {
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* exact, or a prefix when it ends in '/' */
	bool changes;       /* needs the socket owner or root */
	api_handler_fn *fn;
};

struct api_table {
	const struct api_route *routes; /* not owned */
	size_t n;
	void *ctx;          /* handed to every handler */
	uint32_t owner_uid; /* the socket file's owner */
};

/* Sets status and body; takes the reference to body (NULL: WEFT_ENOMEM
 * and a 500 reply).  Returns 0 or WEFT_ENOMEM. */
int api_reply_json(struct api_reply *reply, int status, json_t *body);
/* Sets status and {"error": "<formatted reason>"}; returns 0. */
int api_reply_error(struct api_reply *reply, int status, const char *fmt, ...)
	WEFT_PRINTF(3, 4);
/*
 * Parses the request body as JSON into *out (a new reference).  On failure
 * fills a 400 reply naming what is wrong and returns WEFT_EMALFORMED, so a
 * handler can just return that code.
 */
int api_request_json(const struct api_request *req, json_t **out,
                     struct api_reply *reply);

/* Finds the route and runs it; the reply is always filled. */
void api_dispatch(const struct api_table *t, const struct api_request *req,
                  struct api_reply *reply);

/* Appends the HTTP form of a reply (or a stream head) and drops its body
 * reference.  keep_alive false adds Connection: close. */
int api_put_reply(struct api_out *out, struct api_reply *reply,
                  bool keep_alive);
/* Appends ev as one compact JSON line; does not take the reference. */
int api_put_event(struct api_out *out, const json_t *ev);

/* Built-in handlers: {"ok": true}, and an event stream. */
int api_health(void *ctx, const struct api_request *req,
               struct api_reply *reply);
int api_events(void *ctx, const struct api_request *req,
               struct api_reply *reply);

/* One client connection's protocol state.  Fields are read-only outside. */
struct api_conn {
	struct api_http http;
	uint32_t peer_uid;
	bool closing;       /* answer sent with Connection: close: stop reading */
	bool stream;        /* an event stream: write events, ignore input */
	unsigned long requests; /* complete requests answered */
	int error_status;   /* the HTTP-level refusal (400, 413, 431...) or 0 */
	size_t error_at;    /* out->len where that refusal's answer starts */
};

int api_conn_init(struct api_conn *c, const struct api_http_limits *lim,
                  uint32_t peer_uid);
void api_conn_fini(struct api_conn *c);
/*
 * Feeds bytes read from the client and appends every answer to out, in
 * request order.  Stops reading (ignores the rest) once closing or stream
 * is set.  Returns 0, or WEFT_ENOMEM / WEFT_ETOOBIG when an answer could
 * not be built: then drop the connection.
 */
int api_conn_feed(struct api_conn *c, const struct api_table *t,
                  const char *data, size_t len, struct api_out *out);

#endif
