#!/usr/bin/env bash
# Hostile gossip against h1, sent from inside h2's namespace.  h2 is a
# valid member whose key the attacker holds; h3 is the victim of forgeries;
# h4 gets revoked and keeps sending.
# What must hold for each attack: every packet dropped or refused, counted
# under its reason in h1's GET /v1/metrics (exactly as many as sent where
# one packet is one drop), and h1's state unchanged: every member's status
# and incarnation, h3's address, h2's services, h1's objects.  Controls
# (a valid ping, a valid record) show the crafted packets reach the core.
source "$(dirname "$0")/lib.sh"
ATTACK=${ATTACK:?}
N=4
bed_up $N
C=$S/certs
T1="--to 198.18.0.1:7370 --target-cert $C/h1.crt"
ME="--key $C/h2.key --cert $C/h2.crt"
atk() { tb exec 2 "$ATTACK" "$@"; }

if have_metrics; then
	ok "h1 has GET /v1/metrics: drop counters are asserted"
else
	echo "note: no GET /v1/metrics in this weftd: only state is checked"
fi
drops() { metric 1 weft_gossip_dropped_packets_total "reason=\"$1\""; }
# counters [K]: every counter of interest at host K (default 1), one line,
# from one scrape
counters() {
	api "${1:-1}" GET /v1/metrics | awk '
		/^weft_gossip_dropped_packets_total\{/ { split($1, a, "\""); v[a[2]] = $2 }
		/^weft_gossip_refused_total\{/ { split($1, a, "\""); v[a[2] == "record" ? "rec" : "obj"] = $2 }
		END { printf "unknown_key=%d revoked_key=%d bad_seal=%d malformed=%d rec=%d obj=%d\n",
			v["unknown_key"], v["revoked_key"], v["bad_seal"], v["malformed"], v["rec"], v["obj"] }'
}
# delta NAME BEFORE AFTER: how much counter NAME rose
delta() {
	local b a
	b=$(printf '%s\n' "$2" | tr ' ' '\n' | awk -F= -v n="$1" '$1 == n {print $2}')
	a=$(printf '%s\n' "$3" | tr ' ' '\n' | awk -F= -v n="$1" '$1 == n {print $2}')
	echo $(( ${a%.*} - ${b%.*} ))
}
# The state that must not change: members (status, incarnation, address,
# services) and objects.
state() {
	members 1 | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(sorted("%s=%s/%s/%s/%s" % (m["name"], m["status"], m["incarnation"], m["addr"], m["services"]) for m in d["members"])))'
	api 1 GET /v1/objects | tail -n +2
}

# expect CASE COUNTER N [MODE ARGS...]: runs the attack, checks counter
# COUNTER rose by exactly N (at least M when N is "min:M"), the other drop
# counters did not, and the state is unchanged.
expect() {
	local what=$1 ctr=$2 n=$3 before after st0 st1 d out c
	shift 3
	st0=$(state)
	before=$(counters)
	out=$(atk "$@") || { fail "$what: attack-gossip failed"; return; }
	sleep 0.5
	after=$(counters)
	st1=$(state)
	if have_metrics; then
		d=$(delta "$ctr" "$before" "$after")
		local good=0
		case $n in
		+) [ "$d" -ge 1 ] && good=1 ;;
		min:*) [ "$d" -ge "${n#min:}" ] && good=1 ;;
		*) [ "$d" -eq "$n" ] && good=1 ;;
		esac
		if [ "$good" -eq 1 ]; then
			ok "$what: counted under $ctr (+$d) [$out]"
		else
			fail "$what: $ctr rose by $d, expected $n ($before -> $after)"
		fi
		for c in unknown_key revoked_key bad_seal malformed rec obj; do
			[ "$c" = "$ctr" ] && continue
			[ "$(delta "$c" "$before" "$after")" -eq 0 ] ||
				fail "$what: $c also rose ($before -> $after)"
		done
	fi
	[ "$st0" = "$st1" ] && ok "$what: h1's state unchanged" ||
		{ fail "$what: h1's state changed"; diff <(echo "$st0") <(echo "$st1") >&2; }
	FIG+=("$what: $ctr +${d:-?}")
}
FIG=()

