#!/usr/bin/env bash
# The TCP data plane between real agents on 127.0.0.70-89: an app talks to
# agent a's upstream port and reaches echo servers behind agents b and c
# through the mesh.  Data both ways with half-close, 1,000 connections at
# once, a bulk transfer with matching SHA-256, failover when the
# endpoint's agent dies mid-stream, an intention deny (and its deletion),
# mesh.default_intention deny with an allow intention, a node whose
# certificate lacks the service never serving it, a peer from another CA
# refused at the handshake, a revoked node refused within seconds, and no
# plaintext on the mesh port (tcpdump).
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

A=127.0.0.70 B=127.0.0.71 C=127.0.0.72 BRIDGE=127.0.0.74 S=127.0.0.75
R=127.0.0.76
UP=15070        # a's upstream port for service echo
ECHO_B=17071    # the echo servers, on 127.0.0.1 behind b and c
ECHO_C=17072
BULK=$((512 << 20))
[ "${WEFT_SANITIZED:-0}" = 1 ] && BULK=$((64 << 20))

upstream() { # IP: an upstreams list with echo on IP:UP
	echo ", \"upstreams\": [{\"service\": \"echo\", \"local_bind\": \"$1:$UP\"}]"
}
TIGHT=15079     # a's second echo port: max_connections 3
echo_service() { # PORT
	echo ", \"services\": [{\"name\": \"echo\", \"port\": $1, \"protocol\": \"tcp\"}]"
}

make_ca "$T/ca" it-root
make_ca "$T/rogue" rogue-root
make_cert "$T/ca" a web
make_cert "$T/ca" b echo
make_cert "$T/ca" c echo
make_cert "$T/ca" bridge
make_cert "$T/ca" r web
"$WEFT" cert issue --ca "$T/ca" --name ops --groups operator --valid 30d \
	--out "$T/certs" >/dev/null || { fail "cert issue ops"; exit 1; }
"$WEFT" cert issue --ca "$T/rogue" --name s --services web --valid 30d \
	--out "$T/certs" >/dev/null || { fail "cert issue s (rogue CA)"; exit 1; }
cat "$T/ca/ca.crt" "$T/rogue/ca.crt" >"$T/both.crt"

