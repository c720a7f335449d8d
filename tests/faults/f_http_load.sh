#!/usr/bin/env bash
# HTTP through the mesh while its hosts fail, on a test bed of 7 hosts
# (namespaces, 198.18.0.1-7 inside this bed only; in each namespace the
# app on 127.0.0.1:8080 and h1's upstream on 127.0.0.1:15601):
#   h1 calls service web (an upstream of protocol http);
#   h2-h7 serve web, each with its own HTTP/1.1 app (http_app.py, whose
#   answers name it: x-app-name hK).
# A route for web (signed by an operator) retries gateway errors, connect
# failures and resets (max 3, budget 20%); h1's outlier detection ejects
# after 3 errors in a row.  The load: C=8 threads, each a keep-alive
# connection to h1's upstream, GET /slow?ms=10 one after another (so at
# most C requests are in flight at any instant), every request recorded
# with its start, end, status and serving node.
# What must hold:
#   1. kill -9 of h2's and h3's agents (a third of the endpoints) at one
#      instant T: only requests in flight at T may fail, each at most once,
#      so failures <= in flight at T <= C (retries should mask all: 0
#      expected; "in flight" allows 0.2 s after T for the kernel to close
#      the dead agents' sockets); h1 sees both failed and web served by
#      h4-h7 only; from then on no request goes to h2 or h3 (h1's access
#      log: no try needed a retry, every answer from a survivor).  Both
#      restarted: they rejoin and serve again.
#   2. h4's app (not its agent) killed under load: failures <= in flight
#      at the kill; h1 ejects h4; retries stay within
#      (C + 3) x (ejections + 1) (each ejection costs at most 3 errors in a
#      row plus what was in flight, where without ejection a sixth of all
#      requests would need a retry); the app restarted: h4 serves again.
#   3. rolling restart of h2-h7 with SIGTERM (graceful leave) under load,
#      each back before the next: 0 failed requests (a leaving agent
#      announces it 1.5 s before it stops; a stream cut at its stop is a
#      reset and a new connection to it a connect failure, both retried on
#      another endpoint), and the cluster whole afterwards.
#   4. the caller h1 restarted (SIGTERM) under load: its app sees errors
#      only from the stop until at most 5 s after the start (its first
#      push-pull, which takes well under a second here), every request
#      after that is served.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
APP=$HERE/../integration/http_app.py
LOAD=$HERE/http_load.py
N=7
SERVERS=(2 3 4 5 6 7)
C=8
UP=15601
export WEFT_TESTBED_SERVICE=web
X=$S/x
LOADPID=
declare -A APPPID=()
my_cleanup() {
	local k
	[ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null
	for k in "${!APPPID[@]}"; do kill -9 "${APPPID[$k]}" 2>/dev/null; done
	cleanup
}
trap my_cleanup EXIT

tb up $N || { rc=$?; [ "$rc" -eq 77 ] && exit 77; fail "testbed up"; finish; }
mkdir -p "$X"
chmod 755 "$X"
"$WEFT" cert issue --ca "$S/ca" --name ops --groups operator --valid 1d \
	--out "$X" >/dev/null || { fail "cert issue ops"; finish; }
OPS=(--signer-key "$X/ops.key" --signer-cert "$X/ops.crt")

# ---- configuration: h1 calls web over HTTP, h2-h7 serve it ----
reconf() { # K JSON-MEMBERS: add to host K's config
	python3 - "$S/h$1.json" "$2" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(json.loads("{" + sys.argv[2] + "}"))
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
}
reconf 1 '"upstreams": [{"service": "web", "local_bind": "127.0.0.1:'$UP'", "protocol": "http"}],
 "proxy": {"access_log": "'"$X/h1-access.log"'",
  "outlier": {"consecutive_errors": 3, "base_ejection": "1s", "max_ejection": "4s",
   "max_ejection_percent": 34}},
 "services": []'
for k in "${SERVERS[@]}"; do
	reconf "$k" '"services": [{"name": "web", "port": 8080, "protocol": "http"}]'
done
# Stopped at once (each leave takes 1.5 s), started with the new configs.
for k in $(seq 1 $N); do tb stop "$k" & done
wait
for k in $(seq 1 $N); do tb start "$k" >/dev/null || fail "start h$k"; done
tb wait-alive 60 >/dev/null || { fail "the bed did not converge"; finish; }

app_start() { # K: host K's app, in its namespace
	ip netns exec "$(tb ns "$1")" python3 "$APP" 127.0.0.1 8080 "h$1" v1 \
		>"$X/app-h$1.out" 2>&1 &
	APPPID[$1]=$!
	disown "$!" # killed on purpose: no "Killed" notice from bash
}
for k in "${SERVERS[@]}"; do app_start "$k"; done
apps_ready() { local k; for k in "${SERVERS[@]}"; do grep -q ready "$X/app-h$k.out" || return 1; done; }
wait_for 10 "the apps listen in h2-h7" apps_ready || finish

cat >"$X/route.json" <<'JSON'
{"kind": "route", "name": "web-faults", "service": "web",
 "routes": [{"match": {"path_prefix": "/"},
   "targets": [{"service": "web", "weight": 1}],
   "retry": {"max": 3, "on": ["gateway-error", "connect-failure", "reset"],
             "budget_percent": 20}}]}
JSON
out=$("$WEFT" routes apply "$X/route.json" "${OPS[@]}" --socket "$(sock 2)" 2>&1) ||
	fail "routes apply: $out"
lists() { "$WEFT" routes list --socket "$(sock 1)" 2>/dev/null | grep -q web-faults; }
wait_for 15 "h1 holds the route web-faults (applied at h2)" lists

# alive_web: the nodes h1 lists alive for web
alive_web() {
	api 1 GET /v1/services/web | tail -n +2 | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(",".join(sorted(e["node"] for e in d["endpoints"] if e["status"] == "alive")))' 2>/dev/null
}
is_alive_web() { [ "$(alive_web)" = "$1" ]; }
ALL=h2,h3,h4,h5,h6,h7
wait_for 20 "h1 lists web alive at h2-h7" is_alive_web $ALL

NOW() { date +%s.%N; }
jq1() { python3 -c 'import json,sys; d=json.loads(sys.argv[1])
for k in sys.argv[2:]: d = d.get(k, 0) if isinstance(d, dict) else 0
print(d)' "$@"; }
# load_start NAME: the load in h1's namespace, until load_stop (at most 90 s)
load_start() {
	rm -f "$X/stop"
	LNAME=$1
	ip netns exec "$(tb ns 1)" python3 "$LOAD" run 127.0.0.1 $UP $C 90 "$X/stop" \
		"$X/$1.json" >"$X/$1.out" 2>&1 &
	LOADPID=$!
	local i
	for i in $(seq 1 50); do grep -qs started "$X/$1.out" && break; sleep 0.1; done
	LT0=$(NOW)
}
load_stop() {
	touch "$X/stop"
	wait "$LOADPID"
	LOADPID=
	LT1=$(NOW)
	echo "# load $LNAME: $(tail -1 "$X/$LNAME.out")"
}
win() { python3 "$LOAD" window "$X/$LNAME.json" "$1" "$2"; } # FROM TO
# names_in JSON SET: every 200 in the window came from a node in SET
names_in() {
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); s=set(sys.argv[2].split(","))
sys.exit(0 if d["n"] > 0 and set(d["name"]) <= s else 1)' "$1" "$2"
}
# access FROM TO: h1's access log lines for requests started in [FROM, TO):
# JSON {n, retries, dst: {node: n}}
access() {
	python3 - "$X/h1-access.log" "$1" "$2" <<'PY'
import datetime, json, sys
lo, hi = float(sys.argv[2]), float(sys.argv[3])
n = retries = 0
dst = {}
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    t = datetime.datetime.strptime(e.get("time", "1970-01-01T00:00:00.000Z"),
                                   "%Y-%m-%dT%H:%M:%S.%fZ")
    t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
    if e.get("direction") != "outbound" or not lo <= t < hi:
        continue
    n += 1
    retries += e.get("retries", 0)
    d = str(e.get("dst_node"))
    dst[d] = dst.get(d, 0) + 1
print(json.dumps({"n": n, "retries": retries, "dst": dst}, sort_keys=True))
PY
}
FIG=()
phase() { echo "# ${SECONDS}s: $*"; }
phase "the bed is configured"

# Warm-up: every server has answered (h1 holds a mesh connection to each).
SEEN=""
spread() {
	local j
	load_start warm
	sleep 1
	load_stop
	j=$(win 0 "$LT1")
	SEEN=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(",".join(sorted(d["name"])))' "$j")
	[ "$SEEN" = $ALL ] && [ "$(jq1 "$j" failed)" = 0 ]
}
wait_for 20 "warm-up: every server answers through h1, nothing fails" spread ||
	echo "# served by: $SEEN"

# ==== 1. kill -9 two of the six serving agents under load ====
phase "kill -9 of h2 and h3"
load_start kill
sleep 2
P2=$(tb pid 2) P3=$(tb pid 3)
TK=$(NOW)
kill -9 "$P2" "$P3"
conv() { [ "$(status_of 1 h2)" = failed ] && [ "$(status_of 1 h3)" = failed ] && is_alive_web h4,h5,h6,h7; }
wait_for 15 "kill: h1 sees h2 and h3 failed, web served by h4-h7 only" conv
TC=$(NOW)
sleep 2
load_stop
sleep 0.5 # the access log is written off the loop
f=$(python3 "$LOAD" inflight "$X/kill.json" "$TK" 0.2)
nf=$(jq1 "$f" failed) fly=$(jq1 "$f" inflight)
if [ "$nf" -le "$fly" ] && [ "$fly" -le $C ] && [ "$(jq1 "$f" failed_not_inflight)" = "[]" ]; then
	ok "kill: $nf requests failed, $fly were in flight at the kill (bound: in flight <= C=$C)"
else
	fail "kill: $nf failed, $fly in flight at the kill; failures not in flight: $(jq1 "$f" failed_not_inflight)"
fi
all=$(win 0 "$LT1")
mid=$(access "$TK" "$TC")
FIG+=("kill -9 h2,h3 of 6 under load (C=$C): $nf of $(jq1 "$all" n) requests failed, $fly in flight at the kill; h1 saw both failed $(python3 -c "print(round($TC - $TK, 1))") s after; $(jq1 "$mid" retries) retries until then")
late=$(win "$TC" "$LT1")
names_in "$late" h4,h5,h6,h7 && [ "$(jq1 "$late" failed)" = 0 ] &&
	ok "kill: after h1 saw them failed, $(jq1 "$late" n) requests, all served by survivors ($(jq1 "$late" name))" ||
	fail "kill: after convergence: $late"
a=$(access "$TC" "$LT1")
python3 -c 'import json,sys; d=json.loads(sys.argv[1])
sys.exit(0 if d["n"] > 0 and d["retries"] == 0 and not set(d["dst"]) & {"h2", "h3"} else 1)' "$a" &&
	ok "kill: h1's access log: no request after convergence tried h2 or h3 ($(jq1 "$a" n) requests, 0 retries)" ||
	fail "kill: h1's access log after convergence: $a"

# The killed hosts come back, joining from their snapshots (members.json,
# written at most 2 s after a change: long before the kill).
for k in 2 3; do
	m=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["members"]))' \
		"$S/h$k/members.json" 2>/dev/null || echo 0)
	[ "$m" -ge $((N - 1)) ] && ok "h$k's snapshot, left by the kill, names $m other members" ||
		fail "h$k's snapshot names $m members (want $((N - 1)))"
