#!/usr/bin/env bash
# Hostile clients of weft's HTTP front end (an upstream with protocol http)
# and of the remote side, on a test bed of 3 hosts (namespaces, addresses
# 198.18.0.1-3 inside this bed only; apps and upstream ports on each
# namespace's own 127.0.0.1, ports 15501-15503 and 17501-17599).
#   h1: caller, default proxy limits; upstreams app, deny, l7 (http) on
#       127.0.0.1:15501-15503
#   h3: caller with raised front-end limits (max_head_bytes 256 KiB,
#       max_headers 1000), so an oversized head reaches the remote side
#   h2: serves app, deny and l7 (protocol http) from http_atk.py's apps,
#       which record every request that reaches them
# What must hold, each case while a well-behaved client keeps getting its
# 200s from h1 (a GET on a new connection every 100 ms, none failing, none
# slower than 3 s), with h1's open descriptors back to where they were
# afterwards and VmRSS bounded (not checked on an ASan build):
#   - request smuggling shapes (CL+TE, TE+CL, duplicate CL, TE
#     obfuscations, obs-fold, bare LF/CR, NUL, space before colon, chunk
#     sizes of 2^64, negative or garbage, absolute-form, CONNECT, the
#     HTTP/2 preface, HTTP/0.9 ...): each answered 4xx/5xx (the status is
#     printed), the connection closed, nothing reaching the app (it counts
#     every /atk request), each refusal counted in
#     weft_http_bad_requests_total; a chunk-extension flood cut off.
#     Absolute-form, OPTIONS * and HTTP/1.2, which RFC 9112 has a server
#     accept, must be answered by the upstream's own service only;
#   - slowloris: 1,000 connections trickling one header byte a second for
#     20 s, and 100 slow body senders for 25 s: cut off by the head and
#     body timeouts (408), others served throughout; 1,030 (over
#     max_connections) for 8 s: what the well-behaved client gets;
#   - header floods: 100 fields of 16 KiB and 10,000 tiny fields: 431;
#   - 10,000 pipelined GETs (4 KiB answers) not read: VmRSS bounded
#     (back-pressure), then all answered in order;
#   - 2,000 connections at once, each a GET (answered 200, or 503 over the
#     circuit's max_connections), and 2,000 opened and closed at once; the
#     well-behaved client may get the circuit's 503 while it is full, and
#     200s again right after;
#   - leaks: after the slowloris rounds, two more rounds of 1,000 held
#     connections do not raise h1's VmRSS;
#   - the remote side through a real peer agent: a service an intention
#     denies (403 with the reason, counted and logged by h2), a path an L7
#     rule denies (403), a spoofed weft-service field (never reaches the
#     app, never reroutes), an oversized head from h3 (431; a real caller
#     refuses a block over the mesh limits itself, so the remote side's own
#     431 is covered by tests/proxy/test_mesh_http's bare nghttp2 caller);
#   - an app answering responses that read two ways (CL+TE, two CL,
#     garbage ...) followed by a smuggled second response: 502 to the
#     caller, the next response on the same keep-alive connection is its
#     own, the app connection is never reused.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
ATK=$HERE/http_atk.py
N=3
bed_up $N
X=$S/x
mkdir -p "$X"
chmod 755 "$X"
APPPID=
my_cleanup() {
	[ -n "$APPPID" ] && kill "$APPPID" 2>/dev/null
	rm -f "$X/stop"
	cleanup
}
trap my_cleanup EXIT

# ---- configuration: h2 serves, h1 and h3 call ----
"$WEFT" cert issue --ca "$S/ca" --name h2 --services app,deny,l7 --valid 1d \
	--out "$X" >/dev/null || { fail "cert issue h2"; finish; }
"$WEFT" cert issue --ca "$S/ca" --name ops --groups operator --valid 1d \
	--out "$X" >/dev/null || { fail "cert issue ops"; finish; }
