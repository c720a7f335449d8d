/*
 * fake_weftd SOCKET DIR: a stand-in for weftd's local API, for testing
 * the CLI without an agent.  It serves one connection at a time on the
 * Unix socket SOCKET, answering each request from a file of DIR named by
 * the method and path: "GET /v1/services/web" is DIR/GET_v1_services_web
 * ('/' and '?' become '_').  A missing file is a 404 with a JSON error.
 *
 * The first line of a file says how to answer, the rest is the body:
 *   200 (any status)   the body, with Content-Length
 *   chunked STATUS     the body in chunked encoding, a few bytes a chunk
 *   stream MS          streamed like /v1/events: no length, each line
 *                      sent MS milliseconds after the one before, then
 *                      the connection is closed
 *   raw                the rest sent as it is (for broken replies)
 *   hang               no answer: the connection is held until the
 *                      client gives up
 *
 * Every request is written to DIR/req.N (N = 1, 2, ...): the request line,
 * the header lines, an empty line and the body.  DIR/pid appears once the
 * socket listens.  The process exits after 60 s whatever happens.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAX (2u << 20)
#define LIFETIME_S 60

static void
die(const char *what)
{
	fprintf(stderr, "fake_weftd: %s: %s\n", what, strerror(errno));
	exit(1);
}

static bool
send_all(int fd, const char *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
	                       .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Reads one request into buf (NUL-terminated); its head ends at
 * *head_len, the body follows.  false when the client sent nothing
 * whole. */
static bool
read_request(int fd, char *buf, size_t cap, size_t *head_len,
             size_t *total)
{
	size_t len = 0, want = 0;
	char *end, *cl;
	ssize_t k;

	*head_len = 0;
	for (;;) {
		if (len + 1 >= cap)
			return false;
		k = recv(fd, buf + len, cap - 1 - len, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		len += (size_t)k;
		buf[len] = '\0';
		if (*head_len == 0 && (end = strstr(buf, "\r\n\r\n"))) {
			*head_len = (size_t)(end - buf) + 4;
			cl = strcasestr(buf, "\r\nContent-Length:");
			want = cl && cl < end
			       ? strtoul(cl + 17, NULL, 10) : 0;
			if (want > cap - 1 - *head_len)
				return false;
		}
		if (*head_len != 0 && len >= *head_len + want) {
			*total = *head_len + want;
			return true;
		}
	}
}

static void
record(const char *dir, unsigned n, const char *req, size_t head_len,
       size_t total)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/req.%u", dir, n);
	f = fopen(path, "w");
	if (f == NULL)
		die(path);
	/* The head with its CRLFs made LFs, for grep. */
	for (size_t i = 0; i < head_len; i++)
		if (req[i] != '\r')
			fputc(req[i], f);
	fwrite(req + head_len, 1, total - head_len, f);
	fclose(f);
}

/* DIR/<METHOD>_<path without its first '/', '/' and '?' as '_'>. */
static void
reply_file(const char *dir, const char *req, char *out, size_t cap)
{
	char name[512];
	size_t i = 0;
	const char *p;

	for (p = req; *p && *p != ' ' && i < sizeof(name) - 1; p++)
		name[i++] = *p;
	if (*p == ' ')
		p++;
	if (*p == '/')
		p++;
	if (i < sizeof(name) - 1)
		name[i++] = '_';
	for (; *p && *p != ' ' && *p != '\r' && i < sizeof(name) - 1; p++)
		name[i++] = *p == '/' || *p == '?' ? '_' : *p;
	name[i] = '\0';
	snprintf(out, cap, "%s/%s", dir, name);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (f == NULL)
		return NULL;
	buf = malloc(REQ_MAX + 1);
	if (buf == NULL)
		die("malloc");
	*len = fread(buf, 1, REQ_MAX, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void
send_head(int fd, int status, long long length, bool chunked)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head),
	             "HTTP/1.1 %d Whatever\r\n"
	             "Content-Type: application/json\r\n", status);
	if (length >= 0)
		n += snprintf(head + n, sizeof(head) - (size_t)n,
		              "Content-Length: %lld\r\n", length);
	if (chunked)
		n += snprintf(head + n, sizeof(head) - (size_t)n,
		              "Transfer-Encoding: chunked\r\n");
	n += snprintf(head + n, sizeof(head) - (size_t)n,
	              "Connection: close\r\n\r\n");
	send_all(fd, head, (size_t)n);
}

static void
answer(int fd, const char *file)
{
	char *text, *body, chunk[32];
	size_t len, blen, i, n;
	long ms;
	int status;

	text = slurp(file, &len);
	if (text == NULL) {
		static const char nf[] = "{\"error\": \"unknown path\"}";

		send_head(fd, 404, (long long)strlen(nf), false);
		send_all(fd, nf, strlen(nf));
		return;
	}
	body = strchr(text, '\n');
	body = body ? body + 1 : text + len;
	blen = len - (size_t)(body - text);
	if (strncmp(text, "hang", 4) == 0) {
		while (recv(fd, chunk, sizeof(chunk), 0) > 0)
			;
	} else if (strncmp(text, "raw", 3) == 0) {
		send_all(fd, body, blen);
	} else if (sscanf(text, "stream %ld", &ms) == 1) {
		send_head(fd, 200, -1, false);
		for (i = 0; i < blen; i += n) {
			const char *nl = memchr(body + i, '\n', blen - i);

			n = nl ? (size_t)(nl - (body + i)) + 1 : blen - i;
			sleep_ms(ms);
			if (!send_all(fd, body + i, n))
				break;
		}
	} else if (sscanf(text, "chunked %d", &status) == 1) {
		send_head(fd, status, -1, true);
		for (i = 0; i < blen; i += n) {
			n = blen - i < 7 ? blen - i : 7;
			snprintf(chunk, sizeof(chunk), "%zx\r\n", n);
			send_all(fd, chunk, strlen(chunk));
			send_all(fd, body + i, n);
			send_all(fd, "\r\n", 2);
		}
		send_all(fd, "0\r\n\r\n", 5);
	} else if (sscanf(text, "%d", &status) == 1) {
		send_head(fd, status, (long long)blen, false);
		send_all(fd, body, blen);
	} else {
		fprintf(stderr, "fake_weftd: %s: unknown first line\n", file);
	}
	free(text);
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa;
	char path[4096], *req;
	size_t head_len, total;
	unsigned n = 0;
	FILE *f;
	int lfd, fd;

	if (argc != 3) {
		fprintf(stderr, "usage: fake_weftd SOCKET DIR\n");
		return 2;
	}
	alarm(LIFETIME_S);
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "fake_weftd: socket path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0)
		die("socket");
	unlink(argv[1]);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die(argv[1]);
	if (listen(lfd, 8) != 0)
		die("listen");
	snprintf(path, sizeof(path), "%s/pid", argv[2]);
	f = fopen(path, "w");
	if (f == NULL)
		die(path);
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
	req = malloc(REQ_MAX + 1);
	if (req == NULL)
		die("malloc");
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			die("accept");
		}
		if (read_request(fd, req, REQ_MAX + 1, &head_len, &total)) {
			record(argv[2], ++n, req, head_len, total);
			reply_file(argv[2], req, path, sizeof(path));
			answer(fd, path);
		}
		close(fd);
	}
}
