/* Error codes shared by every part: 0 is success, failures are negative. */
#ifndef WEFT_COMMON_ERR_H
#define WEFT_COMMON_ERR_H

enum weft_err {
	WEFT_OK = 0,
	WEFT_EINVAL = -1,     /* invalid argument */
	WEFT_ENOMEM = -2,     /* out of memory */
	WEFT_ETRUNC = -3,     /* input ends too early */
	WEFT_EMALFORMED = -4, /* input is not well formed */
	WEFT_ETOOBIG = -5,    /* a field or message is over its limit */
	WEFT_EVERSION = -6,   /* unsupported format version */
	WEFT_ECRYPTO = -7,    /* decryption or key agreement failed */
	WEFT_EBADSIG = -8,    /* signature does not verify */
	WEFT_EEXPIRED = -9,   /* past its validity window */
	WEFT_ENOTYET = -10,   /* before its validity window */
	WEFT_EUNTRUSTED = -11, /* issuer is not trusted */
	WEFT_EREVOKED = -12,  /* key was revoked */
	WEFT_EPERM = -13,     /* permission refused */
	WEFT_EIO = -14,       /* system I/O failed */
	WEFT_ENOENT = -15,    /* no such item */
	WEFT_ENOSPACE = -16,  /* output buffer too small */
	WEFT_ESTATE = -17,    /* call not valid in the current state */
	WEFT_ENONCE = -18,    /* nonce space exhausted */
	WEFT_EEXIST = -19,    /* already exists */
	WEFT_EAGAIN = -20,    /* more input needed */
	WEFT_ETIMEDOUT = -21, /* deadline passed */
	WEFT_EAUTH = -22,     /* peer failed authentication */
	WEFT_EPOLICY = -23,   /* refused by policy (role, group, service) */
	WEFT_ERANGE = -24,    /* value out of range */
	WEFT_ECLOSED = -25,   /* session or stream closed */
	WEFT_ERR_MIN_ = -26
};

/* A short static English text for an error code; never NULL. */
const char *weft_strerror(int err);

#endif
