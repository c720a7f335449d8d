/*
 * Noise protocol names, the SymmetricState and the HandshakeState.
 * Patterns are tables of tokens; psk modifiers are applied to a copy of
 * the table when a handshake starts, so the engine below only ever walks
 * tokens.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "crypto/noise.h"

struct pattern_def {
	const char *name;
	enum noise_pattern id;
	bool resp_pre_s; /* "<- s" pre-message (IK) */
	size_t n_msgs;
	uint8_t msgs[3][5]; /* zero-terminated token lists */
};

static const struct pattern_def patterns[] = {
	{"NN", NOISE_PATTERN_NN, false, 2, {
		{NOISE_TOK_E},
		{NOISE_TOK_E, NOISE_TOK_EE},
	}},
	{"XX", NOISE_PATTERN_XX, false, 3, {
		{NOISE_TOK_E},
		{NOISE_TOK_E, NOISE_TOK_EE, NOISE_TOK_S, NOISE_TOK_ES},
		{NOISE_TOK_S, NOISE_TOK_SE},
	}},
	{"IK", NOISE_PATTERN_IK, true, 2, {
		{NOISE_TOK_E, NOISE_TOK_ES, NOISE_TOK_S, NOISE_TOK_SS},
		{NOISE_TOK_E, NOISE_TOK_EE, NOISE_TOK_SE},
	}},
};

static const struct pattern_def *
pattern_find(enum noise_pattern id)
{
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		if (patterns[i].id == id)
			return &patterns[i];
	return NULL;
}

/* ---- protocol names ---- */

static int
parse_modifiers(const char *m, size_t len, size_t n_msgs, unsigned *mask)
{
	size_t i = 0;

	*mask = 0;
	while (i < len) {
		unsigned n;

		if (len - i < 4 || memcmp(m + i, "psk", 3) != 0)
			return WEFT_EINVAL;
		if (m[i + 3] < '0' || m[i + 3] > '9')
			return WEFT_EINVAL;
		n = (unsigned)(m[i + 3] - '0');
		/* pskN with N > message count has no message to end. */
		if (n > n_msgs || (*mask & (1u << n)))
			return WEFT_EINVAL;
		*mask |= 1u << n;
		i += 4;
		if (i < len) {
			if (m[i] != '+')
				return WEFT_EINVAL;
			i++;
			if (i == len)
				return WEFT_EINVAL;
		}
	}
	return 0;
}

int
noise_protocol_parse(const char *name, struct noise_protocol *out)
{
	const char *parts[5];
	size_t lens[5];
	const char *p = name;
	const struct pattern_def *pd = NULL;
	size_t np = 0;
	bool more = true;

	if (name == NULL || strlen(name) >= NOISE_NAME_MAX)
		return WEFT_EINVAL;
	while (np < 5) {
		const char *u = strchr(p, '_');

		parts[np] = p;
		lens[np] = u ? (size_t)(u - p) : strlen(p);
		np++;
		more = u != NULL;
		if (!more)
			break;
		p = u + 1;
	}
	if (np != 5 || more)
		return WEFT_EINVAL;
	if (lens[0] != 5 || memcmp(parts[0], "Noise", 5) != 0)
		return WEFT_EINVAL;
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		if (lens[1] >= 2 && memcmp(parts[1], patterns[i].name, 2) == 0) {
			pd = &patterns[i];
			break;
		}
	}
	if (pd == NULL)
		return WEFT_EINVAL;
	if (parse_modifiers(parts[1] + 2, lens[1] - 2, pd->n_msgs,
	    &out->psk_mask) != 0)
		return WEFT_EINVAL;
	out->pattern = pd->id;
	if (lens[2] != 5 || memcmp(parts[2], "25519", 5) != 0)
		return WEFT_EINVAL;
	if (lens[3] == 10 && memcmp(parts[3], "ChaChaPoly", 10) == 0)
		out->cipher = NOISE_CIPHER_CHACHAPOLY;
	else if (lens[3] == 6 && memcmp(parts[3], "AESGCM", 6) == 0)
		out->cipher = NOISE_CIPHER_AESGCM;
	else
		return WEFT_EINVAL;
	if (lens[4] == 6 && memcmp(parts[4], "SHA256", 6) == 0)
		out->hash = NOISE_HASH_SHA256;
	else if (lens[4] == 7 && memcmp(parts[4], "BLAKE2b", 7) == 0)
		out->hash = NOISE_HASH_BLAKE2B;
	else
		return WEFT_EINVAL;
	return 0;
}

