#!/usr/bin/env bash
# HTTP, HTTP/2 and gRPC through the mesh between real agents on
# 127.0.0.180-189 (issue 7): a and d are callers, b and c serve.
#   - curl (HTTP/1.1) and nghttp (h2c) to an HTTP/1.1 app and to an h2c app
#     (nghttpd), bodies both ways, chunked, trailers
#   - gRPC unary, server-streaming and an error status, trailers intact; a
#     route on the gRPC method
#   - a WebSocket upgrade round trip, pipelining in order, 100-continue
#   - routes applied at b take effect at a and d: a 90/10 split over 2,000
#     requests within 5 sigma, header and path matches pick their subset,
#     an update reaches every caller; an L7 intention (GET under /public/)
#   - a 503-every-other-time endpoint masked by retries, a hanging one cut
#     with 504 at the route's timeout, an endpoint killed under load (only
#     in-flight requests may fail), outlier ejection logged and undone, an
#     answer the app cuts short reaching the client cut, a circuit limit
#   - each ambiguous or malformed request answered 400 (431 for a too big
#     head) and closed, while the agent keeps serving
#   - weft's own answers name the agent (x-weft-agent)
# Usage: WEFT=... WEFTD=... t_http.sh   (or: t_http.sh BUILD_DIR)
if [ $# -ge 1 ] && [ -d "$1" ]; then
	export WEFT=${WEFT:-$1/tools/weft} WEFTD=${WEFTD:-$1/agent/weftd}
fi
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
# Debian's python3 has python3-grpcio; a python3 earlier on PATH may not.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

A=127.0.0.180 B=127.0.0.181 C=127.0.0.182 D=127.0.0.183
# a's upstream ports (on A): front protocol -> service
UP_WEB=15180    # http  -> web (HTTP/1.1 apps v1 on b, v2 on c)
UP_H2APP=15181  # http  -> h2web (nghttpd, h2c, on b)
UP_GRPC=15182   # grpc  -> grpc (grpc_app.py v1 on b, v2 on c)
UP_WEB2=15183   # http2 -> web
UP_H2H2=15184   # http2 -> h2web
UP_POOL=15185   # http  -> pool (HTTP/1.1 apps on b and c)
UP_NONE=15186   # http  -> nosvc (no endpoint anywhere)
UP_TIGHT=15187  # http  -> web, at most 2 requests in flight
# The apps, on 127.0.0.1
APP_V1=17181 APP_V2=17182 APP_H2=17183 APP_GRPC=17184 APP_POOL_B=17185
APP_POOL_C=17186 APP_GRPC_C=17188

# nghttpd lives in /usr/sbin, which a user's PATH may lack.
NGHTTPD=$(command -v nghttpd || echo /usr/sbin/nghttpd)
for tool in curl nghttp "$NGHTTPD"; do
	command -v "$tool" >/dev/null || { fail "$tool is not installed (curl, nghttp2-client, nghttp2-server)"; finish; }
done
$PY -c 'import grpc' 2>/dev/null || { fail "python3-grpcio is not installed"; finish; }

up() { # SERVICE IP PORT PROTOCOL
	echo "{\"service\": \"$1\", \"local_bind\": \"$2:$3\", \"protocol\": \"$4\"}"
}

make_ca "$T/ca" it-root
make_cert "$T/ca" a web
make_cert "$T/ca" b web,h2web,grpc,pool
make_cert "$T/ca" c web,pool,grpc
make_cert "$T/ca" d web
"$WEFT" cert issue --ca "$T/ca" --name ops --groups operator --valid 30d \
	--out "$T/certs" >/dev/null || { fail "cert issue ops"; exit 1; }
OPS=(--signer-key "$T/certs/ops.key" --signer-cert "$T/certs/ops.crt")

# Outlier detection fast enough to be seen and undone in seconds.
PROXY=', "proxy": {"outlier": {"consecutive_errors": 5, "base_ejection": "2s"}}'
write_config a $A "" "" ", \"upstreams\": [
  $(up web $A $UP_WEB http), $(up h2web $A $UP_H2APP http),
  $(up grpc $A $UP_GRPC grpc), $(up web $A $UP_WEB2 http2),
  $(up h2web $A $UP_H2H2 http2), $(up pool $A $UP_POOL http),
  $(up nosvc $A $UP_NONE http),
  {\"service\": \"web\", \"local_bind\": \"$A:$UP_TIGHT\", \"protocol\": \"http\",
   \"max_requests\": 2}] $PROXY"
write_config d $D $A "" ", \"upstreams\": [$(up web $D $UP_WEB http)] $PROXY"
write_config b $B $A "" ', "services": [
  {"name": "web", "port": '$APP_V1', "protocol": "http", "labels": {"version": "v1"}},
  {"name": "h2web", "port": '$APP_H2', "protocol": "http2"},
  {"name": "grpc", "port": '$APP_GRPC', "protocol": "grpc", "labels": {"version": "v1"}},
  {"name": "pool", "port": '$APP_POOL_B', "protocol": "http"}]'
write_config c $C $A "" ', "services": [
  {"name": "web", "port": '$APP_V2', "protocol": "http", "labels": {"version": "v2"}},
  {"name": "pool", "port": '$APP_POOL_C', "protocol": "http"},
  {"name": "grpc", "port": '$APP_GRPC_C', "protocol": "grpc", "labels": {"version": "v2"}}]'

