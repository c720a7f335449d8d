#!/usr/bin/env bash
# A certificate renewed for the same key and loaded with SIGHUP: the other
# agents learn its new end from the re-signed record, and a TCP stream
# through the mesh that was open before the reload keeps working.
source "$(dirname "$0")/lib.sh"

make_ca "$T/ca" it-root
"$WEFT" cert issue --ca "$T/ca" --name a --valid 1h --out "$T/certs" >/dev/null ||
	{ fail "issue a"; finish; }
make_cert "$T/ca" b echo
write_config a 127.0.0.93 "" "" ', "upstreams": [{"service": "echo", "local_bind": "127.0.0.1:19093"}]'
write_config b 127.0.0.94 127.0.0.93 "" ', "services": [{"name": "echo", "port": 17094}]'
python3 "$(dirname "$0")/echo_server.py" 127.0.0.1 17094 >"$T/echo.log" 2>&1 &
PIDS[echo]=$!
start a
start b
wait_sock a && wait_sock b || finish
both() { [ "$(count a alive)" -eq 2 ] && [ "$(count b alive)" -eq 2 ]; }
wait_for 20 "a and b see each other" both

not_after_at_b() {
	api b GET /v1/certs | tail -n +2 | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next(m["not_after_unix"] for m in d["members"] if m["name"] == "a"))'
}
before=$(not_after_at_b)
[ -n "$before" ] && ok "b knows a's certificate end: $before" || fail "no end for a at b"

# A stream that stays open across the reload: a line out, its echo back,
# then again after the reload.
exec 3<>/dev/tcp/127.0.0.1/19093 || { fail "connect through a"; finish; }
echo "before reload" >&3
read -r -t 10 line <&3
[ "$line" = "before reload" ] && ok "stream echoes before the reload" ||
	fail "stream before reload: '$line'"

mv "$T/certs/a.crt" "$T/a-old.crt"
"$WEFT" cert issue --ca "$T/ca" --name a --valid 30d --key "$T/certs/a.key" \
	--out "$T/certs" >/dev/null || fail "renew a with --key"
kill -HUP "${PIDS[a]}"
wait_for 10 "a logs the renewal" grep -q "certificate renewed" "$T/a.log"
renewed() { after=$(not_after_at_b); [ -n "$after" ] && [ "$after" -gt "$((before + 86400))" ]; }
wait_for 20 "b learns a's new end from gossip" renewed

echo "after reload" >&3
read -r -t 10 line <&3
[ "$line" = "after reload" ] && ok "the same stream still echoes after the reload" ||
	fail "stream after reload: '$line'"
exec 3>&-
"$WEFT" members --socket "$(sock b)" | grep -q " alive " && ok "a still alive at b" || fail "a not alive at b"

# A certificate for another key is refused, and the running one kept.
mv "$T/certs/a.crt" "$T/a-renewed.crt"
mv "$T/certs/a.key" "$T/a-renewed.key"
"$WEFT" cert issue --ca "$T/ca" --name a --valid 30d --out "$T/certs" >/dev/null
kill -HUP "${PIDS[a]}"
wait_for 10 "a refuses a certificate for another key" grep -q "another key" "$T/a.log"
kill -0 "${PIDS[a]}" && ok "a keeps running" || fail "a died"
finish
