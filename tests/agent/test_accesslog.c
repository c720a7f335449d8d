#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/accesslog.h"
#include "common/err.h"

static void
on_done(void *ctx)
{
	*(bool *)ctx = true;
}

static void
entry(struct accesslog_entry *e, int i, const char *path)
{
	memset(e, 0, sizeof(*e));
	e->start_unix_ms = 1795723200123LL + i; /* 2026-11-26T20:00:00.123Z */
	e->kind = "http";
	e->direction = "outbound";
	e->src_service = "web";
	e->dst_service = "api";
	e->dst_node = "node-2";
	e->method = "GET";
	e->path = path;
	e->status = 200;
	e->bytes_in = 10;
	e->bytes_out = 2000;
	e->duration_us = 1500;
	e->retries = (unsigned)i;
	e->trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
}

/* Every line is one JSON object, in order, with the fields given; a
 * path carrying a newline and quotes stays inside its line. */
static void
test_lines_in_order(void **state)
{
	char dir[] = "/tmp/weft-accesslog-XXXXXX", path[96], line[4096];
	char want[64];
	struct accesslog_opts o = {path, 0};
	struct accesslog *l;
	struct accesslog_entry e;
	uv_loop_t loop;
	bool done = false;
	FILE *f;
	int n = 0;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/access.log", dir);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(accesslog_open(&loop, &o, NULL, &l, NULL, 0), 0);
	for (int i = 0; i < 500; i++) {
		entry(&e, i, i == 7 ? "/a\"b\nc" : "/x");
		assert_int_equal(accesslog_write(l, &e), 0);
		if (i % 50 == 0)
			uv_run(&loop, UV_RUN_NOWAIT);
	}
	assert_int_equal(accesslog_stats(l)->lines, 500);
	assert_int_equal(accesslog_stats(l)->dropped, 0);
	accesslog_close(l, on_done, &done);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(done);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		json_error_t err;
		json_t *j = json_loads(line, 0, &err);

		assert_non_null(j);
		assert_int_equal(json_integer_value(json_object_get(j, "retries")),
		                 n);
		snprintf(want, sizeof(want), "2026-11-26T20:00:%02d.%03dZ",
		         (123 + n) / 1000, (123 + n) % 1000);
		assert_string_equal(json_string_value(json_object_get(j, "time")),
		                    want);
		assert_string_equal(json_string_value(json_object_get(j, "path")),
		                    n == 7 ? "/a\"b\nc" : "/x");
		assert_string_equal(json_string_value(json_object_get(j,
		                    "trace_id")), "4bf92f3577b34da6a3ce929d0e0e4736");
		assert_null(json_object_get(j, "src_node"));
		json_decref(j);
		n++;
	}
	fclose(f);
	assert_int_equal(n, 500);
	unlink(path);
	rmdir(dir);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A sink nobody drains: writes never block the caller, the buffer fills
 * and further lines are dropped and counted. */
static void
test_slow_sink_drops(void **state)
{
	char dir[] = "/tmp/weft-accesslog-XXXXXX", path[96];
	struct accesslog_opts o = {path, 4096};
	struct accesslog *l;
	struct accesslog_entry e;
	uv_loop_t loop;
	bool done = false;
	int rd, rc, dropped = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	/* A reader that never reads keeps the FIFO open for writing. */
	assert_true((rd = open(path, O_RDONLY | O_NONBLOCK)) >= 0);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(accesslog_open(&loop, &o, NULL, &l, NULL, 0), 0);
	/* 64 KiB of pipe, 4 KiB of buffer: a few hundred lines fit. */
	for (int i = 0; i < 5000; i++) {
		entry(&e, i, "/x");
		rc = accesslog_write(l, &e);
		assert_true(rc == 0 || rc == WEFT_ENOSPACE);
		dropped += rc == WEFT_ENOSPACE;
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	assert_true(dropped > 0);
	assert_int_equal(accesslog_stats(l)->dropped, (uint64_t)dropped);
	assert_int_equal(accesslog_stats(l)->lines + (uint64_t)dropped, 5000);
	/* Drain the FIFO so the pending write completes and close ends. */
	accesslog_close(l, on_done, &done);
	for (int i = 0; i < 2000 && !done; i++) {
		char sink[65536];

		while (read(rd, sink, sizeof(sink)) > 0)
			;
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_true(done);
	close(rd);
	unlink(path);
	rmdir(dir);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Into a pipe or a socket (stderr under systemd) several workers write at
 * once, and only writes of at most PIPE_BUF stay whole: every write is
 * whole lines of at most PIPE_BUF.  A SOCK_SEQPACKET pair on stderr shows
 * each write as one record. */
static void
test_pipe_writes_whole_lines(void **state)
{
	struct accesslog_opts o = {"-", 0};
	struct accesslog *l;
	struct accesslog_entry e;
	uv_loop_t loop;
	bool done = false;
	int sv[2], saved, records = 0, lines = 0;
	char path[300], rec[65536];
	ssize_t n = 0;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_true((saved = dup(2)) >= 0);
	assert_true(dup2(sv[0], 2) >= 0);
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(accesslog_open(&loop, &o, NULL, &l, NULL, 0), 0);
	for (int i = 0; i < 300; i++) {
		entry(&e, i, path);
		assert_int_equal(accesslog_write(l, &e), 0);
	}
	accesslog_close(l, on_done, &done);
	/* Read as it is written: a socket buffer that fills would block
	 * the writer. */
	for (int k = 0; k < 5000 && (!done || n > 0); k++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		while ((n = recv(sv[1], rec, sizeof(rec), MSG_DONTWAIT)) > 0) {
			records++;
			assert_true(n <= PIPE_BUF);
			assert_int_equal(rec[n - 1], '\n');
			for (ssize_t i = 0; i < n; i++)
				lines += rec[i] == '\n';
		}
		usleep(1000);
	}
	assert_true(done);
	dup2(saved, 2);
	close(saved);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(lines, 300);
	assert_true(records > 300 * 400 / PIPE_BUF);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void
test_open_error_names_path(void **state)
{
	struct accesslog_opts o = {"/nonexistent-dir/x/access.log", 0};
	struct accesslog *l;
	uv_loop_t loop;
	char err[256] = "";

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(accesslog_open(&loop, &o, NULL, &l, err, sizeof(err)),
	                 WEFT_EIO);
	assert_null(l);
	assert_non_null(strstr(err, "/nonexistent-dir/x/access.log"));
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_in_order),
		cmocka_unit_test(test_slow_sink_drops),
		cmocka_unit_test(test_open_error_names_path),
		cmocka_unit_test(test_pipe_writes_whole_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
