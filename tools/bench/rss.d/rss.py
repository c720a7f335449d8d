#!/usr/bin/env python3
"""weftd's memory against connections and members.

Run through tools/bench/rss, which builds, raises RLIMIT_NOFILE and
compiles tcpbench.  Three parts:

  conns    a weftd pair (a 127.0.0.220 -> b 127.0.0.221 -> backend on
           127.0.0.1) holds 10 ... 10,000 app connections, TCP (one byte
           echoed each) then HTTP/1.1 (one request each, then idle
           keep-alive); a fresh pair per kind so VmHWM is that kind's.
  members  N real weftd on 127.0.1.x, one cluster grown 16 -> 64 -> 128.
  sim      weft-sim's state bytes per member at N = 16 ... 10,000.

Every process started here is recorded by pid and killed on exit; every
wait is bounded.  TSV lines: what<TAB>count<TAB>rss_kib.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

A, B = "127.0.0.220", "127.0.0.221"
APP_ECHO, APP_HTTP = 27220, 27221      # the backends, on 127.0.0.1
UP_ECHO, UP_HTTP = 16220, 16221        # a's upstream listeners
GOSSIP_PORT, MESH_PORT = 7370, 7371
HOLD_SECONDS = 600                     # tcpbench's cap; killed long before


def say(msg):
    sys.stderr.write("==> [%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def status_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def pss_kib(pid):
    """Proportional set size: shared pages divided among their users."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def unix_http(path, target, timeout=2.0):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(("GET %s HTTP/1.1\r\nHost: weft\r\nConnection: close"
                   "\r\n\r\n" % target).encode())
        data = b""
        for _ in range(1000):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), (json.loads(rest) if rest.strip()
                                      else None)


class Procs:
    """Children by pid; kill_all() on the way out."""

    def __init__(self):
        self.live = {}

    def spawn(self, argv, log, stdout=None):
        f = open(log, "w")
        p = subprocess.Popen(argv, stdout=stdout or f, stderr=f,
                             stdin=subprocess.DEVNULL)
        self.live[p.pid] = p
        return p

    def kill(self, p):
        if p is None or p.pid not in self.live:
            return
        # GNU time's child (the simulator) first: it is ours too.
        try:
            with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                for c in f.read().split():
                    os.kill(int(c), signal.SIGKILL)
        except (OSError, ValueError):
            pass
        try:
            p.kill()
        except OSError:
            pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.live.pop(p.pid, None)

    def kill_all(self):
        for p in list(self.live.values()):
            self.kill(p)


def wait_until(seconds, what, fn, step=0.2):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if fn():
                return True
        except (OSError, ValueError, IndexError, KeyError, TypeError):
            pass
        time.sleep(step)
    raise SystemExit("rss bench: timed out (%d s) waiting for %s"
                     % (seconds, what))