# a runs two data-plane workers whatever the machine's core count.
write_config a $A "" "" ", \"upstreams\": [{\"service\": \"echo\", \"local_bind\": \"$A:$UP\"},
  {\"service\": \"echo\", \"local_bind\": \"$A:$TIGHT\", \"max_connections\": 3}], \"proxy_workers\": 2"
write_config b $B $A "" "$(echo_service $ECHO_B)"
write_config c $C $A "" "$(echo_service $ECHO_C)"

# start_echo NAME PORT: an echo server on 127.0.0.1:PORT
start_echo() {
	python3 "$HERE/echo_server.py" 127.0.0.1 "$2" >"$T/$1.out" 2>&1 &
	PIDS[$1]=$!
	wait_for 10 "echo server $1 on port $2" grep -q ready "$T/$1.out"
}
start_echo echo_b $ECHO_B
start_echo echo_c $ECHO_C

client() { timeout 120 python3 "$HERE/tcp_client.py" "$@"; }
# endpoints NAME: how many endpoints of echo NAME's agent knows alive
endpoints() {
	"$WEFT" services echo --json --socket "$(sock "$1")" 2>/dev/null |
		grep -o '"status": *"alive"' | wc -l
}
has_endpoints() { [ "$(endpoints "$1")" -ge "$2" ]; }

start a
start b
wait_sock a || finish
wait_sock b || finish
wait_for 20 "a knows b's echo endpoint" has_endpoints a 1
# The proxy's tables follow gossip 50 ms later.
wait_for 5 "a's proxy reaches echo" client marker $A $UP "table ready"

# ---- data both ways, half-close, many, bulk ----
out=$(client echo $A $UP 100000) && ok "echo through the mesh: $out" ||
	fail "echo of 100000 bytes: $out"
out=$(client marker $A $UP "hello, half-closed world") &&
	ok "half-close carried both ways: $out" || fail "half-close: $out"
out=$(client many $A $UP 1000 4096) && ok "$out" ||
	fail "1000 concurrent connections: $out"
# ---- two workers: both listen (SO_REUSEPORT) and both carry streams ----
wmetric() { # NAME SAMPLE: its value in NAME's metrics
	api "$1" GET /v1/metrics | awk -v s="$2" '$1 == s {print $2; f = 1} END {if (!f) print 0}' |
		head -1 | cut -d. -f1
}
w0=$(wmetric a 'weft_proxy_worker_streams_total{worker="0"}')
w1=$(wmetric a 'weft_proxy_worker_streams_total{worker="1"}')
[ "$(wmetric a weft_proxy_workers)" = 2 ] && [ "$w0" -gt 50 ] && [ "$w1" -gt 50 ] &&
	[ $((w0 + w1)) -ge 1000 ] &&
	ok "a's 2 workers shared the 1000 connections: $w0 and $w1 streams" ||
	fail "a's workers: $(wmetric a weft_proxy_workers) workers, streams $w0 and $w1"
[ "$(wmetric a 'weft_proxy_streams_total{direction="out"}')" -eq $((w0 + w1)) ] &&
	ok "the streams counter sums the workers" ||
	fail "weft_proxy_streams_total out $(wmetric a 'weft_proxy_streams_total{direction="out"}') != $w0 + $w1"
# max_connections on a TCP upstream holds across both workers: of 6
# connections held at once, 3 are carried and 3 closed at once.
o0=$(wmetric a weft_proxy_circuit_overflows_total)
out=$(timeout 30 python3 - "$A" "$TIGHT" <<'PY'
import socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
conns = []
for i in range(6):
    c = socket.create_connection((host, port), timeout=5)
    conns.append(c)
    time.sleep(0.1)
served = closed = 0
for i, c in enumerate(conns):
    try:
        c.sendall(b"m%d" % i)
        d = c.recv(16)
        if d == b"m%d" % i:
            served += 1
        elif d == b"":
            closed += 1
    except OSError:
        closed += 1
print(served, closed)
PY
)
o1=$(wmetric a weft_proxy_circuit_overflows_total)
[ "$out" = "3 3" ] && [ $((o1 - o0)) -eq 3 ] &&
	ok "TCP upstream max_connections 3 with 2 workers: 3 of 6 carried, 3 closed (overflows counted $((o1 - o0)))" ||
	fail "TCP max_connections 3: served/closed '$out', overflows $((o1 - o0))"
# SO_REUSEPORT must not let a second process share an address silently:
# an agent whose upstream port another process listens on refuses to start.
python3 -c 'import socket,time,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.78", 15078)); s.listen(); print("ready", flush=True); time.sleep(60)' >"$T/squat.out" 2>&1 &
PIDS[squat]=$!
wait_for 10 "a process listens on 127.0.0.78:15078" grep -q ready "$T/squat.out"
write_config busy 127.0.0.78 "" "" ", \"upstreams\": [{\"service\": \"echo\", \"local_bind\": \"127.0.0.78:15078\"}], \"proxy_workers\": 2"
make_cert "$T/ca" busy web
timeout 20 "$WEFTD" --config "$T/busy.json" >"$T/busy.log" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q 'msg="cannot listen for upstream" service=echo addr=127.0.0.78:15078 error="address already in use"' "$T/busy.log" &&
	ok "an upstream port another process holds (with SO_REUSEPORT): weftd exits 1, address already in use" ||
	fail "busy upstream port: exit $rc, $(tail -3 "$T/busy.log")"
kill "${PIDS[squat]}" 2>/dev/null; unset 'PIDS[squat]'

out=$(client echo $A $UP $BULK) && ok "bulk $((BULK >> 20)) MiB: $out" ||
	fail "bulk $((BULK >> 20)) MiB: $out"

# ---- the endpoint's agent dies mid-stream ----
# A slow stream (16 KiB every 20 ms) that reports its progress; it must
# end with an error when b dies, not hang.
cat >"$T/slow.py" <<'PY'
import socket, sys, time
host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=5)
s.settimeout(5)
block, back, result = b"x" * 16384, 0, "completed"
try:
    for _ in range(3000):            # at most 60 s
        s.sendall(block)
        while back < 16384:
            c = s.recv(65536)
            if not c:
                raise ConnectionError("closed by the agent")
            back += len(c)
        back -= 16384
        open(out, "w").write("progress\n")
        time.sleep(0.02)
except (OSError, ConnectionError) as e:
    result = f"broken: {e.__class__.__name__}: {e}"
