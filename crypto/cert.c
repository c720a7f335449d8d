#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/bundle.h"
#include "crypto/cert.h"
#include "crypto/envelope.h"

#define WHY(s) do { if (why) *why = (s); } while (0)

/* Body map keys; append only. */
enum cert_field {
	CF_VERSION = 1,
	CF_IS_CA = 2,
	CF_NAME = 3,
	CF_SERVICES = 4,
	CF_GROUPS = 5,
	CF_SIGN_PK = 6,
	CF_DH_PK = 7,
	CF_NOT_BEFORE = 8,
	CF_NOT_AFTER = 9,
	CF_ISSUER = 10,
};

bool
cert_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CERT_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names must be valid; the encoding keeps lists sorted and unique so a
 * certificate has one encoding. */
static int
check_list(const char *const *names, size_t n, size_t max,
           const char **sorted)
{
	if (n > max)
		return WEFT_ETOOBIG;
	for (size_t i = 0; i < n; i++) {
		if (!cert_name_valid(names[i]))
			return WEFT_EINVAL;
		sorted[i] = names[i];
	}
	if (n > 1)
		qsort(sorted, n, sizeof(*sorted), cmp_str);
	for (size_t i = 1; i < n; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			return WEFT_EINVAL;
	return 0;
}

static int
pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

static int
pack_list(msgpack_packer *pk, const char *const *v, size_t n)
{
	if (msgpack_pack_array(pk, n))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (pack_str(pk, v[i]))
			return -1;
	return 0;
}

/* The one body encoder: issuing uses it, and decoding re-encodes with it
 * to accept only the canonical form. */
static int
encode_body(msgpack_sbuffer *sb, bool is_ca, const char *name,
            const char *const *services, size_t n_services,
            const char *const *groups, size_t n_groups,
            const uint8_t sign_pk[KEY_PK_LEN], const uint8_t dh_pk[KEY_PK_LEN],
            int64_t not_before, int64_t not_after,
            const uint8_t issuer[KEY_ID_LEN])
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	if (msgpack_pack_map(&pk, is_ca ? 9 : 10) ||
	    msgpack_pack_uint8(&pk, CF_VERSION) ||
	    msgpack_pack_uint8(&pk, CERT_VERSION) ||
	    msgpack_pack_uint8(&pk, CF_IS_CA) ||
	    (is_ca ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)) ||
	    msgpack_pack_uint8(&pk, CF_NAME) || pack_str(&pk, name) ||
	    msgpack_pack_uint8(&pk, CF_SERVICES) ||
	    pack_list(&pk, services, n_services) ||
	    msgpack_pack_uint8(&pk, CF_GROUPS) ||
	    pack_list(&pk, groups, n_groups) ||
	    msgpack_pack_uint8(&pk, CF_SIGN_PK) ||
	    msgpack_pack_bin(&pk, KEY_PK_LEN) ||
	    msgpack_pack_bin_body(&pk, sign_pk, KEY_PK_LEN))
		return WEFT_ENOMEM;
	if (!is_ca && (msgpack_pack_uint8(&pk, CF_DH_PK) ||
	               msgpack_pack_bin(&pk, KEY_PK_LEN) ||
	               msgpack_pack_bin_body(&pk, dh_pk, KEY_PK_LEN)))
		return WEFT_ENOMEM;
	if (msgpack_pack_uint8(&pk, CF_NOT_BEFORE) ||
	    msgpack_pack_int64(&pk, not_before) ||
	    msgpack_pack_uint8(&pk, CF_NOT_AFTER) ||
	    msgpack_pack_int64(&pk, not_after) ||
	    msgpack_pack_uint8(&pk, CF_ISSUER) ||
	    msgpack_pack_bin(&pk, KEY_ID_LEN) ||
	    msgpack_pack_bin_body(&pk, issuer, KEY_ID_LEN))
		return WEFT_ENOMEM;
	return 0;
}

