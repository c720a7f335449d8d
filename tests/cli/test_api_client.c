/*
 * Unit tests of weft's API client without a socket: the reply parser fed
 * in pieces, the socket choice, tables, cells and event lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "tools/agent_cli.h"
#include "tools/api_client.h"
#include "tools/commands.h"
#include "tools/table.h"

/* What on_line saw: lines joined with '|'. */
struct seen {
	char text[4096];
	size_t n;
	size_t stop_after; /* 0: never stop */
};

static int
collect(void *ctx, const char *line, size_t len)
{
	struct seen *s = ctx;
	size_t used = strlen(s->text);

	assert_int_equal(strlen(line), len); /* NUL-terminated, no NULs */
	assert_null(memchr(line, '\n', len));
	snprintf(s->text + used, sizeof(s->text) - used, "%s%.*s",
	         s->n ? "|" : "", (int)len, line);
	s->n++;
	if (s->stop_after && s->n == s->stop_after)
		return WEFT_ECLOSED;
	return 0;
}

/* Feeds text in pieces of step bytes; the last rc. */
static int
feed_steps(struct api_reply *r, const char *text, size_t step)
{
	size_t len = strlen(text), i, n;
	int rc = 0;

	for (i = 0; i < len && rc == 0; i += n) {
		n = len - i < step ? len - i : step;
		rc = api_reply_feed(r, text + i, n);
	}
	return rc;
}

static const char reply_200[] =
	"HTTP/1.1 200 OK\r\n"
	"Content-Type: application/json\r\n"
	"Content-Length: 27\r\n"
	"Connection: close\r\n"
	"\r\n"
	"{\"members\": [{\"name\": 1}]}";

static void
test_whole_reply_any_split(void **state)
{
	struct api_reply r;
	json_t *j;
	size_t step;

	(void)state;
	assert_int_equal(strlen("{\"members\": [{\"name\": 1}]}"), 26);
	for (step = 1; step <= sizeof(reply_200); step++) {
		api_reply_init(&r, NULL, NULL);
		assert_int_equal(feed_steps(&r, reply_200, step), 0);
		/* 26 bytes of body for a length of 27: not complete. */
		assert_false(r.complete);
		assert_int_equal(api_reply_feed(&r, "\n", 1), 0);
		assert_true(r.complete);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.body_len, 27);
		assert_int_equal(api_reply_json(&r, &j), 0);
		assert_int_equal(json_integer_value(json_object_get(
		    json_array_get(json_object_get(j, "members"), 0),
		    "name")), 1);
		json_decref(j);
		api_reply_free(&r);
	}
}

static void
test_chunked_and_trailing_bytes(void **state)
{
	static const char text[] =
		"HTTP/1.1 201 Created\r\n"
		"Transfer-Encoding: chunked\r\n\r\n"
		"3\r\n{\"a\r\n"
		"6\r\n\": 12}\r\n"
		"0\r\n\r\n"
		"HTTP/1.1 500 later garbage";
	struct api_reply r;
	json_t *j;

	(void)state;
	api_reply_init(&r, NULL, NULL);
	assert_int_equal(feed_steps(&r, text, 5), 0);
	assert_true(r.complete);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body, "{\"a\": 12}");
	assert_int_equal(api_reply_json(&r, &j), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "a")), 12);
	json_decref(j);
	/* What follows a complete reply is not read. */
	assert_int_equal(api_reply_feed(&r, "junk", 4), 0);
	assert_int_equal(r.status, 201);
	api_reply_free(&r);
}

static void
test_interim_reply(void **state)
{
	static const char text[] =
		"HTTP/1.1 100 Continue\r\n\r\n"
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	struct api_reply r;

	(void)state;
	api_reply_init(&r, NULL, NULL);
	assert_int_equal(feed_steps(&r, text, 3), 0);
	assert_true(r.complete);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{}");
	api_reply_free(&r);
}

