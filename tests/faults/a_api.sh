#!/usr/bin/env bash
# Hostile local clients of h1's API socket.
# What must hold:
#   - a non-owner (uid and gid 65534, which the socket's group lets
#     connect) gets 403 from every changing endpoint in agent/handlers.c's
#     route table, while it may read (200), and nothing changes;
#   - the owner (root) is not refused by the same check (control);
#   - malformed JSON, wrong types, NUL bytes and deep nesting get 400 with
#     an error naming what was wrong; bodies over 1 MiB (sent, or only
#     announced) get 413; over 16 KiB of headers get 431;
#   - 100 clients at once (the agent serves 64): the agent still answers;
#   - after all of it the agent runs and its state is unchanged.
source "$(dirname "$0")/lib.sh"
: "${WEFT_SRC:?}"
command -v setpriv >/dev/null || { echo "SKIP: needs setpriv (util-linux)"; exit 77; }
# The non-owner runs the system's python: a per-user one (pyenv) is not
# readable by uid 65534.
SYSPY=/usr/bin/python3
[ -x "$SYSPY" ] || { echo "SKIP: needs /usr/bin/python3 for the non-owner client"; exit 77; }
N=2
bed_up $N
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
# api_as_nobody METHOD PATH [BODY]
api_nobody() {
	(cd / && nobody "$SYSPY" - "$(sock 1)" "$1" "$2" "${3:-}" <<'PY'
import socket, sys
path, method, target, body = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
try:
    s.connect(path)
except OSError as e:
    print("connect-failed", e)
    sys.exit(0)
req = f"{method} {target} HTTP/1.1\r\nHost: weft\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
s.sendall(req.encode())
data = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    data += c
print(data.split(b" ")[1].decode() if data else "none")
PY
	)
}
state() { statuses 1; api 1 GET /v1/objects | tail -n +2; "$WEFT" info --json --socket "$(sock 1)" | grep -v 'uptime\|_in_s'; }
ST0=$(state)
PID=$(tb pid 1)

# The changing endpoints, from the route table itself.
mapfile -t ROUTES < <(grep -oE '\{"POST", "/v1/[^"]*", true' "$WEFT_SRC/agent/handlers.c" | cut -d'"' -f4)
[ "${#ROUTES[@]}" -ge 4 ] || fail "found only ${#ROUTES[@]} changing routes in agent/handlers.c"
target() { case $1 in */) echo "${1}x/pass" ;; *) echo "$1" ;; esac; }

r=$(api_nobody GET /v1/members)
[ "$r" = 200 ] && ok "non-owner can connect and read (200)" || fail "non-owner read: $r"
for p in "${ROUTES[@]}"; do
	t=$(target "$p")
	r=$(api_nobody POST "$t" '{"addresses": ["198.18.0.2"]}')
	[ "$r" = 403 ] && ok "non-owner POST $t: 403" || fail "non-owner POST $t: $r"
	if [ "$p" != /v1/leave ]; then
		r=$(api 1 POST "$t" '{"malformed' | head -1)
		[ "$r" != 403 ] && ok "owner POST $t passes the check ($r for a malformed body)" ||
			fail "owner POST $t: 403"
	fi
done

# Malformed bodies, to every changing endpoint that reads one.
python3 -c 'print("[" * 100000 + "]" * 100000)' >"$S/deep.json"
printf '{"addresses": ["\0"]}' >"$S/nul.json"
for p in /v1/join /v1/objects /v1/maint; do
	printf '%s\n' "${ROUTES[@]}" | grep -qx "$p" || continue
	for body in '{"addresses": [' 'not json' '[]' '{"addresses": 5, "armored": 7, "enable": "yes"}' \
		'{"addresses": ["999.1.1.1:99999"]}' '{"armored": "-----BEGIN WEFT OBJECT-----\nAAAA\n-----END WEFT OBJECT-----\n"}' \
		"@$S/deep.json" "@$S/nul.json"; do
		out=$(api 1 POST "$p" "$body")
		code=$(echo "$out" | head -1)
		msg=$(echo "$out" | tail -n +2 | tr -d '\n' | cut -c1-100)
		if [ "$code" = 400 ] || [ "$code" = 413 ] && echo "$msg" | grep -q '"error"'; then
			ok "POST $p ${body:0:30}...: $code $msg"
		else
			fail "POST $p ${body:0:30}: $code $msg"
		fi
	done
done

# Sizes.
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$S/big.json"
r=$(api 1 POST /v1/join "@$S/big.json" | head -1)
[ "$r" = 413 ] && ok "a 2 MiB body: 413" || fail "2 MiB body: $r"
r=$(python3 - "$(sock 1)" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
t = time.monotonic()
s.sendall(b"POST /v1/join HTTP/1.1\r\nHost: w\r\nContent-Length: 1000000000000\r\n\r\n")
d = s.recv(4096)
print(d.split(b" ")[1].decode() if d else "none", int((time.monotonic() - t) * 1000))
PY
)
[ "${r%% *}" = 413 ] && ok "Content-Length of 10^12 announced: 413 after ${r##* } ms, before any body" ||
	fail "announced 10^12 bytes: $r"
r=$(python3 - "$(sock 1)" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
h = b"GET /v1/members HTTP/1.1\r\nHost: w\r\n" + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 100) for i in range(400)) + b"\r\n"
try:
    s.sendall(h)
except OSError:
    pass
d = b""
try:
    d = s.recv(4096)
except OSError:
    pass
print(d.split(b" ")[1].decode() if d else "none")
PY
)
[ "$r" = 431 ] && ok "40 KiB of headers: 431" || fail "40 KiB of headers: $r"

# Many clients of the socket's group at once, each sending half a request
# and holding: the owner's CLI must still get in.
nobody /usr/bin/python3 - "$(sock 1)" >"$S/flood.out" <<'PY' &
import socket, sys, time
socks = []
for i in range(100):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"GET /v1/mem"); socks.append(s)
    except OSError:
        pass
print(len(socks), flush=True)
time.sleep(4)
PY
FLOOD=$!
sleep 1
t0=$(date +%s%N)
r=$(api 1 GET /v1/health | head -1)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait $FLOOD
[ "$(cat "$S/flood.out")" -ge 64 ] 2>/dev/null || fail "the holders did not get their 64 slots: '$(cat "$S/flood.out")'"
[ "$r" = 200 ] && ok "with $(cat "$S/flood.out") clients of uid 65534 holding half requests, the owner is answered ($ms ms)" ||
	fail "with $(cat "$S/flood.out") clients of uid 65534 holding half requests, the owner got '$r' after $ms ms"
r=$(api 1 GET /v1/health | head -1)
[ "$r" = 200 ] && ok "once the holders are gone, clients are answered again" || fail "after the flood: $r"

kill -0 "$PID" && ok "h1's agent still runs (pid $PID)" || fail "h1's agent died"
[ "$(state)" = "$ST0" ] && ok "h1's state unchanged" || { fail "h1's state changed"; diff <(echo "$ST0") <(state) >&2; }
finish
