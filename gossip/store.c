/*
 * Verified records and certificates, interned.  A record is checked once:
 * every later copy of the same bytes (from gossip, push-pull, relays) is a
 * hash lookup and a compare, which is the signature cache per (key id,
 * version) the design asks for, keyed by the exact signed bytes so that a
 * signer who signed two different records with one version cannot make a
 * cached verdict cover the second.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "gossip/internal.h"

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

uint64_t
store_hash(const uint8_t *p, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
	size_t i = 0;

	/* One multiply per word; the full mix only at the end.  Not a
	 * defence against chosen collisions: a bucket chain compares the
	 * bytes, and only verified records get into the table. */
	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x9fb21c651e98df25ull;
		h ^= h >> 29;
	}
	if (i < len) {
		uint64_t w = 0;

		memcpy(&w, p + i, len - i);
		h = (h ^ w ^ 0xff) * 0x9fb21c651e98df25ull;
	}
	return mix(h);
}

uint64_t
id_u64(const uint8_t id[KEY_ID_LEN])
{
	uint64_t v;

	memcpy(&v, id, sizeof(v));
	return v;
}

int
gossip_store_new(struct gossip_store **out)
{
	struct gossip_store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return WEFT_ENOMEM;
	s->rcap = 64;
	s->ccap = 64;
	s->rtab = calloc(s->rcap, sizeof(*s->rtab));
	s->ctab = calloc(s->ccap, sizeof(*s->ctab));
	if (s->rtab == NULL || s->ctab == NULL) {
		free(s->rtab);
		free(s->ctab);
		free(s);
		return WEFT_ENOMEM;
	}
	*out = s;
	return 0;
}

void
gossip_store_free(struct gossip_store *s)
{
	if (s == NULL)
		return;
	/* Every state released its references; anything left is a leak in
	 * the caller's order of frees, so free it anyway. */
	for (size_t i = 0; i < s->rcap; i++) {
		struct rec *r = s->rtab[i], *n;

		for (; r; r = n) {
			n = r->next;
			free(r->r);
			free(r->bytes);
			free(r);
		}
	}
	for (size_t i = 0; i < s->ccap; i++) {
		struct certent *c = s->ctab[i], *n;

		for (; c; c = n) {
			n = c->next;
			free(c->bytes);
			free(c);
		}
	}
	free(s->rtab);
	free(s->ctab);
	free(s);
}

struct rec *
store_find_rec(struct gossip_store *s, const uint8_t *p, size_t len,
               uint64_t hash)
{
	struct rec *r = s->rtab[hash & (s->rcap - 1)];

	for (; r; r = r->next)
		if (r->hash == hash && r->len == len && memcmp(r->bytes, p, len) == 0)
			return r;
	return NULL;
}

struct certent *
store_find_cert(struct gossip_store *s, const uint8_t id[KEY_ID_LEN])
{
	struct certent *c = s->ctab[mix(id_u64(id)) & (s->ccap - 1)];

	for (; c; c = c->next)
		if (memcmp(c->ident.key_id, id, KEY_ID_LEN) == 0)
			return c;
	return NULL;
}

static int
grow_recs(struct gossip_store *s)
{
	size_t ncap = s->rcap * 2;
	struct rec **t = calloc(ncap, sizeof(*t));

	if (t == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < s->rcap; i++) {
		struct rec *r = s->rtab[i], *n;

		for (; r; r = n) {
			n = r->next;
			r->next = t[r->hash & (ncap - 1)];
			t[r->hash & (ncap - 1)] = r;
		}
	}
	free(s->rtab);
	s->rtab = t;
	s->rcap = ncap;
	return 0;
}

static int
grow_certs(struct gossip_store *s)
{
	size_t ncap = s->ccap * 2;
	struct certent **t = calloc(ncap, sizeof(*t));

	if (t == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < s->ccap; i++) {
		struct certent *c = s->ctab[i], *n;

		for (; c; c = n) {
			size_t b = mix(id_u64(c->ident.key_id)) & (ncap - 1);

			n = c->next;
			c->next = t[b];
			t[b] = c;
		}
	}
	free(s->ctab);
	s->ctab = t;
	s->ccap = ncap;
	return 0;
}

int
store_add_rec(struct gossip_store *s, uint8_t *bytes, size_t len,
              uint64_t hash, struct gossip_record *gr, struct certent *c,
              struct rec **out)
{
	struct rec *r;
	size_t b;

