/*
 * The local API's pure path: request bytes through api_conn (reader,
 * dispatch, writer) to response bytes, which an independent http-parser
 * in response mode reads back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "api_test_routes.h"

#define MAX_RESP 8

struct resp {
	int status;
	char ctype[64];
	char conn[32];
	char allow[64];
	long long clen;
	char *body;
	size_t body_len;
	json_t *json;
};

struct resp_set {
	struct resp r[MAX_RESP];
	size_t n;
	char field[64];
	int want; /* which header value is being collected */
};

static int
r_begin(http_parser *p)
{
	struct resp_set *rs = p->data;

	assert_true(rs->n < MAX_RESP);
	memset(&rs->r[rs->n], 0, sizeof(rs->r[0]));
	rs->r[rs->n].clen = -1;
	return 0;
}

static int
r_field(http_parser *p, const char *at, size_t n)
{
	struct resp_set *rs = p->data;

	assert_true(n < sizeof(rs->field));
	memcpy(rs->field, at, n);
	rs->field[n] = '\0';
	return 0;
}

static void
copy_value(char *dst, size_t cap, const char *at, size_t n)
{
	assert_true(n < cap);
	memcpy(dst, at, n);
	dst[n] = '\0';
}

static int
r_value(http_parser *p, const char *at, size_t n)
{
	struct resp_set *rs = p->data;
	struct resp *r = &rs->r[rs->n];

	if (strcasecmp(rs->field, "content-type") == 0)
		copy_value(r->ctype, sizeof(r->ctype), at, n);
	else if (strcasecmp(rs->field, "connection") == 0)
		copy_value(r->conn, sizeof(r->conn), at, n);
	else if (strcasecmp(rs->field, "allow") == 0)
		copy_value(r->allow, sizeof(r->allow), at, n);
	else if (strcasecmp(rs->field, "content-length") == 0)
		r->clen = strtoll(at, NULL, 10);
	return 0;
}

static int
r_headers(http_parser *p)
{
	struct resp_set *rs = p->data;

	rs->r[rs->n].status = (int)p->status_code;
	return 0;
}

static int
r_body(http_parser *p, const char *at, size_t n)
{
	struct resp_set *rs = p->data;
	struct resp *r = &rs->r[rs->n];

	r->body = realloc(r->body, r->body_len + n + 1);
	assert_non_null(r->body);
	memcpy(r->body + r->body_len, at, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return 0;
}

static int
r_complete(http_parser *p)
{
	struct resp_set *rs = p->data;
	struct resp *r = &rs->r[rs->n];

	if (r->body != NULL && r->ctype[0] != '\0' &&
	    strcmp(r->ctype, "application/json") == 0)
		r->json = json_loadb(r->body, r->body_len, 0, NULL);
	rs->n++;
	return 0;
}

static const http_parser_settings resp_settings = {
	.on_message_begin = r_begin,
	.on_header_field = r_field,
	.on_header_value = r_value,
	.on_headers_complete = r_headers,
	.on_body = r_body,
	.on_message_complete = r_complete,
};

/* Parses every response in out; asserts the bytes are well formed. */
static void
parse_responses(const struct api_out *out, struct resp_set *rs)
{
	http_parser p;
	size_t n, off = 0;

	memset(rs, 0, sizeof(*rs));
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = rs;
	/* 100 Continue is interim: http-parser reads it as a message too. */
	while (off < out->len) {
		n = http_parser_execute(&p, &resp_settings, out->data + off,
		                        out->len - off);
		assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_OK);
		off += n;
	}
	/* End of stream completes a close-delimited (stream) response. */
	http_parser_execute(&p, &resp_settings, NULL, 0);
}

static void
free_responses(struct resp_set *rs)
{
	for (size_t i = 0; i < MAX_RESP; i++) {
		free(rs->r[i].body);
		json_decref(rs->r[i].json);
	}
}

struct run {
	struct api_conn conn;
	struct api_out out;
	struct resp_set rs;
	int leave_calls;
};

