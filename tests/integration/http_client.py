#!/usr/bin/env python3
"""Clients for the HTTP tests, each bounded in time.

  http_client.py load HOST PORT N CONC PATH [NAME:VALUE ...]
      N GET requests over CONC keep-alive connections; prints JSON:
      {"status": {code: n}, "version": {x-app-version: n},
       "name": {x-app-name: n}, "agent": {x-weft-agent: n},
       "errors": n, "late": {...}}   ("late": the same counts for the
      last quarter of the requests, in the order they were sent)
  http_client.py raw HOST PORT TEXT
      sends TEXT (Python escapes: \\r \\n \\x00) on a new connection;
      prints the status code, "x-weft-agent: ..." when present, and
      "closed" or "open": whether the agent closed the connection after
      its answer (within 3 s)
  http_client.py pipeline HOST PORT PATH...
      GETs of every PATH written at once on one connection; prints the
      first line of each answer's body, in the order received
  http_client.py ws HOST PORT PATH MESSAGE
      WebSocket upgrade, one text message and a close; prints
      "101 accept-ok echo=MESSAGE" on a full round trip
"""
import base64
import hashlib
import http.client
import json
import os
import socket
import sys
import threading
import time

DEADLINE = time.monotonic() + 170


def load(host, port, n, conc, path, hdrs):
    headers = dict(h.split(":", 1) for h in hdrs)
    results = [None] * n
    nxt = [0]
    lock = threading.Lock()

    def worker():
        c = None
        while time.monotonic() < DEADLINE:
            with lock:
                i = nxt[0]
                if i >= n:
                    break
                nxt[0] += 1
            try:
                if c is None:
                    c = http.client.HTTPConnection(host, port, timeout=15)
                c.request("GET", path, headers=headers)
                r = c.getresponse()
                r.read()
                results[i] = (r.status, r.getheader("x-app-version"),
                              r.getheader("x-app-name"),
                              r.getheader("x-weft-agent"))
                if r.getheader("connection", "").lower() == "close":
                    c.close()
                    c = None
            except (OSError, http.client.HTTPException) as e:
                results[i] = ("error", None, None, type(e).__name__)
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()

    ts = [threading.Thread(target=worker) for _ in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()

    def tally(rs):
        out = {"status": {}, "version": {}, "name": {}, "agent": {},
               "errors": 0, "missing": 0}
        for r in rs:
            if r is None:
                out["missing"] += 1
                continue
            if r[0] == "error":
                out["errors"] += 1
                out["status"]["error"] = out["status"].get("error", 0) + 1
                continue
            for k, v in zip(("status", "version", "name", "agent"), r):
                v = str(v)
                out[k][v] = out[k].get(v, 0) + 1
        return out

    out = tally(results)
    out["late"] = tally(results[n - n // 4:])
    print(json.dumps(out, sort_keys=True))
    return 0


def raw(host, port, text):
    data = text.encode().decode("unicode_escape").encode("latin-1")
    s = socket.create_connection((host, port), timeout=5)
    try:
        s.sendall(data)
    except OSError:
        pass
    got = b""
    s.settimeout(3)
    closed = False
    try:
        while True:
            c = s.recv(65536)
            if not c:
                closed = True
                break
            got += c
            if b"\r\n\r\n" in got:
                head, _, body = got.partition(b"\r\n\r\n")
                cl = [l for l in head.split(b"\r\n")
                      if l.lower().startswith(b"content-length:")]
                if cl and len(body) >= int(cl[0].split(b":")[1]):
                    # The whole answer is here; now: does it close?
                    c = s.recv(65536)
                    closed = not c
                    break
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    s.close()
    lines = got.split(b"\r\n")
    status = lines[0].split(b" ")[1].decode() if len(lines[0].split(b" ")) > 1 else "none"
    agent = [l.decode() for l in lines if l.lower().startswith(b"x-weft-agent:")]
    print(status, *(a.replace(" ", "") for a in agent),
          "closed" if closed else "open")
    return 0


def pipeline(host, port, paths):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"".join(b"GET " + p.encode() + b" HTTP/1.1\r\nHost: pipe.test\r\n\r\n"
                       for p in paths))
    f = s.makefile("rb")
    for _ in paths:
        status = f.readline().split(b" ")[1].decode()
        n = 0
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        body = f.read(n)
        print(status, body.split(b"\n")[0].decode())
    s.close()
    return 0


def ws(host, port, path, message):
    key = base64.b64encode(os.urandom(16))
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: ws.test\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        c = s.recv(4096)
        if not c:
            print("closed before the 101")
            return 1
        buf += c
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = lines[0].split(b" ")[1].decode()
    want = base64.b64encode(hashlib.sha1(
        key + b"258EAFA5-E914-47DA-95CA-C5AB0DC11B63").digest())
    acc = [l.split(b":", 1)[1].strip() for l in lines
           if l.lower().startswith(b"sec-websocket-accept:")]
    if status != "101":
        print(status, "no upgrade:", lines[0].decode())
        return 1
    mask = os.urandom(4)
    payload = message.encode()
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(
        c ^ mask[i % 4] for i, c in enumerate(payload))
    s.sendall(frame)
    while len(buf) < 2 + len(payload):
        c = s.recv(4096)
        if not c:
            break
        buf += c
    echo = buf[2:2 + (buf[1] & 0x7F)].decode(errors="replace") if len(buf) >= 2 else ""
    s.sendall(bytes([0x88, 0x80]) + mask)
    s.close()
    print(status, "accept-ok" if acc and acc[0] == want else "accept-BAD",
          "echo=" + echo)
    return 0


def main():
    a = sys.argv[1:]
    if len(a) >= 6 and a[0] == "load":
        return load(a[1], int(a[2]), int(a[3]), int(a[4]), a[5], a[6:])
    if len(a) == 4 and a[0] == "raw":
        return raw(a[1], int(a[2]), a[3])
    if len(a) >= 4 and a[0] == "pipeline":
        return pipeline(a[1], int(a[2]), a[3:])
    if len(a) == 5 and a[0] == "ws":
        return ws(a[1], int(a[2]), a[3], a[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
