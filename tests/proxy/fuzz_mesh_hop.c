/*
 * Fuzz target: the server side of the mesh hop after a valid handshake.
 *
 * Input: byte 0 picks the layer and the side.  Bit 0 clear: the rest is
 * HTTP/2 plaintext, encrypted by an honest peer session, so the bytes
 * reach nghttp2 and the proxy's stream handling (the seeds start with a
 * real client preface and CONNECT or HTTP requests, or a server's
 * SETTINGS and answers).  Bit 0 set: the rest is raw bytes on the wire,
 * for the secure session under the mesh.  Bit 1 clear: the target is the
 * serving side; set: the calling side, with three CONNECT streams open
 * (ids 1, 3, 5) and two HTTP requests (7: a POST with a body and
 * trailers, 9: a GET), so that answers, 1xx, heads, trailers, reasons
 * and resets reach it.  Byte 1 sets the size of the pieces the input is
 * fed in and how the fake agent behaves.
 *
 * The fake agent accepts or refuses every CONNECT, answers or refuses
 * every HTTP request, reads and echoes what arrives, half-closes (or
 * ends with trailers) at EOF, closes reset streams.  Checked: a closed
 * connection says why and refuses more input, the streams held stay
 * within the limit advertised, and every head and trailer block the core
 * hands out is within the limits, NUL-terminated, without weft-service
 * in a request.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/bundle.h"
#include "crypto/session.h"
#include "proxy/mesh.h"
#include "tests/unit/testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_STREAMS 64

struct world {
	struct key_pair ca, a, b;
	uint8_t *cert_a, *cert_b;
	size_t len_a, len_b;
	struct cert cert_a_dec, cert_b_dec;
	struct bundle bundle;
	struct table *table;
};

struct agent {
	uint8_t mode;
	size_t events;
	bool closed_seen;
};

static struct world *w;

/* A received block as the core promises it. */
static void
check_block(const nghttp2_nv *nv, size_t n, bool request)
{
	size_t bytes = 0;

	if (n > MESH_HEADER_FIELDS_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (nv[i].name[nv[i].namelen] != '\0' ||
		    nv[i].value[nv[i].valuelen] != '\0')
			abort();
		if (request && nv[i].namelen == 12 &&
		    memcmp(nv[i].name, "weft-service", 12) == 0)
			abort();
		bytes += nv[i].namelen + nv[i].valuelen;
	}
	if (bytes > MESH_HEADER_BLOCK_MAX)
		abort();
}

static void
check_head(const struct mesh_stream *s, bool request)
{
	const nghttp2_nv *nv;
	size_t n;

	if (mesh_stream_head(s, &nv, &n) != 0)
		abort();
	check_block(nv, n, request);
}

static void
issue(const struct key_pair *k, const char *name, const char *const *svcs,
      size_t n, uint8_t **out, size_t *len)
{
	struct cert_params p = {
		.name = name,
		.services = svcs,
		.n_services = n,
		.not_before = T_NOW - T_DAY,
		.not_after = T_NOW + T_DAY,
	};

	if (cert_issue(&p, k, &w->ca, out, len) != 0)
		abort();
}

static void
world_init(void)
{
	static const char *const a_svcs[] = {"web"};
	static const char *const b_svcs[] = {"db", "api", "web"};
	static const struct table_local locals[] = {
		{.service = "db", .port = 15432},
		{.service = "api", .port = 18080},
	};
	static const struct table_intention its[] = {
		{.source = "web", .destination = "api", .action = TABLE_DENY},
	};
	struct table_spec spec = {
		.locals = locals, .n_locals = 2,
		.intentions = its, .n_intentions = 1,
		.default_action = TABLE_ALLOW,
	};
	struct test_rng_state rs;
	struct weft_rng rng = test_rng(&rs, 77);
	struct cert ca_cert;

	w = calloc(1, sizeof(*w));
	if (w == NULL || key_generate(&w->ca, KEY_KIND_CA, &rng) ||
	    key_generate(&w->a, KEY_KIND_NODE, &rng) ||
	    key_generate(&w->b, KEY_KIND_NODE, &rng))
		abort();
	test_issue(&ca_cert, &w->ca, &w->ca, "root", NULL, 0, NULL, 0,
	    T_NOW - T_DAY, T_NOW + T_DAY);
	if (bundle_add(&w->bundle, &ca_cert) != 0)
		abort();
	issue(&w->a, "node-a", a_svcs, 1, &w->cert_a, &w->len_a);
	issue(&w->b, "node-b", b_svcs, 3, &w->cert_b, &w->len_b);
	if (cert_decode(w->cert_a, w->len_a, &w->cert_a_dec) != 0 ||
	    cert_decode(w->cert_b, w->len_b, &w->cert_b_dec) != 0 ||
	    table_new(&spec, &w->table, NULL, NULL) != 0)
		abort();
}

