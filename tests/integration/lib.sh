# Shared by the integration tests: a fresh CA, agents on 127.0.0.N, and
# waits bounded in time.  Sourced by each test; every process started here
# is killed by pid on exit.
set -uo pipefail

WEFT=${WEFT:?path to weft}
WEFTD=${WEFTD:?path to weftd}
T=$(mktemp -d /tmp/weft-it.XXXXXX)
chmod 755 "$T"
declare -A PIDS=()
FAILS=0

cleanup() {
	local n
	for n in "${!PIDS[@]}"; do
		kill -9 "${PIDS[$n]}" 2>/dev/null
	done
	wait 2>/dev/null
	if [ "$FAILS" -ne 0 ] || [ -n "${KEEP:-}" ]; then
		echo "# logs kept in $T" >&2
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $f (last 30 lines)" >&2
			tail -30 "$f" >&2
		done
	fi
	[ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

ok() { echo "ok: $*"; }

# ca DIR NAME
make_ca() {
	"$WEFT" ca init --name "$2" --out "$1" --valid 1y >/dev/null ||
		{ fail "ca init"; exit 1; }
}

# node_cert CA_DIR NAME [SERVICES]
make_cert() {
	local args=(cert issue --ca "$1" --name "$2" --valid 30d --out "$T/certs")
	[ -n "${3:-}" ] && args+=(--services "$3")
	"$WEFT" "${args[@]}" >/dev/null || { fail "cert issue $2"; exit 1; }
}

# Fast timings so failures are seen in seconds, not tens of seconds.
GOSSIP_FAST='{"probe_interval": "200ms", "probe_timeout": "100ms",
  "gossip_interval": "100ms", "suspicion_mult": 3, "pushpull_interval": "5s",
  "reap_after": "10m"}'

# write_config NAME IP [JOIN_IP] [CA_FILE] [EXTRA_JSON_MEMBERS]
write_config() {
	local name=$1 ip=$2 join=${3:-} ca=${4:-$T/ca/ca.crt} extra=${5:-}
	local joinlist="[]"
	[ -n "$join" ] && joinlist="[\"$join:7370\"]"
	mkdir -p "$T/$name"
	cat >"$T/$name.json" <<JSON
{"node_name": "$name", "bind": "$ip:7370", "join": $joinlist,
 "retry_join": true, "retry_join_max": "2s",
 "data_dir": "$T/$name", "socket": "$T/$name/weftd.sock",
 "socket_group": "nogroup", "log_level": "debug",
 "identity": {"key": "$T/certs/$name.key", "cert": "$T/certs/$name.crt",
              "ca": "$ca"},
 "mesh": {"bind": "$ip:7371"},
 "gossip": $GOSSIP_FAST $extra}
JSON
}

# start NAME: starts weftd with NAME's config, logs to $T/NAME.log
start() {
	local name=$1
	"$WEFTD" --config "$T/$name.json" >>"$T/$name.log" 2>&1 &
	PIDS[$name]=$!
}

sock() { echo "$T/$1/weftd.sock"; }

# members_json NAME: the agent's /v1/members, or nothing
members_json() {
	"$WEFT" members --json --socket "$(sock "$1")" 2>/dev/null
}

# count NAME STATUS: how many members NAME sees in STATUS
count() {
	members_json "$1" | grep -o "\"status\": *\"$2\"" | wc -l
}

# status_of NAME OTHER: OTHER's status as NAME sees it
status_of() {
	members_json "$1" | tr -d ' \n' | grep -o "{[^{}]*\"name\":\"$2\"[^{}]*}" |
		grep -o '"status":"[a-z]*"' | cut -d'"' -f4
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls every 0.2 s
wait_for() {
	local limit=$1 what=$2 start=$SECONDS
	shift 2
	local deadline=$((SECONDS + limit))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if "$@" >/dev/null 2>&1; then
			ok "$what ($((SECONDS - start))s)"
			return 0
		fi
		sleep 0.2
	done
	fail "$what: not within ${limit}s"
	return 1
}

wait_sock() { wait_for 10 "$1 answers" test -S "$(sock "$1")" && wait_for 10 "$1 API" members_json "$1"; }

finish() {
	if [ "$FAILS" -eq 0 ]; then
		echo "PASS"
		exit 0
	fi
	echo "$FAILS failure(s)"
	exit 1
}

# api NAME METHOD PATH [BODY|@FILE]: raw HTTP over the agent's socket; prints
# "STATUS" on the first line, then the body.  For what the CLI does not
# show, and for status codes.
api() {
	python3 - "$(sock "$1")" "$2" "$3" "${4:-}" <<'PY'
import socket, sys
path, method, target, body = sys.argv[1:5]
if body.startswith("@"):
    body = open(body[1:]).read()
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(path)
req = f"{method} {target} HTTP/1.1\r\nHost: weft\r\nConnection: close\r\n"
if body:
    req += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
try:
    s.sendall((req + "\r\n" + body).encode())
except (BrokenPipeError, ConnectionResetError):
    pass  # the agent may answer 413 and close before reading it all
data = b""
while True:
    try:
        chunk = s.recv(65536)
    except ConnectionResetError:
        break
    if not chunk:
        break
    data += chunk
head, _, rest = data.partition(b"\r\n\r\n")
print(head.split(b" ")[1].decode())
print(rest.decode())
PY
}
