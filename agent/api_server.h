/*
 * The local API server: HTTP/1.1 + JSON on a Unix socket, on libuv.
 *
 * Each client gets a pipe handle, its peer uid from SO_PEERCRED, an
 * api_conn (api.h) that turns its bytes into answers, two output buffers
 * (one being written, one filling) and a timer: a client that has not
 * completed a request within timeout_ms of connecting or of its last
 * answer is cut off, as is an event-stream client that lets more than
 * max_pending bytes pile up.  A client that does not read its answers
 * stops being read.  Handlers run to completion inside the read callback.
 *
 * libuv writes with write(2): the process must ignore SIGPIPE, or a client
 * that hangs up before its answer is written kills it.
 */
#ifndef WEFT_AGENT_API_SERVER_H
#define WEFT_AGENT_API_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "agent/api.h"
#include "common/list.h"
#include "common/log.h"

#define API_SERVER_TIMEOUT_MS_DEFAULT 10000
#define API_SERVER_MAX_CONNS_DEFAULT 64
#define API_SERVER_MAX_PENDING_DEFAULT (1u << 20)

/* Zero fields take the defaults. */
struct api_server_opts {
	size_t max_body;     /* request body cap; API_HTTP_MAX_BODY_DEFAULT */
	size_t max_header;   /* header block cap; API_HTTP_MAX_HEADER_DEFAULT */
	uint64_t timeout_ms; /* idle / slow client cut-off */
	unsigned max_conns;  /* beyond: an idle one makes room, else refused */
	size_t max_pending;  /* output queued per client before backing off */
};

struct api_server {
	/* Set by the caller before api_server_start (zeroed otherwise). */
	struct api_server_opts opts;
	const struct weft_log *log; /* NULL: silent */

	/* Why api_server_start failed, for the operator. */
	char error[256];

	/* Private. */
	uv_loop_t *loop;
	uv_pipe_t listener;
	bool listener_init;
	bool bound;    /* the socket file is ours to unlink */
	bool closing;
	uint64_t sock_dev; /* identify our socket file at close */
	uint64_t sock_ino;
	struct api_table table;
	char path[108];
	struct list clients;
	unsigned nclients; /* allocated, including those closing */
	unsigned nclosing; /* of those, closing */
	unsigned long refused;
	unsigned long displaced; /* idle clients closed to make room */
	struct api_out scratch; /* one event, serialised once per broadcast */
	void (*close_cb)(struct api_server *s);
};

/*
 * Creates path's parent directory if missing (0755), replaces a stale
 * socket file (one nothing answers on) but refuses a live one or any
 * other kind of file (WEFT_EEXIST), binds, sets mode 0660 and group
 * group_gid (-1: leave it), and listens.  routes (n entries) and ctx must
 * outlive the server.  On failure s->error says why and what; whatever
 * the result, finish with api_server_close().
 * Returns 0, WEFT_EEXIST, WEFT_ETOOBIG (path too long for a socket),
 * WEFT_EPERM or WEFT_EIO.
 */
int api_server_start(struct api_server *s, uv_loop_t *loop, const char *path,
                     int group_gid, const struct api_route *routes, size_t n,
                     void *ctx);

/*
 * Writes ev as one JSON line to every event-stream client.  Does not take
 * the reference.  A client whose backlog would pass max_pending is cut
 * off.  Returns the number of clients written to, or WEFT_EINVAL when ev
 * cannot be serialised, or WEFT_ENOMEM.
 */
int api_server_broadcast_event(struct api_server *s, const json_t *ev);

/*
 * Closes the listener and every client (their unsent output is dropped),
 * unlinks the socket file, and calls cb from the loop once no handle is
 * left: only then may s be freed.  cb may be NULL.
 */
void api_server_close(struct api_server *s, void (*cb)(struct api_server *s));

/* Clients now connected (for metrics and tests). */
unsigned api_server_clients(const struct api_server *s);

#endif