static void
test_body_until_eof(void **state)
{
	static const char text[] =
		"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"x\": true}";
	struct api_reply r;

	(void)state;
	api_reply_init(&r, NULL, NULL);
	assert_int_equal(feed_steps(&r, text, 7), 0);
	assert_false(r.complete);
	assert_int_equal(api_reply_eof(&r), 0);
	assert_true(r.complete);
	assert_string_equal(r.body, "{\"x\": true}");
	/* A second end changes nothing. */
	assert_int_equal(api_reply_eof(&r), 0);
	api_reply_free(&r);
}

static void
test_cut_short(void **state)
{
	struct api_reply r;

	(void)state;
	api_reply_init(&r, NULL, NULL);
	assert_int_equal(api_reply_eof(&r), WEFT_ETRUNC);
	assert_non_null(strstr(r.why, "closed before a reply"));
	api_reply_free(&r);

	api_reply_init(&r, NULL, NULL);
	assert_int_equal(feed_steps(&r, "HTTP/1.1 200 OK\r\nContent-Le", 4),
	                 0);
	assert_int_equal(api_reply_eof(&r), WEFT_ETRUNC);
	assert_non_null(strstr(r.why, "closed before a reply"));
	api_reply_free(&r);

	api_reply_init(&r, NULL, NULL);
	assert_int_equal(feed_steps(&r, "HTTP/1.1 200 OK\r\n"
	                            "Content-Length: 10\r\n\r\n{\"a\"", 4), 0);
	assert_int_equal(api_reply_eof(&r), WEFT_ETRUNC);
	assert_non_null(strstr(r.why, "ends before its body"));
	api_reply_free(&r);
}

static void
test_not_http(void **state)
{
	static const char *const bad[] = {
		"SSH-2.0-OpenSSH_9.2\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 01 Continue\r\n\r\n",
		"HTTP/1.1 600 Beyond\r\nContent-Length: 0\r\n\r\n",
		("HTTP/1.1 101 Switching\r\nConnection: upgrade\r\n"
		 "Upgrade: h2c\r\n\r\nPRI * HTTP/2.0"),
	};
	struct api_reply r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		api_reply_init(&r, NULL, NULL);
		assert_int_equal(feed_steps(&r, bad[i], 64), WEFT_EMALFORMED);
		assert_non_null(strstr(r.why, i < 4 ? "not an HTTP reply"
		                              : i < 6 ? "a reply with status"
		                                      : "a protocol upgrade"));
		/* It stays failed. */
		assert_int_equal(api_reply_feed(&r, "x", 1), WEFT_EMALFORMED);
		assert_int_equal(api_reply_eof(&r), WEFT_EMALFORMED);
		api_reply_free(&r);
	}
}

static void
test_not_json(void **state)
{
	struct api_reply r;
	json_t *j = NULL;

	(void)state;
	api_reply_init(&r, NULL, NULL);
	assert_int_equal(feed_steps(&r, "HTTP/1.1 200 OK\r\n"
	                            "Content-Length: 3\r\n\r\n{x}", 100), 0);
	assert_int_equal(api_reply_json(&r, &j), WEFT_EMALFORMED);
	assert_null(j);
	assert_non_null(strstr(r.why, "not JSON"));
	api_reply_free(&r);

	api_reply_init(&r, NULL, NULL);
	assert_int_equal(feed_steps(&r, "HTTP/1.1 204 No Content\r\n\r\n",
	                            100), 0);
	assert_true(r.complete);
	assert_int_equal(api_reply_json(&r, &j), WEFT_ENOENT);
	api_reply_free(&r);
}

static void
test_body_too_big(void **state)
{
	static char chunk[65536];
	struct api_reply r;
	char head[128];
	size_t sent = 0;
	int rc = 0;

	(void)state;
	memset(chunk, ' ', sizeof(chunk));
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
	         "Content-Length: %u\r\n\r\n", API_BODY_MAX + 1);
	api_reply_init(&r, NULL, NULL);
	assert_int_equal(api_reply_feed(&r, head, strlen(head)), 0);
	while (rc == 0 && sent <= API_BODY_MAX) {
		rc = api_reply_feed(&r, chunk, sizeof(chunk));
		sent += sizeof(chunk);
	}
	assert_int_equal(rc, WEFT_ETOOBIG);
	assert_non_null(strstr(r.why, "reply body over"));
	assert_true(r.body_len <= API_BODY_MAX);
	api_reply_free(&r);
}

