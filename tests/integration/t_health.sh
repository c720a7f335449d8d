#!/usr/bin/env bash
# Health checks end to end: an HTTP check that fails takes the endpoint to
# critical on every agent and back after recovery; a TTL check expires and
# `weft check pass` revives it; an exec check that outlives its timeout is
# killed and fails; exit 1 warns; a gRPC health check follows its server;
# maintenance mode; `weft monitor` shows the health changes.
source "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
IP1=127.0.0.151 IP2=127.0.0.152 IP3=127.0.0.153 HIP=127.0.0.150
HTTP_PORT=18150 GRPC_PORT=18151
STATE=$T/hstate
mkdir -p "$STATE"

python3 "$HERE/health_server.py" $HIP $HTTP_PORT $GRPC_PORT "$STATE" \
	>"$T/health_server.log" 2>&1 &
PIDS[health_server]=$!
wait_for 10 "health server ready" grep -q ready "$T/health_server.log" || finish

make_ca "$T/ca" it-root
make_cert "$T/ca" n1 web,jobs,batch,report,rpc
make_cert "$T/ca" n2
make_cert "$T/ca" n3

SERVICES=$(cat <<JSON
, "services": [
 {"name": "web", "port": $HTTP_PORT, "protocol": "http",
  "checks": [{"id": "web-http", "http": "http://$HIP:$HTTP_PORT/health",
              "interval": "300ms", "timeout": "1s",
              "success_before_passing": 2, "failures_before_critical": 2}]},
 {"name": "jobs", "port": 9, "checks": [{"id": "jobs-ttl", "ttl": "4s"}]},
 {"name": "batch", "port": 10, "checks": [{"id": "batch-slow",
  "exec": ["sleep", "7.77"], "interval": "1s", "timeout": "400ms"}]},
 {"name": "report", "port": 11, "checks": [{"id": "report-warn",
  "exec": ["/bin/sh", "-c", "echo partial results; exit 1"],
  "interval": "1s"}]},
 {"name": "rpc", "port": $GRPC_PORT, "protocol": "grpc",
  "checks": [{"id": "rpc-grpc", "grpc": "$HIP:$GRPC_PORT",
              "interval": "300ms", "timeout": "1s"}]}]
JSON
)
write_config n1 $IP1 "" "$T/ca/ca.crt" "$SERVICES"
write_config n2 $IP2 $IP1
write_config n3 $IP3 $IP1
for n in n1 n2 n3; do start $n; done
for n in n1 n2 n3; do wait_sock $n || finish; done
wait_for 20 "3 members alive everywhere" bash -c \
	"[ \$(\"$WEFT\" members --json --socket $(sock n2) | grep -c '\"alive\"') -eq 3 ] &&
	 [ \$(\"$WEFT\" members --json --socket $(sock n3) | grep -c '\"alive\"') -eq 3 ]"

"$WEFT" monitor --json --socket "$(sock n3)" >"$T/monitor.jsonl" 2>&1 &
PIDS[monitor]=$!
"$WEFT" monitor --socket "$(sock n3)" >"$T/monitor.txt" 2>&1 &
PIDS[monitor_text]=$!

# ep_health AGENT SERVICE: the health of SERVICE's endpoint on n1 as AGENT
# sees it (maintenance shows as such).
ep_health() {
	"$WEFT" services "$2" --json --socket "$(sock "$1")" 2>/dev/null |
		python3 -c 'import json,sys
d = json.load(sys.stdin)
print([e["health"] for e in d["endpoints"] if e["node"] == "n1"][0])'
}
all_see() { # SERVICE HEALTH
	local n
	for n in n1 n2 n3; do
		[ "$(ep_health $n "$1")" = "$2" ] || return 1
	done
}
# check_field ID FIELD: a field of a check in n1's GET /v1/checks
check_field() {
	"$WEFT" checks --json --socket "$(sock n1)" 2>/dev/null |
		python3 -c 'import json,sys
d = json.load(sys.stdin)
print([c[sys.argv[2]] for c in d["checks"] if c["id"] == sys.argv[1]][0])' "$1" "$2"
}

wait_for 15 "web passing on every agent" all_see web passing

echo 500 >"$STATE/http"
wait_for 15 "HTTP 500: web critical on every agent" all_see web critical
out=$(check_field web-http output)
case "$out" in
*500*) ok "check output names the status: ${out%%$'\n'*}" ;;
*) fail "check output: $out" ;;
esac
# (grep reads a variable, not a pipe: with pipefail, a writer cut off by
# grep -q's early exit would fail the check.)
grep -q "^web-http .*critical" <<<"$("$WEFT" checks --socket "$(sock n1)")" &&
	ok "weft checks lists web-http critical" || fail "weft checks: $("$WEFT" checks --socket "$(sock n1)")"
