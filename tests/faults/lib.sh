# Shared by the fault and attack cases: a test bed of its own (namespace
# prefix and state dir unique to this run), cleaned up on any exit, and
# bounded waits.  Sourced.  Exit 77 (skipped, with the reason) when the
# bed cannot be built here: never reported as passed.
set -uo pipefail

: "${WEFT:?}" "${WEFTD:?}" "${TESTBED:?}" "${WEFT_TB_CERT:?}"
export WEFT WEFTD WEFT_TB_CERT
FAILS=0

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: the test bed needs root (network namespaces, nftables)"
	exit 77
fi
for t in ip nft setsid python3; do
	command -v "$t" >/dev/null || {
		echo "SKIP: the test bed needs '$t' (Debian packages iproute2, nftables, util-linux, python3)"
		exit 77
	}
done

# long_only: the issue's full-length version of a case.
long_only() {
	if [ "${WEFT_TEST_LONG:-0}" != 1 ]; then
		echo "SKIP: long test, run tools/test --long"
		exit 77
	fi
}

export WEFT_TESTBED_TAG="wt$$"
export WEFT_TESTBED_DIR
WEFT_TESTBED_DIR=$(mktemp -d /tmp/weft-faults.XXXXXX)
chmod 755 "$WEFT_TESTBED_DIR"
S=$WEFT_TESTBED_DIR

cleanup() {
	stop_events
	"$TESTBED" down >/dev/null 2>&1
	if [ "$FAILS" -ne 0 ] || [ -n "${KEEP:-}" ]; then
		echo "# logs kept in $S" >&2
		for f in "$S"/h*.log; do
			[ -f "$f" ] || continue
			echo "---- $f (last 15 lines)" >&2
			tail -15 "$f" >&2
		done
	fi
	[ -n "${KEEP:-}" ] || [ "$FAILS" -ne 0 ] || rm -rf "$S"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tb() { "$TESTBED" "$@"; }

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }

# bed_up N: the bed with every host seeing every other alive.
bed_up() {
	tb up "$1" || { rc=$?; [ "$rc" -eq 77 ] && exit 77; echo "FAIL: testbed up" >&2; exit 1; }
	tb wait-alive 60 || { fail "the bed did not converge"; finish; }
}

sock() { echo "$S/h$1/weftd.sock"; }
members() { "$WEFT" members --json --socket "$(sock "$1")" 2>/dev/null; }

# status_of K NAME: NAME's status as host K sees it
status_of() {
	members "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next((m["status"] for m in d["members"] if m["name"] == sys.argv[1]), "absent"))' "$2" 2>/dev/null
}

# field_of K NAME FIELD: a field of NAME's entry in host K's members
field_of() {
	members "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next((m[sys.argv[2]] for m in d["members"] if m["name"] == sys.argv[1]), ""))' "$2" "$3" 2>/dev/null
}

# statuses K: "name=status ..." sorted by name, as host K sees them
statuses() {
	members "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(sorted("%s=%s" % (m["name"], m["status"]) for m in d["members"])))' 2>/dev/null
}

# count_status K STATUS
count_status() { members "$1" | grep -o "\"status\": *\"$2\"" | wc -l; }

# view K: "name=status/incarnation ..." sorted: a host's whole picture
view() {
	members "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(sorted("%s=%s/%s" % (m["name"], m["status"], m["incarnation"]) for m in d["members"])))' 2>/dev/null
}

# api K METHOD PATH [BODY|@FILE]: raw HTTP over the socket; prints the
# status code on the first line, then the body.
api() {
	python3 - "$(sock "$1")" "$2" "$3" "${4:-}" <<'PY'
import socket, sys
path, method, target, body = sys.argv[1:5]
if body.startswith("@"):
    body = open(body[1:], "rb").read()
else:
    body = body.encode()
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(path)
req = f"{method} {target} HTTP/1.1\r\nHost: weft\r\nConnection: close\r\n"
if body or method == "POST":
    req += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
try:
    s.sendall(req.encode() + b"\r\n" + body)
except (BrokenPipeError, ConnectionResetError):
    pass
data = b""
while True:
    try:
        chunk = s.recv(65536)
    except (ConnectionResetError, socket.timeout):
        break
    if not chunk:
        break
    data += chunk
head, _, rest = data.partition(b"\r\n\r\n")
parts = head.split(b" ")
print(parts[1].decode() if len(parts) > 1 else "none")
print(rest.decode(errors="replace"))
PY
}

# metric K NAME [LABELS]: a sample from GET /v1/metrics, or "" when the
# agent has no metrics endpoint.
HAVE_METRICS=
have_metrics() {
	[ -n "$HAVE_METRICS" ] || {
		[ "$(api 1 GET /v1/metrics | head -1)" = 200 ] && HAVE_METRICS=1 || HAVE_METRICS=0
	}
	[ "$HAVE_METRICS" = 1 ]
}
metric() {
	api "$1" GET /v1/metrics | awk -v n="$2" -v l="${3:-}" '
		{ name = $1; sub(/\{.*/, "", name) }
		name == n && (l == "" || index($1, l) > 0) { print $2; exit }'
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# wait_for SECONDS DESCRIPTION COMMAND...
wait_for() {
	local limit=$1 what=$2 start=$SECONDS
	shift 2
	while [ $((SECONDS - start)) -lt "$limit" ]; do
		if "$@" >/dev/null 2>&1; then
			ok "$what ($((SECONDS - start))s)"
			return 0
		fi
		sleep 0.2
	done
	fail "$what: not within ${limit}s"
	return 1
}

finish() {
	if [ "$FAILS" -eq 0 ]; then
		echo "PASS"
		exit 0
	fi
	echo "$FAILS failure(s)"
	exit 1
}

# record_events K FILE: GET /v1/events of host K into FILE, one JSON
# object a line, flushed as they come; runs in the background until the
# agent or the test ends.
EVPIDS=()
record_events() {
	python3 -u - "$(sock "$1")" "$2" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: weft\r\n\r\n")
out = open(sys.argv[2], "w", buffering=1)
buf = b""
head = True
while True:
    try:
        c = s.recv(65536)
    except OSError:
        break
    if not c:
        break
    buf += c
    if head:
        if b"\r\n\r\n" not in buf:
            continue
        buf = buf.split(b"\r\n\r\n", 1)[1]
        head = False
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        line = line.strip()
        if line.startswith(b"{"):
            out.write(line.decode(errors="replace") + "\n")
PY
	EVPIDS+=($!)
}
stop_events() {
	local p
	for p in "${EVPIDS[@]}"; do kill "$p" 2>/dev/null; done
	EVPIDS=()
}

# A sanitizer build holds freed memory in quarantine, so VmRSS says nothing
# about leaks there.
ASAN_WEFTD=0
grep -q __asan_init "$WEFTD" 2>/dev/null && ASAN_WEFTD=1
