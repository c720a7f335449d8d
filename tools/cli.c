#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/err.h"
#include "common/file.h"
#include "crypto/cert.h"
#include "tools/cli.h"

static void
print_usage_line(FILE *f, const struct cli_ctx *ctx)
{
	const struct cli_cmd *c = ctx->cmd;

	if (c->subs != NULL)
		fprintf(f, "usage: %s <command> [options]\n", ctx->path);
	else
		fprintf(f, "usage: %s%s%s\n", ctx->path,
		        c->synopsis && *c->synopsis ? " " : "",
		        c->synopsis ? c->synopsis : "");
}

static void
print_help(const struct cli_ctx *ctx)
{
	const struct cli_cmd *c = ctx->cmd;

	print_usage_line(stdout, ctx);
	if (c->summary != NULL)
		printf("\n%s.\n", c->summary);
	if (c->subs != NULL) {
		printf("\n");
		cli_print_commands(c->subs);
		printf("\nRun `%s <command> --help` for a command's options.\n",
		       ctx->path);
	}
	if (c->help != NULL)
		printf("\n%s", c->help);
}

int
cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fputs("weft: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	print_usage_line(stderr, ctx);
	fprintf(stderr, "Run `%s --help` for details.\n", ctx->path);
	return CLI_EXIT_USAGE;
}

int
cli_fail(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "weft: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_EXIT_FAIL;
}

void
cli_print_commands(const struct cli_cmd *table)
{
	const struct cli_cmd *c;
	const struct cli_cmd *s;

	printf("Commands:\n");
	for (c = table; c->name != NULL; c++) {
		/* Leaves of a group are listed with their full name, so the
		 * whole tree is visible from `weft --help`. */
		if (c->subs == NULL) {
			printf("  %-16s %s\n", c->name, c->summary);
			continue;
		}
		for (s = c->subs; s->name != NULL; s++) {
			char name[64];

			snprintf(name, sizeof(name), "%s %s", c->name, s->name);
			printf("  %-16s %s\n", name, s->summary);
		}
	}
}

static bool
is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int
cli_dispatch(const struct cli_cmd *table, const struct cli_ctx *parent,
             int argc, char **argv)
{
	const struct cli_cmd *c;
	struct cli_ctx ctx;
	int n;

	if (argc < 1)
		return cli_usage_error(parent, "missing command");
	if (is_help(argv[0])) {
		print_help(parent);
		return CLI_EXIT_OK;
	}
	for (c = table; c->name != NULL; c++)
		if (strcmp(c->name, argv[0]) == 0)
			break;
	if (c->name == NULL) {
		if (argv[0][0] == '-')
			return cli_usage_error(parent, "unknown option %s",
			                       argv[0]);
		return cli_usage_error(parent, "unknown command '%s'",
		                       argv[0]);
	}
	ctx.cmd = c;
	n = snprintf(ctx.path, sizeof(ctx.path), "%s %s", parent->path,
	             c->name);
	if (n < 0 || (size_t)n >= sizeof(ctx.path))
		return cli_usage_error(parent, "command nesting too deep");
	if (c->subs != NULL)
		return cli_dispatch(c->subs, &ctx, argc - 1, argv + 1);
	return c->run(&ctx, argc, argv);
}

static struct cli_opt *
find_opt(struct cli_args *a, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < a->n_opts; i++)
		if (strlen(a->opts[i].name) == len &&
		    memcmp(a->opts[i].name, name, len) == 0)
			return &a->opts[i];
	return NULL;
}

