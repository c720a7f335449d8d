/*
 * Replays fuzz inputs without libFuzzer: every file named, or found in a
 * directory named, is fed once to LLVMFuzzerTestOneInput.  meson test runs
 * each target over its corpus this way, so crashes the fuzzer once found
 * stay found in every build, sanitizers or not.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
	uint8_t *data;
	size_t len;
	int rc = file_read(path, 16u << 20, &data, &len);

	if (rc) {
		fprintf(stderr, "fuzz replay: cannot read %s\n", path);
		return 1;
	}
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned ran = 0;
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "fuzz replay: no such file %s\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed |= run_file(argv[i]);
			ran++;
			continue;
		}
		d = opendir(argv[i]);
		if (d == NULL)
			return 1;
		while ((e = readdir(d)) != NULL) {
			char path[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			failed |= run_file(path);
			ran++;
		}
		closedir(d);
	}
	printf("replayed %u inputs\n", ran);
	/* An empty corpus proves nothing; say so by failing. */
	return failed || ran == 0;
}
