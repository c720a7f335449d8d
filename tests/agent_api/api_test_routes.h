/* A route table shared by the API tests and the fuzz target: handlers
 * that echo what the dispatcher handed them, so tests see the request as
 * parsed.  Header-only so each test stays one executable. */
#ifndef WEFT_TESTS_API_TEST_ROUTES_H
#define WEFT_TESTS_API_TEST_ROUTES_H

#include <string.h>

#include "agent/api.h"
#include "common/err.h"

static int
test_echo(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	json_t *params = json_object();
	const char *xt = api_request_header(req, "x-test");

	for (size_t i = 0; params != NULL && i < req->nparams; i++)
		json_object_set_new(params, req->params[i].key,
		                    json_string(req->params[i].value));
	return api_reply_json(reply, 200,
	        json_pack("{s:s, s:s, s:s, s:o*, s:s%, s:i, s:s?}",
	                  "method", req->method, "path", req->path,
	                  "query", req->query, "params", params,
	                  "body", req->body, req->body_len,
	                  "uid", (json_int_t)req->peer_uid,
	                  "x-test", xt));
}

static int
test_leave(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	int *calls = ctx;

	if (calls != NULL)
		(*calls)++;
	return api_reply_json(reply, 200, json_pack("{s:b}", "left", 1));
}

static int
test_service(void *ctx, const struct api_request *req,
             struct api_reply *reply)
{
	const char *name = req->path + strlen("/v1/services/");

	if (strcmp(name, "missing") == 0)
		return WEFT_ENOENT;
	return api_reply_json(reply, 200, json_pack("{s:s}", "name", name));
}

static int
test_services(void *ctx, const struct api_request *req,
              struct api_reply *reply)
{
	return api_reply_json(reply, 200, json_pack("{s:[]}", "services"));
}

static int
test_json(void *ctx, const struct api_request *req, struct api_reply *reply)
{
	json_t *in;
	int rc = api_request_json(req, &in, reply);

	if (rc)
		return rc;
	return api_reply_json(reply, 201, json_pack("{s:o}", "got", in));
}

static const struct api_route test_routes[] = {
	{"GET", "/v1/health", false, api_health},
	{"GET", "/v1/echo", false, test_echo},
	{"POST", "/v1/echo", false, test_echo},
	{"POST", "/v1/leave", true, test_leave},
	{"GET", "/v1/services", false, test_services},
	{"GET", "/v1/services/", false, test_service},
	{"POST", "/v1/objects", true, test_json},
	{"GET", "/v1/events", false, api_events},
};

#define TEST_OWNER_UID 1000u

#endif
