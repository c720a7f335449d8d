#!/usr/bin/env bash
# Certificate expiry, cluster-wide: a node whose certificate ends within
# cert_warn_before warns in its log and in `weft info`; every member's
# record carries its certificate's end, so `weft certs` on another node
# lists it first; the metrics expose the soonest.  A SIGHUP with a
# certificate for another key is refused (the running one is kept).
source "$(dirname "$0")/lib.sh"

IP1=127.0.0.157 IP2=127.0.0.158

make_ca "$T/ca" it-root
"$WEFT" cert issue --ca "$T/ca" --name n1 --valid 1h --out "$T/certs" >/dev/null ||
	{ fail "cert issue n1"; finish; }
make_cert "$T/ca" n2
write_config n1 $IP1 "" "$T/ca/ca.crt" ', "cert_warn_before": "2h"'
write_config n2 $IP2 $IP1 "$T/ca/ca.crt" ', "cert_warn_before": "1d"'
start n1
start n2
wait_sock n1 || finish
wait_sock n2 || finish
wait_for 20 "2 members alive on n2" bash -c \
	"[ \$(\"$WEFT\" members --json --socket $(sock n2) | grep -c '\"alive\"') -eq 2 ]"

grep -q 'level=warn msg="node certificate expires soon" name=n1' "$T/n1.log" &&
	ok "n1 warns in its log: $(grep -m1 'certificate expires soon' "$T/n1.log")" ||
	fail "no expiry warning in n1's log"
grep -q 'certificate expires soon' "$T/n2.log" && fail "n2 warns though its certificate has 30 days" ||
	ok "n2 (30 days left, warns from 1 day) does not warn"

info=$("$WEFT" info --socket "$(sock n1)")
grep -q "^warning: *node certificate expires soon" <<<"$info" &&
	ok "weft info shows the warning" || fail "weft info: $info"
"$WEFT" info --json --socket "$(sock n1)" | python3 -c 'import json,sys
sys.exit(json.load(sys.stdin)["cert_warnings"] != ["node certificate expires soon"])' &&
	ok "GET /v1/agent: cert_warnings" || fail "no cert_warnings in /v1/agent"

certs=$("$WEFT" certs --socket "$(sock n2)")
echo "$certs"
first=$(sed -n 2p <<<"$certs" | awk '{print $1, $2}')
[ "$first" = "node n1" ] && ok "weft certs on n2 lists n1 first (soonest)" || fail "first row: $first"
grep -q "WARN" <<<"$(sed -n 2p <<<"$certs")" && ok "n1's row is marked WARN" || fail "no WARN on n1"
grep -Eq "^node +n2 .*in (29|30) days" <<<"$certs" && ok "n2's own certificate listed" || fail "n2 row"
grep -q "^ca  *it-root" <<<"$certs" && ok "the CA is listed" || fail "no CA row"
n1_end=$("$WEFT" certs --json --socket "$(sock n2)" | python3 -c 'import json,sys
print([m["not_after_unix"] for m in json.load(sys.stdin)["members"] if m["name"] == "n1"][0])')
n1_own=$("$WEFT" info --json --socket "$(sock n1)" | python3 -c 'import json,sys
print(json.load(sys.stdin)["cert_not_after_unix"])')
[ "$n1_end" = "$n1_own" ] && ok "n2 knows n1's certificate end from its record ($n1_end)" ||
	fail "n1's end: n2 says $n1_end, n1 says $n1_own"
# Not a pipe into grep -q: with pipefail its early exit fails the writer.
metrics=$(api n2 GET /v1/metrics)
grep -q "^weft_cluster_cert_expiry_soonest_timestamp_seconds{node=\"n1\"} $n1_end\$" <<<"$metrics" &&
	ok "metric: the soonest in the cluster is n1's" || fail "soonest metric"

# A certificate for another key: refused on SIGHUP, the running one stays.
mkdir -p "$T/new"
"$WEFT" cert issue --ca "$T/ca" --name n1 --valid 30d --out "$T/new" >/dev/null || fail "new cert"
cp "$T/certs/n1.crt" "$T/n1.crt.old"
cp "$T/certs/n1.key" "$T/n1.key.old"
cp "$T/new/n1.crt" "$T/certs/n1.crt"
cp "$T/new/n1.key" "$T/certs/n1.key"
kill -HUP "${PIDS[n1]}"
wait_for 5 "SIGHUP with another key is refused with its reason" \
	grep -q 'reload refused.*another key' "$T/n1.log"
kill -0 "${PIDS[n1]}" && ok "n1 still runs" || fail "n1 died"
still=$("$WEFT" info --json --socket "$(sock n1)" | python3 -c 'import json,sys
print(json.load(sys.stdin)["cert_not_after_unix"])')
[ "$still" = "$n1_own" ] && ok "n1 keeps its running certificate" || fail "n1 now has $still"
[ "$(status_of n2 n1)" = alive ] && ok "n2 still sees n1 alive" || fail "n1 as n2 sees it: $(status_of n2 n1)"
finish
