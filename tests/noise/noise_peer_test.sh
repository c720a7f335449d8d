#!/bin/sh
# Runs noise-peer's initiator against its responder over loopback for
# XX, IK and NN with both hashes and both ciphers, and checks that a wrong
# IK key and a cipher mismatch fail.
# Usage: noise_peer_test.sh PATH/TO/noise-peer
set -u
peer=$1
tmp=$(mktemp -d)
resp_pid=
trap 'if [ -n "$resp_pid" ]; then kill "$resp_pid" 2>/dev/null; fi; rm -rf "$tmp"' EXIT

# Fixed test keys (private; the public ones come from the responder).
s_init=e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1
s_resp=4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893
s_other=0101010101010101010101010101010101010101010101010101010101010101

passed=0
failed=0

# start_responder PATTERN HASH [CIPHER]: sets resp_pid, addr, pub
start_responder() {
	: >"$tmp/resp.out"
	"$peer" respond --listen 127.0.0.1:0 --pattern "$1" --hash "$2" \
		--cipher "${3:-ChaChaPoly}" --static "$s_resp" --once >"$tmp/resp.out" 2>"$tmp/resp.err" &
	resp_pid=$!
	i=0
	while [ ! -s "$tmp/resp.out" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	line=$(head -n 1 "$tmp/resp.out")
	addr=$(printf '%s' "$line" | sed -n 's/.*"listen":"\([^"]*\)".*/\1/p')
	pub=$(printf '%s' "$line" | sed -n 's/.*"static":"\([0-9a-f]*\)".*/\1/p')
}

# wait_responder: the responder's exit status, killing it after 10 s.
wait_responder() {
	i=0
	while kill -0 "$resp_pid" 2>/dev/null && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	if kill -0 "$resp_pid" 2>/dev/null; then
		kill "$resp_pid"
	fi
	wait "$resp_pid"
	rc=$?
	resp_pid=
	return $rc
}

check() {
	if [ "$1" = ok ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL: $2"
		cat "$tmp/resp.err" "$tmp/init.out" 2>/dev/null
	fi
}

for cipher in ChaChaPoly AESGCM; do
for pattern in XX IK NN; do
	for hash in BLAKE2b SHA256; do
		name="$pattern/$cipher/$hash"
		start_responder "$pattern" "$hash" "$cipher"
		if [ -z "$addr" ] || [ ${#pub} -ne 64 ]; then
			check bad "$name: responder printed no address and key"
			wait_responder
			continue
		fi
		remote=
		if [ "$pattern" = IK ]; then
			remote="--remote-static $pub"
		fi
		# shellcheck disable=SC2086
		"$peer" initiate --connect "$addr" --pattern "$pattern" \
			--hash "$hash" --cipher "$cipher" --static "$s_init" $remote \
			--message "hello from $name" >"$tmp/init.out" 2>&1
		init_rc=$?
		want=64
		[ "$hash" = BLAKE2b ] && want=128
		hh=$(sed -n 's/^{"ok":true,"handshake_hash":"\([0-9a-f]*\)"}$/\1/p' \
			"$tmp/init.out")
		wait_responder
		resp_rc=$?
		if [ $init_rc -eq 0 ] && [ ${#hh} -eq $want ] && [ $resp_rc -eq 0 ]; then
			check ok "$name"
		else
			check bad "$name: initiator $init_rc, responder $resp_rc"
		fi
	done
done
done

# Each side names its cipher in the protocol name it hashes first: an
# AESGCM initiator and a ChaChaPoly responder never agree.
start_responder XX BLAKE2b ChaChaPoly
"$peer" initiate --connect "$addr" --pattern XX --hash BLAKE2b \
	--cipher AESGCM --static "$s_init" --message x >"$tmp/init.out" 2>&1
init_rc=$?
wait_responder
resp_rc=$?
if [ $init_rc -eq 1 ] && grep -q '"ok":false' "$tmp/init.out"; then
	check ok "cipher mismatch"
else
	check bad "cipher mismatch: initiator $init_rc, responder $resp_rc"
fi

# IK towards a key the responder does not hold must fail on both sides.
start_responder IK SHA256
other_pub=$(printf '%s' "$pub" | tr '0-9a-f' '1-9a-f0')
"$peer" initiate --connect "$addr" --pattern IK --hash SHA256 \
	--static "$s_init" --remote-static "$other_pub" --message x \
	>"$tmp/init.out" 2>&1
init_rc=$?
wait_responder
resp_rc=$?
if [ $init_rc -eq 1 ] && grep -q '"ok":false' "$tmp/init.out" &&
	[ $resp_rc -ne 0 ]; then
	check ok "IK wrong key"
else
	check bad "IK wrong key: initiator $init_rc, responder $resp_rc"
fi

# Bad usage is refused with a reason.
if "$peer" initiate --connect 127.0.0.1:1 --pattern KK --hash SHA256 \
	--static "$s_other" --message x >"$tmp/init.out" 2>&1; then
	check bad "unsupported pattern accepted"
elif grep -q 'unsupported protocol' "$tmp/init.out"; then
	check ok "unsupported pattern"
else
	check bad "unsupported pattern: no reason given"
fi

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
