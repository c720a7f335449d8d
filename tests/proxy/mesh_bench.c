/*
 * Benchmark of the mesh hop core alone, both ends in one process with no
 * sockets: bulk throughput of one CONNECT stream (HTTP/2 framing, flow
 * control and the secure session's AEAD, both directions of work done on
 * one core), small HTTP requests (GET, 200 with a 5-byte body) one at a
 * time and 64 at once, CPU per request for both ends together, and heap
 * held per open idle stream on each side.
 *
 *   mesh-bench [MiB] [requests]   (defaults 256 and 100000)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tests/proxy/meshpair.h"

static double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static struct mesh_stream *
server_stream(struct mp_world *w, size_t k)
{
	long i = mp_find(&w->b, MESH_EV_CONNECT, k);

	if (i < 0)
		abort();
	return w->b.ev[i].stream;
}

static void
bulk(size_t mib)
{
	struct mp_world *w = mp_world_new();
	struct mesh_stream *cs, *ss;
	static uint8_t chunk[65536];
	size_t total = mib << 20, sent = 0, got = 0;
	double t0, t1, c0, c1;

	mp_start(w);
	if (mesh_stream_open(w->a.conn, "db", 5432, NULL, &cs) != 0)
		abort();
	mp_pump(w);
	ss = server_stream(w, 0);
	memset(chunk, 0x5a, sizeof(chunk));
	t0 = clock_s(CLOCK_MONOTONIC);
	c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	while (got < total) {
		const uint8_t *p;
		size_t len, acc;
		bool eof;

		if (sent < total) {
			size_t n = total - sent < sizeof(chunk) ? total - sent :
			    sizeof(chunk);

			mesh_stream_write(cs, chunk, n, &acc);
			sent += acc;
		}
		mp_move(w, &w->a, &w->b);
		for (;;) {
			mesh_stream_read_peek(ss, &p, &len, &eof);
			if (len == 0)
				break;
			mesh_stream_read_consume(ss, len);
			got += len;
		}
		mp_move(w, &w->b, &w->a);
	}
	t1 = clock_s(CLOCK_MONOTONIC);
	c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	/* CPU time too: on a shared machine the wall clock also counts
	 * other processes' turns. */
	printf("bulk: %zu MiB through one stream: %.0f MiB/s by the wall "
	    "clock, %.0f MiB/s of CPU time (encrypting and decrypting both "
	    "here); %.4f bytes on the wire per byte\n", mib,
	    (double)mib / (t1 - t0), (double)mib / (c1 - c0),
	    (double)w->moved / (double)total);
	mesh_stream_close(cs);
	mesh_stream_close(ss);
	mp_world_free(w);
}

static void
requests(size_t n, size_t batch)
{
	static const nghttp2_nv req[] = {
		{(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
		{(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
		{(uint8_t *)":authority", (uint8_t *)"api.internal", 10, 12, 0},
		{(uint8_t *)":path", (uint8_t *)"/v1/items/42", 5, 12, 0},
		{(uint8_t *)"user-agent", (uint8_t *)"bench/1", 10, 7, 0},
		{(uint8_t *)"accept", (uint8_t *)"*/*", 6, 3, 0},
	};
	static const nghttp2_nv resp[] = {
		{(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0},
		{(uint8_t *)"content-type", (uint8_t *)"text/plain", 12, 10, 0},
		{(uint8_t *)"content-length", (uint8_t *)"5", 14, 1, 0},
	};
	struct mp_world *w = mp_world_new();
	struct mesh_stream **cs = calloc(batch, sizeof(*cs));
	size_t done = 0;
	uint64_t moved0;
	double t0, t1, c0, c1;

	mp_start(w);
	mp_pump(w);
	moved0 = w->moved;
	t0 = clock_s(CLOCK_MONOTONIC);
	c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	while (done < n) {
		w->a.n_ev = 0;
		w->b.n_ev = 0;
		for (size_t i = 0; i < batch; i++)
			if (mesh_request_open(w->a.conn, "api", req, 6, true, NULL,
			    &cs[i]) != 0)
				abort();
		mp_pump(w);
		for (size_t i = 0; i < w->b.n_ev; i++) {
			struct mesh_stream *ss = w->b.ev[i].stream;

			if (w->b.ev[i].type != MESH_EV_REQUEST)
				continue;
			if (mesh_stream_respond(ss, resp, 3, false) != 0 ||
			    mesh_stream_write(ss, "hello", 5, &(size_t){0}) != 0 ||
			    mesh_stream_shutdown_write(ss) != 0)
				abort();
			mesh_stream_close(ss);
		}
		mp_pump(w);
		for (size_t i = 0; i < batch; i++) {
			const uint8_t *p;
			size_t len;
			bool eof;

			mesh_stream_read_peek(cs[i], &p, &len, &eof);
			mesh_stream_read_consume(cs[i], len);
			mesh_stream_read_peek(cs[i], &p, &len, &eof);
			if (!eof)
				abort();
			mesh_stream_close(cs[i]);
		}
		done += batch;
	}
	mp_pump(w);
	t1 = clock_s(CLOCK_MONOTONIC);
	c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	printf("requests: %zu GETs, %zu at a time: %.2f us of CPU per request "
	    "(both ends), %.0f requests/s by the wall clock, %.0f bytes on "
	    "the wire per request\n", done, batch, (c1 - c0) * 1e6 /
	    (double)done, (double)done / (t1 - t0),
	    (double)(w->moved - moved0) / (double)done);
	free(cs);
	mp_world_free(w);
}

static void
idle_streams(size_t n)
{
	struct mp_world *w = mp_world_new();
	struct mesh_stream **cs = calloc(n, sizeof(*cs));
	size_t before, after;

	mp_start(w);
	mp_pump(w);
	before = heap_used();
	for (size_t i = 0; i < n; i++) {
		if (mesh_stream_open(w->a.conn, "db", 5432, NULL, &cs[i]) != 0)
			abort();
		mesh_stream_write(cs[i], "ping", 4, &(size_t){0});
	}
	mp_pump(w);
	for (size_t i = 0; i < n; i++) {
		struct mesh_stream *ss = server_stream(w, i);
		const uint8_t *p;
		size_t len;
		bool eof;

		mesh_stream_read_peek(ss, &p, &len, &eof);
		mesh_stream_read_consume(ss, len);
	}
	mp_pump(w);
	after = heap_used();
	printf("idle: %zu open streams (after 4 bytes each) hold %.0f bytes "
	    "of heap per stream, both ends together (%.2f MiB in all)\n", n,
	    (double)(after - before) / (double)n,
	    (double)(after - before) / 1048576.0);
	for (size_t i = 0; i < n; i++)
		mesh_stream_close(cs[i]);
	free(cs);
	mp_world_free(w);
}

int
main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 256;
	size_t n = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 100000;

	bulk(mib == 0 ? 1 : mib);
	requests(n < 64 ? 64 : n, 1);
	requests(n < 64 ? 64 : n, 64);
	idle_streams(1000);
	return 0;
}