/* Feeds input in chunks of `chunk` bytes (0: all at once). */
static void
run_lim(struct run *run, const char *input, size_t len, size_t chunk,
        uint32_t uid, const struct api_http_limits *lim)
{
	struct api_table t = {test_routes,
	                      sizeof(test_routes) / sizeof(test_routes[0]),
	                      &run->leave_calls, TEST_OWNER_UID};

	memset(run, 0, sizeof(*run));
	t.ctx = &run->leave_calls;
	assert_int_equal(api_conn_init(&run->conn, lim, uid), 0);
	api_out_init(&run->out);
	if (chunk == 0)
		chunk = len ? len : 1;
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		assert_int_equal(api_conn_feed(&run->conn, &t, input + off, n,
		                               &run->out), 0);
	}
	parse_responses(&run->out, &run->rs);
}

static void
run_in(struct run *run, const char *input, size_t chunk, uint32_t uid)
{
	run_lim(run, input, strlen(input), chunk, uid, NULL);
}

static void
run_done(struct run *run)
{
	free_responses(&run->rs);
	api_out_free(&run->out);
	api_conn_fini(&run->conn);
}

static const char *
jstr(json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);

	assert_non_null(v);
	return json_string_value(v);
}

static void
test_simple_get(void **state)
{
	struct run run;

	run_in(&run, "GET /v1/health HTTP/1.1\r\nHost: weft\r\n\r\n", 0, 1000);
	assert_int_equal(run.rs.n, 1);
	assert_int_equal(run.rs.r[0].status, 200);
	assert_string_equal(run.rs.r[0].ctype, "application/json");
	assert_string_equal(run.rs.r[0].conn, "keep-alive");
	assert_int_equal(run.rs.r[0].clen, (long long)run.rs.r[0].body_len);
	assert_non_null(run.rs.r[0].json);
	assert_true(json_is_true(json_object_get(run.rs.r[0].json, "ok")));
	assert_false(run.conn.closing);
	assert_int_equal(run.conn.requests, 1);
	run_done(&run);
}

static void
test_keepalive_two_in_one_read(void **state)
{
	struct run run;

	run_in(&run, "GET /v1/health HTTP/1.1\r\n\r\n"
	             "GET /v1/services HTTP/1.1\r\n\r\n", 0, 1000);
	assert_int_equal(run.rs.n, 2);
	assert_int_equal(run.rs.r[0].status, 200);
	assert_non_null(json_object_get(run.rs.r[0].json, "ok"));
	assert_int_equal(run.rs.r[1].status, 200);
	assert_non_null(json_object_get(run.rs.r[1].json, "services"));
	assert_false(run.conn.closing);
	run_done(&run);
}

static const char pipeline[] =
	"GET /v1/echo?n=1 HTTP/1.1\r\nX-Test: first\r\n\r\n"
	"POST /v1/echo HTTP/1.1\r\nContent-Length: 3\r\n\r\ntwo"
	"GET /v1/services/three HTTP/1.1\r\n\r\n"
	"GET /v1/nope HTTP/1.1\r\n\r\n";

static void
check_pipeline(struct run *run)
{
	assert_int_equal(run->rs.n, 4);
	assert_int_equal(run->rs.r[0].status, 200);
	assert_string_equal(jstr(run->rs.r[0].json, "x-test"), "first");
	assert_string_equal(jstr(json_object_get(run->rs.r[0].json, "params"),
	                         "n"), "1");
	assert_string_equal(jstr(run->rs.r[1].json, "method"), "POST");
	assert_string_equal(jstr(run->rs.r[1].json, "body"), "two");
	assert_string_equal(jstr(run->rs.r[2].json, "name"), "three");
	assert_int_equal(run->rs.r[3].status, 404);
}

static void
test_pipelining_order(void **state)
{
	struct run run;

	run_in(&run, pipeline, 0, 1000);
	check_pipeline(&run);
	run_done(&run);
}