[ "$(check_field web-http results | python3 -c 'import ast,sys; print(ast.literal_eval(sys.stdin.read())["critical"] >= 2)')" = True ] &&
	ok "critical after 2 failed runs (failures_before_critical)" ||
	fail "results: $(check_field web-http results)"

echo 429 >"$STATE/http"
wait_for 15 "HTTP 429: web warning on every agent" all_see web warning
echo 200 >"$STATE/http"
wait_for 15 "HTTP 200 again: web passing on every agent" all_see web passing

# TTL: nothing has vouched for it yet, then a pass, then silence.
[ "$(check_field jobs-ttl status)" != passing ] && ok "TTL check not passing before any update" ||
	fail "TTL check passing with no update"
"$WEFT" check pass jobs-ttl --note "worker alive" --socket "$(sock n1)" >/dev/null ||
	fail "weft check pass"
[ "$(check_field jobs-ttl status)" = passing ] && ok "weft check pass: jobs-ttl passing" ||
	fail "jobs-ttl after pass: $(check_field jobs-ttl status)"
[ "$(check_field jobs-ttl output)" = "worker alive" ] && ok "the note is the output" ||
	fail "note: $(check_field jobs-ttl output)"
wait_for 10 "jobs passing on every agent" all_see jobs passing
wait_for 10 "TTL runs out: jobs critical on every agent" all_see jobs critical
case "$(check_field jobs-ttl output)" in
*"TTL expired"*) ok "output says the TTL expired" ;;
*) fail "TTL output: $(check_field jobs-ttl output)" ;;
esac
"$WEFT" check pass jobs-ttl --socket "$(sock n1)" >/dev/null
wait_for 10 "weft check pass revives jobs everywhere" all_see jobs passing
"$WEFT" check pass web-http --socket "$(sock n1)" >/dev/null 2>&1
[ $? -eq 1 ] && ok "weft check pass refuses a check that is not TTL" ||
	fail "pass on an http check was not refused"
"$WEFT" check pass nothing --socket "$(sock n1)" >/dev/null 2>&1
[ $? -eq 1 ] && ok "weft check pass refuses an unknown id" || fail "unknown id"

# exec: a command that outlives its timeout is killed and fails.
wait_for 10 "exec past its timeout: batch critical" all_see batch critical
case "$(check_field batch-slow output)" in
*"timed out after 400 ms"*) ok "exec output: $(check_field batch-slow output)" ;;
*) fail "exec output: $(check_field batch-slow output)" ;;
esac
sleep 1
stuck=$(pgrep -f "^sleep 7.77" | wc -l)
[ "$stuck" -le 1 ] && ok "timed-out commands are killed ($stuck running)" ||
	fail "$stuck 'sleep 7.77' still running"
wait_for 10 "exec exit 1: report warning" all_see report warning
case "$(check_field report-warn output)" in
"exit 1: partial results"*) ok "exec output kept: $(check_field report-warn output)" ;;
*) fail "exec output: $(check_field report-warn output)" ;;
esac

