#!/usr/bin/env bash
# What the data plane tells operators (issue 8), between two agents on
# 127.0.0.210-211: a (service web) calls api (HTTP/1.1 app) and db (TCP
# echo) behind b, both with access logs.
#   - one JSON access log line per HTTP request and per TCP stream, on the
#     caller's and the server's side, with services, nodes, status, bytes,
#     retries, upstream and trace id
#   - W3C trace context: a valid incoming traceparent reaches the app
#     unchanged (with its tracestate); a request without one, or with a
#     malformed one, gets a new one (tracestate dropped); the access log
#     carries the trace id the app saw
#   - weft_proxy_* series labelled by source and destination service move
#     with traffic and pass promtool; an intention denial is counted and
#     streamed to `weft monitor` with its reason
# Usage: WEFT=... WEFTD=... t_observe.sh   (or: t_observe.sh BUILD_DIR)
if [ $# -ge 1 ] && [ -d "$1" ]; then
	export WEFT=${WEFT:-$1/tools/weft} WEFTD=${WEFTD:-$1/agent/weftd}
fi
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

A=127.0.0.210 B=127.0.0.211
UP_API=15210 UP_DB=15211 UP_SECRET=15212 UP_API2=15213
APP=17410 ECHO=17411 SECRET=17412

make_ca "$T/ca" it-root
make_cert "$T/ca" a web
make_cert "$T/ca" b "api,db,secret"
"$WEFT" cert issue --ca "$T/ca" --name ops --groups operator --valid 30d \
	--out "$T/certs" >/dev/null || { fail "cert issue ops"; finish; }

write_config a $A "" "" ", \"services\": [{\"name\": \"web\", \"port\": 1,
  \"upstreams\": [
   {\"service\": \"api\", \"local_bind\": \"$A:$UP_API\", \"protocol\": \"http\"},
   {\"service\": \"api\", \"local_bind\": \"$A:$UP_API2\", \"protocol\": \"http2\"},
   {\"service\": \"db\", \"local_bind\": \"$A:$UP_DB\"},
   {\"service\": \"secret\", \"local_bind\": \"$A:$UP_SECRET\", \"protocol\": \"http\"}]}],
 \"proxy\": {\"access_log\": \"$T/a-access.log\", \"head_timeout\": \"1s\",
   \"client_idle_timeout\": \"2s\", \"body_timeout\": \"2s\",
   \"body_min_rate\": 100}"
write_config b $B $A "" ", \"services\": [
 {\"name\": \"api\", \"port\": $APP, \"protocol\": \"http\"},
 {\"name\": \"db\", \"port\": $ECHO},
 {\"name\": \"secret\", \"port\": $SECRET, \"protocol\": \"http\"}],
 \"proxy\": {\"access_log\": \"$T/b-access.log\"}"

# An app that answers with the trace headers it was given.
cat >"$T/app.py" <<'PY'
import http.server, json, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path.startswith("/sleep"):
            time.sleep(2.5)
        b = json.dumps({"traceparent": self.headers.get_all("traceparent"),
                        "tracestate": self.headers.get_all("tracestate")}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def do_POST(self):
        n = len(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        b = b"got %d" % n
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H)
print("ready", flush=True)
s.serve_forever()
PY
python3 "$T/app.py" 127.0.0.1 $APP >"$T/app.out" 2>&1 &
PIDS[app]=$!
python3 "$T/app.py" 127.0.0.1 $SECRET >"$T/secret.out" 2>&1 &
PIDS[secret]=$!
python3 "$HERE/echo_server.py" 127.0.0.1 $ECHO >"$T/echo.out" 2>&1 &
PIDS[echo]=$!
wait_for 10 "the apps listen" bash -c "grep -q ready '$T/app.out' && grep -q ready '$T/secret.out' && grep -q ready '$T/echo.out'"

start a
start b
wait_sock a || finish
wait_sock b || finish

U="http://$A:$UP_API"
c() { curl -sS --max-time 10 "$@"; }
ready() { c "$U/" 2>/dev/null | grep -q traceparent; }
wait_for 30 "a reaches api behind b" ready || finish

# ---- trace context ----
TP=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
got=$(c -H "traceparent: $TP" -H "tracestate: vendor=1" "$U/kept")
[ "$got" = "{\"traceparent\": [\"$TP\"], \"tracestate\": [\"vendor=1\"]}" ] &&
	ok "a valid traceparent and its tracestate reach the app unchanged" ||
	fail "kept traceparent: $got"
tp_of() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["traceparent"][0])'; }
new=$(c "$U/created" | tp_of)
[[ "$new" =~ ^00-[0-9a-f]{32}-[0-9a-f]{16}-01$ ]] &&
	ok "a request without one gets a new traceparent ($new)" ||
	fail "created traceparent: '$new'"
got=$(c -H "traceparent: 00-XYZ" -H "tracestate: old=1" "$U/bad")
bad=$(tp_of <<<"$got")
[[ "$bad" =~ ^00-[0-9a-f]{32}-[0-9a-f]{16}-01$ ]] && grep -q '"tracestate": null' <<<"$got" &&
	ok "a malformed traceparent is replaced and its tracestate dropped" ||
	fail "malformed traceparent: $got"
c -o /dev/null "$U/again" || true

# ---- TCP stream ----
got=$(python3 "$HERE/tcp_client.py" marker $A $UP_DB "hello through the mesh!" 2>&1)
[ "$got" = "marker echoed" ] && ok "a TCP stream went through" ||
	fail "tcp stream: '$got'"

# ---- access log lines ----
line_for() { # FILE PATH
	python3 - "$1" "$2" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("path") == sys.argv[2] or (sys.argv[2] == "tcp" and j.get("kind") == "tcp"):
        print(json.dumps(j, sort_keys=True)); break
PY
}
check_line() { # FILE PATH PYTHON-CONDITION DESCRIPTION
	local j
	j=$(line_for "$1" "$2")
	python3 -c "import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if ($3) else 1)" "$j" 2>/dev/null &&
		ok "$4" || fail "$4: '$j'"
}
# The agent writes off the loop: give it a moment.
wait_for 10 "a's access log has the TCP stream" bash -c "grep -q '\"kind\":\"tcp\"' '$T/a-access.log'"
wait_for 10 "b's access log has the TCP stream" bash -c "grep -q '\"kind\":\"tcp\"' '$T/b-access.log'"
check_line "$T/a-access.log" /kept "j['kind']=='http' and j['direction']=='outbound' and j['src_service']=='web' and j['src_node']=='a' and j['dst_service']=='api' and j['dst_node']=='b' and j['method']=='GET' and j['status']==200 and j['trace_id']=='4bf92f3577b34da6a3ce929d0e0e4736' and j['bytes_out']>0 and j['retries']==0 and j['upstream'].startswith('b ') and j['time'].endswith('Z')" \
	"a's line for GET /kept: services, nodes, status, bytes, upstream, the kept trace id"
newid=$(cut -d- -f2 <<<"$new")
check_line "$T/a-access.log" /created "j['trace_id']=='$newid'" \
	"a's line for /created carries the trace id the app saw ($newid)"
check_line "$T/b-access.log" /kept "j['kind']=='http' and j['direction']=='inbound' and j['src_service']=='web' and j['src_node']=='a' and j['dst_service']=='api' and j['dst_node']=='b' and j['status']==200 and j['bytes_out']>0 and j['trace_id']=='4bf92f3577b34da6a3ce929d0e0e4736' and j['upstream']=='127.0.0.1:$APP'" \
	"b's line for GET /kept: from web on a, to the app, the same trace id"
check_line "$T/b-access.log" tcp "j['direction']=='inbound' and j['src_service']=='web' and j['src_node']=='a' and j['dst_service']=='db' and j['bytes_in']==23 and j['bytes_out']==23" \
	"b's line for the TCP stream: from web on a, 23 bytes each way"
check_line "$T/a-access.log" tcp "j['direction']=='outbound' and j['src_service']=='web' and j['dst_node']=='b' and j['bytes_in']==23 and j['bytes_out']==23" \
	"a's line for the TCP stream"
n=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)))' "$T/a-access.log" 2>/dev/null || echo bad)
[ "$n" != bad ] && ok "every line of a's access log is one JSON object ($n lines)" ||
	fail "a's access log does not parse"

# ---- slow clients on the HTTP front end ----
# A head that never ends is answered 408 once head_timeout (1 s) passes,
# and an idle keep-alive connection is closed after client_idle_timeout
# (2 s); both within the front end's one-second sweep.
# raw BYTES: sends BYTES (a Python bytes literal) to api's HTTP upstream,
# reads until the agent closes; prints the statuses it answered (or
# "none") and the seconds that took.
raw() {
	python3 - $A $UP_API "$1" <<'PY'
import ast, re, socket, sys, time
t0 = time.time()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(ast.literal_eval(sys.argv[3]))
d = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    d += c
st = [m.decode() for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", d)]
print(",".join(st) or "none", round(time.time() - t0, 1))
PY
}
slow=$(raw 'b"GET /slow HTTP/1.1\r\nHost: x\r\nX-a: "')
read -r st secs <<<"$slow"
[ "$st" = 408 ] && python3 -c "import sys; sys.exit(0 if 0.9 <= float('$secs') <= 4 else 1)" &&
	ok "a request head that never ends gets 408 after ${secs} s" ||
	fail "slow head: '$slow'"
idle=$(python3 - $A $UP_API <<'PY'
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
d = s.recv(65536)
t0 = time.time()
while s.recv(4096):
    pass
print(d.split(b" ")[1].decode(), round(time.time() - t0, 1))
PY
)
read -r st secs <<<"$idle"
[ "$st" = 200 ] && python3 -c "import sys; sys.exit(0 if 1.9 <= float('$secs') <= 5 else 1)" &&
	ok "an idle keep-alive connection is closed after ${secs} s" ||
	fail "idle keep-alive: '$idle'"
grep -q 'msg="http request refused" service=api status=408' "$T/a.log" &&
	ok "the 408 is logged with its reason" || fail "no log line for the 408"

# A head begun behind a pipelined request (read with it) gets the head
# deadline, not the idle one: 408, not a quiet close.
read -r pl secs <<<"$(raw 'b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHo"')"
[ "$pl" = "200,408" ] && ok "a pipelined head left unfinished gets 408 after the first answer ($pl, ${secs} s)" ||
	fail "pipelined partial head: '$pl'"

# The head deadline ends with the head: an answer that takes 2.5 s
# (head_timeout 1 s) is still the app's.
long=$(c -o /dev/null -w '%{http_code} %{time_total}' "http://$A:$UP_API/sleep")
[ "${long%% *}" = 200 ] && ok "a request answered after 2.5 s gets its 200 ($long)" ||
	fail "a slow answer was cut: '$long'"

# A body must be whole within body_timeout (2 s), plus 1 s for each
# body_min_rate (100) bytes: 10 bytes a second is cut off with 408
# (about 2.3 s in); 400 bytes a second for 5 s is served.
slowbody() {
	python3 - $A $UP_API "$@" <<'PY'
import socket, sys, time
host, port, total, step, every = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:])
t0 = time.time()
s = socket.create_connection((host, port), timeout=15)
s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)
sent = 0
s.settimeout(every)
d = b""
while True:
    if sent < total:
        k = int(min(step, total - sent))
        try:
            s.sendall(b"b" * k)
        except OSError:
            break
        sent += k
    try:
        c = s.recv(4096)
    except socket.timeout:
        continue
    except OSError:
        break
    d += c
    if not c or b"got " in d:
        break
print(d.split(b" ")[1].decode() if d else "none", round(time.time() - t0, 1),
      d.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")[:60].replace(" ", "_"))
PY
}
read -r st secs body <<<"$(slowbody 1000 10 1)"
[ "$st" = 408 ] && [[ $body == request_body_too_slow* ]] &&
	python3 -c "import sys; sys.exit(0 if 1.9 <= float('$secs') <= 5 else 1)" &&
	ok "a body sent at 10 bytes a second gets 408 after ${secs} s ($body)" ||
	fail "slow body: '$st $secs $body'"
grep -q 'msg="http request refused" service=api status=408 reason="request body too slow' "$T/a.log" &&
	ok "the slow body's 408 is logged with its reason" || fail "no log line for the slow body's 408"
# No banking: 2,000 bytes at once (20 s of credit at 100 B/s), then
# nothing: cut after the 2 s body_timeout all the same.
read -r st secs body <<<"$(slowbody 4000 2000 8)"
[ "$st" = 408 ] && python3 -c "import sys; sys.exit(0 if 1.9 <= float('$secs') <= 5 else 1)" &&
	ok "a body that stalls after a 2,000-byte burst gets 408 after ${secs} s" ||
	fail "burst then stall: '$st $secs $body'"
read -r st secs body <<<"$(slowbody 2000 200 0.5)"
[ "$st" = 200 ] && [ "$body" = "got_2000" ] &&
	python3 -c "import sys; sys.exit(0 if float('$secs') >= 4 else 1)" &&
	ok "a body sent at 400 bytes a second for ${secs} s is served whole ($body)" ||
	fail "a body at 400 bytes a second: '$st $secs $body'"

# The h2c front end has the same deadlines: no preface, or a header
# block left open, closed after head_timeout (1 s); no stream open for
# client_idle_timeout (2 s): GOAWAY, then closed, however many PINGs come;
# a stream answered after 2.5 s is served.
h2slow() {
	python3 - $A $UP_API2 "$1" <<'PY'
import socket, struct, sys, time
host, port, case = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def frame(t, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([t, flags]) + struct.pack(">I", sid) + payload
s = socket.create_connection((host, port), timeout=10)
t0 = time.time()
if case != "silent":
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0))
if case == "headers":
    time.sleep(0.2)
    t0 = time.time()
    # GET http / and a literal field x-a whose 30-byte value never comes
    block = b"\x82\x86\x84" + b"\x10\x03x-a\x1e" + b"v" * 30
    hd = frame(1, 4 | 1, 1, block)          # END_HEADERS|END_STREAM
    s.sendall(hd[:9 + 10])                  # the frame header, 10 bytes
goaway = None
buf = b""
s.settimeout(0.5)
while time.time() - t0 < 10:
    try:
        c = s.recv(65536)
    except socket.timeout:
        if case == "idle":
            s.sendall(frame(6, 0, 0, b"12345678"))  # PING: bytes, no stream
        continue
    except OSError:
        break
    if not c:
        break
    buf += c
    while len(buf) >= 9:
        n = int.from_bytes(buf[:3], "big")
        if len(buf) < 9 + n:
            break
        if buf[3] == 7 and goaway is None:
            goaway = round(time.time() - t0, 1)
        buf = buf[9 + n:]
print(round(time.time() - t0, 1), goaway)
PY
}
read -r secs ga <<<"$(h2slow silent)"
python3 -c "import sys; sys.exit(0 if 0.9 <= float('$secs') <= 4 else 1)" &&
	ok "h2c: a connection that sends no preface is closed after ${secs} s" ||
	fail "h2c silent connection: '$secs $ga'"
read -r secs ga <<<"$(h2slow headers)"
# No GOAWAY: the head deadline closed it, not the idle one.
[ "$ga" = None ] && python3 -c "import sys; sys.exit(0 if 0.9 <= float('$secs') <= 4 else 1)" &&
	ok "h2c: a header block left open is closed after ${secs} s" ||
	fail "h2c open header block: '$secs $ga'"
read -r secs ga <<<"$(h2slow idle)"
[ "$ga" != None ] && python3 -c "import sys; sys.exit(0 if 1.9 <= float('$ga') <= 5 and float('$secs') <= 6 else 1)" &&
	ok "h2c: no stream for 2 s, PINGs every 0.5 s: GOAWAY after $ga s, closed after $secs s" ||
	fail "h2c idle connection: '$secs $ga'"
grep -q 'msg="h2c app connection ended" service=api reason="header block not complete' "$T/a.log" &&
	ok "the h2c close is logged with its reason" || fail "no log line for the h2c header block"
long=$(c --http2-prior-knowledge -o /dev/null -w '%{http_code} %{http_version} %{time_total}' "http://$A:$UP_API2/sleep")
[ "${long%% *}" = 200 ] && ok "h2c: a stream answered after 2.5 s gets its 200 ($long)" ||
	fail "h2c: a slow answer was cut: '$long'"

# ---- denial: counted and streamed to the monitor ----
"$WEFT" monitor --socket "$(sock b)" >"$T/monitor.out" 2>&1 &
PIDS[monitor]=$!
sleep 0.5
cat >"$T/deny.json" <<'JSON'
{"name": "no-web-secret", "source": "web", "destination": "secret",
 "action": "deny"}
JSON
"$WEFT" intentions apply "$T/deny.json" --signer-key "$T/certs/ops.key" \
	--signer-cert "$T/certs/ops.crt" --socket "$(sock a)" >/dev/null 2>&1 ||
	fail "intentions apply"
denied() { [ "$(c -o /dev/null -w '%{http_code}' "http://$A:$UP_SECRET/" 2>/dev/null)" = 403 ]; }
wait_for 15 "a request to secret is denied" denied
wait_for 5 "weft monitor on b shows the denial" grep -q "proxy denied secret a (denied by intention" "$T/monitor.out"

# ---- metrics ----
m=$(api b GET /v1/metrics | tail -n +2)
grep -q 'weft_proxy_intention_denials_total{direction="inbound",protocol="http",source="web",destination="secret"} [1-9]' <<<"$m" &&
	ok "b counts the denial by source and destination" ||
	fail "denial metric: $(grep intention_denials <<<"$m")"
grep -qE 'weft_proxy_requests_total\{direction="inbound",protocol="http",source="web",destination="api",code_class="2xx"\} ([5-9]|[1-9][0-9]+)' <<<"$m" &&
	ok "b counts the HTTP requests it served by source and destination" ||
	fail "b http requests: $(grep 'weft_proxy_requests_total' <<<"$m")"
grep -q 'weft_proxy_requests_total{direction="inbound",protocol="tcp",source="web",destination="db",code_class="none"} 1' <<<"$m" &&
	ok "b counts the TCP stream by source and destination" ||
	fail "b tcp requests: $(grep 'weft_proxy_requests_total' <<<"$m")"
m=$(api a GET /v1/metrics | tail -n +2)
# The slow and idle clients above: heads (h1 and h2c), bodies (two), idle
# connections (h1 keep-alive and the h2c GOAWAY).
grep -qE '^weft_http_client_timeouts_total\{kind="head"\} ([3-9]|[1-9][0-9]+)$' <<<"$m" &&
	grep -qE '^weft_http_client_timeouts_total\{kind="body"\} ([2-9]|[1-9][0-9]+)$' <<<"$m" &&
	grep -qE '^weft_http_client_timeouts_total\{kind="idle"\} ([2-9]|[1-9][0-9]+)$' <<<"$m" &&
	ok "a counts its slow and idle app clients by kind" ||
	fail "client timeouts: $(grep client_timeouts <<<"$m")"
grep -qE 'weft_proxy_requests_total\{direction="outbound",protocol="http",source="web",destination="api",code_class="2xx"\} ([5-9]|[1-9][0-9]+)' <<<"$m" &&
	ok "a counts its HTTP requests to api by class" ||
	fail "a http requests: $(grep 'weft_proxy_requests_total' <<<"$m")"
grep -qE 'weft_proxy_request_duration_seconds_count\{direction="outbound",protocol="http",source="web",destination="api"\} ([5-9]|[1-9][0-9]+)' <<<"$m" &&
	ok "a's duration histogram for web->api counts them" ||
	fail "a duration histogram: $(grep 'duration_seconds_count' <<<"$m")"
if command -v promtool >/dev/null; then
	out=$(promtool check metrics <<<"$m" 2>&1)
	[ $? -eq 0 ] && ok "a's metrics pass promtool" || fail "promtool: $out"
fi
finish
