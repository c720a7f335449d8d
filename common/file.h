/*
 * Whole-file reads and atomic writes, for the edges (agent/ and tools/)
 * only: the protocol cores never touch files.
 */
#ifndef WEFT_COMMON_FILE_H
#define WEFT_COMMON_FILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Reads the whole file, at most max bytes, into a fresh NUL-terminated
 * buffer the caller frees with free().  WEFT_ENOENT when it is missing,
 * WEFT_ETOOBIG when it is larger than max, WEFT_EIO otherwise.
 */
int file_read(const char *path, size_t max, uint8_t **out, size_t *out_len);

/*
 * As file_read, for files that hold secrets: refused with WEFT_EPERM when
 * the file is readable or writable by group or others (as ssh does), or is
 * not a regular file.
 */
int file_read_secret(const char *path, size_t max, uint8_t **out,
                     size_t *out_len);

/*
 * Writes data to path atomically: a temporary file in the same directory
 * with the given mode, fsync, rename over path, fsync of the directory.
 * Either the old content or the whole new content is there afterwards.
 * With excl set, an existing path is refused with WEFT_EEXIST.
 */
int file_write_atomic(const char *path, const void *data, size_t len,
                      unsigned mode, int excl);

#endif
