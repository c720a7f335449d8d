#!/usr/bin/env python3
"""Client side of the data-plane tests.

  tcp_client.py echo HOST PORT BYTES       send BYTES random bytes, half-close,
                                           read the echo; compare SHA-256
  tcp_client.py many HOST PORT CONNS BYTES CONNS connections at once, each
                                           echoing BYTES
  tcp_client.py marker HOST PORT TEXT      send TEXT, expect it back

Prints one line; exit 0 when every echo matched.  Every socket has a
timeout, so nothing here can hang a test."""
import hashlib
import os
import socket
import sys
import threading
import time

TIMEOUT = 60


def echo(host, port, nbytes, chunk=1 << 16):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    sent = hashlib.sha256()
    got = hashlib.sha256()
    received = [0]

    def reader():
        while True:
            c = s.recv(1 << 16)
            if not c:
                return
            got.update(c)
            received[0] += len(c)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    left = nbytes
    block = os.urandom(chunk)
    while left > 0:
        n = min(left, chunk)
        piece = block[:n]
        sent.update(piece)
        s.sendall(piece)
        left -= n
    s.shutdown(socket.SHUT_WR)
    t.join(TIMEOUT)
    s.close()
    return received[0] == nbytes and sent.digest() == got.digest(), received[0]


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "echo":
        n = int(sys.argv[4])
        t0 = time.time()
        ok, got = echo(host, port, n)
        dt = time.time() - t0
        print(f"echo {n} bytes: {'sha256 match' if ok else 'MISMATCH'}"
              f" ({got} back, {n / max(dt, 1e-6) / 1e6:.0f} MB/s)")
        sys.exit(0 if ok else 1)
    if mode == "many":
        conns, n = int(sys.argv[4]), int(sys.argv[5])
        results = []
        lock = threading.Lock()

        def one():
            try:
                ok, _ = echo(host, port, n, chunk=n)
            except OSError:
                ok = False
            with lock:
                results.append(ok)

        threads = [threading.Thread(target=one) for _ in range(conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        good = sum(results)
        print(f"{good}/{conns} concurrent connections echoed {n} bytes")
        sys.exit(0 if good == conns else 1)
    if mode == "marker":
        text = sys.argv[4].encode()
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(text)
        s.shutdown(socket.SHUT_WR)
        back = b""
        while True:
            c = s.recv(4096)
            if not c:
                break
            back += c
        print("marker echoed" if back == text else f"marker: got {back!r}")
        sys.exit(0 if back == text else 1)
    sys.exit(2)


main()
