#include "proxy/h1h2.h"

#include <string.h>
#include <strings.h>

#include "common/err.h"

static bool
nv_is(const nghttp2_nv *v, const char *name)
{
	return v->namelen == strlen(name) &&
	       memcmp(v->name, name, v->namelen) == 0;
}

static nghttp2_nv
mk(const char *name, const char *value, size_t value_len)
{
	nghttp2_nv v = {
		.name = (uint8_t *)(uintptr_t)name,
		.value = (uint8_t *)(uintptr_t)value,
		.namelen = strlen(name),
		.valuelen = value_len,
		.flags = NGHTTP2_NV_FLAG_NONE,
	};

	return v;
}

int
h1h2_request_nv(const struct h1_head *h, nghttp2_nv *nv, size_t nv_cap,
                size_t *n, char *scratch, size_t scratch_len)
{
	size_t k = 0, used = 0;

	*n = 0;
	if (h->authority == NULL || h->authority[0] == '\0')
		return WEFT_EINVAL;
	if (nv_cap < 4)
		return WEFT_ENOSPACE;
	nv[k++] = mk(":method", h->method, strlen(h->method));
	nv[k++] = mk(":scheme", "http", 4);
	nv[k++] = mk(":authority", h->authority, strlen(h->authority));
	nv[k++] = mk(":path", h->path, strlen(h->path));
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct h1_header *f = &h->headers[i];
		char *lower;

		/* h1.c leaves TE out as hop-by-hop; nothing else here is
		 * connection-specific, so every field passes. */
		if (k == nv_cap)
			return WEFT_ENOSPACE;
		if (f->name_len > scratch_len - used)
			return WEFT_ENOSPACE;
		lower = scratch + used;
		for (size_t j = 0; j < f->name_len; j++) {
			char c = f->name[j];

			lower[j] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
		}
		used += f->name_len;
		nv[k] = mk("", f->value, f->value_len);
		nv[k].name = (uint8_t *)lower;
		nv[k].namelen = f->name_len;
		k++;
	}
	*n = k;
	return 0;
}

static bool
connection_specific(const nghttp2_nv *v)
{
	return nv_is(v, "connection") || nv_is(v, "keep-alive") ||
	       nv_is(v, "proxy-connection") || nv_is(v, "transfer-encoding") ||
	       nv_is(v, "upgrade") || nv_is(v, "host");
}

static bool
digits(const uint8_t *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 18)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return true;
}

int
h1h2_response_h1(const nghttp2_nv *nv, size_t n, bool head_request,
                 int version_minor, bool keep_alive, struct h1_response *r,
                 struct h1_header *hs, size_t hs_cap)
{
	uint64_t status = 0, len = 0;
	bool have_status = false, have_len = false;
	size_t k = 0;

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		const nghttp2_nv *v = &nv[i];

		if (nv_is(v, ":status")) {
			if (have_status || v->valuelen != 3 ||
			    !digits(v->value, 3, &status) || status < 100)
				return WEFT_EMALFORMED;
			have_status = true;
			continue;
		}
		if (v->namelen > 0 && v->name[0] == ':')
			continue;
		if (connection_specific(v) || nv_is(v, "te"))
			continue;
		if (nv_is(v, "content-length")) {
			uint64_t l;

			if (!digits(v->value, v->valuelen, &l) ||
			    (have_len && l != len))
				return WEFT_EMALFORMED;
			len = l;
			have_len = true;
			continue;
		}
		if (k == hs_cap)
			return WEFT_ENOSPACE;
		hs[k].name = (const char *)v->name;
		hs[k].name_len = v->namelen;
		hs[k].value = (const char *)v->value;
		hs[k].value_len = v->valuelen;
		k++;
	}
	if (!have_status)
		return WEFT_EMALFORMED;
	r->status = (int)status;
	r->headers = hs;
	r->n_headers = k;
	r->keep_alive = keep_alive;
	if (status < 200 || status == 204 || status == 304) {
		r->framing = H1_BODY_NONE;
	} else if (have_len) {
		r->framing = H1_BODY_LENGTH;
		r->content_length = len;
	} else if (head_request) {
		r->framing = H1_BODY_NONE;
	} else if (version_minor >= 1 && keep_alive) {
		r->framing = H1_BODY_CHUNKED;
	} else {
		r->framing = H1_BODY_CLOSE;
		r->keep_alive = false;
	}
	return 0;
}

static bool
clean(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
			return false;
	return true;
}

int
h1h2_request_h1(const nghttp2_nv *nv, size_t n, bool has_body,
                struct buf *b, bool *chunked)
{
	const nghttp2_nv *method = NULL, *path = NULL, *auth = NULL,
	                 *len = NULL;
	uint64_t l;

	*chunked = false;
	for (size_t i = 0; i < n; i++) {
		const nghttp2_nv *v = &nv[i];

		if (!clean(v->name, v->namelen) || !clean(v->value, v->valuelen)
		    || v->namelen == 0)
			return WEFT_EMALFORMED;
		for (size_t j = 0; j < v->namelen; j++)
			if (v->name[j] >= 'A' && v->name[j] <= 'Z')
				return WEFT_EMALFORMED;
		if (v->name[0] == ':') {
			const nghttp2_nv **slot =
				nv_is(v, ":method") ? &method :
				nv_is(v, ":path") ? &path :
				nv_is(v, ":authority") ? &auth : NULL;

			if (nv_is(v, ":scheme"))
				continue;
			if (slot == NULL || *slot != NULL)
				return WEFT_EMALFORMED;
			*slot = v;
			continue;
		}
		if (connection_specific(v) ||
		    (nv_is(v, "te") && !(v->valuelen == 8 &&
		                         memcmp(v->value, "trailers", 8) == 0)))
			return WEFT_EMALFORMED;
		if (nv_is(v, "content-length")) {
			if (len != NULL || !digits(v->value, v->valuelen, &l))
				return WEFT_EMALFORMED;
			len = v;
		}
	}
	if (method == NULL || path == NULL || path->valuelen == 0 ||
	    memchr(path->value, ' ', path->valuelen) != NULL ||
	    memchr(method->value, ' ', method->valuelen) != NULL ||
	    method->valuelen == 0)
		return WEFT_EMALFORMED;
	buf_put(b, method->value, method->valuelen);
	buf_put(b, " ", 1);
	buf_put(b, path->value, path->valuelen);
	buf_put(b, " HTTP/1.1\r\nhost: ", 17);
	if (auth != NULL)
		buf_put(b, auth->value, auth->valuelen);
	buf_put(b, "\r\n", 2);
	for (size_t i = 0; i < n; i++) {
		const nghttp2_nv *v = &nv[i];

		if (v->name[0] == ':' || nv_is(v, "te"))
			continue;
		buf_put(b, v->name, v->namelen);
		buf_put(b, ": ", 2);
		buf_put(b, v->value, v->valuelen);
		buf_put(b, "\r\n", 2);
	}
	if (len == NULL && has_body) {
		buf_put(b, "transfer-encoding: chunked\r\n", 28);
		*chunked = true;
	}
	buf_put(b, "\r\n", 2);
	return b->err;
}