done
for k in 2 3; do tb start "$k" >/dev/null || fail "restart h$k"; done
wait_for 20 "h2 and h3 restarted: h1 lists web alive at h2-h7 again" is_alive_web $ALL
back23() {
	local j
	load_start back
	sleep 1
	load_stop
	j=$(win 0 "$LT1")
	[ "$(jq1 "$j" name h2)" -gt 0 ] && [ "$(jq1 "$j" name h3)" -gt 0 ]; }
wait_for 20 "h2 and h3 serve again" back23

# ==== 2. an app dies, its agent lives ====
phase "h4's app killed"
E0=$(grep -c 'msg="endpoint ejected".*node=h4' "$S/h1.log")
load_start appkill
sleep 2
TA=$(NOW)
kill -9 "${APPPID[4]}"
unset 'APPPID[4]'
ejected() { [ "$(grep -c 'msg="endpoint ejected".*node=h4' "$S/h1.log")" -gt "$E0" ]; }
wait_for 10 "app killed: h1 ejects h4" ejected
sleep 4
load_stop
sleep 0.5
f=$(python3 "$LOAD" inflight "$X/appkill.json" "$TA" 0.2)
nf=$(jq1 "$f" failed) fly=$(jq1 "$f" inflight)
if [ "$nf" -le "$fly" ] && [ "$(jq1 "$f" failed_not_inflight)" = "[]" ]; then
	ok "app killed: $nf requests failed, $fly were in flight at the kill"