# ---- the apps ----
app() { # NAME PORT VERSION: an http_app.py on 127.0.0.1:PORT
	python3 "$HERE/http_app.py" 127.0.0.1 "$2" "$1" "$3" >"$T/$1.out" 2>&1 &
	PIDS[$1]=$!
	wait_for 10 "app $1 on port $2" grep -q ready "$T/$1.out"
}
app web-v1 $APP_V1 v1
app web-v2 $APP_V2 v2
app pool-b $APP_POOL_B p
app pool-c $APP_POOL_C p
mkdir -p "$T/htdocs"
echo "h2web served by nghttpd" >"$T/htdocs/index.html"
"$NGHTTPD" -a 127.0.0.1 --no-tls -d "$T/htdocs" --echo-upload \
	--trailer 'x-h2-trailer: from-nghttpd' $APP_H2 >"$T/nghttpd.log" 2>&1 &
PIDS[nghttpd]=$!
$PY "$HERE/grpc_app.py" serve 127.0.0.1 $APP_GRPC b-grpc >"$T/grpc.out" 2>&1 &
PIDS[grpc]=$!
wait_for 10 "gRPC app on b" grep -q ready "$T/grpc.out"
$PY "$HERE/grpc_app.py" serve 127.0.0.1 $APP_GRPC_C c-grpc >"$T/grpc-c.out" 2>&1 &
PIDS[grpc-c]=$!
wait_for 10 "gRPC app on c" grep -q ready "$T/grpc-c.out"
wait_for 10 "nghttpd" curl -s --http2-prior-knowledge -o /dev/null http://127.0.0.1:$APP_H2/

# ---- the agents ----
for n in a b c d; do start $n; done
for n in a b c d; do wait_sock $n || finish; done
endpoints() { # NAME SERVICE: alive endpoints of SERVICE NAME knows
	"$WEFT" services "$2" --json --socket "$(sock "$1")" 2>/dev/null |
		grep -o '"status": *"alive"' | wc -l
}
has() { [ "$(endpoints "$1" "$2")" -ge "$3" ]; }
wait_for 20 "a knows both web endpoints" has a web 2
wait_for 20 "a knows both pool endpoints" has a pool 2
wait_for 20 "a knows h2web's endpoint" has a h2web 1
wait_for 20 "a knows both grpc endpoints" has a grpc 2
wait_for 20 "d knows both web endpoints" has d web 2

load() { # HOST PORT N CONC PATH [NAME:VALUE...]: JSON tallies
	timeout 180 python3 "$HERE/http_client.py" load "$@"
}
# jn JSON KEY... : the number at that path of a tally (0 when absent),
# e.g. jn "$j" status 200, jn "$j" late name pool-b
jn() {
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
for k in sys.argv[2:]:
    d = d.get(k, {}) if isinstance(d, dict) else {}
print(d if isinstance(d, int) else 0)' "$@" 2>/dev/null || echo 0
}

# metric NAME SERIES: a sample of NAME's /v1/metrics (0 when absent),
# e.g. metric b 'weft_http_requests_total{direction="in"}'
metric() {
	api "$1" GET /v1/metrics | awk -v s="$2" '$1 == s {print $2; f = 1} END {if (!f) print 0}' |
		head -1 | cut -d. -f1
}
# http_in NAME: HTTP requests NAME's agent took from peers (not CONNECT
# streams): proof that a request crossed the mesh as HTTP.
http_in() { metric "$1" 'weft_http_requests_total{direction="in"}'; }

