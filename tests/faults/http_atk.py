#!/usr/bin/env python3
"""Apps and hostile clients for a_http.sh (attacks on weft's HTTP front end
and remote side).  Raw sockets, so that it can send what no HTTP library
would.  Every loop is bounded in count and time.

  app LIFE CTLPORT NAME:PORT...   HTTP/1.1 apps (one thread a connection) that
      record what reached them; GET /stats on 127.0.0.1:CTLPORT (not through
      weft) gives the tallies as JSON.  Exits after LIFE seconds.  Paths:
        /atk...      anything an attack should never get through: recorded
        /hdrs        200, body: the field names received, one a line
        /blob?n=N    200 with N bytes of 'b'
        /slowbody    reads the whole body, then 200
        /r/SHAPE     a response that can be read two ways (clte, tecl, 2cl,
                     garbage, spacecolon, nul, bigcl), followed on the same
                     connection by a whole second response "SMUGGLED"; a
                     request arriving on that connection afterwards is
                     counted as reused_after_bad
        else         200 "ok NAME PATH"
  smuggle HOST PORT         each smuggling shape on its own connection: JSON
                            lines {name, status, closed, ms, responses}
  watch HOST PORT STOP MAX  the well-behaved client: a GET on a new
                            connection every 100 ms until file STOP exists
                            (at most MAX s); JSON summary
  slow HOST PORT N SECS KIND  N connections trickling one byte a second
                            (KIND head: header bytes; body: body bytes after
                            a complete head) for SECS s; JSON summary
  flood HOST PORT KIND      big: 100 fields of 16 KiB; many: 10,000 tiny
                            fields; remote-fields: 150 small fields (-tp:
                            one of them a valid traceparent);
                            remote-bytes: 20 fields of 4 KiB
  pipeline HOST PORT N SIZE PID  N pipelined GETs of SIZE-byte answers, not
                            read for 8 s (weftd PID's VmRSS sampled), then
                            all read
  conns HOST PORT N MODE PID  N connections at once; MODE get: each sends a
                            GET and reads the answer; MODE close: each
                            closes (half with RST) without sending
  get HOST PORT PATH [NAME:VALUE...]  one request: JSON {status, headers,
                            body}
  respsmuggle HOST PORT     the /r/ shapes in turn on one keep-alive
                            connection, each followed by a GET whose answer
                            must be its own
  stats CTLPORT             the app's tallies
"""
import json
import os
import selectors
import socket
import sys
import threading
import time

# ---------------------------------------------------------------- the app

LOCK = threading.Lock()
STATS = {}


def tally(name, key, add=1, note=None):
    with LOCK:
        s = STATS.setdefault(name, {"requests": 0, "atk": 0, "atk_seen": [],
                                    "weft_fields": 0,
                                    "reused_after_bad": 0})
        s[key] = s.get(key, 0) + add
        if note is not None and len(s["atk_seen"]) < 20:
            s["atk_seen"].append(note)


def read_head(f):
    lines = []
    total = 0
    while True:
        line = f.readline(1 << 20)
        if not line:
            return None
        total += len(line)
        if total > (4 << 20):
            return None
        if line in (b"\r\n", b"\n"):
            return lines
        lines.append(line.rstrip(b"\r\n").decode("latin-1"))


