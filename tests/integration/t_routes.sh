#!/usr/bin/env bash
# Route objects between real agents on 127.0.0.100-102: applied on one
# agent, listed on the others within seconds (GET /v1/routes and `weft
# routes list`), the lowest name in force when two name one service, a
# change and a deletion made on another agent reaching everyone, and the
# routing table rebuilt with them (never refused).  Intentions' L7 rules
# travel the same way.  A bad route object signed outside the CLI
# (tests/integration/mkobject) is skipped with its reason by every agent,
# which keeps building its tables.
source "$(dirname "$0")/lib.sh"

A=127.0.0.100 B=127.0.0.101 C=127.0.0.102

make_ca "$T/ca" it-root
make_cert "$T/ca" a web
make_cert "$T/ca" b api
make_cert "$T/ca" c api
"$WEFT" cert issue --ca "$T/ca" --name ops --groups operator --valid 30d \
	--out "$T/certs" >/dev/null || { fail "cert issue ops"; exit 1; }
OPS=(--signer-key "$T/certs/ops.key" --signer-cert "$T/certs/ops.crt")

api_service() { # VERSION PORT
	echo ", \"services\": [{\"name\": \"api\", \"port\": $2, \"protocol\": \"http\", \"labels\": {\"version\": \"$1\"}}]"
}
write_config a $A "" "" ", \"upstreams\": [{\"service\": \"api\", \"local_bind\": \"$A:15100\", \"protocol\": \"http\"}]"
write_config b $B $A "" "$(api_service v1 18101)"
write_config c $C $A "" "$(api_service v2 18102)"
for n in a b c; do start $n; done
for n in a b c; do wait_sock $n; done
wait_for 20 "a sees 3 members alive" eval '[ "$(count a alive)" -eq 3 ]'

cat >"$T/canary.json" <<'JSON'
{"kind": "route", "name": "api-canary", "service": "api",
 "routes": [
  {"match": {"path_prefix": "/", "headers": [{"name": "x-canary", "exact": "1"}]},
   "targets": [{"service": "api", "labels": {"version": "v2"}, "weight": 100}]},
  {"match": {"path_prefix": "/", "methods": ["GET", "POST"]},
   "targets": [{"service": "api", "labels": {"version": "v1"}, "weight": 90},
               {"service": "api", "labels": {"version": "v2"}, "weight": 10}],
   "timeout": "2s", "idle_timeout": "30s",
   "retry": {"max": 2, "per_try_timeout": "500ms",
             "on": ["5xx", "connect-failure", "reset"], "budget_percent": 20}}]}
JSON

# Refused before anything is sent: the path names what is wrong.
sed 's/"weight": 100/"weight": -1/' "$T/canary.json" >"$T/bad.json"
out=$("$WEFT" routes apply "$T/bad.json" "${OPS[@]}" --socket "$(sock a)" 2>&1)
case $out in
*"route api-canary: routes[0].targets[0].weight"*) ok "bad route refused: $out" ;;
*) fail "bad route: $out" ;;
esac

out=$("$WEFT" routes apply "$T/canary.json" "${OPS[@]}" --socket "$(sock a)" 2>&1) &&
	ok "$out" || fail "routes apply: $out"
# route_row NODE NAME: SERVICE RULES STATE of NAME in NODE's list
route_row() {
	"$WEFT" routes list --all --socket "$(sock "$1")" 2>/dev/null |
		awk -v n="$2" '$1 == n { print $2, $3, $4 }'
}
route_state() { route_row "$1" "$2" | awk '{ print $NF }'; }
# states_are NODE WANT NAME...: the STATE of each NAME, space-separated
states_are() {
	local node=$1 want=$2 got="" n
	shift 2
	for n in "$@"; do got="$got${got:+ }$(route_state "$node" "$n")"; done
	[ "$got" = "$want" ]
}
row_is() { [ "$(route_row "$1" "$2")" = "$3" ]; }
for n in b c; do
	wait_for 10 "$n lists api-canary as active" row_is $n api-canary "api 2 active"
done

# The API: the list, one object as signed, 404 for an unknown name.
out=$(api c GET /v1/routes)
[ "$(head -1 <<<"$out")" = 200 ] && grep -q '"active": *true' <<<"$out" &&
	grep -q '"rules": *2' <<<"$out" && ok "GET /v1/routes on c" ||
	fail "GET /v1/routes: $out"
out=$(api c GET /v1/routes/api-canary)
[ "$(head -1 <<<"$out")" = 200 ] && grep -q '"per_try_timeout": *"500ms"' <<<"$out" &&
	ok "GET /v1/routes/api-canary on c" || fail "GET /v1/routes/api-canary: $out"
out=$(api c GET /v1/routes/nope)
[ "$(head -1 <<<"$out")" = 404 ] && grep -q 'no route object named' <<<"$out" &&
	ok "GET /v1/routes/nope: 404" || fail "GET /v1/routes/nope: $out"
"$WEFT" routes get api-canary --socket "$(sock b)" >"$T/got.json" 2>&1 &&
	grep -q '"kind": "route"' "$T/got.json" && ok "routes get on b" ||
	fail "routes get: $(cat "$T/got.json")"

# A second object for api, applied on b: its name sorts first, so it is
# in force everywhere and api-canary is shadowed.
sed -e 's/"api-canary"/"api-b"/' "$T/canary.json" >"$T/b.json"
"$WEFT" routes apply "$T/b.json" "${OPS[@]}" --socket "$(sock b)" >/dev/null ||
	fail "routes apply on b"
