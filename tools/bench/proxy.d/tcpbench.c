/*
 * tcpbench: the small TCP tools of tools/bench/proxy, one process, one
 * thread, epoll.
 *
 *   tcpbench echo HOST PORT
 *       echoes every connection until killed; prints "ready".
 *   tcpbench connrate HOST PORT SECONDS SLOTS
 *       keeps SLOTS connections in flight, each: connect, send one byte,
 *       read it back, close; prints "connrate N conns in S s: R/s, F
 *       failed".  Stops after SECONDS (at most 600).
 *   tcpbench hold HOST PORT N SECONDS
 *       opens N connections, echoes one byte over each, prints "held N",
 *       then keeps them open SECONDS (at most 600) and exits.
 *   tcpbench holdhttp HOST PORT N SECONDS
 *       as hold, but each connection carries one HTTP/1.1 keep-alive
 *       request (GET /, answer read to its Content-Length) and then
 *       stays open idle: the idle keep-alive connections of an app.
 *   Both hold modes stop opening after 20 failures (each may wait 10 s).
 *
 * Every socket is non-blocking and every loop bounded by time or count.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SLOTS 1024
#define MAX_HOLD 20000
#define MAX_SECONDS 600
#define MAX_HOLD_FAILURES 20

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static struct sockaddr_in
addr_of(const char *host, const char *port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fprintf(stderr, "tcpbench: %s is not an IPv4 address\n", host);
		exit(2);
	}
	return sin;
}

static int
nb_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		die("socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* ---- echo ---- */

static int
run_echo(const char *host, const char *port)
{
	struct sockaddr_in sin = addr_of(host, port);
	struct epoll_event ev, evs[256];
	static char buf[256 * 1024];
	int lfd, ep, one = 1;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		die("bind");
	if (listen(lfd, 4096) != 0)
		die("listen");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1");
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL,
				                    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one,
					           sizeof(one));
					ev.events = EPOLLIN;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			/* Echo what is there; a full socket buffer on the way
			 * back blocks this one connection briefly, which a
			 * benchmark echo can afford. */
			ssize_t r = read(fd, buf, sizeof(buf));

			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				close(fd);
				continue;
			}
			for (ssize_t off = 0; off < r;) {
				ssize_t w = write(fd, buf + off, (size_t)(r - off));

				if (w < 0 && errno == EAGAIN) {
					struct timespec t = { 0, 100000 };
					nanosleep(&t, NULL);
					continue;
				}
				if (w <= 0)
					break;
				off += w;
			}
		}
	}
	return 0; /* not reached: killed by the bench */
}

/* ---- connrate ---- */

struct slot {
	int fd;
	int state; /* 0 free, 1 connecting, 2 waiting for the echo */
};

static int
slot_start(int ep, struct slot *s, const struct sockaddr_in *sin)
{
	struct epoll_event ev;

	s->fd = nb_socket();
	if (connect(s->fd, (const struct sockaddr *)sin, sizeof(*sin)) != 0 &&
	    errno != EINPROGRESS) {
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	s->state = 1;
	ev.events = EPOLLOUT;
	ev.data.ptr = s;
	epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
	return 0;
}

static int
run_connrate(const char *host, const char *port, int seconds, int slots)
{
	struct sockaddr_in sin = addr_of(host, port);
	static struct slot sl[MAX_SLOTS];
	struct epoll_event ev, evs[MAX_SLOTS];
	long done = 0, failed = 0;
	double t0, end;
	int ep;

	if (seconds < 1 || seconds > MAX_SECONDS || slots < 1 ||
	    slots > MAX_SLOTS) {
		fprintf(stderr, "tcpbench: 1-%d seconds, 1-%d slots\n",
		        MAX_SECONDS, MAX_SLOTS);
		return 2;
	}
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1");
	t0 = now_s();
	end = t0 + seconds;
	for (int i = 0; i < slots; i++)
		if (slot_start(ep, &sl[i], &sin) != 0)
			failed++;
	while (now_s() < end) {
		int n = epoll_wait(ep, evs, MAX_SLOTS, 100);

		for (int i = 0; i < n; i++) {
			struct slot *s = evs[i].data.ptr;
			char b = 'x';
			int err = 0;
			socklen_t el = sizeof(err);

			if (s->state == 1) {
				getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err == 0 && write(s->fd, &b, 1) == 1) {
					s->state = 2;
					ev.events = EPOLLIN;
					ev.data.ptr = s;
					epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
					continue;
				}
				failed++;
			} else if (read(s->fd, &b, 1) == 1) {
				done++;
			} else {
				failed++;
			}
			epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
			close(s->fd);
			s->state = 0;
			if (now_s() < end && slot_start(ep, s, &sin) != 0)
				failed++;
		}
	}
	end = now_s() - t0;
	printf("connrate %ld conns in %.1f s: %.0f/s, %ld failed\n", done, end,
	       (double)done / end, failed);
	return failed > done / 100 ? 1 : 0;
}

