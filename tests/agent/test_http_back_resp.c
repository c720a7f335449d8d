/*
 * An HTTP/1.1 app's response read for the mesh (agent/http_back_resp.c):
 * framing, interim responses, upgrades, trailers, the fields that must not
 * cross, and every refusal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/http_back_resp.h"
#include "common/err.h"

/* What the sink saw, copied out. */
struct seen {
	int heads, ends;
	int status;
	bool upgraded, keep_alive, has_body;
	char hdrs[1024];  /* "name=value;" */
	char trail[256];
	char body[4096];
	size_t body_len;
};

static void
fields(char *out, size_t cap, const nghttp2_nv *nv, size_t n)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(out);

		snprintf(out + l, cap - l, "%.*s=%.*s;", (int)nv[i].namelen,
		         nv[i].name, (int)nv[i].valuelen, nv[i].value);
	}
}

static int
s_head(void *ctx, const struct http_resp_head *h)
{
	struct seen *s = ctx;

	s->heads++;
	s->status = h->status;
	s->upgraded = h->upgraded;
	s->keep_alive = h->keep_alive;
	s->has_body = h->has_body;
	fields(s->hdrs, sizeof(s->hdrs), h->nv, h->n);
	return 0;
}

static int
s_body(void *ctx, const uint8_t *p, size_t n)
{
	struct seen *s = ctx;

	assert_true(s->body_len + n <= sizeof(s->body));
	memcpy(s->body + s->body_len, p, n);
	s->body_len += n;
	return 0;
}

static int
s_end(void *ctx, const nghttp2_nv *t, size_t n)
{
	struct seen *s = ctx;

	s->ends++;
	fields(s->trail, sizeof(s->trail), t, n);
	return 0;
}

static struct http_resp *
mk(struct seen *s)
{
	struct http_resp_sink sink = {s_head, s_body, s_end, s};
	struct http_resp *r;

	memset(s, 0, sizeof(*s));
	assert_int_equal(http_resp_new(&sink, &r), 0);
	return r;
}

/* Feeds text whole, or a byte at a time; returns the result and what
 * was taken. */
static int
feed(struct http_resp *r, const char *text, bool bytewise, size_t *taken)
{
	size_t n = strlen(text), off = 0, c;
	int rc = 0;

	if (!bytewise) {
		rc = http_resp_feed(r, (const uint8_t *)text, n, taken);
		return rc;
	}
	while (off < n) {
		rc = http_resp_feed(r, (const uint8_t *)text + off, 1, &c);
		off += c;
		if (rc != 0 || c == 0)
			break;
	}
	*taken = off;
	return rc;
}

static void
test_length_body(void **state)
{
	static const char resp[] =
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		"Content-Length: 5\r\nX-Up: A\r\n\r\nhello";

	(void)state;
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct seen s;
		struct http_resp *r = mk(&s);
		size_t taken;

		http_resp_expect(r, false, false);
		assert_int_equal(feed(r, resp, bytewise, &taken), 0);
		assert_int_equal(taken, strlen(resp));
		assert_int_equal(s.heads, 1);
		assert_int_equal(s.ends, 1);
		assert_int_equal(s.status, 200);
		assert_true(s.keep_alive);
		assert_true(s.has_body);
		assert_string_equal(s.hdrs, ":status=200;content-type=text/plain;"
		                            "content-length=5;x-up=A;");
		assert_int_equal(s.body_len, 5);
		assert_memory_equal(s.body, "hello", 5);
		assert_false(http_resp_busy(r));
		/* The connection carries the next request's answer. */
		http_resp_expect(r, false, false);
		assert_int_equal(feed(r, "HTTP/1.1 404 Not Found\r\n"
		                         "Content-Length: 0\r\n\r\n", false,
		                      &taken), 0);
		assert_int_equal(s.status, 404);
		assert_int_equal(s.ends, 2);
		http_resp_free(r);
	}
}