static const char stream_head[] =
	"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
	"Connection: close\r\n\r\n";

static void
test_stream_lines(void **state)
{
	static const char body[] =
		"{\"n\": 1}\n{\"n\": 2}\r\n\n\r\n{\"n\": 3}\n{\"n\": 4}";
	char text[512];
	struct api_reply r;
	struct seen s;
	size_t step;

	(void)state;
	snprintf(text, sizeof(text), "%s%s", stream_head, body);
	for (step = 1; step < sizeof(text); step += 3) {
		memset(&s, 0, sizeof(s));
		api_reply_init(&r, collect, &s);
		assert_int_equal(feed_steps(&r, text, step), 0);
		assert_false(r.complete);
		assert_string_equal(s.text, "{\"n\": 1}|{\"n\": 2}|{\"n\": 3}");
		assert_null(r.body);
		/* The last line had no end: the close delivers it. */
		assert_int_equal(api_reply_eof(&r), 0);
		assert_true(r.complete);
		assert_int_equal(s.n, 4);
		assert_string_equal(s.text, "{\"n\": 1}|{\"n\": 2}|{\"n\": 3}|"
		                    "{\"n\": 4}");
		api_reply_free(&r);
	}
}

static void
test_stream_chunked(void **state)
{
	static const char text[] =
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"4\r\n{\"a\"\r\n"
		"6\r\n: 1}\n{\r\n"
		"8\r\n\"b\": 2}\n\r\n"
		"0\r\n\r\n";
	struct api_reply r;
	struct seen s = { .n = 0 };

	(void)state;
	api_reply_init(&r, collect, &s);
	assert_int_equal(feed_steps(&r, text, 2), 0);
	assert_true(r.complete);
	assert_string_equal(s.text, "{\"a\": 1}|{\"b\": 2}");
	api_reply_free(&r);
}

static void
test_stream_stop_and_limits(void **state)
{
	static char line[API_LINE_MAX + 10];
	struct api_reply r;
	struct seen s = { .stop_after = 2 };

	(void)state;
	api_reply_init(&r, collect, &s);
	assert_int_equal(api_reply_feed(&r, stream_head,
	                                strlen(stream_head)), 0);
	/* on_line's answer stops the reading and comes back. */
	assert_int_equal(feed_steps(&r, "a\nb\nc\n", 100), WEFT_ECLOSED);
	assert_int_equal(r.line_rc, WEFT_ECLOSED);
	assert_int_equal(s.n, 2);
	api_reply_free(&r);

	memset(&s, 0, sizeof(s));
	api_reply_init(&r, collect, &s);
	assert_int_equal(api_reply_feed(&r, stream_head,
	                                strlen(stream_head)), 0);
	memset(line, 'x', sizeof(line));
	assert_int_equal(api_reply_feed(&r, line, sizeof(line)),
	                 WEFT_ETOOBIG);
	assert_non_null(strstr(r.why, "event line over"));
	assert_int_equal(r.line_rc, 0);
	assert_int_equal(s.n, 0);
	api_reply_free(&r);

	/* Exactly the limit is fine. */
	memset(&s, 0, sizeof(s));
	api_reply_init(&r, collect, &s);
	assert_int_equal(api_reply_feed(&r, stream_head,
	                                strlen(stream_head)), 0);
	assert_int_equal(api_reply_feed(&r, line, API_LINE_MAX), 0);
	assert_int_equal(api_reply_feed(&r, "\n", 1), 0);
	assert_int_equal(s.n, 1);
	api_reply_free(&r);
}

static void
test_stream_refused(void **state)
{
	static const char text[] =
		"HTTP/1.1 403 Forbidden\r\nContent-Length: 21\r\n\r\n"
		"{\"error\": \"no\\nway\"}\n";
	struct api_reply r;
	struct seen s = { .n = 0 };
	char msg[64];

	(void)state;
	api_reply_init(&r, collect, &s);
	assert_int_equal(feed_steps(&r, text, 9), 0);
	assert_true(r.complete);
	assert_int_equal(s.n, 0); /* an error is a body, not events */
	api_reply_error_text(&r, msg, sizeof(msg));
	assert_string_equal(msg, "no?way");
	api_reply_free(&r);
}