reconf() { # K JSON-MEMBERS: add to host K's config
	python3 - "$S/h$1.json" "$2" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(json.loads("{" + sys.argv[2] + "}"))
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
}
UPS='"upstreams": [
 {"service": "app", "local_bind": "127.0.0.1:15501", "protocol": "http"},
 {"service": "deny", "local_bind": "127.0.0.1:15502", "protocol": "http"},
 {"service": "l7", "local_bind": "127.0.0.1:15503", "protocol": "http"}]'
reconf 1 "$UPS"
reconf 3 "$UPS, \"proxy\": {\"max_head_bytes\": 262144, \"max_headers\": 1000}"
reconf 2 '"identity": {"key": "'"$X/h2.key"'", "cert": "'"$X/h2.crt"'", "ca": "'"$S/ca/ca.crt"'"},
 "services": [{"name": "app", "port": 17501, "protocol": "http"},
  {"name": "deny", "port": 17502, "protocol": "http"},
  {"name": "l7", "port": 17503, "protocol": "http"}]'
tb exec 2 python3 "$ATK" app 900 17599 app:17501 deny:17502 l7:17503 \
	>"$X/app.out" 2>&1 &
for k in 1 2 3; do tb restart "$k" >/dev/null || fail "restart h$k"; done
tb wait-alive 60 >/dev/null || { fail "the bed did not converge after the restarts"; finish; }
wait_for 10 "the apps listen in h2" grep -q ready "$X/app.out"
APPPID=$(awk '/^ready/ {print $2}' "$X/app.out")

OPS=(--signer-key "$X/ops.key" --signer-cert "$X/ops.crt")
cat >"$X/intentions.json" <<'JSON'
[{"name": "atk-deny", "source": "*", "destination": "deny", "action": "deny"},
 {"name": "atk-l7", "source": "*", "destination": "l7", "action": "allow",
  "http": [{"path_prefix": "/public/", "methods": ["GET"]}]}]
JSON
out=$("$WEFT" intentions apply "$X/intentions.json" "${OPS[@]}" --socket "$(sock 2)" 2>&1) ||
	fail "intentions apply: $out"

