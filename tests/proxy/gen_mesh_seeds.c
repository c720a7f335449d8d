/*
 * Writes seed inputs for fuzz_mesh_hop: HTTP/2 plaintext as a real
 * client would send it (nghttp2 in memory mode), prefixed with the
 * target's two control bytes.  Run once by hand:
 *   build/tests/proxy/gen-mesh-seeds tests/fuzz/corpus/mesh_hop
 */
#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t out[1 << 16];
static size_t out_len;

static void
drain(nghttp2_session *s)
{
	const uint8_t *p;
	ssize_t n;

	while ((n = nghttp2_session_mem_send(s, &p)) > 0) {
		if (out_len + (size_t)n > sizeof(out))
			abort();
		memcpy(out + out_len, p, (size_t)n);
		out_len += (size_t)n;
	}
}

static ssize_t
read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
          uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	const char *body = src->ptr;
	size_t n = strlen(body);

	(void)s;
	(void)id;
	(void)ud;
	if (n > len)
		n = len;
	memcpy(buf, body, n);
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int32_t
request(nghttp2_session *s, const char *method, const char *authority,
        const char *data)
{
	nghttp2_nv nva[2] = {
		{(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0},
		{(uint8_t *)":authority", (uint8_t *)authority, 10,
		 strlen(authority), 0},
	};
	nghttp2_data_provider prd = {.source.ptr = (void *)(uintptr_t)data,
	    .read_callback = read_body};

	return nghttp2_submit_request(s, NULL, nva, 2, data ? &prd : NULL, NULL);
}

/* A body, then trailers instead of END_STREAM on the DATA. */
static ssize_t
read_body_trailers(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                   uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	static const nghttp2_nv trl[] = {
		{(uint8_t *)"x-checksum", (uint8_t *)"abc", 10, 3, 0},
	};
	ssize_t n = read_body(s, id, buf, len, flags, src, ud);

	*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
	if (nghttp2_submit_trailer(s, id, trl, 1) != 0)
		abort();
	return n;
}

#define NVS(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, \
	sizeof(v) - 1, 0}

/* An HTTP request as a calling weft sends it, with extra fields. */
static int32_t
http_request(nghttp2_session *s, const char *method, const char *service,
             const nghttp2_nv *extra, size_t n_extra, const char *data,
             bool trailers)
{
	nghttp2_nv nva[200];
	size_t n = 0;
	nghttp2_data_provider prd = {.source.ptr = (void *)(uintptr_t)data,
	    .read_callback = trailers ? read_body_trailers : read_body};

	if (n_extra > 190)
		abort();
	nva[n++] = (nghttp2_nv){(uint8_t *)":method", (uint8_t *)method, 7,
	    strlen(method), 0};
	nva[n++] = (nghttp2_nv)NVS(":scheme", "http");
	nva[n++] = (nghttp2_nv)NVS(":authority", "app.example:8080");
	nva[n++] = (nghttp2_nv)NVS(":path", "/a/b?c=d");
	if (service != NULL)
		nva[n++] = (nghttp2_nv){(uint8_t *)"weft-service",
		    (uint8_t *)service, 12, strlen(service), 0};
	memcpy(nva + n, extra, n_extra * sizeof(*extra));
	n += n_extra;
	return nghttp2_submit_request(s, NULL, nva, n, data ? &prd : NULL,
	    NULL);
}

static void
write_seed(const char *dir, const char *name, uint8_t b0, uint8_t b1)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		exit(1);
	}
	fputc(b0, f);
	fputc(b1, f);
	fwrite(out, 1, out_len, f);
	fclose(f);
}

static nghttp2_session *
client(void)
{
	nghttp2_session_callbacks *cb;
	nghttp2_session *s;

	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_client_new(&s, cb, NULL);
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
	out_len = 0;
	return s;
}