open(out, "a").write(result + "\n")
PY
python3 "$T/slow.py" $A $UP "$T/slow.out" &
PIDS[slow]=$!
wait_for 10 "a slow stream is flowing through b" grep -q progress "$T/slow.out"
start c
wait_sock c || finish
wait_for 20 "a knows both echo endpoints" has_endpoints a 2
sleep 0.5 # the proxy's tables follow gossip 50 ms later
kill -9 "${PIDS[b]}"
unset 'PIDS[b]'
wait_for 15 "the stream through b ends when b dies (no hang)" \
	grep -q broken "$T/slow.out"
grep broken "$T/slow.out" | sed 's/^/# /'
new_conns_ok() {
	local i
	for i in 1 2 3 4 5; do
		client marker $A $UP "after b died $i" || return 1
	done
}
wait_for 10 "new connections go to c after b died" new_conns_ok
wait_for 20 "a sees b failed" bash -c "[ \"\$(\"$WEFT\" services echo \
--json --socket $(sock a) | grep -c '\"alive\"')\" -eq 1 ]"

# ---- intentions ----
OPS=(--signer-key "$T/certs/ops.key" --signer-cert "$T/certs/ops.crt")
cat >"$T/deny.json" <<'JSON'
{"name": "deny-web-echo", "source": "web", "destination": "echo",
 "action": "deny"}
JSON
# Refused locally, with the reason: a signer outside the operator group,
# a key others may read, a bad action.
out=$("$WEFT" intentions apply "$T/deny.json" --signer-key "$T/certs/a.key" \
	--signer-cert "$T/certs/a.crt" --socket "$(sock a)" 2>&1)
[ $? -eq 1 ] && grep -q operator <<<"$out" &&
	ok "a signer without the operator group is refused: $out" ||
	fail "non-operator signer: $out"
cp "$T/certs/ops.key" "$T/ops-open.key"
chmod 0644 "$T/ops-open.key"
out=$("$WEFT" intentions apply "$T/deny.json" --signer-key "$T/ops-open.key" \
	--signer-cert "$T/certs/ops.crt" --socket "$(sock a)" 2>&1)
[ $? -eq 1 ] && grep -q ops-open.key <<<"$out" &&
	ok "a signer key readable by others is refused: $out" ||
	fail "open signer key: $out"
echo '[{"name": "x", "source": "web", "destination": "echo", "action": "maybe"}]' \
	>"$T/bad.json"
out=$("$WEFT" intentions apply "$T/bad.json" "${OPS[@]}" --socket "$(sock a)" 2>&1)
[ $? -eq 1 ] && grep -q 'action "maybe"' <<<"$out" &&
	ok "a bad action is named: $out" || fail "bad action: $out"

# An operator of another CA passes the local checks; the agent refuses it.
"$WEFT" cert issue --ca "$T/rogue" --name evil --groups operator --valid 1d \
	--out "$T/certs" >/dev/null || fail "cert issue evil"
out=$("$WEFT" intentions apply "$T/deny.json" --signer-key "$T/certs/evil.key" \
	--signer-cert "$T/certs/evil.crt" --socket "$(sock a)" 2>&1)
[ $? -eq 1 ] && grep -q 'certificate does not verify' <<<"$out" &&
	ok "the agent refuses an operator of another CA: $out" ||
	fail "operator of another CA: $out"
out=$("$WEFT" intentions apply "$T/deny.json" "${OPS[@]}" --socket "$(sock a)" 2>&1) &&
	ok "$out" || fail "intentions apply: $out"
c_has_deny() {
	"$WEFT" intentions list --socket "$(sock c)" | grep -q 'deny-web-echo.*web.*echo.*deny'
}
wait_for 10 "c lists the deny intention (gossiped)" c_has_deny
"$WEFT" intentions list --socket "$(sock c)" | sed 's/^/# /'
out=$(client marker $A $UP "denied?" 2>&1 | tail -1) &&
	fail "a connection passed the deny intention: $out" ||
	ok "the deny intention refuses new connections: $out"
wait_for 5 "a logs the refusal with its reason" grep -q \
	'msg="stream refused" service=echo peer=c status=403 .*deny-web-echo' "$T/a.log"
grep 'msg="stream refused"' "$T/a.log" | tail -1 | sed 's/^/# /'
grep -q 'msg="inbound stream denied".*deny-web-echo' "$T/c.log" &&
	ok "c logs the denial" || fail "c does not log the denial"

out=$("$WEFT" intentions delete deny-web-echo "${OPS[@]}" --socket "$(sock a)" 2>&1) &&
	ok "$out" || fail "intentions delete: $out"