# ==== HTTP/1.1 and h2c, both ways round ====
c_ok() { # URL PATTERN [curl args]: 200 with PATTERN in the body
	local url=$1 pat=$2
	shift 2
	local out
	out=$(curl -s -m 10 -w '\n%{http_code}' "$@" "$url") || return 1
	[ "$(tail -1 <<<"$out")" = 200 ] && grep -q -- "$pat" <<<"$out"
}
wait_for 10 "curl HTTP/1.1 -> HTTP/1.1 app through the mesh" \
	c_ok "http://$A:$UP_WEB/hello?x=1" "name=web-v[12] version=v[12] method=GET path=/hello?x=1"
# ==== without a route: every endpoint ====
# Rounds of 100 until each endpoint has served 10 (at most 15 s): the
# latency-aware balancer may rightly shun an endpoint for a while after
# one slow answer (a sanitizer build has some), but never for good.
V1=0 V2=0 NON200=0
spread() {
	local j
	j=$(load $A $UP_WEB 100 4 /spread)
	V1=$((V1 + $(jn "$j" version v1))) V2=$((V2 + $(jn "$j" version v2)))
	NON200=$((NON200 + 100 - $(jn "$j" status 200)))
	[ "$V1" -ge 10 ] && [ "$V2" -ge 10 ]
}
wait_for 15 "without a route, requests reach both web endpoints" spread
[ "$NON200" -eq 0 ] && echo "# v1 $V1, v2 $V2, all 200" || fail "without a route: $NON200 answers not 200 (v1 $V1, v2 $V2)"

head -c $((1 << 20)) /dev/urandom >"$T/body.bin"
want=$(sha256sum "$T/body.bin" | cut -d' ' -f1)
got=$(curl -s -m 20 --data-binary @"$T/body.bin" "http://$A:$UP_WEB/echo" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] && ok "1 MiB POST body to the HTTP/1.1 app and back, SHA-256 matches" ||
	fail "1 MiB POST echo through the mesh: sha256 $got, want $want"
got=$(curl -s -m 20 -H 'Transfer-Encoding: chunked' --data-binary @"$T/body.bin" \
	"http://$A:$UP_WEB/echo" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] && ok "1 MiB chunked upload echoed intact" ||
	fail "chunked upload through the mesh: sha256 $got, want $want"
out=$(curl -s -m 10 -D "$T/chunked.h" "http://$A:$UP_WEB/chunked")
[ "$(grep -c '^chunk [0-4] of web-v' <<<"$out")" -eq 5 ] &&
	ok "a chunked answer arrives whole" || fail "chunked answer: $out"
grep -qi '^x-app-trailer: done' "$T/chunked.h" &&
	echo "# the app's HTTP/1.1 trailer reached curl" ||
	echo "# (the app's HTTP/1.1 trailer did not reach curl; curl sent no TE: trailers)"

c_ok "http://$A:$UP_H2APP/index.html" "h2web served by nghttpd" &&
	ok "curl HTTP/1.1 -> h2c app (nghttpd) through the mesh" ||
	fail "curl HTTP/1.1 -> h2c app: $(curl -s -m 5 -i "http://$A:$UP_H2APP/index.html" | head -3)"
got=$(curl -s -m 20 --data-binary @"$T/body.bin" "http://$A:$UP_H2APP/up" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] && ok "1 MiB POST to the h2c app and back, SHA-256 matches" ||
	fail "1 MiB POST to the h2c app: sha256 $got, want $want"

nghttp -v -t 10 "http://$A:$UP_WEB2/hello-h2" >"$T/ng1.out" 2>&1
grep -q ':status: 200' "$T/ng1.out" && grep -q 'name=web-v[12] .*path=/hello-h2' "$T/ng1.out" &&
	ok "nghttp h2c -> HTTP/1.1 app through the mesh" ||
	fail "nghttp h2c -> HTTP/1.1 app: $(grep -E ':status|ERROR|error' "$T/ng1.out" | head -3)"
in0=$(http_in b)
nghttp -v -t 10 "http://$A:$UP_H2H2/index.html" >"$T/ng2.out" 2>&1
in1=$(http_in b)
grep -q ':status: 200' "$T/ng2.out" && grep -q 'h2web served by nghttpd' "$T/ng2.out" &&
	[ $((in1 - in0)) -ge 1 ] &&
	ok "nghttp h2c -> h2c app through the mesh (as HTTP: b took $((in1 - in0)) request)" ||
	fail "nghttp h2c -> h2c app: HTTP requests into b $in0 -> $in1; $(grep -E ':status|ERROR|error' "$T/ng2.out" | head -3)"