on1() { tb exec 1 python3 "$ATK" "$@"; }
on3() { tb exec 3 python3 "$ATK" "$@"; }
appstats() { tb exec 2 python3 "$ATK" stats 17599; }
jq1() { python3 -c 'import json,sys; d=json.loads(sys.argv[1])
for k in sys.argv[2:]: d = d[k] if not k.isdigit() or isinstance(d, dict) else d[int(k)]
print(d)' "$@"; }
served() { [ "$(on1 get 127.0.0.1 15501 /ok/ready | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = 200 ]; }
wait_for 30 "h1 reaches the app behind h2 over HTTP" served || finish
objs_in() { local o; o=$(api 2 GET /v1/objects); grep -q atk-deny <<<"$o" && grep -q atk-l7 <<<"$o"; }
wait_for 20 "h2 holds both intentions" objs_in
served3() { on3 get 127.0.0.1 15501 /ok/r3 | grep -q '"status": 200'; }
wait_for 20 "h3 reaches the app" served3

PID=$(tb pid 1)
fds() { ls "/proc/$PID/fd" | wc -l; }
bad_requests() { metric 1 weft_http_bad_requests_total | cut -d. -f1; }
# A warm-up, then the baseline.
for i in $(seq 1 50); do on1 get 127.0.0.1 15501 /ok/warm >/dev/null; done
sleep 1
RSS0=$(rss_kb "$PID"); FD0=$(fds)
echo "# baseline of h1's weftd: VmRSS $RSS0 KiB, $FD0 fds"
FIG=()
RSS_FOUND=

# watch_start / watch_stop CASE: the well-behaved client around a case.
watch_start() {
	rm -f "$X/stop"
	tb exec 1 python3 "$ATK" watch 127.0.0.1 15501 "$X/stop" 300 >"$X/watch.out" 2>&1 &
	WATCH=$!
	sleep 0.5
}
watch_stop() { # CASE [503]: with 503, the circuit's own 503s are allowed
	touch "$X/stop"
	wait "$WATCH"
	local w n okn mx n5 run
	w=$(cat "$X/watch.out")
	n=$(jq1 "$w" n 2>/dev/null || echo 0); okn=$(jq1 "$w" ok 2>/dev/null || echo 0)
	mx=$(jq1 "$w" max_ms 2>/dev/null || echo 0); n5=$(jq1 "$w" n503 2>/dev/null || echo 0)
	run=$(jq1 "$w" last_ok_run 2>/dev/null || echo 0)
	if [ "$n" -gt 0 ] && [ "$n" = "$okn" ] && python3 -c "import sys; sys.exit(0 if $mx <= 3000 else 1)"; then
		ok "$1: the well-behaved client got $okn of $n answers (p50 $(jq1 "$w" p50_ms) ms, max $mx ms)"
	elif [ "${2:-}" = 503 ] && [ "$n" -gt 0 ] && [ $((okn + n5)) = "$n" ] && [ "$run" -ge 3 ]; then
		ok "$1: the well-behaved client got $okn of $n answers and $n5 of the circuit's 503s while it was full, then 200s again (max $mx ms)"
	else
		fail "$1: the well-behaved client: $w"
	fi
	FIG+=("$1: well-behaved client $okn/$n (503: $n5), p50 $(jq1 "$w" p50_ms 2>/dev/null) ms, max $mx ms")
	WATCH_503=$n5
}
# bounded CASE: h1's descriptors back to the baseline, VmRSS figure.
bounded() {
	fds_back() { [ "$(fds)" -le $((FD0 + 2)) ]; }
	wait_for 20 "$1: h1's open descriptors back to at most $((FD0 + 2)) (baseline $FD0)" fds_back
	local r
	r=$(rss_kb "$PID")
	FIG+=("$1: VmRSS after $r KiB (baseline $RSS0)")
	[ "$ASAN_WEFTD" != 1 ] && [ $((r - RSS0)) -gt 8192 ] && [ -z "$RSS_FOUND" ] && {
		echo "FINDING: $1: VmRSS stays at $r KiB once the connections are gone (baseline $RSS0 KiB): freed memory is not returned (no growth per repeated round: see the leak rounds after the slowloris cases)"
		RSS_FOUND=1
	}
	echo "# $1: VmRSS $r KiB (baseline $RSS0), fds $(fds)"
	kill -0 "$PID" || { fail "$1: h1's weftd died"; finish; }
}

# ==== request smuggling shapes ====
watch_start
B0=$(bad_requests)
on1 smuggle 127.0.0.1 15501 >"$X/smuggle.out" 2>&1
nshapes=0 nrefused=0
while IFS= read -r l; do
	nshapes=$((nshapes + 1))
	name=$(jq1 "$l" name); st=$(jq1 "$l" status); cl=$(jq1 "$l" closed)
	ms=$(jq1 "$l" ms); nr=$(jq1 "$l" responses); sm=$(jq1 "$l" smuggled)
	refused=0
	[ "$st" -ge 400 ] && [ "$cl" = True ] && [ "$nr" -le 1 ] && [ "$sm" = False ] && refused=1
	case $name in
	absolute-form*|"asterisk-form OPTIONS"|HTTP/1.2)
		# RFC 9112 3.2.2 / 2.3: a server accepts these.  What matters is
		# that the upstream's own service answers, never another host.
		body=$(jq1 "$l" body)
		if [ "$refused" = 1 ]; then
			nrefused=$((nrefused + 1))
			ok "smuggling: $name: refused $st"
		elif [ "$st" = 200 ] && [[ $body == "ok app "* ]] && [ "$nr" -le 1 ]; then
			ok "smuggling: $name: 200 from the upstream's own service ($body), nothing else answered"
		else
			fail "smuggling: $name: $l"
		fi ;;
	"chunk without CRLF after data")
		if [ "$refused" = 1 ]; then
			nrefused=$((nrefused + 1))
			ok "smuggling: $name: $st, closed after $ms ms"
		else
			# Was a finding: http-parser skips the two bytes unread
			# without HTTP_PARSER_STRICT; proxy/h1.c checks them now.
			fail "smuggling: $name: accepted ($st): the CRLF after chunk data must be checked: $l"
		fi ;;
	"chunk extension flood"*)
		took=$(jq1 "$l" ext_bytes_taken)
		if [ "$st" -ge 400 ] && [ "$cl" = True ] && [ "$took" -lt 8388608 ]; then
			nrefused=$((nrefused + 1))
			ok "smuggling: $name: $st after $took bytes, closed"
		elif [ "$took" -ge 8388608 ]; then
			echo "FINDING: a chunk line of 8 MiB of extensions was read whole (answer $st): chunk extensions have no length bound (cf. CVE-2024-22019)"
		else
			fail "smuggling: $name: $l"
		fi ;;
	*)
		if [ "$refused" = 1 ]; then
			nrefused=$((nrefused + 1))
			ok "smuggling: $name: $st, closed after $ms ms"
		else
			fail "smuggling: $name: $l"
		fi ;;
	esac
	FIG+=("smuggling $name: $st (closed $cl, $ms ms)")