static void
test_byte_by_byte(void **state)
{
	struct run whole, bytes, sevens;

	run_in(&whole, pipeline, 0, 1000);
	run_in(&bytes, pipeline, 1, 1000);
	run_in(&sevens, pipeline, 7, 1000);
	check_pipeline(&bytes);
	assert_int_equal(bytes.out.len, whole.out.len);
	assert_memory_equal(bytes.out.data, whole.out.data, whole.out.len);
	assert_int_equal(sevens.out.len, whole.out.len);
	assert_memory_equal(sevens.out.data, whole.out.data, whole.out.len);
	run_done(&whole);
	run_done(&bytes);
	run_done(&sevens);
}

static char *
request_with_header(size_t value_len)
{
	const char *head = "GET /v1/health HTTP/1.1\r\nX-Big: ";
	size_t hl = strlen(head);
	char *req = malloc(hl + value_len + 5);

	assert_non_null(req);
	memcpy(req, head, hl);
	memset(req + hl, 'a', value_len);
	memcpy(req + hl + value_len, "\r\n\r\n", 5);
	return req;
}

static void
test_oversized_headers(void **state)
{
	struct run run;
	char *big = request_with_header(17000);
	char *fits = request_with_header(15000);
	char many[64 * 16 + 64];
	size_t off;

	run_in(&run, big, 1000, 1000);
	assert_int_equal(run.rs.n, 1);
	assert_int_equal(run.rs.r[0].status, 431);
	assert_string_equal(run.rs.r[0].conn, "close");
	assert_non_null(strstr(jstr(run.rs.r[0].json, "error"), "header"));
	assert_true(run.conn.closing);
	run_done(&run);

	run_in(&run, fits, 0, 1000);
	assert_int_equal(run.rs.n, 1);
	assert_int_equal(run.rs.r[0].status, 200);
	run_done(&run);

	off = (size_t)sprintf(many, "GET /v1/health HTTP/1.1\r\n");
	for (int i = 0; i < 65; i++)
		off += (size_t)sprintf(many + off, "H%d: v\r\n", i);
	memcpy(many + off, "\r\n", 3);
	run_in(&run, many, 0, 1000);
	assert_int_equal(run.rs.n, 1);
	assert_int_equal(run.rs.r[0].status, 431);
	assert_non_null(strstr(jstr(run.rs.r[0].json, "error"), "64"));
	run_done(&run);
	free(big);
	free(fits);
}

