"""The subset of MessagePack that Serf's RPC speaks: enough to encode its
requests (maps of strings, integers, booleans and lists) and decode any
reply, including a stream cut at an arbitrary byte."""
import struct


class Incomplete(Exception):
    """The buffer ends inside an object: wait for more bytes."""


def pack(o):
    if o is None:
        return b"\xc0"
    if o is True:
        return b"\xc3"
    if o is False:
        return b"\xc2"
    if isinstance(o, int):
        if 0 <= o < 128:
            return bytes([o])
        if 0 <= o < 2**32:
            return b"\xce" + struct.pack(">I", o)
        if 0 <= o < 2**64:
            return b"\xcf" + struct.pack(">Q", o)
        if -32 <= o < 0:
            return struct.pack(">b", o)
        return b"\xd3" + struct.pack(">q", o)
    if isinstance(o, str):
        b = o.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        if len(b) < 256:
            return b"\xd9" + bytes([len(b)]) + b
        return b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(o, (list, tuple)):
        head = bytes([0x90 | len(o)]) if len(o) < 16 else \
            b"\xdc" + struct.pack(">H", len(o))
        return head + b"".join(pack(x) for x in o)
    if isinstance(o, dict):
        head = bytes([0x80 | len(o)]) if len(o) < 16 else \
            b"\xde" + struct.pack(">H", len(o))
        return head + b"".join(pack(k) + pack(v) for k, v in o.items())
    raise TypeError("cannot pack %r" % type(o))


def _need(buf, pos, n):
    if pos + n > len(buf):
        raise Incomplete()


def unpack(buf, pos=0):
    """One object from buf at pos: (object, position after it)."""
    _need(buf, pos, 1)
    b = buf[pos]
    pos += 1
    if b < 0x80:
        return b, pos
    if b >= 0xE0:
        return b - 256, pos
    if 0x80 <= b <= 0x8F:
        return _map(buf, pos, b & 0x0F)
    if 0x90 <= b <= 0x9F:
        return _arr(buf, pos, b & 0x0F)
    if 0xA0 <= b <= 0xBF:
        return _raw(buf, pos, b & 0x1F, True)
    fixed = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
             0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
             0xCA: ">f", 0xCB: ">d"}
    if b in fixed:
        n = struct.calcsize(fixed[b])
        _need(buf, pos, n)
        return struct.unpack_from(fixed[b], buf, pos)[0], pos + n
    if b == 0xC0:
        return None, pos
    if b == 0xC2:
        return False, pos
    if b == 0xC3:
        return True, pos
    lens = {0xD9: (">B", True), 0xDA: (">H", True), 0xDB: (">I", True),
            0xC4: (">B", False), 0xC5: (">H", False), 0xC6: (">I", False)}
    if b in lens:
        fmt, text = lens[b]
        n = struct.calcsize(fmt)
        _need(buf, pos, n)
        return _raw(buf, pos + n, struct.unpack_from(fmt, buf, pos)[0], text)
    if b in (0xDC, 0xDD, 0xDE, 0xDF):
        fmt = ">H" if b in (0xDC, 0xDE) else ">I"
        n = struct.calcsize(fmt)
        _need(buf, pos, n)
        count = struct.unpack_from(fmt, buf, pos)[0]
        if b in (0xDC, 0xDD):
            return _arr(buf, pos + n, count)
        return _map(buf, pos + n, count)
    ext = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
    if b in ext:
        _need(buf, pos, 1 + ext[b])
        return None, pos + 1 + ext[b]
    raise ValueError("msgpack: unknown type byte 0x%02x" % b)


def _raw(buf, pos, n, text):
    _need(buf, pos, n)
    raw = bytes(buf[pos:pos + n])
    if text:
        try:
            return raw.decode(), pos + n
        except UnicodeDecodeError:
            pass
    return raw, pos + n


def _arr(buf, pos, n):
    out = []
    for _ in range(n):
        v, pos = unpack(buf, pos)
        out.append(v)
    return out, pos


def _map(buf, pos, n):
    out = {}
    for _ in range(n):
        k, pos = unpack(buf, pos)
        v, pos = unpack(buf, pos)
        out[k if not isinstance(k, bytes) else k.decode("latin-1")] = v
    return out, pos