static void
test_error_text(void **state)
{
	struct api_reply r;
	char msg[128];

	(void)state;
	api_reply_init(&r, NULL, NULL);
	assert_int_equal(feed_steps(&r, "HTTP/1.1 500 Oops\r\n"
	                            "Content-Length: 4\r\n\r\noops", 100), 0);
	api_reply_error_text(&r, msg, sizeof(msg));
	assert_string_equal(msg, "weftd answered 500 Internal Server Error");
	api_reply_free(&r);

	api_reply_init(&r, NULL, NULL);
	assert_int_equal(feed_steps(&r, "HTTP/1.1 499 X\r\n"
	                            "Content-Length: 0\r\n\r\n", 100), 0);
	api_reply_error_text(&r, msg, sizeof(msg));
	assert_string_equal(msg, "weftd answered 499");
	api_reply_free(&r);

	api_reply_init(&r, NULL, NULL);
	assert_int_equal(feed_steps(&r, "HTTP/1.1 404 Not Found\r\n"
	                            "Content-Length: 30\r\n\r\n"
	                            "{\"error\": \"no such service x\"}",
	                            100), 0);
	api_reply_error_text(&r, msg, sizeof(msg));
	assert_string_equal(msg, "no such service x");
	api_reply_free(&r);
}

static void
test_socket_choice(void **state)
{
	enum api_socket_source src;
	char out[108], big[200];

	(void)state;
	assert_int_equal(api_socket_choose("/f.sock", "/e.sock", "/x", false,
	                                   out, sizeof(out), &src), 0);
	assert_string_equal(out, "/f.sock");
	assert_int_equal(src, API_SOCKET_FLAG);
	assert_int_equal(api_socket_choose(NULL, "/e.sock", "/x", true, out,
	                                   sizeof(out), &src), 0);
	assert_string_equal(out, "/e.sock");
	assert_int_equal(src, API_SOCKET_ENV);
	assert_string_equal(api_socket_source_name(src), "WEFT_SOCKET");
	assert_int_equal(api_socket_choose(NULL, "", "/run/user/1000", false,
	                                   out, sizeof(out), &src), 0);
	assert_string_equal(out, "/run/user/1000/weft/weftd.sock");
	assert_int_equal(src, API_SOCKET_XDG);
	/* root's agent is the system's, whatever XDG says. */
	assert_int_equal(api_socket_choose(NULL, NULL, "/run/user/0", true,
	                                   out, sizeof(out), &src), 0);
	assert_string_equal(out, "/run/weft/weftd.sock");
	assert_int_equal(src, API_SOCKET_BUILTIN);
	assert_int_equal(api_socket_choose("", NULL, "", false, out,
	                                   sizeof(out), &src), 0);
	assert_string_equal(out, "/run/weft/weftd.sock");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(api_socket_choose(big, NULL, NULL, false, out,
	                                   sizeof(out), &src), WEFT_ETOOBIG);
	big[108] = '\0'; /* sun_path holds 107 and the NUL */
	assert_int_equal(api_socket_choose(big, NULL, NULL, false, out,
	                                   sizeof(out), &src), WEFT_ETOOBIG);
	big[107] = '\0';
	assert_int_equal(api_socket_choose(big, NULL, NULL, false, out,
	                                   sizeof(out), &src), 0);
}

static void
test_table(void **state)
{
	static const char *const heads[] = { "NAME", "N", "TAGS", NULL };
	const char *r1[] = { "web-1", "12345", "a,b" };
	const char *r2[] = { "x", NULL, "z\x1b[0m" };
	const char *r3[] = { "h\xc3\xa9", "1", "" };
	struct table t;
	char *text;
	size_t len;
	FILE *f;

	(void)state;
	assert_int_equal(table_init(&t, heads), 0);
	assert_int_equal(table_add(&t, r1), 0);
	assert_int_equal(table_add(&t, r2), 0);
	assert_int_equal(table_add(&t, r3), 0);
	f = open_memstream(&text, &len);
	assert_non_null(f);
	table_print(&t, f);
	fclose(f);
	assert_string_equal(text,
	                    "NAME   N      TAGS\n"
	                    "web-1  12345  a,b\n"
	                    "x      -      z?[0m\n"
	                    "h\xc3\xa9     1      \n");
	free(text);
	table_free(&t);
}