else
	fail "app killed: $nf failed, $fly in flight; failures not in flight: $(jq1 "$f" failed_not_inflight)"
fi
a=$(access "$TA" "$LT1")
nej=$(($(grep -c 'msg="endpoint ejected".*node=h4' "$S/h1.log") - E0))
bound=$(((C + 3) * (nej + 1)))
all=$(win "$TA" "$LT1")
[ "$(jq1 "$a" retries)" -le "$bound" ] &&
	ok "app killed: $(jq1 "$a" retries) retries for $(jq1 "$a" n) requests, $nej ejections of h4 (bound (C+3) x (ejections+1) = $bound)" ||
	fail "app killed: $(jq1 "$a" retries) retries, over (C+3) x ($nej+1) = $bound: $a"
[ "$(jq1 "$all" name h4)" = 0 ] || fail "app killed: h4 answered $(jq1 "$all" name h4) requests after its app died"
FIG+=("app of h4 killed under load: $nf of $(jq1 "$all" n) failed ($fly in flight), $(jq1 "$a" retries) retries, $nej ejections")
app_start 4
wait_for 10 "h4's app restarted" grep -q ready "$X/app-h4.out"
back4() { load_start back; sleep 1; load_stop; [ "$(jq1 "$(win 0 "$LT1")" name h4)" -gt 0 ]; }
wait_for 20 "the ejection ends: h4 serves again" back4

