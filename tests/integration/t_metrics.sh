#!/usr/bin/env bash
# Metrics: GET /v1/metrics on the socket and GET /metrics over TCP
# (metrics_addr) give Prometheus text that parses (our checker, and
# `promtool check metrics` when installed); counters move with gossip
# traffic, reloads and check runs.  Exits 77 (skipped) at the end when all
# else passed but promtool is not installed (Debian package prometheus).
source "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
IP1=127.0.0.155 IP2=127.0.0.156 MPORT=17372

make_ca "$T/ca" it-root
make_cert "$T/ca" n1 db
make_cert "$T/ca" n2
write_config n1 $IP1 "" "$T/ca/ca.crt" ", \"metrics_addr\": \"$IP1:$MPORT\",
 \"services\": [{\"name\": \"db\", \"port\": 5432, \"checks\": [
   {\"id\": \"db-true\", \"exec\": [\"true\"], \"interval\": \"300ms\"}]}]"
write_config n2 $IP2 $IP1
start n1
start n2
wait_sock n1 || finish
wait_sock n2 || finish
wait_for 20 "2 members alive on n1" bash -c \
	"[ \$(\"$WEFT\" members --json --socket $(sock n1) | grep -c '\"alive\"') -eq 2 ]"

scrape() { api n1 GET /v1/metrics | tail -n +2; }
check_passing() {
	"$WEFT" checks --json --socket "$(sock n1)" | grep -q '"status": *"passing"'
}
wait_for 10 "db-true has run" check_passing
tcp_scrape() { # PATH: prints "STATUS" then the body
	python3 - "$IP1" "$MPORT" "$1" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(f"GET {sys.argv[3]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
data = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    data += c
head, _, body = data.partition(b"\r\n\r\n")
print(head.split(b" ")[1].decode())
print(head.decode().lower().count("content-type: text/plain; version=0.0.4"))
sys.stdout.write(body.decode())
PY
}
# metric TEXT NAME{LABELS}: the value of one sample
metric() {
	grep -F "$2 " <<<"$1" | grep -v '^#' | head -1 | awk '{print $NF}'
}

[ "$(api n1 GET /v1/metrics | head -1)" = 200 ] && ok "GET /v1/metrics: 200" || fail "GET /v1/metrics"
M1=$(scrape)
echo "$M1" >"$T/m1.txt"
if out=$(python3 "$HERE/metrics_check.py" <"$T/m1.txt"); then
	ok "exposition format ($out)"
else
	fail "exposition format: $out"
fi
for fam in weft_gossip_members weft_gossip_probes_total \
	weft_gossip_packets_total weft_gossip_dropped_packets_total \
	weft_gossip_health_score weft_cert_expiry_timestamp_seconds \
	weft_cluster_cert_expiry_soonest_timestamp_seconds \
	weft_config_reloads_total weft_process_resident_memory_bytes \
	weft_process_open_fds weft_health_check_status \
	weft_gossip_broadcast_queue weft_gossip_probe_rtt_seconds \
	weft_gossip_pushpull_duration_seconds; do
	grep -q "^# TYPE $fam " "$T/m1.txt" && ok "family $fam" || fail "no family $fam"
done
[ "$(metric "$M1" 'weft_gossip_members{state="alive"}')" = 2 ] &&
	ok "2 alive members in the metrics" || fail "alive members: $(metric "$M1" 'weft_gossip_members{state="alive"}')"
[ "$(metric "$M1" 'weft_health_check_status{check="db-true",service="db",status="passing"}')" = 1 ] &&
	ok "check state in the metrics" || fail "check state metric"
# n2 joined through n1: its push-pull was answered, and took some time.
pp=$(api n2 GET /v1/metrics | grep '^weft_gossip_pushpull_duration_seconds_count ' | cut -d' ' -f2)
[ "${pp:-0}" -ge 1 ] && ok "n2's push-pulls answered: $pp" || fail "n2 push-pull count: '$pp'"
rss=$(metric "$M1" weft_process_resident_memory_bytes)
[ "${rss:-0}" -gt 1000000 ] && ok "RSS $rss bytes" || fail "RSS: $rss"

"$WEFT" reload --socket "$(sock n1)" >/dev/null || fail "weft reload"
sleep 2
M2=$(scrape)
for s in 'weft_gossip_packets_total{direction="in"}' \
	'weft_gossip_packets_total{direction="out"}' \
	'weft_gossip_packet_bytes_total{direction="in"}' \
	'weft_gossip_probes_total' \
	'weft_gossip_probe_rtt_seconds_count' \
	'weft_health_check_results_total{check="db-true",service="db",result="passing"}' \
	'weft_metrics_scrapes_total' \
	'weft_config_reloads_total{result="ok"}'; do
	a=$(metric "$M1" "$s") b=$(metric "$M2" "$s")
	[ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ] && ok "$s moved: $a -> $b" ||
		fail "$s did not move: $a -> $b"
done

out=$(tcp_scrape /metrics)
st=$(head -1 <<<"$out")
ct=$(sed -n 2p <<<"$out")
[ "$st" = 200 ] && [ "$ct" = 1 ] && ok "GET /metrics over TCP: 200, text/plain version 0.0.4" ||
	fail "TCP metrics: status $st, content-type seen $ct"
tail -n +3 <<<"$out" >"$T/m3.txt"
if out=$(python3 "$HERE/metrics_check.py" <"$T/m3.txt"); then
	ok "TCP exposition format ($out)"
else
	fail "TCP exposition format: $out"
fi
[ "$(tcp_scrape /other | head -1)" = 404 ] && ok "TCP: other paths 404" || fail "TCP other path"

if command -v promtool >/dev/null; then
	if out=$(promtool check metrics <"$T/m3.txt" 2>&1); then
		ok "promtool check metrics"
	else
		fail "promtool check metrics: $out"
	fi
else
	echo "SKIP: promtool not installed (Debian package prometheus)"
	[ "$FAILS" -eq 0 ] && exit 77
fi
finish