# gRPC health.
wait_for 10 "gRPC SERVING: rpc passing" all_see rpc passing
echo down >"$STATE/grpc"
wait_for 10 "gRPC NOT_SERVING: rpc critical" all_see rpc critical
case "$(check_field rpc-grpc output)" in
*NOT_SERVING*) ok "grpc output: $(check_field rpc-grpc output)" ;;
*) fail "grpc output: $(check_field rpc-grpc output)" ;;
esac
echo up >"$STATE/grpc"
wait_for 10 "gRPC SERVING again: rpc passing" all_see rpc passing

# Maintenance: out of rotation without failing, and back.
"$WEFT" maint enable web --reason "deploying v2" --socket "$(sock n1)" >/dev/null ||
	fail "weft maint enable"
wait_for 10 "maintenance: web shown in maintenance on every agent" all_see web maintenance
reason=$("$WEFT" services web --json --socket "$(sock n3)" | python3 -c 'import json,sys
print(json.load(sys.stdin)["endpoints"][0].get("maintenance_reason"))')
[ "$reason" = "deploying v2" ] && ok "the reason travels: $reason" || fail "reason: $reason"
passing=$("$WEFT" services --json --socket "$(sock n2)" | python3 -c 'import json,sys
print([s["passing"] for s in json.load(sys.stdin)["services"] if s["name"] == "web"][0])')
[ "$passing" = 0 ] && ok "an endpoint in maintenance is not counted passing" ||
	fail "passing count in maintenance: $passing"
[ "$(check_field web-http status)" = passing ] && ok "its check still passes" ||
	fail "check in maintenance: $(check_field web-http status)"
kill -TERM "${PIDS[n1]}"
wait_for 10 "n1 stops on SIGTERM" bash -c "! kill -0 ${PIDS[n1]} 2>/dev/null"
start n1
wait_sock n1 || finish
wait_for 15 "maintenance kept across a restart of n1" all_see web maintenance
grep -q 'msg="maintenance kept from before the restart" service=web' "$T/n1.log" &&
	ok "n1 says so in its log" || fail "no log line for kept maintenance"
"$WEFT" maint enable --socket "$(sock n1)" >/dev/null 2>&1
[ $? -eq 2 ] && ok "maint enable without --reason is a usage error" || fail "maint without reason"
"$WEFT" maint disable web --socket "$(sock n1)" >/dev/null || fail "weft maint disable"
wait_for 10 "maintenance off: web passing on every agent" all_see web passing

# A reload keeps what the checks know: no flap through "unknown".
runs=$(check_field web-http last_change_ms)
"$WEFT" check pass jobs-ttl --socket "$(sock n1)" >/dev/null
"$WEFT" reload --socket "$(sock n1)" >/dev/null || fail "weft reload"
[ "$(check_field web-http status)" = passing ] && [ "$(check_field web-http last_change_ms)" = "$runs" ] &&
	ok "a reload keeps the checks' state" ||
	fail "after reload: $(check_field web-http status), changed $(check_field web-http last_change_ms) (was $runs)"
[ "$(check_field jobs-ttl status)" = passing ] && ok "the TTL check too" ||
	fail "TTL after reload: $(check_field jobs-ttl status)"

# The event stream saw it all.
sleep 0.5
grep -q '"type": *"health".*"event": *"critical".*"name": *"web".*"node": *"n1"' "$T/monitor.jsonl" &&
	ok "weft monitor --json: web critical on n1" || fail "no health event in $(cat "$T/monitor.jsonl")"
grep -q '"event": *"maintenance"' "$T/monitor.jsonl" && ok "weft monitor --json: maintenance" ||
	fail "no maintenance event"
grep -q " health critical web n1" "$T/monitor.txt" && ok "weft monitor: $(grep -m1 ' health critical web n1' "$T/monitor.txt")" ||
	fail "monitor text: $(head -5 "$T/monitor.txt")"
grep -q 'msg="endpoint critical" service=web node=n1' "$T/n2.log" &&
	ok "n2 logs the endpoint change" || fail "no endpoint log line on n2"
finish