done <"$X/smuggle.out"
[ "$nshapes" -ge 39 ] || fail "smuggle: only $nshapes results: $(tail -3 "$X/smuggle.out")"
watch_stop "smuggling"
st=$(appstats)
natk=$(jq1 "$st" app atk)
[ "$natk" = 0 ] && ok "smuggling: no attack request reached the app ($(jq1 "$st" app requests) requests, all the well-behaved client's)" ||
	fail "smuggling: $natk attack requests reached the app: $(jq1 "$st" app atk_seen)"
B1=$(bad_requests)
[ $((B1 - B0)) -eq "$nrefused" ] &&
	ok "smuggling: weft_http_bad_requests_total rose by $((B1 - B0)) for the $nrefused refused shapes" ||
	fail "smuggling: weft_http_bad_requests_total rose by $((B1 - B0)) for $nrefused refused shapes"
if grep -qi 'bad request\|refused.*request\|reason=' "$S/h1.log" &&
	grep -i 'Content-Length' "$S/h1.log" | grep -qi 'transfer-encoding\|both'; then
	ok "smuggling: refusals logged with their reason"
else
	echo "FINDING: the front end's refusals are counted (weft_http_bad_requests_total, one total, no reason label) but not logged with their reason"
fi
bounded "smuggling"

# ==== header floods ====
watch_start
for kind in big many; do
	l=$(on1 flood 127.0.0.1 15501 $kind)
	st=$(jq1 "$l" status); cl=$(jq1 "$l" closed); ms=$(jq1 "$l" ms)
	[ "$st" = 431 ] && [ "$cl" = True ] &&
		ok "header flood ($kind, $(jq1 "$l" bytes) bytes): 431, closed after $ms ms" ||
		fail "header flood ($kind): $l"
	FIG+=("header flood $kind: $st after $ms ms")
done
watch_stop "header floods"
bounded "header floods"

# ==== pipelining flood ====
watch_start
l=$(on1 pipeline 127.0.0.1 15501 10000 4096 "$PID")
watch_stop "pipelining"
echo "# pipelining: $l"
FIG+=("pipelining 10,000 GETs of 4 KiB answers: $l")
[ "$(jq1 "$l" answered_200)" = 10000 ] && ok "pipelining: 10,000 answered 200 once read" ||
	fail "pipelining: $l"
