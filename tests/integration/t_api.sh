#!/usr/bin/env bash
# The local API: reading is open to the socket's group, changing needs the
# owner or root; malformed, unknown and oversized requests get their codes.
source "$(dirname "$0")/lib.sh"

make_ca "$T/ca" it-root
make_cert "$T/ca" n1
write_config n1 127.0.0.31
start n1
wait_sock n1 || finish

expect_status() { # WANT DESCRIPTION NAME METHOD PATH [BODY]
	local want=$1 what=$2 got
	shift 2
	got=$(api "$@" | head -1)
	[ "$got" = "$want" ] && ok "$what: $got" || fail "$what: got $got, want $want"
}
expect_status 200 "GET /v1/members" n1 GET /v1/members
expect_status 200 "GET /v1/agent" n1 GET /v1/agent
expect_status 404 "unknown path" n1 GET /v1/nothing
expect_status 405 "wrong method" n1 DELETE /v1/members
expect_status 400 "join with a bad body" n1 POST /v1/join '{"addresses": 5}'
expect_status 400 "join with bad JSON" n1 POST /v1/join '{"addresses":'
expect_status 400 "objects with no armour" n1 POST /v1/objects '{"armored": "x"}'
expect_status 404 "unknown service" n1 GET /v1/services/nothing
{ printf '{"x": "'; head -c 2000000 /dev/zero | tr '\0' 'a'; printf '"}'; } >"$T/big.json"
expect_status 413 "oversized body" n1 POST /v1/join "@$T/big.json"

mode=$(stat -c %a "$(sock n1)")
[ "$mode" = 660 ] && ok "socket mode 0660" || fail "socket mode $mode"

if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	as_nobody() {
		setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
	}
	if as_nobody "$WEFT" members --socket "$(sock n1)" >/dev/null; then
		ok "a non-owner in the socket's group can read (weft members)"
	else
		fail "non-owner read refused"
	fi
	out=$(as_nobody "$WEFT" leave --socket "$(sock n1)" 2>&1)
	rc=$?
	if [ "$rc" -eq 1 ] && echo "$out" | grep -q "owner or root"; then
		ok "a non-owner gets 403 for weft leave: $out"
	else
		fail "non-owner leave: exit $rc: $out"
	fi
	kill -0 "${PIDS[n1]}" && ok "agent still running" || fail "agent stopped"
else
	echo "SKIP: permission checks need root and setpriv"
fi
finish