bool
cli_parse(const struct cli_ctx *ctx, struct cli_args *a, int argc,
          char **argv, int *status)
{
	bool options_done = false;
	size_t i;
	int k;

	a->n_pos = 0;
	for (i = 0; i < a->n_opts; i++) {
		a->opts[i].given = false;
		a->opts[i].value = NULL;
	}
	for (k = 1; k < argc; k++) {
		const char *arg = argv[k];
		const char *name, *eq;
		struct cli_opt *o;
		size_t len;

		if (!options_done && strcmp(arg, "--") == 0) {
			options_done = true;
			continue;
		}
		if (options_done || arg[0] != '-' || arg[1] == '\0') {
			if (a->n_pos == a->max_pos) {
				*status = cli_usage_error(ctx,
				    "unexpected argument '%s'", arg);
				return false;
			}
			a->pos[a->n_pos++] = arg;
			continue;
		}
		if (is_help(arg)) {
			print_help(ctx);
			*status = CLI_EXIT_OK;
			return false;
		}
		if (arg[1] != '-') {
			*status = cli_usage_error(ctx, "unknown option %s",
			                          arg);
			return false;
		}
		name = arg + 2;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		o = find_opt(a, name, len);
		if (o == NULL) {
			*status = cli_usage_error(ctx, "unknown option --%.*s",
			                          (int)len, name);
			return false;
		}
		if (o->given) {
			*status = cli_usage_error(ctx, "--%s given twice",
			                          o->name);
			return false;
		}
		o->given = true;
		if (o->metavar == NULL) {
			if (eq != NULL) {
				*status = cli_usage_error(ctx,
				    "--%s takes no value", o->name);
				return false;
			}
			continue;
		}
		if (eq != NULL) {
			o->value = eq + 1;
		} else if (k + 1 < argc) {
			o->value = argv[++k];
		} else {
			*status = cli_usage_error(ctx,
			    "--%s needs a value (%s)", o->name, o->metavar);
			return false;
		}
	}
	for (i = 0; i < a->n_opts; i++) {
		if (a->opts[i].required && !a->opts[i].given) {
			*status = cli_usage_error(ctx, "missing --%s %s",
			                          a->opts[i].name,
			                          a->opts[i].metavar);
			return false;
		}
	}
	if (a->n_pos < a->min_pos) {
		*status = cli_usage_error(ctx, "missing argument");
		return false;
	}
	return true;
}

/* Seconds per unit; a year is 365 days, as operators count validity. */
static int64_t
unit_seconds(char u)
{
	switch (u) {
	case 's': return 1;
	case 'm': return 60;
	case 'h': return 3600;
	case 'd': return 86400;
	case 'w': return 7 * 86400;
	case 'y': return 365 * 86400;
	default: return 0;
	}
}

#define DURATION_MAX ((int64_t)1000 * 365 * 86400)

int
cli_parse_duration(const char *s, bool allow_zero, int64_t *out)
{
	int64_t n = 0, unit;
	const char *p = s;

	if (strcmp(s, "0") == 0) {
		if (!allow_zero)
			return WEFT_EINVAL;
		*out = 0;
		return 0;
	}
	if (*p < '0' || *p > '9')
		return WEFT_EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (*p - '0');
		if (n > DURATION_MAX)
			return WEFT_EINVAL;
	}
	unit = unit_seconds(*p);
	if (unit == 0 || p[1] != '\0')
		return WEFT_EINVAL;
	if (n > DURATION_MAX / unit)
		return WEFT_EINVAL;
	n *= unit;
	if (n == 0 && !allow_zero)
		return WEFT_EINVAL;
	*out = n;
	return 0;
}

/* Reads exactly width digits. */
static bool
digits(const char **p, int width, int *out)
{
	int v = 0, i;

	for (i = 0; i < width; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += width;
	*out = v;
	return true;
}

int
cli_parse_time(const char *s, int64_t now, int64_t *out)
{
	struct tm tm, back;
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0;
	int64_t dur;
	time_t t;

	if (cli_parse_duration(s, false, &dur) == 0) {
		*out = now + dur;
		return 0;
	}
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
	    *p++ != '-' || !digits(&p, 2, &d))
		return WEFT_EINVAL;
	if (*p == 'T') {
		p++;
		if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
			return WEFT_EINVAL;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &sec))
				return WEFT_EINVAL;
		}
		if (*p == 'Z')
			p++;
	}
	if (*p != '\0')
		return WEFT_EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm normalises "02-30" into March; a date that does not come
	 * back the same was not a date. */
	if (gmtime_r(&t, &back) == NULL || back.tm_year != y - 1900 ||
	    back.tm_mon != mo - 1 || back.tm_mday != d || back.tm_hour != h ||
	    back.tm_min != mi || back.tm_sec != sec)
		return WEFT_EINVAL;
	*out = (int64_t)t;
	return 0;
}

