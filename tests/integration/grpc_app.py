#!/usr/bin/python3
"""A gRPC app and client for the HTTP tests (Debian python3-grpcio; no
generated code: a generic handler with raw bytes in and out).

  grpc_app.py serve HOST PORT NAME        prints "ready" when listening
  grpc_app.py unary ADDR TEXT             one call of weft.test.Echo/Unary
  grpc_app.py stream ADDR TEXT N          weft.test.Echo/Stream, N answers
  grpc_app.py fail ADDR TEXT              weft.test.Echo/Fail: status
                                          NOT_FOUND with details and trailers

Service weft.test.Echo:
  Unary   answers "NAME:TEXT", trailing metadata x-app-trailer: unary-NAME
  Stream  TEXT is "WORD N": answers N messages "NAME:WORD:i", trailing
          metadata x-app-trailer: stream-NAME
  Fail    aborts with NOT_FOUND, details "no such thing: TEXT", trailing
          metadata x-app-trailer: fail-NAME

The client prints one line per message ("msg TEXT"), then "status CODE
DETAILS" and "trailer KEY VALUE" lines, and exits 0 when the call ended
(with whatever status); 1 when it could not reach the server at all."""
import sys
from concurrent import futures

import grpc

OPTS = [("grpc.enable_http_proxy", 0)]


def ident(b):
    return b


def serve(host, port, name):
    def unary(req, ctx):
        ctx.set_trailing_metadata((("x-app-trailer", "unary-" + name),))
        return f"{name}:".encode() + req

    def stream(req, ctx):
        word, n = req.decode().rsplit(" ", 1)
        ctx.set_trailing_metadata((("x-app-trailer", "stream-" + name),))
        for i in range(min(int(n), 10000)):
            yield f"{name}:{word}:{i}".encode()

    def fail(req, ctx):
        ctx.set_trailing_metadata((("x-app-trailer", "fail-" + name),))
        ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + req.decode())

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(
            unary, request_deserializer=ident, response_serializer=ident),
        "Stream": grpc.unary_stream_rpc_method_handler(
            stream, request_deserializer=ident, response_serializer=ident),
        "Fail": grpc.unary_unary_rpc_method_handler(
            fail, request_deserializer=ident, response_serializer=ident),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=OPTS)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("weft.test.Echo", handlers),))
    server.add_insecure_port(f"{host}:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination(timeout=3600)


def report(code, details, trailers):
    print(f"status {code.name} {details or ''}".rstrip())
    for k, v in trailers or ():
        print(f"trailer {k} {v}")


def call(kind, addr, text, n):
    with grpc.insecure_channel(addr, options=OPTS) as ch:
        try:
            grpc.channel_ready_future(ch).result(timeout=10)
        except grpc.FutureTimeoutError:
            print(f"cannot reach {addr}", file=sys.stderr)
            return 1
        if kind == "stream":
            m = ch.unary_stream("/weft.test.Echo/Stream",
                                request_serializer=ident,
                                response_deserializer=ident)
            it = m(f"{text} {n}".encode(), timeout=20)
            try:
                for msg in it:
                    print("msg " + msg.decode())
            except grpc.RpcError:
                pass
            report(it.code(), it.details(), it.trailing_metadata())
            return 0
        m = ch.unary_unary("/weft.test.Echo/" + kind.capitalize(),
                           request_serializer=ident,
                           response_deserializer=ident)
        try:
            msg, c = m.with_call(text.encode(), timeout=20)
            print("msg " + msg.decode())
            report(c.code(), c.details(), c.trailing_metadata())
        except grpc.RpcError as e:
            report(e.code(), e.details(), e.trailing_metadata())
        return 0


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "serve":
        serve(a[1], int(a[2]), a[3])
        return 0
    if len(a) == 3 and a[0] in ("unary", "fail"):
        return call(a[0], a[1], a[2], 0)
    if len(a) == 4 and a[0] == "stream":
        return call("stream", a[1], a[2], int(a[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
