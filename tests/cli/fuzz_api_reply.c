/*
 * Fuzz target for the path a reply of weftd takes through `weft`: the
 * HTTP reply parser (tools/api_client.c) fed in pieces, then its body as
 * JSON, its error text, and for a stream each line as `weft monitor`
 * formats it.
 *
 * Input: byte 0 chooses a stream (bit 0) and the piece size (the rest,
 * 1..128 bytes); the remaining bytes are what the agent sent.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/agent_cli.h"
#include "tools/api_client.h"
#include "tools/commands.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
check_line(void *ctx, const char *line, size_t len)
{
	char out[1024];
	size_t *n = ctx;

	if (len == 0 || len > API_LINE_MAX || memchr(line, '\n', len) ||
	    line[len] != '\0')
		abort();
	agent_event_format(line, len, out, sizeof(out));
	if (strlen(out) >= sizeof(out))
		abort();
	(*n)++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_reply r;
	size_t step, i, n, lines = 0;
	char msg[256];
	json_t *j;
	int rc = 0;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] >> 1) + 1;
	api_reply_init(&r, (data[0] & 1) ? check_line : NULL, &lines);
	for (i = 1; i < size && rc == 0; i += n) {
		n = size - i < step ? size - i : step;
		rc = api_reply_feed(&r, (const char *)data + i, n);
	}
	if (rc == 0)
		rc = api_reply_eof(&r);
	if (rc == 0 && !r.complete)
		abort(); /* the end of input ends every reply, or fails it */
	if (r.body_len > API_BODY_MAX ||
	    (r.body != NULL && strlen(r.body) > r.body_len))
		abort();
	if (rc == 0) {
		if (r.status < 200 || r.status > 599)
			abort();
		if (api_reply_json(&r, &j) == 0)
			json_decref(j);
		api_reply_error_text(&r, msg, sizeof(msg));
		for (i = 0; msg[i] != '\0'; i++)
			if ((unsigned char)msg[i] < 0x20)
				abort();
	}
	api_reply_free(&r);
	return 0;
}