class Bench:
    def __init__(self, args):
        self.a = args
        self.tmp = tempfile.mkdtemp(prefix="weft-bench-rss.")
        os.chmod(self.tmp, 0o755)
        self.procs = Procs()
        self.tsv = []        # (what, count, rss_kib)
        self.conn_rows = []  # (kind, n, held, a_rss, a_hwm, b_rss, b_hwm)
        self.after = {}      # kind -> (a_rss, b_rss) once all are closed
        self.idle = {}       # kind -> (a_rss, b_rss) before any
        self.member_rows = []
        self.sim_rows = []
        self.ca = os.path.join(self.tmp, "ca")
        self.certs = os.path.join(self.tmp, "certs")
        subprocess.run([args.weft, "ca", "init", "--name", "rss-bench",
                        "--out", self.ca], check=True,
                       stdout=subprocess.DEVNULL)

    def cert(self, name, services=None):
        argv = [self.a.weft, "cert", "issue", "--ca", self.ca, "--name",
                name, "--valid", "2d", "--out", self.certs]
        if services:
            argv += ["--services", services]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)

    def agent_config(self, name, ip, join, extra):
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        cfg = {
            "node_name": name, "bind": "%s:%d" % (ip, GOSSIP_PORT),
            "join": join, "retry_join": True, "retry_join_max": "2s",
            "data_dir": d, "socket": os.path.join(d, "s.sock"),
            "log_level": "warn",
            "identity": {"key": os.path.join(self.certs, name + ".key"),
                         "cert": os.path.join(self.certs, name + ".crt"),
                         "ca": os.path.join(self.ca, "ca.crt")},
            "mesh": {"bind": "%s:%d" % (ip, MESH_PORT)},
        }
        cfg.update(extra)
        path = os.path.join(self.tmp, name + ".json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path, cfg["socket"]

    def weftd(self, name, config):
        return self.procs.spawn([self.a.weftd, "--config", config],
                                os.path.join(self.tmp, name + ".log"))

    # ---------------------------------------------------------- conns

    def backends(self):
        self.echo = self.procs.spawn(
            [self.a.tcpbench, "echo", "127.0.0.1", str(APP_ECHO)],
            os.path.join(self.tmp, "echo.log"))
        d = os.path.join(self.tmp, "nginx")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write("""daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 25000;
error_log %(d)s/error.log warn;
pid %(d)s/nginx.pid;
events { worker_connections 22000; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 700s;
  client_body_temp_path %(d)s/body;
  proxy_temp_path %(d)s/proxy;
  fastcgi_temp_path %(d)s/fastcgi;
  uwsgi_temp_path %(d)s/uwsgi;
  scgi_temp_path %(d)s/scgi;
  server {
    listen 127.0.0.1:%(port)d;
    location / { default_type text/plain; return 200 "hello\\n"; }
  }
}
""" % {"d": d, "port": APP_HTTP})
        self.nginx = self.procs.spawn(
            [self.a.nginx, "-p", d, "-c", os.path.join(d, "nginx.conf")],
            os.path.join(self.tmp, "nginx.log"))
        wait_until(10, "the echo backend",
                   lambda: "ready" in open(os.path.join(self.tmp,
                                                        "echo.log")).read())

        def nginx_up():
            with socket.create_connection(("127.0.0.1", APP_HTTP), 1):
                return True
        wait_until(10, "nginx", nginx_up)

    def pair(self, kind):
        """A fresh agent pair a -> b for one kind of connection."""
        cap = str(2 * max(self.a.conns) + 100)
        a, b = "a-" + kind, "b-" + kind
        if not os.path.exists(os.path.join(self.certs, b + ".crt")):
            self.cert(a)
            self.cert(b, "echo,web")
        # An upstream's max_connections (default 1024, proxy/circuit.h)
        # would refuse the rest (HTTP: 503; TCP: closed), so the bench
        # raises it.
        conf_a, sock_a = self.agent_config(a, A, [], {"upstreams": [
            {"service": "echo", "local_bind": "%s:%d" % (A, UP_ECHO),
             "max_connections": int(cap)},
            {"service": "web", "local_bind": "%s:%d" % (A, UP_HTTP),
             "protocol": "http", "max_connections": int(cap)}]})
        conf_b, _ = self.agent_config(b, B, ["%s:%d" % (A, GOSSIP_PORT)], {
            "services": [
                {"name": "echo", "port": APP_ECHO, "protocol": "tcp"},
                {"name": "web", "port": APP_HTTP, "protocol": "http"}]})
        pa = self.weftd(a, conf_a)
        pb = self.weftd(b, conf_b)

        def both():
            st, j = unix_http(sock_a, "/v1/services")
            text = json.dumps(j)
            return st == 200 and '"echo"' in text and '"web"' in text
        wait_until(30, "agent a to see b's services", both)
        # The endpoints are known; give the routes a moment to build.
        time.sleep(1)
        return pa, pb

    def hold(self, kind, n):
        mode, port = ("hold", UP_ECHO) if kind == "tcp" else \
            ("holdhttp", UP_HTTP)
        log = os.path.join(self.tmp, "hold-%s-%d.log" % (kind, n))
        p = self.procs.spawn([self.a.tcpbench, mode, A, str(port), str(n),
                              str(HOLD_SECONDS)], log)

        def held():
            return "held" in open(log).read() or p.poll() is not None
        wait_until(30 + n // 20, "%d %s connections" % (n, kind), held, 0.5)
        out = open(log).read()
        line = [l for l in out.splitlines() if l.startswith("held")]
        ok = int(line[0].split()[1]) if line else 0
        if ok < n:
            say("%s: only %d of %d connections held: %s" % (
                kind, ok, n, out.strip().replace("\n", "; ")))
        return p, ok

    def conns(self):
        self.backends()
        for kind in ("tcp", "http"):
            pa, pb = self.pair(kind)
            time.sleep(2)
            self.idle[kind] = (status_kib(pa.pid, "VmRSS"),
                               status_kib(pb.pid, "VmRSS"))
            for n in self.a.conns:
                h, ok = self.hold(kind, n)
                time.sleep(self.a.settle)
                row = (kind, n, ok,
                       status_kib(pa.pid, "VmRSS"),
                       status_kib(pa.pid, "VmHWM"),
                       status_kib(pb.pid, "VmRSS"),
                       status_kib(pb.pid, "VmHWM"))
                self.conn_rows.append(row)
                say("%s %5d held %5d: a %s/%s KiB, b %s/%s KiB (RSS/HWM)"
                    % row)
                if None in row:
                    raise SystemExit("rss bench: an agent died; logs in %s"
                                     % self.tmp)
                self.tsv.append(("%s_conns" % kind, n, max(row[3], row[5])))
                self.procs.kill(h)
                time.sleep(self.a.settle)
            # What stays once every connection is closed, and whether the
            # largest step a second time reuses it or grows again.
            time.sleep(1)
            after = [status_kib(pa.pid, "VmRSS"), status_kib(pb.pid, "VmRSS")]
            n = self.a.conns[-1]
            h, ok = self.hold(kind, n)
            time.sleep(self.a.settle)
            again = [ok, status_kib(pa.pid, "VmRSS"),
                     status_kib(pb.pid, "VmRSS")]
            self.procs.kill(h)
            time.sleep(self.a.settle + 1)
            self.after[kind] = after + again + [
                status_kib(pa.pid, "VmRSS"), status_kib(pb.pid, "VmRSS")]
            say("%s: after closing a %s b %s KiB; %d again (%d held): a %s "
                "b %s KiB; closed: a %s b %s KiB" % (
                    kind, after[0], after[1], n, again[0], again[1],
                    again[2], self.after[kind][5], self.after[kind][6]))
            self.procs.kill(pa)
            self.procs.kill(pb)

    # -------------------------------------------------------- members

    def members(self):
        agents = []  # (proc, socket)
        seed = "127.0.1.1:%d" % GOSSIP_PORT
        for n in self.a.members:
            say("real agents: growing to %d" % n)
            for i in range(len(agents) + 1, n + 1):
                name = "m%d" % i
                self.cert(name)
                conf, sock = self.agent_config(
                    name, "127.0.1.%d" % i, [seed] if i > 1 else [], {})
                agents.append((self.weftd(name, conf), sock))

            def all_see():
                for _, sock in agents:
                    st, j = unix_http(sock, "/v1/agent")
                    if st != 200 or j["members"]["alive"] < n:
                        return False
                return True
            wait_until(60 + n, "%d agents to see %d alive" % (n, n),
                       all_see, 1.0)
            time.sleep(self.a.member_settle)
            rss = [status_kib(p.pid, "VmRSS") for p, _ in agents]
            hwm = [status_kib(p.pid, "VmHWM") for p, _ in agents]
            if None in rss or None in hwm:
                raise SystemExit("rss bench: an agent died; logs in %s"
                                 % self.tmp)
            anon = [status_kib(p.pid, "RssAnon") or 0 for p, _ in agents]
            pss = [pss_kib(p.pid) for p, _ in agents]
            med = int(statistics.median(rss))
            self.member_rows.append((n, med, max(rss),
                                     int(statistics.median(hwm)), max(hwm),
                                     int(statistics.median(anon)),
                                     int(statistics.median(pss))))
            say("N=%d: RSS median %d KiB, max %d; HWM median %d, max %d; "
                "RssAnon median %d, PSS median %d" % self.member_rows[-1])
            self.tsv.append(("real_members", n, med))
        for p, _ in agents:
            self.procs.kill(p)

    # ------------------------------------------------------------ sim

    def sim(self):
        for n in self.a.sim_sizes:
            say("weft-sim --nodes %d" % n)
            t0 = time.monotonic()
            out = os.path.join(self.tmp, "sim-%d.json" % n)
            hwm = os.path.join(self.tmp, "sim-%d.maxrss" % n)
            with open(out, "w") as f:
                # GNU time's child is forked from a small process, so its
                # maxrss is the simulator's own peak, not this Python's.
                p = subprocess.Popen([self.a.time, "-f", "%M", "-o", hwm,
                                      self.a.sim, "--nodes", str(n),
                                      "--seconds", str(self.a.sim_seconds),
                                      "--seed", "1", "--loss", "0"],
                                     stdout=f, stderr=subprocess.DEVNULL)
                self.procs.live[p.pid] = p
                p.wait()
                self.procs.live.pop(p.pid, None)
            maxrss = int(open(hwm).read().split()[-1])
            if p.returncode != 0:
                raise SystemExit("rss bench: weft-sim --nodes %d failed" % n)
            d = json.load(open(out))
            bpm = d["bytes_per_member"]
            # bytes_per_member is all nodes' state over all nodes' member
            # entries; converged, each node holds about N entries.
            per_node_kib = bpm * n / 1024.0
            self.sim_rows.append((n, bpm, per_node_kib, maxrss,
                                  time.monotonic() - t0))
            self.tsv.append(("sim_members", n, int(round(per_node_kib))))

    # --------------------------------------------------------- report

    def report(self):
        def mib(k):
            return "%.1f" % (k / 1024.0)
        print()
        if self.conn_rows:
            print("### Agent RSS against concurrent connections\n")
            print("| upstream | connections | held | client agent a RSS MiB "
                  "(HWM) | server agent b RSS MiB (HWM) | a KiB per conn |")
            print("|---|---|---|---|---|---|")
            for kind in ("tcp", "http"):
                ia, ib = self.idle.get(kind, (None, None))
                if ia is None:
                    continue
                print("| %s | 0 | - | %s | %s | - |" % (kind, mib(ia),
                                                         mib(ib)))
                for r in self.conn_rows:
                    if r[0] != kind:
                        continue
                    per = (r[3] - ia) / r[1] if r[1] else 0
                    print("| %s | %s | %d | %s (%s) | %s (%s) | %.1f |" % (
                        kind, format(r[1], ","), r[2], mib(r[3]), mib(r[4]),
                        mib(r[5]), mib(r[6]), per))
                fa, fb, ok, ga, gb, ca, cb = self.after[kind]
                n = self.a.conns[-1]
                print("| %s | 0, all closed | - | %s | %s | - |" % (
                    kind, mib(fa), mib(fb)))
                print("| %s | %s again | %d | %s | %s | - |" % (
                    kind, format(n, ","), ok, mib(ga), mib(gb)))
                print("| %s | 0, all closed again | - | %s | %s | - |" % (
                    kind, mib(ca), mib(cb)))
            print()
        if self.member_rows:
            print("### Real agents: RSS per agent against members\n")
            print("| N | RSS median MiB | RSS max MiB | HWM median MiB | "
                  "HWM max MiB | RssAnon median MiB | PSS median MiB |")
            print("|---|---|---|---|---|---|---|")
            for r in self.member_rows:
                print("| %d | %s | %s | %s | %s | %s | %s |" % (r[0],
                      mib(r[1]), mib(r[2]), mib(r[3]), mib(r[4]), mib(r[5]),
                      mib(r[6])))
            print()
        if self.sim_rows:
            print("### Simulator: gossip state per node against members\n")
            print("| N | state bytes per member | state per node KiB | "
                  "simulator peak RSS MiB (all N nodes) | peak RSS / N KiB "
                  "| wall s |")
            print("|---|---|---|---|---|---|")
            for r in self.sim_rows:
                print("| %s | %.0f | %.1f | %s | %.1f | %.0f |" % (
                    format(r[0], ","), r[1], r[2], mib(r[3]), r[3] / r[0],
                    r[4]))
            print()
        if self.a.out:
            with open(self.a.out, "w") as f:
                for what, n, kib in self.tsv:
                    f.write("%s\t%d\t%d\n" % (what, n, kib))
            say("TSV in %s" % self.a.out)


def numbers(s):
    return [int(x) for x in s.split(",") if x]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weft", required=True)
    ap.add_argument("--weftd", required=True)
    ap.add_argument("--sim", required=True)
    ap.add_argument("--tcpbench", required=True)
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--time", default="/usr/bin/time")
    ap.add_argument("--conns", type=numbers, default=[10, 100, 1000, 10000])
    ap.add_argument("--members", type=numbers, default=[16, 64, 128])
    ap.add_argument("--sim-sizes", dest="sim_sizes", type=numbers,
                    default=[16, 100, 1000, 10000])
    ap.add_argument("--sim-seconds", type=int, default=20)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--member-settle", type=float, default=30.0)
    ap.add_argument("--out")
    a = ap.parse_args()
    for n in a.conns:
        if not 1 <= n <= 20000:
            ap.error("--conns: 1-20000")
    for n in a.members:
        if not 2 <= n <= 250:
            ap.error("--members: 2-250 (127.0.1.1-250)")
    if a.members != sorted(a.members) or a.conns != sorted(a.conns):
        ap.error("sizes ascending")
    for n in a.sim_sizes:
        if not 2 <= n <= 10000:
            ap.error("--sim-sizes: 2-10000")
    b = Bench(a)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        if a.conns:
            b.conns()
        if a.members:
            b.members()
        if a.sim_sizes:
            b.sim()
        b.report()
    finally:
        b.procs.kill_all()
        if os.environ.get("KEEP"):
            say("files kept in %s" % b.tmp)
        else:
            shutil.rmtree(b.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