grow=$(( $(jq1 "$l" rss_kb_peak) - $(jq1 "$l" rss_kb_before) ))
if [ "$ASAN_WEFTD" = 1 ]; then
	echo "note: ASan build: VmRSS not checked"
elif [ "$grow" -le 8192 ]; then
	ok "pipelining: VmRSS grew by at most $grow KiB while the answers were not read (back-pressure; $(jq1 "$l" sent_before_reading) requests taken in 8 s)"
else
	fail "pipelining: VmRSS grew by $grow KiB while the answers were not read"
fi
bounded "pipelining"

# ==== the remote side ====
watch_start
D0=$(metric 2 weft_proxy_denied_total | cut -d. -f1)
l=$(on1 get 127.0.0.1 15502 /atk-denied)
st=$(jq1 "$l" status); body=$(jq1 "$l" body)
[ "$st" = 403 ] && grep -q 'atk-deny' <<<"$body" && grep -qi 'x-weft-agent' <<<"$(jq1 "$l" head)" &&
	ok "a service an intention denies: 403 ($(tr -d '\r\n' <<<"$body"))" ||
	fail "denied service: $l"
D1=$(metric 2 weft_proxy_denied_total | cut -d. -f1)
[ "$D1" -gt "$D0" ] && ok "the denial is counted on h2 (weft_proxy_denied_total $D0 -> $D1)" ||
	fail "denial not counted on h2: weft_proxy_denied_total $D0 -> $D1"
grep -q 'denied' "$S/h2.log" && ok "h2 logs the denial: $(grep 'denied' "$S/h2.log" | tail -1 | cut -c1-200)" ||
	fail "h2 does not log the denial"
l=$(on1 get 127.0.0.1 15503 /public/x)
[ "$(jq1 "$l" status)" = 200 ] && ok "control: GET /public/x, which the L7 rule allows, is served" ||
	fail "L7 allowed path: $l"
l=$(on1 get 127.0.0.1 15503 /atk-private)
[ "$(jq1 "$l" status)" = 403 ] && ok "a path the L7 rule denies: 403 ($(jq1 "$l" body | tr -d '\r\n'))" ||
	fail "L7 denied path: $l"
l=$(on1 get 127.0.0.1 15501 /hdrs "weft-service: deny" "Weft-Service: l7")
st=$(jq1 "$l" status); body=$(jq1 "$l" body)
[ "$st" = 200 ] && ! grep -qi '^weft-' <<<"$body" &&
	ok "a spoofed weft-service field: served by app as addressed, the field never reaches the app" ||
	fail "spoofed weft-service: $l"
for kind in remote-fields remote-fields-tp remote-bytes; do
	l=$(on3 flood 127.0.0.1 15501 $kind)
	st=$(jq1 "$l" status)
	if [ "$st" = 431 ]; then
		ok "an oversized head through a peer ($kind, $(jq1 "$l" bytes) bytes): 431 ($(jq1 "$l" body | tr -d '\r\n' | cut -c1-120))"
	elif [[ $kind == remote-fields* ]] && [ "$st" = 502 ]; then
		echo "FINDING: a request of 150 fields ($kind), which h3's front end takes (max_headers 1000), is answered 502 '$(jq1 "$l" body | tr -d '\r\n')' instead of 431: mesh_request_open's 128-field limit is reported as a broken mesh connection (agent/http_call.c)"
	else
		fail "oversized head through a peer ($kind): $l"
	fi
	FIG+=("oversized head via peer $kind: $st")
done
st=$(appstats)
[ "$(jq1 "$st" app atk)" = 0 ] && [ "$(jq1 "$st" deny requests)" = 0 ] &&
	[ "$(jq1 "$st" l7 atk)" = 0 ] && [ "$(jq1 "$st" app weft_fields)" = 0 ] &&
	ok "the remote side: nothing denied or oversized reached an app, no weft-* field reached one" ||
	fail "the remote side let something through: $st"

