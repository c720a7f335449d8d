/*
 * tools/cli.c's parsers, directly: option parsing, durations, times and
 * name lists, including the edges the CLI tests cannot reach cheaply.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "tools/cli.h"

static void
duration_units(void **state)
{
	int64_t d = -1;

	(void)state;
	assert_int_equal(cli_parse_duration("45s", false, &d), 0);
	assert_int_equal(d, 45);
	assert_int_equal(cli_parse_duration("30m", false, &d), 0);
	assert_int_equal(d, 30 * 60);
	assert_int_equal(cli_parse_duration("12h", false, &d), 0);
	assert_int_equal(d, 12 * 3600);
	assert_int_equal(cli_parse_duration("90d", false, &d), 0);
	assert_int_equal(d, 90 * 86400);
	assert_int_equal(cli_parse_duration("2w", false, &d), 0);
	assert_int_equal(d, 14 * 86400);
	assert_int_equal(cli_parse_duration("10y", false, &d), 0);
	assert_int_equal(d, (int64_t)10 * 365 * 86400);
	assert_int_equal(cli_parse_duration("1000y", false, &d), 0);
	assert_int_equal(d, (int64_t)1000 * 365 * 86400);
}

static void
duration_rejects(void **state)
{
	static const char *const bad[] = {
		"", "y", "10", "10x", "1.5y", "-1d", "+1d", " 1d", "1d ", "1dd",
		"1001y", "365001d", "99999999999999999999s", "0d", "0", "1D",
	};
	int64_t d = 7;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cli_parse_duration(bad[i], false, &d),
		                 WEFT_EINVAL);
		assert_int_equal(d, 7); /* untouched on failure */
	}
	/* Zero only where the caller allows it (a clock skew). */
	assert_int_equal(cli_parse_duration("0", true, &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(cli_parse_duration("0s", true, &d), 0);
	assert_int_equal(d, 0);
}

static void
time_forms(void **state)
{
	int64_t t = 0, now = 1700000000;
	char s[CLI_TIME_LEN];

	(void)state;
	assert_int_equal(cli_parse_time("1970-01-01", now, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(cli_parse_time("2027-01-31", now, &t), 0);
	assert_int_equal(t, 1801353600);
	assert_int_equal(cli_parse_time("2027-01-31T12:30:05Z", now, &t), 0);
	assert_int_equal(t, 1801353600 + 12 * 3600 + 30 * 60 + 5);
	assert_int_equal(cli_parse_time("2027-01-31T12:30", now, &t), 0);
	assert_int_equal(t, 1801353600 + 12 * 3600 + 30 * 60);
	assert_int_equal(cli_parse_time("2028-02-29", now, &t), 0);
	assert_int_equal(cli_parse_time("90d", now, &t), 0);
	assert_int_equal(t, now + 90 * 86400);
	/* Formatting gives the same text back. */
	assert_int_equal(cli_parse_time("2031-06-01T23:59:59Z", now, &t), 0);
	cli_format_time(t, s);
	assert_string_equal(s, "2031-06-01T23:59:59Z");
}

static void
time_rejects(void **state)
{
	static const char *const bad[] = {
		"", "2027", "2027-1-31", "2027-01-32", "2027-02-29",
		"2027-13-01", "2027-00-10", "2027-01-31T24:00:00Z",
		"2027-01-31T12:60", "2027-01-31T12:00:61Z", "2027-01-31T12",
		"2027-01-31 12:00", "2027-01-31T12:00:00+01:00",
		"2027-01-31Z", "2027-01-31T12:00:00ZZ", "0", "tomorrow",
	};
	int64_t t = 7;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cli_parse_time(bad[i], 0, &t), WEFT_EINVAL);
		assert_int_equal(t, 7);
	}
}

static void
split_lists(void **state)
{
	const char *items[3];
	char buf[64];
	size_t n = 9;

	(void)state;
	strcpy(buf, "");
	assert_int_equal(cli_split_list(buf, items, 3, &n), 0);
	assert_int_equal(n, 0);
	strcpy(buf, "web");
	assert_int_equal(cli_split_list(buf, items, 3, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(items[0], "web");
	strcpy(buf, "a,b,c");
	assert_int_equal(cli_split_list(buf, items, 3, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(items[0], "a");
	assert_string_equal(items[1], "b");
	assert_string_equal(items[2], "c");
	strcpy(buf, "a,b,c,d");
	assert_int_equal(cli_split_list(buf, items, 3, &n), WEFT_ETOOBIG);
	strcpy(buf, "a,,b");
	assert_int_equal(cli_split_list(buf, items, 3, &n), WEFT_EINVAL);
	strcpy(buf, ",a");
	assert_int_equal(cli_split_list(buf, items, 3, &n), WEFT_EINVAL);
	strcpy(buf, "a,");
	assert_int_equal(cli_split_list(buf, items, 3, &n), WEFT_EINVAL);
	strcpy(buf, ",");
	assert_int_equal(cli_split_list(buf, items, 3, &n), WEFT_EINVAL);
}

static void
join_paths(void **state)
{
	char out[CLI_PATH_MAX], longdir[CLI_PATH_MAX];

	(void)state;
	assert_true(cli_join_path(out, "ca", "ca.key"));
	assert_string_equal(out, "ca/ca.key");
	assert_true(cli_join_path(out, "ca/", "ca.key"));
	assert_string_equal(out, "ca/ca.key");
	assert_true(cli_join_path(out, "/", "x"));
	assert_string_equal(out, "/x");
	memset(longdir, 'd', sizeof(longdir) - 4);
	longdir[sizeof(longdir) - 4] = '\0';
	assert_false(cli_join_path(out, longdir, "ca.key"));
}

static const struct cli_cmd leaf = {
	.name = "leaf", .summary = "A test command", .synopsis = "[options]",
};

enum { O_NAME, O_OUT, O_JSON, N_O };

/* Parses argv (NULL-terminated) with a --name, an --out and a --json. */
static bool
parse(struct cli_opt *o, struct cli_args *a, int *status,
      const char *const *argv)
{
	struct cli_ctx ctx = { .cmd = &leaf, .path = "weft leaf" };
	int argc = 0;

	o[O_NAME] = (struct cli_opt){ .name = "name", .metavar = "NAME",
	                              .required = true };
	o[O_OUT] = (struct cli_opt){ .name = "out", .metavar = "DIR" };
	o[O_JSON] = (struct cli_opt){ .name = "json" };
	*a = (struct cli_args){ .opts = o, .n_opts = N_O, .min_pos = 0,
	                        .max_pos = 2 };
	while (argv[argc] != NULL)
		argc++;
	*status = -1;
	/* cli_parse only reads argv; the literals here stay untouched. */
	return cli_parse(&ctx, a, argc, (char **)argv, status);
}

#define ARGV(...) ((const char *const[]){ "leaf", __VA_ARGS__, NULL })

static void
options(void **state)
{
	struct cli_opt o[N_O];
	struct cli_args a;
	int st;

	(void)state;
	assert_true(parse(o, &a, &st, ARGV("--name", "x", "--out=d", "p")));
	assert_string_equal(o[O_NAME].value, "x");
	assert_string_equal(o[O_OUT].value, "d");
	assert_false(o[O_JSON].given);
	assert_int_equal(a.n_pos, 1);
	assert_string_equal(a.pos[0], "p");

	/* A value may start with a dash or be empty; "--" ends options. */
	assert_true(parse(o, &a, &st,
	                  ARGV("--name", "-x", "--out=", "--", "--json")));
	assert_string_equal(o[O_NAME].value, "-x");
	assert_string_equal(o[O_OUT].value, "");
	assert_false(o[O_JSON].given);
	assert_int_equal(a.n_pos, 1);
	assert_string_equal(a.pos[0], "--json");

	assert_true(parse(o, &a, &st, ARGV("--json", "--name=a=b", "-")));
	assert_true(o[O_JSON].given);
	assert_null(o[O_JSON].value);
	assert_string_equal(o[O_NAME].value, "a=b");
	assert_string_equal(a.pos[0], "-");
}

static void
option_errors(void **state)
{
	struct cli_opt o[N_O];
	struct cli_args a;
	int st;

	(void)state;
	/* Each is a usage error: status 2. */
	assert_false(parse(o, &a, &st, ARGV("--out", "d")));
	assert_int_equal(st, CLI_EXIT_USAGE);
	assert_false(parse(o, &a, &st, ARGV("--name")));
	assert_int_equal(st, CLI_EXIT_USAGE);
	assert_false(parse(o, &a, &st, ARGV("--name", "x", "--nam", "y")));
	assert_int_equal(st, CLI_EXIT_USAGE);
	assert_false(parse(o, &a, &st, ARGV("--name", "x", "--names=y")));
	assert_int_equal(st, CLI_EXIT_USAGE);
	assert_false(parse(o, &a, &st, ARGV("--name", "x", "--name", "y")));
	assert_int_equal(st, CLI_EXIT_USAGE);
	assert_false(parse(o, &a, &st, ARGV("--name", "x", "--json=1")));
	assert_int_equal(st, CLI_EXIT_USAGE);
	assert_false(parse(o, &a, &st, ARGV("--name", "x", "-j")));
	assert_int_equal(st, CLI_EXIT_USAGE);
	assert_false(parse(o, &a, &st, ARGV("--name", "x", "a", "b", "c")));
	assert_int_equal(st, CLI_EXIT_USAGE);
	/* --help stops with status 0, even with other errors around. */
	assert_false(parse(o, &a, &st, ARGV("--help")));
	assert_int_equal(st, CLI_EXIT_OK);
	assert_false(parse(o, &a, &st, ARGV("-h", "--bogus")));
	assert_int_equal(st, CLI_EXIT_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(duration_units),
		cmocka_unit_test(duration_rejects),
		cmocka_unit_test(time_forms),
		cmocka_unit_test(time_rejects),
		cmocka_unit_test(split_lists),
		cmocka_unit_test(join_paths),
		cmocka_unit_test(options),
		cmocka_unit_test(option_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
