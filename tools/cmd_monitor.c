/*
 * weft monitor: weftd's event stream (GET /v1/events), one line per event
 * as it arrives, until Ctrl-C (exit 0) or until weftd goes away (exit 3).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "tools/agent_cli.h"
#include "tools/commands.h"

/* The signal handler's only way to tell the read loop to stop: a signal
 * cannot be given a context. */
static volatile sig_atomic_t monitor_stop;

static void
on_stop_signal(int sig)
{
	(void)sig;
	monitor_stop = 1;
}

/* "2025-11-26T13:50:00.123Z" for Unix milliseconds. */
static void
format_ms(json_int_t ms, char *out, size_t cap)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char t[32];

	if (ms < 0 || gmtime_r(&s, &tm) == NULL ||
	    strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(out, cap, "@%" JSON_INTEGER_FORMAT, ms);
		return;
	}
	snprintf(out, cap, "%s.%03dZ", t, (int)(ms % 1000));
}

int
agent_event_format(const char *line, size_t len, char *out, size_t cap)
{
	static const char *const member_keys[] = { "name", "addr" };
	static const char *const object_keys[] = { "kind", "name" };
	static const char *const health_keys[] = { "name", "node" };
	static const char *const check_keys[] = { "name", "service" };
	static const char *const proxy_keys[] = { "service", "node" };
	static const char *const other_keys[] = { "name", NULL };
	const char *const *keys = other_keys;
	char when[40], type[64], event[64], a[256], b[256], why[256] = "";
	json_t *j, *tm;
	size_t i;

	j = json_loadb(line, len, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return WEFT_EMALFORMED;
	}
	tm = json_object_get(j, "time_ms");
	if (json_is_integer(tm))
		format_ms(json_integer_value(tm), when, sizeof(when));
	else
		snprintf(when, sizeof(when), "-");
	agent_cell(json_object_get(j, "type"), type, sizeof(type));
	agent_cell(json_object_get(j, "event"), event, sizeof(event));
	if (strcmp(type, "member") == 0)
		keys = member_keys;
	else if (strcmp(type, "object") == 0)
		keys = object_keys;
	else if (strcmp(type, "health") == 0)
		keys = health_keys;
	else if (strcmp(type, "check") == 0)
		keys = check_keys;
	else if (strcmp(type, "proxy") == 0) {
		keys = proxy_keys;
		if (json_string_length(json_object_get(j, "reason")) > 0)
			agent_cell(json_object_get(j, "reason"), why, sizeof(why));
	}
	agent_cell(json_object_get(j, keys[0]), a, sizeof(a));
	if (keys[1] != NULL)
		agent_cell(json_object_get(j, keys[1]), b, sizeof(b));
	else
		b[0] = '\0';
	json_decref(j);
	snprintf(out, cap, "%s %s %s %s%s%s%s%s%s", when, type, event, a,
	         b[0] ? " " : "", b, why[0] ? " (" : "", why, why[0] ? ")" : "");
	/* It goes to a terminal. */
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = '?';
	return 0;
}

static int
print_event(void *ctx, const char *line, size_t len)
{
	const struct agent_conn *c = ctx;
	char text[1024];

	if (c->json) {
		fwrite(line, 1, len, stdout);
		fputc('\n', stdout);
	} else if (agent_event_format(line, len, text, sizeof(text)) == 0) {
		printf("%s\n", text);
	} else {
		/* One odd line does not end the watch. */
		fprintf(stderr, "weft: weftd sent an event that is not a JSON "
		        "object (%zu bytes); skipped\n", len);
	}
	/* Someone is watching: each event as it comes, and a reader that
	 * went away ends the watch. */
	if (fflush(stdout) != 0 || ferror(stdout))
		return WEFT_EIO;
	return 0;
}

int
agent_monitor_main(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_opt opts[AGENT_N_OPTS] = { AGENT_OPTS };
	struct cli_args a = { .opts = opts, .n_opts = AGENT_N_OPTS };
	struct sigaction sa, old_int, old_term;
	sigset_t block, old_mask, wait_mask;
	struct api_call call = { .method = "GET", .path = "/v1/events" };
	struct agent_conn c;
	struct api_failure f;
	struct api_reply r;
	int rc, req;

	if (!cli_parse(ctx, &a, argc, argv, &rc))
		return rc;
	if ((rc = agent_conn_init(ctx, opts, &c)) != 0)
		return rc;
	call.socket = c.socket;
	call.timeout_ms = c.timeout_ms;
	call.stop = &monitor_stop;
	call.wait_mask = &wait_mask;

	/* Blocked except while waiting for the agent (ppoll swaps in
	 * wait_mask), so a Ctrl-C between the check of monitor_stop and
	 * the wait is not lost. */
	monitor_stop = 0;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old_mask);
	wait_mask = old_mask;
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	api_reply_init(&r, print_event, &c);
	req = api_request(&call, &r, &f);

	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);

	if (req == 0 && (r.status < 200 || r.status > 299)) {
		rc = agent_report_refusal(&r);
	} else if (req == 0) {
		fprintf(stderr, "weft: weftd at %s closed the event stream\n",
		        c.socket);
		rc = CLI_EXIT_UNREACHABLE;
	} else if (f.step == API_FAIL_STOPPED) {
		rc = CLI_EXIT_OK;
	} else if (f.step == API_FAIL_LINE) {
		rc = CLI_EXIT_FAIL; /* stdout failed; weft.c says so */
	} else {
		rc = agent_report_failure(&c, &f);
	}
	api_reply_free(&r);
	return rc;
}