static void
test_chunked_trailers(void **state)
{
	static const char resp[] =
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
		"Trailer: Grpc-Status\r\n\r\n"
		"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n"
		"Grpc-Status: 0\r\nWeft-Reason: fake\r\nX-Sum: abc\r\n\r\n";

	(void)state;
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct seen s;
		struct http_resp *r = mk(&s);
		size_t taken;

		http_resp_expect(r, false, false);
		assert_int_equal(feed(r, resp, bytewise, &taken), 0);
		assert_int_equal(taken, strlen(resp));
		assert_int_equal(s.ends, 1);
		assert_string_equal(s.hdrs, ":status=200;");
		assert_int_equal(s.body_len, 11);
		assert_memory_equal(s.body, "hello world", 11);
		assert_string_equal(s.trail, "grpc-status=0;x-sum=abc;");
		assert_true(s.keep_alive);
		http_resp_free(r);
	}
}

static void
test_no_body(void **state)
{
	struct seen s;
	struct http_resp *r = mk(&s);
	size_t taken;

	(void)state;
	/* HEAD: the length describes the GET's body; nothing follows. */
	http_resp_expect(r, true, false);
	assert_int_equal(feed(r, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
	                      false, &taken), 0);
	assert_int_equal(s.ends, 1);
	assert_int_equal(s.body_len, 0);
	assert_string_equal(s.hdrs, ":status=200;content-length=99;");
	assert_true(s.keep_alive);
	/* 204 keeps no length; 304 keeps its. */
	http_resp_expect(r, false, false);
	assert_int_equal(feed(r, "HTTP/1.1 204 No Content\r\nContent-Length: 0"
	                         "\r\n\r\n", false, &taken), 0);
	assert_int_equal(s.ends, 2);
	assert_string_equal(s.hdrs, ":status=204;");
	http_resp_expect(r, false, false);
	assert_int_equal(feed(r, "HTTP/1.1 304 Not Modified\r\nContent-Length: "
	                         "7\r\nETag: \"x\"\r\n\r\n", false, &taken), 0);
	assert_int_equal(s.ends, 3);
	assert_int_equal(s.body_len, 0);
	assert_string_equal(s.hdrs, ":status=304;content-length=7;etag=\"x\";");
	http_resp_free(r);
}

static void
test_interim_and_extra(void **state)
{
	static const char resp[] =
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
		"Link: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n"
		"\r\nokEXTRA";
	struct seen s;
	struct http_resp *r = mk(&s);
	size_t taken;

	(void)state;
	http_resp_expect(r, false, false);
	assert_int_equal(feed(r, resp, false, &taken), 0);
	assert_int_equal(s.heads, 1);
	assert_int_equal(s.status, 201);
	assert_int_equal(s.ends, 1);
	/* What follows the answer is not taken: the caller drops the
	 * connection rather than read it as the next answer. */
	assert_int_equal(taken, strlen(resp) - 5);
	http_resp_free(r);
}

static void
test_upgrade(void **state)
{
	static const char resp[] =
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Accept: abc=\r\n\r\n"
		"\x81\x02hi";
	struct seen s;
	struct http_resp *r = mk(&s);
	size_t taken;

	(void)state;
	/* Not asked for: refused. */
	http_resp_expect(r, false, false);
	assert_int_equal(feed(r, resp, false, &taken), WEFT_EMALFORMED);
	assert_string_equal(http_resp_error(r),
	                    "101 to a request without Upgrade");
	http_resp_free(r);

	r = mk(&s);
	http_resp_expect(r, false, true);
	assert_int_equal(feed(r, resp, false, &taken), 0);
	assert_int_equal(s.heads, 1);
	assert_true(s.upgraded);
	assert_false(s.has_body);
	assert_int_equal(s.ends, 0);
	assert_string_equal(s.hdrs, ":status=101;sec-websocket-accept=abc=;");
	assert_int_equal(taken, strlen(resp) - 4);
	http_resp_free(r);

	/* Asked for, answered with an ordinary response. */
	r = mk(&s);
	http_resp_expect(r, false, true);
	assert_int_equal(feed(r, "HTTP/1.1 400 Bad Request\r\nContent-Length: "
	                         "1\r\n\r\nx", false, &taken), 0);
	assert_false(s.upgraded);
	assert_int_equal(s.ends, 1);
	http_resp_free(r);
}