# ==== response smuggling from the app behind h2 ====
on1 respsmuggle 127.0.0.1 15501 >"$X/resp.out" 2>&1
n=0
while IFS= read -r l; do
	n=$((n + 1))
	sh=$(jq1 "$l" shape); st=$(jq1 "$l" status)
	if [ "$st" = 502 ] && [ "$(jq1 "$l" leak)" = False ] && [ "$(jq1 "$l" next_own)" = True ]; then
		ok "app response $sh: 502 ($(jq1 "$l" why | tr -d '\r\n' | cut -c1-100)), the next answer on the connection its own$([ "$(jq1 "$l" reconnected)" = True ] && echo ' (after the agent closed it)')"
	else
		fail "app response $sh: $l"
	fi
done <"$X/resp.out"
[ "$n" -eq 7 ] || fail "response smuggling: $n results of 7: $(cat "$X/resp.out")"
st=$(appstats)
[ "$(jq1 "$st" app reused_after_bad)" = 0 ] &&
	ok "h2 never reused an app connection that answered badly" ||
	fail "h2 reused an app connection after a bad answer $(jq1 "$st" app reused_after_bad) times"
watch_stop "remote side"
bounded "remote side"

# ==== slowloris: 1,000 connections, a header byte a second, 20 s ====
RSS_PRE=$(rss_kb "$PID")
watch_start
on1 slow 127.0.0.1 15501 1000 20 head >"$X/slow.out" 2>&1 &
SLOW=$!
sleep 10
RSS_SLOW=$(rss_kb "$PID"); FD_SLOW=$(fds)
wait "$SLOW"
watch_stop "slowloris"
l=$(cat "$X/slow.out")
echo "# slowloris: $l"
FIG+=("slowloris 1,000 x 1 B/s: VmRSS $RSS_SLOW KiB and $FD_SLOW fds at 10 s; $l")
[ "$(jq1 "$l" opened)" = 1000 ] || fail "slowloris: only $(jq1 "$l" opened) of 1000 connections opened"
closed=$(jq1 "$l" closed_by_agent)
if [ "$closed" -ge 1000 ]; then
	ok "slowloris: all 1000 cut off by the agent, the first after $(jq1 "$l" first_close_s) s, the last after $(jq1 "$l" last_close_s) s"
else
	# Was a finding: no header-read timeout; proxy.head_timeout now.
	fail "slowloris: $closed of 1000 connections trickling one header byte a second cut off within 20 s (h1 held them at VmRSS $RSS_SLOW KiB from $RSS_PRE, $FD_SLOW fds)"
fi
bounded "slowloris"
# Over the circuit's max_connections (1,024 by default) the same trickle
# shuts the well-behaved client out for as long as it lasts.
watch_start
on1 slow 127.0.0.1 15501 1030 8 head >"$X/slow2.out" 2>&1
sleep 1.5 # served again once the trickle ends
watch_stop "slowloris over max_connections" 503
echo "# 1,030 trickling: $(cat "$X/slow2.out")"
[ "${WATCH_503:-0}" -gt 0 ] &&
	echo "FINDING: 1,030 trickling connections (over max_connections 1,024) made the upstream answer the well-behaved client 503 $WATCH_503 times in 8 s: one client can hold the circuit full, for as long as it opens a new connection per slot every proxy.head_timeout (10 s): there is no limit per client address"
bounded "slowloris over max_connections"
# Leaks: the rounds above set the allocator's high-water mark for 1,030
# held connections; two more rounds of 1,000 held 3 s each must not raise
# VmRSS (a leak of half a KiB a connection would show).
RSS_L0=$(rss_kb "$PID")
for r in 1 2; do on1 slow 127.0.0.1 15501 1000 3 head >/dev/null 2>&1; done
sleep 1
RSS_L2=$(rss_kb "$PID")
FIG+=("two more rounds of 1,000 held connections: VmRSS $RSS_L0 -> $RSS_L2 KiB")
if [ "$ASAN_WEFTD" != 1 ]; then
	[ $((RSS_L2 - RSS_L0)) -le 1024 ] &&
		ok "two more rounds of 1,000 held connections: VmRSS $RSS_L0 -> $RSS_L2 KiB (no growth per round)" ||
		fail "two more rounds of 1,000 held connections: VmRSS $RSS_L0 -> $RSS_L2 KiB"
