#!/usr/bin/env bash
# Bad configuration files fail with the file, the key and the reason, and
# start nothing; SIGHUP with a broken file keeps the running one.
source "$(dirname "$0")/lib.sh"

make_ca "$T/ca" it-root
make_cert "$T/ca" n1 web
write_config n1 127.0.0.41

"$WEFTD" --config "$T/n1.json" --check-config >"$T/check.out" 2>&1 &&
	grep -q "configuration OK" "$T/check.out" && ok "--check-config accepts a good file" ||
	fail "--check-config: $(cat "$T/check.out")"

bad() { # DESCRIPTION EXPECTED_TEXT JSON_EDIT (a sed expression on the good file)
	local what=$1 want=$2 f="$T/bad.json" out rc
	sed "$3" "$T/n1.json" >"$f"
	out=$("$WEFTD" --config "$f" --check-config 2>&1)
	rc=$?
	if [ "$rc" -eq 1 ] && echo "$out" | grep -qF -- "$want"; then
		ok "$what: $out"
	else
		fail "$what: exit $rc, output: $out (wanted: $want)"
	fi
}
bad "unknown key" "bad.json: colour: unknown key" 's/"node_name"/"colour": 1, "node_name"/'
bad "wrong type" "bad.json: retry_join: expected true or false" 's/"retry_join": true/"retry_join": "yes"/'
bad "port out of range" "bad.json: bind: \"127.0.0.41:70000\" is not" 's/127.0.0.41:7370/127.0.0.41:70000/'
bad "bad duration" "bad.json: gossip.probe_interval: \"fast\" is not a duration" 's/"probe_interval": "200ms"/"probe_interval": "fast"/'
bad "bad node name" "bad.json: node_name: \"N_1\" is not a DNS label" 's/"node_name": "n1"/"node_name": "N_1"/'
bad "not JSON" "bad.json: line" 's/{"node_name"/{{"node_name"/'
bad "duplicate key" "duplicate" 's/"node_name": "n1",/"node_name": "n1", "node_name": "n1",/'
bad "service port out of range" "services[0].port: 0 is out of range 1-65535" \
	's/"gossip":/"services": [{"name": "web", "port": 0}], "gossip":/'
bad "unknown protocol" "services[0].protocol: \"smtp\" is not one of" \
	's/"gossip":/"services": [{"name": "web", "port": 80, "protocol": "smtp"}], "gossip":/'
bad "unknown upstream protocol" "upstreams[0].protocol: \"h3\" is not one of" \
	's/"gossip":/"upstreams": [{"service": "api", "local_bind": "127.0.0.41:9001", "protocol": "h3"}], "gossip":/'
bad "circuit limit out of range" "upstreams[0].max_requests: 0 is out of range 1-1000000" \
	's/"gossip":/"upstreams": [{"service": "api", "local_bind": "127.0.0.41:9001", "max_requests": 0}], "gossip":/'
bad "unknown load balancer" "bad.json: proxy.lb: \"random\" is not one of" \
	's/"gossip":/"proxy": {"lb": "random"}, "gossip":/'
bad "ejection share over 100" "proxy.outlier.max_ejection_percent: 101 is out of range 1-100" \
	's/"gossip":/"proxy": {"outlier": {"max_ejection_percent": 101}}, "gossip":/'
bad "ejection base of 0" "proxy.outlier.base_ejection: must be longer than 0" \
	's/"gossip":/"proxy": {"outlier": {"base_ejection": "0s"}}, "gossip":/'

# Identity problems are found before anything starts.
start_fails() { # DESCRIPTION EXPECTED FILE
	local out rc
	out=$(timeout 10 "$WEFTD" --config "$3" 2>&1)
	rc=$?
	if [ "$rc" -eq 1 ] && echo "$out" | grep -qF -- "$2"; then
		ok "$1"
	else
		fail "$1: exit $rc: $out"
	fi
}
sed 's/"gossip":/"services": [{"name": "db", "port": 5432}], "gossip":/' "$T/n1.json" >"$T/svc.json"
start_fails "a service the certificate does not allow" 'does not allow service "db"' "$T/svc.json"
chmod 644 "$T/certs/n1.key"
start_fails "a group-readable key" "chmod 600" "$T/n1.json"
chmod 600 "$T/certs/n1.key"
sed "s#certs/n1.crt#ca/ca.crt#" "$T/n1.json" >"$T/cacert.json"
start_fails "a CA certificate as the node's" "certificate" "$T/cacert.json"

make_cert "$T/ca" other
sed "s#certs/n1.key#certs/other.key#" "$T/n1.json" >"$T/mismatch.json"
start_fails "a key that is not the certificate's" "does not match the key" "$T/mismatch.json"
"$WEFT" cert issue --ca "$T/ca" --name n1 --valid 1s --out "$T/short" >/dev/null
sed -e "s#$T/certs/n1#$T/short/n1#g" -e 's#"ca": "\([^"]*\)"#"ca": "\1", "skew": "0s"#' "$T/n1.json" >"$T/expired.json"
sleep 2
start_fails "an expired certificate" "expired" "$T/expired.json"

# SIGHUP: a broken file is refused and the agent keeps running.
start n1
wait_sock n1 || finish
cp "$T/n1.json" "$T/n1.good"
echo '{"node_name": ' >"$T/n1.json"
kill -HUP "${PIDS[n1]}"
wait_for 5 "reload refusal logged" grep -q "reload refused" "$T/n1.log"
sleep 0.5
kill -0 "${PIDS[n1]}" && ok "still running after a bad SIGHUP" || fail "agent died on a bad SIGHUP"
members_json n1 >/dev/null && ok "API still answers" || fail "API gone after bad SIGHUP"
# A good file with a new service is taken.
sed 's/"gossip":/"services": [{"name": "web", "port": 8080}], "gossip":/' "$T/n1.good" >"$T/n1.json"
kill -HUP "${PIDS[n1]}"
has_web() { api n1 GET /v1/services/web | head -1 | grep -q 200; }
wait_for 5 "the reloaded service is listed" has_web
finish