int
noise_protocol_name(const struct noise_protocol *p, char *out, size_t cap)
{
	const struct pattern_def *pd = pattern_find(p->pattern);
	const char *cipher = noise_cipher_name(p->cipher ? p->cipher :
	    NOISE_CIPHER_CHACHAPOLY);
	char mods[24] = "";
	size_t ml = 0;
	int n;

	if (pd == NULL || cipher == NULL)
		return WEFT_EINVAL;
	for (unsigned i = 0; i <= 3; i++) {
		if (!(p->psk_mask & (1u << i)))
			continue;
		n = snprintf(mods + ml, sizeof(mods) - ml, "%spsk%u",
		    ml ? "+" : "", i);
		ml += (size_t)n;
	}
	n = snprintf(out, cap, "Noise_%s%s_25519_%s_%s", pd->name, mods, cipher,
	    p->hash == NOISE_HASH_SHA256 ? "SHA256" : "BLAKE2b");
	if (n < 0 || (size_t)n >= cap)
		return WEFT_ENOSPACE;
	return 0;
}

size_t
noise_protocol_messages(const struct noise_protocol *p)
{
	const struct pattern_def *pd = pattern_find(p->pattern);

	return pd ? pd->n_msgs : 0;
}

bool
noise_protocol_needs_remote_static(const struct noise_protocol *p)
{
	return p->pattern == NOISE_PATTERN_IK;
}

bool
noise_protocol_needs_static(const struct noise_protocol *p, bool initiator)
{
	(void)initiator;
	return p->pattern == NOISE_PATTERN_XX || p->pattern == NOISE_PATTERN_IK;
}

/* ---- SymmetricState ---- */

static void
ss_init(struct noise_symmetric *ss, enum noise_hash h,
        enum noise_cipher_id cipher, const char *name)
{
	size_t nl = strlen(name);

	memset(ss, 0, sizeof(*ss));
	ss->hash = h;
	ss->cipher = cipher;
	ss->hashlen = noise_hash_len(h);
	if (nl <= ss->hashlen)
		memcpy(ss->h, name, nl);
	else
		noise_hash(h, (const uint8_t *)name, nl, NULL, 0, ss->h);
	memcpy(ss->ck, ss->h, ss->hashlen);
}

static void
ss_mix_hash(struct noise_symmetric *ss, const uint8_t *data, size_t len)
{
	noise_hash(ss->hash, ss->h, ss->hashlen, data, len, ss->h);
}

static void
ss_mix_key(struct noise_symmetric *ss, const uint8_t *ikm, size_t len)
{
	uint8_t ck[NOISE_HASHLEN_MAX], k[NOISE_HASHLEN_MAX];

	noise_hkdf(ss->hash, ss->ck, ikm, len, ck, k, NULL);
	memcpy(ss->ck, ck, ss->hashlen);
	/* A 64-byte HASHLEN key is truncated to the cipher's 32.  The
	 * cipher was checked available when the handshake started. */
	noise_cipher_init(&ss->cs, ss->cipher, k);
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(k, sizeof(k));
}

static void
ss_mix_key_and_hash(struct noise_symmetric *ss, const uint8_t *ikm, size_t len)
{
	uint8_t ck[NOISE_HASHLEN_MAX], th[NOISE_HASHLEN_MAX], k[NOISE_HASHLEN_MAX];

	noise_hkdf(ss->hash, ss->ck, ikm, len, ck, th, k);
	memcpy(ss->ck, ck, ss->hashlen);
	ss_mix_hash(ss, th, ss->hashlen);
	noise_cipher_init(&ss->cs, ss->cipher, k);
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(th, sizeof(th));
	sodium_memzero(k, sizeof(k));
}

static int
ss_encrypt_and_hash(struct noise_symmetric *ss, const uint8_t *in, size_t len,
                    uint8_t *out, size_t cap, size_t *out_len)
{
	int rc = noise_cipher_encrypt(&ss->cs, ss->h, ss->hashlen, in, len, out,
	    cap, out_len);

	if (rc == 0)
		ss_mix_hash(ss, out, *out_len);
	return rc;
}

static int
ss_decrypt_and_hash(struct noise_symmetric *ss, const uint8_t *in, size_t len,
                    uint8_t *out, size_t cap, size_t *out_len)
{
	uint8_t h[NOISE_HASHLEN_MAX];
	int rc;

	/* MixHash takes the ciphertext, which in-place decryption would
	 * overwrite: hash first, then decrypt under the old h. */
	noise_hash(ss->hash, ss->h, ss->hashlen, in, len, h);
	rc = noise_cipher_decrypt(&ss->cs, ss->h, ss->hashlen, in, len, out,
	    cap, out_len);
	if (rc == 0)
		memcpy(ss->h, h, ss->hashlen);
	return rc;
}

