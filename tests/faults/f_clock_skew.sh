#!/usr/bin/env bash
# A host whose certificate starts 30 s in the others' future (a clock 30 s
# ahead), within the 60 s identity.skew allowance.
# What must hold: it restarts with that certificate and every host sees
# it alive.
source "$(dirname "$0")/lib.sh"
bed_up 3
tb clock-skew 3 30 >/dev/null || { grep -h "refused\|error" "$S/h3.log" | tail -2; fail "h3 did not start with a certificate 30 s ahead"; finish; }
tb wait-alive 20 >/dev/null && ok "clock skew +30 s: h3 back and alive everywhere" ||
	fail "clock skew +30 s: not alive everywhere"
finish
