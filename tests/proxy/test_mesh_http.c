/*
 * HTTP request streams on the mesh hop, end to end in memory: heads,
 * bodies bigger than the windows, trailers, refusals by the remote weft,
 * limits on header blocks, resets, and CONNECT next to HTTP.  Where the
 * core must cope with a peer that is not a weft (header blocks over the
 * limit, a spoofed weft-service, 1xx answers), the peer is a bare nghttp2
 * session over an honest secure session ("raw").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/err.h"
#include "proxy/authz_l7.h"
#include "tests/proxy/meshpair.h"

#define NV(n, v)                                                        \
	{(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1,  \
	    NGHTTP2_NV_FLAG_NONE}

static int
setup(void **state)
{
	*state = mp_world_new();
	return 0;
}

static int
teardown(void **state)
{
	mp_world_free(*state);
	return 0;
}

static const nghttp2_nv get_nv[] = {
	NV(":method", "GET"),
	NV(":scheme", "http"),
	NV(":authority", "api.example"),
	NV(":path", "/things?id=1"),
	NV("user-agent", "test/1"),
};

static const nghttp2_nv post_nv[] = {
	NV(":method", "POST"),
	NV(":scheme", "http"),
	NV(":authority", "api.example"),
	NV(":path", "/upload"),
	NV("content-type", "application/octet-stream"),
};

/* The value of field name in a block, or NULL; the name at most once. */
static const char *
field(const nghttp2_nv *nv, size_t n, const char *name)
{
	const char *got = NULL;

	for (size_t i = 0; i < n; i++) {
		if (nv[i].namelen != strlen(name) ||
		    memcmp(nv[i].name, name, nv[i].namelen) != 0)
			continue;
		assert_null(got);
		got = (const char *)nv[i].value;
		/* The core's copies are NUL-terminated. */
		assert_int_equal(strlen(got), nv[i].valuelen);
	}
	return got;
}

static const char *
head_field(const struct mesh_stream *s, const char *name)
{
	const nghttp2_nv *nv;
	size_t n;

	assert_int_equal(mesh_stream_head(s, &nv, &n), 0);
	return field(nv, n, name);
}

static struct mesh_stream *
server_request(struct mp_world *w, size_t k)
{
	long i = mp_find(&w->b, MESH_EV_REQUEST, k);

	assert_true(i >= 0);
	return w->b.ev[i].stream;
}

static void
write_all(struct mesh_stream *s, const void *p, size_t n)
{
	size_t acc;

	assert_int_equal(mesh_stream_write(s, p, n, &acc), 0);
	assert_int_equal(acc, n);
}

static void
expect_body(struct mesh_stream *s, const char *want, bool want_eof)
{
	uint8_t buf[512];
	bool eof;
	size_t n = mp_read_all(s, buf, sizeof(buf), &eof);

	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
	assert_int_equal(eof, want_eof);
}

static void
respond_200(struct mesh_stream *s, bool end)
{
	static const nghttp2_nv nv[] = {
		NV(":status", "200"),
		NV("content-type", "text/plain"),
	};

	assert_int_equal(mesh_stream_respond(s, nv, 2, end), 0);
}

static void
test_get_without_body(void **state)
{
	struct mp_world *w = *state;
	struct mesh_stream *cs, *ss;
	const nghttp2_nv *nv;
	size_t n;
	long i;

	mp_start(w);
	/* During the handshake: the head is copied until it can leave. */
	assert_int_equal(mesh_request_open(w->a.conn, "api", get_nv, 5, true,
	    w, &cs), 0);
	assert_int_equal(mesh_stream_head(cs, &nv, &n), WEFT_ESTATE);
	mp_pump(w);

	i = mp_find(&w->b, MESH_EV_REQUEST, 0);
	assert_true(i >= 0);
	assert_int_equal(mp_count(&w->b, MESH_EV_CONNECT), 0);
	assert_string_equal(w->b.ev[i].service, "api");
	assert_string_equal(w->b.ev[i].host, "127.0.0.9");
	assert_int_equal(w->b.ev[i].port, 18080);
	ss = w->b.ev[i].stream;
	assert_int_equal(mesh_stream_head(ss, &nv, &n), 0);
	assert_int_equal(n, 5); /* weft-service is the core's */
	assert_memory_equal(nv[0].name, ":method", 7);
	assert_string_equal(field(nv, n, ":method"), "GET");
	assert_string_equal(field(nv, n, ":path"), "/things?id=1");
	assert_string_equal(field(nv, n, ":authority"), "api.example");
	assert_string_equal(field(nv, n, "user-agent"), "test/1");
	assert_null(field(nv, n, "weft-service"));
	assert_string_equal(mesh_stream_service(ss), "api");
	/* No body: eof at once, and the client may not write one. */
	expect_body(ss, "", true);
	assert_int_equal(mesh_stream_write(cs, "x", 1, &n), WEFT_ECLOSED);
	/* Nothing may be sent before the response head. */
	assert_int_equal(mesh_stream_write(ss, "x", 1, &n), WEFT_ESTATE);

	respond_200(ss, false);
	write_all(ss, "hello", 5);
	assert_int_equal(mesh_stream_shutdown_write(ss), 0);
	mp_pump(w);

	i = mp_find(&w->a, MESH_EV_RESPONSE, 0);
	assert_true(i >= 0);
	assert_int_equal(w->a.ev[i].status, 200);
	assert_ptr_equal(w->a.ev[i].user, w);
	assert_int_equal(mp_count(&w->a, MESH_EV_REFUSED), 0);
	assert_int_equal(mp_count(&w->a, MESH_EV_OPENED), 0);
	assert_string_equal(head_field(cs, ":status"), "200");
	assert_string_equal(head_field(cs, "content-type"), "text/plain");
	expect_body(cs, "hello", true);
	assert_int_equal(mesh_stream_trailers(cs, &nv, &n), 0);
	assert_int_equal(n, 0);
	mesh_stream_close(cs);
	mesh_stream_close(ss);
	mp_pump(w);
	/* Both ends finished cleanly: no reset either way. */
	assert_int_equal(mp_count(&w->a, MESH_EV_RESET), 0);
	assert_int_equal(mp_count(&w->b, MESH_EV_RESET), 0);
	assert_int_equal(mesh_conn_streams(w->a.conn), 0);
	assert_int_equal(mesh_conn_streams(w->b.conn), 0);
}