static void
test_cells(void **state)
{
	static const struct { const char *json, *want; } cases[] = {
		{ "[\"blue\", \"edge\"]", "blue,edge" },
		{ "[]", "-" },
		{ "{}", "-" },
		{ "null", "-" },
		{ "\"\"", "-" },
		{ "{\"version\": \"v2\", \"zone\": 3}", "version=v2,zone=3" },
		{ "42", "42" },
		{ "-7", "-7" },
		{ "true", "yes" },
		{ "[1, \"a\"]", "1,a" },
	};
	char out[64];
	json_t *j;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		assert_non_null(j);
		agent_cell(j, out, sizeof(out));
		assert_string_equal(out, cases[i].want);
		json_decref(j);
	}
	agent_cell(NULL, out, sizeof(out));
	assert_string_equal(out, "-");
	/* A long list is cut, still terminated. */
	j = json_loads("[\"aaaaaaaaaa\", \"bbbbbbbbbb\"]", 0, NULL);
	agent_cell(j, out, 12);
	assert_string_equal(out, "aaaaaaaaaa,");
	json_decref(j);
}

static void
test_event_format(void **state)
{
	static const struct { const char *line, *want; } cases[] = {
		{ "{\"time_ms\": 1764165000000, \"type\": \"member\", "
		  "\"event\": \"failed\", \"name\": \"db-1\", "
		  "\"addr\": \"127.0.0.4:7370\"}",
		  "2025-11-26T13:50:00.000Z member failed db-1 "
		  "127.0.0.4:7370" },
		{ "{\"time_ms\": 1764165000999, \"type\": \"object\", "
		  "\"event\": \"put\", \"kind\": \"revocation\", "
		  "\"name\": \"3b1f0c9a2d4e5f60\"}",
		  "2025-11-26T13:50:00.999Z object put revocation "
		  "3b1f0c9a2d4e5f60" },
		{ "{\"type\": \"route\", \"event\": \"put\", \"name\": \"r\"}",
		  "- route put r" },
		{ "{\"time_ms\": -5, \"type\": \"member\", \"event\": "
		  "\"left\", \"name\": \"a\\u0007b\"}",
		  "@-5 member left a?b -" },
		{ "{}", "- - - -" },
		{ "{\"time_ms\": 1764165000000, \"type\": \"proxy\", "
		  "\"event\": \"denied\", \"service\": \"api\", "
		  "\"node\": \"web-1\", \"reason\": \"denied by intention "
		  "web->api (no-web)\"}",
		  "2025-11-26T13:50:00.000Z proxy denied api web-1 (denied by "
		  "intention web->api (no-web))" },
		{ "{\"type\": \"proxy\", \"event\": \"returned\", "
		  "\"service\": \"api\", \"node\": \"b\", \"reason\": \"\"}",
		  "- proxy returned api b" },
	};
	char out[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(agent_event_format(cases[i].line,
		                                    strlen(cases[i].line), out,
		                                    sizeof(out)), 0);
		assert_string_equal(out, cases[i].want);
	}
	assert_int_equal(agent_event_format("[1]", 3, out, sizeof(out)),
	                 WEFT_EMALFORMED);
	assert_int_equal(agent_event_format("{\"a\"", 4, out, sizeof(out)),
	                 WEFT_EMALFORMED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_reply_any_split),
		cmocka_unit_test(test_chunked_and_trailing_bytes),
		cmocka_unit_test(test_interim_reply),
		cmocka_unit_test(test_body_until_eof),
		cmocka_unit_test(test_cut_short),
		cmocka_unit_test(test_not_http),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_body_too_big),
		cmocka_unit_test(test_stream_lines),
		cmocka_unit_test(test_stream_chunked),
		cmocka_unit_test(test_stream_stop_and_limits),
		cmocka_unit_test(test_stream_refused),
		cmocka_unit_test(test_error_text),
		cmocka_unit_test(test_socket_choice),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_cells),
		cmocka_unit_test(test_event_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
