/*
 * The local API server on a real Unix socket in a temporary directory.
 * The server's loop runs in its own thread; the test is a plain blocking
 * client (with a receive timeout so that a bug fails instead of hanging).
 * Everything crossing into the loop thread goes through uv_async.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/api_server.h"
#include "api_test_routes.h"

struct fx {
	uv_loop_t loop;
	struct api_server s;
	uv_async_t stop;
	uv_async_t bcast;
	pthread_t th;
	int leave_calls;
	bool closed;
	bool stopped;
	int bcast_count;
	char dir[64];
	char path[128];
};

static void
on_server_closed(struct api_server *s)
{
	struct fx *f = (struct fx *)(void *)((char *)s - offsetof(struct fx, s));

	f->closed = true;
}

static void
on_stop(uv_async_t *a)
{
	struct fx *f = a->data;

	api_server_close(&f->s, on_server_closed);
	uv_close((uv_handle_t *)&f->stop, NULL);
	uv_close((uv_handle_t *)&f->bcast, NULL);
}

static void
on_bcast(uv_async_t *a)
{
	struct fx *f = a->data;
	json_t *ev = json_pack("{s:s, s:i}", "type", "member", "seq", 7);

	f->bcast_count = api_server_broadcast_event(&f->s, ev);
	json_decref(ev);
}

static void *
loop_main(void *arg)
{
	struct fx *f = arg;

	uv_run(&f->loop, UV_RUN_DEFAULT);
	return NULL;
}

static struct fx *
fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/weft-api-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/run/weftd.sock", f->dir);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	return f;
}

static int
fx_start(struct fx *f, int gid)
{
	int rc = api_server_start(&f->s, &f->loop, f->path, gid, test_routes,
	                          sizeof(test_routes) / sizeof(test_routes[0]),
	                          &f->leave_calls);

	if (rc != 0)
		return rc;
	uv_async_init(&f->loop, &f->stop, on_stop);
	f->stop.data = f;
	uv_async_init(&f->loop, &f->bcast, on_bcast);
	f->bcast.data = f;
	assert_int_equal(pthread_create(&f->th, NULL, loop_main, f), 0);
	return 0;
}

/* Closes the server from its loop and joins the loop thread. */
static void
fx_stop(struct fx *f)
{
	if (f->stopped)
		return;
	f->stopped = true;
	uv_async_send(&f->stop);
	assert_int_equal(pthread_join(f->th, NULL), 0);
	assert_true(f->closed);
}

static void
fx_free(struct fx *f)
{
	char sub[160];

	fx_stop(f);
	/* Every handle was closed: a leak makes this UV_EBUSY. */
	assert_int_equal(uv_loop_close(&f->loop), 0);
	/* The server removes its socket file. */
	assert_int_not_equal(access(f->path, F_OK), 0);
	snprintf(sub, sizeof(sub), "%s/run", f->dir);
	rmdir(sub);
	rmdir(f->dir);
	free(f);
}

static int
client_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {5, 0};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
send_all(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Reads one response with a Content-Length (or up to the end of the head
 * when want_body is false).  Returns its status, 0 on end of stream
 * before any byte, -1 on a timeout or error.
 */
static int
read_response(int fd, char *buf, size_t cap, bool want_body)
{
	size_t len = 0;

	for (;;) {
		char *end;
		ssize_t r;

		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL) {
			const char *cl = strstr(buf, "Content-Length: ");
			size_t head = (size_t)(end + 4 - buf);

			if (!want_body || cl == NULL ||
			    len >= head + strtoul(cl + 16, NULL, 10))
				return atoi(buf + 9);
		}
		if (len + 1 >= cap)
			return -1;
		r = recv(fd, buf + len, cap - 1 - len, 0);
		if (r == 0)
			return len == 0 ? 0 : -1;
		if (r < 0)
			return -1;
		len += (size_t)r;
	}
}

/* Waits for the server to close the connection: true on EOF. */
static bool
wait_eof(int fd)
{
	char b[256];

	for (int i = 0; i < 64; i++) {
		ssize_t r = recv(fd, b, sizeof(b), 0);

		if (r == 0)
			return true;
		if (r < 0)
			return errno == ECONNRESET;
	}
	return false;
}

