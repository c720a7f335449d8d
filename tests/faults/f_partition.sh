#!/usr/bin/env bash
# Six hosts split into two halves {1,2,3} | {4,5,6}, then healed.
# What must hold:
#   - during the split each half sees the other failed and its own
#     members alive, and keeps serving its own endpoints of service web;
#   - objects applied during the split (intentions in each half, one name
#     written in both halves, a revocation in one half) are kept;
#   - after the heal: one cluster again (every host sees all 6 alive)
#     within 30 s (push-pull every 5 s, reconnection to dead members
#     every 10 s), and the objects are identical on every host, the name
#     written in both halves holding the later write (LWW by HLC).
# Quick: a 10 s split; LONG=1 (f_partition_long): 60 s.
source "$(dirname "$0")/lib.sh"
N=6
SPLIT=10
[ "${LONG:-0}" = 1 ] && SPLIT=60
export WEFT_TESTBED_SERVICE=web
bed_up $N
"$WEFT" cert issue --ca "$S/ca" --name op --groups operator --valid 1d --out "$S/op" >/dev/null ||
	{ fail "operator cert"; finish; }
"$WEFT" cert issue --ca "$S/ca" --name ghost --valid 1d --out "$S/ghost" >/dev/null ||
	{ fail "ghost cert"; finish; }

# intent K NAME ACTION: apply intention NAME (web -> web) at host K
intent() {
	printf '{"name": "%s", "source": "web", "destination": "web", "action": "%s"}\n' "$2" "$3" >"$S/int-$2.json"
	"$WEFT" intentions apply "$S/int-$2.json" --signer-key "$S/op/op.key" \
		--signer-cert "$S/op/op.crt" --socket "$(sock "$1")" >/dev/null ||
		fail "intentions apply $2 at h$1"
}
# objects K: host K's objects, one canonical line each
objects() {
	api "$1" GET /v1/objects | tail -n +2 | python3 -c '
import json, sys
d = json.load(sys.stdin)
for o in sorted(d["objects"], key=lambda o: (o["kind"], o["name"])):
    print(json.dumps(o, sort_keys=True))'
}
same_objects_everywhere() { # EXPECTED_COUNT
	local k ref
	ref=$(objects 1)
	[ "$(printf '%s\n' "$ref" | grep -c .)" -eq "$1" ] || return 1
	for k in $(seq 2 $N); do [ "$(objects "$k")" = "$ref" ] || return 1; done
}
alive_web() { # K: the nodes host K lists alive for service web
	api "$1" GET /v1/services/web | tail -n +2 | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(",".join(sorted(e["node"] for e in d["endpoints"] if e["status"] == "alive")))'
}

intent 1 base allow
wait_for 15 "intention applied before the split reaches all" same_objects_everywhere 1

tb partition 1,2,3 4,5,6 || { fail "partition"; finish; }
T0=$SECONDS
halves_apart() {
	local k
	for k in 1 2 3; do [ "$(statuses "$k")" = "h1=alive h2=alive h3=alive h4=failed h5=failed h6=failed" ] || return 1; done
	for k in 4 5 6; do [ "$(statuses "$k")" = "h1=failed h2=failed h3=failed h4=alive h5=alive h6=alive" ] || return 1; done
}
wait_for 20 "split: each half sees the other failed, its own alive" halves_apart
APART=$((SECONDS - T0))

intent 2 left-only allow
intent 5 right-only allow
intent 1 both allow
sleep 1.2 # the second write of "both" must carry a later clock
intent 6 both deny
REVOKE_ID=$("$WEFT" cert inspect --json "$S/ghost/ghost.crt" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["certificates"][0]["key_id"])')
"$WEFT" cert revoke --ca "$S/ca" --key-id "$REVOKE_ID" --reason "test" --out "$S/ghost.revoked" >/dev/null &&
	"$WEFT" revoke apply "$S/ghost.revoked" --socket "$(sock 3)" >/dev/null ||
	fail "revocation applied in the left half"

sleep $((SPLIT - (SECONDS - T0) > 0 ? SPLIT - (SECONDS - T0) : 0))
halves_apart && ok "split held ${SPLIT}s: halves still apart, each whole" ||
	fail "halves not as expected at the end of the split"
[ "$(alive_web 1)" = h1,h2,h3 ] && [ "$(alive_web 4)" = h4,h5,h6 ] &&
	ok "each half serves its own endpoints of web (h1: $(alive_web 1); h4: $(alive_web 4))" ||
	fail "endpoints during the split: h1 $(alive_web 1), h4 $(alive_web 4)"

tb heal
T1=$SECONDS
all_alive() {
	local k
	for k in $(seq 1 $N); do [ "$(count_status "$k" alive)" -eq $N ] || return 1; done
}
wait_for 30 "healed: every host sees all $N alive" all_alive
MERGED=$((SECONDS - T1))
# base, left-only, right-only, both, the revocation
wait_for 30 "healed: objects identical on every host" same_objects_everywhere 5
OBJ_SAME=$((SECONDS - T1))
objects 4 | grep '"both"' | grep -q '"deny"' &&
	ok "the name written in both halves holds the later write (deny) everywhere" ||
	fail "LWW: 'both' is $(objects 4 | grep '"both"')"
objects 2 | grep -q "\"revocation\"" && ok "the revocation from the left half reached the right" ||
	fail "revocation missing after the heal"
echo "figure: split ${SPLIT}s: halves apart after ${APART}s; after the heal one cluster in ${MERGED}s, objects identical in ${OBJ_SAME}s"
finish