/* Appends one frame, header block encoded with HPACK when nv is given. */
static void
frame(uint8_t type, uint8_t flags, uint32_t sid, const void *payload,
      size_t len)
{
	uint8_t *p = out + out_len;

	if (out_len + 9 + len > sizeof(out))
		abort();
	p[0] = (uint8_t)(len >> 16);
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)len;
	p[3] = type;
	p[4] = flags;
	p[5] = (uint8_t)(sid >> 24);
	p[6] = (uint8_t)(sid >> 16);
	p[7] = (uint8_t)(sid >> 8);
	p[8] = (uint8_t)sid;
	memcpy(p + 9, payload, len);
	out_len += 9 + len;
}

static void
headers_nv(nghttp2_hd_deflater *d, uint8_t flags, uint32_t sid,
           const nghttp2_nv *nva, size_t n)
{
	uint8_t block[1024];
	ssize_t len = nghttp2_hd_deflate_hd(d, block, sizeof(block), nva, n);

	if (len < 0)
		abort();
	frame(NGHTTP2_HEADERS, (uint8_t)(flags | NGHTTP2_FLAG_END_HEADERS), sid,
	    block, (size_t)len);
}

static void
headers(nghttp2_hd_deflater *d, uint8_t flags, uint32_t sid,
        const char *status, const char *reason)
{
	nghttp2_nv nva[2] = {
		{(uint8_t *)":status", (uint8_t *)status, 7, strlen(status), 0},
		{(uint8_t *)"weft-reason", (uint8_t *)reason, 11,
		 reason ? strlen(reason) : 0, 0},
	};
	uint8_t block[512];
	ssize_t n = nghttp2_hd_deflate_hd(d, block, sizeof(block), nva,
	    reason ? 2 : 1);

	if (n < 0)
		abort();
	frame(NGHTTP2_HEADERS, (uint8_t)(flags | NGHTTP2_FLAG_END_HEADERS), sid,
	    block, (size_t)n);
}

/* What a serving agent sends to a caller with streams 1, 3 and 5. */
static void
server_answers(const char *dir)
{
	static const uint8_t connect_error[4] = {0, 0, 0, 0xa};
	static const uint8_t goaway[8] = {0, 0, 0, 5, 0, 0, 0, 0};
	nghttp2_hd_deflater *d;

	nghttp2_hd_deflate_new(&d, 4096);
	out_len = 0;
	frame(NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	frame(NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, NULL, 0);
	headers(d, 0, 1, "200", NULL);
	frame(NGHTTP2_DATA, 0, 1, "pong", 4);
	frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, NULL, 0);
	headers(d, NGHTTP2_FLAG_END_STREAM, 3, "403",
	    "denied by intention web->api");
	headers(d, 0, 5, "200", NULL);
	frame(NGHTTP2_RST_STREAM, 0, 5, connect_error, 4);
	frame(NGHTTP2_GOAWAY, 0, 0, goaway, 8);
	write_seed(dir, "client-answers-reset-goaway", 2, 0x81);
	write_seed(dir, "client-answers-raw-wire", 3, 0x20);
	nghttp2_hd_deflate_del(d);
}

