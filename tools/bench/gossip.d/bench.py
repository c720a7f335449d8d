#!/usr/bin/env python3
"""Gossip on real agents: N weftd and N Serf agents side by side on loopback.

Run through tools/bench/gossip, which installs the packages and builds.
Every process started here is recorded (and killed on exit) by pid; the nft
table is created at the start and deleted at the end; traffic stays on
127.11.0.0/16 (weft) and 127.12.0.0/16 (Serf).
"""
import argparse
import base64
import json
import os
import random
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpack  # noqa: E402

NFT_TABLE = "weft_gossip_bench"
WEFT_NET, WEFT_PORT = 11, 7370
SERF_NET, SERF_PORT, SERF_RPC = 12, 7946, 7373
# Serf's LAN profile (memberlist DefaultLANConfig); weft is set to the same.
PROBE_MS, PROBE_TIMEOUT_MS, GOSSIP_MS = 1000, 500, 200
CLK_TCK = os.sysconf("SC_CLK_TCK")


def now():
    return time.monotonic()


def say(msg):
    sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def addr(net, i):
    return "127.%d.%d.%d" % (net, i // 250, i % 250 + 1)


class Child:
    """A started process, waited for by pid."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(st)
        return self.returncode

    def wait(self, timeout=None):
        end = now() + (timeout if timeout is not None else 1e9)
        while self.poll() is None:
            if now() > end:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.02)
        return self.returncode


class Procs:
    """Every process we start, by pid; the pid file lets the shell wrapper
    clean up even if this program is killed."""

    def __init__(self, pidfile):
        self.procs = {}
        self.pidfile = pidfile

    def spawn(self, argv, log):
        # posix_spawn (vfork underneath), not Popen: 256 starts "at the
        # same moment" must not take seconds of forking this process.
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log,
             os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2)])
        p = Child(pid)
        self.procs[p.pid] = p
        with open(self.pidfile, "a") as f:
            f.write("%d\n" % p.pid)
        return p

    def kill(self, p, sig=signal.SIGKILL):
        if p.pid in self.procs and p.poll() is None:
            os.kill(p.pid, sig)

    def reap(self, p, timeout=10):
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(p)
            p.wait(5)
        self.procs.pop(p.pid, None)

    def kill_all(self):
        for p in list(self.procs.values()):
            self.kill(p)
        for p in list(self.procs.values()):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()


def proc_cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12])


def proc_rss_kib(pid, field="VmRSS"):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_pss_kib(pid):
    """Proportional set size: shared pages divided among their users."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ---------------------------------------------------------------- weft

def unix_http(path, method, target, body=None, timeout=5.0):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(path)
        payload = json.dumps(body) if body is not None else ""
        req = "%s %s HTTP/1.1\r\nHost: weft\r\nConnection: close\r\n" % (
            method, target)
        if payload:
            req += "Content-Type: application/json\r\nContent-Length: %d\r\n" \
                % len(payload)
        s.sendall((req + "\r\n" + payload).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, (json.loads(rest) if rest.strip() else None)


class WeftAgent:
    system = "weft"
    timing = {"probe_interval": "%dms" % PROBE_MS,
              "probe_timeout": "%dms" % PROBE_TIMEOUT_MS,
              "gossip_interval": "%dms" % GOSSIP_MS}

    def __init__(self, bench, i):
        self.b = bench
        self.i = i
        self.name = "w%d" % i
        self.ip = addr(WEFT_NET, i)
        self.dir = os.path.join(bench.tmp, self.name)
        self.sock = os.path.join(self.dir, "s.sock")
        self.log = os.path.join(bench.tmp, self.name + ".log")
        self.proc = None

    @property
    def gossip_addr(self):
        return "%s:%d" % (self.ip, WEFT_PORT)

    def start(self, seed=None):
        self.prepare(seed)
        self.launch()

    def prepare(self, seed=None):
        """Certificate and config, so that launch() is only the exec."""
        b = self.b
        os.makedirs(self.dir, exist_ok=True)
        certs = os.path.join(b.tmp, "certs")
        if not os.path.exists(os.path.join(certs, self.name + ".crt")):
            subprocess.run([b.weft, "cert", "issue", "--ca", b.ca_dir,
                            "--name", self.name, "--valid", "60d", "--out",
                            certs], check=True, stdout=subprocess.DEVNULL)
        cfg = {
            "node_name": self.name, "bind": self.gossip_addr,
            "join": [seed] if seed else [], "retry_join": True,
            "retry_join_max": "2s", "data_dir": self.dir,
            "socket": self.sock, "log_level": "info",
            "identity": {"key": os.path.join(certs, self.name + ".key"),
                         "cert": os.path.join(certs, self.name + ".crt"),
                         "ca": os.path.join(b.ca_dir, "ca.crt")},
            "mesh": {"bind": "%s:%d" % (self.ip, WEFT_PORT + 1)},
        }
        if self.timing:
            cfg["gossip"] = self.timing
        self.config = os.path.join(b.tmp, self.name + ".json")
        with open(self.config, "w") as f:
            json.dump(cfg, f)

    def launch(self):
        self.proc = self.b.procs.spawn([self.b.weftd, "--config",
                                        self.config], self.log)

    def ready(self):
        try:
            st, _ = unix_http(self.sock, "GET", "/v1/agent", timeout=2)
            return st == 200
        except (OSError, ValueError, IndexError):
            return False

    def sees(self):
        """Members this agent holds as live (alive or suspect), or -1."""
        try:
            st, j = unix_http(self.sock, "GET", "/v1/agent", timeout=2)
        except (OSError, ValueError, IndexError):
            return -1
        if st != 200:
            return -1
        return j["members"]["alive"] + j["members"]["suspect"]

    def join(self, seed):
        unix_http(self.sock, "POST", "/v1/join", {"addresses": [seed]})

    def leave(self):
        unix_http(self.sock, "POST", "/v1/leave", {})

    def open_stream(self):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(3)
        s.connect(self.sock)
        s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: weft\r\n\r\n")
        s.setblocking(False)
        return WeftStream(s)


class WeftStream:
    def __init__(self, s):
        self.sock = s
        self.buf = b""
        self.head = False

    def feed(self, data):
        self.buf += data
        if not self.head:
            if b"\r\n\r\n" not in self.buf:
                return []
            _, _, self.buf = self.buf.partition(b"\r\n\r\n")
            self.head = True
        out = []
        while b"\n" in self.buf:
            line, _, self.buf = self.buf.partition(b"\n")
            line = line.strip()
            if not line.startswith(b"{"):
                continue  # chunk sizes, should the stream ever be chunked
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("type") == "member":
                out.append((j["event"], j["name"]))
        return out


# ---------------------------------------------------------------- serf

class SerfRpc:
    def __init__(self, rpc_addr, timeout=5.0):
        host, port = rpc_addr.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=timeout)
        self.buf = b""
        self.seq = 0
        self.call("handshake", {"Version": 1}, body=False)

    def close(self):
        self.s.close()

    def read_obj(self):
        while True:
            try:
                o, pos = mpack.unpack(self.buf)
                self.buf = self.buf[pos:]
                return o
            except mpack.Incomplete:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise OSError("serf rpc closed")
                self.buf += chunk

    def call(self, cmd, args=None, body=True):
        msg = mpack.pack({"Command": cmd, "Seq": self.seq})
        self.seq += 1
        if args is not None:
            msg += mpack.pack(args)
        self.s.sendall(msg)
        h = self.read_obj()
        if h.get("Error"):
            raise OSError("serf %s: %s" % (cmd, h["Error"]))
        return self.read_obj() if body else None


class SerfAgent:
    system = "serf"

    def __init__(self, bench, i):
        self.b = bench
        self.i = i
        self.name = "s%d" % i
        self.ip = addr(SERF_NET, i)
        self.rpc_addr = "%s:%d" % (self.ip, SERF_RPC)
        self.log = os.path.join(bench.tmp, self.name + ".log")
        self.proc = None

    @property
    def gossip_addr(self):
        return "%s:%d" % (self.ip, SERF_PORT)

    def start(self, seed=None):
        argv = [self.b.serf, "agent", "-node", self.name,
                "-bind", self.gossip_addr, "-rpc-addr", self.rpc_addr,
                "-encrypt", self.b.serf_key, "-log-level", "info"]
        if seed:
            argv += ["-retry-join", seed, "-retry-interval", "1s"]
        self.proc = self.b.procs.spawn(argv, self.log)

    def _rpc(self, cmd, args=None, body=True, timeout=5.0):
        c = SerfRpc(self.rpc_addr, timeout)
        try:
            return c.call(cmd, args, body)
        finally:
            c.close()

    def ready(self):
        try:
            self._rpc("members", timeout=2)
            return True
        except (OSError, ValueError):
            return False

    def sees(self):
        try:
            m = self._rpc("members", timeout=3)
        except (OSError, ValueError):
            return -1
        return sum(1 for x in m["Members"] if x["Status"] == "alive")

    def join(self, seed):
        self._rpc("join", {"Existing": [seed], "Replay": False})

    def leave(self):
        self._rpc("leave", body=False, timeout=15)

    def open_stream(self):
        c = SerfRpc(self.rpc_addr, 3)
        c.call("stream", {"Type": "member-join,member-leave,member-failed"},
               body=False)
        c.s.setblocking(False)
        return SerfStream(c.s, c.buf)


SERF_EVENTS = {"member-join": "joined", "member-leave": "left",
               "member-failed": "failed"}


class SerfStream:
    def __init__(self, s, buf):
        self.sock = s
        self.buf = buf

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            try:
                h, pos = mpack.unpack(self.buf)
                body, pos = mpack.unpack(self.buf, pos)
            except mpack.Incomplete:
                return out
            self.buf = self.buf[pos:]
            if not isinstance(body, dict) or h.get("Error"):
                continue
            ev = SERF_EVENTS.get(body.get("Event"))
            for m in body.get("Members") or []:
                if ev:
                    out.append((ev, m["Name"]))


# ---------------------------------------------------------------- events

class Hub:
    """Event streams of every agent, timestamped on arrival."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        # (system, event, target) -> observer -> [times]
        self.seen = {}
        self.log = []

    def add(self, agent):
        try:
            st = agent.open_stream()
        except (OSError, ValueError) as e:
            say("cannot open event stream of %s: %s" % (agent.name, e))
            return False
        self.sel.register(st.sock, selectors.EVENT_READ, (st, agent))
        return True

    def drop(self, agent):
        for key in list(self.sel.get_map().values()):
            st, a = key.data
            if a is agent:
                self.sel.unregister(key.fileobj)
                key.fileobj.close()

    def close(self):
        for key in list(self.sel.get_map().values()):
            self.sel.unregister(key.fileobj)
            key.fileobj.close()

    def pump(self, timeout):
        for key, _ in self.sel.select(timeout):
            st, a = key.data
            t = now()
            try:
                data = key.fileobj.recv(1 << 20)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                self.sel.unregister(key.fileobj)
                key.fileobj.close()
                continue
            for ev, target in st.feed(data):
                self.seen.setdefault((a.system, ev, target), {}) \
                    .setdefault(a.name, []).append(t)
                self.log.append((t, a.system, a.name, ev, target))

    def sleep(self, secs):
        end = now() + secs
        while now() < end:
            self.pump(max(0.0, min(0.2, end - now())))

    def first_after(self, system, ev, target, observer, t0):
        for t in self.seen.get((system, ev, target), {}).get(observer, []):
            if t >= t0:
                return t
        return None

    def wait_all(self, system, ev, target, observers, t0, limit,
                 extra=None):
        """Seconds from t0 until every observer reported ev about target
        (and extra(), polled, held); None if not within limit s.  Returns
        (total, first, per-observer times)."""
        extra_t = None
        last_poll = 0.0
        while True:
            times = [self.first_after(system, ev, target, o, t0)
                     for o in observers]
            if extra and extra_t is None and now() - last_poll >= 0.1:
                last_poll = now()
                if extra():
                    extra_t = now()
            if all(t is not None for t in times) and \
                    (extra is None or extra_t is not None):
                allt = times + ([extra_t] if extra_t else [])
                return max(allt) - t0, min(allt) - t0, extra_t
            if now() - t0 > limit:
                return None, None, None
            self.pump(0.05)

    def count(self, system, ev, t0, t1, targets):
        """Death episodes: for each target, the most reports of ev by any
        one observer within [t0, t1]; and the reports in all."""
        episodes, reports = 0, 0
        for tg in targets:
            obs = self.seen.get((system, ev, tg), {})
            most = 0
            for times in obs.values():
                k = sum(1 for t in times if t0 <= t <= t1)
                reports += k
                most = max(most, k)
            episodes += most
        return episodes, reports


# ---------------------------------------------------------------- nft

def nft(script):
    subprocess.run(["nft", "-f", "-"], input=script.encode(), check=True)


def nft_setup():
    subprocess.run(["nft", "delete", "table", "ip", NFT_TABLE],
                   stderr=subprocess.DEVNULL)
    rules = []
    for sysname, net, port in (("weft", WEFT_NET, WEFT_PORT),
                               ("serf", SERF_NET, SERF_PORT)):
        rules.append('ip daddr 127.%d.0.0/16 udp dport %d counter comment '
                     '"%s-udp"' % (net, port, sysname))
        rules.append('ip daddr 127.%d.0.0/16 tcp dport %d counter comment '
                     '"%s-tcp"' % (net, port, sysname))
        rules.append('ip saddr 127.%d.0.0/16 tcp sport %d counter comment '
                     '"%s-tcp"' % (net, port, sysname))
    nft("""table ip %s {
  chain count {
    type filter hook input priority -10; policy accept;
    %s
  }
  chain loss {
    type filter hook input priority -5; policy accept;
  }
}
""" % (NFT_TABLE, "\n    ".join(rules)))


def nft_counters():
    out = subprocess.run(["nft", "-j", "list", "table", "ip", NFT_TABLE],
                         check=True, capture_output=True).stdout
    res = {}
    for item in json.loads(out)["nftables"]:
        r = item.get("rule")
        if not r or "comment" not in r:
            continue
        for e in r["expr"]:
            if "counter" in e:
                c = res.setdefault(r["comment"], [0, 0])
                c[0] += e["counter"]["packets"]
                c[1] += e["counter"]["bytes"]
    return res


def nft_loss(pct):
    if pct == 0:
        nft("flush chain ip %s loss\n" % NFT_TABLE)
        return
    nft("".join("add rule ip %s loss ip daddr 127.%d.0.0/16 udp dport %d "
                "numgen random mod 100 < %d drop\n"
                % (NFT_TABLE, net, port, pct)
                for net, port in ((WEFT_NET, WEFT_PORT),
                                  (SERF_NET, SERF_PORT))))


def nft_teardown():
    subprocess.run(["nft", "delete", "table", "ip", NFT_TABLE],
                   stderr=subprocess.DEVNULL)


# ---------------------------------------------------------------- bench

def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs),
            "n": len(xs)}


class Cluster:
    def __init__(self, bench, cls, base, n):
        self.b = bench
        self.cls = cls
        self.base = base
        self.n = n
        self.agents = []   # live ones
        self.next = base
        self.system = cls.system
        self.own_timing = False

    def new(self):
        a = self.cls(self.b, self.next)
        if self.own_timing:
            a.timing = None
        self.next += 1
        return a

    @property
    def seed(self):
        return self.agents[0]


class Bench:
    def __init__(self, args):
        self.args = args
        self.weft = args.weft
        self.weftd = args.weftd
        self.serf = shutil.which("serf")
        self.tmp = tempfile.mkdtemp(prefix="wgb.", dir="/tmp")
        os.chmod(self.tmp, 0o755)
        self.procs = Procs(args.pidfile)
        self.rng = random.Random(args.seed)
        self.serf_key = base64.b64encode(os.urandom(32)).decode()
        self.ca_dir = os.path.join(self.tmp, "ca")
        subprocess.run([self.weft, "ca", "init", "--name", "bench", "--out",
                        self.ca_dir, "--valid", "1y"], check=True,
                       stdout=subprocess.DEVNULL)
        self.hub = None
        self.results = {"runs": {}, "defaults": {}}

    # -- starting

    def wait_ready(self, agents, limit):
        end = now() + limit
        pending = list(agents)
        while pending and now() < end:
            pending = [a for a in pending if not a.ready()]
            if pending:
                time.sleep(0.1)
        return not pending

    def converge(self, clusters, limit):
        """Until every agent sees all of its cluster; seconds or None."""
        t0 = now()
        done = {c.system: None for c in clusters}
        while now() - t0 < limit:
            for c in clusters:
                if done[c.system] is None and all(
                        a.sees() >= len(c.agents) for a in c.agents):
                    done[c.system] = now() - t0
            if all(v is not None for v in done.values()):
                break
            time.sleep(0.5)
        return done

    def form(self, n, base, weft_only=False):
        """A cluster of each kind with n agents, joined through agent 0 at
        a modest pace (formation is not what is measured)."""
        cls = [Cluster(self, WeftAgent, base, n)]
        if weft_only:
            cls[0].own_timing = True
        else:
            cls.append(Cluster(self, SerfAgent, base, n))
        for c in cls:
            s = c.new()
            s.start()
            c.agents.append(s)
        if not self.wait_ready([c.seed for c in cls], 20):
            raise RuntimeError("a seed did not start")
        t_first = now()
        for k in range(1, n):
            for c in cls:
                a = c.new()
                a.start(c.seed.gossip_addr)
                c.agents.append(a)
            time.sleep(1.0 / self.args.pace)
        if not self.wait_ready([a for c in cls for a in c.agents], 60):
            raise RuntimeError("some agents did not start")
        t_started = now()
        took = self.converge(cls, 120)
        for k in took:  # from the first start, not from the last answer
            if took[k] is not None:
                took[k] += t_started - t_first
        say("N=%d formed: %s" % (n, took))
        return cls, took

    # -- measurements

    def rest(self, cls, window):
        c0 = nft_counters() if self.args.nft else None
        t0 = now()
        cpu0 = {a.proc.pid: proc_cpu_ticks(a.proc.pid)
                for c in cls for a in c.agents}
        self.hub.sleep(window)
        cpu1 = {p: proc_cpu_ticks(p) for p in cpu0}
        dt = now() - t0
        c1 = nft_counters() if self.args.nft else None
        out = {}
        for c in cls:
            ticks = [cpu1[a.proc.pid] - cpu0[a.proc.pid] for a in c.agents
                     if cpu1[a.proc.pid] is not None]
            rss = [proc_rss_kib(a.proc.pid) for a in c.agents]
            pss = [proc_pss_kib(a.proc.pid) for a in c.agents]
            pss = [r for r in pss if r is not None]
            rss = [r for r in rss if r is not None]
            anon = [proc_rss_kib(a.proc.pid, "RssAnon") for a in c.agents]
            anon = [r for r in anon if r is not None]
            n = len(c.agents)
            r = {
                "cpu_s_per_min": sum(ticks) / CLK_TCK / len(ticks)
                * 60.0 / dt,
                "cpu_s_per_min_max": max(ticks) / CLK_TCK * 60.0 / dt,
                "rss_mib_median": statistics.median(rss) / 1024,
                "rss_mib_max": max(rss) / 1024,
                "rss_anon_mib_median": statistics.median(anon) / 1024,
                "pss_mib_median": statistics.median(pss) / 1024,
                "window_s": dt,
            }
            if c1:
                for k in ("udp", "tcp"):
                    key = "%s-%s" % (c.system, k)
                    pk = c1[key][0] - c0[key][0]
                    by = c1[key][1] - c0[key][1]
                    r["%s_bytes_per_s" % k] = by / dt / n
                    r["%s_pkts_per_s" % k] = pk / dt / n
                r["bytes_per_s"] = r["udp_bytes_per_s"] + r["tcp_bytes_per_s"]
            out[c.system] = r
        return out

    def observers(self, c, but=()):
        return [a.name for a in c.agents if a not in but]

    def measure_join(self, c, limit):
        """A fresh agent, running alone, is told to join through the seed:
        seconds until every member lists it and it lists every member."""
        a = c.new()
        a.start()
        if not self.wait_ready([a], 20):
            say("%s did not start" % a.name)
            return None
        obs = self.observers(c)
        want = len(c.agents) + 1
        seed = c.seed.gossip_addr
        t0 = now()
        threading.Thread(target=self._quiet, args=(a.join, seed),
                         daemon=True).start()
        total, first, self_t = self.hub.wait_all(
            c.system, "joined", a.name, obs, t0, limit,
            extra=lambda: a.sees() >= want)
        c.agents.append(a)
        self.hub.add(a)
        return {"all": total, "joiner_sees_all":
                (self_t - t0) if self_t else None, "first": first}

    def measure_crash(self, c, limit):
        victim = self.rng.choice(c.agents[1:-1] or c.agents[1:])
        c.agents.remove(victim)
        self.hub.drop(victim)
        obs = self.observers(c)
        t0 = now()
        self.procs.kill(victim.proc)
        total, first, _ = self.hub.wait_all(c.system, "failed", victim.name,
                                            obs, t0, limit)
        self.procs.reap(victim.proc)
        sus = [self.hub.first_after(c.system, "suspect", victim.name, o, t0)
               for o in obs]
        sus = [t - t0 for t in sus if t is not None]
        return {"all": total, "first": first,
                "first_suspect": min(sus) if sus else None}

    def measure_leave(self, c, limit):
        who = self.rng.choice(c.agents[1:-1] or c.agents[1:])
        c.agents.remove(who)
        obs = self.observers(c)
        t0 = now()
        threading.Thread(target=self._quiet, args=(who.leave,),
                         daemon=True).start()
        total, first, _ = self.hub.wait_all(c.system, "left", who.name, obs,
                                            t0, limit)
        self.hub.drop(who)
        self.procs.reap(who.proc, 20)
        return {"all": total, "first": first}

    @staticmethod
    def _quiet(fn, *a):
        try:
            fn(*a)
        except (OSError, ValueError) as e:
            say("control call failed: %s" % e)

    def loss(self, cls, pct, window, settle):
        live = {c.system: [a.name for a in c.agents] for c in cls}
        t0 = now()
        nft_loss(pct)
        self.hub.sleep(window)
        nft_loss(0)
        self.hub.sleep(settle)
        t1 = now()
        out = {}
        for c in cls:
            ep, rep = self.hub.count(c.system, "failed", t0, t1,
                                     live[c.system])
            sus = self.hub.count(c.system, "suspect", t0, t1,
                                 live[c.system])
            out[c.system] = {"false_deaths": ep, "failed_reports": rep,
                             "suspect_reports": sus[1]}
        out["window_s"] = window
        out["settle_s"] = settle
        return out

    # -- one N

    def run_n(self, n, base, weft_only=False):
        """All the figures at one size; weft_only: weftd alone on its own
        timing defaults, joins and crashes only."""
        a = self.args
        say("== N=%d%s" % (n, " (weftd on its defaults)" if weft_only
                           else ""))
        cls, formed = self.form(n, base, weft_only)
        self.hub = Hub()
        for c in cls:
            for ag in c.agents:
                self.hub.add(ag)
        res = {"formed_s": formed}
        self.hub.sleep(a.warmup)
        if a.rest > 0 and not weft_only:
            say("N=%d at rest for %ds" % (n, a.rest))
            res["rest"] = self.rest(cls, a.rest)
            say("N=%d rest: %s" % (n, json.dumps(res["rest"])))
        joins = {c.system: [] for c in cls}
        crashes = {c.system: [] for c in cls}
        leaves = {c.system: [] for c in cls}
        for r in range(-a.warmup_reps, a.reps):
            order = cls if r % 2 == 0 else cls[::-1]
            for c in order:
                j = self.measure_join(c, 60)
                say("N=%d rep %d %s join %s" % (n, r, c.system, j))
                if r >= 0:
                    joins[c.system].append(j)
                self.hub.sleep(1)
            for c in order:
                k = self.measure_crash(c, 90)
                say("N=%d rep %d %s crash %s" % (n, r, c.system, k))
                if r >= 0:
                    crashes[c.system].append(k)
                self.hub.sleep(1)
        for r in range(0 if weft_only else a.leave_reps):
            order = cls if r % 2 == 0 else cls[::-1]
            for c in order:
                v = self.measure_leave(c, 30)
                say("N=%d leave %d %s %s" % (n, r, c.system, v))
                leaves[c.system].append(v)
                self.hub.sleep(1)
        for c in cls:
            s = c.system
            res.setdefault(s, {})
            res[s]["join_all_s"] = stats([x["all"] for x in joins[s] if x])
            res[s]["join_self_s"] = stats(
                [x["joiner_sees_all"] for x in joins[s] if x])
            res[s]["crash_all_s"] = stats([x["all"] for x in crashes[s]])
            res[s]["crash_first_s"] = stats([x["first"] for x in crashes[s]])
            res[s]["crash_first_suspect_s"] = stats(
                [x["first_suspect"] for x in crashes[s]])
            res[s]["leave_all_s"] = stats([x["all"] for x in leaves[s]])
            res[s]["timeouts"] = sum(
                1 for x in joins[s] + crashes[s] + leaves[s]
                if not x or x["all"] is None)
        if a.nft and not weft_only:
            for pct in a.loss:
                say("N=%d %d%% UDP loss for %ds" % (n, pct, a.loss_window))
                lo = self.loss(cls, pct, a.loss_window, a.loss_settle)
                say("N=%d loss %d%%: %s" % (n, pct, lo))
                res["loss_%d" % pct] = lo
        res["agents_at_end"] = {c.system: len(c.agents) for c in cls}
        self.hub.close()
        for c in cls:
            for ag in c.agents:
                self.procs.kill(ag.proc)
            for ag in c.agents:
                self.procs.reap(ag.proc)
        self.results["defaults" if weft_only else "runs"][str(n)] = res
        self.save()

    def run_storm(self, n, base, observe):
        """n weftd started at the same moment, all joining through the
        first: seconds until all see all, and the suspicions on the way."""
        say("== N=%d started at once" % n)
        c = Cluster(self, WeftAgent, base, n)
        agents = [c.new() for _ in range(n)]
        seed = agents[0].gossip_addr
        for k, ag in enumerate(agents):  # all but the exec before the clock
            # No Serf beside it: weftd as a user runs it, on its defaults.
            ag.timing = None
            ag.prepare(None if k == 0 else seed)
        t0 = now()
        wall0 = time.time()
        for ag in agents:
            ag.launch()
        spawn_s = now() - t0
        done = {}
        while now() - t0 < observe and len(done) < n:
            for ag in agents:
                if ag.name not in done and ag.sees() >= n:
                    done[ag.name] = now() - t0
            time.sleep(0.2)
        conv = max(done.values()) if len(done) == n else None
        # CPU the agents spent until all converged: on a small box the
        # start is bound by it (every joiner checks every record).
        cpu_conv = sum(proc_cpu_ticks(ag.proc.pid) or 0
                       for ag in agents) / CLK_TCK
        cpu_conv_at = now() - t0
        # Keep watching: a storm shows after the first convergence too.
        end = t0 + observe
        while now() < end:
            time.sleep(0.5)
        still = sum(1 for ag in agents if ag.sees() >= n)
        # When each agent learned its last member, by its own clock: exact
        # where polling is late (a storm would move these later, too).
        learned = []
        for ag in agents:
            try:
                st, j = unix_http(ag.sock, "GET", "/v1/members", timeout=5)
            except (OSError, ValueError, IndexError):
                continue
            ms = [m.get("last_change_ms", 0) for m in j["members"]
                  if not m.get("self") and m["status"] == "alive"]
            if st == 200 and len(ms) == n - 1:
                learned.append(max(ms) / 1000.0 - wall0)
        learned.sort()
        polled = sorted(done.values())
        lacking = {}  # agent -> how many members it still lacks
        for ag in agents:
            k = ag.sees()
            if k < n:
                lacking[ag.name] = n - max(k, 0)
        sus = fail = 0
        targets = set()
        for ag in agents:
            with open(ag.log, errors="replace") as f:
                for line in f:
                    if 'msg="member suspect"' in line:
                        sus += 1
                        m = re.search(r" node=(\S+)", line)
                        if m:
                            targets.add(m.group(1))
                    elif 'msg="member failed"' in line:
                        fail += 1
        for ag in agents:
            self.procs.kill(ag.proc)
        for ag in agents:
            self.procs.reap(ag.proc)
        res = {"n": n, "spawn_s": spawn_s, "converged_s": conv,
               "learned_all_s": learned[-1] if len(learned) == n else None,
               "learned_all_median_s": statistics.median(learned)
               if learned else None,
               "learned_all_agents": len(learned),
               "polled_by_10s": sum(1 for t in polled if t < 10),
               "cpu_s_until_converged": cpu_conv,
               "cpu_measured_at_s": cpu_conv_at,
               "nproc": os.cpu_count(),
               "polled_p50_s": statistics.median(polled) if polled else None,
               "polled_p90_s": polled[int(0.9 * (len(polled) - 1))]
               if polled else None,
               "polled_last_s": polled[-1] if polled else None,
               "lacking_at_end": lacking,
               "converged_agents": len(done), "observe_s": observe,
               "all_see_all_at_end": still,
               "suspect_reports": sus, "suspected_members": len(targets),
               "failed_reports": fail}
        say("storm: %s" % res)
        self.results["storm"] = res
        self.save()

    def save(self):
        with open(self.args.json, "w") as f:
            json.dump(self.results, f, indent=1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--weft", required=True)
    p.add_argument("--weftd", required=True)
    p.add_argument("--json", required=True, help="results written here")
    p.add_argument("--pidfile", required=True)
    p.add_argument("--sizes", default="16,64,128")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup-reps", type=int, default=1)
    p.add_argument("--leave-reps", type=int, default=3)
    p.add_argument("--warmup", type=float, default=15)
    p.add_argument("--rest", type=float, default=60)
    p.add_argument("--loss", default="10,30")
    p.add_argument("--loss-window", type=float, default=60)
    p.add_argument("--loss-settle", type=float, default=10)
    p.add_argument("--pace", type=float, default=32,
                   help="agents started per second while forming")
    p.add_argument("--storm", type=int, default=256,
                   help="N started at once (0: skip)")
    p.add_argument("--storm-observe", type=float, default=60)
    p.add_argument("--defaults-sizes", default="128",
                   help="sizes where weftd alone, on its own timing "
                   "defaults, is timed for joins and crashes too")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--weft-defaults", action="store_true",
                   help="weftd on its own timing defaults, not Serf's")
    p.add_argument("--no-nft", dest="nft", action="store_false")
    args = p.parse_args()
    args.loss = [int(x) for x in args.loss.split(",") if x]
    b = Bench(args)
    b.results["config"] = {k: v for k, v in vars(args).items()}
    if args.weft_defaults:
        WeftAgent.timing = None
    b.results["timing"] = {"weft_defaults": args.weft_defaults,
                           "probe_interval_ms": PROBE_MS,
                           "probe_timeout_ms": PROBE_TIMEOUT_MS,
                           "gossip_interval_ms": GOSSIP_MS}

    def on_signal(sig, _frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)
    t_start = now()
    with open("/proc/loadavg") as f:
        b.results["loadavg_start"] = " ".join(f.read().split()[:3])
    try:
        if args.nft:
            nft_setup()
        for k, n in enumerate(int(x) for x in args.sizes.split(",") if x):
            b.run_n(n, 300 * k)
        for n in (int(x) for x in args.defaults_sizes.split(",") if x):
            b.run_n(n, 1200, weft_only=True)
        if args.storm:
            b.run_storm(args.storm, 900, args.storm_observe)
    finally:
        if b.hub:
            b.hub.close()
        b.procs.kill_all()
        if args.nft:
            nft_teardown()
        b.results["total_s"] = now() - t_start
        with open("/proc/loadavg") as f:
            b.results["loadavg_end"] = " ".join(f.read().split()[:3])
        b.save()
        if os.environ.get("KEEP"):
            say("logs kept in %s" % b.tmp)
        else:
            shutil.rmtree(b.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