wait_for 10 "connections pass again once the deny is deleted" \
	client marker $A $UP "allowed again"
out=$("$WEFT" intentions delete deny-web-echo "${OPS[@]}" --socket "$(sock a)" 2>&1)
[ $? -eq 1 ] && ok "deleting it again is refused: $out" ||
	fail "second delete: $out"

# ---- mesh.default_intention deny: only what an intention allows ----
sed -i 's|"mesh": {"bind": "\([^"]*\)"}|"mesh": {"bind": "\1", "default_intention": "deny"}|' "$T/c.json"
grep -q '"default_intention": "deny"' "$T/c.json" || fail "c.json: default_intention not set"
"$WEFT" reload --socket "$(sock c)" >/dev/null || fail "reload c"
refused() { ! client marker $A $UP "$1" >/dev/null 2>&1; }
wait_for 10 "c's default deny refuses a (no intention matches)" refused "default deny"
grep -q 'msg="stream refused" service=echo peer=c status=403 reason="denied by default' \
	"$T/a.log" && ok "a logs the default denial" || fail "a does not log the default denial"
cat >"$T/allow.json" <<'JSON'
{"name": "allow-web-echo", "source": "web", "destination": "echo", "action": "allow"}
JSON
"$WEFT" intentions apply "$T/allow.json" "${OPS[@]}" --socket "$(sock c)" >/dev/null ||
	fail "apply allow-web-echo"
wait_for 10 "an allow intention opens echo to web under the default deny" \
	client marker $A $UP "allowed by intention"
"$WEFT" intentions delete allow-web-echo "${OPS[@]}" --socket "$(sock c)" >/dev/null ||
	fail "delete allow-web-echo"
wait_for 10 "deleting it closes echo again" refused "allow deleted"
sed -i 's|, "default_intention": "deny"||' "$T/c.json"
"$WEFT" reload --socket "$(sock c)" >/dev/null || fail "reload c"
wait_for 10 "default allow again after reload" client marker $A $UP "default allow"

# ---- no plaintext between agents ----
# tcpdump_up: listening, or exited (no capture rights): either ends the wait.
tcpdump_up() {
	grep -q listening "$T/tcpdump.err" || ! kill -0 "${PIDS[tcpdump]}" 2>/dev/null
}
capture_check() {
	local mesh app mesh_pkts
	mesh=$(tcpdump -r "$T/cap.pcap" -w - 'port 7371' 2>/dev/null | grep -c -a "$MARK")
	app=$(tcpdump -r "$T/cap.pcap" -w - "port $ECHO_C" 2>/dev/null | grep -c -a "$MARK")
	mesh_pkts=$(tcpdump -r "$T/cap.pcap" 'port 7371' 2>/dev/null | wc -l)
	if [ "$app" -gt 0 ]; then
		ok "the marker is in the capture of the app port ($app packets)"
	else
		fail "the marker is not in the app port capture: the check sees nothing"
	fi
	if [ "$mesh_pkts" -gt 0 ] && [ "$mesh" -eq 0 ]; then
		ok "no plaintext on the mesh port ($mesh_pkts packets, marker 0 times)"
	else
		fail "mesh port: $mesh_pkts packets, marker $mesh times"
	fi
}
if ! command -v tcpdump >/dev/null 2>&1; then
	echo "SKIP: no plaintext on the wire (tcpdump is not installed)"
else
	MARK="weft-plaintext-marker-$RANDOM$RANDOM"
	# --immediate-mode: without it, packets wait in the capture ring and
	# a short capture can end with none of them written.
	tcpdump -i lo --immediate-mode -U -s 0 -w "$T/cap.pcap" \
		"tcp and (port 7371 or port $ECHO_C)" 2>"$T/tcpdump.err" &
	PIDS[tcpdump]=$!
	wait_for 10 "tcpdump starts" tcpdump_up
	if ! kill -0 "${PIDS[tcpdump]}" 2>/dev/null; then
		echo "SKIP: no plaintext on the wire (tcpdump cannot capture:" \
			"$(tail -1 "$T/tcpdump.err"))"
		unset 'PIDS[tcpdump]'
	else
		out=$(client marker $A $UP "$MARK") || fail "marker echo: $out"
		sleep 0.5
		kill "${PIDS[tcpdump]}"
		wait "${PIDS[tcpdump]}" 2>/dev/null
		unset 'PIDS[tcpdump]'
		capture_check
	fi