/* Answers to the calling side's HTTP requests (streams 7 and 9). */
static void
server_http_answers(const char *dir)
{
	static const nghttp2_nv cont[] = {NVS(":status", "100")};
	static const nghttp2_nv head[] = {
		NVS(":status", "200"),
		NVS("content-type", "application/grpc"),
		NVS("weft-upgraded", "101"),
	};
	static const nghttp2_nv trl[] = {
		NVS("grpc-status", "0"),
		NVS("grpc-message", "ok"),
	};
	static const nghttp2_nv app404[] = {
		NVS(":status", "404"),
		NVS("content-length", "0"),
	};
	nghttp2_hd_deflater *d;

	nghttp2_hd_deflate_new(&d, 4096);
	out_len = 0;
	frame(NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	frame(NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, NULL, 0);
	headers_nv(d, 0, 7, cont, 1);
	headers_nv(d, 0, 7, head, 3);
	frame(NGHTTP2_DATA, 0, 7, "\0\0\0\0\2ok", 7);
	headers_nv(d, NGHTTP2_FLAG_END_STREAM, 7, trl, 2);
	headers_nv(d, NGHTTP2_FLAG_END_STREAM, 9, app404, 2);
	write_seed(dir, "client-http-1xx-trailers", 2, 0x81);
	/* A new connection: a new HPACK table. */
	nghttp2_hd_deflate_del(d);
	nghttp2_hd_deflate_new(&d, 4096);
	out_len = 0;
	frame(NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	headers(d, NGHTTP2_FLAG_END_STREAM, 7, "503",
	    "this node has no tables yet");
	headers_nv(d, 0, 9, head, 2);
	frame(NGHTTP2_DATA, 0, 9, "partial", 7);
	frame(NGHTTP2_RST_STREAM, 0, 9, "\0\0\0\2", 4);
	write_seed(dir, "client-http-refused-reset", 2, 0x03);
	nghttp2_hd_deflate_del(d);
}

/* HTTP requests reaching the serving side. */
static void
http_requests(const char *dir)
{
	static const nghttp2_nv grpc[] = {
		NVS("content-type", "application/grpc"),
		NVS("te", "trailers"),
	};
	static const nghttp2_nv upgrade[] = {
		NVS("weft-upgrade", "websocket"),
		NVS("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
		NVS("weft-reason", "spoofed"),
	};
	static const nghttp2_nv twice[] = {NVS("weft-service", "db")};
	nghttp2_nv many[150];
	nghttp2_session *s;

	s = client();
	http_request(s, "GET", "db", NULL, 0, NULL, false);
	http_request(s, "POST", "db", grpc, 2, "\0\0\0\0\3req", true);
	http_request(s, "GET", "db", upgrade, 3, "hello", false);
	http_request(s, "PUT", "api", NULL, 0, "denied", false);
	http_request(s, "DELETE", "cache", NULL, 0, NULL, false);
	drain(s);
	write_seed(dir, "http-get-post-trailers-upgrade", 0, 0x8f);
	write_seed(dir, "http-refused-by-agent", 0, 0x11);
	nghttp2_session_del(s);

	s = client();
	http_request(s, "GET", NULL, NULL, 0, NULL, false);
	http_request(s, "GET", "api", twice, 1, NULL, false);
	http_request(s, "GET", "No Name", NULL, 0, NULL, false);
	for (size_t i = 0; i < sizeof(many) / sizeof(*many); i++)
		many[i] = (nghttp2_nv)NVS("x-many", "1");
	http_request(s, "GET", "db", many, sizeof(many) / sizeof(*many), NULL,
	    false);
	http_request(s, "POST", "db", NULL, 0, "after all that", false);
	drain(s);
	write_seed(dir, "http-bad-and-431", 0, 0x23);
	nghttp2_session_del(s);
}

int
main(int argc, char **argv)
{
	nghttp2_session *s;
	int32_t id;

	if (argc != 2) {
		fprintf(stderr, "usage: gen-mesh-seeds DIR\n");
		return 2;
	}
	s = client();
	request(s, "CONNECT", "db:5432", "hello through the mesh");
	drain(s);
	write_seed(argv[1], "connect-data-eof", 0, 0x2f);
	write_seed(argv[1], "connect-refused-by-agent", 0, 0x1f);
	nghttp2_session_del(s);

	s = client();
	request(s, "CONNECT", "api", "denied");
	request(s, "CONNECT", "cache:1", NULL);
	request(s, "GET", "db", NULL);
	request(s, "CONNECT", "Bad Name:99999", NULL);
	drain(s);
	write_seed(argv[1], "denied-unknown-bad", 0, 0x03);
	nghttp2_session_del(s);

	s = client();
	for (int i = 0; i < 20; i++) {
		id = request(s, "CONNECT", "db", NULL);
		if (i % 3 == 0)
			nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id,
			    NGHTTP2_CANCEL);
	}
	nghttp2_submit_ping(s, NGHTTP2_FLAG_NONE, NULL);
	nghttp2_submit_window_update(s, NGHTTP2_FLAG_NONE, 0, 100000);
	nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
	drain(s);
	write_seed(argv[1], "many-reset-ping-goaway", 0, 0x41);
	write_seed(argv[1], "raw-wire", 1, 0x20);
	nghttp2_session_del(s);
	server_answers(argv[1]);
	server_http_answers(argv[1]);
	http_requests(argv[1]);
	return 0;
}