# --- controls: the crafting is right, so refusals below are the checks ---
before=$(counters)
out=$(atk ping $T1 $ME --count 20)
after=$(counters)
ans=$(echo "$out" | grep -o '"answers": [0-9]*' | grep -o '[0-9]*$')
[ "${ans:-0}" -ge 1 ] && [ "$before" = "$after" ] &&
	ok "control: 20 valid pings from h2's key are answered ($ans acks), nothing dropped" ||
	fail "control ping: $out; $before -> $after"
INC2=$(field_of 1 h2 incarnation)
atk own-record $T1 $ME --inc $((INC2 + 5)) --addr 198.18.0.2:7370 >/dev/null
wait_for 5 "control: a valid crafted record of h2 is accepted (incarnation -> $((INC2 + 5)))" \
	bash -c "[ \"\$(\"$WEFT\" members --json --socket $(sock 1) | tr -d ' \n' | grep -o '{[^{}]*\"name\":\"h2\"[^{}]*}' | grep -o '\"incarnation\":[0-9]*' | cut -d: -f2)\" -ge $((INC2 + 5)) ]"
tb wait-alive 20 >/dev/null
sleep 1

# --- the attacks ---
P0=$(metric 1 weft_gossip_unknown_pulls_total)
expect "packets sealed by an unknown key id" unknown_key 200 unknown-key $T1 --count 200
echo "figure: 200 packets from unknown keys, all from one address: $(( ${P0%.*} - 0 )) -> $(metric 1 weft_gossip_unknown_pulls_total) pulls started towards the sender's address (at most one per address per 5 s)"
expect "a member's key id, bytes that are not its seal" bad_seal 200 bad-seal $T1 $ME --count 200
INC2=$(field_of 1 h2 incarnation)
expect "h2's record with a forged signature" rec 20 forged-sig $T1 $ME --inc $((INC2 + 1)) --count 20
INC3=$(field_of 1 h3 incarnation)
expect "h2 forging h3's record (h3's certificate)" rec 20 forge-record $T1 $ME \
	--victim-cert $C/h3.crt --inc $((INC3 + 1)) --addr 198.18.0.2:7370 --count 20
expect "h2 forging h3's record (its own certificate)" rec 20 forge-record-mycert $T1 $ME \
	--victim-cert $C/h3.crt --inc $((INC3 + 1)) --addr 198.18.0.2:7370 --count 20
expect "h2 forging h3's leave" rec 20 forge-leave $T1 $ME --victim-cert $C/h3.crt \
	--inc "$INC3" --count 20
expect "h2's record claiming service 'admin' its certificate lacks" rec 20 service-claim \
	$T1 $ME --service admin --inc $((INC2 + 1)) --addr 198.18.0.2:7370 --count 20
[ "$(api 1 GET /v1/services/admin | head -1)" = 404 ] && ok "no endpoint of 'admin' at h1" ||
	fail "h1 lists service admin"
expect "an intention signed by h2, not an operator" obj 20 object $T1 $ME --kind intention \
	--name attack --count 20
expect "a route signed by h2, not an operator" obj 20 object $T1 $ME --kind route \
	--name attack --count 20
api 1 GET /v1/objects | grep -q '"attack"' && fail "h1 holds an object named attack" ||
	ok "h1 holds no object from the non-operator"

# Garbage splits between reasons (bad version: bad_seal; version 1 with a
# random key id: unknown_key), so its check is the sum.
before=$(counters); st0=$(state)
atk garbage --to 198.18.0.1:7370 --count 400 >/dev/null
sleep 1
after=$(counters); st1=$(state)
if have_metrics; then
	sum=$(( $(delta unknown_key "$before" "$after") + $(delta bad_seal "$before" "$after") + $(delta malformed "$before" "$after") ))
	[ "$sum" -eq 400 ] && ok "400 random datagrams: all 400 dropped ($before -> $after)" ||
		fail "random datagrams: $sum of 400 dropped"
	FIG+=("random datagrams: 400 dropped")
