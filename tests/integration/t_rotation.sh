#!/usr/bin/env bash
# Health checks steer traffic: service "who" runs behind agents b and c,
# each with an HTTP check; an app connects through agent a's upstream port
# and is told which backend answered.  When b's check fails, new
# connections all go to c; when it passes again, b gets traffic again;
# maintenance on c sends everything to b.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

A=127.0.0.165 B=127.0.0.166 C=127.0.0.167
UP=18165              # a's upstream port for "who"
WHO_B=18166 WHO_C=18167   # the backends, on 127.0.0.1
HB=18168 HC=18169         # their health endpoints (HTTP), on 127.0.0.1
GB=18170 GC=18171         # (gRPC ports of health_server.py, unused)

# who_server NAME PORT: answers every connection with NAME and closes.
who_server() {
	python3 - "$1" "$2" >"$T/who_$1.out" 2>&1 <<'PY' &
import socket, sys
name, port = sys.argv[1].encode(), int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(64)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.sendall(name + b"\n")
        c.shutdown(socket.SHUT_WR)
        c.settimeout(2)
        while c.recv(4096):
            pass
    except OSError:
        pass
    c.close()
PY
	PIDS[who_$1]=$!
	wait_for 10 "backend $1 ready" grep -q ready "$T/who_$1.out"
}
health_server() { # NAME HTTP_PORT GRPC_PORT
	mkdir -p "$T/h_$1"
	python3 "$HERE/health_server.py" 127.0.0.1 "$2" "$3" "$T/h_$1" \
		>"$T/h_$1.out" 2>&1 &
	PIDS[h_$1]=$!
	wait_for 10 "health server of $1 ready" grep -q ready "$T/h_$1.out"
}
who_service() { # PORT HEALTH_PORT
	echo ", \"services\": [{\"name\": \"who\", \"port\": $1, \"protocol\": \"tcp\",
	  \"checks\": [{\"http\": \"http://127.0.0.1:$2/health\", \"interval\": \"300ms\"}]}]"
}

make_ca "$T/ca" it-root
make_cert "$T/ca" a
make_cert "$T/ca" b who
make_cert "$T/ca" c who
write_config a $A "" "" ", \"upstreams\": [{\"service\": \"who\", \"local_bind\": \"$A:$UP\"}]"
write_config b $B $A "" "$(who_service $WHO_B $HB)"
write_config c $C $A "" "$(who_service $WHO_C $HC)"
who_server b $WHO_B
who_server c $WHO_C
health_server b $HB $GB
health_server c $HC $GC
for n in a b c; do start $n; done
for n in a b c; do wait_sock $n || finish; done

# ep_health AGENT NODE: the health of NODE's "who" endpoint as AGENT sees it
ep_health() {
	"$WEFT" services who --json --socket "$(sock "$1")" 2>/dev/null |
		python3 -c 'import json,sys
d = json.load(sys.stdin)
print([e["health"] for e in d["endpoints"] if e["node"] == sys.argv[1]][0])' "$2"
}
both_passing() { [ "$(ep_health a b)" = passing ] && [ "$(ep_health a c)" = passing ]; }
# tally N: connects N times through a; prints "b=.. c=.. other=.."
tally() {
	python3 - $A $UP "$1" <<'PY'
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
count = {"b": 0, "c": 0, "other": 0}
for _ in range(n):
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.settimeout(5)
        data = b""
        while True:
            chunk = s.recv(64)
            if not chunk:
                break
            data += chunk
        s.close()
        name = data.decode(errors="replace").strip()
    except OSError:
        name = "other"
    count[name if name in count else "other"] += 1
print(" ".join(f"{k}={v}" for k, v in count.items()))
PY
}
count_of() { grep -o "$1=[0-9]*" <<<"$2" | cut -d= -f2; }

wait_for 20 "a sees both endpoints passing" both_passing
t=$(tally 40)
[ "$(count_of b "$t")" -gt 0 ] && [ "$(count_of c "$t")" -gt 0 ] &&
	[ "$(count_of other "$t")" -eq 0 ] &&
	ok "both backends get traffic: $t" || fail "before: $t"

echo 500 >"$T/h_b/http"
wait_for 15 "b's check fails: a sees b critical" bash -c "[ \"\$(\"$WEFT\" services who --json --socket $(sock a) | python3 -c 'import json,sys
print([e[\"health\"] for e in json.load(sys.stdin)[\"endpoints\"] if e[\"node\"] == \"b\"][0])')\" = critical ]"
t=$(tally 30)
[ "$(count_of c "$t")" -eq 30 ] && ok "every new connection goes to c: $t" ||
	fail "with b critical: $t"

rm -f "$T/h_b/http"
wait_for 15 "b passes again" both_passing
t=$(tally 40)
[ "$(count_of b "$t")" -gt 0 ] && [ "$(count_of other "$t")" -eq 0 ] &&
	ok "b gets traffic again: $t" || fail "after recovery: $t"

"$WEFT" maint enable who --reason "drain c" --socket "$(sock c)" >/dev/null ||
	fail "weft maint enable on c"
wait_for 15 "a sees c in maintenance" bash -c "[ \"\$(\"$WEFT\" services who --json --socket $(sock a) | python3 -c 'import json,sys
print([e[\"health\"] for e in json.load(sys.stdin)[\"endpoints\"] if e[\"node\"] == \"c\"][0])')\" = maintenance ]"
t=$(tally 30)
[ "$(count_of b "$t")" -eq 30 ] && ok "maintenance drains c: $t" ||
	fail "with c in maintenance: $t"
"$WEFT" maint disable who --socket "$(sock c)" >/dev/null
wait_for 15 "c back from maintenance" both_passing
finish
