#!/usr/bin/env bash
# The test bed itself.
# What must hold:
#   - up makes one namespace per host plus the hub, and nothing in the
#     root namespace (its links and routes are the same before and after);
#   - addresses are from 198.18.0.0/15 only;
#   - clock-skew beyond the allowance (identity.skew, 60 s): the host is
#     not accepted (it refuses to start, or the others never list it
#     alive) and says why in its log (within the allowance: f_clock_skew);
#   - an up interrupted half-way (SIGTERM; a background job cannot get
#     SIGINT from a script) and a down leave no namespace, link or agent
#     process behind.
source "$(dirname "$0")/lib.sh"
LINKS0=$(ip -o link show | awk -F': ' '{print $2}' | sort)
ROUTES0=$(ip route show | sort)
bed_up 3
[ "$(ip netns list | grep -c "^$WEFT_TESTBED_TAG-")" -eq 4 ] && ok "4 namespaces (hub + 3 hosts)" ||
	fail "namespaces: $(ip netns list | grep "^$WEFT_TESTBED_TAG-" | tr '\n' ' ')"
[ "$(ip -o link show | awk -F': ' '{print $2}' | sort)" = "$LINKS0" ] && [ "$(ip route show | sort)" = "$ROUTES0" ] &&
	ok "the root namespace's links and routes are untouched" || fail "root namespace changed"
bad=$(for k in 1 2 3; do tb exec "$k" ip -4 -o addr show scope global; done | awk '{print $4}' | grep -v '^198\.1[89]\.' || true)
[ -z "$bad" ] && ok "host addresses all in 198.18.0.0/15" || fail "addresses outside 198.18.0.0/15: $bad"

# delay needs the netem qdisc, which some kernels lack: it works, or says so.
if out=$(tb delay 1 50 5 2>&1); then
	tb exec 1 tc qdisc show dev eth0 | grep -q netem && ok "delay: netem on h1's link" || fail "delay: no netem qdisc after delay"
	tb delay 1 0
else
	echo "$out" | grep -q netem && ok "delay: refused with the reason ($out)" || fail "delay failed without a reason: $out"
fi
tb clock-skew 2 3600 >/dev/null 2>&1
sleep 3
if tb pid 2 >/dev/null; then
	[ "$(status_of 1 h2)" != alive ] && ok "clock skew +1 h: h2 runs but h1 does not list it alive ($(status_of 1 h2))" ||
		fail "clock skew +1 h: h2 accepted by h1"
else
	why=$(grep -i "not valid\|not yet\|valid from\|refused" "$S/h2.log" | tail -1)
	[ -n "$why" ] && ok "clock skew +1 h: h2 refuses to start: $why" || fail "clock skew +1 h: h2 stopped without a reason"
fi
tb down >/dev/null
[ "$(ip netns list | grep -c "^$WEFT_TESTBED_TAG-")" -eq 0 ] && ok "down: no namespace left" || fail "down left namespaces"
pgrep -f -- "--config $S/h" >/dev/null && fail "down left agents running" || ok "down: no agent left"

# Interrupted half-way through up.
S2=$(mktemp -d /tmp/weft-faults.XXXXXX)
WEFT_TESTBED_DIR=$S2 WEFT_TESTBED_TAG="${WEFT_TESTBED_TAG}i" "$TESTBED" up 30 >/dev/null 2>&1 &
UP=$!
sleep 1
kill -TERM "$UP"
wait "$UP"
UPRC=$?
[ "$UPRC" -eq 130 ] && ok "up stopped by SIGTERM half-way (exit 130)" ||
	fail "up was not interrupted half-way (exit $UPRC): the checks below prove nothing"
sleep 0.5
[ "$(ip netns list | grep -c "^${WEFT_TESTBED_TAG}i-")" -eq 0 ] && ok "an interrupted up leaves no namespace" ||
	{ fail "interrupted up left: $(ip netns list | grep "^${WEFT_TESTBED_TAG}i-" | tr '\n' ' ')"; WEFT_TESTBED_DIR=$S2 WEFT_TESTBED_TAG="${WEFT_TESTBED_TAG}i" "$TESTBED" down; }
pgrep -f -- "--config $S2/h" >/dev/null && fail "interrupted up left agents" || ok "an interrupted up leaves no agent"
rm -rf "$S2"
[ "$(ip -o link show | awk -F': ' '{print $2}' | sort)" = "$LINKS0" ] && ok "the root namespace's links are as before" || fail "root links changed"
finish