fi
[ "$st0" = "$st1" ] && ok "random datagrams: h1's state unchanged" || fail "random datagrams changed h1's state"

# --- replays: packets captured on h1's link while h3 was killed (the dead
# and suspect claims about it) and restarted, replayed after it is back ---
HUB="$WEFT_TESTBED_TAG-hub"
ip netns exec "$HUB" python3 "$(dirname "$0")/capture.py" h1 198.18.0.1 7370 "$S/cap.bin" 8 >"$S/cap.count" &
CAPPID=$!
sleep 0.5
tb kill 3
all_see_h3() { local k; for k in 1 2 4; do [ "$(status_of "$k" h3)" = "$1" ] || return 1; done; }
wait_for 10 "h3 killed: seen failed" all_see_h3 failed
tb start 3 >/dev/null
wait_for 10 "h3 restarted: seen alive" all_see_h3 alive
wait "$CAPPID"
NCAP=$(cat "$S/cap.count")
[ "${NCAP:-0}" -gt 10 ] && ok "captured $NCAP packets to h1" || fail "capture got ${NCAP:-0} packets"
tb wait-alive 20 >/dev/null
sleep 2
st0=$(state); before=$(counters)
atk replay --to 198.18.0.1:7370 --file "$S/cap.bin" --count 3 >"$S/replay.out"
sleep 2
st1=$(state); after=$(counters)
[ "$st0" = "$st1" ] && ok "replaying $NCAP captured packets 3 times to h1: state unchanged (h3 stays alive at incarnation $(field_of 1 h3 incarnation))" ||
	{ fail "replay changed h1's state"; diff <(echo "$st0") <(echo "$st1") >&2; }
all_see_h3 alive && ok "after the replay every host sees h3 alive" || fail "h3 not alive after the replay"
echo "figure: replay to h1: $(cat "$S/replay.out") (answers: acks h1 sent to the replayer's address); counters $before -> $after"
before=$(counters 4)
atk replay --to 198.18.0.4:7370 --file "$S/cap.bin" --count 1 >/dev/null
sleep 1
after=$(counters 4)
# Sealed for h1: at h4 they do not open (bad_seal), or, those h4 itself
# sent, name a sender that is h4 (unknown_key).
sum=$(( $(delta bad_seal "$before" "$after") + $(delta unknown_key "$before" "$after") ))
[ "$sum" -eq "$NCAP" ] && ok "h1's $NCAP packets replayed to h4 are all dropped there ($before -> $after)" ||
	fail "h1's packets at h4: $sum of $NCAP dropped ($before -> $after)"

# --- a revoked member still sending ---
ID4=$(field_of 1 h4 key_id)
"$WEFT" cert revoke --ca "$S/ca" --key-id "$ID4" --reason test --out "$S/h4.revoked" >/dev/null &&
	"$WEFT" revoke apply "$S/h4.revoked" --socket "$(sock 1)" >/dev/null || fail "revoke h4"
gone4() { local s; s=$(status_of 1 h4); [ "$s" != alive ] && [ "$s" != suspect ]; }
wait_for 10 "h4 revoked: h1 no longer counts it alive ($(status_of 1 h4))" gone4
r0=$(drops revoked_key)
sleep 3 # h4's agent still runs and gossips
expect "a revoked member (h4's key) still sending" revoked_key min:50 ping $T1 --key $C/h4.key \
	--cert $C/h4.crt --count 50
r1=$(drops revoked_key)
echo "figure: h4's own agent, revoked, kept sending: revoked_key rose from $r0 (3 s after) to $r1 (incl. 50 crafted)"
gone4 && ok "h4 still not alive at h1" || fail "h4 came back at h1"
printf 'figure: %s\n' "${FIG[@]}"
finish