grep -q 'x-h2-trailer: from-nghttpd' "$T/ng2.out" &&
	ok "the h2c app's trailer reaches the h2c client" ||
	fail "h2c trailer (x-h2-trailer) missing at the client"
nghttp -t 20 -d "$T/body.bin" "http://$A:$UP_WEB2/echo" 2>/dev/null | sha256sum |
	grep -q "^$want " && ok "1 MiB h2c upload to the HTTP/1.1 app echoed intact" ||
	fail "h2c upload to the HTTP/1.1 app: body differs"

# ==== gRPC ====
# Each call must reach b or c as an HTTP request (not a byte stream).
grpc_in() { echo $(($(http_in b) + $(http_in c))); }
in0=$(grpc_in)
out=$(timeout 30 $PY "$HERE/grpc_app.py" unary "$A:$UP_GRPC" hello 2>&1)
g=$(sed -n 's/^msg \([bc]\)-grpc:hello$/\1/p' <<<"$out")
[ -n "$g" ] && grep -qx 'status OK' <<<"$out" &&
	grep -qx "trailer x-app-trailer unary-$g-grpc" <<<"$out" &&
	ok "gRPC unary through the mesh ($g): answer, status OK and trailer intact" ||
	fail "gRPC unary: $(tr '\n' '|' <<<"$out")"
out=$(timeout 30 $PY "$HERE/grpc_app.py" stream "$A:$UP_GRPC" tick 50 2>&1)
g=$(sed -n 's/^msg \([bc]\)-grpc:tick:49$/\1/p' <<<"$out")
[ -n "$g" ] && [ "$(grep -c "^msg $g-grpc:tick:" <<<"$out")" -eq 50 ] &&
	grep -qx 'status OK' <<<"$out" &&
	grep -qx "trailer x-app-trailer stream-$g-grpc" <<<"$out" &&
	ok "gRPC server streaming ($g): 50 messages in order, status and trailer intact" ||
	fail "gRPC streaming: $(grep -vc '^msg' <<<"$out") other lines: $(grep -v '^msg' <<<"$out" | tr '\n' '|')"
out=$(timeout 30 $PY "$HERE/grpc_app.py" fail "$A:$UP_GRPC" gizmo 2>&1)
grep -qx 'status NOT_FOUND no such thing: gizmo' <<<"$out" &&
	grep -qx 'trailer x-app-trailer fail-[bc]-grpc' <<<"$out" &&
	ok "a gRPC error status, its message and trailer reach the client" ||
	fail "gRPC error status: $(tr '\n' '|' <<<"$out")"
in1=$(grpc_in)
[ $((in1 - in0)) -ge 3 ] && ok "the 3 gRPC calls crossed the mesh as HTTP requests (b + c: $((in1 - in0)))" ||
	fail "gRPC calls were not carried as HTTP requests: HTTP requests into b and c $in0 -> $in1"

# ==== WebSocket ====
out=$(timeout 20 python3 "$HERE/http_client.py" ws $A $UP_WEB /ws "hello through the mesh" 2>&1)
[ "$out" = "101 accept-ok echo=hello through the mesh" ] &&
	ok "WebSocket upgrade and an echoed message through the mesh" ||
	fail "WebSocket: $out"

# ==== pipelining, 100-continue ====
out=$(timeout 20 python3 "$HERE/http_client.py" pipeline $A $UP_WEB "/slow?ms=300" /p2 /p3 2>&1)
if [ "$(sed -n 1p <<<"$out")" = "200 name=web-v1 slow" ] || [ "$(sed -n 1p <<<"$out")" = "200 name=web-v2 slow" ]; then
	grep -q 'path=/p2$' <<<"$(sed -n 2p <<<"$out")" && grep -q 'path=/p3$' <<<"$(sed -n 3p <<<"$out")" &&
		ok "3 pipelined requests (the first slow) answered in order" ||
		fail "pipelined answers out of order: $(tr '\n' '|' <<<"$out")"
else
	fail "pipelining: $(tr '\n' '|' <<<"$out")"