static void
test_oversized_body(void **state)
{
	struct run run;
	struct api_http_limits small = {0, 10};

	/* Refused from the Content-Length alone: the body is never sent. */
	run_in(&run, "POST /v1/echo HTTP/1.1\r\nContent-Length: 2000000\r\n"
	             "\r\n", 0, 1000);
	assert_int_equal(run.rs.n, 1);
	assert_int_equal(run.rs.r[0].status, 413);
	assert_string_equal(run.rs.r[0].conn, "close");
	assert_true(run.conn.closing);
	run_done(&run);

	/* A chunked body only shows its size as it comes. */
	run_lim(&run, "POST /v1/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	        "\r\n8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n",
	        strlen("POST /v1/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	               "\r\n8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n"),
	        0, 1000, &small);
	assert_int_equal(run.rs.n, 1);
	assert_int_equal(run.rs.r[0].status, 413);
	assert_non_null(strstr(jstr(run.rs.r[0].json, "error"), "10 bytes"));
	run_done(&run);

	/* Exactly at the limit is fine. */
	run_lim(&run, "POST /v1/echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n"
	        "0123456789", strlen("POST /v1/echo HTTP/1.1\r\n"
	        "Content-Length: 10\r\n\r\n0123456789"), 0, 1000, &small);
	assert_int_equal(run.rs.r[0].status, 200);
	assert_string_equal(jstr(run.rs.r[0].json, "body"), "0123456789");
	run_done(&run);
}

/* A big body, then a small one on the same connection: the reader's
 * buffer is given back in between and the second body is still right. */
static void
test_big_body_then_small(void **state)
{
	static char req[100000 + 200];
	struct api_http_limits lim = {0, 200000};
	size_t big = 100000;
	size_t off;
	struct run run;

	off = (size_t)sprintf(req, "POST /v1/echo HTTP/1.1\r\n"
	                           "Content-Length: %zu\r\n\r\n", big);
	memset(req + off, 'x', big);
	off += big;
	off += (size_t)sprintf(req + off, "POST /v1/echo HTTP/1.1\r\n"
	                                  "Content-Length: 2\r\n\r\nab");
	run_lim(&run, req, off, 4096, 1000, &lim);
	assert_int_equal(run.rs.n, 2);
	assert_int_equal(strlen(jstr(run.rs.r[0].json, "body")), big);
	assert_string_equal(jstr(run.rs.r[1].json, "body"), "ab");
	assert_true(run.conn.http.body_cap <= 64 * 1024);
	run_done(&run);
}

static void
test_garbage_400(void **state)
{
	static const char *const bad[] = {
		"FOO /v1/health HTTP/1.1\r\n\r\n",
		"\x01\x02\x03garbage\r\n\r\n",
		"GET /v1/health HTTP/2.0\r\n\r\n",
		"GET /v1/health HTTP/1.1\r\nBad Header: x\r\n\r\n",
		"GET /v1/serv%zzices HTTP/1.1\r\n\r\n",
		"GET /v1/services/a%00b HTTP/1.1\r\n\r\n",
		"GET /v1/echo?a=%4 HTTP/1.1\r\n\r\n",
		"POST /v1/echo HTTP/1.1\r\nContent-Length: x\r\n\r\n",
		"GET /v1/health HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade"
		"\r\n\r\n",
		"POST /v1/echo HTTP/1.1\r\nExpect: magic\r\nContent-Length: 1\r\n"
		"\r\nx",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run run;
		const char *err;

		print_message("bad request %zu\n", i);
		run_in(&run, bad[i], 0, 1000);
		assert_int_equal(run.rs.n, 1);
		assert_int_equal(run.rs.r[0].status, 400);
		assert_string_equal(run.rs.r[0].conn, "close");
		err = jstr(run.rs.r[0].json, "error");
		assert_true(strlen(err) > 5);
		assert_true(run.conn.closing);
		run_done(&run);
	}
}

static void
test_unknown_path_404(void **state)
{
	struct run run;

	run_in(&run, "GET /v2/health HTTP/1.1\r\n\r\n"
	             "GET /v1/services/missing HTTP/1.1\r\n\r\n"
	             "GET /v2/%ff%c3 HTTP/1.1\r\n\r\n", 0, 1000);
	assert_int_equal(run.rs.n, 3);
	/* Not UTF-8: the reason still names the path, bytes replaced. */
	assert_int_equal(run.rs.r[2].status, 404);
	assert_string_equal(jstr(run.rs.r[2].json, "error"),
	                    "no such endpoint: /v2/??");
	assert_int_equal(run.rs.r[0].status, 404);
	assert_string_equal(jstr(run.rs.r[0].json, "error"),
	                    "no such endpoint: /v2/health");
	assert_string_equal(run.rs.r[0].conn, "keep-alive");
	/* A handler's WEFT_ENOENT becomes 404 as well. */
	assert_int_equal(run.rs.r[1].status, 404);
	assert_string_equal(jstr(run.rs.r[1].json, "error"), "not found");
	assert_false(run.conn.closing);
	run_done(&run);
}

static void
test_wrong_method_405(void **state)
{
	struct run run;

	run_in(&run, "DELETE /v1/health HTTP/1.1\r\n\r\n"
	             "PUT /v1/echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 0,
	       1000);
	assert_int_equal(run.rs.n, 2);
	assert_int_equal(run.rs.r[0].status, 405);
	assert_string_equal(run.rs.r[0].allow, "GET");
	assert_int_equal(run.rs.r[1].status, 405);
	assert_string_equal(run.rs.r[1].allow, "GET, POST");
	assert_non_null(strstr(jstr(run.rs.r[1].json, "error"), "PUT"));
	run_done(&run);
}

static void
test_permissions(void **state)
{
	static const char req[] = "POST /v1/leave HTTP/1.1\r\n"
	                          "Content-Length: 0\r\n\r\n"
	                          "GET /v1/echo HTTP/1.1\r\n\r\n";
	struct run run;

	run_in(&run, req, 0, 1234);
	assert_int_equal(run.rs.n, 2);
	assert_int_equal(run.rs.r[0].status, 403);
	assert_string_equal(jstr(run.rs.r[0].json, "error"),
	                    "changing the agent needs the socket owner or root");
	assert_int_equal(run.leave_calls, 0);
	/* Reading stays open to anyone who can connect. */
	assert_int_equal(run.rs.r[1].status, 200);
	assert_int_equal(json_integer_value(json_object_get(run.rs.r[1].json,
	                                                    "uid")), 1234);
	run_done(&run);

	run_in(&run, req, 0, TEST_OWNER_UID);
	assert_int_equal(run.rs.r[0].status, 200);
	assert_int_equal(run.leave_calls, 1);
	run_done(&run);

	run_in(&run, req, 0, 0);
	assert_int_equal(run.rs.r[0].status, 200);
	assert_int_equal(run.leave_calls, 1);
	run_done(&run);
}

static void
test_chunked_body(void **state)
{
	static const char req[] =
		"POST /v1/objects HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\n{\"a\":\r\n4;ext=1\r\n[1]}\r\n0\r\nTrailer: x\r\n\r\n"
		"GET /v1/health HTTP/1.1\r\n\r\n";
	struct run run;

	for (size_t chunk = 0; chunk < 3; chunk++) {
		json_t *got;

		run_in(&run, req, chunk, TEST_OWNER_UID);
		assert_int_equal(run.rs.n, 2);
		assert_int_equal(run.rs.r[0].status, 201);
		got = json_object_get(run.rs.r[0].json, "got");
		assert_non_null(got);
		assert_int_equal(json_integer_value(json_array_get(
		        json_object_get(got, "a"), 0)), 1);
		assert_int_equal(run.rs.r[1].status, 200);
		run_done(&run);
	}
}

static void
test_bad_json_body(void **state)
{
	struct run run;

	run_in(&run, "POST /v1/objects HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
	             "{\"a\":", 0, 0);
	assert_int_equal(run.rs.r[0].status, 400);
	assert_non_null(strstr(jstr(run.rs.r[0].json, "error"),
	                       "not valid JSON"));
	assert_false(run.conn.closing);
	run_done(&run);
}

static void
test_query_string(void **state)
{
	struct run run;
	json_t *p;

	run_in(&run, "GET /v1/echo?kind=revocation&x=a%20b&y=c+d&flag&&=e"
	             " HTTP/1.1\r\n\r\n"
	             "GET /v1/services/we%62 HTTP/1.1\r\n\r\n"
	             "GET http://weft/v1/echo?kind=k HTTP/1.1\r\n\r\n", 0, 1000);
	assert_int_equal(run.rs.n, 3);
	assert_int_equal(run.rs.r[0].status, 200);
	assert_string_equal(jstr(run.rs.r[0].json, "query"),
	                    "kind=revocation&x=a%20b&y=c+d&flag&&=e");
	p = json_object_get(run.rs.r[0].json, "params");
	assert_int_equal(json_object_size(p), 5);
	assert_string_equal(jstr(p, "kind"), "revocation");
	assert_string_equal(jstr(p, "x"), "a b");
	assert_string_equal(jstr(p, "y"), "c d");
	assert_string_equal(jstr(p, "flag"), "");
	assert_string_equal(jstr(p, ""), "e");
	assert_string_equal(jstr(run.rs.r[1].json, "name"), "web");
	/* Absolute form, as some clients send it. */
	assert_string_equal(jstr(run.rs.r[2].json, "path"), "/v1/echo");
	assert_string_equal(jstr(json_object_get(run.rs.r[2].json, "params"),
	                         "kind"), "k");
	run_done(&run);
}

static void
test_connection_close(void **state)
{
	struct run run;

	run_in(&run, "GET /v1/health HTTP/1.1\r\nConnection: close\r\n\r\n"
	             "GET /v1/health HTTP/1.1\r\n\r\n", 0, 1000);
	assert_int_equal(run.rs.n, 1);
	assert_string_equal(run.rs.r[0].conn, "close");
	assert_true(run.conn.closing);
	run_done(&run);

	run_in(&run, "GET /v1/health HTTP/1.0\r\n\r\n", 0, 1000);
	assert_int_equal(run.rs.n, 1);
	assert_string_equal(run.rs.r[0].conn, "close");
	assert_true(run.conn.closing);
	run_done(&run);

	run_in(&run, "GET /v1/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	       0, 1000);
	assert_string_equal(run.rs.r[0].conn, "keep-alive");
	assert_false(run.conn.closing);
	run_done(&run);
}

static void
test_empty_header_value(void **state)
{
	struct run run;

	run_in(&run, "GET /v1/echo HTTP/1.1\r\nX-Empty:\r\nX-Test: seen\r\n\r\n",
	       0, 1000);
	assert_int_equal(run.rs.r[0].status, 200);
	assert_string_equal(jstr(run.rs.r[0].json, "x-test"), "seen");
	run_done(&run);
}

static void
test_expect_continue(void **state)
{
	static const char head[] = "POST /v1/echo HTTP/1.1\r\nContent-Length: 4"
	                           "\r\nExpect: 100-continue\r\n\r\n";
	struct api_table t = {test_routes,
	                      sizeof(test_routes) / sizeof(test_routes[0]),
	                      NULL, TEST_OWNER_UID};
	struct api_conn c;
	struct api_out out;
	struct resp_set rs;

	assert_int_equal(api_conn_init(&c, NULL, 1000), 0);
	api_out_init(&out);
	assert_int_equal(api_conn_feed(&c, &t, head, strlen(head), &out), 0);
	assert_true(out.len > 0);
	assert_memory_equal(out.data, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	assert_int_equal(api_conn_feed(&c, &t, "body", 4, &out), 0);
	parse_responses(&out, &rs);
	assert_int_equal(rs.n, 2);
	assert_int_equal(rs.r[0].status, 100);
	assert_int_equal(rs.r[1].status, 200);
	assert_string_equal(jstr(rs.r[1].json, "body"), "body");
	free_responses(&rs);
	api_out_free(&out);
	api_conn_fini(&c);
}

static void
test_event_stream(void **state)
{
	struct run run;
	json_t *ev = json_pack("{s:s, s:s}", "type", "member", "name", "web-1");

	run_in(&run, "GET /v1/events HTTP/1.1\r\n\r\n"
	             "GET /v1/health HTTP/1.1\r\n\r\n", 0, 1000);
	assert_true(run.conn.stream);
	assert_int_equal(api_put_event(&run.out, ev), 0);
	free_responses(&run.rs);
	parse_responses(&run.out, &run.rs);
	/* The pipelined request after the stream request is ignored. */
	assert_int_equal(run.rs.n, 1);
	assert_int_equal(run.rs.r[0].status, 200);
	assert_string_equal(run.rs.r[0].ctype, "application/x-ndjson");
	assert_int_equal(run.rs.r[0].clen, -1);
	assert_string_equal(run.rs.r[0].body,
	                    "{\"type\":\"member\",\"name\":\"web-1\"}\n");
	json_decref(ev);
	run_done(&run);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_keepalive_two_in_one_read),
		cmocka_unit_test(test_pipelining_order),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_oversized_headers),
		cmocka_unit_test(test_oversized_body),
		cmocka_unit_test(test_big_body_then_small),
		cmocka_unit_test(test_garbage_400),
		cmocka_unit_test(test_unknown_path_404),
		cmocka_unit_test(test_wrong_method_405),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_chunked_body),
		cmocka_unit_test(test_bad_json_body),
		cmocka_unit_test(test_query_string),
		cmocka_unit_test(test_connection_close),
		cmocka_unit_test(test_empty_header_value),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_event_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
