#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"

static int
read_fd(int fd, size_t max, uint8_t **out, size_t *out_len)
{
	struct stat st;
	uint8_t *data;
	size_t len = 0;

	if (fstat(fd, &st) != 0)
		return WEFT_EIO;
	if ((uint64_t)st.st_size > max)
		return WEFT_ETOOBIG;
	data = malloc((size_t)st.st_size + 1);
	if (data == NULL)
		return WEFT_ENOMEM;
	/* The size may change under us; read until EOF, bounded by max. */
	for (;;) {
		ssize_t n;

		if (len == (size_t)st.st_size) {
			uint8_t extra;

			n = read(fd, &extra, 1);
			if (n == 0)
				break;
			free(data);
			return n < 0 ? WEFT_EIO : WEFT_ETOOBIG;
		}
		n = read(fd, data + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(data);
			return WEFT_EIO;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	data[len] = '\0';
	*out = data;
	*out_len = len;
	return 0;
}

static int
open_ro(const char *path, int *fd)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return errno == ENOENT ? WEFT_ENOENT
		       : errno == EACCES ? WEFT_EPERM
		                         : WEFT_EIO;
	return 0;
}

int
file_read(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	int fd, rc = open_ro(path, &fd);

	if (rc)
		return rc;
	rc = read_fd(fd, max, out, out_len);
	close(fd);
	return rc;
}

int
file_read_secret(const char *path, size_t max, uint8_t **out,
                 size_t *out_len)
{
	struct stat st;
	int fd, rc = open_ro(path, &fd);

	if (rc)
		return rc;
	/* Check the file we opened, not the name, so a swap cannot slip by. */
	if (fstat(fd, &st) != 0) {
		close(fd);
		return WEFT_EIO;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		close(fd);
		return WEFT_EPERM;
	}
	rc = read_fd(fd, max, out, out_len);
	close(fd);
	return rc;
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return WEFT_EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
file_write_atomic(const char *path, const void *data, size_t len,
                  unsigned mode, int excl)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, dfd, rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	                     (long)getpid()) >= sizeof(tmp))
		return WEFT_ETOOBIG;
	if (excl && access(path, F_OK) == 0)
		return WEFT_EEXIST;
	/* O_EXCL on the temporary: a stale one from a crash is an error to
	 * report, not something to write through (it may be a planted link). */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		return errno == EACCES ? WEFT_EPERM
		       : errno == ENOENT ? WEFT_ENOENT
		                         : WEFT_EIO;
	/* The umask may have narrowed the mode; a key must be exactly 0600,
	 * and nothing wider than asked. */
	rc = fchmod(fd, (mode_t)mode) == 0 ? 0 : WEFT_EIO;
	if (rc == 0)
		rc = write_all(fd, data, len);
	if (rc == 0 && fsync(fd) != 0)
		rc = WEFT_EIO;
	if (close(fd) != 0 && rc == 0)
		rc = WEFT_EIO;
	if (rc == 0 && excl) {
		/* link() fails if path appeared meanwhile, so excl holds. */
		if (link(tmp, path) != 0)
			rc = errno == EEXIST ? WEFT_EEXIST : WEFT_EIO;
		unlink(tmp);
	} else if (rc == 0 && rename(tmp, path) != 0) {
		rc = WEFT_EIO;
	}
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}
