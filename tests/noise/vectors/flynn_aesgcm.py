#!/usr/bin/python3
"""Converts flynn/noise's vectors.txt (Debian golang-github-flynn-noise-dev,
/usr/share/gocode/src/github.com/flynn/noise/vectors.txt) into the
cacophony JSON form of public.json, keeping the AESGCM vectors of the
protocols weft supports (NN, XX, IK with psk modifiers; SHA256, BLAKE2b).
Same changes as README.md lists for flynn's vectors in public.json.

  tests/noise/vectors/flynn_aesgcm.py [VECTORS_TXT] > aesgcm.json
"""
import json
import re
import sys

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SRC = "/usr/share/gocode/src/github.com/flynn/noise/vectors.txt"
NAME = re.compile(r"^Noise_(NN|XX|IK)(psk[0-3])?_25519_AESGCM_(SHA256|BLAKE2b)$")


def x25519_pub(hexkey):
    k = X25519PrivateKey.from_private_bytes(bytes.fromhex(hexkey))
    return k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def blocks(text):
    cur = {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                yield cur
            cur = {}
            continue
        k, _, v = line.partition("=")
        cur[k] = v
    if cur:
        yield cur


def convert(b):
    name = b["handshake"]
    m = NAME.match(name)
    if not m:
        return None
    v = {"protocol_name": name}
    pro = b.get("prologue", "")
    v["init_prologue"] = pro
    v["resp_prologue"] = pro
    if "preshared_key" in b:
        v["init_psks"] = [b["preshared_key"]]
        v["resp_psks"] = [b["preshared_key"]]
    for side in ("init", "resp"):
        if side + "_static" in b:
            v[side + "_static"] = b[side + "_static"]
        if "gen_" + side + "_ephemeral" in b:
            v[side + "_ephemeral"] = b["gen_" + side + "_ephemeral"]
    if m.group(1) == "IK":
        v["init_remote_static"] = x25519_pub(b["resp_static"])
    msgs = []
    i = 0
    while "msg_%d_ciphertext" % i in b:
        msgs.append({"payload": b["msg_%d_payload" % i],
                     "ciphertext": b["msg_%d_ciphertext" % i]})
        i += 1
    hs = 3 if m.group(1) == "XX" else 2
    # flynn writes initiator->responder first; the alternation rule wants
    # the responder's message at the odd index.
    if hs == 3 and len(msgs) >= 5:
        msgs[3], msgs[4] = msgs[4], msgs[3]
    v["messages"] = msgs
    return v


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else SRC
    with open(src) as f:
        out = [v for v in map(convert, blocks(f.read())) if v]
    json.dump({"vectors": out}, sys.stdout, indent=1)
    sys.stdout.write("\n")


main()
