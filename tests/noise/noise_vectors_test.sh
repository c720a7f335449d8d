#!/bin/sh
# noise-vectors must notice bad vectors: a changed transport ciphertext, a
# wrong handshake hash, a protocol it cannot run, a changed handshake
# payload and mismatched psks each get a line, the two good vectors pass,
# and the exit status is non-zero.
# Usage: noise_vectors_test.sh PATH/TO/noise-vectors PATH/TO/broken.json
set -u
out=$("$1" "$2")
rc=$?
printf '%s\n' "$out"
fail() {
	echo "FAIL: $1"
	echo "0 passed, 1 failed"
	exit 1
}
[ $rc -ne 0 ] || fail "exit status 0 on bad vectors"
[ "$(printf '%s\n' "$out" | tail -n 1)" = "2 passed, 5 failed" ] ||
	fail "wrong closing line"
for want in "vector 0 (Noise_NN_25519_ChaChaPoly_BLAKE2b): message 3: transport ciphertext differs" \
	"vector 1 (Noise_NN_25519_ChaChaPoly_SHA256): handshake_hash differs" \
	"vector 2 (Noise_KK_25519_ChaChaPoly_SHA256): cannot run protocol" \
	"vector 3 (Noise_XX_25519_ChaChaPoly_BLAKE2b): message 1: handshake ciphertext differs" \
	"vector 4 (Noise_IKpsk2_25519_ChaChaPoly_SHA256): message 1: handshake ciphertext differs"; do
	printf '%s\n' "$out" | grep -qF "$want" || fail "missing: $want"
done
echo "1 passed, 0 failed"