fi
# curl waits --expect100-timeout (5 s) for "100 Continue" before it sends
# the body anyway: well under that means 100-continue worked.
st=$(curl -s -m 20 --expect100-timeout 5 -H 'Expect: 100-continue' -o "$T/exp.body" \
	-w '%{http_code} %{time_total}' --data-binary @"$T/body.bin" "http://$A:$UP_WEB/echo")
got=$(sha256sum <"$T/exp.body" | cut -d' ' -f1)
if [ "${st% *}" = 200 ] && [ "$got" = "$want" ] &&
	python3 -c "import sys; sys.exit(float(sys.argv[1]) >= 4)" "${st#* }"; then
	ok "Expect: 100-continue: the body went on at once (${st#* } s) and came back intact"
else
	fail "Expect: 100-continue: status/time '$st', body sha $got"
fi

# ==== weft's own answers ====
out=$(curl -s -m 10 -D "$T/none.h" "http://$A:$UP_NONE/x")
st=$(head -1 "$T/none.h" | cut -d' ' -f2)
if { [ "$st" = 503 ] || [ "$st" = 404 ]; } && grep -qi '^x-weft-agent: a' "$T/none.h" &&
	[ -n "$out" ]; then
	ok "no endpoint for nosvc: $st from agent a, saying why: $out"
else
	fail "no endpoint: status '$st', $(grep -i x-weft-agent "$T/none.h") body '$out'"
fi

# ==== routes ====
cat >"$T/web-routes.json" <<'JSON'
{"kind": "route", "name": "web-routes", "service": "web",
 "routes": [
   {"match": {"path_prefix": "/", "headers": [{"name": "x-canary", "exact": "1"}]},
    "targets": [{"service": "web", "labels": {"version": "v2"}, "weight": 100}]},
   {"match": {"path_prefix": "/v1only"},
    "targets": [{"service": "web", "labels": {"version": "v1"}, "weight": 1}]},
   {"match": {"path_exact": "/pin-v2"},
    "targets": [{"service": "web", "labels": {"version": "v2"}, "weight": 1}]},
   {"match": {"path_prefix": "/flaky"},
    "targets": [{"service": "web", "labels": {"version": "v1"}, "weight": 1}],
    "retry": {"max": 2, "on": ["5xx"], "budget_percent": 100}},
   {"match": {"path_prefix": "/hang"},
    "targets": [{"service": "web", "labels": {"version": "v1"}, "weight": 1}],
    "timeout": "1s"},
   {"match": {"path_prefix": "/"},
    "targets": [{"service": "web", "labels": {"version": "v1"}, "weight": 90},
                {"service": "web", "labels": {"version": "v2"}, "weight": 10}]}]}
JSON
out=$("$WEFT" routes apply "$T/web-routes.json" "${OPS[@]}" --socket "$(sock b)" 2>&1) &&
	ok "routes apply at b: $out" || fail "routes apply at b: $out"
lists() { "$WEFT" routes list --socket "$(sock "$1")" 2>/dev/null | grep -q "$2"; }
wait_for 10 "a lists web-routes (gossiped from b)" lists a web-routes
wait_for 10 "d lists web-routes" lists d web-routes
all_v2() { # IP N PATH [H]: every answer from v2
	local j
	j=$(load "$1" $UP_WEB "$2" 2 "$3" "${@:4}")
	[ "$(jn "$j" version v2)" -eq "$2" ]
}
wait_for 10 "the route applied at b steers d's requests (x-canary: 1 -> v2)" \
	all_v2 $D 20 /c x-canary:1
wait_for 10 "... and a's" all_v2 $A 20 /c x-canary:1

# The 90/10 split: X ~ Binomial(2000, 0.1) v2 answers; mean 200, sigma
# sqrt(2000 * 0.1 * 0.9) = 13.4; 5 sigma either side is [133, 267]
# (false failure odds under 1 in a million).
j=$(load $A $UP_WEB 2000 16 /split)
v1=$(jn "$j" version v1) v2=$(jn "$j" version v2)
if [ "$(jn "$j" status 200)" -eq 2000 ] && [ $((v1 + v2)) -eq 2000 ] &&
	[ "$v2" -ge 133 ] && [ "$v2" -le 267 ]; then
	ok "90/10 split over 2000 requests: v1 $v1, v2 $v2 (5-sigma bounds 133-267 for v2)"
else
	fail "90/10 split: v1 $v1 v2 $v2 (want v2 in 133-267 of 2000, all 200): $j"
