/*
 * What every `weft` subcommand shares: the command table, option parsing,
 * value parsers (durations, times, name lists) and the two ways a command
 * fails.
 *
 * Exit statuses: 0 success, 1 a runtime failure (or, for `cert verify`, an
 * invalid certificate, or for the agent commands an error answered by
 * weftd), 2 a usage error (unknown command or option, a missing or
 * malformed argument), 3 weftd not reachable (agent commands).  Helpers that fail print one line at the
 * point of failure and return the exit status, so callers just pass it up.
 */
#ifndef WEFT_TOOLS_CLI_H
#define WEFT_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_UNREACHABLE 3 /* agent commands: weftd did not answer */

#define CLI_MAX_POS 32
#define CLI_PATH_MAX 4096

struct cli_ctx;

/*
 * One entry of a command table.  A group ("ca", "cert") has subs, a leaf
 * has run; a table ends with an entry whose name is NULL.  Adding a
 * command is adding a row.
 */
struct cli_cmd {
	const char *name;
	const char *summary;  /* one line, for the parent's list */
	const char *synopsis; /* arguments after the command path */
	const char *help;     /* option details for --help; may be NULL */
	int (*run)(const struct cli_ctx *ctx, int argc, char **argv);
	const struct cli_cmd *subs;
};

/* Where dispatch got to: the command and its full path ("weft cert issue"),
 * for messages. */
struct cli_ctx {
	const struct cli_cmd *cmd;
	char path[128];
};

/*
 * Finds argv[0] in table and runs it (or descends into its group) with
 * argv[0] as the command's own name.  Prints the group's help for --help,
 * and usage for a missing or unknown command.  Returns the exit status.
 */
int cli_dispatch(const struct cli_cmd *table, const struct cli_ctx *parent,
                 int argc, char **argv);
/* The list of a table's commands, with their summaries, to stdout. */
void cli_print_commands(const struct cli_cmd *table);

/* A long option: "--name VALUE", "--name=VALUE", or a flag "--name". */
struct cli_opt {
	const char *name;    /* without the dashes */
	const char *metavar; /* NULL for a flag that takes no value */
	bool required;
	/* Set by cli_parse: */
	bool given;
	const char *value; /* into argv; NULL for a flag */
};

struct cli_args {
	struct cli_opt *opts;
	size_t n_opts;
	size_t min_pos, max_pos; /* max_pos <= CLI_MAX_POS */
	/* Set by cli_parse: */
	const char *pos[CLI_MAX_POS];
	size_t n_pos;
};

/*
 * Parses argv (argv[0] is the command's name) into a.  Returns true when
 * the command should go on; false with *status set when it must stop: 0
 * after printing --help, CLI_EXIT_USAGE after printing the error and the
 * usage to stderr.  "--" ends the options.
 */
bool cli_parse(const struct cli_ctx *ctx, struct cli_args *a, int argc,
               char **argv, int *status);

/* "weft: <msg>", the usage line and a --help hint on stderr; returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "weft: <what>: <why>" on stderr; returns CLI_EXIT_FAIL. */
int cli_fail(const char *what, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A duration: a positive integer and a unit, one of s, m, h, d, w, y
 * (365 days): "10y", "90d", "30m".  "0" alone is zero; it is accepted
 * only with allow_zero.  Bounded to 1000 years.  WEFT_EINVAL otherwise.
 */
int cli_parse_duration(const char *s, bool allow_zero, int64_t *out);

/*
 * A point in time: an ISO 8601 UTC date "2027-01-31", or date and time
 * "2027-01-31T12:00:00Z" (seconds and the Z optional), or a duration from
 * now ("90d").  WEFT_EINVAL otherwise.
 */
int cli_parse_time(const char *s, int64_t now, int64_t *out);

/* "2027-01-31T12:00:00Z"; out must hold CLI_TIME_LEN bytes. */
#define CLI_TIME_LEN 32
void cli_format_time(int64_t t, char out[static CLI_TIME_LEN]);

/* What cert_name_valid() accepts, for messages. */
#define CLI_NAME_RULE \
	"a DNS label: 1-63 of a-z, 0-9 and '-', not starting or ending " \
	"with '-'"

/* "expires in 364 days", "expired 3 days ago" or "not valid for another
 * 2 hours", for a window seen at now. */
void cli_time_left(int64_t not_before, int64_t not_after, int64_t now,
                   char *out, size_t cap);

/*
 * Splits a comma list ("web,api") in place into at most max items; an
 * empty string is no items.  WEFT_ETOOBIG past max, WEFT_EINVAL for an
 * empty item ("a,,b", "a,").
 */
int cli_split_list(char *s, const char **items, size_t max, size_t *n);

/* dir + "/" + name into out (CLI_PATH_MAX); false when too long. */
bool cli_join_path(char out[static CLI_PATH_MAX], const char *dir,
                   const char *name);

/* Creates dir (and missing parents) with mode 0700; an existing directory
 * is fine.  Prints the failure and returns CLI_EXIT_FAIL. */
int cli_make_dir(const char *dir);

/* Fails (printing "<path>: already exists; refusing to overwrite it") when
 * path exists; for checking every output before writing any. */
int cli_refuse_existing(const char *path);

/*
 * Reads a text file (at most max bytes) for a command: prints a clear
 * failure naming the path and returns CLI_EXIT_FAIL.  With secret, the
 * file must not be accessible by group or others (file_read_secret), and
 * the message says how to fix it.
 */
int cli_read_file(const char *path, size_t max, bool secret, char **out,
                  size_t *out_len);

#endif