void
cli_format_time(int64_t t, char out[static CLI_TIME_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, CLI_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, CLI_TIME_LEN, "@%lld", (long long)t);
}

void
cli_time_left(int64_t not_before, int64_t not_after, int64_t now, char *out,
              size_t cap)
{
	char d[64];

	if (now < not_before) {
		cert_duration_format(not_before - now, d, sizeof(d));
		snprintf(out, cap, "not valid for another %s", d);
	} else if (now > not_after) {
		cert_duration_format(now - not_after, d, sizeof(d));
		snprintf(out, cap, "expired %s ago", d);
	} else {
		cert_duration_format(not_after - now, d, sizeof(d));
		snprintf(out, cap, "expires in %s", d);
	}
}

int
cli_split_list(char *s, const char **items, size_t max, size_t *n)
{
	char *p = s;

	*n = 0;
	if (*s == '\0')
		return 0;
	for (;;) {
		char *comma = strchr(p, ',');

		if (comma != NULL)
			*comma = '\0';
		if (*p == '\0')
			return WEFT_EINVAL;
		if (*n == max)
			return WEFT_ETOOBIG;
		items[(*n)++] = p;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

bool
cli_join_path(char out[static CLI_PATH_MAX], const char *dir,
              const char *name)
{
	size_t dl = strlen(dir);
	const char *sep = dl > 0 && dir[dl - 1] == '/' ? "" : "/";
	int n = snprintf(out, CLI_PATH_MAX, "%s%s%s", dir, sep, name);

	return n >= 0 && n < CLI_PATH_MAX;
}

int
cli_make_dir(const char *dir)
{
	char buf[CLI_PATH_MAX];
	struct stat st;
	size_t len = strlen(dir), i;

	if (len == 0)
		return cli_fail("--out", "empty directory name");
	if (len >= sizeof(buf))
		return cli_fail(dir, "path too long");
	memcpy(buf, dir, len + 1);
	/* Each missing ancestor, then dir itself, like mkdir -p. */
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return cli_fail(buf, "cannot create directory: %s",
			                strerror(errno));
		buf[i] = i < len ? '/' : '\0';
	}
	if (stat(dir, &st) != 0)
		return cli_fail(dir, "%s", strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return cli_fail(dir, "not a directory");
	return 0;
}

int
cli_refuse_existing(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return cli_fail(path, "already exists; refusing to overwrite "
		                      "it");
	if (errno != ENOENT)
		return cli_fail(path, "%s", strerror(errno));
	return 0;
}

static int
explain_secret_refusal(const char *path)
{
	struct stat st;
	unsigned mode;

	if (stat(path, &st) != 0)
		return cli_fail(path, "cannot read it: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cli_fail(path, "not a regular file");
	mode = (unsigned)st.st_mode & 07777;
	if (mode & 077)
		return cli_fail(path, "%s by group or others (mode %04o); "
		                "chmod 600 it",
		                mode & 044 ? "readable" : "writable", mode);
	return cli_fail(path, "permission denied");
}

int
cli_read_file(const char *path, size_t max, bool secret, char **out,
              size_t *out_len)
{
	uint8_t *data;
	int rc;

	rc = secret ? file_read_secret(path, max, &data, out_len)
	            : file_read(path, max, &data, out_len);
	switch (rc) {
	case 0:
		*out = (char *)data;
		return 0;
	case WEFT_ENOENT:
		return cli_fail(path, "no such file");
	case WEFT_ETOOBIG:
		return cli_fail(path, "larger than %zu bytes", max);
	case WEFT_EPERM:
		if (secret)
			return explain_secret_refusal(path);
		return cli_fail(path, "permission denied");
	default:
		return cli_fail(path, "cannot read it: %s", weft_strerror(rc));
	}
}