static uint8_t
pattern(size_t i, unsigned seed)
{
	return (uint8_t)((i * 31 + seed) ^ (i >> 9));
}

/* Writes as much of total as fits, from *sent on. */
static void
feed(struct mesh_stream *s, size_t total, size_t *sent, unsigned seed)
{
	uint8_t buf[4096];

	while (*sent < total && mesh_stream_write_room(s) > 0) {
		size_t n = total - *sent < sizeof(buf) ? total - *sent :
		    sizeof(buf), acc;

		for (size_t j = 0; j < n; j++)
			buf[j] = pattern(*sent + j, seed);
		assert_int_equal(mesh_stream_write(s, buf, n, &acc), 0);
		*sent += acc;
		if (acc < n)
			return;
	}
}

/* Reads and checks what is there; returns whether eof was seen. */
static bool
drain(struct mesh_stream *s, size_t *got, unsigned seed)
{
	for (;;) {
		const uint8_t *p;
		size_t len;
		bool eof;

		mesh_stream_read_peek(s, &p, &len, &eof);
		if (len == 0)
			return eof;
		for (size_t j = 0; j < len; j++)
			if (p[j] != pattern(*got + j, seed))
				fail_msg("byte %zu differs", *got + j);
		*got += len;
		mesh_stream_read_consume(s, len);
	}
}

static void
test_post_large_body_both_ways(void **state)
{
	struct mp_world *w = *state;
	/* Several times the stream window and the send buffer. */
	const size_t total = 3 * MESH_STREAM_WINDOW + 12345;
	struct mesh_stream *cs, *ss = NULL;
	size_t up_sent = 0, up_got = 0, down_sent = 0, down_got = 0;
	size_t most_up = 0, most_down = 0;
	int rounds = 0;
	bool up_eof = false, down_eof = false, shut_up = false,
	    shut_down = false;

	mp_start(w);
	assert_int_equal(mesh_request_open(w->a.conn, "api", post_nv, 5, false,
	    NULL, &cs), 0);
	for (int round = 0; round < 10000 && !(up_eof && down_eof); round++) {
		feed(cs, total, &up_sent, 1);
		if (up_sent == total && !shut_up) {
			assert_int_equal(mesh_stream_shutdown_write(cs), 0);
			shut_up = true;
		}
		mp_pump(w);
		if (ss == NULL && mp_find(&w->b, MESH_EV_REQUEST, 0) >= 0) {
			ss = server_request(w, 0);
			respond_200(ss, false);
		}
		if (ss == NULL)
			continue;
		rounds++;
		if (mesh_stream_read_pending(ss) > most_up)
			most_up = mesh_stream_read_pending(ss);
		up_eof = drain(ss, &up_got, 1);
		feed(ss, total, &down_sent, 2);
		if (down_sent == total && !shut_down) {
			assert_int_equal(mesh_stream_shutdown_write(ss), 0);
			shut_down = true;
		}
		mp_pump(w);
		if (mesh_stream_read_pending(cs) > most_down)
			most_down = mesh_stream_read_pending(cs);
		if (mp_find(&w->a, MESH_EV_RESPONSE, 0) >= 0)
			down_eof = drain(cs, &down_got, 2);
	}
	assert_true(up_eof);
	assert_true(down_eof);
	assert_int_equal(up_got, total);
	assert_int_equal(down_got, total);
	/* The windows held: never more unread than one window, so the
	 * bodies took several rounds. */
	assert_true(most_up > 0 && most_up <= MESH_STREAM_WINDOW);
	assert_true(most_down > 0 && most_down <= MESH_STREAM_WINDOW);
	assert_true(rounds >= 3);
	mesh_stream_close(cs);
	mesh_stream_close(ss);
	mp_pump(w);
	assert_int_equal(mp_count(&w->a, MESH_EV_RESET), 0);
	assert_int_equal(mp_count(&w->b, MESH_EV_RESET), 0);
	assert_int_equal(mesh_conn_streams(w->a.conn), 0);
	assert_int_equal(mesh_conn_streams(w->b.conn), 0);
}

