/*
 * Writes seed inputs for fuzz_mesh_hop: HTTP/2 plaintext as a real
 * client would send it (nghttp2 in memory mode), prefixed with the
 * target's two control bytes.  Run once by hand:
 *   build/tests/proxy/gen-mesh-seeds tests/fuzz/corpus/mesh_hop
 */
#include <nghttp2/nghttp2.h>
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
	return 0;
}