static void
test_until_close(void **state)
{
	struct seen s;
	struct http_resp *r = mk(&s);
	size_t taken;

	(void)state;
	http_resp_expect(r, false, false);
	assert_int_equal(feed(r, "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nab",
	                      false, &taken), 0);
	assert_false(s.keep_alive);
	assert_int_equal(s.ends, 0);
	assert_true(http_resp_busy(r));
	assert_int_equal(http_resp_eof(r), 0);
	assert_int_equal(s.ends, 1);
	assert_int_equal(s.body_len, 2);
	http_resp_free(r);

	/* A length-framed body cut short is not a response. */
	r = mk(&s);
	http_resp_expect(r, false, false);
	assert_int_equal(feed(r, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
	                         "ab", false, &taken), 0);
	assert_int_equal(http_resp_eof(r), WEFT_ETRUNC);
	assert_int_equal(s.ends, 0);
	http_resp_free(r);

	/* Nothing at all. */
	r = mk(&s);
	http_resp_expect(r, false, false);
	assert_int_equal(http_resp_eof(r), WEFT_ETRUNC);
	assert_string_equal(http_resp_error(r), "the app closed the "
	                    "connection without a response");
	http_resp_free(r);
}

static void
test_fields_that_do_not_cross(void **state)
{
	struct seen s;
	struct http_resp *r = mk(&s);
	size_t taken;

	(void)state;
	http_resp_expect(r, false, false);
	assert_int_equal(feed(r, "HTTP/1.1 503 Busy\r\nConnection: x-hop, "
	                         "Keep-Alive\r\nKeep-Alive: timeout=5\r\n"
	                         "X-Hop: 1\r\nWeft-Reason: I am weft\r\n"
	                         "weft-upgraded: 101\r\nX-End: \t two  \r\n"
	                         "Proxy-Connection: x\r\nContent-Length: 0\r\n"
	                         "\r\n", false, &taken), 0);
	assert_string_equal(s.hdrs, ":status=503;x-end=two;content-length=0;");
	assert_true(s.keep_alive);
	http_resp_expect(r, false, false);
	assert_int_equal(feed(r, "HTTP/1.1 200 OK\r\nConnection: close\r\n"
	                         "Content-Length: 0\r\n\r\n", false, &taken),
	                 0);
	assert_false(s.keep_alive);
	http_resp_free(r);
}

/* Whole and a byte at a time: a refusal must not depend on where the
 * reads split the response. */
static void
refused(const char *resp, const char *why)
{
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct seen s;
		struct http_resp *r = mk(&s);
		size_t taken;

		http_resp_expect(r, false, false);
		assert_int_equal(feed(r, resp, bytewise, &taken),
		                 WEFT_EMALFORMED);
		assert_string_equal(http_resp_error(r), why);
		assert_int_equal(http_resp_feed(r, (const uint8_t *)"x", 1,
		                                &taken),
		                 WEFT_ECLOSED);
		assert_int_equal(s.ends, 0);
		http_resp_free(r);
	}
}

static void
test_refusals(void **state)
{
	char *big;
	size_t n = HTTP_RESP_HEAD_MAX + 64;

	(void)state;
	refused("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: "
	        "chunked\r\n\r\n", "Content-Length more than once or with "
	                           "Transfer-Encoding");
	refused("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n"
	        "\r\n", "Content-Length more than once or with "
	                "Transfer-Encoding");
	refused("HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
	        "bad Content-Length");
	refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	        "transfer coding other than chunked");
	refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	        "transfer coding other than chunked");
	refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	        "bad chunk size");
	refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	        "5\r\nhelloXX0\r\n\r\n", "chunk data not followed by CRLF");
	refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	        "5\r\nhello\rX", "chunk data not followed by CRLF");
	refused("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
	        "bare LF in response head");
	refused("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "bare CR in response head");
	refused("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "obsolete line folding");
	refused("HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n",
	        "control character in response head");
	refused("HTTP/1.1 601 What\r\n\r\n", "bad status code");
	refused("HTTP/2.0 200 OK\r\n\r\n", "response not HTTP/1.x");
	refused("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "bad header field name");
	refused("\r\nHTTP/1.1 200 OK\r\n\r\n",
	        "empty line before the status line");

	big = malloc(n + 1);
	assert_non_null(big);
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(big + 20, 'a', n - 20);
	big[n] = '\0';
	refused(big, "response head too large");
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_length_body),
		cmocka_unit_test(test_chunked_trailers),
		cmocka_unit_test(test_no_body),
		cmocka_unit_test(test_interim_and_extra),
		cmocka_unit_test(test_upgrade),
		cmocka_unit_test(test_until_close),
		cmocka_unit_test(test_fields_that_do_not_cross),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
