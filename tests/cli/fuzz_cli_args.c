/*
 * Fuzz target for the CLI's parsers of user input (tools/cli.c): the
 * input, split at NUL bytes, is an argv for option parsing, and each piece
 * is also parsed as a duration, a time and a name list.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct cli_cmd fuzz_cmd = { .name = "fuzz" };
static FILE *devnull;

static void
parse_piece(const char *s)
{
	const char *items[8];
	char copy[256], t[CLI_TIME_LEN];
	int64_t v;
	size_t n;

	if (cli_parse_duration(s, true, &v) == 0 && v < 0)
		abort(); /* durations are never negative */
	if (cli_parse_time(s, 1700000000, &v) == 0)
		cli_format_time(v, t);
	if (strlen(s) < sizeof(copy)) {
		strcpy(copy, s);
		if (cli_split_list(copy, items, 8, &n) == 0 && n > 8)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cli_ctx ctx = { .cmd = &fuzz_cmd, .path = "weft fuzz" };
	struct cli_opt opts[3] = {
		{ .name = "name", .metavar = "NAME", .required = true },
		{ .name = "out", .metavar = "DIR" },
		{ .name = "json" },
	};
	struct cli_args a = { .opts = opts, .n_opts = 3, .max_pos = 2 };
	char *buf, *argv[33];
	int argc = 0, status;
	size_t i;

	if (size > 4096)
		return 0;
	/* Usage errors print on every other input; send the CLI's stdio to
	 * /dev/null.  libFuzzer and the sanitizers report through their own
	 * handles (fd 2), which this leaves alone.  glibc lets stdout and
	 * stderr be assigned. */
	if (devnull == NULL) {
		devnull = fopen("/dev/null", "w");
		if (devnull != NULL)
			stdout = stderr = devnull;
	}
	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = (char *)"fuzz";
	for (i = 0; i <= size && argc < 32; i++) {
		if (i == 0 || buf[i - 1] == '\0') {
			argv[argc++] = &buf[i];
			parse_piece(&buf[i]);
		}
	}
	argv[argc] = NULL;
	if (cli_parse(&ctx, &a, argc, argv, &status) &&
	    (a.n_pos > 2 || opts[0].value == NULL))
		abort();
	free(buf);
	return 0;
}
