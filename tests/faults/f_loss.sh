#!/usr/bin/env bash
# Packet loss on every host (egress of every host's link, so each packet
# has one PCT% chance to be lost), 5 hosts, fast gossip timings.
# What must hold:
#   10%: no live member is declared failed by anyone during the loss, and
#        all still see all alive at its end.
#   30%: (measured: false suspicions and deaths, printed as figures) and
#        after the loss stops every host sees every host alive again
#        within 30 s: loss never leaves the cluster split.
# Quick: 20 s of each; LONG=1 (f_loss_long): 2 minutes of each.
source "$(dirname "$0")/lib.sh"
N=5
SECS=20
[ "${LONG:-0}" = 1 ] && SECS=120
bed_up $N

run_loss() { # PCT
	local pct=$1 k
	for k in $(seq 1 $N); do
		record_events "$k" "$S/ev-$pct-h$k.jsonl"
	done
	sleep 0.5
	for k in $(seq 1 $N); do tb loss "$k" "$pct"; done
	sleep "$SECS"
	for k in $(seq 1 $N); do tb loss "$k" 0; done
	ALL_ALIVE=1
	for k in $(seq 1 $N); do
		[ "$(count_status "$k" alive)" -eq $N ] || ALL_ALIVE=0
	done
	sleep 0.5
	stop_events
	SUSPECT=$(cat "$S"/ev-"$pct"-h*.jsonl | grep -c '"event": *"suspect"')
	FAILED=$(cat "$S"/ev-"$pct"-h*.jsonl | grep -c '"event": *"failed"')
	echo "figure: ${pct}% loss for ${SECS}s on $N hosts: $SUSPECT suspect events," \
		"$FAILED failed events (summed over all hosts' views)," \
		"all alive everywhere at the end: $([ $ALL_ALIVE = 1 ] && echo yes || echo no)"
}

run_loss 10
if [ "$FAILED" -eq 0 ]; then
	ok "10% loss: no live member declared failed anywhere"
else
	fail "10% loss: $FAILED failed events for live members"
	grep -h '"failed"' "$S"/ev-10-h*.jsonl | head -5 >&2
fi
[ "$ALL_ALIVE" = 1 ] && ok "10% loss: all see all alive at the end" ||
	fail "10% loss: not all alive at the end"
tb wait-alive 30 >/dev/null || fail "after 10% loss: no convergence"

run_loss 30
all_alive() {
	local k
	for k in $(seq 1 $N); do
		[ "$(count_status "$k" alive)" -eq $N ] || return 1
	done
}
wait_for 30 "after 30% loss stops: every host sees all $N alive" all_alive
finish