int
cert_issue(const struct cert_params *p, const struct key_pair *subject,
           const struct key_pair *issuer, uint8_t **out, size_t *out_len)
{
	const char *services[CERT_MAX_SERVICES], *groups[CERT_MAX_GROUPS];
	uint8_t sig[KEY_SIG_LEN];
	msgpack_sbuffer sb;
	int rc;

	if (p->name == NULL || !cert_name_valid(p->name) ||
	    p->not_after <= p->not_before)
		return WEFT_EINVAL;
	if (p->is_ca != (subject->kind == KEY_KIND_CA) ||
	    issuer->kind != KEY_KIND_CA)
		return WEFT_EINVAL;
	/* A CA certificate is self-signed. */
	if (p->is_ca && memcmp(subject->sign_pk, issuer->sign_pk, KEY_PK_LEN))
		return WEFT_EINVAL;
	rc = check_list(p->services, p->n_services, CERT_MAX_SERVICES, services);
	if (rc == 0)
		rc = check_list(p->groups, p->n_groups, CERT_MAX_GROUPS, groups);
	if (rc)
		return rc;
	msgpack_sbuffer_init(&sb);
	rc = encode_body(&sb, p->is_ca, p->name, services, p->n_services, groups,
	                 p->n_groups, subject->sign_pk, subject->dh_pk,
	                 p->not_before, p->not_after, issuer->id);
	if (rc == 0 && sb.size > CERT_ENCODED_MAX - 80)
		rc = WEFT_ETOOBIG;
	if (rc == 0)
		rc = key_sign(issuer, KEY_SIG_CERT, (const uint8_t *)sb.data,
		              sb.size, sig);
	if (rc == 0)
		rc = envelope_wrap((const uint8_t *)sb.data, sb.size, sig, out,
		                   out_len);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

void
cert_free(struct cert *c)
{
	if (c == NULL)
		return;
	free(c->encoded);
	free(c->strs);
	memset(c, 0, sizeof(*c));
}

/* Copies a list of names into strs at *off. */
static int
read_list(const msgpack_object *v, size_t max, const char **dst, size_t *n,
          char *strs, size_t *off, const char **why, const char *what)
{
	if (v->type != MSGPACK_OBJECT_ARRAY) {
		WHY(what);
		return WEFT_EMALFORMED;
	}
	if (v->via.array.size > max) {
		WHY(what);
		return WEFT_ETOOBIG;
	}
	for (uint32_t i = 0; i < v->via.array.size; i++) {
		char *s = strs + *off;

		if (envelope_str(&v->via.array.ptr[i], s, CERT_NAME_MAX) != 0 ||
		    !cert_name_valid(s)) {
			WHY(what);
			return WEFT_EMALFORMED;
		}
		/* Sorted and unique, as the encoder writes them. */
		if (i > 0 && strcmp(dst[i - 1], s) >= 0) {
			WHY("not in canonical form");
			return WEFT_EMALFORMED;
		}
		dst[i] = s;
		*off += strlen(s) + 1;
	}
	*n = v->via.array.size;
	return 0;
}

static int
decode_body(struct cert *c, const char **why)
{
	msgpack_unpacked u;
	const msgpack_object_map *m;
	msgpack_sbuffer sb;
	size_t off = 0;
	uint64_t last = 0;
	unsigned seen = 0;
	int64_t version = 0;
	int rc;

	msgpack_unpacked_init(&u);
	msgpack_sbuffer_init(&sb);
	rc = envelope_unpack_map(c->body, c->body_len, &u, why);
	if (rc)
		goto out;
	m = &u.data.via.map;
	rc = WEFT_EMALFORMED;
	/* Every string fits: names are at most CERT_NAME_MAX bytes each. */
	c->strs = malloc((1 + CERT_MAX_SERVICES + CERT_MAX_GROUPS) *
	                 (CERT_NAME_MAX + 1));
	if (c->strs == NULL) {
		rc = WEFT_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;

		if (k->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
			WHY("field key is not a small integer");
			goto out;
		}
		if (k->via.u64 == last) {
			WHY("duplicate field");
			goto out;
		}
		if (k->via.u64 < last) {
			WHY("fields out of order");
			goto out;
		}
		last = k->via.u64;
		if (k->via.u64 != CF_VERSION && version == 0) {
			WHY("version missing");
			rc = WEFT_EVERSION;
			goto out;
		}
		switch (k->via.u64) {
		case CF_VERSION:
			if (envelope_int(v, &version) || version != CERT_VERSION) {
				WHY("unsupported certificate version");
				rc = WEFT_EVERSION;
				goto out;
			}
			break;
		case CF_IS_CA:
			if (v->type != MSGPACK_OBJECT_BOOLEAN) {
				WHY("is-CA flag is not a boolean");
				goto out;
			}
			c->is_ca = v->via.boolean;
			break;
		case CF_NAME:
			if (v->type == MSGPACK_OBJECT_STR &&
			    v->via.str.size > CERT_NAME_MAX) {
				WHY("name longer than 63 bytes");
				rc = WEFT_ETOOBIG;
				goto out;
			}
			if (envelope_str(v, c->strs + off, CERT_NAME_MAX) ||
			    !cert_name_valid(c->strs + off)) {
				WHY("name is not a DNS label");
				goto out;
			}
			c->name = c->strs + off;
			off += strlen(c->name) + 1;
			break;
		case CF_SERVICES:
			rc = read_list(v, CERT_MAX_SERVICES, c->services,
			               &c->n_services, c->strs, &off, why,
			               "services: not a list of at most 64 DNS labels");
			if (rc)
				goto out;
			rc = WEFT_EMALFORMED;
			break;
		case CF_GROUPS:
			rc = read_list(v, CERT_MAX_GROUPS, c->groups, &c->n_groups,
			               c->strs, &off, why,
			               "groups: not a list of at most 32 DNS labels");
			if (rc)
				goto out;
			rc = WEFT_EMALFORMED;
			break;
		case CF_SIGN_PK:
			if (envelope_bin(v, c->sign_pk, KEY_PK_LEN)) {
				WHY("Ed25519 key is not 32 bytes");
				goto out;
			}
			break;
		case CF_DH_PK:
			if (envelope_bin(v, c->dh_pk, KEY_PK_LEN)) {
				WHY("X25519 key is not 32 bytes");
				goto out;
			}
			break;
		case CF_NOT_BEFORE:
			if (envelope_int(v, &c->not_before)) {
				WHY("not-before is not an integer");
				goto out;
			}
			break;
		case CF_NOT_AFTER:
			if (envelope_int(v, &c->not_after)) {
				WHY("not-after is not an integer");
				goto out;
			}
			break;
		case CF_ISSUER:
			if (envelope_bin(v, c->issuer, KEY_ID_LEN)) {
				WHY("issuer key id is not 8 bytes");
				goto out;
			}
			break;
		default:
			WHY("unknown field");
			goto out;
		}
		seen |= 1u << k->via.u64;
	}
	if (version == 0) {
		WHY("version missing");
		rc = WEFT_EVERSION;
		goto out;
	}
	{
		unsigned need = 1u << CF_VERSION | 1u << CF_IS_CA | 1u << CF_NAME |
		                1u << CF_SERVICES | 1u << CF_GROUPS |
		                1u << CF_SIGN_PK | 1u << CF_NOT_BEFORE |
		                1u << CF_NOT_AFTER | 1u << CF_ISSUER;

		if ((seen & need) != need) {
			WHY("a required field is missing");
			goto out;
		}
		/* A node has a Noise key; a CA has none. */
		if (!c->is_ca && !(seen & 1u << CF_DH_PK)) {
			WHY("node certificate without an X25519 key");
			goto out;
		}
		if (c->is_ca && (seen & 1u << CF_DH_PK)) {
			WHY("CA certificate with an X25519 key");
			goto out;
		}
	}
	if (c->not_after <= c->not_before) {
		WHY("validity window ends before it starts");
		goto out;
	}
	/* One certificate, one encoding: what we would write must be what
	 * we read (sorted unique lists, smallest integer forms). */
	rc = encode_body(&sb, c->is_ca, c->name, c->services, c->n_services,
	                 c->groups, c->n_groups, c->sign_pk, c->dh_pk,
	                 c->not_before, c->not_after, c->issuer);
	if (rc)
		goto out;
	if (sb.size != c->body_len || memcmp(sb.data, c->body, sb.size) != 0) {
		WHY("not in canonical form");
		rc = WEFT_EMALFORMED;
		goto out;
	}
	key_id_of(c->key_id, c->sign_pk);
	rc = 0;
out:
	msgpack_sbuffer_destroy(&sb);
	msgpack_unpacked_destroy(&u);
	return rc;
}

int
cert_decode_ex(const uint8_t *p, size_t len, struct cert *out,
               const char **why)
{
	struct cert c;
	const uint8_t *body;
	size_t body_len;
	int rc;

	memset(&c, 0, sizeof(c));
	if (len > CERT_ENCODED_MAX) {
		WHY("certificate larger than 8 KiB");
		return WEFT_ETOOBIG;
	}
	rc = envelope_unwrap(p, len, &body, &body_len, c.sig, why);
	if (rc)
		return rc;
	c.encoded = malloc(len);
	if (c.encoded == NULL)
		return WEFT_ENOMEM;
	memcpy(c.encoded, p, len);
	c.encoded_len = len;
	c.body = c.encoded + (body - p);
	c.body_len = body_len;
	rc = decode_body(&c, why);
	if (rc) {
		cert_free(&c);
		return rc;
	}
	*out = c;
	return 0;
}

int
cert_decode(const uint8_t *p, size_t len, struct cert *out)
{
	return cert_decode_ex(p, len, out, NULL);
}

bool
cert_has_group(const struct cert *c, const char *group)
{
	for (size_t i = 0; i < c->n_groups; i++)
		if (strcmp(c->groups[i], group) == 0)
			return true;
	return false;
}

bool
cert_allows_service(const struct cert *c, const char *service)
{
	for (size_t i = 0; i < c->n_services; i++)
		if (strcmp(c->services[i], service) == 0)
			return true;
	return false;
}

static int
refuse(struct cert_verdict *v, enum cert_reason reason, int64_t seconds,
       const uint8_t id[KEY_ID_LEN], int err)
{
	v->reason = reason;
	v->seconds = seconds;
	memcpy(v->key_id, id, KEY_ID_LEN);
	return err;
}

/* The window check both certificates get; skew widens it on both ends. */
static int
check_window(const struct cert *c, int64_t now, int64_t skew,
             struct cert_verdict *v, enum cert_reason early,
             enum cert_reason late)
{
	if (now + skew < c->not_before)
		return refuse(v, early, c->not_before - now, c->key_id,
		              WEFT_ENOTYET);
	if (now - skew > c->not_after)
		return refuse(v, late, now - c->not_after, c->key_id,
		              WEFT_EEXPIRED);
	return 0;
}

int
cert_verify_ca(const struct cert *c, int64_t now, int64_t skew,
               struct cert_verdict *v)
{
	memset(v, 0, sizeof(*v));
	if (!c->is_ca)
		return refuse(v, CERT_NOT_CA, 0, c->key_id, WEFT_EPOLICY);
	if (memcmp(c->issuer, c->key_id, KEY_ID_LEN) != 0 ||
	    key_verify(c->sign_pk, KEY_SIG_CERT, c->body, c->body_len, c->sig))
		return refuse(v, CERT_CA_NOT_SELF_SIGNED, 0, c->key_id,
		              WEFT_EBADSIG);
	return check_window(c, now, skew, v, CERT_ISSUER_NOT_YET_VALID,
	                    CERT_ISSUER_EXPIRED);
}

int
cert_verify(const struct cert *c, const struct bundle *b, int64_t now,
            int64_t skew, const struct cert_revocations *revoked,
            struct cert_verdict *v)
{
	const struct cert *ca;
	int rc;

	memset(v, 0, sizeof(*v));
	if (c->is_ca)
		return refuse(v, CERT_NODE_IS_CA, 0, c->key_id, WEFT_EPOLICY);
	ca = bundle_find(b, c->issuer);
	if (ca == NULL)
		return refuse(v, CERT_UNKNOWN_ISSUER, 0, c->issuer,
		              WEFT_EUNTRUSTED);
	if (!ca->is_ca)
		return refuse(v, CERT_ISSUER_NOT_CA, 0, ca->key_id, WEFT_EUNTRUSTED);
	if (key_verify(ca->sign_pk, KEY_SIG_CERT, c->body, c->body_len, c->sig))
		return refuse(v, CERT_BAD_SIGNATURE, 0, c->key_id, WEFT_EBADSIG);
	rc = check_window(ca, now, skew, v, CERT_ISSUER_NOT_YET_VALID,
	                  CERT_ISSUER_EXPIRED);
	if (rc)
		return rc;
	rc = check_window(c, now, skew, v, CERT_NOT_YET_VALID, CERT_EXPIRED);
	if (rc)
		return rc;
	if (revoked && revoked->is_revoked &&
	    revoked->is_revoked(revoked->ctx, c->key_id))
		return refuse(v, CERT_REVOKED, 0, c->key_id, WEFT_EREVOKED);
	return 0;
}

int
cert_duration_format(int64_t seconds, char *out, size_t cap)
{
	static const struct {
		int64_t s;
		const char *unit;
	} units[] = {
		{365 * 86400, "year"}, {86400, "day"}, {3600, "hour"},
		{60, "minute"},        {1, "second"},
	};
	int64_t n;
	size_t i;

	if (seconds < 0)
		seconds = -seconds;
	for (i = 0; i < sizeof(units) / sizeof(units[0]) - 1; i++)
		if (seconds >= units[i].s)
			break;
	n = seconds / units[i].s;
	return snprintf(out, cap, "%lld %s%s", (long long)n, units[i].unit,
	                n == 1 ? "" : "s");
}

int
cert_verdict_format(const struct cert_verdict *v, char *out, size_t cap)
{
	char id[KEY_ID_HEX_LEN + 1], d[32];

	key_id_hex(id, v->key_id);
	cert_duration_format(v->seconds, d, sizeof(d));
	switch (v->reason) {
	case CERT_VALID:
		return snprintf(out, cap, "valid");
	case CERT_BAD_SIGNATURE:
		return snprintf(out, cap, "bad signature (certificate %s was "
		                "altered or not signed by its issuer)", id);
	case CERT_EXPIRED:
		return snprintf(out, cap, "expired %s ago", d);
	case CERT_NOT_YET_VALID:
		return snprintf(out, cap, "not valid for another %s", d);
	case CERT_UNKNOWN_ISSUER:
		return snprintf(out, cap, "signed by unknown CA %s", id);
	case CERT_ISSUER_NOT_CA:
		return snprintf(out, cap, "issuer %s is not a CA", id);
	case CERT_ISSUER_EXPIRED:
		return snprintf(out, cap, "CA %s expired %s ago", id, d);
	case CERT_ISSUER_NOT_YET_VALID:
		return snprintf(out, cap, "CA %s is not valid for another %s", id,
		                d);
	case CERT_NODE_IS_CA:
		return snprintf(out, cap, "certificate %s is a CA, not a node", id);
	case CERT_CA_NOT_SELF_SIGNED:
		return snprintf(out, cap, "CA certificate %s is not validly "
		                "self-signed", id);
	case CERT_REVOKED:
		return snprintf(out, cap, "key %s is revoked", id);
	case CERT_NOT_CA:
		return snprintf(out, cap, "certificate %s is not a CA", id);
	}
	return snprintf(out, cap, "unknown reason");
}
