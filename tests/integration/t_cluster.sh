#!/usr/bin/env bash
# Eight agents join through one seed; a kill -9 is seen as failed by all;
# a graceful leave is seen as left by all.
source "$(dirname "$0")/lib.sh"

make_ca "$T/ca" it-root
N=8
for i in $(seq 1 $N); do
	make_cert "$T/ca" "n$i"
	write_config "n$i" "127.0.0.$((i + 1))" "$([ "$i" -gt 1 ] && echo 127.0.0.2)"
done
for i in $(seq 1 $N); do start "n$i"; done
for i in $(seq 1 $N); do wait_sock "n$i" || finish; done

all_see() { # STATUS COUNT
	local i
	for i in "${LIVE[@]}"; do
		[ "$(count "n$i" "$1")" -eq "$2" ] || return 1
	done
}

LIVE=($(seq 1 $N))
wait_for 30 "all $N agents list $N alive members" all_see alive $N

kill -9 "${PIDS[n5]}"
unset 'PIDS[n5]'
LIVE=(1 2 3 4 6 7 8)
all_see_failed() {
	local i
	for i in "${LIVE[@]}"; do
		[ "$(status_of "n$i" n5)" = failed ] || return 1
	done
}
wait_for 30 "n5 (kill -9) seen failed by all" all_see_failed
# Its host answered packets to its closed port with ICMP port
# unreachable, which the agents read (IP_RECVERR) and act on.
refusals() {
	local i n=0 v
	for i in "${LIVE[@]}"; do
		v=$(api "n$i" GET /v1/metrics | awk '$1 == "weft_gossip_refusals_total" {print $2}')
		n=$((n + ${v:-0}))
	done
	echo $n
}
r=$(refusals)
[ "$r" -gt 0 ] && ok "the agents heard $r ICMP refusals for n5's port" ||
	fail "no ICMP refusal counted after n5's crash"

"$WEFT" leave --socket "$(sock n8)" >/dev/null || fail "weft leave"
wait_for 10 "n8 exits after leave" bash -c "! kill -0 ${PIDS[n8]} 2>/dev/null"
unset 'PIDS[n8]'
LIVE=(1 2 3 4 6 7)
all_see_left() {
	local i
	for i in "${LIVE[@]}"; do
		[ "$(status_of "n$i" n8)" = left ] || return 1
	done
}
wait_for 20 "n8 (weft leave) seen left by all" all_see_left
wait_for 5 "no live agent is seen failed but n5" \
	bash -c "[ \$(\"$WEFT\" members --json --socket $(sock n1) | grep -c '\"failed\"') -eq 1 ]"
finish
