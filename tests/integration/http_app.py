#!/usr/bin/env python3
"""An HTTP/1.1 app for the HTTP tests, demo and benchmark.

Usage: http_app.py HOST PORT NAME [VERSION]   (prints "ready" when listening)

Every answer carries x-app-name and x-app-version, so a client can tell
which endpoint and which subset served it.  Keep-alive, pipelined requests
answered in order, Content-Length and chunked request bodies, 100 Continue
sent when asked for.

Paths:
  /flaky            503 every other request (its own counter), else 200
  /hang             never answers (until the client goes, at most 120 s)
  /slow?ms=N        answers after N ms (at most 10 s)
  /close            promises 1000 bytes, sends 10 and closes
  /chunked          a chunked answer with the trailer x-app-trailer: done
  /echo             the request body back (any method)
  /headers          the request head back, as received
  /ws               WebSocket upgrade, then echoes text and binary messages
  /_ctl/fail?pct=N  from now on N% of other requests are answered 503
                    (evenly spread: 50 alternates), 0 to stop
  /_ctl/stats       JSON: requests served, by path and by status
  anything else     200, "name=NAME version=VERSION method=M path=P"
"""
import base64
import hashlib
import json
import socket
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B63"
MAX_HEAD = 256 * 1024


class State:
    def __init__(self, name, version):
        self.name = name
        self.version = version
        self.lock = threading.Lock()
        self.fail_pct = 0
        self.fail_acc = 0
        self.flaky = 0
        self.requests = 0
        self.by_path = {}
        self.by_status = {}

    def count(self, path, status):
        with self.lock:
            self.requests += 1
            key = path.split("?")[0]
            self.by_path[key] = self.by_path.get(key, 0) + 1
            self.by_status[str(status)] = self.by_status.get(str(status), 0) + 1

    def should_fail(self):
        with self.lock:
            self.fail_acc += self.fail_pct
            if self.fail_acc >= 100:
                self.fail_acc -= 100
                return True
            return False

    def flaky_fails(self):
        with self.lock:
            self.flaky += 1
            return self.flaky % 2 == 1


class Conn:
    """One client connection: buffered reads of heads and bodies."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD:
                raise ValueError("line too long")
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD:
                raise ValueError("head too long")
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def body(self, headers):
        te = headers.get("transfer-encoding", "").lower()
        if "chunked" in te:
            out = b""
            while True:
                size = int(self.line().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.line():  # trailers
                        pass
                    return out
                out += self.exact(size)
                self.line()
        n = int(headers.get("content-length", "0") or "0")
        return self.exact(n)


def respond(sock, status, reason, st, body=b"", extra=(), close=False):
    lines = [f"HTTP/1.1 {status} {reason}",
             f"x-app-name: {st.name}", f"x-app-version: {st.version}",
             f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in extra]
    if close:
        lines.append("connection: close")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def ws_echo(conn):
    """Echoes WebSocket messages until a close frame (or the peer goes)."""
    while True:
        b0, b1 = conn.exact(2)
        op, masked, n = b0 & 0x0F, b1 & 0x80, b1 & 0x7F
        if n == 126:
            n = int.from_bytes(conn.exact(2), "big")
        elif n == 127:
            n = int.from_bytes(conn.exact(8), "big")
        mask = conn.exact(4) if masked else b"\0\0\0\0"
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(conn.exact(n)))
        if n < 126:
            hdr = bytes([0x80 | op, n])
        elif n < 65536:
            hdr = bytes([0x80 | op, 126]) + n.to_bytes(2, "big")
        else:
            hdr = bytes([0x80 | op, 127]) + n.to_bytes(8, "big")
        conn.sock.sendall(hdr + data)
        if op == 8:
            return


def serve(sock, st):
    conn = Conn(sock)
    sock.settimeout(120)
    while True:
        try:
            head = conn.head()
        except (EOFError, OSError, ValueError):
            return
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ")
        except ValueError:
            respond(sock, 400, "Bad Request", st, b"bad request line\n",
                    close=True)
            return
        headers = {}
        raw_headers = []
        for l in lines[1:]:
            k, _, v = l.partition(":")
            raw_headers.append((k, v.strip()))
            headers[k.strip().lower()] = v.strip()
        try:
            if headers.get("expect", "").lower() == "100-continue":
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = conn.body(headers)
        except (EOFError, OSError, ValueError):
            return
        url = urlsplit(target)
        path, q = url.path, parse_qs(url.query)
        close = headers.get("connection", "").lower() == "close"
        status = 200
        try:
            if path == "/_ctl/fail":
                st.fail_pct = int(q.get("pct", ["0"])[0])
                st.fail_acc = 0
                respond(sock, 200, "OK", st, b"ok\n", close=close)
            elif path == "/_ctl/stats":
                with st.lock:
                    out = json.dumps({"requests": st.requests,
                                      "paths": st.by_path,
                                      "status": st.by_status}).encode()
                respond(sock, 200, "OK", st, out + b"\n", close=close)
                continue
            elif path == "/ws" and headers.get("upgrade", "").lower() == "websocket":
                key = headers.get("sec-websocket-key", "").encode()
                acc = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
                sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\n"
                             b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                             b"Sec-WebSocket-Accept: " + acc + b"\r\n"
                             b"x-app-name: " + st.name.encode() + b"\r\n\r\n")
                st.count(path, 101)
                try:
                    ws_echo(conn)
                except (EOFError, OSError):
                    pass
                return
            elif st.should_fail() or (path == "/flaky" and st.flaky_fails()):
                status = 503
                respond(sock, 503, "Service Unavailable", st,
                        b"failing on purpose\n", close=close)
            elif path == "/hang":
                st.count(path, 0)
                sock.settimeout(1)
                for _ in range(120):
                    try:
                        if not sock.recv(1):
                            return
                    except socket.timeout:
                        continue
                return
            elif path == "/slow":
                time.sleep(min(int(q.get("ms", ["100"])[0]), 10000) / 1000)
                respond(sock, 200, "OK", st, f"name={st.name} slow\n".encode(),
                        close=close)
            elif path == "/close":
                st.count(path, 0)
                sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n"
                             b"x-app-name: " + st.name.encode() +
                             b"\r\n\r\n0123456789")
                return
            elif path == "/chunked":
                out = [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n"
                       b"trailer: x-app-trailer\r\nx-app-name: " +
                       st.name.encode() + b"\r\n\r\n"]
                for i in range(5):
                    piece = f"chunk {i} of {st.name}\n".encode()
                    out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
                out.append(b"0\r\nx-app-trailer: done\r\n\r\n")
                sock.sendall(b"".join(out))
            elif path == "/echo":
                respond(sock, 200, "OK", st, body,
                        extra=[("x-body-sha256", hashlib.sha256(body).hexdigest())],
                        close=close)
            elif path == "/headers":
                respond(sock, 200, "OK", st, head + b"\r\n", close=close)
            else:
                msg = (f"name={st.name} version={st.version} method={method} "
                       f"path={target}\n").encode()
                respond(sock, 200, "OK", st, msg if method != "HEAD" else b"",
                        close=close)
        except OSError:
            return
        st.count(path, status)
        if close:
            return


def main():
    host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    st = State(name, sys.argv[4] if len(sys.argv) > 4 else "v1")
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(1024)
    print("ready", flush=True)
    while True:
        s, _ = ls.accept()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve_closing, args=(s, st), daemon=True).start()


def serve_closing(s, st):
    try:
        serve(s, st)
    finally:
        s.close()


if __name__ == "__main__":
    main()
