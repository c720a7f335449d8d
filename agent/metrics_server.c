/*
 * Prometheus over TCP when metrics_addr is set: a tiny HTTP/1.1 responder
 * that serves GET /metrics and nothing else, one request per connection.
 * The request is read with the local API's reader (api_http.h).  A client
 * that has not sent a whole request within CLIENT_TIMEOUT_MS is cut off,
 * and at most MAX_CLIENTS are served at once.
 */
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/api_http.h"
#include "common/err.h"

#define MAX_CLIENTS 16
#define CLIENT_TIMEOUT_MS 10000
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_server {
	struct agent *a;
	uv_tcp_t listener;
	struct list clients;
	unsigned n;
	bool closing;
	unsigned open; /* listener + clients' handles */
};

struct mclient {
	struct list link;
	struct metrics_server *s;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wreq;
	struct api_http http;
	struct api_out out;
	unsigned open;
	bool answered;
	char rbuf[4096];
};

static void
maybe_free_server(struct metrics_server *s)
{
	if (s->closing && s->open == 0)
		free(s);
}

static void
on_client_closed(uv_handle_t *h)
{
	struct mclient *c = h->data;
	struct metrics_server *s = c->s;

	if (--c->open > 0)
		return;
	api_http_fini(&c->http);
	api_out_free(&c->out);
	free(c);
	s->open--;
	maybe_free_server(s);
}

static void
client_close(struct mclient *c)
{
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	list_remove(&c->link);
	c->s->n--;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, on_client_closed);
	uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void
on_written(uv_write_t *w, int status)
{
	(void)status;
	client_close(w->data);
}

static void
answer(struct mclient *c, const struct api_request *req)
{
	struct metrics_writer w;
	const char *body;
	size_t len;
	int status = 200;
	uv_buf_t b;

	metrics_writer_init(&w);
	if (req == NULL) {
		const char *reason;

		status = api_http_error(&c->http, &reason);
		body = reason;
		len = strlen(reason);
	} else if (strcmp(req->path, "/metrics") != 0) {
		status = 404;
		body = "only /metrics is served here\n";
		len = strlen(body);
	} else if (strcmp(req->method, "GET") != 0 &&
	           strcmp(req->method, "HEAD") != 0) {
		status = 405;
		body = "GET /metrics\n";
		len = strlen(body);
	} else {
		metrics_render(&c->s->a->metrics, &w);
		body = w.data ? w.data : "";
		len = w.len;
	}
	c->answered = true;
	if (api_http_put_head(&c->out, status, status == 200 ? CONTENT_TYPE
	                      : "text/plain; charset=utf-8", (long long)len,
	                      false, status == 405 ? "Allow: GET, HEAD\r\n"
	                                           : NULL) != 0 ||
	    (req == NULL || strcmp(req->method, "HEAD") != 0 ?
	     api_out_put(&c->out, body, len) : 0) != 0) {
		metrics_writer_fini(&w);
		client_close(c);
		return;
	}
	metrics_writer_fini(&w);
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->wreq.data = c;
	b = uv_buf_init(c->out.data, (unsigned)c->out.len);
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
		client_close(c);
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct mclient *c = h->data;

	(void)hint;
	*b = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void
on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct mclient *c = st->data;
	const struct api_request *req = NULL;
	size_t used;

	if (c->answered)
		return;
	if (n < 0) {
		client_close(c);
		return;
	}
	if (api_http_feed(&c->http, b->base, (size_t)n, &used, &req) < 0) {
		answer(c, NULL);
		return;
	}
	if (req != NULL)
		answer(c, req);
}

static void
on_timeout(uv_timer_t *t)
{
	client_close(t->data);
}

static void
on_connection(uv_stream_t *l, int status)
{
	struct metrics_server *s = l->data;
	struct mclient *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->s = s;
	uv_tcp_init(l->loop, &c->tcp);
	uv_timer_init(l->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->open = 2;
	s->open++;
	s->n++;
	list_insert_tail(&s->clients, &c->link);
	api_out_init(&c->out);
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
	    api_http_init(&c->http, NULL) != 0 || s->n > MAX_CLIENTS) {
		c->answered = true;
		client_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_timeout, CLIENT_TIMEOUT_MS, 0);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void
on_listener_closed(uv_handle_t *h)
{
	struct metrics_server *s = h->data;

	s->open--;
	maybe_free_server(s);
}

int
agent_metrics_listen(struct agent *a)
{
	struct metrics_server *s;
	struct gossip_addr ga;
	struct sockaddr_storage ss;
	char addr[72];
	int rc;

	if (!a->cfg.has_metrics_addr)
		return 0;
	if (agent_addr_from_hostport(&a->cfg.metrics_addr, &ga) != 0 ||
	    agent_addr_to_sockaddr(&ga, &ss) != 0)
		return WEFT_EINVAL;
	agent_addr_format(&ga, addr, sizeof(addr));
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return WEFT_ENOMEM;
	s->a = a;
	list_init(&s->clients);
	uv_tcp_init(a->loop, &s->listener);
	s->listener.data = s;
	s->open = 1;
	rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, 64, on_connection);
	if (rc) {
		weft_logf(&a->log, WEFT_LOG_ERROR, "msg=\"cannot serve metrics\" "
		          "metrics_addr=%s reason=\"%s\"", addr, uv_strerror(rc));
		s->closing = true;
		uv_close((uv_handle_t *)&s->listener, on_listener_closed);
		return WEFT_EIO;
	}
	weft_logf(&a->log, WEFT_LOG_INFO, "msg=\"serving metrics\" "
	          "metrics_addr=%s", addr);
	a->msrv = s;
	return 0;
}

void
agent_metrics_unlisten(struct agent *a)
{
	struct metrics_server *s = a->msrv;
	struct list *p, *tmp;

	if (s == NULL)
		return;
	a->msrv = NULL;
	s->closing = true;
	list_foreach_safe(p, tmp, &s->clients)
		client_close(list_entry(p, struct mclient, link));
	uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}
