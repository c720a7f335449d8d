/*
 * Route lookup, access check and reply serialisation for the local API.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/api.h"
#include "common/err.h"

#define JSON_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* Used when even the error reply could not be built. */
static const char oom_body[] = "{\"error\":\"out of memory building the "
                               "reply\"}\n";

int
api_reply_json(struct api_reply *reply, int status, json_t *body)
{
	json_decref(reply->body);
	reply->body = body;
	if (body == NULL) {
		reply->status = 500;
		return WEFT_ENOMEM;
	}
	reply->status = status;
	return 0;
}

int
api_reply_error(struct api_reply *reply, int status, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_decref(reply->body);
	reply->body = json_pack("{s:s}", "error", msg);
	if (reply->body == NULL) {
		/* json_string refuses invalid UTF-8, which a reason quoting
		 * client bytes may hold: those bytes become '?'. */
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		reply->body = json_pack("{s:s}", "error", msg);
	}
	reply->status = status;
	return 0;
}

int
api_request_json(const struct api_request *req, json_t **out,
                 struct api_reply *reply)
{
	json_error_t jerr;

	*out = NULL;
	if (req->body_len == 0) {
		api_reply_error(reply, 400, "request body is empty: JSON expected");
		return WEFT_EMALFORMED;
	}
	*out = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES,
	                  &jerr);
	if (*out == NULL) {
		api_reply_error(reply, 400,
		                "request body is not valid JSON: %s at line %d "
		                "column %d", jerr.text, jerr.line, jerr.column);
		return WEFT_EMALFORMED;
	}
	return 0;
}

static int
status_for(int rc)
{
	switch (rc) {
	case WEFT_EINVAL:
	case WEFT_EMALFORMED:
	case WEFT_ETRUNC:
	case WEFT_ERANGE: return 400;
	case WEFT_EPERM:
	case WEFT_EPOLICY: return 403;
	case WEFT_ENOENT: return 404;
	case WEFT_EEXIST: return 409;
	case WEFT_ETOOBIG: return 413;
	default: return 500;
	}
}

/* How well a route's path matches: exact beats any prefix, longer
 * prefixes beat shorter ones; 0 is no match. */
static size_t
path_score(const char *route, const char *path)
{
	size_t n = strlen(route);

	if (n > 0 && route[n - 1] == '/')
		return strncmp(route, path, n) == 0 ? n : 0;
	return strcmp(route, path) == 0 ? (size_t)-1 : 0;
}

static void
add_allow(struct api_reply *reply, const char *method)
{
	size_t len = strlen(reply->allow);

	if (strstr(reply->allow, method) != NULL)
		return;
	snprintf(reply->allow + len, sizeof(reply->allow) - len, "%s%s",
	         len ? ", " : "", method);
}

void
api_dispatch(const struct api_table *t, const struct api_request *req,
             struct api_reply *reply)
{
	const struct api_route *route = NULL;
	const char *best_path = NULL;
	size_t best = 0;
	int rc;

	reply->status = 200;
	reply->body = NULL;
	reply->text = NULL;
	reply->text_len = 0;
	reply->content_type = NULL;
	reply->stream = false;
	reply->allow[0] = '\0';
	for (size_t i = 0; i < t->n; i++) {
		size_t s = path_score(t->routes[i].path, req->path);

		if (s > best) {
			best = s;
			best_path = t->routes[i].path;
		}
	}
	if (best_path == NULL) {
		api_reply_error(reply, 404, "no such endpoint: %s", req->path);
		return;
	}
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->routes[i].path, best_path) != 0)
			continue;
		if (strcmp(t->routes[i].method, req->method) == 0) {
			route = &t->routes[i];
			break;
		}
		add_allow(reply, t->routes[i].method);
	}
	if (route == NULL) {
		api_reply_error(reply, 405, "%s is not allowed on %s (allowed: %s)",
		                req->method, req->path, reply->allow);
		return;
	}
	reply->allow[0] = '\0';
	if (route->changes && req->peer_uid != 0 &&
	    req->peer_uid != t->owner_uid) {
		api_reply_error(reply, 403, "changing the agent needs the socket "
		                "owner or root");
		return;
	}
	rc = route->fn(t->ctx, req, reply);
	if (rc < 0 && (reply->body == NULL || reply->status < 400)) {
		int status = status_for(rc);

		if (reply->body == NULL)
			api_reply_error(reply, status, "%s", weft_strerror(rc));
		reply->status = status;
		reply->stream = false;
	}
	if (reply->status < 200 || reply->status > 599) {
		api_reply_error(reply, 500, "handler gave status %d",
		                reply->status);
		reply->stream = false;
	}
}

static int
put_fallback(struct api_out *out)
{
	return api_http_put_response(out, 500, oom_body, sizeof(oom_body) - 1,
	                             false);
}