fi

# ==== slow body senders: 100, a body byte a second, 25 s ====
# The default proxy.body_timeout (20 s, plus 1 s per body_min_rate = 500
# bytes) cuts each off with 408 about 20 s after its head.
watch_start
on1 slow 127.0.0.1 15501 100 25 body >"$X/slowbody.out" 2>&1
watch_stop "slow bodies"
l=$(cat "$X/slowbody.out")
echo "# slow body senders: $l"
closed=$(jq1 "$l" closed_by_agent)
if [ "$closed" -ge 100 ] && [ "$(jq1 "$l" answers 408)" = 100 ]; then
	ok "slow bodies: all 100 cut off with 408, the first after $(jq1 "$l" first_close_s) s, the last after $(jq1 "$l" last_close_s) s"
else
	# Was a finding: only the 5 min idle timeout, reset by every byte.
	fail "slow bodies: $closed of 100 connections sending a body byte a second cut off within 25 s: $l"
fi
FIG+=("slow bodies 100 x 1 B/s: $l")
bounded "slow bodies"

# ==== 2,000 connections at once ====
watch_start
l=$(on1 conns 127.0.0.1 15501 2000 get "$PID")
echo "# 2,000 GETs at once: $l"
ans=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["answers"].get("200",0), d["answers"].get("503",0), d["reset"], d["noanswer"], d["refused"])' "$l")
set -- $ans
[ $(($1 + $2)) -eq 2000 ] && [ "$1" -ge 1000 ] &&
	ok "2,000 GETs at once: $1 answered 200, $2 503 (circuit), none lost" ||
	fail "2,000 GETs at once: 200: $1, 503: $2, reset $3, no answer $4, refused $5"
FIG+=("2,000 GETs at once: 200 $1, 503 $2, reset $3, no answer $4, VmRSS peak $(jq1 "$l" rss_kb_peak) KiB, $(jq1 "$l" s) s")
l=$(on1 conns 127.0.0.1 15501 2000 close "$PID")
[ "$(jq1 "$l" connected)" = 2000 ] && ok "2,000 connections opened and closed at once (half with RST)" ||
	fail "2,000 opened and closed: $l"
RSS_C1=$(rss_kb "$PID")
on1 conns 127.0.0.1 15501 2000 get "$PID" >/dev/null
on1 conns 127.0.0.1 15501 2000 close "$PID" >/dev/null
RSS_C2=$(rss_kb "$PID")
# How many are held at once varies from round to round, and so does the
# allocator's high-water mark: a figure, not a check (the slowloris rounds
# above check for leaks with a fixed number held).
FIG+=("2,000 connections, a second round of 4,000: VmRSS $RSS_C1 -> $RSS_C2 KiB")
sleep 1.5 # served again once the burst ends
watch_stop "2,000 connections" 503
bounded "2,000 connections"

kill -0 "$PID" && ok "h1's weftd still runs" || fail "h1's weftd died"
if grep -q 'runtime error\|Sanitizer' "$S"/h*.log; then
	fail "sanitizer reports: $(grep -h 'runtime error\|Sanitizer' "$S"/h*.log | head -3)"
elif [ "$ASAN_WEFTD" = 1 ]; then
	ok "no sanitizer report in any agent's log"
fi
tb wait-alive 10 >/dev/null && ok "the cluster is whole after the attacks" || fail "cluster not whole"
printf 'figure: %s\n' "${FIG[@]}"
finish