/* ---- HandshakeState ---- */

int
noise_handshake_init(struct noise_handshake *hs,
                     const struct noise_handshake_params *p)
{
	const struct pattern_def *pd = pattern_find(p->protocol.pattern);
	enum noise_cipher_id cipher = p->protocol.cipher ? p->protocol.cipher :
	    NOISE_CIPHER_CHACHAPOLY;
	char name[NOISE_NAME_MAX];
	int rc;

	memset(hs, 0, sizeof(*hs));
	hs->action = NOISE_ACTION_FAILED;
	if (pd == NULL || p->rng == NULL || (p->prologue_len && !p->prologue))
		return WEFT_EINVAL;
	if (p->protocol.hash != NOISE_HASH_SHA256 &&
	    p->protocol.hash != NOISE_HASH_BLAKE2B)
		return WEFT_EINVAL;
	if (!noise_cipher_available(cipher))
		return WEFT_EINVAL;
	rc = noise_protocol_name(&p->protocol, name, sizeof(name));
	if (rc)
		return rc;
	if (p->protocol.psk_mask & ~((2u << pd->n_msgs) - 1))
		return WEFT_EINVAL;
	if (noise_protocol_needs_static(&p->protocol, p->initiator) &&
	    p->static_sk == NULL)
		return WEFT_EINVAL;
	if (p->initiator && pd->resp_pre_s && p->remote_static == NULL)
		return WEFT_EINVAL;
	if (p->protocol.psk_mask && p->psk == NULL)
		return WEFT_EINVAL;

	hs->protocol = p->protocol;
	hs->protocol.cipher = cipher;
	hs->initiator = p->initiator;
	hs->sodium_only = p->sodium_only;
	hs->rng = *p->rng;
	hs->n_msgs = pd->n_msgs;
	for (size_t m = 0; m < pd->n_msgs; m++) {
		size_t n = 0;

		if (m == 0 && (p->protocol.psk_mask & 1u))
			hs->msgs[m][n++] = NOISE_TOK_PSK;
		for (size_t t = 0; t < 5 && pd->msgs[m][t]; t++)
			hs->msgs[m][n++] = pd->msgs[m][t];
		if (p->protocol.psk_mask & (1u << (m + 1)))
			hs->msgs[m][n++] = NOISE_TOK_PSK;
		hs->n_tokens[m] = (uint8_t)n;
	}
	if (p->static_sk != NULL) {
		memcpy(hs->s_sk, p->static_sk, NOISE_DHLEN);
		if (noise_dh_public(hs->s_pk, hs->s_sk) != 0) {
			noise_handshake_wipe(hs);
			return WEFT_EINVAL;
		}
		hs->has_s = true;
	}
	if (p->remote_static != NULL) {
		memcpy(hs->rs, p->remote_static, NOISE_DHLEN);
		hs->has_rs = true;
	}
	if (p->psk != NULL && p->protocol.psk_mask) {
		memcpy(hs->psk, p->psk, NOISE_PSKLEN);
		hs->has_psk = true;
	}

	ss_init(&hs->ss, p->protocol.hash, cipher, name);
	ss_mix_hash(&hs->ss, p->prologue, p->prologue_len);
	if (pd->resp_pre_s)
		ss_mix_hash(&hs->ss, p->initiator ? hs->rs : hs->s_pk,
		    NOISE_DHLEN);
	hs->action = p->initiator ? NOISE_ACTION_WRITE : NOISE_ACTION_READ;
	return 0;
}

enum noise_action
noise_handshake_action(const struct noise_handshake *hs)
{
	return hs->action;
}

static int
fail(struct noise_handshake *hs, int rc)
{
	noise_handshake_wipe(hs);
	hs->action = NOISE_ACTION_FAILED;
	return rc;
}

static void
advance(struct noise_handshake *hs)
{
	hs->msg_index++;
	if (hs->msg_index == hs->n_msgs)
		hs->action = NOISE_ACTION_SPLIT;
	else
		hs->action = hs->action == NOISE_ACTION_WRITE ?
		    NOISE_ACTION_READ : NOISE_ACTION_WRITE;
}

/* The length of the current message around a payload of len bytes:
 * whether each part is encrypted depends on whether a key is set by
 * then, which the tokens before it decide. */