int
api_put_event(struct api_out *out, const json_t *ev)
{
	size_t n = json_dumpb(ev, NULL, 0, JSON_FLAGS);
	int rc;

	if (n == 0)
		return WEFT_EINVAL;
	if ((rc = api_out_reserve(out, n + 1)))
		return rc;
	if (json_dumpb(ev, out->data + out->len, n, JSON_FLAGS) != n)
		return WEFT_EINVAL;
	out->len += n;
	out->data[out->len++] = '\n';
	return 0;
}

static int
put_stream(struct api_out *out, struct api_reply *reply)
{
	int rc = api_http_put_head(out, reply->status, "application/x-ndjson",
	                           -1, false, "Cache-Control: no-cache\r\n");

	if (rc == 0 && reply->body != NULL)
		rc = api_put_event(out, reply->body);
	json_decref(reply->body);
	reply->body = NULL;
	return rc;
}

int
api_put_reply(struct api_out *out, struct api_reply *reply, bool keep_alive)
{
	char extra[96] = "";
	size_t n = 0, start = out->len;
	int rc;

	if (reply->text != NULL && !reply->stream && reply->body == NULL) {
		rc = api_http_put_head(out, reply->status, reply->content_type ?
		                       reply->content_type : "text/plain",
		                       (long long)reply->text_len, keep_alive,
		                       NULL);
		if (rc == 0)
			rc = api_out_put(out, reply->text, reply->text_len);
		free(reply->text);
		reply->text = NULL;
		return rc;
	}
	free(reply->text);
	reply->text = NULL;
	if (reply->stream)
		return put_stream(out, reply);
	if (reply->allow[0] != '\0')
		snprintf(extra, sizeof(extra), "Allow: %s\r\n", reply->allow);
	if (reply->status == 204 || reply->status == 304) {
		json_decref(reply->body);
		reply->body = NULL;
		return api_http_put_head(out, reply->status, NULL, -1, keep_alive,
		                         extra);
	}
	if (reply->body != NULL) {
		n = json_dumpb(reply->body, NULL, 0, JSON_FLAGS);
		if (n == 0) {
			/* NaN, or nesting past jansson's depth limit. */
			api_reply_error(reply, 500, "reply could not be serialised");
			n = json_dumpb(reply->body, NULL, 0, JSON_FLAGS);
		}
	}
	rc = api_http_put_head(out, reply->status, "application/json",
	                       (long long)(n ? n + 1 : 3), keep_alive, extra);
	if (rc == 0)
		rc = api_out_reserve(out, (n ? n : 2) + 1);
	if (rc == 0 && n) {
		if (json_dumpb(reply->body, out->data + out->len, n, JSON_FLAGS)
		    != n)
			rc = WEFT_EINVAL;
		else
			out->len += n;
	} else if (rc == 0) {
		memcpy(out->data + out->len, "{}", 2);
		out->len += 2;
	}
	if (rc == 0)
		out->data[out->len++] = '\n';
	json_decref(reply->body);
	reply->body = NULL;
	if (rc == WEFT_EINVAL) {
		out->len = start;
		return put_fallback(out);
	}
	return rc;
}

int
api_health(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	return api_reply_json(reply, 200, json_pack("{s:b}", "ok", 1));
}

int
api_events(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	reply->stream = true;
	return 0;
}

int
api_conn_init(struct api_conn *c, const struct api_http_limits *lim,
              uint32_t peer_uid)
{
	int rc;

	memset(c, 0, sizeof(*c));
	rc = api_http_init(&c->http, lim);
	c->peer_uid = peer_uid;
	return rc;
}

void
api_conn_fini(struct api_conn *c)
{
	api_http_fini(&c->http);
}

static int
answer_error(struct api_conn *c, struct api_out *out)
{
	struct api_reply reply = {0};
	const char *reason;
	int status = api_http_error(&c->http, &reason);

	api_reply_error(&reply, status, "%s", reason);
	c->closing = true;
	c->error_status = status;
	c->error_at = out->len;
	return api_put_reply(out, &reply, false);
}

int
api_conn_feed(struct api_conn *c, const struct api_table *t, const char *data,
              size_t len, struct api_out *out)
{
	while (len > 0 && !c->closing && !c->stream) {
		const struct api_request *req;
		struct api_request r;
		struct api_reply reply;
		size_t used;
		int rc = api_http_feed(&c->http, data, len, &used, &req);

		if (rc < 0)
			return answer_error(c, out);
		data += used;
		len -= used;
		if (req == NULL) {
			if (api_http_take_continue(&c->http))
				return api_http_put_continue(out);
			break;
		}
		r = *req;
		r.peer_uid = c->peer_uid;
		api_dispatch(t, &r, &reply);
		c->requests++;
		if (reply.stream)
			c->stream = true;
		else if (!r.keep_alive)
			c->closing = true;
		if ((rc = api_put_reply(out, &reply, r.keep_alive)))
			return rc;
	}
	return 0;
}
