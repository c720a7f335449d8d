#!/usr/bin/env python3
"""An HTTP/1.1 app that misbehaves on request, for the remote side's tests
(t_http_back.sh).  Raw sockets, so that it can send what no framework would.

Usage: http_back_app.py HOST PORT   (prints "ready" when listening)

Paths:
  /conns      200, body: how many connections it accepted so far
  /echo       the request body back with Content-Length (any framing in),
              x-body-len and x-req-te (how the body came: chunked/length/none)
  /trailers   a chunked answer "hello world" with trailers x-t1: one and
              x-t2: two
  /reqtrailers  200, body: the trailer lines of the (chunked) request
  /head       Content-Length 1234 (no body on HEAD)
  /nocontent  204
  /weft       200 with weft-reason and weft-service fields set by the app
  /hop        200 with Connection: x-hop, X-Hop, Keep-Alive
  /garbage    "HELLO" and close
  /clte       both Content-Length and Transfer-Encoding
  /badchunk   chunked with a bad chunk size
  /cut        promises 100000 bytes, sends 10 and closes
  /silent     closes without answering
  /hang       answers nothing for 30 s, then closes
  /continue   answers "100 Continue" when asked (Expect), then echoes
  /early      answers 413 at once without reading the body, then closes
  /big?n=N    N bytes of 'x' (at most 64 MiB), chunked
  /upgrade    with Upgrade: echo: 101, then echoes raw bytes until EOF
              with Upgrade: bye: 101, "bye", its side closed first; then
              reads until EOF and counts the bytes (/tunnels)
  /tunnels    200, body: "N BYTES": tunnels of the "bye" kind that saw
              the caller's EOF, and the bytes they read
  /until-close  HTTP/1.0-style body ended by the close
  anything else 200 "ok"
"""
import socket
import sys
import threading
import time

CONNS = 0
TUNNELS = [0, 0]
LOCK = threading.Lock()


def read_head(f):
    lines = []
    while True:
        line = f.readline(65537)
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            return lines
        lines.append(line.rstrip(b"\r\n").decode("latin-1"))


def read_body(f, fields):
    te = fields.get("transfer-encoding", "")
    if te.lower() == "chunked":
        body, trailers = b"", []
        while True:
            size = int(f.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while True:
                    t = f.readline()
                    if t in (b"\r\n", b"\n", b""):
                        return body, "chunked", trailers
                    trailers.append(t.rstrip(b"\r\n").decode("latin-1"))
            body += f.read(size)
            f.readline()
    n = int(fields.get("content-length", "0"))
    return f.read(n), ("length" if "content-length" in fields else "none"), []


def send(c, status, body=b"", extra=""):
    c.sendall(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
              f"{extra}\r\n".encode() + body)


def serve(c):
    global CONNS
    f = c.makefile("rb")
    while True:
        head = read_head(f)
        if not head:
            return
        method, target, _ = head[0].split(" ", 2)
        fields = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
        path, _, query = target.partition("?")
        if path == "/continue":
            if fields.get("expect", "").lower() == "100-continue":
                c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            body, how, _ = read_body(f, fields)
            send(c, "200 OK", body, f"x-body-len: {len(body)}\r\n")
            continue
        if path == "/early":
            send(c, "413 Content Too Large", b"too big",
                 "Connection: close\r\n")
            c.shutdown(socket.SHUT_WR)
            return
        if path == "/upgrade" and fields.get("upgrade", "") == "bye":
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: bye\r\n"
                      b"Connection: Upgrade\r\n\r\nbye")
            c.shutdown(socket.SHUT_WR)
            n = 0
            while True:
                d = c.recv(65536)
                if not d:
                    break
                n += len(d)
            with LOCK:
                TUNNELS[0] += 1
                TUNNELS[1] += n
            return
        if path == "/upgrade" and fields.get("upgrade", "") == "echo":
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n"
                      b"Connection: Upgrade\r\nX-Up: yes\r\n\r\n")
            while True:
                d = c.recv(65536)
                if not d:
                    c.shutdown(socket.SHUT_WR)
                    return
                c.sendall(d)
        body, how, trailers = read_body(f, fields)
        if path == "/tunnels":
            with LOCK:
                t = f"{TUNNELS[0]} {TUNNELS[1]}"
            send(c, "200 OK", t.encode())
        elif path == "/conns":
            with LOCK:
                n = CONNS
            send(c, "200 OK", str(n).encode())
        elif path == "/echo":
            send(c, "200 OK", body,
                 f"x-body-len: {len(body)}\r\nx-req-te: {how}\r\n")
        elif path == "/reqtrailers":
            send(c, "200 OK", ";".join(trailers).encode())
        elif path == "/trailers":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      b"Trailer: x-t1, x-t2\r\n\r\n5\r\nhello\r\n6\r\n world"
                      b"\r\n0\r\nx-t1: one\r\nX-T2: two\r\n\r\n")
        elif path == "/head":
            if method == "HEAD":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
            else:
                send(c, "200 OK", b"h" * 1234)
        elif path == "/nocontent":
            c.sendall(b"HTTP/1.1 204 No Content\r\nX-N: 1\r\n\r\n")
        elif path == "/weft":
            send(c, "200 OK", b"app", "weft-reason: fake refusal\r\n"
                 "weft-service: other\r\nx-app: 1\r\n")
        elif path == "/hop":
            send(c, "200 OK", b"hop", "Connection: x-hop\r\nX-Hop: 1\r\n"
                 "Keep-Alive: timeout=5\r\nX-End: 1\r\n")
        elif path == "/garbage":
            c.sendall(b"HELLO\r\n\r\n")
            return
        elif path == "/clte":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
            return
        elif path == "/badchunk":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"zz\r\nabc\r\n0\r\n\r\n")
            return
        elif path == "/cut":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
                      b"0123456789")
            return
        elif path == "/silent":
            return
        elif path == "/hang":
            time.sleep(30)
            return
        elif path == "/until-close":
            c.sendall(b"HTTP/1.0 200 OK\r\nX-Old: 1\r\n\r\nold style body")
            return
        elif path == "/big":
            n = min(int(query.partition("=")[2] or "0"), 64 << 20)
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            block = b"x" * 65536
            while n > 0:
                k = min(n, len(block))
                c.sendall(b"%x\r\n" % k + block[:k] + b"\r\n")
                n -= k
            c.sendall(b"0\r\n\r\n")
        else:
            send(c, "200 OK", b"ok")


def main():
    global CONNS
    host, port = sys.argv[1], int(sys.argv[2])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(128)
    print("ready", flush=True)
    while True:
        c, _ = s.accept()
        with LOCK:
            CONNS += 1

        def run(conn=c):
            try:
                serve(conn)
            except (OSError, ValueError):
                pass
            finally:
                conn.close()
        threading.Thread(target=run, daemon=True).start()


if __name__ == "__main__":
    main()