	if (s->rcount >= s->rcap && grow_recs(s) != 0)
		return WEFT_ENOMEM;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return WEFT_ENOMEM;
	r->r = gr;
	gr->cert_not_after = c->ident.not_after;
	memcpy(gr->dh_pk, c->ident.dh_pk, KEY_PK_LEN);
	r->bytes = bytes;
	r->len = len;
	r->hash = hash;
	r->cert = c;
	cert_ref(c);
	r->refs = 1;
	b = hash & (s->rcap - 1);
	r->next = s->rtab[b];
	s->rtab[b] = r;
	s->rcount++;
	*out = r;
	return 0;
}

int
store_put_cert(struct gossip_store *s, const uint8_t *bytes, size_t len,
               const struct gossip_ident *ident, struct certent **out)
{
	struct certent *c = store_find_cert(s, ident->key_id);
	uint8_t *copy;
	size_t b;

	if (c != NULL) {
		if (c->len == len && memcmp(c->bytes, bytes, len) == 0) {
			*out = c;
			return 0;
		}
		/* A reissued certificate for the same key: the newer one
		 * (later end of validity) names the key from now on.  Records
		 * that hold the old entry keep it alive through their refs. */
		if (ident->not_after <= c->ident.not_after) {
			*out = c;
			return 0;
		}
		copy = malloc(len);
		if (copy == NULL)
			return WEFT_ENOMEM;
		memcpy(copy, bytes, len);
		if (c->refs == 0) {
			free(c->bytes);
			c->bytes = copy;
			c->len = len;
			c->ident = *ident;
			*out = c;
			return 0;
		}
		/* Detach the old entry from the table; its holders free it. */
		{
			struct certent **pp =
				&s->ctab[mix(id_u64(ident->key_id)) & (s->ccap - 1)];

			while (*pp != c)
				pp = &(*pp)->next;
			*pp = c->next;
			c->next = NULL;
			c->refs |= 0x80000000u; /* detached: free at last unref */
			s->ccount--;
		}
	} else {
		copy = malloc(len);
		if (copy == NULL)
			return WEFT_ENOMEM;
		memcpy(copy, bytes, len);
	}
	if (s->ccount >= s->ccap && grow_certs(s) != 0) {
		free(copy);
		return WEFT_ENOMEM;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		free(copy);
		return WEFT_ENOMEM;
	}
	c->ident = *ident;
	c->bytes = copy;
	c->len = len;
	b = mix(id_u64(ident->key_id)) & (s->ccap - 1);
	c->next = s->ctab[b];
	s->ctab[b] = c;
	s->ccount++;
	*out = c;
	return 0;
}

void
rec_ref(struct rec *r)
{
	r->refs++;
}

void
rec_unref(struct gossip_store *s, struct rec *r)
{
	struct rec **pp;

	if (--r->refs > 0)
		return;
	pp = &s->rtab[r->hash & (s->rcap - 1)];
	while (*pp != r)
		pp = &(*pp)->next;
	*pp = r->next;
	s->rcount--;
	cert_unref(s, r->cert);
	free(r->r);
	free(r->bytes);
	free(r);
}

void
cert_ref(struct certent *c)
{
	c->refs++;
}

/*
 * Certificates stay in the table while unreferenced, so that a record
 * arriving without its certificate can still be checked; they go when
 * a reissue detaches them and their last holder lets go.
 */
void
cert_unref(struct gossip_store *s, struct certent *c)
{
	(void)s;
	c->refs--;
	if (c->refs == 0x80000000u) {
		free(c->bytes);
		free(c);
	}
}

size_t
store_mem(const struct gossip_store *s)
{
	size_t n = sizeof(*s) + s->rcap * sizeof(*s->rtab) +
	           s->ccap * sizeof(*s->ctab);

	for (size_t i = 0; i < s->rcap; i++)
		for (struct rec *r = s->rtab[i]; r; r = r->next)
			n += sizeof(*r) + r->len + sizeof(*r->r) + r->len;
	for (size_t i = 0; i < s->ccap; i++)
		for (struct certent *c = s->ctab[i]; c; c = c->next)
			n += sizeof(*c) + c->len;
	return n;
}

size_t
gossip_store_mem_usage(const struct gossip_store *s)
{
	return store_mem(s);
}