static size_t
message_len(const struct noise_handshake *hs, size_t len)
{
	const uint8_t *toks = hs->msgs[hs->msg_index];
	bool has_key = hs->ss.cs.has_key;
	bool psk_mode = hs->protocol.psk_mask != 0;
	size_t total = 0;

	for (size_t i = 0; i < hs->n_tokens[hs->msg_index]; i++) {
		switch (toks[i]) {
		case NOISE_TOK_E:
			total += NOISE_DHLEN;
			if (psk_mode)
				has_key = true;
			break;
		case NOISE_TOK_S:
			total += NOISE_DHLEN + (has_key ? NOISE_TAGLEN : 0);
			break;
		default:
			has_key = true;
			break;
		}
	}
	return total + len + (has_key ? NOISE_TAGLEN : 0);
}

static int
dh(uint8_t out[static NOISE_DHLEN], const uint8_t sk[static NOISE_DHLEN],
   const uint8_t pk[static NOISE_DHLEN])
{
	/* libsodium refuses an all-zero result (a low-order point). */
	return crypto_scalarmult(out, sk, pk) == 0 ? 0 : WEFT_ECRYPTO;
}

/* The DH tokens, alike for reading and writing: which keys meet depends
 * only on the role. */
static int
mix_dh(struct noise_handshake *hs, uint8_t tok)
{
	uint8_t shared[NOISE_DHLEN];
	const uint8_t *sk, *pk;
	bool ok;
	int rc;

	switch (tok) {
	case NOISE_TOK_EE:
		ok = hs->has_e && hs->has_re;
		sk = hs->e_sk;
		pk = hs->re;
		break;
	case NOISE_TOK_ES:
		ok = hs->initiator ? hs->has_e && hs->has_rs :
		    hs->has_s && hs->has_re;
		sk = hs->initiator ? hs->e_sk : hs->s_sk;
		pk = hs->initiator ? hs->rs : hs->re;
		break;
	case NOISE_TOK_SE:
		ok = hs->initiator ? hs->has_s && hs->has_re :
		    hs->has_e && hs->has_rs;
		sk = hs->initiator ? hs->s_sk : hs->e_sk;
		pk = hs->initiator ? hs->re : hs->rs;
		break;
	case NOISE_TOK_SS:
		ok = hs->has_s && hs->has_rs;
		sk = hs->s_sk;
		pk = hs->rs;
		break;
	default:
		return WEFT_EINVAL;
	}
	if (!ok)
		return WEFT_ESTATE;
	rc = dh(shared, sk, pk);
	if (rc == 0)
		ss_mix_key(&hs->ss, shared, sizeof(shared));
	sodium_memzero(shared, sizeof(shared));
	return rc;
}

int
noise_handshake_write(struct noise_handshake *hs, const uint8_t *payload,
                      size_t payload_len, uint8_t *out, size_t cap,
                      size_t *out_len)
{
	const uint8_t *toks;
	size_t need, off = 0, n;
	int rc;

	if (hs->action != NOISE_ACTION_WRITE)
		return WEFT_ESTATE;
	if (payload_len > NOISE_MAX_MSG)
		return WEFT_ETOOBIG;
	need = message_len(hs, payload_len);
	if (need > NOISE_MAX_MSG)
		return WEFT_ETOOBIG;
	if (cap < need)
		return WEFT_ENOSPACE;
	toks = hs->msgs[hs->msg_index];
	for (size_t i = 0; i < hs->n_tokens[hs->msg_index]; i++) {
		switch (toks[i]) {
		case NOISE_TOK_E:
			rc = weft_rng_fill(&hs->rng, hs->e_sk, NOISE_DHLEN);
			if (rc == 0)
				rc = noise_dh_public(hs->e_pk, hs->e_sk);
			if (rc)
				return fail(hs, rc);
			hs->has_e = true;
			memcpy(out + off, hs->e_pk, NOISE_DHLEN);
			off += NOISE_DHLEN;
			ss_mix_hash(&hs->ss, hs->e_pk, NOISE_DHLEN);
			if (hs->protocol.psk_mask)
				ss_mix_key(&hs->ss, hs->e_pk, NOISE_DHLEN);
			break;
		case NOISE_TOK_S:
			if (!hs->has_s)
				return fail(hs, WEFT_ESTATE);
			rc = ss_encrypt_and_hash(&hs->ss, hs->s_pk, NOISE_DHLEN,
			    out + off, cap - off, &n);
			if (rc)
				return fail(hs, rc);
			off += n;
			break;
		case NOISE_TOK_PSK:
			ss_mix_key_and_hash(&hs->ss, hs->psk, NOISE_PSKLEN);
			break;
		default:
			rc = mix_dh(hs, toks[i]);
			if (rc)
				return fail(hs, rc);
			break;
		}
	}
	rc = ss_encrypt_and_hash(&hs->ss, payload, payload_len, out + off,
	    cap - off, &n);
	if (rc)
		return fail(hs, rc);
	*out_len = off + n;
	advance(hs);
	return 0;
}

