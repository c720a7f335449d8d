#!/usr/bin/env bash
# The remote side of HTTP through the mesh (agent/http_back*.c), between
# real agents on 127.0.0.190-199: agent a's HTTP/1.1 upstream port reaches
# apps behind agent b, which speaks to each in its declared protocol.
#   - an HTTP/1.1 app that misbehaves on request (http_back_app.py):
#     keep-alive connections reused, bodies both ways (length, chunked,
#     16 MiB each way), request trailers, response trailers, HEAD, 204,
#     100-continue, an early answer, hop-by-hop and weft-* fields from the
#     app dropped, a body ended by the close, an upgrade tunnel; garbage,
#     CL+TE and bad chunks answered 502 with the reason, an app cut short
#     mid-body breaks the client's connection, an app that is down gives
#     502 naming the service, address and error
#   - an h2c app (nghttpd) behind b, when nghttpd is installed: bodies
#     both ways, 20 parallel streams, a slow reader, the app going away
#     and coming back
#   - a gRPC app (python3-grpcio) called over HTTP/1.1: unary, server
#     streaming with trailers, a trailers-only error answer
#   - the h2c front end (agent/http_front_h2.c) on a: nghttp and h2load to
#     the h2c app, a gRPC client to the gRPC app (status and trailers)
#   - both agents stop cleanly (exit 0, no sanitizer report) with app
#     connections open on both ends
# Usage: WEFT=... WEFTD=... t_http_back.sh   (or: t_http_back.sh BUILD_DIR)
if [ $# -ge 1 ] && [ -d "$1" ]; then
	export WEFT=${WEFT:-$1/tools/weft} WEFTD=${WEFTD:-$1/agent/weftd}
fi
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

A=127.0.0.190 B=127.0.0.191
UP_APP=15190   # a: http -> app (HTTP/1.1 app on b)
UP_DOWN=15191  # a: http -> down (nothing listens behind b)
UP_H2=15192    # a: http -> h2app (h2c app on b)
UP_GRPC=15193  # a: http -> grpcapp (a gRPC app on b)
UP_H2F=15194   # a: http2 (the h2c front end) -> h2app
UP_GRPCF=15195 # a: grpc (the h2c front end) -> grpcapp
UP_H2LIM=15198 # a: http2 (the h2c front end, max_requests 2) -> app
APP=17390 H2APP=17392 GRPCAPP=17393
MB=16   # request bodies; the response is twice that
[ "${WEFT_SANITIZED:-0}" = 1 ] && MB=4
# A port nobody listens on (another test's tool may hold a fixed one).
DOWN=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

make_ca "$T/ca" it-root
make_cert "$T/ca" a web
make_cert "$T/ca" b "app,down,h2app,grpcapp"

up() { # SERVICE PORT
	echo "{\"service\": \"$1\", \"local_bind\": \"$A:$2\", \"protocol\": \"http\"}"
}
write_config a $A "" "" ", \"upstreams\": [$(up app $UP_APP), $(up down $UP_DOWN), $(up h2app $UP_H2), $(up grpcapp $UP_GRPC),
 {\"service\": \"h2app\", \"local_bind\": \"$A:$UP_H2F\", \"protocol\": \"http2\"},
 {\"service\": \"grpcapp\", \"local_bind\": \"$A:$UP_GRPCF\", \"protocol\": \"grpc\"},
 {\"service\": \"app\", \"local_bind\": \"$A:$UP_H2LIM\", \"protocol\": \"http2\",
  \"max_requests\": 2}]"
write_config b $B $A "" ", \"services\": [
 {\"name\": \"app\", \"port\": $APP, \"protocol\": \"http\"},
 {\"name\": \"down\", \"port\": $DOWN, \"protocol\": \"http\"},
 {\"name\": \"h2app\", \"port\": $H2APP, \"protocol\": \"http2\"},
 {\"name\": \"grpcapp\", \"port\": $GRPCAPP, \"protocol\": \"grpc\"}]"

python3 "$HERE/http_back_app.py" 127.0.0.1 $APP >"$T/app.out" 2>&1 &
PIDS[app]=$!
wait_for 10 "the HTTP/1.1 app listens" grep -qx ready "$T/app.out"
HAVE_H2=0
if command -v nghttpd >/dev/null; then
	mkdir -p "$T/htdocs"
	head -c 2000000 /dev/urandom >"$T/htdocs/blob"
	echo "h2 hello" >"$T/htdocs/index.html"
	nghttpd --no-tls --echo-upload -d "$T/htdocs" -a 127.0.0.1 $H2APP >"$T/nghttpd.out" 2>&1 &
	PIDS[nghttpd]=$!
	HAVE_H2=1
fi

HAVE_GRPC=0
if /usr/bin/python3 -c 'import grpc' 2>/dev/null; then
	/usr/bin/python3 "$HERE/grpc_app.py" serve 127.0.0.1 $GRPCAPP g1 >"$T/grpc.out" 2>&1 &
	PIDS[grpc]=$!
	wait_for 15 "the gRPC app listens" grep -qx ready "$T/grpc.out" && HAVE_GRPC=1
fi

start a
start b
wait_sock a || finish
wait_sock b || finish

U="http://$A:$UP_APP"
c() { curl -sS --max-time 20 "$@"; }
ready() { [ "$(c "$U/" 2>/dev/null)" = ok ]; }
wait_for 30 "a reaches the app behind b" ready || finish

# ---- keep-alive to the app ----
before=$(c "$U/conns")
for i in $(seq 1 30); do c -o /dev/null "$U/plain$i" || break; done
after=$(c "$U/conns")
[ $((after - before)) -le 3 ] &&
	ok "31 requests in a row took $((after - before)) new app connection(s)" ||
	fail "keep-alive to the app: $before -> $after connections for 31 requests"

# ---- bodies both ways ----
head -c $((MB << 20)) /dev/urandom >"$T/big.bin"
want=$(sha256sum <"$T/big.bin" | cut -d' ' -f1)
got=$(c --data-binary @"$T/big.bin" -H 'Content-Type: application/octet-stream' \
	"$U/echo" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] && ok "$MB MiB request with Content-Length echoed intact" ||
	fail "$MB MiB echo: sha256 $got, want $want"
hdr=$(c -D - -o "$T/echo2" -H 'Transfer-Encoding: chunked' \
	--data-binary @"$T/big.bin" "$U/echo" | tr -d '\r')
got=$(sha256sum <"$T/echo2" | cut -d' ' -f1)
[ "$got" = "$want" ] && grep -qi '^x-req-te: chunked' <<<"$hdr" &&
	ok "$MB MiB chunked request reached the app chunked and came back intact" ||
	fail "chunked echo: $got / $(grep -i x-req-te <<<"$hdr")"
got=$(c "$U/big?n=$((MB << 21))" | wc -c)
[ "$got" -eq $((MB << 21)) ] && ok "$((MB * 2)) MiB chunked response streamed" ||
	fail "$((MB * 2)) MiB response: $got bytes"

# Request trailers: a raw chunked request with a trailer.
rawreq() { # PATH-less raw request bytes on stdin -> response on stdout
	python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=15)
s.sendall(sys.stdin.buffer.read())

d = b""
while True:
    try:
        c = s.recv(65536)
    except OSError:
        break
    if not c:
        break
    d += c
sys.stdout.buffer.write(d)' "$A" "$UP_APP"
}
out=$(printf 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nx-req-t: yes\r\n\r\n' | rawreq | tr -d '\r')
[ "$(tail -1 <<<"$out")" = abcde ] && grep -qi '^x-req-te: chunked' <<<"$out" &&
	ok "a chunked request with trailers reached the app chunked" ||
	fail "chunked request with trailers: $out"

# ---- response shapes ----
# --raw: curl shows the chunked body as it came, trailers included.
out=$(c --raw -H 'TE: trailers' "$U/trailers" | tr -d '\r')
grep -q 'hello' <<<"$out" && grep -q ' world' <<<"$out" &&
	grep -qi '^x-t1: one' <<<"$out" && grep -qi '^x-t2: two' <<<"$out" &&
	ok "chunked response with trailers x-t1, x-t2 carried" ||
	fail "response trailers: $(head -c 600 <<<"$out")"
out=$(c -I "$U/head" | tr -d '\r')
grep -qi '^content-length: 1234' <<<"$out" && grep -q '^HTTP/1.1 200' <<<"$out" &&
	ok "HEAD: 200 with the GET's Content-Length, no body" || fail "HEAD: $out"
# Keep-alive after a HEAD: the same connection serves a GET next.
out=$(printf 'HEAD /head HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | rawreq | tr -d '\r')
[ "$(grep -c '^HTTP/1.1 200' <<<"$out")" -eq 2 ] && [ "$(tail -1 <<<"$out")" = ok ] &&
	ok "HEAD then GET on one connection" || fail "HEAD then GET: $out"
code=$(c -o /dev/null -w '%{http_code}' "$U/nocontent")
[ "$code" = 204 ] && ok "204 passed through" || fail "204: $code"
out=$(c -D - "$U/weft" | tr -d '\r')
grep -qi '^HTTP/1.1 200' <<<"$out" && ! grep -qi '^weft-' <<<"$out" &&
	grep -qi '^x-app: 1' <<<"$out" &&
	ok "weft-* fields the app set are dropped (200 stays the app's)" ||
	fail "weft-* from the app: $out"
out=$(c -D - "$U/hop" | tr -d '\r')
! grep -qi '^x-hop' <<<"$out" && ! grep -qi '^keep-alive' <<<"$out" &&
	grep -qi '^x-end: 1' <<<"$out" &&
	ok "hop-by-hop fields from the app dropped" || fail "hop-by-hop: $out"
out=$(c -D - "$U/until-close" | tr -d '\r')
grep -q 'old style body' <<<"$out" && grep -qi '^x-old: 1' <<<"$out" &&
	ok "a body ended by the app's close carried whole" || fail "until close: $out"

# ---- 100-continue and an early answer ----
head -c 200000 /dev/urandom >"$T/mid.bin"
out=$(c -D - -o /dev/null -H 'Expect: 100-continue' --data-binary @"$T/mid.bin" "$U/continue" | tr -d '\r')
grep -qi '^x-body-len: 200000' <<<"$out" &&
	ok "Expect: 100-continue with a 200 kB body" || fail "100-continue: $(head -c 400 <<<"$out")"
code=$(c -o /dev/null -w '%{http_code}' --data-binary @"$T/big.bin" "$U/early")
[ "$code" = 413 ] && ok "an app answering 413 before reading the body: 413" ||
	fail "early answer: $code"
[ "$(c "$U/")" = ok ] && ok "a still answers afterwards" || fail "after early answer"

# ---- the app misbehaves ----
bad() { # PATH WHAT REASON-PATTERN
	local out
	out=$(c -D - "$U$1" | tr -d '\r')
	grep -q '^HTTP/1.1 502' <<<"$out" && grep -qi "$3" <<<"$out" &&
		ok "$2: 502 ($(tail -1 <<<"$out"))" || fail "$2: $(head -c 500 <<<"$out")"
	# A good answer in between, so that the caller's outlier detection
	# (5 gateway errors in a row) does not eject the app's endpoint.
	c -o /dev/null "$U/"
}
bad /garbage "an app answering garbage" "bad response"
bad /clte "an app answering Content-Length and Transfer-Encoding" "Content-Length"
# The head was good and went on; the bad chunk after it resets the stream.
bad /badchunk "an app answering a bad chunk size" "reset"
bad /silent "an app closing without an answer" "without a response"
# After the head the stream is reset: the caller's agent breaks the
# client's response, or answers 502 itself if the head had not gone on.
code=$(c -o /dev/null -w '%{http_code}' "$U/cut" 2>/dev/null)
rc=$?
[ "$rc" -ne 0 ] || [ "$code" = 502 ] &&
	ok "an app cut short mid-body: the client sees it (curl exit $rc, status $code)" ||
	fail "cut short: curl exit 0, status $code"
c -o /dev/null "$U/"
[ "$(c "$U/")" = ok ] && ok "a still answers after the app misbehaved" ||
	fail "after misbehaviour"

# ---- the app is down ----
out=$(c -D - "http://$A:$UP_DOWN/" | tr -d '\r')
grep -q '^HTTP/1.1 502' <<<"$out" &&
	grep -q "local service down at 127.0.0.1:$DOWN: connection refused" <<<"$out" &&
	ok "app down: 502 naming service, address and error" ||
	fail "app down: $(head -c 500 <<<"$out")"

# ---- upgrade ----
out=$(python3 - "$A" "$UP_APP" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
          b"Upgrade: echo\r\n\r\n")
d = b""
while b"\r\n\r\n" not in d:
    c = s.recv(65536)
    if not c:
        break
    d += c
head, _, rest = d.partition(b"\r\n\r\n")
msg = b"tunnel bytes " * 1000
s.sendall(msg)
got = rest
while len(got) < len(msg):
    c = s.recv(65536)
    if not c:
        break
    got += c
s.shutdown(socket.SHUT_WR)
tail = s.recv(10)
print(head.split(b"\r\n")[0].decode(), "x-up" in head.decode().lower(),
      got == msg, tail == b"")
PY
)
[ "$out" = "HTTP/1.1 101 Switching Protocols True True True" ] &&
	ok "upgrade: 101 with the app's fields, 13 kB echoed through the tunnel, close carried" ||
	fail "upgrade: $out"

# The app ends its side first: the caller gets "bye" and the end (the
# caller's front end then ends the tunnel too), and the app sees the end
# of the connection: nothing is left open on b.
out=$(python3 - "$A" "$UP_APP" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
          b"Upgrade: bye\r\n\r\n")
d = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    d += c
print(d.split(b"\r\n")[0].decode(), d.endswith(b"\r\n\r\nbye"))
PY
)
tunnels_done() { [ "$(c "$U/tunnels" | cut -d' ' -f1)" = 1 ]; }
[ "$out" = "HTTP/1.1 101 Switching Protocols True" ] &&
	wait_for 10 "upgrade, the app's side closed first: the caller got its bytes and the end, the app the connection's end" tunnels_done ||
	fail "upgrade with the app closing first: $out / $(c "$U/tunnels")"

# ---- an h2c app ----
if [ "$HAVE_H2" = 1 ]; then
	H="http://$A:$UP_H2"
	out=$(c "$H/index.html")
	[ "$out" = "h2 hello" ] && ok "HTTP/1.1 caller to an h2c app (nghttpd)" ||
		fail "h2c app: $out"
	got=$(c "$H/blob" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$(sha256sum <"$T/htdocs/blob" | cut -d' ' -f1)" ] &&
		ok "2 MB from the h2c app intact (past the HTTP/2 windows)" ||
		fail "h2c blob: $got"
	got=$(c --data-binary @"$T/big.bin" "$H/index.html" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] &&
		ok "$MB MiB request body to the h2c app (echo-upload) and back intact" ||
		fail "h2c echo of $MB MiB: $got"
	got=$(c -H 'Transfer-Encoding: chunked' --data-binary @"$T/mid.bin" "$H/index.html" |
		sha256sum | cut -d' ' -f1)
	[ "$got" = "$(sha256sum <"$T/mid.bin" | cut -d' ' -f1)" ] &&
		ok "chunked request body to the h2c app intact" || fail "h2c chunked echo: $got"
	code=$(c -o /dev/null -w '%{http_code}' "$H/missing")
	[ "$code" = 404 ] && ok "the h2c app's 404 passed through" || fail "h2c 404: $code"
	pids=()
	for i in $(seq 1 20); do
		c -o "$T/par$i" "$H/blob" &
		pids+=($!)
	done
	wait "${pids[@]}"
	n=0
	for i in $(seq 1 20); do cmp -s "$T/par$i" "$T/htdocs/blob" && n=$((n + 1)); done
	[ "$n" -eq 20 ] && ok "20 parallel requests on the h2c app connection" ||
		fail "parallel h2c: $n of 20"
	kill "${PIDS[nghttpd]}"
	unset 'PIDS[nghttpd]'
	sleep 0.3
	out=$(c -D - "$H/index.html" | tr -d '\r')
	grep -q '^HTTP/1.1 502' <<<"$out" && grep -q "local service h2app" <<<"$out" &&
		ok "h2c app gone: 502 with the reason" || fail "h2c app gone: $(head -c 300 <<<"$out")"
	nghttpd --no-tls --echo-upload -d "$T/htdocs" -a 127.0.0.1 $H2APP >>"$T/nghttpd.out" 2>&1 &
	PIDS[nghttpd]=$!
	h2back() { [ "$(c "$H/index.html")" = "h2 hello" ]; }
	wait_for 10 "h2c app back: a new session" h2back
	# A slow reader: the app's DATA waits on the mesh's room, and
	# nothing is lost.
	got=$(c "$H/blob" --limit-rate 1000k | sha256sum | cut -d' ' -f1)
	[ "$got" = "$(sha256sum <"$T/htdocs/blob" | cut -d' ' -f1)" ] &&
		ok "2 MB from the h2c app to a slow reader (1 MB/s) intact" || fail "h2c slow reader: $got"
else
	echo "# nghttpd not installed: h2c app cases skipped"
fi

# ---- a gRPC app (h2c), called over HTTP/1.1 ----
# The caller's front end is HTTP/1.1 here: the gRPC frames go as a body,
# the app's trailers come back as chunked trailers (curl --raw shows them).
if [ "$HAVE_GRPC" = 1 ]; then
	G="http://$A:$UP_GRPC/weft.test.Echo"
	grpc_call() { # METHOD TEXT
		printf '\0\0\0\0\'"$(printf '%03o' ${#2})"'%s' "$2" >"$T/grpc.req"
		c --raw -D - -H 'content-type: application/grpc' -H 'TE: trailers' \
			--data-binary @"$T/grpc.req" "$G/$1" | tr -d '\r\0'
	}
	out=$(grpc_call Unary hello)
	grep -q 'g1:hello' <<<"$out" && grep -q '^grpc-status: 0' <<<"$out" &&
		grep -q '^x-app-trailer: unary-g1' <<<"$out" &&
		ok "gRPC unary to a grpc app: answer and trailers (grpc-status 0)" ||
		fail "gRPC unary: $(head -c 600 <<<"$out")"
	out=$(grpc_call Stream "w 500")
	n=$(grep -ao 'g1:w:[0-9]*' <<<"$out" | wc -l)
	[ "$n" -eq 500 ] && grep -q '^grpc-status: 0' <<<"$out" &&
		grep -q '^x-app-trailer: stream-g1' <<<"$out" &&
		ok "gRPC server streaming: 500 messages, then trailers" ||
		fail "gRPC stream: $n messages; $(tail -c 300 <<<"$out")"
	out=$(grpc_call Fail thing)
	grep -q '^HTTP/1.1 200' <<<"$out" && grep -q '^grpc-status: 5' <<<"$out" &&
		grep -q '^grpc-message: no such thing: thing' <<<"$out" &&
		ok "gRPC trailers-only answer (NOT_FOUND) carried as the head" ||
		fail "gRPC fail: $(head -c 600 <<<"$out")"
else
	echo "# python3-grpcio not installed: gRPC cases skipped"
fi

# ---- the h2c front end (a) to the h2c and gRPC apps (b) ----
if [ "$HAVE_H2" = 1 ] && command -v nghttp >/dev/null; then
	F="http://$A:$UP_H2F"
	got=$(timeout 20 nghttp "$F/blob" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$(sha256sum <"$T/htdocs/blob" | cut -d' ' -f1)" ] &&
		ok "h2c client -> h2c front end -> h2c app: 2 MB intact" ||
		fail "h2c front end blob: $got"
	got=$(timeout 30 nghttp -d "$T/big.bin" "$F/index.html" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] &&
		ok "h2c client upload of $MB MiB through both h2c ends and back intact" ||
		fail "h2c front end upload: $got"
	# Expect: 100-continue is answered by the front end: curl would
	# otherwise wait its 5 s before sending the body.
	t=$(c --http2-prior-knowledge --expect100-timeout 5 -H 'Expect: 100-continue' \
		--data-binary @"$T/mid.bin" -o "$T/cont.out" -w '%{time_total}' "$F/index.html")
	cmp -s "$T/cont.out" "$T/mid.bin" && awk -v t="$t" 'BEGIN { exit !(t < 4) }' &&
		ok "h2c front end answers Expect: 100-continue itself (${t}s, body intact)" ||
		fail "h2c Expect: 100-continue: ${t}s, $(cmp "$T/cont.out" "$T/mid.bin" 2>&1)"
	out=$(timeout 60 h2load -n 2000 -c 4 -m 16 "$F/index.html" 2>&1 |
		grep -E '^status codes:')
	grep -q '2000 2xx' <<<"$out" &&
		ok "h2load: 2000 requests on 4 h2c connections x 16 streams, all 2xx" ||
		fail "h2load through the h2c front end: $out"
	# Circuit limit on the h2c front end: two requests hang at the app,
	# the third on the same connection is answered 503 at once; once
	# the client is gone, the limit is free again.
	L="http://$A:$UP_H2LIM"
	out=$(timeout 4 nghttp -v "$L/hang?1" "$L/hang?2" "$L/after" 2>&1 |
		grep -aE ':status: |circuit open' | tr '\n' ' ')
	grep -q ':status: 503' <<<"$out" &&
		ok "h2c front end: over max_requests (2) answered 503 at once" ||
		fail "h2c front end circuit limit: $out"
	lim_free() { timeout 5 nghttp -v "$L/plain" 2>&1 | grep -q ':status: 200'; }
	wait_for 10 "h2c front end: the limit is released with the streams" lim_free
	out=$(timeout 20 nghttp -v "$F/missing" 2>&1 | grep -E ':status: ')
	grep -q '404' <<<"$out" && ok "h2c front end: the app's 404 passed through" ||
		fail "h2c front end 404: $out"
fi
if [ "$HAVE_GRPC" = 1 ]; then
	out=$(timeout 20 /usr/bin/python3 "$HERE/grpc_app.py" unary "$A:$UP_GRPCF" hi2 2>&1)
	grep -q '^msg g1:hi2' <<<"$out" && grep -q '^status OK' <<<"$out" &&
		grep -q 'trailer x-app-trailer unary-g1' <<<"$out" &&
		ok "gRPC client -> h2c front end -> gRPC app: answer, status, trailer" ||
		fail "gRPC through the h2c front end: $out"
	out=$(timeout 20 /usr/bin/python3 "$HERE/grpc_app.py" fail "$A:$UP_GRPCF" x 2>&1)
	grep -q '^status NOT_FOUND' <<<"$out" &&
		ok "gRPC error status through both h2c ends: $(grep '^status' <<<"$out")" ||
		fail "gRPC error through the h2c front end: $out"
fi

# ---- b and a stop cleanly with connections open ----
# An idle pooled connection and an h2c session are open on b; a request
# is in flight to an app that never answers; a holds an h2c app
# connection on its front end.
c -o /dev/null --max-time 5 "$U/hang" 2>/dev/null &
sleep 0.5
kill -TERM "${PIDS[b]}"
st=0
for i in $(seq 1 50); do
	kill -0 "${PIDS[b]}" 2>/dev/null || break
	sleep 0.2
done
if kill -0 "${PIDS[b]}" 2>/dev/null; then
	fail "b did not stop within 10 s of SIGTERM"
else
	wait "${PIDS[b]}"
	st=$?
	unset 'PIDS[b]'
	grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error' "$T/b.log" &&
		fail "b: sanitizer report at stop: $(grep -m3 'Sanitizer\|runtime error' "$T/b.log")" ||
		{ [ "$st" -eq 0 ] && ok "b stopped cleanly with app connections open (exit 0)" ||
			fail "b exited $st at SIGTERM"; }
fi

# a: an h2c app connection to its front end stays open while it stops.
python3 - "$A" "$UP_H2F" >/dev/null 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
# The client preface and an empty SETTINGS, then silence.
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
time.sleep(8)
PY
sleep 0.5
kill -TERM "${PIDS[a]}"
for i in $(seq 1 50); do
	kill -0 "${PIDS[a]}" 2>/dev/null || break
	sleep 0.2
done
if kill -0 "${PIDS[a]}" 2>/dev/null; then
	fail "a did not stop within 10 s of SIGTERM"
else
	wait "${PIDS[a]}"
	st=$?
	unset 'PIDS[a]'
	grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error' "$T/a.log" &&
		fail "a: sanitizer report at stop: $(grep -m3 'Sanitizer\|runtime error' "$T/a.log")" ||
		{ [ "$st" -eq 0 ] && ok "a stopped cleanly with an h2c app connection open (exit 0)" ||
			fail "a exited $st at SIGTERM"; }
fi

finish
