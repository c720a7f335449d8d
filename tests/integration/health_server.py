#!/usr/bin/env python3
"""Health endpoints for the health-check tests, switchable from outside.

Usage: health_server.py HOST HTTP_PORT GRPC_PORT STATE_DIR
  HTTP: GET any path answers with the status code in STATE_DIR/http
        (200 when the file is missing), body "status N".
  gRPC: grpc.health.v1.Health/Check over h2c answers SERVING, or
        NOT_SERVING while STATE_DIR/grpc holds "down".  A minimal HTTP/2
        server written for this test: it ignores the request's headers
        (HPACK is not decoded) and answers each request stream with
        literal, unindexed header fields.
Prints "ready" once both listen.
"""
import os
import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST, HTTP_PORT, GRPC_PORT, STATE = sys.argv[1], int(sys.argv[2]), \
    int(sys.argv[3]), sys.argv[4]


def state(name, default):
    try:
        with open(os.path.join(STATE, name)) as f:
            return f.read().strip() or default
    except OSError:
        return default


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        code = int(state("http", "200"))
        body = f"status {code}\n".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def literal(name, value):
    # Literal header field without indexing, new name, no Huffman.
    def s(b):
        assert len(b) < 127
        return bytes([len(b)]) + b
    return b"\x00" + s(name) + s(value)


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def serve_h2(conn):
    with conn:
        try:
            if recv_exact(conn, len(PREFACE)) != PREFACE:
                return
            conn.sendall(frame(4, 0, 0, b""))  # our SETTINGS
            while True:
                head = recv_exact(conn, 9)
                length = int.from_bytes(head[:3], "big")
                ftype, flags = head[3], head[4]
                stream = int.from_bytes(head[5:9], "big") & 0x7fffffff
                recv_exact(conn, length)
                if ftype == 4 and not flags & 1:
                    conn.sendall(frame(4, 1, 0, b""))  # SETTINGS ACK
                elif ftype == 6 and not flags & 1:
                    conn.sendall(frame(6, 1, 0, b"\0" * 8))
                elif ftype == 0 and flags & 1:  # request body ended
                    serving = 2 if state("grpc", "up") == "down" else 1
                    msg = bytes([0x08, serving])
                    hdrs = literal(b":status", b"200") + \
                        literal(b"content-type", b"application/grpc")
                    conn.sendall(frame(1, 4, stream, hdrs))
                    conn.sendall(frame(0, 0, stream, b"\0" +
                                       struct.pack(">I", len(msg)) + msg))
                    conn.sendall(frame(1, 5, stream,
                                       literal(b"grpc-status", b"0")))
        except (EOFError, OSError):
            return


def grpc_main(sock):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_h2, args=(conn,), daemon=True).start()


def main():
    http = ThreadingHTTPServer((HOST, HTTP_PORT), Handler)
    g = socket.socket()
    g.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    g.bind((HOST, GRPC_PORT))
    g.listen(16)
    threading.Thread(target=grpc_main, args=(g,), daemon=True).start()
    print("ready", flush=True)
    http.serve_forever()


main()