fi

# ---- a node whose certificate does not list the service ----
# It cannot even start serving it (and a record claiming it is refused by
# gossip: tests/faults/a_gossip), so it never receives echo's traffic.
make_cert "$T/ca" d web
write_config d 127.0.0.77 $A "" "$(echo_service 17077)"
timeout 10 "$WEFTD" --config "$T/d.json" >"$T/d.log" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q 'does not allow service "echo"' "$T/d.log" &&
	ok "a node whose certificate lacks echo refuses to serve it: $(tail -1 "$T/d.log")" ||
	fail "d (certificate without echo) serving echo: exit $rc, $(tail -1 "$T/d.log")"
"$WEFT" services echo --socket "$(sock a)" | grep -q '^d ' &&
	fail "a lists d as an endpoint of echo" || ok "a does not list d for echo"

# ---- a peer whose certificate comes from another CA ----
# s has a certificate from the rogue CA.  It learns c's endpoint through
# bridge, a member that trusts both CAs, so it really dials c's mesh
# listener; c must refuse it at the handshake.
write_config bridge $BRIDGE $A "$T/both.crt"
write_config s $S $BRIDGE "$T/both.crt" "$(upstream $S)"
start bridge
start s
wait_sock bridge || finish
wait_sock s || finish
wait_for 20 "s (rogue CA) learns c's echo endpoint through bridge" has_endpoints s 1
# Each try must fail; s's first ones may find no endpoint yet (its
# tables follow gossip), so try until c has refused one at the handshake.
STRANGER_IN=""
stranger_refused_by_c() {
	local out
	out=$(client marker $S $UP "stranger" 2>&1 | tail -1) && {
		STRANGER_IN=$out
		return 0
	}
	grep -q 'msg="mesh connection closed" peer=? addr=127\.0\.0\.[0-9]*:[0-9]* reason=".*unknown CA' "$T/c.log"
}
wait_for 10 "c refuses s (another CA) at the handshake (c's log)" stranger_refused_by_c
[ -z "$STRANGER_IN" ] && ok "no connection of s got through" ||
	fail "a peer from another CA got through: $STRANGER_IN"
grep 'msg="mesh connection closed" peer=?' "$T/c.log" | tail -1 | sed 's/^/# /'
hs=$(api c GET /v1/metrics | grep '^weft_proxy_handshake_failures_total{direction="in"' | tr '\n' ' ')
[ -n "$hs" ] && ok "c counts the refused handshake by reason: $hs" ||
	fail "no handshake failure in c's metrics"
hs=$(api c GET /v1/metrics | grep '^weft_proxy_handshakes_total{direction="in"} [1-9]')
[ -n "$hs" ] && ok "c counts finished handshakes: $hs" ||
	fail "no finished handshake in c's metrics"

# ---- a revoked node ----
write_config r $R $A "" "$(upstream $R)"
start r
wait_sock r || finish
wait_for 20 "r knows c's echo endpoint" has_endpoints r 1
wait_for 5 "r reaches echo before its revocation" client marker $R $UP "before"
rid=$("$WEFT" cert inspect "$T/certs/r.crt" --json |
	sed -n 's/.*"key_id": *"\([0-9a-f]*\)".*/\1/p' | head -1)
"$WEFT" cert revoke --ca "$T/ca" --key-id "$rid" --reason test \
	--out "$T/r.revoked" >/dev/null || fail "cert revoke r"
# Applied at bridge: neither r's agent nor c's.
"$WEFT" revoke apply "$T/r.revoked" --socket "$(sock bridge)" >/dev/null ||
	fail "revoke apply at bridge"
t0=$SECONDS
r_refused() { ! client marker $R $UP "after revocation" >/dev/null 2>&1; }
wait_for 10 "r is refused after its revocation" r_refused
r_refused_for_good() {
	local i
	for i in 1 2 3; do r_refused || return 1; done
}
# r's pooled connection to c was authenticated before: c must close it,
# not wait for it to idle out.
wait_for 10 "c closes r's mesh connection on the revocation" grep -q \
	'msg="mesh connection closed" peer=r addr=[^ ]* reason="peer certificate revoked"' "$T/c.log"
r_refused_for_good && ok "r stays refused ($((SECONDS - t0))s after the revocation)" ||
	fail "r got through again after its revocation"
client marker $A $UP "a still passes" >/dev/null &&
	ok "a still reaches echo" || fail "a no longer reaches echo"
finish