static void
test_health_round_trip(void **state)
{
	struct fx *f = fx_new();
	char buf[4096], sub[160];
	struct stat st;
	mode_t old_umask = umask(077);
	int fd;

	assert_int_equal(fx_start(f, -1), 0);
	umask(old_umask);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	/* The directory the server made is 0755 whatever the umask. */
	snprintf(sub, sizeof(sub), "%s/run", f->dir);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	fd = client_connect(f->path);
	assert_true(fd >= 0);
	for (int i = 0; i < 2; i++) { /* keep-alive: twice on one connection */
		assert_int_equal(send_all(fd, "GET /v1/health HTTP/1.1\r\n"
		                              "Host: weft\r\n\r\n"), 0);
		assert_int_equal(read_response(fd, buf, sizeof(buf), true), 200);
		assert_non_null(strstr(buf, "Content-Type: application/json"));
		assert_non_null(strstr(buf, "\r\n\r\n{\"ok\":true}\n"));
	}
	assert_int_equal(send_all(fd, "GET /v1/nothing HTTP/1.1\r\n"
	                              "Connection: close\r\n\r\n"), 0);
	assert_int_equal(read_response(fd, buf, sizeof(buf), true), 404);
	assert_true(wait_eof(fd));
	close(fd);
	fx_free(f);
}

static void
test_slow_client_cut_off(void **state)
{
	struct fx *f = fx_new();
	char buf[1024];
	int slow, idle, fast;

	f->s.opts.timeout_ms = 200;
	assert_int_equal(fx_start(f, -1), 0);
	slow = client_connect(f->path);
	idle = client_connect(f->path);
	assert_true(slow >= 0 && idle >= 0);
	/* Half a request, then nothing: the server must not wait forever. */
	assert_int_equal(send_all(slow, "GET /v1/hea"), 0);
	assert_true(wait_eof(slow));
	assert_true(wait_eof(idle));
	/* The server still serves others. */
	fast = client_connect(f->path);
	assert_true(fast >= 0);
	assert_int_equal(send_all(fast, "GET /v1/health HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(read_response(fast, buf, sizeof(buf), true), 200);
	close(slow);
	close(idle);
	close(fast);
	fx_free(f);
}

/*
 * A client that sends and never reads: the server stops reading it once
 * its answers pile up, and the timeout then cuts it off, instead of
 * queueing answers without end.
 */
static void
test_client_not_reading(void **state)
{
	static const char req[] = "GET /v1/health HTTP/1.1\r\n\r\n";
	static const char answer[] = "HTTP/1.1 200 OK\r\n"
	                             "Content-Type: application/json\r\n"
	                             "Content-Length: 12\r\n"
	                             "Connection: keep-alive\r\n\r\n"
	                             "{\"ok\":true}\n";
	struct fx *f = fx_new();
	struct timeval tv = {2, 0};
	unsigned long sent = 0, answered, total = 0;
	char buf[65536];
	bool eof = false;
	int fd;

	f->s.opts.timeout_ms = 300;
	f->s.opts.max_pending = 8192;
	assert_int_equal(fx_start(f, -1), 0);
	fd = client_connect(f->path);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* Bounded: 200000 requests are 5.6 MB, far more than the socket
	 * buffers and max_pending hold together. */
	while (sent < 200000 && send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) ==
	                        (ssize_t)(sizeof(req) - 1))
		sent++;
	assert_true(sent < 200000);
	for (int i = 0; i < 100000 && !eof; i++) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);

		if (r <= 0) {
			eof = r == 0 || errno == ECONNRESET;
			break;
		}
		if (total == 0 && r >= (ssize_t)(sizeof(answer) - 1))
			assert_memory_equal(buf, answer, sizeof(answer) - 1);
		total += (unsigned long)r;
	}
	assert_true(eof);
	/* Every answer is the same bytes; the cut may fall inside one. */
	answered = total / (sizeof(answer) - 1);
	print_message("sent %lu requests, %lu answered before the cut\n",
	              sent, answered);
	assert_true(answered < sent);
	close(fd);
	fx_free(f);
}

