#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
