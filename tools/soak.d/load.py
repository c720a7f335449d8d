#!/usr/bin/python3
"""Bounded mixed load for tools/soak, run inside a caller's namespace.

  load.py --name NAME --http ADDR --grpc ADDR --echo ADDR --seconds S
          --out FILE --errors FILE

Threads, each paced so the whole stays small on a shared machine:
  http   2 keep-alive connections, ~20 requests/s each: GETs, every 5th a
         POST /echo of 4 KiB checked byte for byte (a broken connection is
         counted as one error and reopened)
  unary  gRPC weft.test.Echo/Unary, ~10 calls/s on one channel
  stream gRPC weft.test.Echo/Stream of 20 answers, ~2 calls/s
  echo   TCP: a new connection, 5 x 1 KiB echoed, half-close, EOF; ~5/s

Every 10 s one line goes to FILE: "EPOCH KIND OK ERRORS" per kind (counts
in those 10 s); every error goes to ERRORS with its time and reason.
Debian's python3 (python3-grpcio)."""
import argparse
import http.client
import os
import socket
import threading
import time

import grpc

KINDS = ("http", "unary", "stream", "echo")
OPTS = [("grpc.enable_http_proxy", 0)]
TIMEOUT = 10


class Tally:
    def __init__(self, errfile):
        self.lock = threading.Lock()
        self.ok = dict.fromkeys(KINDS, 0)
        self.err = dict.fromkeys(KINDS, 0)
        self.errfile = errfile

    def good(self, kind):
        with self.lock:
            self.ok[kind] += 1

    def bad(self, kind, why):
        with self.lock:
            self.err[kind] += 1
            self.errfile.write(f"{time.time():.3f} {kind} {why}\n")
            self.errfile.flush()

    def take(self):
        with self.lock:
            ok, err = self.ok, self.err
            self.ok = dict.fromkeys(KINDS, 0)
            self.err = dict.fromkeys(KINDS, 0)
        return ok, err


def pace(start, i, per_s):
    """Sleeps until the i-th tick of a per_s schedule (never catches up
    a backlog: a slow answer lowers the rate instead of making a burst)."""
    delay = start + i / per_s - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def http_worker(t, addr, name, deadline, seed):
    host, port = addr.rsplit(":", 1)
    body = (name * 4096).encode()[:4096]
    conn = None
    start = time.monotonic()
    i = 0
    while time.monotonic() < deadline:
        pace(start, i, 20)
        i += 1
        if conn is None:
            conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
        try:
            if i % 5 == 0:
                conn.request("POST", "/echo", body=body,
                             headers={"Content-Type": "application/octet-stream"})
                r = conn.getresponse()
                got = r.read()
                if r.status != 200 or got != body:
                    t.bad("http", f"POST /echo: {r.status}, {len(got)} bytes "
                          f"{'same' if got == body else 'differ'} "
                          f"agent={r.getheader('x-weft-agent')}")
                else:
                    t.good("http")
            else:
                conn.request("GET", f"/soak/{seed}/{i}")
                r = conn.getresponse()
                got = r.read()
                if r.status != 200 or b"name=" not in got:
                    t.bad("http", f"GET: {r.status} {got[:120]!r} "
                          f"agent={r.getheader('x-weft-agent')}")
                else:
                    t.good("http")
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            t.bad("http", f"connection: {type(e).__name__}: {e}")
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def unary_worker(t, ch, deadline):
    m = ch.unary_unary("/weft.test.Echo/Unary",
                       request_serializer=lambda b: b,
                       response_deserializer=lambda b: b)
    start = time.monotonic()
    i = 0
    while time.monotonic() < deadline:
        pace(start, i, 10)
        i += 1
        text = f"u{i}".encode()
        try:
            msg = m(text, timeout=TIMEOUT)
            if not msg.endswith(b":" + text):
                t.bad("unary", f"answer {msg[:80]!r}")
            else:
                t.good("unary")
        except grpc.RpcError as e:
            t.bad("unary", f"{e.code().name} {e.details()}")


def stream_worker(t, ch, deadline):
    m = ch.unary_stream("/weft.test.Echo/Stream",
                        request_serializer=lambda b: b,
                        response_deserializer=lambda b: b)
    start = time.monotonic()
    i = 0
    while time.monotonic() < deadline:
        pace(start, i, 2)
        i += 1
        try:
            got = [x for x in m(f"s{i} 20".encode(), timeout=TIMEOUT)]
            if len(got) != 20 or not got[-1].endswith(f":s{i}:19".encode()):
                t.bad("stream", f"{len(got)} answers, last {got[-1:]!r}")
            else:
                t.good("stream")
        except grpc.RpcError as e:
            t.bad("stream", f"{e.code().name} {e.details()}")


def echo_worker(t, addr, deadline):
    host, port = addr.rsplit(":", 1)
    start = time.monotonic()
    i = 0
    while time.monotonic() < deadline:
        pace(start, i, 5)
        i += 1
        msg = os.urandom(1024)
        try:
            with socket.create_connection((host, int(port)), timeout=TIMEOUT) as s:
                for _ in range(5):
                    s.sendall(msg)
                    got = b""
                    while len(got) < len(msg):
                        c = s.recv(len(msg) - len(got))
                        if not c:
                            raise ConnectionError(f"EOF after {len(got)} bytes")
                        got += c
                    if got != msg:
                        raise ValueError("echo differs")
                s.shutdown(socket.SHUT_WR)
                if s.recv(1) != b"":
                    raise ValueError("bytes after the half-close")
            t.good("echo")
        except (OSError, ValueError) as e:
            t.bad("echo", f"{type(e).__name__}: {e}")


def main():
    p = argparse.ArgumentParser()
    for a in ("name", "http", "grpc", "echo", "out", "errors"):
        p.add_argument("--" + a, required=True)
    p.add_argument("--seconds", type=int, required=True)
    a = p.parse_args()
    if not 1 <= a.seconds <= 24 * 3600:
        p.error("--seconds from 1 to 86400")
    deadline = time.monotonic() + a.seconds
    out = open(a.out, "a", buffering=1)
    t = Tally(open(a.errors, "a"))
    ch = grpc.insecure_channel(a.grpc, options=OPTS)
    threads = [
        threading.Thread(target=http_worker, args=(t, a.http, a.name, deadline, 1)),
        threading.Thread(target=http_worker, args=(t, a.http, a.name, deadline, 2)),
        threading.Thread(target=unary_worker, args=(t, ch, deadline)),
        threading.Thread(target=stream_worker, args=(t, ch, deadline)),
        threading.Thread(target=echo_worker, args=(t, a.echo, deadline)),
    ]
    for th in threads:
        th.daemon = True
        th.start()
    # Reports every 10 s until the deadline, then waits (bounded) for the
    # workers' last calls, each of which ends within TIMEOUT.
    nxt = time.monotonic() + 10
    while True:
        now = time.monotonic()
        done = now >= deadline and not any(th.is_alive() for th in threads)
        if now >= nxt or done or now > deadline + 3 * TIMEOUT:
            ok, err = t.take()
            for k in KINDS:
                out.write(f"{time.time():.0f} {k} {ok[k]} {err[k]}\n")
            nxt += 10
            if done or now > deadline + 3 * TIMEOUT:
                break
        time.sleep(0.2)
    ch.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