/* Two idle keep-alive clients fill a table of two: the next one is
 * served, and the client idle longest gives way. */
static void
test_connection_cap_idle_gives_way(void **state)
{
	struct fx *f = fx_new();
	char buf[1024];
	int fd[3];

	f->s.opts.max_conns = 2;
	assert_int_equal(fx_start(f, -1), 0);
	for (int i = 0; i < 3; i++) {
		fd[i] = client_connect(f->path);
		assert_true(fd[i] >= 0);
		/* Make sure the server accepted it before the next one. */
		assert_int_equal(send_all(fd[i], "GET /v1/health HTTP/1.1"
		                                 "\r\n\r\n"), 0);
		assert_int_equal(read_response(fd[i], buf, sizeof(buf), true),
		                 200);
	}
	assert_true(wait_eof(fd[0]));
	assert_int_equal(send_all(fd[1], "GET /v1/health HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(read_response(fd[1], buf, sizeof(buf), true), 200);
	assert_int_equal(f->s.displaced, 1);
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	fx_free(f);
}

/* Clients in the middle of a request keep their slots: a newcomer of
 * the same uid is refused, and the busy ones finish. */
static void
test_connection_cap_busy_refused(void **state)
{
	struct fx *f = fx_new();
	char buf[1024];
	int fd[3];

	f->s.opts.max_conns = 2;
	assert_int_equal(fx_start(f, -1), 0);
	for (int i = 0; i < 2; i++) {
		fd[i] = client_connect(f->path);
		assert_true(fd[i] >= 0);
		assert_int_equal(send_all(fd[i], "GET /v1/health HTTP/1.1\r\n"),
		                 0);
	}
	/* Let the server read both halves before the third arrives. */
	usleep(300 * 1000);
	fd[2] = client_connect(f->path);
	assert_true(fd[2] >= 0);
	assert_true(wait_eof(fd[2]));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(send_all(fd[i], "\r\n"), 0);
		assert_int_equal(read_response(fd[i], buf, sizeof(buf), true),
		                 200);
	}
	assert_int_equal(f->s.displaced, 0);
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	fx_free(f);
}

/* Leaves a socket file behind the way a killed agent does. */
static void
make_stale_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
}

static void
on_other_closed(struct api_server *s)
{
	*(bool *)s->table.ctx = true;
}

