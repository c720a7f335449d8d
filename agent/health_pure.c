/*
 * The health checks' parts without I/O (health.h): state names, the flap
 * filter, the maintenance tag, and the readers of what a checked server
 * answers (an HTTP status line, a gRPC HealthCheckResponse), which the
 * unit tests and the fuzz target drive directly.
 */
#include <string.h>

#include "agent/health.h"
#include "common/err.h"

static const char *const status_names[] = {"unknown", "passing", "warning",
                                           "critical"};

const char *
health_status_name(enum health_status s)
{
	return (unsigned)s < 4 ? status_names[s] : "unknown";
}

int
health_status_parse(const char *s, enum health_status *out)
{
	if (strcmp(s, "passing") == 0 || strcmp(s, "pass") == 0)
		*out = HEALTH_PASSING;
	else if (strcmp(s, "warning") == 0 || strcmp(s, "warn") == 0)
		*out = HEALTH_WARNING;
	else if (strcmp(s, "critical") == 0 || strcmp(s, "fail") == 0)
		*out = HEALTH_CRITICAL;
	else
		return WEFT_EINVAL;
	return 0;
}

bool
health_filter_apply(struct health_filter *f, enum health_status result,
                    unsigned need_ok, unsigned need_bad)
{
	enum health_status old = f->state;

	if (result == HEALTH_PASSING) {
		f->bad_streak = 0;
		if (f->ok_streak < UINT32_MAX)
			f->ok_streak++;
		if (f->ok_streak >= (need_ok ? need_ok : 1))
			f->state = HEALTH_PASSING;
	} else if (result == HEALTH_WARNING || result == HEALTH_CRITICAL) {
		f->ok_streak = 0;
		if (f->bad_streak < UINT32_MAX)
			f->bad_streak++;
		if (f->bad_streak >= (need_bad ? need_bad : 1))
			f->state = result;
	}
	return f->state != old;
}

const char *
health_maint_reason(const struct gossip_service *svc)
{
	size_t n = strlen(HEALTH_MAINT_TAG_PREFIX);

	for (size_t i = 0; i < svc->n_tags; i++)
		if (strncmp(svc->tags[i], HEALTH_MAINT_TAG_PREFIX, n) == 0)
			return svc->tags[i] + n;
	return NULL;
}

int
health_http_status(const char *buf, size_t len, int *status)
{
	static const char pre[] = "HTTP/1.";
	size_t n = sizeof(pre) - 1;

	if (memcmp(buf, pre, len < n ? len : n) != 0)
		return WEFT_EMALFORMED;
	if (len < n + 5)
		return WEFT_EAGAIN;
	if ((buf[n] != '0' && buf[n] != '1') || buf[n + 1] != ' ')
		return WEFT_EMALFORMED;
	*status = 0;
	for (size_t i = n + 2; i < n + 5; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return WEFT_EMALFORMED;
		*status = *status * 10 + (buf[i] - '0');
	}
	if (len > n + 5 && buf[n + 5] != ' ' && buf[n + 5] != '\r')
		return WEFT_EMALFORMED;
	if (*status < 100)
		return WEFT_EMALFORMED;
	return 0;
}

enum health_status
health_http_result(int status)
{
	if (status >= 200 && status <= 299)
		return HEALTH_PASSING;
	if (status == 429)
		return HEALTH_WARNING;
	return HEALTH_CRITICAL;
}

size_t
health_grpc_request(const char *service, uint8_t *out, size_t cap)
{
	size_t sl = strlen(service), msg = sl ? 1 + 2 + sl : 0, n = 0;

	/* One- or two-byte length varint: names are short. */
	if (sl >= 16384 || cap < 5 + msg)
		return 0;
	out[n++] = 0; /* not compressed */
	n += 4;
	if (sl) {
		out[n++] = 0x0a; /* field 1, length-delimited */
		if (sl < 128) {
			out[n++] = (uint8_t)sl;
		} else {
			out[n++] = (uint8_t)(0x80 | (sl & 0x7f));
			out[n++] = (uint8_t)(sl >> 7);
		}
		memcpy(out + n, service, sl);
		n += sl;
	}
	msg = n - 5;
	out[1] = (uint8_t)(msg >> 24);
	out[2] = (uint8_t)(msg >> 16);
	out[3] = (uint8_t)(msg >> 8);
	out[4] = (uint8_t)msg;
	return n;
}

static int
varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*pos >= len)
			return WEFT_EMALFORMED;
		*v |= (uint64_t)(p[*pos] & 0x7f) << shift;
		if ((p[(*pos)++] & 0x80) == 0)
			return 0;
	}
	return WEFT_EMALFORMED;
}

int
health_grpc_response(const uint8_t *p, size_t len, unsigned *serving)
{
	size_t msg, pos = 5;

	if (len < 5)
		return WEFT_EAGAIN;
	if (p[0] != 0) /* compressed: we asked for none */
		return WEFT_EMALFORMED;
	msg = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
	if (msg > 4096)
		return WEFT_EMALFORMED;
	if (len < 5 + msg)
		return WEFT_EAGAIN;
	len = 5 + msg;
	*serving = 0; /* proto3's default */
	while (pos < len) {
		uint64_t key, v;

		if (varint(p, len, &pos, &key))
			return WEFT_EMALFORMED;
		switch (key & 7) {
		case 0:
			if (varint(p, len, &pos, &v))
				return WEFT_EMALFORMED;
			if (key >> 3 == 1)
				*serving = v > 3 ? 0 : (unsigned)v;
			break;
		case 1:
			if (len - pos < 8)
				return WEFT_EMALFORMED;
			pos += 8;
			break;
		case 2:
			if (varint(p, len, &pos, &v) || v > len - pos)
				return WEFT_EMALFORMED;
			pos += (size_t)v;
			break;
		case 5:
			if (len - pos < 4)
				return WEFT_EMALFORMED;
			pos += 4;
			break;
		default:
			return WEFT_EMALFORMED;
		}
	}
	return 0;
}
