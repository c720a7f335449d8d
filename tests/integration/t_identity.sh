#!/usr/bin/env bash
# An agent whose certificate comes from another CA cannot join, and says
# why; a revoked node is dropped by every agent.
source "$(dirname "$0")/lib.sh"

make_ca "$T/ca" it-root
make_ca "$T/ca2" other-root
for i in 1 2 3; do make_cert "$T/ca" "n$i"; done
"$WEFT" cert issue --ca "$T/ca2" --name stranger --valid 30d --out "$T/certs" >/dev/null
write_config n1 127.0.0.21
write_config n2 127.0.0.22 127.0.0.21
write_config n3 127.0.0.23 127.0.0.21
# The stranger trusts its own CA; the cluster does not.
write_config stranger 127.0.0.24 127.0.0.21 "$T/ca2/ca.crt"
for n in n1 n2 n3 stranger; do start "$n"; done
for n in n1 n2 n3 stranger; do wait_sock "$n" || finish; done
three() { [ "$(count n1 alive)" -eq 3 ] && [ "$(count n2 alive)" -eq 3 ]; }
wait_for 20 "n1..n3 see each other" three
says_why() { grep -q "unknown CA" "$T/stranger.log"; }
wait_for 10 "the stranger's log says its join was refused by an unknown CA" says_why
if [ -n "$(status_of n1 stranger)" ]; then
	fail "n1 lists the stranger"
else
	ok "n1 does not list the stranger"
fi
[ "$(count stranger alive)" -eq 1 ] && ok "the stranger is alone" ||
	fail "the stranger sees others"

# Revocation: the CA revokes n3, an operator applies it at n1.
KID=$("$WEFT" cert inspect --json "$T/certs/n3.crt" | grep -o '"key_id": *"[0-9a-f]*"' | head -1 | cut -d'"' -f4)
"$WEFT" cert revoke --ca "$T/ca" --key-id "$KID" --reason "test" --out "$T/n3.rev" >/dev/null ||
	fail "cert revoke"
"$WEFT" revoke apply --socket "$(sock n1)" "$T/n3.rev" >/dev/null || fail "revoke apply"
dropped() {
	local s1 s2
	s1=$(status_of n1 n3)
	s2=$(status_of n2 n3)
	[ "$s1" != alive ] && [ "$s1" != suspect ] &&
		[ "$s2" != alive ] && [ "$s2" != suspect ]
}
wait_for 15 "n3 dropped by n1 and n2 after its revocation" dropped
has_obj() { api n2 GET "/v1/objects?kind=revocation" | grep -q "\"revoked_key_id\": *\"$KID\""; }
wait_for 10 "n2 lists the revocation object" has_obj
finish
