#!/usr/bin/env bash
# An agent restarted while its seed is down rejoins through the members
# its snapshot remembers.
source "$(dirname "$0")/lib.sh"

make_ca "$T/ca" it-root
for i in 1 2 3; do
	make_cert "$T/ca" "n$i"
	write_config "n$i" "127.0.0.$((i + 10))" "$([ "$i" -gt 1 ] && echo 127.0.0.11)"
	start "n$i"
done
for i in 1 2 3; do wait_sock "n$i" || finish; done
count3() { [ "$(count n3 alive)" -eq 3 ]; }
wait_for 20 "n3 sees 3 alive" count3
wait_for 10 "n3 wrote its snapshot" grep -q n2 "$T/n3/members.json"

kill -9 "${PIDS[n3]}" "${PIDS[n1]}"
unset 'PIDS[n3]' 'PIDS[n1]'
n3_failed() { [ "$(status_of n2 n3)" = failed ]; }
wait_for 30 "n2 sees n3 failed" n3_failed

start n3
wait_sock n3 || finish
n3_back() { [ "$(status_of n2 n3)" = alive ] && [ "$(status_of n3 n2)" = alive ]; }
wait_for 30 "n3 rejoined through its snapshot with the seed down" n3_back
finish
