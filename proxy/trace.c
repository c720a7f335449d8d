#include "proxy/trace.h"

#include <string.h>

#include "common/err.h"
#include "common/hex.h"

/* One more than the digit value of lowercase hex, 0 for anything else.
 * Lowercase only: the spec forbids uppercase, and accepting it would let
 * two spellings of one trace id into the logs.  A table, not ranges
 * compared: every traced request parses 55 characters. */
static const uint8_t hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

/* n is even: pairs of digits into bytes. */
static bool
lower_hex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i += 2) {
		unsigned hi = hexval[(unsigned char)s[i]];
		unsigned lo = hexval[(unsigned char)s[i + 1]];

		if (hi == 0 || lo == 0)
			return false;
		out[i / 2] = (uint8_t)((hi - 1) << 4 | (lo - 1));
	}
	return true;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

static int
fail(const char **why, const char *what)
{
	if (why != NULL)
		*why = what;
	return WEFT_EMALFORMED;
}

int
trace_parse(const char *s, size_t len, struct trace_context *out,
            const char **why)
{
	uint8_t version;

	if (why != NULL)
		*why = NULL;
	if (s == NULL || len < TRACEPARENT_LEN)
		return fail(why, "traceparent is shorter than 55 characters");
	if (len > TRACEPARENT_MAX)
		return fail(why, "traceparent is longer than 512 characters");
	if (!lower_hex(s, 2, &version) || s[2] != '-')
		return fail(why, "traceparent version is not two lowercase hex "
		            "digits and a dash");
	if (version == 0xff)
		return fail(why, "traceparent version ff is invalid");
	if (version == 0 && len != TRACEPARENT_LEN)
		return fail(why, "traceparent version 00 must be 55 characters");
	if (version != 0 && len > TRACEPARENT_LEN && s[TRACEPARENT_LEN] != '-')
		return fail(why, "traceparent fields after the flags must follow "
		            "a dash");
	if (!lower_hex(s + 3, 2 * TRACE_ID_LEN, out->trace_id) || s[35] != '-')
		return fail(why, "traceparent trace-id is not 32 lowercase hex "
		            "digits");
	if (!lower_hex(s + 36, 2 * TRACE_PARENT_ID_LEN, out->parent_id) ||
	    s[52] != '-')
		return fail(why, "traceparent parent-id is not 16 lowercase hex "
		            "digits");
	if (!lower_hex(s + 53, 2, &out->flags))
		return fail(why, "traceparent flags are not two lowercase hex "
		            "digits");
	if (all_zero(out->trace_id, TRACE_ID_LEN))
		return fail(why, "traceparent trace-id is all zeros");
	if (all_zero(out->parent_id, TRACE_PARENT_ID_LEN))
		return fail(why, "traceparent parent-id is all zeros");
	out->version = version;
	return 0;
}

static int
fill_nonzero(const struct weft_rng *rng, uint8_t *p, size_t n)
{
	/* An all-zero id is invalid; drawing it twice in a row means the
	 * generator is broken, not unlucky. */
	for (int i = 0; i < 2; i++) {
		int rc = weft_rng_fill(rng, p, n);

		if (rc != 0)
			return rc;
		if (!all_zero(p, n))
			return 0;
	}
	return WEFT_EIO;
}

int
trace_new(const struct weft_rng *rng, bool sampled, struct trace_context *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = fill_nonzero(rng, out->trace_id, TRACE_ID_LEN)) != 0 ||
	    (rc = fill_nonzero(rng, out->parent_id, TRACE_PARENT_ID_LEN)) != 0)
		return rc;
	out->flags = sampled ? TRACE_FLAG_SAMPLED : 0;
	return 0;
}

void
trace_format(const struct trace_context *t, char out[TRACEPARENT_LEN + 1])
{
	/* hex_encode ends each run with a NUL, which the next dash covers. */
	memcpy(out, "00-", 3);
	hex_encode(out + 3, t->trace_id, TRACE_ID_LEN);
	out[35] = '-';
	hex_encode(out + 36, t->parent_id, TRACE_PARENT_ID_LEN);
	out[52] = '-';
	hex_encode(out + 53, &t->flags, 1);
}

void
trace_id_hex(const struct trace_context *t, char out[2 * TRACE_ID_LEN + 1])
{
	hex_encode(out, t->trace_id, TRACE_ID_LEN);
}

int
trace_decide(const char *traceparent, size_t len, size_t n_traceparent,
             const struct weft_rng *rng, bool sampled,
             struct trace_decision *d)
{
	int rc;

	memset(d, 0, sizeof(*d));
	if (n_traceparent > 1) {
		d->why = "more than one traceparent field";
	} else if (traceparent == NULL || n_traceparent == 0) {
		d->why = "no traceparent";
	} else if (trace_parse(traceparent, len, &d->ctx, &d->why) == 0) {
		d->keep = true;
		return 0;
	}
	if ((rc = trace_new(rng, sampled, &d->ctx)) != 0)
		return rc;
	trace_format(&d->ctx, d->header);
	return 0;
}