fi
j=$(load $A $UP_WEB 100 4 /any x-canary:1)
[ "$(jn "$j" version v2)" -eq 100 ] && ok "header match x-canary: 1 -> all 100 from v2" ||
	fail "header match: $j"
j=$(load $A $UP_WEB 100 4 /any x-canary:2)
v1=$(jn "$j" version v1)
[ "$v1" -ge 60 ] && [ "$(jn "$j" status 200)" -eq 100 ] &&
	ok "x-canary: 2 does not match: falls to the split (v1 $v1 of 100)" || fail "x-canary: 2: $j"
j=$(load $A $UP_WEB 100 4 /v1only/deep)
[ "$(jn "$j" version v1)" -eq 100 ] && ok "path prefix /v1only -> all 100 from v1" ||
	fail "path prefix match: $j"
j=$(load $A $UP_WEB 100 4 /pin-v2)
[ "$(jn "$j" version v2)" -eq 100 ] && ok "exact path /pin-v2 -> all 100 from v2" ||
	fail "exact path match: $j"
j=$(load $A $UP_WEB 100 4 /pin-v2/not-exact)
v1=$(jn "$j" version v1)
[ "$v1" -ge 60 ] && ok "/pin-v2/not-exact is not the exact path: the split (v1 $v1 of 100)" ||
	fail "exact path must not match a longer one: $j"

# An update applied at c reaches both callers: everything to v2.
sed 's/"weight": 90}/"weight": 0}/' "$T/web-routes.json" >"$T/web-routes2.json"
grep -q '"weight": 0}' "$T/web-routes2.json" || fail "test bug: route update not made"
out=$("$WEFT" routes apply "$T/web-routes2.json" "${OPS[@]}" --socket "$(sock c)" 2>&1) ||
	fail "routes apply (update) at c: $out"
wait_for 10 "the update applied at c reaches a (split now 0/10: all v2)" all_v2 $A 40 /after
wait_for 10 "... and d" all_v2 $D 40 /after

# ==== a gRPC route: Stream calls to v2 (c), the rest to v1 (b) ====
cat >"$T/grpc-routes.json" <<'JSON'
{"kind": "route", "name": "grpc-routes", "service": "grpc",
 "routes": [
   {"match": {"grpc": {"service": "weft.test.Echo", "method": "Stream"}},
    "targets": [{"service": "grpc", "labels": {"version": "v2"}, "weight": 1}]},
   {"targets": [{"service": "grpc", "labels": {"version": "v1"}, "weight": 1}]}]}
JSON
out=$("$WEFT" routes apply "$T/grpc-routes.json" "${OPS[@]}" --socket "$(sock c)" 2>&1) ||
	fail "routes apply grpc-routes: $out"
wait_for 10 "a lists grpc-routes" lists a grpc-routes
grpc_routed() {
	local i out
	# Captured whole: grep -q closing the pipe early can fail the client
	# on its last write, which pipefail would count as a miss.
	for i in 1 2 3 4; do
		out=$(timeout 30 $PY "$HERE/grpc_app.py" unary "$A:$UP_GRPC" u$i 2>&1)
		grep -qx "msg b-grpc:u$i" <<<"$out" || return 1
		out=$(timeout 30 $PY "$HERE/grpc_app.py" stream "$A:$UP_GRPC" s$i 2 2>&1)
		grep -qx "msg c-grpc:s$i:1" <<<"$out" || return 1
	done
}
wait_for 30 "gRPC method match: 4 Unary calls all to v1 (b), 4 Stream calls all to v2 (c)" grpc_routed

# ==== L7 intention: GET under /public/ only ====
cat >"$T/l7.json" <<'JSON'
{"name": "web-l7", "source": "web", "destination": "web", "action": "allow",
 "http": [{"path_prefix": "/public/", "methods": ["GET"]}]}
JSON
out=$("$WEFT" intentions apply "$T/l7.json" "${OPS[@]}" --socket "$(sock b)" 2>&1) ||
	fail "intentions apply web-l7: $out"