/* ---- hold, holdhttp ---- */

/* One echoed byte: the connection made it through to the app. */
static int
hold_echo(int fd)
{
	char b = 'x';

	return write(fd, &b, 1) == 1 && read(fd, &b, 1) == 1 ? 0 : -1;
}

/* One keep-alive request and its whole answer (head to its blank line,
 * then Content-Length bytes of body; at most sizeof(buf) in all). */
static int
hold_http(int fd)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: bench\r\n"
	                          "User-Agent: tcpbench\r\n\r\n";
	char buf[8192];
	size_t have = 0, want = 0;

	if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
		return -1;
	while (have < sizeof(buf) - 1) {
		ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
		char *end, *cl;

		if (r <= 0)
			return -1;
		have += (size_t)r;
		buf[have] = '\0';
		if (want == 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			*end = '\0';
			cl = strcasestr(buf, "\r\ncontent-length:");
			want = (size_t)(end - buf) + 4 +
			       (cl ? strtoul(cl + 17, NULL, 10) : 0);
			*end = '\r';
			if (strncmp(buf, "HTTP/1.1 200", 12) != 0)
				return -1;
		}
		if (want > 0 && have >= want)
			return have == want ? 0 : -1;
	}
	return -1;
}

static int
run_hold(const char *host, const char *port, int n, int seconds, bool http)
{
	struct sockaddr_in sin = addr_of(host, port);
	static int fds[MAX_HOLD];
	int ok = 0, failed = 0, tried = 0;
	double end;

	if (n < 1 || n > MAX_HOLD || seconds < 1 || seconds > MAX_SECONDS) {
		fprintf(stderr, "tcpbench: 1-%d connections, 1-%d seconds\n",
		        MAX_HOLD, MAX_SECONDS);
		return 2;
	}
	for (int i = 0; i < n && failed < MAX_HOLD_FAILURES; i++) {
		struct timeval tv = { 10, 0 };

		tried++;
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0) {
			perror("socket");
			failed++;
			continue;
		}
		/* SO_SNDTIMEO bounds the connect too. */
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fds[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fds[i], (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    (http ? hold_http(fds[i]) : hold_echo(fds[i])) == 0)
			ok++;
		else
			failed++;
	}
	if (tried < n)
		fprintf(stderr, "tcpbench: stopped after %d failures\n", failed);
	printf("held %d of %d\n", ok, n);
	fflush(stdout);
	end = now_s() + seconds;
	while (now_s() < end)
		sleep(1);
	return ok == n ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "echo") == 0)
		return run_echo(argv[2], argv[3]);
	if (argc == 6 && strcmp(argv[1], "connrate") == 0)
		return run_connrate(argv[2], argv[3], atoi(argv[4]),
		                    atoi(argv[5]));
	if (argc == 6 && strcmp(argv[1], "hold") == 0)
		return run_hold(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]),
		                false);
	if (argc == 6 && strcmp(argv[1], "holdhttp") == 0)
		return run_hold(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]),
		                true);
	fprintf(stderr, "usage: tcpbench echo HOST PORT | connrate HOST PORT "
	        "SECONDS SLOTS | hold|holdhttp HOST PORT N SECONDS\n");
	return 2;
}
