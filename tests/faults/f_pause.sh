#!/usr/bin/env bash
# One host paused (SIGSTOP) for 10 s, a stand-in for a host starved of CPU.
# What must hold (Lifeguard):
#   - the others see it suspect, then failed (10 s outlasts the suspicion
#     bounds of these timings);
#   - after SIGCONT it refutes (a higher incarnation) and every host sees
#     it alive again;
#   - no other host is declared failed by anyone at any time.
source "$(dirname "$0")/lib.sh"
N=5
P=3
bed_up $N
OTHERS=(1 2 4 5)
for k in "${OTHERS[@]}"; do record_events "$k" "$S/ev-h$k.jsonl"; done
INC0=$(field_of 1 h$P incarnation)
sleep 0.5

tb pause $P
T0=$SECONDS
seen_suspect() { grep -h "\"name\": *\"h$P\"" "$S"/ev-h*.jsonl | grep -q '"suspect"'; }
all_failed() {
	local k
	for k in "${OTHERS[@]}"; do [ "$(status_of "$k" h$P)" = failed ] || return 1; done
}
wait_for 10 "h$P paused: seen suspect" seen_suspect
wait_for 10 "h$P paused: seen failed by all others" all_failed
FAILED_AT=$((SECONDS - T0))
sleep $((10 - (SECONDS - T0) > 0 ? 10 - (SECONDS - T0) : 0))
tb resume $P
T1=$SECONDS
all_alive_again() {
	local k
	for k in "${OTHERS[@]}"; do [ "$(status_of "$k" h$P)" = alive ] || return 1; done
	[ "$(count_status $P alive)" -eq $N ]
}
wait_for 20 "h$P resumed: alive again at every host" all_alive_again
BACK=$((SECONDS - T1))
INC1=$(field_of 1 h$P incarnation)
if [ -n "$INC1" ] && [ "$INC1" -gt "$INC0" ]; then
	ok "h$P refuted: incarnation $INC0 -> $INC1"
else
	fail "h$P incarnation did not rise ($INC0 -> $INC1)"
fi
sleep 1
stop_events
OTHER_FAILS=$(cat "$S"/ev-h*.jsonl | grep '"failed"' | grep -vc "\"name\": *\"h$P\"")
OTHER_SUSP=$(cat "$S"/ev-h*.jsonl | grep '"suspect"' | grep -vc "\"name\": *\"h$P\"")
[ "$OTHER_FAILS" -eq 0 ] && ok "no other host declared failed" ||
	fail "$OTHER_FAILS failed events for hosts that were never paused"
echo "figure: pause 10 s: failed at all others after ~${FAILED_AT}s, alive everywhere ${BACK}s after SIGCONT;" \
	"suspicions of other hosts: $OTHER_SUSP, failures of other hosts: $OTHER_FAILS"
finish