code() { # URL [curl args]: the status code
	local url=$1
	shift
	curl -s -m 10 -o /dev/null -w '%{http_code}' "$@" "$url"
}
private_denied() { [ "$(code "http://$A:$UP_WEB/private")" = 403 ]; }
wait_for 10 "the L7 intention denies GET /private" private_denied
curl -s -m 10 -D "$T/l7.h" -o "$T/l7.body" "http://$A:$UP_WEB/private"
grep -qi '^x-weft-agent: ' "$T/l7.h" && [ -s "$T/l7.body" ] &&
	ok "the 403 names its agent ($(grep -i '^x-weft-agent' "$T/l7.h" | tr -d '\r')): $(head -c 200 "$T/l7.body")" ||
	fail "the L7 403 lacks x-weft-agent or a reason: $(head -3 "$T/l7.h" | tr '\r\n' '  ')"
[ "$(code "http://$A:$UP_WEB/public/page")" = 200 ] && ok "GET /public/page allowed" ||
	fail "GET /public/page: $(code "http://$A:$UP_WEB/public/page")"
[ "$(code "http://$A:$UP_WEB/public/page" -X POST -d x)" = 403 ] &&
	ok "POST /public/page denied (method)" || fail "POST /public/page not denied"
[ "$(code "http://$A:$UP_WEB/public/../private" --path-as-is)" = 403 ] &&
	ok "GET /public/../private denied (dot segments)" || fail "GET /public/../private not denied"
"$WEFT" intentions delete web-l7 "${OPS[@]}" --socket "$(sock b)" >/dev/null ||
	fail "intentions delete web-l7"
private_allowed() { [ "$(code "http://$A:$UP_WEB/private")" = 200 ]; }
wait_for 10 "GET /private allowed again once web-l7 is deleted" private_allowed

# ==== resilience ====
# One connection, so the app's answers strictly alternate: each request's
# first try fails, its retry succeeds (a retry ratio of 100%, which the
# rule's budget_percent 100 allows).
before=$(curl -s "http://127.0.0.1:$APP_V1/_ctl/stats")
r0=$(metric a weft_http_retries_total)
j=$(load $A $UP_WEB 100 1 /flaky)
r1=$(metric a weft_http_retries_total)
after=$(curl -s "http://127.0.0.1:$APP_V1/_ctl/stats")
failed=$(($(jn "$after" status 503) - $(jn "$before" status 503)))
if [ "$(jn "$j" status 200)" -eq 100 ] && [ "$failed" -ge 40 ] &&
	[ $((r1 - r0)) -ge "$failed" ]; then
	ok "the app answered /flaky 503 $failed times; $((r1 - r0)) retries masked all (100 x 200)"
else
	fail "retries: the app failed $failed times, a retried $((r1 - r0)); the client saw: $j"
fi

t0=$(date +%s%N)
out=$(curl -s -m 10 -D "$T/hang.h" "http://$A:$UP_WEB/hang")
ms=$((($(date +%s%N) - t0) / 1000000))
st=$(head -1 "$T/hang.h" | cut -d' ' -f2)
[ "$st" = 504 ] && [ "$ms" -ge 900 ] && [ "$ms" -le 4000 ] &&
	grep -qi '^x-weft-agent: a' "$T/hang.h" &&
	ok "a hanging endpoint: 504 from agent a after ${ms} ms (route timeout 1s): $out" ||
	fail "hanging endpoint: status '$st' after $ms ms, $(grep -i x-weft "$T/hang.h")"

# An app that promises 1000 bytes, sends 10 and closes: the client must
# see the answer cut (curl 18 or 56) or weft's 502, never wait it out.
t0=$(date +%s%N)
code=$(curl -s -m 10 -D "$T/close.h" -o /dev/null -w '%{http_code}' "http://$A:$UP_WEB/close")
rc=$? ms=$((($(date +%s%N) - t0) / 1000000))
if { [ $rc = 18 ] || [ $rc = 56 ]; } && [ "$ms" -lt 5000 ]; then
	ok "an answer cut by the app reaches the client cut (curl exit $rc after $ms ms)"
elif [ $rc = 0 ] && [ "$code" = 502 ] && grep -qi '^x-weft-agent:' "$T/close.h"; then
	ok "an answer cut by the app before its head left: 502 from weft ($ms ms)"
else
	fail "an answer cut by the app: curl exit $rc, status $code after $ms ms"
fi

# Circuit limit: 8 requests of 2 s at once on an upstream that allows 2
# in flight; the others are answered 503 by a at once.
o0=$(metric a weft_http_circuit_overflows_total)
j=$(load $A $UP_TIGHT 8 8 "/slow?ms=2000")
o1=$(metric a weft_http_circuit_overflows_total)
n200=$(jn "$j" status 200) n503=$(jn "$j" status 503)
[ "$n200" -ge 2 ] && [ "$n503" -ge 4 ] && [ $((n200 + n503)) -eq 8 ] &&
	[ "$(jn "$j" agent a)" -eq "$n503" ] && [ $((o1 - o0)) -eq "$n503" ] &&
	ok "max_requests 2: $n200 served, $n503 answered 503 by a (overflows counted $((o1 - o0)))" ||
	fail "circuit limit: overflows counted $((o1 - o0)); $j"

# ==== bad requests: 400 (431 for the head too big), closed; others served ====
bad() { # WHAT WANT TEXT
	local out
	out=$(timeout 10 python3 "$HERE/http_client.py" raw $A $UP_WEB "$3")
	if [[ " $2 " == *" ${out%% *} "* ]] && [[ $out == *"x-weft-agent:a"* ]] &&
		[[ $out == *closed ]]; then
		ok "$1: $out"
	else
		fail "$1: got '$out', want one of ($2) from agent a, then closed"
	fi
}
bad "Content-Length and Transfer-Encoding" 400 \
	'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
bad "two Content-Length" 400 \
	'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'
bad "a bad chunk size" 400 \
	'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'
bad "a bare LF ending a header line" 400 \
	'GET / HTTP/1.1\r\nHost: x\nX-Y: z\r\n\r\n'
bad "a bare CR in a header value" 400 \
	'GET / HTTP/1.1\r\nHost: x\r\nX-Y: a\rb\r\n\r\n'
bad "a 100 KiB header" "400 431" \
	"GET / HTTP/1.1\\r\\nHost: x\\r\\nX-Big: $(head -c 102400 /dev/zero | tr '\0' a)\\r\\n\\r\\n"
bad "no Host" 400 'GET / HTTP/1.1\r\nX-Y: z\r\n\r\n'
c_ok "http://$A:$UP_WEB/still" "name=web-v" &&
	kill -0 "${PIDS[a]}" 2>/dev/null && ok "after the bad requests, a still serves" ||
	fail "a no longer serves after the bad requests"

# ==== an endpoint killed under load, outlier ejection ====
cat >"$T/pool-routes.json" <<'JSON'
{"kind": "route", "name": "pool-routes", "service": "pool",
 "routes": [{"targets": [{"service": "pool", "weight": 1}],
   "retry": {"max": 2, "on": ["gateway-error", "connect-failure", "reset"],
             "budget_percent": 100}}]}
JSON
out=$("$WEFT" routes apply "$T/pool-routes.json" "${OPS[@]}" --socket "$(sock c)" 2>&1) ||
	fail "routes apply pool-routes: $out"
wait_for 10 "a lists pool-routes" lists a pool-routes
j=$(load $A $UP_POOL 100 4 /warm)
[ "$(jn "$j" name pool-b)" -gt 0 ] && [ "$(jn "$j" name pool-c)" -gt 0 ] &&
	ok "pool: both endpoints serve (pool-b $(jn "$j" name pool-b), pool-c $(jn "$j" name pool-c))" || fail "pool warm-up: $j"
load $A $UP_POOL 800 4 "/slow?ms=10" >"$T/kill.json" &
lp=$!
sleep 1
kill -9 "${PIDS[pool-c]}"
unset 'PIDS[pool-c]'
wait $lp
j=$(cat "$T/kill.json")
bad_n=$((800 - $(jn "$j" status 200)))
[ "$bad_n" -le 4 ] && [ "$(jn "$j" late name pool-b)" -eq 200 ] &&
	ok "pool-c killed under load (4 in flight): $bad_n requests failed; the last 200 all from pool-b" ||
	fail "endpoint killed under load: $bad_n of 800 failed (at most 4 in flight): $j"
wait_for 10 "a logs pool-c's ejection" grep -q 'msg="endpoint ejected".*pool' "$T/a.log"
grep 'msg="endpoint ejected"' "$T/a.log" | tail -1 | sed 's/^/# /'
app pool-c $APP_POOL_C p
back_to_c() {
	local j
	j=$(load $A $UP_POOL 40 2 /back)
	[ "$(jn "$j" name pool-c)" -gt 0 ]
}
wait_for 90 "the ejection is undone: pool-c serves again" back_to_c
grep -q 'msg="endpoint returned" service=pool node=c' "$T/a.log" &&
	ok "a logs pool-c's return" || fail "a does not log pool-c's return (msg=\"endpoint returned\")"

kill -0 "${PIDS[a]}" 2>/dev/null && ok "a is still running" || fail "agent a died"
finish
