/*
 * Benchmark of the mesh hop core alone, both ends in one process with no
 * sockets: bulk throughput of one CONNECT stream (HTTP/2 framing, flow
 * control and the secure session's AEAD, both directions of work done on
 * one core), and heap held per open idle stream on each side.
 *
 *   mesh-bench [MiB]    (default 256)
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

	bulk(mib == 0 ? 1 : mib);
	idle_streams(1000);
	return 0;
}