int
noise_handshake_read(struct noise_handshake *hs, const uint8_t *msg,
                     size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	const uint8_t *toks;
	size_t fixed, off = 0, n;
	int rc;

	if (hs->action != NOISE_ACTION_READ)
		return WEFT_ESTATE;
	if (len > NOISE_MAX_MSG)
		return fail(hs, WEFT_ETOOBIG);
	fixed = message_len(hs, 0);
	if (len < fixed)
		return fail(hs, WEFT_ETRUNC);
	if (cap < len - fixed)
		return WEFT_ENOSPACE;
	toks = hs->msgs[hs->msg_index];
	for (size_t i = 0; i < hs->n_tokens[hs->msg_index]; i++) {
		switch (toks[i]) {
		case NOISE_TOK_E:
			memcpy(hs->re, msg + off, NOISE_DHLEN);
			hs->has_re = true;
			off += NOISE_DHLEN;
			ss_mix_hash(&hs->ss, hs->re, NOISE_DHLEN);
			if (hs->protocol.psk_mask)
				ss_mix_key(&hs->ss, hs->re, NOISE_DHLEN);
			break;
		case NOISE_TOK_S: {
			size_t sl = NOISE_DHLEN +
			    (hs->ss.cs.has_key ? NOISE_TAGLEN : 0);
			uint8_t tmp[NOISE_DHLEN + NOISE_TAGLEN];

			memcpy(tmp, msg + off, sl);
			rc = ss_decrypt_and_hash(&hs->ss, tmp, sl, hs->rs,
			    NOISE_DHLEN, &n);
			if (rc)
				return fail(hs, rc);
			hs->has_rs = true;
			off += sl;
			break;
		}
		case NOISE_TOK_PSK:
			ss_mix_key_and_hash(&hs->ss, hs->psk, NOISE_PSKLEN);
			break;
		default:
			rc = mix_dh(hs, toks[i]);
			if (rc)
				return fail(hs, rc);
			break;
		}
	}
	rc = ss_decrypt_and_hash(&hs->ss, msg + off, len - off, out, cap, out_len);
	if (rc)
		return fail(hs, rc);
	advance(hs);
	return 0;
}

int
noise_handshake_split(struct noise_handshake *hs, struct noise_cipher *send,
                      struct noise_cipher *recv)
{
	uint8_t k1[NOISE_HASHLEN_MAX], k2[NOISE_HASHLEN_MAX];
	uint8_t h[NOISE_HASHLEN_MAX];
	size_t hl = hs->ss.hashlen;

	if (hs->action != NOISE_ACTION_SPLIT)
		return WEFT_ESTATE;
	noise_hkdf(hs->ss.hash, hs->ss.ck, NULL, 0, k1, k2, NULL);
	noise_cipher_init(hs->initiator ? send : recv, hs->ss.cipher, k1);
	noise_cipher_init(hs->initiator ? recv : send, hs->ss.cipher, k2);
	/* Only the transport ciphers, which carry the bulk, pay for an
	 * OpenSSL context; a failure leaves them on libsodium, which
	 * computes the same AES-256-GCM, so it is not the handshake's. */
	if (!hs->sodium_only) {
		(void)noise_cipher_use_openssl(send);
		(void)noise_cipher_use_openssl(recv);
	}
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));

	/* Keep what is public (h, the peer's static key) for the caller. */
	memcpy(h, hs->ss.h, hl);
	{
		uint8_t rs[NOISE_DHLEN];
		bool has_rs = hs->has_rs;
		enum noise_hash hash = hs->ss.hash;

		memcpy(rs, hs->rs, NOISE_DHLEN);
		noise_handshake_wipe(hs);
		memcpy(hs->ss.h, h, hl);
		hs->ss.hashlen = hl;
		hs->ss.hash = hash;
		memcpy(hs->rs, rs, NOISE_DHLEN);
		hs->has_rs = has_rs;
	}
	hs->action = NOISE_ACTION_DONE;
	return 0;
}

const uint8_t *
noise_handshake_hash(const struct noise_handshake *hs, size_t *len)
{
	*len = hs->ss.hashlen;
	return hs->ss.h;
}

const uint8_t *
noise_handshake_remote_static(const struct noise_handshake *hs)
{
	return hs->has_rs ? hs->rs : NULL;
}

void
noise_handshake_wipe(struct noise_handshake *hs)
{
	sodium_memzero(hs, sizeof(*hs));
	hs->action = NOISE_ACTION_FAILED;
}