static void
test_trailers_both_ways(void **state)
{
	struct mp_world *w = *state;
	static const nghttp2_nv grpc_req[] = {
		NV(":method", "POST"),
		NV(":scheme", "http"),
		NV(":authority", "api"),
		NV(":path", "/pkg.Svc/Call"),
		NV("content-type", "application/grpc"),
		NV("te", "trailers"),
	};
	static const nghttp2_nv req_trl[] = {NV("x-checksum", "abc")};
	static const nghttp2_nv resp[] = {
		NV(":status", "200"),
		NV("content-type", "application/grpc"),
	};
	static const nghttp2_nv resp_trl[] = {
		NV("grpc-status", "0"),
		NV("grpc-message", "fine"),
	};
	static const nghttp2_nv bad_trl[] = {NV(":status", "200")};
	struct mesh_stream *cs, *ss;
	const nghttp2_nv *nv;
	size_t n;

	mp_start(w);
	assert_int_equal(mesh_request_open(w->a.conn, "api", grpc_req, 6, false,
	    NULL, &cs), 0);
	write_all(cs, "\0\0\0\0\3req", 8);
	assert_int_equal(mesh_stream_end_trailers(cs, bad_trl, 1), WEFT_EINVAL);
	assert_int_equal(mesh_stream_end_trailers(cs, req_trl, 1), 0);
	assert_int_equal(mesh_stream_write(cs, "x", 1, &n), WEFT_ECLOSED);
	mp_pump(w);
	ss = server_request(w, 0);
	assert_string_equal(head_field(ss, "te"), "trailers");
	{
		uint8_t buf[64];
		bool eof;

		assert_int_equal(mp_read_all(ss, buf, sizeof(buf), &eof), 8);
		assert_true(eof);
	}
	assert_int_equal(mesh_stream_trailers(ss, &nv, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(field(nv, n, "x-checksum"), "abc");

	assert_int_equal(mesh_stream_end_trailers(ss, resp_trl, 2), WEFT_ESTATE);
	assert_int_equal(mesh_stream_respond(ss, resp, 2, false), 0);
	assert_int_equal(mesh_stream_respond(ss, resp, 2, false), WEFT_ESTATE);
	write_all(ss, "\0\0\0\0\4resp", 9);
	assert_int_equal(mesh_stream_end_trailers(ss, resp_trl, 2), 0);
	mp_pump(w);
	assert_true(mp_find(&w->a, MESH_EV_RESPONSE, 0) >= 0);
	assert_int_equal(mesh_stream_trailers(cs, &nv, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(field(nv, n, "grpc-status"), "0");
	assert_string_equal(field(nv, n, "grpc-message"), "fine");
	{
		uint8_t buf[64];
		bool eof;

		assert_int_equal(mp_read_all(cs, buf, sizeof(buf), &eof), 9);
		assert_memory_equal(buf + 5, "resp", 4);
		assert_true(eof);
	}
	mesh_stream_close(cs);
	mesh_stream_close(ss);

	/* A trailers-only answer: no body, the trailers right after the
	 * head (gRPC errors look like this). */
	assert_int_equal(mesh_request_open(w->a.conn, "api", grpc_req, 6, true,
	    NULL, &cs), 0);
	mp_pump(w);
	ss = server_request(w, 1);
	assert_int_equal(mesh_stream_respond(ss, resp, 2, false), 0);
	assert_int_equal(mesh_stream_end_trailers(ss, resp_trl, 1), 0);
	mp_pump(w);
	expect_body(cs, "", true);
	assert_int_equal(mesh_stream_trailers(cs, &nv, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(field(nv, n, "grpc-status"), "0");
	mesh_stream_close(cs);
	mesh_stream_close(ss);
	mp_pump(w);
	assert_int_equal(mp_count(&w->a, MESH_EV_RESET), 0);
	assert_int_equal(mp_count(&w->b, MESH_EV_RESET), 0);
	assert_int_equal(mesh_conn_streams(w->a.conn), 0);
	assert_int_equal(mesh_conn_streams(w->b.conn), 0);
}

static void
test_respond_refuses_what_apps_may_not_set(void **state)
{
	struct mp_world *w = *state;
	static const nghttp2_nv fake_reason[] = {
		NV(":status", "403"),
		NV("weft-reason", "denied by intention (not really)"),
	};
	static const nghttp2_nv other_weft[] = {
		NV(":status", "200"),
		NV("weft-service", "db"),
	};
	static const nghttp2_nv conn_close[] = {
		NV(":status", "200"),
		NV("connection", "close"),
	};
	static const nghttp2_nv upper[] = {
		NV(":status", "200"),
		NV("Content-Type", "text/plain"),
	};
	static const nghttp2_nv crlf[] = {
		NV(":status", "200"),
		NV("x-a", "b\r\nx-b: c"),
	};
	static const nghttp2_nv info[] = {NV(":status", "101")};
	static const nghttp2_nv no_status[] = {NV("content-type", "a/b")};
	static const nghttp2_nv upgraded[] = {
		NV(":status", "200"),
		NV("weft-upgraded", "101"),
		NV("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
	};
	static const nghttp2_nv ws[] = {
		NV(":method", "GET"),
		NV(":scheme", "http"),
		NV(":authority", "api"),
		NV(":path", "/chat"),
		NV("weft-upgrade", "websocket"),
		NV("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
	};
	struct mesh_stream *cs, *ss;
	long i;

	mp_start(w);
	/* A WebSocket upgrade: the request stays open for the tunnel. */
	assert_int_equal(mesh_request_open(w->a.conn, "api", ws, 6, false,
	    NULL, &cs), 0);
	mp_pump(w);
	ss = server_request(w, 0);
	assert_string_equal(head_field(ss, "weft-upgrade"), "websocket");
	assert_int_equal(mesh_stream_respond(ss, fake_reason, 2, true),
	    WEFT_EINVAL);
	assert_int_equal(mesh_stream_respond(ss, other_weft, 2, true),
	    WEFT_EINVAL);
	assert_int_equal(mesh_stream_respond(ss, conn_close, 2, true),
	    WEFT_EINVAL);
	assert_int_equal(mesh_stream_respond(ss, upper, 2, true), WEFT_EINVAL);
	assert_int_equal(mesh_stream_respond(ss, crlf, 2, true), WEFT_EINVAL);
	assert_int_equal(mesh_stream_respond(ss, info, 1, true), WEFT_EINVAL);
	assert_int_equal(mesh_stream_respond(ss, no_status, 1, true),
	    WEFT_EINVAL);
	assert_int_equal(mesh_stream_accept(ss), WEFT_EINVAL);
	/* The upgrade answer is the one weft-* field a responder sets. */
	assert_int_equal(mesh_stream_respond(ss, upgraded, 3, false), 0);
	write_all(ss, "tunnel", 6);
	mp_pump(w);
	i = mp_find(&w->a, MESH_EV_RESPONSE, 0);
	assert_true(i >= 0);
	assert_int_equal(w->a.ev[i].status, 200);
	assert_int_equal(mp_count(&w->a, MESH_EV_REFUSED), 0);
	assert_string_equal(head_field(cs, "weft-upgraded"), "101");
	expect_body(cs, "tunnel", false);
	write_all(cs, "frames", 6);
	assert_int_equal(mesh_stream_shutdown_write(cs), 0);
	mp_pump(w);
	expect_body(ss, "frames", true);
	assert_int_equal(mesh_stream_shutdown_write(ss), 0);
	mp_pump(w);
	expect_body(cs, "", true);
	mesh_stream_close(cs);
	mesh_stream_close(ss);
	mp_pump(w);
	assert_int_equal(mp_count(&w->a, MESH_EV_RESET), 0);
	assert_int_equal(mp_count(&w->b, MESH_EV_RESET), 0);
	assert_int_equal(mesh_conn_streams(w->a.conn), 0);
	assert_int_equal(mesh_conn_streams(w->b.conn), 0);
}

static void
test_request_open_checks_the_head(void **state)
{
	struct mp_world *w = *state;
	static const nghttp2_nv connect[] = {
		NV(":method", "CONNECT"),
		NV(":authority", "api:80"),
	};
	static const nghttp2_nv no_path[] = {
		NV(":method", "GET"),
		NV(":scheme", "http"),
		NV(":authority", "api"),
	};
	static const nghttp2_nv late_pseudo[] = {
		NV(":method", "GET"),
		NV(":scheme", "http"),
		NV("accept", "*/*"),
		NV(":path", "/"),
	};
	static const nghttp2_nv twice[] = {
		NV(":method", "GET"),
		NV(":method", "GET"),
		NV(":scheme", "http"),
		NV(":path", "/"),
	};
	static const nghttp2_nv te_gzip[] = {
		NV(":method", "GET"),
		NV(":scheme", "http"),
		NV(":path", "/"),
		NV("te", "gzip"),
	};
	static const nghttp2_nv upgrade_hdr[] = {
		NV(":method", "GET"),
		NV(":scheme", "http"),
		NV(":path", "/"),
		NV("upgrade", "websocket"),
	};
	nghttp2_nv many[MESH_HEADER_FIELDS_MAX + 1];
	struct mesh_stream *s;

	mp_start(w);
	mp_pump(w);
	assert_int_equal(mesh_request_open(w->a.conn, "api", connect, 2, true,
	    NULL, &s), WEFT_EINVAL);
	assert_null(s);
	assert_int_equal(mesh_request_open(w->a.conn, "api", no_path, 3, true,
	    NULL, &s), WEFT_EINVAL);
	assert_int_equal(mesh_request_open(w->a.conn, "api", late_pseudo, 4,
	    true, NULL, &s), WEFT_EINVAL);
	assert_int_equal(mesh_request_open(w->a.conn, "api", twice, 4, true,
	    NULL, &s), WEFT_EINVAL);
	assert_int_equal(mesh_request_open(w->a.conn, "api", te_gzip, 4, true,
	    NULL, &s), WEFT_EINVAL);
	assert_int_equal(mesh_request_open(w->a.conn, "api", upgrade_hdr, 4,
	    true, NULL, &s), WEFT_EINVAL);
	assert_int_equal(mesh_request_open(w->a.conn, "Bad Name", get_nv, 5,
	    true, NULL, &s), WEFT_EINVAL);
	/* node-b's certificate does not list web. */
	assert_int_equal(mesh_request_open(w->a.conn, "web", get_nv, 5, true,
	    NULL, &s), WEFT_EPOLICY);
	assert_int_equal(mesh_request_open(w->b.conn, "api", get_nv, 5, true,
	    NULL, &s), WEFT_ESTATE);
	/* 128 fields of the caller's plus weft-service is one too many. */
	memcpy(many, get_nv, 4 * sizeof(*many));
	for (size_t i = 4; i < MESH_HEADER_FIELDS_MAX; i++)
		many[i] = (nghttp2_nv)NV("x-many", "1");
	assert_int_equal(mesh_request_open(w->a.conn, "api", many,
	    MESH_HEADER_FIELDS_MAX, true, NULL, &s), WEFT_ETOOBIG);
	assert_int_equal(mesh_request_open(w->a.conn, "api", many,
	    MESH_HEADER_FIELDS_MAX - 1, true, NULL, &s), 0);
	mp_pump(w);
	assert_int_equal(mp_count(&w->b, MESH_EV_REQUEST), 1);
	assert_int_equal(mesh_conn_streams(w->a.conn), 1);
	mesh_stream_close(s);
	mp_pump(w);
	assert_int_equal(mesh_conn_streams(w->a.conn), 0);
	/* An app's Host is not a service name: any length goes. */
	{
		static char host[300];
		nghttp2_nv nv[5];

		memset(host, 'h', sizeof(host) - 1);
		memcpy(nv, get_nv, sizeof(nv));
		nv[2].value = (uint8_t *)host;
		nv[2].valuelen = sizeof(host) - 1;
		assert_int_equal(mesh_request_open(w->a.conn, "api", nv, 5, true,
		    NULL, &s), 0);
		mp_pump(w);
		assert_int_equal(mp_count(&w->b, MESH_EV_REQUEST), 2);
		assert_int_equal(strlen(head_field(server_request(w, 1),
		    ":authority")), sizeof(host) - 1);
		mesh_stream_close(s);
		mesh_stream_close(server_request(w, 1));
		mp_pump(w);
	}
}

/* The caller's own weft-* fields never reach the remote side. */
static void
test_weft_service_from_the_app_is_dropped(void **state)
{
	struct mp_world *w = *state;
	static const nghttp2_nv spoof[] = {
		NV(":method", "GET"),
		NV(":scheme", "http"),
		NV(":authority", "db"),
		NV(":path", "/"),
		NV("weft-service", "db"),
		NV("weft-reason", "made up"),
		NV("weft-upgrade", "websocket"),
		NV("weft-service", "cache"),
	};
	struct mesh_stream *cs, *ss;
	const nghttp2_nv *nv;
	size_t n;
	long i;

	mp_start(w);
	assert_int_equal(mesh_request_open(w->a.conn, "api", spoof, 8, false,
	    NULL, &cs), 0);
	mp_pump(w);
	i = mp_find(&w->b, MESH_EV_REQUEST, 0);
	assert_true(i >= 0);
	assert_string_equal(w->b.ev[i].service, "api");
	assert_int_equal(w->b.ev[i].port, 18080);
	ss = w->b.ev[i].stream;
	assert_int_equal(mesh_stream_head(ss, &nv, &n), 0);
	assert_int_equal(n, 5);
	assert_null(field(nv, n, "weft-service"));
	assert_null(field(nv, n, "weft-reason"));
	assert_string_equal(field(nv, n, "weft-upgrade"), "websocket");
	assert_string_equal(field(nv, n, ":authority"), "db");
	mesh_stream_close(cs);
	mesh_stream_close(ss);
	mp_pump(w);
}

/* The k-th REFUSED event on the client, checked. */
static void
expect_refused(struct mp_world *w, size_t k, int status, const char *why)
{
	long i = mp_find(&w->a, MESH_EV_REFUSED, k);

	assert_true(i >= 0);
	assert_int_equal(w->a.ev[i].status, status);
	if (strstr(w->a.ev[i].reason, why) == NULL)
		fail_msg("reason '%s' lacks '%s'", w->a.ev[i].reason, why);
}

static void
test_refusals(void **state)
{
	struct mp_world *w = *state;
	static const char *const b_svcs[] = {"db", "api", "billing"};
	static const struct table_intention deny_api[] = {
		{.source = "web", .destination = "api", .action = TABLE_DENY,
		 .name = "no-api"},
	};
	struct mesh_stream *cs, *ss;
	long i;

	/* billing: in node-b's certificate, served nowhere. */
	mp_issue(w, &w->b, "node-b", b_svcs, 3, mp_b_grps, 2);
	table_unref(w->table);
	w->table = mp_table(deny_api, 1, TABLE_ALLOW, 1);
	mp_start(w);

	assert_int_equal(mesh_request_open(w->a.conn, "api", post_nv, 5, false,
	    NULL, &cs), 0);
	write_all(cs, "body", 4);
	mp_pump(w);
	expect_refused(w, 0, 403, "no-api");
	assert_int_equal(mp_count(&w->a, MESH_EV_RESPONSE), 0);
	i = mp_find(&w->b, MESH_EV_DENIED, 0);
	assert_true(i >= 0);
	assert_int_equal(w->b.ev[i].status, 403);
	assert_string_equal(w->b.ev[i].service, "api");
	assert_int_equal(mp_count(&w->b, MESH_EV_REQUEST), 0);
	mesh_stream_close(cs);

	assert_int_equal(mesh_request_open(w->a.conn, "billing", get_nv, 5,
	    true, NULL, &cs), 0);
	mp_pump(w);
	expect_refused(w, 1, 404, "service billing is not served on node "
	    "node-b");
	mesh_stream_close(cs);

	/* The remote agent could not reach its app. */
	assert_int_equal(mesh_request_open(w->a.conn, "db", get_nv, 5, true,
	    NULL, &cs), 0);
	mp_pump(w);
	ss = server_request(w, 0);
	assert_int_equal(mesh_stream_refuse(ss, 502,
	    "connect to 127.0.0.1:15432 failed"), 0);
	assert_int_equal(mesh_stream_respond(ss, get_nv, 1, true), WEFT_ESTATE);
	mp_pump(w);
	expect_refused(w, 2, 502, "connect to 127.0.0.1:15432 failed");
	mesh_stream_close(cs);
	mesh_stream_close(ss);
	mp_pump(w);
	assert_int_equal(mp_count(&w->a, MESH_EV_RESET), 0);
	assert_int_equal(mesh_conn_streams(w->a.conn), 0);
	assert_int_equal(mesh_conn_streams(w->b.conn), 0);
}

/* An intention's L7 rules are checked on the request's method and path. */
static void
test_l7_intention(void **state)
{
	struct mp_world *w = *state;
	static const char *const get_only[] = {"GET"};
	static const struct authz_l7_rule rules[] = {
		{.path_prefix = "/things", .methods = get_only, .n_methods = 1},
	};
	static const struct table_intention its[] = {
		{.source = "web", .destination = "api", .action = TABLE_ALLOW,
		 .name = "web-reads-api", .http = rules, .n_http = 1},
	};
	struct mesh_stream *cs, *cs2;
	long i;

	table_unref(w->table);
	w->table = mp_table(its, 1, TABLE_DENY, 1);
	mp_start(w);
	/* POST /upload: neither the method nor the path. */
	assert_int_equal(mesh_request_open(w->a.conn, "api", post_nv, 5, true,
	    NULL, &cs), 0);
	assert_int_equal(mesh_request_open(w->a.conn, "api", get_nv, 5, true,
	    NULL, &cs2), 0);
	mp_pump(w);
	i = mp_find(&w->a, MESH_EV_REFUSED, 0);
	assert_true(i >= 0);
	assert_ptr_equal(w->a.ev[i].stream, cs);
	assert_int_equal(w->a.ev[i].status, 403);
	assert_non_null(strstr(w->a.ev[i].reason, "web-reads-api"));
	assert_int_equal(mp_count(&w->a, MESH_EV_REFUSED), 1);
	/* GET /things?id=1 passes. */
	assert_int_equal(mp_count(&w->b, MESH_EV_REQUEST), 1);
	respond_200(server_request(w, 0), true);
	mp_pump(w);
	i = mp_find(&w->a, MESH_EV_RESPONSE, 0);
	assert_true(i >= 0);
	assert_ptr_equal(w->a.ev[i].stream, cs2);
	mesh_stream_close(cs);
	mesh_stream_close(cs2);
	mesh_stream_close(server_request(w, 0));
	mp_pump(w);
	assert_int_equal(mesh_conn_streams(w->a.conn), 0);
	assert_int_equal(mesh_conn_streams(w->b.conn), 0);
}

static void
test_reset_mid_body(void **state)
{
	struct mp_world *w = *state;
	struct mesh_stream *cs, *ss;
	long i;

	mp_start(w);
	/* The server side gives up (its app went away). */
	assert_int_equal(mesh_request_open(w->a.conn, "api", post_nv, 5, false,
	    NULL, &cs), 0);
	write_all(cs, "part one", 8);
	mp_pump(w);
	ss = server_request(w, 0);
	expect_body(ss, "part one", false);
	respond_200(ss, false);
	write_all(ss, "half a resp", 11);
	mp_pump(w);
	expect_body(cs, "half a resp", false);
	assert_int_equal(mesh_stream_reset(ss), 0);
	mesh_stream_close(ss);
	mp_pump(w);
	i = mp_find(&w->a, MESH_EV_RESET, 0);
	assert_true(i >= 0);
	assert_ptr_equal(w->a.ev[i].stream, cs);
	assert_int_equal(w->a.ev[i].h2_error, NGHTTP2_INTERNAL_ERROR);
	assert_int_equal(mesh_stream_write(cs, "x", 1, &(size_t){0}),
	    WEFT_ECLOSED);
	mesh_stream_close(cs);

	/* The caller gives up mid-upload. */
	assert_int_equal(mesh_request_open(w->a.conn, "api", post_nv, 5, false,
	    NULL, &cs), 0);
	write_all(cs, "part", 4);
	mp_pump(w);
	ss = server_request(w, 1);
	mesh_stream_close(cs); /* unfinished: reset */
	mp_pump(w);
	i = mp_find(&w->b, MESH_EV_RESET, 0);
	assert_true(i >= 0);
	assert_ptr_equal(w->b.ev[i].stream, ss);
	assert_int_equal(w->b.ev[i].h2_error, NGHTTP2_CANCEL);
	mesh_stream_close(ss);
	mp_pump(w);
	assert_int_equal(mesh_conn_streams(w->a.conn), 0);
	assert_int_equal(mesh_conn_streams(w->b.conn), 0);
}

/* A complete answer before the whole request (a 413, say): the client
 * keeps it and is asked, without error, to stop sending. */
static void
test_early_response_stands(void **state)
{
	struct mp_world *w = *state;
	static const nghttp2_nv too_large[] = {NV(":status", "413")};
	struct mesh_stream *cs, *ss;
	long i;

	mp_start(w);
	assert_int_equal(mesh_request_open(w->a.conn, "api", post_nv, 5, false,
	    NULL, &cs), 0);
	write_all(cs, "the start of something big", 26);
	mp_pump(w);
	ss = server_request(w, 0);
	assert_int_equal(mesh_stream_respond(ss, too_large, 1, false), 0);
	write_all(ss, "too large", 9);
	assert_int_equal(mesh_stream_shutdown_write(ss), 0);
	mesh_stream_close(ss);
	mp_pump(w);
	i = mp_find(&w->a, MESH_EV_RESPONSE, 0);
	assert_true(i >= 0);
	assert_int_equal(w->a.ev[i].status, 413);
	assert_int_equal(mp_count(&w->a, MESH_EV_RESET), 0);
	expect_body(cs, "too large", true);
	assert_int_equal(mesh_stream_write(cs, "more", 4, &(size_t){0}),
	    WEFT_ECLOSED);
	mesh_stream_close(cs);
	mp_pump(w);
	assert_int_equal(mesh_conn_streams(w->a.conn), 0);
	assert_int_equal(mesh_conn_streams(w->b.conn), 0);
}

static void
test_connect_and_http_on_one_conn(void **state)
{
	struct mp_world *w = *state;
	struct mesh_stream *tcp, *http, *stcp, *shttp;
	long i;

	mp_start(w);
	assert_int_equal(mesh_stream_open(w->a.conn, "db", 5432, NULL, &tcp),
	    0);
	assert_int_equal(mesh_request_open(w->a.conn, "api", get_nv, 5, true,
	    NULL, &http), 0);
	write_all(tcp, "tcp bytes", 9);
	mp_pump(w);
	i = mp_find(&w->b, MESH_EV_CONNECT, 0);
	assert_true(i >= 0);
	stcp = w->b.ev[i].stream;
	assert_string_equal(w->b.ev[i].service, "db");
	shttp = server_request(w, 0);
	assert_int_equal(mp_count(&w->b, MESH_EV_CONNECT), 1);
	assert_int_equal(mp_count(&w->b, MESH_EV_REQUEST), 1);
	/* CONNECT streams have no head and no HTTP answers. */
	assert_int_equal(mesh_stream_head(stcp, &(const nghttp2_nv *){0},
	    &(size_t){0}), WEFT_ESTATE);
	assert_int_equal(mesh_stream_respond(stcp, get_nv, 1, true),
	    WEFT_EINVAL);
	assert_int_equal(mesh_stream_end_trailers(tcp, get_nv, 1), WEFT_EINVAL);
	assert_true(mp_find(&w->a, MESH_EV_OPENED, 0) >= 0);
	expect_body(stcp, "tcp bytes", false);
	respond_200(shttp, true);
	write_all(stcp, "back", 4);
	mp_pump(w);
	expect_body(tcp, "back", false);
	assert_true(mp_find(&w->a, MESH_EV_RESPONSE, 0) >= 0);
	assert_int_equal(mp_count(&w->a, MESH_EV_OPENED), 1);
	expect_body(http, "", true);
	mesh_stream_close(http);
	mesh_stream_close(shttp);
	mesh_stream_close(tcp);
	mesh_stream_close(stcp);
	mp_pump(w);
	assert_int_equal(mesh_conn_streams(w->a.conn), 0);
	assert_int_equal(mesh_conn_streams(w->b.conn), 0);
}

/* ---- a bare nghttp2 peer ---- */

struct raw {
	struct session *sess;
	nghttp2_session *h2;
	struct mesh_conn *mesh; /* the other end */
	int32_t last_req;       /* server: the last request's stream */
	int n_headers;          /* HEADERS frames received */
	int last_status;
	uint32_t rst_code;
	int32_t rst_stream;
	int n_rst;
	bool reason_seen;
};

static int
raw_on_header(nghttp2_session *h2, const nghttp2_frame *frame,
              const uint8_t *name, size_t namelen, const uint8_t *value,
              size_t valuelen, uint8_t flags, void *ud)
{
	struct raw *r = ud;

	(void)h2;
	(void)flags;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0 && valuelen == 3)
		r->last_status = (value[0] - '0') * 100 + (value[1] - '0') * 10 +
		    (value[2] - '0');
	if (namelen == 11 && memcmp(name, "weft-reason", 11) == 0)
		r->reason_seen = true;
	(void)frame;
	return 0;
}

static int
raw_on_frame(nghttp2_session *h2, const nghttp2_frame *frame, void *ud)
{
	struct raw *r = ud;

	(void)h2;
	if (frame->hd.type == NGHTTP2_HEADERS) {
		r->n_headers++;
		if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
			r->last_req = frame->hd.stream_id;
	} else if (frame->hd.type == NGHTTP2_RST_STREAM) {
		r->n_rst++;
		r->rst_code = frame->rst_stream.error_code;
		r->rst_stream = frame->hd.stream_id;
	}
	return 0;
}

/* A raw peer for m: a client when m serves, a server when m calls. */
static void
raw_new(struct mp_world *w, struct raw *r, bool client)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;

	memset(r, 0, sizeof(*r));
	if (client) {
		r->mesh = w->b.conn;
		assert_int_equal(session_new(&w->a.scfg, true, w->b.key.dh_pk,
		    MP_MS, T_NOW, &r->sess), 0);
	} else {
		r->mesh = w->a.conn;
		assert_int_equal(session_new(&w->b.scfg, false, NULL, MP_MS,
		    T_NOW, &r->sess), 0);
	}
	assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
	assert_int_equal(nghttp2_option_new(&opt), 0);
	/* Let it send what a weft would not. */
	nghttp2_option_set_max_send_header_block_length(opt, 1 << 20);
	nghttp2_session_callbacks_set_on_header_callback(cbs, raw_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, raw_on_frame);
	if (client)
		assert_int_equal(nghttp2_session_client_new2(&r->h2, cbs, r,
		    opt), 0);
	else
		assert_int_equal(nghttp2_session_server_new2(&r->h2, cbs, r,
		    opt), 0);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	assert_int_equal(nghttp2_submit_settings(r->h2, NGHTTP2_FLAG_NONE, NULL,
	    0), 0);
}

static void
raw_free(struct raw *r)
{
	nghttp2_session_del(r->h2);
	session_free(r->sess);
}

static void
raw_pump(struct raw *r)
{
	for (int i = 0; i < 1000; i++) {
		const uint8_t *p;
		size_t len, moved = 0;

		mesh_conn_out_peek(r->mesh, &p, &len);
		if (len > 0) {
			assert_int_equal(session_recv(r->sess, p, len), 0);
			mesh_conn_out_consume(r->mesh, len);
			moved += len;
		}
		session_plain_peek(r->sess, &p, &len);
		if (len > 0) {
			assert_true(nghttp2_session_mem_recv(r->h2, p, len) ==
			    (ssize_t)len);
			session_plain_consume(r->sess, len);
		}
		if (session_state(r->sess) == SESSION_ESTABLISHED) {
			const uint8_t *d;
			ssize_t n;

			while ((n = nghttp2_session_mem_send(r->h2, &d)) > 0)
				assert_int_equal(session_write(r->sess, d,
				    (size_t)n), 0);
			assert_true(n == 0);
		}
		session_out_peek(r->sess, &p, &len);
		if (len > 0) {
			mesh_conn_recv(r->mesh, MP_MS, p, len);
			session_out_consume(r->sess, len);
			moved += len;
		}
		if (moved == 0)
			return;
	}
	fail_msg("raw_pump did not settle");
}

static void
test_431_for_a_huge_header_block(void **state)
{
	struct mp_world *w = *state;
	nghttp2_nv nv[MESH_HEADER_FIELDS_MAX + 8];
	static char big[40000];
	struct raw r;
	int32_t id;
	long i;
	size_t n = 0;

	mp_start(w);
	raw_new(w, &r, true);
	raw_pump(&r);
	assert_int_equal(mesh_conn_state(w->b.conn), MESH_CONN_OPEN);
	memcpy(nv, get_nv, 4 * sizeof(*nv));
	nv[4] = (nghttp2_nv)NV("weft-service", "api");
	/* Too many fields. */
	for (n = 5; n < MESH_HEADER_FIELDS_MAX + 1; n++)
		nv[n] = (nghttp2_nv)NV("x-many", "1");
	id = nghttp2_submit_request(r.h2, NULL, nv, n, NULL, NULL);
	assert_true(id > 0);
	raw_pump(&r);
	assert_int_equal(r.last_status, 431);
	assert_true(r.reason_seen);
	i = mp_find(&w->b, MESH_EV_DENIED, 0);
	assert_true(i >= 0);
	assert_int_equal(w->b.ev[i].status, 431);

	/* Exactly at the limit is fine. */
	r.last_status = 0;
	r.reason_seen = false;
	id = nghttp2_submit_request(r.h2, NULL, nv, MESH_HEADER_FIELDS_MAX,
	    NULL, NULL);
	raw_pump(&r);
	assert_int_equal(mp_count(&w->b, MESH_EV_REQUEST), 1);
	respond_200(server_request(w, 0), true);
	raw_pump(&r);
	assert_int_equal(r.last_status, 200);
	assert_false(r.reason_seen);

	/* Too many bytes, in few fields. */
	memset(big, 'a', sizeof(big));
	nv[5] = (nghttp2_nv){(uint8_t *)"x-big", (uint8_t *)big, 5,
	    sizeof(big), NGHTTP2_NV_FLAG_NONE};
	nv[6] = (nghttp2_nv){(uint8_t *)"x-big2", (uint8_t *)big, 6,
	    sizeof(big), NGHTTP2_NV_FLAG_NONE};
	id = nghttp2_submit_request(r.h2, NULL, nv, 7, NULL, NULL);
	assert_true(id > 0);
	raw_pump(&r);
	assert_int_equal(r.last_status, 431);
	assert_int_equal(mp_count(&w->b, MESH_EV_DENIED), 2);
	assert_int_equal(mp_count(&w->b, MESH_EV_REQUEST), 1);
	/* The connection lives on. */
	assert_int_equal(mesh_conn_state(w->b.conn), MESH_CONN_OPEN);
	raw_free(&r);
}

static void
test_raw_caller_without_weft_service(void **state)
{
	struct mp_world *w = *state;
	nghttp2_nv nv[8];
	struct raw r;
	long i;

	mp_start(w);
	raw_new(w, &r, true);
	raw_pump(&r);
	memcpy(nv, get_nv, 5 * sizeof(*nv));
	assert_true(nghttp2_submit_request(r.h2, NULL, nv, 5, NULL, NULL) > 0);
	raw_pump(&r);
	assert_int_equal(r.last_status, 400);
	i = mp_find(&w->b, MESH_EV_DENIED, 0);
	assert_true(i >= 0);
	assert_string_equal(w->b.ev[i].reason, "weft-service is missing");
	nv[5] = (nghttp2_nv)NV("weft-service", "api");
	nv[6] = (nghttp2_nv)NV("weft-service", "db");
	assert_true(nghttp2_submit_request(r.h2, NULL, nv, 7, NULL, NULL) > 0);
	raw_pump(&r);
	i = mp_find(&w->b, MESH_EV_DENIED, 1);
	assert_true(i >= 0);
	assert_int_equal(w->b.ev[i].status, 400);
	assert_string_equal(w->b.ev[i].reason, "more than one weft-service");
	nv[5] = (nghttp2_nv)NV("weft-service", "no such name!");
	assert_true(nghttp2_submit_request(r.h2, NULL, nv, 6, NULL, NULL) > 0);
	raw_pump(&r);
	assert_int_equal(mp_count(&w->b, MESH_EV_DENIED), 3);
	assert_int_equal(mp_count(&w->b, MESH_EV_REQUEST), 0);
	raw_free(&r);
}

static void
test_1xx_is_swallowed(void **state)
{
	struct mp_world *w = *state;
	static const nghttp2_nv cont[] = {NV(":status", "100")};
	static const nghttp2_nv early[] = {
		NV(":status", "103"),
		NV("link", "</a.css>; rel=preload"),
	};
	static const nghttp2_nv final[] = {NV(":status", "204")};
	struct mesh_stream *cs;
	struct raw r;
	long i;

	mp_start(w);
	raw_new(w, &r, false);
	assert_int_equal(mesh_request_open(w->a.conn, "api", post_nv, 5, false,
	    NULL, &cs), 0);
	raw_pump(&r);
	assert_true(r.last_req > 0);
	assert_int_equal(nghttp2_submit_headers(r.h2, NGHTTP2_FLAG_NONE,
	    r.last_req, NULL, cont, 1, NULL), 0);
	assert_int_equal(nghttp2_submit_headers(r.h2, NGHTTP2_FLAG_NONE,
	    r.last_req, NULL, early, 2, NULL), 0);
	raw_pump(&r);
	assert_int_equal(mp_count(&w->a, MESH_EV_RESPONSE), 0);
	assert_int_equal(mesh_stream_head(cs, &(const nghttp2_nv *){0},
	    &(size_t){0}), WEFT_ESTATE);
	write_all(cs, "body", 4);
	assert_int_equal(mesh_stream_shutdown_write(cs), 0);
	assert_int_equal(nghttp2_submit_response(r.h2, r.last_req, final, 1,
	    NULL), 0);
	raw_pump(&r);
	assert_int_equal(mp_count(&w->a, MESH_EV_RESPONSE), 1);
	i = mp_find(&w->a, MESH_EV_RESPONSE, 0);
	assert_int_equal(w->a.ev[i].status, 204);
	assert_string_equal(head_field(cs, ":status"), "204");
	assert_null(head_field(cs, "link"));
	expect_body(cs, "", true);
	mesh_stream_close(cs);
	raw_pump(&r);
	assert_int_equal(mesh_conn_streams(w->a.conn), 0);
	raw_free(&r);
}

/* What a remote weft says is a refusal; a response head too big for the
 * core resets the stream. */
static void
test_raw_server_reason_and_huge_response(void **state)
{
	struct mp_world *w = *state;
	static const nghttp2_nv refused[] = {
		NV(":status", "503"),
		NV("weft-reason", "this node has no tables yet"),
	};
	nghttp2_nv many[MESH_HEADER_FIELDS_MAX + 2];
	struct mesh_stream *cs;
	struct raw r;
	long i;

	mp_start(w);
	raw_new(w, &r, false);
	assert_int_equal(mesh_request_open(w->a.conn, "api", get_nv, 5, true,
	    NULL, &cs), 0);
	raw_pump(&r);
	assert_int_equal(nghttp2_submit_response(r.h2, r.last_req, refused, 2,
	    NULL), 0);
	raw_pump(&r);
	expect_refused(w, 0, 503, "this node has no tables yet");
	assert_int_equal(mp_count(&w->a, MESH_EV_RESPONSE), 0);
	mesh_stream_close(cs);

	assert_int_equal(mesh_request_open(w->a.conn, "api", get_nv, 5, true,
	    NULL, &cs), 0);
	raw_pump(&r);
	many[0] = (nghttp2_nv)NV(":status", "200");
	for (size_t k = 1; k < MESH_HEADER_FIELDS_MAX + 1; k++)
		many[k] = (nghttp2_nv)NV("x-many", "1");
	assert_int_equal(nghttp2_submit_response(r.h2, r.last_req, many,
	    MESH_HEADER_FIELDS_MAX + 1, NULL), 0);
	raw_pump(&r);
	assert_int_equal(mp_count(&w->a, MESH_EV_RESPONSE), 0);
	i = mp_find(&w->a, MESH_EV_RESET, 0);
	assert_true(i >= 0);
	assert_int_equal(w->a.ev[i].err, WEFT_ETOOBIG);
	assert_int_equal(r.rst_code, NGHTTP2_CANCEL);
	mesh_stream_close(cs);
	raw_pump(&r);

	/* nghttp2 lets any three digits through; HTTP does not. */
	assert_int_equal(mesh_request_open(w->a.conn, "api", get_nv, 5, true,
	    NULL, &cs), 0);
	raw_pump(&r);
	many[0] = (nghttp2_nv)NV(":status", "689");
	assert_int_equal(nghttp2_submit_response(r.h2, r.last_req, many, 1,
	    NULL), 0);
	raw_pump(&r);
	assert_int_equal(mp_count(&w->a, MESH_EV_RESPONSE), 0);
	i = mp_find(&w->a, MESH_EV_RESET, 1);
	assert_true(i >= 0);
	assert_int_equal(w->a.ev[i].err, WEFT_EMALFORMED);
	assert_int_equal(r.rst_code, NGHTTP2_PROTOCOL_ERROR);
	mesh_stream_close(cs);
	raw_pump(&r);
	assert_int_equal(mesh_conn_streams(w->a.conn), 0);
	raw_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_get_without_body),
		T(test_post_large_body_both_ways),
		T(test_trailers_both_ways),
		T(test_respond_refuses_what_apps_may_not_set),
		T(test_request_open_checks_the_head),
		T(test_weft_service_from_the_app_is_dropped),
		T(test_refusals),
		T(test_l7_intention),
		T(test_reset_mid_body),
		T(test_early_response_stands),
		T(test_connect_and_http_on_one_conn),
		T(test_431_for_a_huge_header_block),
		T(test_raw_caller_without_weft_service),
		T(test_1xx_is_swallowed),
		T(test_raw_server_reason_and_huge_response),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