# ==== 3. rolling restart with SIGTERM under load ====
phase "rolling restart"
load_start rolling
sleep 1
back() { [ "$(status_of 1 "h$1")" = alive ] && is_alive_web $ALL; }
for k in "${SERVERS[@]}"; do
	tb restart "$k" >/dev/null || fail "rolling: restart h$k"
	wait_for 15 "rolling: h$k back, alive at h1" back "$k"
done
sleep 1
load_stop
all=$(win 0 "$LT1")
[ "$(jq1 "$all" failed)" = 0 ] &&
	ok "rolling restart of h2-h7: $(jq1 "$all" n) requests, none failed (by node $(jq1 "$all" name))" ||
	fail "rolling restart: $(jq1 "$all" failed) of $(jq1 "$all" n) failed: $(jq1 "$all" failures)"
a=$(access "$LT0" "$LT1")
FIG+=("rolling restart of 6 servers under load: $(jq1 "$all" failed) of $(jq1 "$all" n) failed, $(jq1 "$a" retries) retries, $((${LT1%.*} - ${LT0%.*})) s")
tb wait-alive 20 >/dev/null && ok "rolling: the cluster is whole" || fail "rolling: cluster not whole"

# ==== 4. the caller restarted under load ====
phase "the caller restarted"
R=5
load_start caller
sleep 1
TD=$(NOW)
tb restart 1 >/dev/null || fail "caller: restart h1"
TU=$(NOW)
sleep $((R + 1))
load_stop
f=$(python3 - "$X/caller.json" "$TD" "$TU" "$R" <<'PY'
import json, sys
recs = json.load(open(sys.argv[1]))
td, tu, r = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
bad = [x for x in recs if x[2] != 200]
outside = [x for x in bad if x[1] < td or x[0] > tu + r]
after = [x for x in recs if x[0] > tu + r]
first = min((x[1] for x in recs if x[2] == 200 and x[0] >= tu), default=None)
kinds = {}
for x in bad:
    kinds[str(x[2])] = kinds.get(str(x[2]), 0) + 1
nf = [x for x in bad if x[2] == 404]
print(json.dumps({"failed": len(bad), "outside": outside[:10], "after": len(after),
                  "n404": len(nf),
                  "ms404": round((nf[-1][1] - nf[0][0]) * 1000) if nf else 0,
                  "first_ok_after_start": None if first is None else round(first - tu, 2),
                  "kinds": kinds, "down_s": round(tu - td, 2)}))
PY
)
if [ "$(jq1 "$f" outside)" = "[]" ] && [ "$(jq1 "$f" after)" -gt 0 ]; then
	ok "caller restarted: $(jq1 "$f" failed) errors, all between the stop and ${R} s after the start ($(jq1 "$f" kinds)); first 200 $(jq1 "$f" first_ok_after_start) s after the start, all $(jq1 "$f" after) later requests served"
else
	fail "caller restarted: $f"
fi
[ "$(jq1 "$f" n404)" -gt 0 ] &&
	echo "FINDING: a restarted caller's upstream answers 404 'no such service: web' (not a connection error, nor a retriable 503) to $(jq1 "$f" n404) requests for $(jq1 "$f" ms404) ms after it starts listening, until its first push-pull: the snapshot (members.json) keeps member addresses only, so the upstream listens before the agent knows the service or its route"
FIG+=("caller h1 restarted under load: down $(jq1 "$f" down_s) s, $(jq1 "$f" failed) errors ($(jq1 "$f" kinds)), served again $(jq1 "$f" first_ok_after_start) s after its start")
tb wait-alive 20 >/dev/null && ok "the cluster is whole at the end" || fail "cluster not whole at the end"
for k in $(seq 1 $N); do tb pid "$k" >/dev/null || fail "h$k's weftd is not running"; done
phase "done"
printf 'figure: %s\n' "${FIG[@]}"
finish