static void
test_stale_replaced_live_refused(void **state)
{
	struct fx *f = fx_new();
	struct api_server other;
	uv_loop_t loop2;
	bool other_closed = false;
	char dir[160], buf[1024];
	int fd;

	snprintf(dir, sizeof(dir), "%s/run", f->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	make_stale_socket(f->path);
	assert_int_equal(fx_start(f, -1), 0);
	fd = client_connect(f->path);
	assert_true(fd >= 0);
	assert_int_equal(send_all(fd, "GET /v1/health HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(read_response(fd, buf, sizeof(buf), true), 200);

	/* A second agent on the same path is refused, and the first one's
	 * socket stays. */
	memset(&other, 0, sizeof(other));
	assert_int_equal(uv_loop_init(&loop2), 0);
	assert_int_equal(api_server_start(&other, &loop2, f->path, -1,
	                                  test_routes, 1, &other_closed),
	                 WEFT_EEXIST);
	assert_non_null(strstr(other.error, "another agent is listening"));
	api_server_close(&other, on_other_closed);
	uv_run(&loop2, UV_RUN_DEFAULT);
	assert_true(other_closed);
	assert_int_equal(uv_loop_close(&loop2), 0);
	assert_int_equal(access(f->path, F_OK), 0);
	assert_int_equal(send_all(fd, "GET /v1/health HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(read_response(fd, buf, sizeof(buf), true), 200);
	close(fd);
	fx_free(f);
}

static void
test_not_a_socket_refused(void **state)
{
	char dir[] = "/tmp/weft-api-XXXXXX", path[64];
	struct api_server s;
	uv_loop_t loop;
	FILE *fp;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/weftd.sock", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("keep me", fp);
	fclose(fp);
	memset(&s, 0, sizeof(s));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(api_server_start(&s, &loop, path, -1, test_routes, 1,
	                                  NULL), WEFT_EEXIST);
	assert_non_null(strstr(s.error, "not a socket"));
	api_server_close(&s, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 7);
	unlink(path);
	rmdir(dir);
}

static void
test_event_broadcast(void **state)
{
	struct fx *f = fx_new();
	char buf[2048];
	size_t len = 0;
	int fd;

	assert_int_equal(fx_start(f, -1), 0);
	fd = client_connect(f->path);
	assert_true(fd >= 0);
	assert_int_equal(send_all(fd, "GET /v1/events HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(read_response(fd, buf, sizeof(buf), false), 200);
	assert_non_null(strstr(buf, "application/x-ndjson"));
	len = (size_t)(strstr(buf, "\r\n\r\n") + 4 - buf);
	uv_async_send(&f->bcast);
	while (strchr(buf + len, '\n') == NULL) {
		size_t have = strlen(buf);
		ssize_t r = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);

		assert_true(r > 0);
		buf[have + (size_t)r] = '\0';
	}
	assert_string_equal(buf + len, "{\"type\":\"member\",\"seq\":7}\n");
	fx_stop(f); /* bcast_count is the loop thread's until then */
	assert_int_equal(f->bcast_count, 1);
	close(fd);
	fx_free(f);
}

/* In a child as uid/gid 65534: a stranger in the socket's group. */
static int
stranger_client(const char *path)
{
	char buf[2048];
	int fd, st;

	if (setgid(65534) != 0 || setuid(65534) != 0)
		return 10;
	fd = client_connect(path);
	if (fd < 0)
		return 11;
	if (send_all(fd, "POST /v1/leave HTTP/1.1\r\nContent-Length: 0\r\n\r\n"))
		return 12;
	st = read_response(fd, buf, sizeof(buf), true);
	if (st != 403)
		return 13;
	if (strstr(buf, "{\"error\":\"changing the agent needs the socket "
	                "owner or root\"}") == NULL)
		return 14;
	if (send_all(fd, "GET /v1/echo HTTP/1.1\r\n\r\n"))
		return 15;
	if (read_response(fd, buf, sizeof(buf), true) != 200)
		return 16;
	if (strstr(buf, "\"uid\":65534") == NULL)
		return 17;
	close(fd);
	return 0;
}

static void
test_permission_other_uid(void **state)
{
	struct fx *f;
	char buf[1024];
	struct stat st;
	pid_t pid;
	int status, fd;

	if (geteuid() != 0) {
		print_message("skipped: switching to uid 65534 needs root\n");
		skip();
	}
	f = fx_new();
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(fx_start(f, 65534), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_gid, 65534);
	assert_int_equal(st.st_mode & 0777, 0660);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(stranger_client(f->path));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Root (the owner here) may change the agent. */
	fd = client_connect(f->path);
	assert_true(fd >= 0);
	assert_int_equal(send_all(fd, "POST /v1/leave HTTP/1.1\r\n"
	                              "Content-Length: 0\r\n\r\n"), 0);
	assert_int_equal(read_response(fd, buf, sizeof(buf), true), 200);
	close(fd);
	fx_free(f);
}

static void
test_path_too_long(void **state)
{
	char path[200];
	struct api_server s;
	uv_loop_t loop;

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	memset(&s, 0, sizeof(s));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(api_server_start(&s, &loop, path, -1, test_routes, 1,
	                                  NULL), WEFT_ETOOBIG);
	assert_non_null(strstr(s.error, "longer than"));
	api_server_close(&s, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_round_trip),
		cmocka_unit_test(test_slow_client_cut_off),
		cmocka_unit_test(test_client_not_reading),
		cmocka_unit_test(test_connection_cap_idle_gives_way),
		cmocka_unit_test(test_connection_cap_busy_refused),
		cmocka_unit_test(test_stale_replaced_live_refused),
		cmocka_unit_test(test_not_a_socket_refused),
		cmocka_unit_test(test_event_broadcast),
		cmocka_unit_test(test_permission_other_uid),
		cmocka_unit_test(test_path_too_long),
	};

	/* As weftd does: a client hanging up must not kill the server. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