static void
on_event(void *ctx, const struct mesh_event *ev)
{
	struct agent *ag = ctx;
	struct mesh_stream *s = ev->stream;
	size_t acc;

	ag->events++;
	switch (ev->type) {
	case MESH_EV_REQUEST: {
		static const nghttp2_nv resp[] = {
			{(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0},
			{(uint8_t *)"content-type", (uint8_t *)"text/plain", 12,
			 10, 0},
		};

		check_head(s, true);
		if (ag->mode & 1)
			mesh_stream_refuse(s, 502, "app unreachable\r\nX: y");
		else
			mesh_stream_respond(s, resp, 2, (ag->mode & 12) == 12);
		break;
	}
	case MESH_EV_RESPONSE:
		if (ev->status < 200 || ev->status > 599)
			abort();
		check_head(s, false);
		break;
	case MESH_EV_CONNECT:
		if (ag->mode & 1)
			mesh_stream_refuse(s, 502, "connect failed\r\nX: y");
		else
			mesh_stream_accept(s);
		break;
	case MESH_EV_READABLE: {
		const uint8_t *p;
		size_t len;
		bool eof;

		mesh_stream_read_peek(s, &p, &len, &eof);
		if (len > 0 && (ag->mode & 2)) {
			mesh_stream_write(s, p, len, &acc);
			mesh_stream_read_consume(s, acc);
		} else if (len > 0 && !(ag->mode & 4)) {
			mesh_stream_read_consume(s, len);
		}
		if (eof) {
			static const nghttp2_nv trl[] = {
				{(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1,
				 0},
			};
			const nghttp2_nv *nv;
			size_t n;

			if (mesh_stream_trailers(s, &nv, &n) != 0)
				abort();
			check_block(nv, n, false);
			if (mesh_stream_head(s, &nv, &n) == 0 && (ag->mode & 8))
				mesh_stream_end_trailers(s, trl, 1);
			else
				mesh_stream_shutdown_write(s);
		}
		break;
	}
	case MESH_EV_RESET:
	case MESH_EV_REFUSED:
		if (ev->reason == NULL ||
		    strlen(ev->reason) >= MESH_REASON_MAX)
			abort();
		mesh_stream_close(s);
		break;
	case MESH_EV_OPENED:
		if (ag->mode & 8)
			mesh_stream_shutdown_write(s);
		break;
	case MESH_EV_CONN_CLOSED:
		if (ev->reason == NULL || ev->reason[0] == '\0')
			abort();
		ag->closed_seen = true;
		break;
	default:
		break;
	}
}

static void
move_to_client(struct mesh_conn *srv, struct session *cli)
{
	const uint8_t *p;
	size_t len;

	for (int i = 0; i < 64; i++) {
		mesh_conn_out_peek(srv, &p, &len);
		if (len == 0)
			return;
		session_recv(cli, p, len);
		mesh_conn_out_consume(srv, len);
		session_plain_peek(cli, &p, &len);
		session_plain_consume(cli, len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct test_rng_state rs;
	struct weft_rng rng;
	struct session_config ca, cb;
	struct mesh_config mc;
	struct mesh_node *node = NULL;
	struct mesh_conn *srv = NULL;
	struct session *cli = NULL;
	struct agent ag = {0};
	const uint8_t *p;
	size_t len, piece;
	bool plain, client_side;
	int64_t now = 1000;

	if (w == NULL)
		world_init();
	if (size < 2)
		return 0;
	plain = (data[0] & 1) == 0;
	client_side = (data[0] & 2) != 0;
	ag.mode = data[1] >> 4;
	piece = (size_t)(data[1] & 15) * 97 + 1;
	data += 2;
	size -= 2;

	rng = test_rng(&rs, 5);
	ca = (struct session_config){.self = &w->a, .cert = w->cert_a,
	    .cert_len = w->len_a, .bundle = &w->bundle, .skew_s = 60,
	    .rng = &rng};
	cb = ca;
	cb.self = &w->b;
	cb.cert = w->cert_b;
	cb.cert_len = w->len_b;
	mc = (struct mesh_config){.session = &cb, .self_cert = &w->cert_b_dec,
	    .max_streams = FUZZ_MAX_STREAMS, .stream_window = 4096,
	    .send_buffer = 4096, .event = on_event, .ctx = &ag};
	if (client_side) {
		mc.session = &ca;
		mc.self_cert = &w->cert_a_dec;
	}
	if (mesh_node_new(&mc, &node) != 0)
		abort();
	mesh_node_set_table(node, w->table);
	if (client_side) {
		/* The target calls; the honest session answers as node-b. */
		if (mesh_conn_new(node, true, w->b.dh_pk, w->b.id, now, T_NOW,
		    NULL, &srv) || session_new(&cb, false, NULL, now, T_NOW, &cli))
			abort();
		for (int i = 0; i < 3; i++) {
			struct mesh_stream *cs;
			size_t acc;

			if (mesh_stream_open(srv, i == 1 ? "api" : "db", 5432,
			    NULL, &cs) != 0)
				abort();
			mesh_stream_write(cs, "request", 7, &acc);
			if (i == 2)
				mesh_stream_shutdown_write(cs);
		}
		for (int i = 0; i < 2; i++) {
			static const nghttp2_nv req[] = {
				{(uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0},
				{(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
				{(uint8_t *)":authority", (uint8_t *)"db", 10, 2, 0},
				{(uint8_t *)":path", (uint8_t *)"/x", 5, 2, 0},
				{(uint8_t *)"te", (uint8_t *)"trailers", 2, 8, 0},
			};
			static const nghttp2_nv trl[] = {
				{(uint8_t *)"x-sum", (uint8_t *)"1", 5, 1, 0},
			};
			struct mesh_stream *cs;
			size_t acc;

			if (mesh_request_open(srv, "db", req, 5, i == 1, NULL,
			    &cs) != 0)
				abort();
			if (i == 0) {
				mesh_stream_write(cs, "body", 4, &acc);
				if (mesh_stream_end_trailers(cs, trl, 1) != 0)
					abort();
			}
		}
		move_to_client(srv, cli);
		session_out_peek(cli, &p, &len);
		if (mesh_conn_recv(srv, now, p, len) != 0)
			abort();
		session_out_consume(cli, len);
	} else {
		if (mesh_conn_new(node, false, NULL, NULL, now, T_NOW, NULL,
		    &srv) || session_new(&ca, true, w->b.dh_pk, now, T_NOW, &cli))
			abort();
		/* The handshake: IK, one message each way. */
		session_out_peek(cli, &p, &len);
		if (mesh_conn_recv(srv, now, p, len) != 0)
			abort();
		session_out_consume(cli, len);
	}
	move_to_client(srv, cli);
	if (session_state(cli) != SESSION_ESTABLISHED ||
	    mesh_conn_state(srv) != MESH_CONN_OPEN)
		abort();

	while (size > 0) {
		size_t n = size < piece ? size : piece;
		int rc;

		if (plain) {
			if (session_write(cli, data, n) != 0)
				abort();
			session_out_peek(cli, &p, &len);
			rc = mesh_conn_recv(srv, ++now, p, len);
			session_out_consume(cli, len);
		} else {
			rc = mesh_conn_recv(srv, ++now, data, n);
		}
		if (rc != 0) {
			if (mesh_conn_state(srv) != MESH_CONN_CLOSED ||
			    mesh_conn_reason(srv)[0] == '\0' || !ag.closed_seen)
				abort();
			if (mesh_conn_recv(srv, now, data, n) != WEFT_ECLOSED)
				abort();
			break;
		}
		move_to_client(srv, cli);
		if (mesh_conn_streams(srv) > 2 * FUZZ_MAX_STREAMS)
			abort();
		data += n;
		size -= n;
	}
	mesh_conn_tick(srv, now + MESH_IDLE_TIMEOUT_MS + 1);
	move_to_client(srv, cli);
	session_free(cli);
	mesh_conn_free(srv);
	mesh_node_free(node);
	return 0;
}
