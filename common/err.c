#include "common/err.h"

const char *
weft_strerror(int err)
{
	switch (err) {
	case WEFT_OK: return "success";
	case WEFT_EINVAL: return "invalid argument";
	case WEFT_ENOMEM: return "out of memory";
	case WEFT_ETRUNC: return "truncated input";
	case WEFT_EMALFORMED: return "malformed input";
	case WEFT_ETOOBIG: return "too large";
	case WEFT_EVERSION: return "unsupported version";
	case WEFT_ECRYPTO: return "cryptographic failure";
	case WEFT_EBADSIG: return "bad signature";
	case WEFT_EEXPIRED: return "expired";
	case WEFT_ENOTYET: return "not yet valid";
	case WEFT_EUNTRUSTED: return "untrusted issuer";
	case WEFT_EREVOKED: return "revoked";
	case WEFT_EPERM: return "permission refused";
	case WEFT_EIO: return "I/O error";
	case WEFT_ENOENT: return "not found";
	case WEFT_ENOSPACE: return "buffer too small";
	case WEFT_ESTATE: return "invalid state";
	case WEFT_ENONCE: return "nonce exhausted";
	case WEFT_EEXIST: return "already exists";
	case WEFT_EAGAIN: return "more input needed";
	case WEFT_ETIMEDOUT: return "timed out";
	case WEFT_EAUTH: return "authentication failed";
	case WEFT_EPOLICY: return "refused by policy";
	case WEFT_ERANGE: return "out of range";
	case WEFT_ECLOSED: return "closed";
	default: return "unknown error";
	}
}