for n in a c; do
	wait_for 10 "$n: api-b active, api-canary shadowed" \
		states_are $n "active shadowed" api-b api-canary
done

# A change made on c reaches a: api-canary with one rule.
python3 - "$T/canary.json" "$T/one.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
o["routes"] = o["routes"][1:]
json.dump(o, open(sys.argv[2], "w"))
PY
"$WEFT" routes apply "$T/one.json" "${OPS[@]}" --socket "$(sock c)" >/dev/null ||
	fail "routes apply on c"
wait_for 10 "a sees api-canary with 1 rule (still shadowed)" \
	row_is a api-canary "api 1 shadowed"

# A deletion made on c: everyone sees the tombstone, api-canary is back.
out=$("$WEFT" routes delete api-b "${OPS[@]}" --socket "$(sock c)" 2>&1) &&
	ok "$out" || fail "routes delete: $out"
for n in a b; do
	wait_for 10 "$n: api-b deleted, api-canary active again" \
		states_are $n "(deleted) active" api-b api-canary
done
out=$("$WEFT" routes delete api-b "${OPS[@]}" --socket "$(sock c)" 2>&1) &&
	fail "deleting twice: $out" || ok "deleting twice refused: $out"

# An intention with L7 rules travels the same way, rules intact.
cat >"$T/l7.json" <<'JSON'
{"name": "web-api-l7", "source": "web", "destination": "api",
 "action": "allow", "http": [{"path_prefix": "/public/", "methods": ["GET"]}]}
JSON
"$WEFT" intentions apply "$T/l7.json" "${OPS[@]}" --socket "$(sock a)" >/dev/null ||
	fail "intentions apply with http rules"
l7_held() {
	"$WEFT" intentions list --json --socket "$(sock c)" | tr -d ' \n' |
		grep -qF '"http":[{"methods":["GET"],"path_prefix":"/public/"}]'
}
wait_for 10 "c holds web-api-l7 with its http rules" l7_held

# Every rebuild with these objects made a table: none refused, none
# skipped (they were all valid).
for n in a b c; do
	if grep -q 'routing table refused\|object skipped' "$T/$n.log"; then
		fail "$n: $(grep 'routing table refused\|object skipped' "$T/$n.log" | head -3)"
	else
		ok "$n: every table built"
	fi
done

# A bad route object signed by some other tool (the CLI refuses it)
# reaches every agent: each skips it with the reason, keeps building its
# tables with the rest, and lists it as invalid; its name sorts first,
# yet the valid object stays in force.
MKOBJECT=${MKOBJECT:-$(dirname "$WEFT")/../tests/integration/mkobject}
printf '%s' '{"kind": "route", "name": "api-a-bad", "service": "api", "routes": [{"targets": [{"service": "api", "weight": 0}]}]}' >"$T/bad-route.json"
if "$MKOBJECT" "$T/certs/ops.key" "$T/certs/ops.crt" route api-a-bad "$T/bad-route.json" >"$T/bad-route.obj"; then
	python3 -c 'import json, sys; print(json.dumps({"armored": open(sys.argv[1]).read()}))' \
		"$T/bad-route.obj" >"$T/bad-route.body"
	out=$(api a POST /v1/objects "@$T/bad-route.body")
	[ "$(head -1 <<<"$out")" = 200 ] && ok "a accepted the signed bad object" ||
		fail "POST /v1/objects: $out"
	for n in b c; do
		wait_for 10 "$n lists api-a-bad as invalid" states_are $n "invalid:" api-a-bad
		wait_for 10 "$n logged why it skipped api-a-bad" grep -q \
			'msg="route object skipped" name="api-a-bad" reason="routes\[0\].targets: every weight is 0"' "$T/$n.log"
		grep -q 'routing table refused' "$T/$n.log" &&
			fail "$n refused a table" || ok "$n kept building its tables"
	done
	row_is c api-canary "api 1 active" && ok "c: api-canary still in force" ||
		fail "c: api-canary: $(route_row c api-canary)"
	# Intentions of a shape this agent does not know: an allow is
	# skipped, a deny is still applied (skipping it would allow).
	printf '%s' '{"source": "web", "destination": "api", "action": "deny", "colour": "red"}' >"$T/deny-x.json"
	printf '%s' '{"source": "web", "destination": "api", "action": "allow", "colour": "red"}' >"$T/allow-x.json"
	for x in deny-x allow-x; do
		"$MKOBJECT" "$T/certs/ops.key" "$T/certs/ops.crt" intention $x "$T/$x.json" |
			python3 -c 'import json, sys; print(json.dumps({"armored": sys.stdin.read()}))' >"$T/$x.body"
		out=$(api a POST /v1/objects "@$T/$x.body")
		[ "$(head -1 <<<"$out")" = 200 ] || fail "POST intention $x: $out"
	done
	wait_for 10 "c applies deny-x as a plain deny" grep -q \
		'msg="intention object applied as a plain deny" name="deny-x" reason="colour: unknown key' "$T/c.log"
	wait_for 10 "c skips allow-x" grep -q \
		'msg="intention object skipped" name="allow-x" reason="colour: unknown key' "$T/c.log"
else
	fail "mkobject"
fi
finish