def read_body(f, fields):
    if fields.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        for _ in range(1 << 20):
            size = int(f.readline(4096).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                for _ in range(1000):
                    t = f.readline(65536)
                    if t in (b"\r\n", b"\n", b""):
                        return body
                return body
            body += f.read(size)
            f.readline(16)
        return body
    return f.read(int(fields.get("content-length", "0") or "0"))


BAD = {
    "clte": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "tecl": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Length: 40\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "2cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 0\r\n"
           b"\r\nhello",
    "garbage": b"HTTP/1.1 2OO OK\r\nC@ntent-Length: 5\r\n\r\nhello",
    "spacecolon": b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello",
    "nul": b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 5\r\n\r\nhello",
    "bigcl": b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551621\r\n"
             b"\r\nhello",
}
SMUGGLED = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"


def send(c, status, body=b"", extra=""):
    c.sendall(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
              f"{extra}\r\n".encode() + body)


def serve(c, name):
    f = c.makefile("rb")
    bad = False
    for _ in range(1 << 20):
        head = read_head(f)
        if not head:
            return
        parts = head[0].split(" ")
        if len(parts) != 3:
            return
        method, target = parts[0], parts[1]
        fields = {}
        names = []
        for line in head[1:]:
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
            names.append(k.strip().lower())
        tally(name, "requests")
        if bad:
            tally(name, "reused_after_bad")
        if any(n.startswith("weft-") for n in names):
            tally(name, "weft_fields")
        if "/atk" in target:
            tally(name, "atk", note=f"{method} {target}")
        path, _, query = target.partition("?")
        body = read_body(f, fields)
        if path == "/hdrs":
            send(c, 200, ("\n".join(names) + "\n").encode())
        elif path == "/blob":
            n = int(query.partition("=")[2] or "0")
            send(c, 200, b"b" * min(n, 1 << 20))
        elif path == "/slowbody":
            send(c, 200, b"got %d" % len(body))
        elif path.startswith("/r/") and path[3:] in BAD:
            c.sendall(BAD[path[3:]] + SMUGGLED)
            bad = True
        elif bad:
            send(c, 200, b"SMUGGLED2")
        else:
            send(c, 200, f"ok {name} {target}".encode())


def run_app(argv):
    life, ctl = float(argv[0]), int(argv[1])
    socks = []

    def listen(port, fn):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(1024)
        socks.append(s)

        def loop():
            while True:
                try:
                    c, _ = s.accept()
                except OSError:
                    return
                threading.Thread(target=fn, args=(c,), daemon=True).start()
        threading.Thread(target=loop, daemon=True).start()

    def wrap(name):
        def fn(c):
            try:
                serve(c, name)
            except (OSError, ValueError):
                pass
            finally:
                c.close()
        return fn

    def control(c):
        try:
            c.recv(4096)
            with LOCK:
                body = json.dumps(STATS).encode()
            send(c, 200, body)
        except OSError:
            pass
        c.close()

    for spec in argv[2:]:
        name, port = spec.split(":")
        tally(name, "requests", 0)
        listen(int(port), wrap(name))
    listen(ctl, control)
    print("ready", os.getpid(), flush=True)
    time.sleep(life)


# ------------------------------------------------------------ the clients

def recv_until_close(s, limit_s, cap=1 << 20):
    """Reads until the peer closes or limit_s passes: (bytes, closed)."""
    data = b""
    end = time.monotonic() + limit_s
    while len(data) < cap:
        left = end - time.monotonic()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            c = s.recv(65536)
        except socket.timeout:
            return data, False
        except OSError:
            return data, True  # reset: closed by the agent
        if not c:
            return data, True
        data += c
    return data, False


def status_of(data):
    p = data.split(b"\r\n", 1)[0].split(b" ")
    return int(p[1]) if len(p) > 1 and p[1].isdigit() else 0


SM = b"GET /atk-smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


def shapes():
    h = b"Host: x\r\n"
    chunked_sm = b"0\r\n\r\n" + SM
    return [
        ("CL+TE", b"POST /atk HTTP/1.1\r\n" + h + b"Content-Length: %d\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n" % len(chunked_sm) + chunked_sm),
        ("TE+CL", b"POST /atk HTTP/1.1\r\n" + h + b"Transfer-Encoding: chunked"
         b"\r\nContent-Length: %d\r\n\r\n" % len(chunked_sm) + chunked_sm),
        ("duplicate CL (equal)", b"POST /atk HTTP/1.1\r\n" + h +
         b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
        ("duplicate CL (differing)", b"POST /atk HTTP/1.1\r\n" + h +
         b"Content-Length: 5\r\nContent-Length: %d\r\n\r\nhello" % (5 + len(SM))
         + SM),
        ("CL list \"5, 5\"", b"POST /atk HTTP/1.1\r\n" + h +
         b"Content-Length: 5, 5\r\n\r\nhello"),
        ("CL +5", b"POST /atk HTTP/1.1\r\n" + h + b"Content-Length: +5\r\n\r\n"
         b"hello"),
        ("CL 2^64+5", b"POST /atk HTTP/1.1\r\n" + h +
         b"Content-Length: 18446744073709551621\r\n\r\nhello"),
        ("TE: chunked, identity", b"POST /atk HTTP/1.1\r\n" + h +
         b"Transfer-Encoding: chunked, identity\r\n\r\n" + chunked_sm),
        ("TE: identity", b"POST /atk HTTP/1.1\r\n" + h +
         b"Transfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello"),
        ("TE: xchunked", b"POST /atk HTTP/1.1\r\n" + h +
         b"Transfer-Encoding: xchunked\r\n\r\n" + chunked_sm),
        ("TE twice", b"POST /atk HTTP/1.1\r\n" + h + b"Transfer-Encoding: "
         b"chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_sm),
        ("TE in HTTP/1.0", b"POST /atk HTTP/1.0\r\n" + h +
         b"Transfer-Encoding: chunked\r\n\r\n" + chunked_sm),
        ("TE obs-fold", b"POST /atk HTTP/1.1\r\n" + h + b"Transfer-Encoding:\r\n"
         b" chunked\r\nContent-Length: 5\r\n\r\nhello"),
        ("obs-fold", b"GET /atk HTTP/1.1\r\n" + h + b"X-A: a\r\n b\r\n\r\n"),
        ("bare LF", b"GET /atk HTTP/1.1\r\n" + b"Host: x\nX-A: b\r\n\r\n"),
        ("bare CR", b"GET /atk HTTP/1.1\r\n" + h + b"X-A: a\rb\r\n\r\n"),
        ("bare LF request line", b"GET /atk HTTP/1.1\n" + h + b"\r\n"),
        ("NUL in a value", b"GET /atk HTTP/1.1\r\n" + h + b"X-A: a\0b\r\n\r\n"),
        ("NUL in a name", b"GET /atk HTTP/1.1\r\n" + h + b"X-\0A: b\r\n\r\n"),
        ("space before colon (TE)", b"POST /atk HTTP/1.1\r\n" + h +
         b"Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\nhello"),
        ("space before colon (CL)", b"POST /atk HTTP/1.1\r\n" + h +
         b"Content-Length : 5\r\n\r\nhello"),
        ("chunk size 2^64", b"POST /atk HTTP/1.1\r\n" + h +
         b"Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\nhello\r\n"
         b"0\r\n\r\n"),
        ("chunk size 2^64+5", b"POST /atk HTTP/1.1\r\n" + h +
         b"Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n"
         b"0\r\n\r\n"),
        ("chunk size -1", b"POST /atk HTTP/1.1\r\n" + h +
         b"Transfer-Encoding: chunked\r\n\r\n-1\r\nhello\r\n0\r\n\r\n"),
        ("chunk size 0x5", b"POST /atk HTTP/1.1\r\n" + h +
         b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"),
        ("chunk size 5g", b"POST /atk HTTP/1.1\r\n" + h +
         b"Transfer-Encoding: chunked\r\n\r\n5g\r\nhello\r\n0\r\n\r\n"),
        ("chunk without CRLF after data", b"POST /fnd-nocrlf HTTP/1.1\r\n" + h +
         b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"),
        ("absolute-form to another host", b"GET http://evil.example/srv-abs "
         b"HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
        ("absolute-form, Host differs", b"GET http://evil.example/srv-abs2 "
         b"HTTP/1.1\r\n" + h + b"\r\n"),
        ("CONNECT", b"CONNECT evil.example:443 HTTP/1.1\r\n"
         b"Host: evil.example:443\r\n\r\n"),
        ("asterisk-form OPTIONS", b"OPTIONS * HTTP/1.1\r\n" + h + b"\r\n"),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
         b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"),
        ("HTTP/0.9", b"GET /atk\r\n\r\n"),
        ("HTTP/1.2", b"GET /srv-v12 HTTP/1.2\r\n" + h + b"\r\n"),
        ("two Host", b"GET /atk HTTP/1.1\r\n" + h + h + b"\r\n"),
        ("no Host", b"GET /atk HTTP/1.1\r\nX-A: b\r\n\r\n"),
        ("space in the target", b"GET /atk x HTTP/1.1\r\n" + h + b"\r\n"),
        ("Expect other than 100-continue", b"GET /atk HTTP/1.1\r\n" + h +
         b"Expect: 200-ok\r\n\r\n"),
    ]


def send_bg(s, data):
    def go():
        try:
            s.sendall(data)
        except OSError:
            pass
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def run_smuggle(host, port):
    for name, payload in shapes():
        s = socket.create_connection((host, port), timeout=5)
        t0 = time.monotonic()
        send_bg(s, payload)
        data, closed = recv_until_close(s, 5)
        ms = int((time.monotonic() - t0) * 1000)
        s.close()
        print(json.dumps({"name": name, "status": status_of(data),
                          "closed": closed, "ms": ms,
                          "responses": data.count(b"HTTP/1.1 "),
                          "smuggled": b"SMUGGLED" in data,
                          "body": data.partition(b"\r\n\r\n")[2][:80].decode("latin-1"),
                          "first": data[:60].decode("latin-1")}), flush=True)
    # A chunk-extension flood: one chunk line of 8 MiB of extensions, fed
    # as the agent reads it.  Cut off: the agent answers or closes before
    # taking all of it.
    s = socket.create_connection((host, port), timeout=5)
    t0 = time.monotonic()
    s.sendall(b"POST /ext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
              b"\r\n\r\n5")
    ext = b";aaaaaaa=bbbbbbbbbbbbbbbbbbbbbbb" * 2048  # 64 KiB
    sent = 0
    s.settimeout(5)
    try:
        for _ in range(128):  # 8 MiB
            s.sendall(ext)
            sent += len(ext)
    except OSError:
        pass
    data, closed = b"", False
    if sent == 128 * len(ext):
        try:
            s.sendall(b"\r\nhello\r\n0\r\n\r\n")
        except OSError:
            pass
    data, closed = recv_until_close(s, 5)
    print(json.dumps({"name": "chunk extension flood (8 MiB on one line)",
                      "status": status_of(data), "closed": closed,
                      "ms": int((time.monotonic() - t0) * 1000),
                      "ext_bytes_taken": sent,
                      "responses": data.count(b"HTTP/1.1 "),
                      "smuggled": False,
                      "first": data[:60].decode("latin-1")}), flush=True)


def one_get(host, port, path, timeout=5, extra=b""):
    s = socket.create_connection((host, port), timeout=timeout)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n"
              % (path.encode(), extra))
    data, _ = recv_until_close(s, timeout)
    s.close()
    return data


def pct(v, p):
    return v[min(len(v) - 1, int(len(v) * p))] if v else 0


def run_watch(host, port, stop, mx):
    lat, errs, n, good, n503, run = [], [], 0, 0, 0, 0
    t_end = time.monotonic() + mx
    while time.monotonic() < t_end and not os.path.exists(stop):
        n += 1
        t0 = time.monotonic()
        try:
            d = one_get(host, port, "/ok/watch%d" % n)
            ms = (time.monotonic() - t0) * 1000
            if status_of(d) == 200 and d.endswith(b"/ok/watch%d" % n):
                good += 1
                run += 1
                lat.append(ms)
            else:
                run = 0
                n503 += status_of(d) == 503 and b"x-weft-agent" in d
                if len(errs) < 5:
                    errs.append("%d: %r" % (n, d[:80]))
        except OSError as e:
            run = 0
            if len(errs) < 5:
                errs.append("%d: %s" % (n, e))
        time.sleep(0.1)
    lat.sort()
    print(json.dumps({"n": n, "ok": good, "fail": n - good, "n503": n503,
                      "last_ok_run": run,
                      "p50_ms": round(pct(lat, 0.5), 1),
                      "p99_ms": round(pct(lat, 0.99), 1),
                      "max_ms": round(lat[-1], 1) if lat else 0,
                      "errors": errs}))


def run_slow(host, port, n, secs, kind):
    sel = selectors.DefaultSelector()
    conns = []
    if kind == "head":
        first = b"GET /atk-slow HTTP/1.1\r\nHost: x\r\n"
        trickle = b"X-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    else:
        first = (b"POST /slowbody HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 100000\r\n\r\n")
        trickle = b"b" * 100000
    t0 = time.monotonic()
    for i in range(n):
        try:
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(first)
            s.setblocking(False)
        except OSError:
            continue
        st = {"i": i, "closed": None, "got": b""}
        conns.append((s, st))
        sel.register(s, selectors.EVENT_READ, st)
    opened = len(conns)
    t_open = time.monotonic() - t0
    closed_at = []
    for sec in range(int(secs)):
        tick = t0 + t_open + sec + 1
        while True:
            left = tick - time.monotonic()
            if left <= 0:
                break
            for key, _ in sel.select(left):
                st = key.data
                try:
                    c = key.fileobj.recv(65536)
                except OSError:
                    c = b""
                if c:
                    st["got"] += c[:200]
                    continue
                st["closed"] = time.monotonic() - t0
                closed_at.append(st["closed"])
                sel.unregister(key.fileobj)
        for s, st in conns:
            if st["closed"] is None:
                try:
                    s.send(trickle[sec:sec + 1])
                except OSError:
                    pass
    statuses = {}
    for s, st in conns:
        k = str(status_of(st["got"])) if st["got"] else "none"
        statuses[k] = statuses.get(k, 0) + 1
        s.close()
    closed_at.sort()
    print(json.dumps({"n": n, "opened": opened, "open_s": round(t_open, 1),
                      "closed_by_agent": len(closed_at),
                      "first_close_s": round(closed_at[0], 1) if closed_at else None,
                      "last_close_s": round(closed_at[-1], 1) if closed_at else None,
                      "answers": statuses}))


def run_flood(host, port, kind):
    if kind == "big":
        fields = b"".join(b"X-Big-%d: %s\r\n" % (i, b"a" * 16384)
                          for i in range(100))
    elif kind == "many":
        fields = b"".join(b"a%d: b\r\n" % i for i in range(10000))
    elif kind == "remote-fields":
        fields = b"".join(b"x-f-%d: %s\r\n" % (i, b"v" * 50) for i in range(150))
    elif kind == "remote-fields-tp":  # with a valid traceparent of its own
        fields = b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-" \
                 b"00f067aa0ba902b7-01\r\n" + b"".join(
                     b"x-f-%d: %s\r\n" % (i, b"v" * 50) for i in range(149))
    else:
        fields = b"".join(b"x-b-%d: %s\r\n" % (i, b"v" * 4096) for i in range(20))
    req = b"GET /atk-flood HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"
    s = socket.create_connection((host, port), timeout=5)
    t0 = time.monotonic()
    send_bg(s, req)
    data, closed = recv_until_close(s, 10)
    head = data.split(b"\r\n\r\n", 1)
    print(json.dumps({"kind": kind, "bytes": len(req),
                      "status": status_of(data), "closed": closed,
                      "ms": int((time.monotonic() - t0) * 1000),
                      "head": head[0].decode("latin-1")[:400],
                      "body": head[1][:200].decode("latin-1") if len(head) > 1 else ""}))


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_pipeline(host, port, n, size, pid):
    req = b"GET /blob?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % size
    s = socket.create_connection((host, port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sent = [0]

    def go():
        try:
            for _ in range(n // 100):
                s.sendall(req * 100)
                sent[0] += 100
        except OSError:
            pass
    t = threading.Thread(target=go, daemon=True)
    rss0 = rss_kb(pid)
    t0 = time.monotonic()
    t.start()
    peak = rss0
    for _ in range(16):  # 8 s without reading
        time.sleep(0.5)
        peak = max(peak, rss_kb(pid))
    sent_stalled = sent[0]
    rss_stalled = rss_kb(pid)
    got = 0
    want = b"HTTP/1.1 200 "
    tail = b""
    s.settimeout(10)
    end = time.monotonic() + 90
    while got < n and time.monotonic() < end:
        try:
            c = s.recv(1 << 20)
        except OSError:
            break
        if not c:
            break
        buf = tail + c
        got += buf.count(want)
        tail = buf[-(len(want) - 1):]
        peak = max(peak, rss_kb(pid)) if got % 500 == 0 else peak
    t.join(5)
    s.close()
    print(json.dumps({"n": n, "size": size, "sent_before_reading": sent_stalled,
                      "answered_200": got, "rss_kb_before": rss0,
                      "rss_kb_stalled": rss_stalled, "rss_kb_peak": peak,
                      "s": round(time.monotonic() - t0, 1)}))


def run_conns(host, port, n, mode, pid):
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    res = {"connected": 0, "refused": 0, "reset": 0, "noanswer": 0}
    statuses = {}
    peak = rss_kb(pid)
    socks = []
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        except OSError:
            res["refused"] += 1
            s.close()
            continue
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE, {"i": i, "got": b"",
                                                "sent": False})
    end = time.monotonic() + 30
    live = len(socks)
    while live and time.monotonic() < end:
        for key, ev in sel.select(1):
            s, st = key.fileobj, key.data
            if not st["sent"]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    res["refused"] += 1
                    sel.unregister(s)
                    live -= 1
                    continue
                res["connected"] += 1
                if mode == "close":
                    if st["i"] % 2:
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    sel.unregister(s)
                    s.close()
                    live -= 1
                    continue
                try:
                    s.send(b"GET /ok/c%d HTTP/1.1\r\nHost: x\r\n"
                           b"Connection: close\r\n\r\n" % st["i"])
                except OSError:
                    pass
                st["sent"] = True
                sel.modify(s, selectors.EVENT_READ, st)
                if st["i"] % 100 == 0:
                    peak = max(peak, rss_kb(pid))
                continue
            try:
                c = s.recv(65536)
            except OSError:
                res["reset"] += 1
                sel.unregister(s)
                live -= 1
                continue
            if c:
                st["got"] += c
                continue
            k = str(status_of(st["got"])) if st["got"] else "none"
            statuses[k] = statuses.get(k, 0) + 1
            sel.unregister(s)
            live -= 1
    res["noanswer"] = live
    for s in socks:
        s.close()
    res.update({"n": n, "mode": mode, "answers": statuses,
                "rss_kb_peak": peak, "s": round(time.monotonic() - t0, 1)})
    print(json.dumps(res))


def read_response(s, buf, limit=10):
    """One response from keep-alive connection s: (status, head, body,
    rest, eof)."""
    end = time.monotonic() + limit
    while b"\r\n\r\n" not in buf:
        s.settimeout(max(0.1, end - time.monotonic()))
        try:
            c = s.recv(65536)
        except (socket.timeout, OSError):
            c = b""
        if not c:
            return status_of(buf), buf, b"", b"", True
        buf += c
    head, _, rest = buf.partition(b"\r\n\r\n")
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        fields[k.strip().lower()] = v.strip()
    eof = False
    if b"content-length" in fields:
        want = int(fields[b"content-length"])
        while len(rest) < want:
            s.settimeout(max(0.1, end - time.monotonic()))
            try:
                c = s.recv(65536)
            except (socket.timeout, OSError):
                c = b""
            if not c:
                eof = True
                break
            rest += c
        return status_of(head), head, rest[:want], rest[want:], eof
    if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        for _ in range(100000):
            while b"\r\n" not in rest:
                s.settimeout(max(0.1, end - time.monotonic()))
                try:
                    c = s.recv(65536)
                except (socket.timeout, OSError):
                    c = b""
                if not c:
                    return status_of(head), head, body, b"", True
                rest += c
            line, _, rest = rest.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            while len(rest) < size + 2:
                s.settimeout(max(0.1, end - time.monotonic()))
                try:
                    c = s.recv(65536)
                except (socket.timeout, OSError):
                    c = b""
                if not c:
                    return status_of(head), head, body, b"", True
                rest += c
            if size == 0:
                # trailers: up to the empty line
                while b"\r\n\r\n" not in b"\r\n" + rest:
                    c = s.recv(65536)
                    if not c:
                        break
                    rest += c
                i = (b"\r\n" + rest).index(b"\r\n\r\n")
                return status_of(head), head, body, rest[i + 2:], False
            body += rest[:size]
            rest = rest[size + 2:]
    return status_of(head), head, rest, b"", True


def run_respsmuggle(host, port):
    s = socket.create_connection((host, port), timeout=10)
    buf = b""
    for shape in BAD:
        out = {"shape": shape, "reconnected": False}
        s.sendall(b"GET /r/%s HTTP/1.1\r\nHost: x\r\n\r\n" % shape.encode())
        st, head, body, buf, eof = read_response(s, buf)
        out.update({"status": st, "why": body[:160].decode("latin-1"),
                    "agent": b"x-weft-agent" in head.lower(),
                    "leak": b"SMUGGLED" in head + body + buf})
        if eof:
            s.close()
            s = socket.create_connection((host, port), timeout=10)
            buf = b""
            out["reconnected"] = True
        path = b"/ok/after-" + shape.encode()
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
        st2, head2, body2, buf, eof = read_response(s, buf)
        out.update({"next_status": st2,
                    "next_own": body2 == b"ok app " + path,
                    "next_body": body2[:60].decode("latin-1")})
        out["leak"] = out["leak"] or b"SMUGGLED" in head2 + body2 + buf
        if eof:
            s.close()
            s = socket.create_connection((host, port), timeout=10)
            buf = b""
        print(json.dumps(out), flush=True)
    s.close()


def run_get(host, port, path, hdrs):
    extra = b"".join(h.encode() + b"\r\n" for h in hdrs)
    d = one_get(host, port, path, 10, extra)
    head, _, body = d.partition(b"\r\n\r\n")
    print(json.dumps({"status": status_of(d),
                      "head": head.decode("latin-1"),
                      "body": body[:400].decode("latin-1")}))


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    cmd, a = a[0], a[1:]
    if cmd == "app":
        run_app(a)
    elif cmd == "smuggle":
        run_smuggle(a[0], int(a[1]))
    elif cmd == "watch":
        run_watch(a[0], int(a[1]), a[2], float(a[3]))
    elif cmd == "slow":
        run_slow(a[0], int(a[1]), int(a[2]), float(a[3]), a[4])
    elif cmd == "flood":
        run_flood(a[0], int(a[1]), a[2])
    elif cmd == "pipeline":
        run_pipeline(a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4]))
    elif cmd == "conns":
        run_conns(a[0], int(a[1]), int(a[2]), a[3], int(a[4]))
    elif cmd == "respsmuggle":
        run_respsmuggle(a[0], int(a[1]))
    elif cmd == "get":
        run_get(a[0], int(a[1]), a[2], a[3:])
    elif cmd == "stats":
        d = one_get("127.0.0.1", int(a[0]), "/stats")
        print(d.partition(b"\r\n\r\n")[2].decode())
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
