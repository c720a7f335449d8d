#!/usr/bin/env python3
# capture.py IFACE IP PORT OUT SECONDS: records the payloads of UDP
# packets to IP:PORT seen on IFACE (an AF_PACKET socket, run inside the
# test bed's hub namespace on one host's bridge port) for SECONDS, as
# 2-byte big-endian length + payload records, and prints how many.
import socket, struct, sys, time

iface, ip, port, out, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
want = socket.inet_aton(ip)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((iface, 0))
s.settimeout(0.2)
n = 0
end = time.monotonic() + secs
with open(out, "wb") as f:
    while time.monotonic() < end and n < 100000:
        try:
            frame = s.recv(65535)
        except socket.timeout:
            continue
        if len(frame) < 42 or frame[12:14] != b"\x08\x00":
            continue
        ihl = (frame[14] & 0x0f) * 4
        if frame[23] != 17 or frame[30:34] != want:
            continue
        udp = 14 + ihl
        dport = struct.unpack("!H", frame[udp + 2:udp + 4])[0]
        if dport != port:
            continue
        payload = frame[udp + 8:udp + struct.unpack("!H", frame[udp + 4:udp + 6])[0]]
        f.write(struct.pack("!H", len(payload)) + payload)
        f.flush()
        n += 1
print(n)
