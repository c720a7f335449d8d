/*
 * A client of weftd's local API (docs/API.md): HTTP/1.1 over the agent's
 * Unix socket, JSON bodies.  One request per connection.
 *
 * The reply parser is separate from the socket so that it can be fed any
 * bytes (tests, the fuzz target): it takes what arrives, in pieces of any
 * size, and either collects the body or, for a streamed 2xx reply, hands
 * over one line at a time as lines complete.
 */
#ifndef WEFT_TOOLS_API_CLIENT_H
#define WEFT_TOOLS_API_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <http_parser.h>
#include <jansson.h>

#define API_SOCKET_DEFAULT "/run/weft/weftd.sock"
/* A reply body past this is refused: no answer of the API comes near. */
#define API_BODY_MAX (16u << 20)
/* One event line of GET /v1/events. */
#define API_LINE_MAX (64u * 1024)
#define API_TIMEOUT_MS_DEFAULT 10000

/* Where the socket path came from, for messages. */
enum api_socket_source {
	API_SOCKET_FLAG,    /* --socket */
	API_SOCKET_ENV,     /* WEFT_SOCKET */
	API_SOCKET_XDG,     /* $XDG_RUNTIME_DIR/weft/weftd.sock */
	API_SOCKET_BUILTIN, /* API_SOCKET_DEFAULT */
};

/*
 * Chooses the socket: flag when given, else weft_socket (the value of
 * WEFT_SOCKET), else the default for root, else xdg_runtime_dir's
 * weft/weftd.sock, else the default.  Empty strings count as unset.
 * WEFT_ETOOBIG when the path does not fit cap or a sockaddr_un.
 */
int api_socket_choose(const char *flag, const char *weft_socket,
                      const char *xdg_runtime_dir, bool root, char *out,
                      size_t cap, enum api_socket_source *source);
/* "--socket", "WEFT_SOCKET", "XDG_RUNTIME_DIR", "the default". */
const char *api_socket_source_name(enum api_socket_source s);

/* Called once per complete line of a streamed reply, without the line
 * end; a nonzero return stops the reading and is passed back. */
typedef int (*api_line_fn)(void *ctx, const char *line, size_t len);

/*
 * The reply parser.  Owns body (free with api_reply_free).  With on_line
 * set, the body of a 2xx reply goes to on_line line by line instead of
 * into body; an error reply is still collected, for its message.
 */
struct api_reply {
	http_parser hp;
	http_parser_settings hs;
	api_line_fn on_line;
	void *line_ctx;
	int line_rc; /* what on_line returned to stop */
	int stop_rc; /* why a callback stopped the parser */
	int status;
	bool headers_done;
	bool complete;
	char *body; /* NUL-terminated; NULL until a byte arrives */
	size_t body_len, body_cap;
	char *line; /* a streamed line still waiting for its end */
	size_t line_len, line_cap;
	char why[224]; /* what was wrong, after WEFT_EMALFORMED/ETOOBIG */
};

void api_reply_init(struct api_reply *r, api_line_fn on_line, void *ctx);
void api_reply_free(struct api_reply *r);
/*
 * Feeds received bytes.  0 (check r->complete), WEFT_EMALFORMED or
 * WEFT_ETOOBIG with r->why set, WEFT_ENOMEM, or the nonzero value of
 * on_line.  Bytes after the reply is complete are ignored.
 */
int api_reply_feed(struct api_reply *r, const char *data, size_t len);
/* The connection ended: a reply that runs until the end is complete now;
 * WEFT_ETRUNC when the reply had not arrived whole. */
int api_reply_eof(struct api_reply *r);

/*
 * The body as JSON: a new reference in *out, or WEFT_EMALFORMED with
 * r->why set.  An empty body is WEFT_ENOENT.
 */
int api_reply_json(struct api_reply *r, json_t **out);
/*
 * The text of an error reply for people: the body's "error" string, or
 * the status line's meaning when there is none.
 */
void api_reply_error_text(const struct api_reply *r, char *out, size_t cap);

/* Which step of a request failed, to choose between "agent not
 * reachable" and "agent answered badly". */
enum api_fail {
	API_FAIL_NONE,
	API_FAIL_CONNECT, /* socket(), connect(): errno in sys_errno */
	API_FAIL_TIMEOUT, /* no whole reply within the timeout */
	API_FAIL_IO,      /* send/recv failed: errno in sys_errno */
	API_FAIL_CLOSED,  /* the agent closed before the reply was whole */
	API_FAIL_REPLY,   /* the reply is not HTTP we understand: why */
	API_FAIL_STOPPED, /* *stop was set (a signal) */
	API_FAIL_LINE,    /* on_line stopped it with line_rc */
};

struct api_failure {
	enum api_fail step;
	int sys_errno;
	char why[224];
};

struct api_call {
	const char *socket; /* the path */
	const char *method; /* "GET", "POST" */
	const char *path;   /* "/v1/members" */
	const json_t *body; /* sent as JSON when not NULL */
	int timeout_ms;     /* connect and whole reply; < 0 waits forever */
	/* A stream: when set, reading ends early once *stop is nonzero,
	 * and signals are taken only while waiting, with wait_mask as the
	 * signal mask (ppoll), so none is lost between check and wait. */
	const volatile sig_atomic_t *stop;
	const sigset_t *wait_mask;
};

/*
 * Connects, sends the request and reads the reply into r (initialised by
 * the caller, with on_line for a stream).  0 when a whole reply arrived,
 * whatever its status; otherwise a negative WEFT_E... with *fail saying
 * which step failed.
 */
int api_request(const struct api_call *c, struct api_reply *r,
                struct api_failure *fail);

#endif
