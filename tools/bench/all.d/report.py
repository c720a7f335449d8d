#!/usr/bin/env python3
"""The report of tools/bench/all: reads what each benchmark wrote into the
data directory (--data of gossip, gossip-sim, proxy, http, noise; --out of
rss), prints markdown, and with --doc puts it at the top of
docs/BENCHMARKS.md between the two markers (the rest of the file stays as
it is), with gnuplot plots into --png."""
import argparse
import collections
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys

BEGIN = "<!-- tools/bench/all: begin -->"
END = "<!-- tools/bench/all: end -->"
med = statistics.median


# ------------------------------------------------------------ helpers

def sh(argv, both=False):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (p.stdout + (p.stderr if both else "")).strip()


def first(text, pattern, default="?"):
    m = re.search(pattern, text or "")
    return m.group(1) if m else default


def f(x, d=2, unit=""):
    return "-" if x is None else "%.*f%s" % (d, x, unit)


def ratio(a, b, d=2):
    if a is None or b is None or not b:
        return None
    return a / b


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def load_json(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def load_tsv4(path):
    """Lines "metric subject round value": {(metric, subject): [values]}."""
    out = collections.defaultdict(list)
    try:
        with open(path) as fh:
            for line in fh:
                p = line.rstrip("\n").split("\t")
                if len(p) != 4:
                    continue
                try:
                    v = float(p[3])
                except ValueError:
                    v = p[3]
                out[(p[0], p[1])].append(v)
    except OSError:
        return None
    return out


def one(d, metric, subject):
    v = d.get((metric, subject)) if d else None
    if not v:
        return None
    return med(v) if isinstance(v[0], float) else v[0]


# ------------------------------------------------------------ machine

def machine():
    lscpu = sh(["lscpu"])
    model = first(lscpu, r"Model name:\s*(.+)")
    mem = "?"
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal"):
                    mem = "%.1f GiB" % (int(line.split()[1]) / 2**20)
    except OSError:
        pass
    virt = first(lscpu, r"Hypervisor vendor:\s*(.+)", "")
    flags = first(lscpu, r"Flags:\s*(.+)", "")
    ext = [x for x in ("aes", "vaes", "avx2", "avx512f") if x in flags.split()]
    debian = ""
    try:
        with open("/etc/debian_version") as fh:
            debian = "Debian " + fh.read().strip() + ", "
    except OSError:
        pass
    return ("%s, %d cores (nproc), %s RAM, %sLinux %s%s; CPU flags %s"
            % (model, os.cpu_count(), mem, debian, platform.release(),
               ", under %s" % virt if virt else "", " ".join(ext) or "-"))


def pkg(name):
    v = sh(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", name])
    return v.splitlines()[0] if v else name + " ?"


def versions(root, build, env):
    commit = env.get("commit") or "?"
    dirty = env.get("dirty")
    w = "weftd %s%s (%s)" % (
        commit, " + uncommitted changes in the tree" if dirty else "",
        os.path.relpath(build, root) if build.startswith(root) else build)
    serf = first(sh(["serf", "version"]), r"v?(\d\S*)")
    hap = first(sh(["haproxy", "-v"]), r"version (\S+)")
    ngx = first(sh(["nginx", "-v"], both=True), r"nginx/(\S+)")
    wrk = first(sh(["wrk", "-v"], both=True), r"wrk (\S+)")
    h2l = first(sh(["h2load", "--version"]), r"nghttp2/(\S+)")
    ip3 = first(sh(["iperf3", "--version"]), r"iperf (\S+)")
    gcc = first(sh(["gcc", "--version"]), r"\) (\S+)")
    libs = [pkg(n) for n in ("libsodium23", "libssl3", "libnghttp2-14")]
    uv = sh(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n",
             "libuv1*"]).splitlines()
    libs.append(uv[0] if uv else "libuv1 ?")
    return ("%s, gcc %s; Serf %s, HAProxy %s, nginx %s, wrk %s, h2load "
            "(nghttp2) %s, iperf3 %s; Debian packages %s"
            % (w, gcc, serf, hap, ngx, wrk, h2l, ip3, ", ".join(libs)))


# ------------------------------------------------------------ goals

class Goals:
    def __init__(self):
        self.rows = []

    def add(self, goal, measured, value, target, higher_better, note="",
            why=""):
        """value against target; higher_better: goal is value >= target;
        why: what this run shows about the cause, said when missed."""
        if value is None:
            self.rows.append([goal, measured or "not measured", "-", note])
            return
        if higher_better:
            ok = value >= target
            by = "" if ok else "short by %.0f%%" % (100 * (1 - value / target))
        else:
            ok = value <= target
            by = "" if ok else "over by %.0f%%" % (100 * (value / target - 1))
        verdict = "**met**" if ok else "**missed**, " + by
        if not ok and why:
            note = "; ".join(x for x in (note, why) if x)
        self.rows.append([goal, measured, verdict, note])

    def info(self, goal, measured, note="", verdict="(no number set)"):
        self.rows.append([goal, measured, verdict, note])


# ------------------------------------------------------------ gnuplot

class Plots:
    def __init__(self, data, png_dir, doc):
        self.data = data
        self.png_dir = os.path.abspath(png_dir) if png_dir else None
        # links relative to the document the report goes into
        self.base = os.path.dirname(os.path.abspath(doc)) if doc else "."
        self.made = {}

    def plot(self, name, title, body, datasets):
        """datasets: {file: text}; body: gnuplot commands after the
        terminal and output are set.  Returns the markdown image link or
        ""."""
        if not self.png_dir or not shutil.which("gnuplot"):
            return ""
        if not any(t.strip() for t in datasets.values()):
            return ""
        for fn, text in datasets.items():
            with open(os.path.join(self.data, fn), "w") as fh:
                fh.write(text)
        os.makedirs(self.png_dir, exist_ok=True)
        out = os.path.join(self.png_dir, name + ".png")
        script = ("set terminal pngcairo size 860,540 font 'sans,10'\n"
                  "set termoption noenhanced\n"
                  "set output '%s'\nset title \"%s\"\nset grid\n"
                  "set key outside bottom center horizontal\n%s\n" % (out, title, body))
        gp = os.path.join(self.data, name + ".gp")
        with open(gp, "w") as fh:
            fh.write(script)
        p = subprocess.run(["gnuplot", gp], cwd=self.data,
                           capture_output=True, text=True)
        if p.returncode != 0 or not os.path.exists(out):
            sys.stderr.write("gnuplot %s: %s\n" % (name, p.stderr.strip()))
            return ""
        self.made[name] = out
        return "![%s](%s)" % (title, os.path.relpath(out, self.base))


# ------------------------------------------------------------ sections

def gossip_section(g, sim, goals, plots, quick):
    out = []
    runs = (g or {}).get("runs", {})
    sizes = sorted(int(n) for n in runs)
    if runs:
        cfg = g.get("config", {})
        out.append("### Gossip on real agents: weftd beside Serf\n")
        out.append(
            "N weftd and N Serf agents (`-encrypt` on) at once on loopback, "
            "weftd on Serf's timing (probe 1 s, timeout 500 ms, gossip "
            "200 ms). Joins and kill -9 crashes alternate between the two "
            "systems (%d measured per N after %d warm-up); times are from "
            "the action until every member's event stream reported it; "
            "median (min-max). At rest: %g s window, RSS and CPU per agent, "
            "bytes per agent from nft counters. Load average %s at the "
            "start, %s at the end.\n" % (
                cfg.get("reps", 0), cfg.get("warmup_reps", 0),
                cfg.get("rest", 0), g.get("loadavg_start", "?"),
                g.get("loadavg_end", "?")))
        rows = []

        def spread(s):
            if not s:
                return "timed out / none"
            if s["n"] == 1:
                return f(s["median"])
            return "%s (%s-%s)" % (f(s["median"]), f(s["min"]), f(s["max"]))

        def m(s):
            return s["median"] if s else None
        for n in sizes:
            r = runs[str(n)]
            w, s = r.get("weft", {}), r.get("serf", {})
            for key, label in (("join_all_s", "join known to all, s"),
                               ("crash_all_s", "crash known to all, s"),
                               ("leave_all_s", "leave known to all, s")):
                rows.append([n, label, spread(w.get(key)), spread(s.get(key)),
                             f(ratio(m(w.get(key)), m(s.get(key))))])
            rw = r.get("rest", {}).get("weft")
            rs = r.get("rest", {}).get("serf")
            if rw and rs:
                rows.append([n, "RSS per agent, median (max), MiB",
                             "%s (%s)" % (f(rw["rss_mib_median"]),
                                          f(rw["rss_mib_max"])),
                             "%s (%s)" % (f(rs["rss_mib_median"]),
                                          f(rs["rss_mib_max"])),
                             f(ratio(rw["rss_mib_median"],
                                     rs["rss_mib_median"]))])
                rows.append([n, "CPU at rest per agent, s/min",
                             f(rw["cpu_s_per_min"], 3),
                             f(rs["cpu_s_per_min"], 3),
                             f(ratio(rw["cpu_s_per_min"],
                                     rs["cpu_s_per_min"]))])
                if "bytes_per_s" in rw:
                    rows.append([n, "bytes at rest per agent, B/s",
                                 f(rw["bytes_per_s"], 0),
                                 f(rs["bytes_per_s"], 0),
                                 f(ratio(rw["bytes_per_s"],
                                         rs["bytes_per_s"]))])
            for k in sorted(r):
                if k.startswith("loss_"):
                    lo = r[k]
                    rows.append([n, "false deaths, %s%% UDP loss for %g s"
                                 % (k[5:], lo.get("window_s", 0)),
                                 lo["weft"]["false_deaths"],
                                 lo["serf"]["false_deaths"], ""])
        out.append(table(["N", "", "weft", "Serf", "weft / Serf"], rows))
        dflt = g.get("defaults", {})
        for n in sorted(dflt, key=int):
            w = dflt[n].get("weft", {})
            out.append("\nweftd alone on its own defaults (probe 500 ms), "
                       "N = %s: join known to all %s s, crash known to all "
                       "%s s." % (n, spread(w.get("join_all_s")),
                                  spread(w.get("crash_all_s"))))
        st = g.get("storm")
        if st:
            out.append("\n%d weftd started at the same moment: all saw all "
                       "after %s s (%d of %d converged), %d suspicions, %d "
                       "failures reported." % (
                           st["n"], f(st.get("converged_s")),
                           st.get("converged_agents", 0), st["n"],
                           st.get("suspect_reports", 0),
                           st.get("failed_reports", 0)))
        # goals at the largest N measured (the is 128)
        n = sizes[-1]
        r = runs[str(n)]
        note = "" if n >= 128 else "at N = %d, not 128 (%s)" % (
            n, "quick run" if quick else "largest N measured")
        w, s = r.get("weft", {}), r.get("serf", {})
        for key, what in (("crash_all_s", "crash"), ("join_all_s", "join")):
            a, b = m(w.get(key)), m(s.get(key))
            goals.add("gossip: %s known to all in at most half of Serf's "
                      "time" % what,
                      "%s s vs Serf %s s = %sx" % (f(a), f(b),
                                                   f(ratio(a, b))),
                      ratio(a, b), 0.5, False, note,
                      "see \"Reading the figures\" under Gossip on real "
                      "agents")
        rw = r.get("rest", {}).get("weft")
        if rw:
            goals.add("gossip: RSS at most 3 MiB per agent",
                      "%s MiB median (max %s)" % (f(rw["rss_mib_median"]),
                                                  f(rw["rss_mib_max"])),
                      rw["rss_mib_median"], 3.0, False, note,
                      "Serf %s MiB; see \"Reading the figures\" under "
                      "Gossip on real agents" % f(
                          r.get("rest", {}).get("serf", {}).get(
                              "rss_mib_median")))
            goals.add("gossip: CPU at rest at most 0.02 s/min per agent",
                      "%s s/min" % f(rw["cpu_s_per_min"], 4),
                      rw["cpu_s_per_min"], 0.02, False, note,
                      "Serf %s s/min" % f(r.get("rest", {}).get(
                          "serf", {}).get("cpu_s_per_min"), 3))
    else:
        for what in ("crash", "join"):
            goals.add("gossip: %s known to all in at most half of Serf's "
                      "time" % what, None, None, 0.5, False,
                      "gossip step did not run or failed")

    simruns = (sim or {}).get("runs", {})
    # detection and join against N: real agents and the simulator on
    # Serf's timing (weft beside memberlist's defaults)
    real = "".join("%d %s %s %s %s\n" % (
        n, f(m2(runs[str(n)], "weft", "crash_all_s"), 3),
        f(m2(runs[str(n)], "serf", "crash_all_s"), 3),
        f(m2(runs[str(n)], "weft", "join_all_s"), 3),
        f(m2(runs[str(n)], "serf", "join_all_s"), 3)) for n in sizes)
    simdet = []
    for n in sorted({int(k.split("-")[2]) for k in simruns
                     if k.startswith("serf-timing-")}):
        row = []
        for p in ("weft", "memberlist"):
            v = [d["crash_all_s"]["median"] for k, d in simruns.items()
                 if k.startswith("serf-timing-%d-%s-" % (n, p))
                 and d["crash_all_s"]["detected"]]
            row.append(med(v) if v else None)
        simdet.append((n, row[0], row[1]))
    if simdet and simdet[-1][1] is not None and simdet[-1][2]:
        n, a_, b_ = simdet[-1]
        goals.info("gossip in the simulator, N = %d, Serf's timing: crash "
                   "known to all against memberlist's defaults" % n,
                   "%s s vs %s s = %sx" % (f(a_), f(b_), f(a_ / b_)),
                   "memberlist's defaults in the simulator stand for Serf",
                   "(reference for the 0.5x goal)")
    simdet_txt = "".join("%d %s %s\n" % (n, f(a, 3), f(b, 3))
                         for n, a, b in simdet)
    body = ("set xlabel 'N (members)'\nset ylabel 'seconds'\n"
            "set logscale x 2\nset datafile missing '-'\nset yrange [0:*]\n"
            "set xrange [8:*]\n")
    lines = []
    if real.strip():
        lines += ["'gossip-real.dat' u 1:2 w lp lw 2 pt 7 t 'weft crash known "
                  "to all (real)'",
                  "'' u 1:3 w lp lw 2 pt 5 t 'Serf crash known to all (real)'",
                  "'' u 1:4 w lp lw 2 pt 6 dt 3 t 'weft join known to all "
                  "(real)'",
                  "'' u 1:5 w lp lw 2 pt 4 dt 3 t 'Serf join known to all "
                  "(real)'"]
    if simdet_txt.strip():
        lines += ["'gossip-simdet.dat' u 1:2 w lp dt 2 pt 9 t 'weft crash, "
                  "simulator'",
                  "'' u 1:3 w lp dt 2 pt 11 t 'memberlist defaults crash, "
                  "simulator'"]
    img1 = plots.plot("gossip-time", "Crash and join known to all against N "
                      "(Serf's timing)", body + "plot " + ", \\\n  ".join(
                          lines), {"gossip-real.dat": real,
                                   "gossip-simdet.dat": simdet_txt}) \
        if lines else ""

    idle = collections.defaultdict(dict)
    for k, d in simruns.items():
        mm = re.match(r"idle-(\d+)(?:-(\w+))?$", k)
        if mm:
            idle[int(mm.group(1))][mm.group(2) or "weft"] = d
    if simruns:
        out.append("\n### Gossip simulator: weft beside memberlist's "
                   "defaults\n")
        if simdet:
            out.append("On Serf's timing (probe 1 s, timeout 500 ms), one "
                       "crash per run, seeds 1-8, median of crash known to "
                       "all:\n")
            out.append(table(["N", "weft, s", "memberlist defaults, s",
                              "weft / memberlist"],
                             [[n, f(a), f(b), f(ratio(a, b))]
                              for n, a, b in simdet]))
        if idle:
            pi = {k: (idle[n][k].get("config", {}).get("probe_interval_ms"))
                  for n in idle for k in idle[n]}
            out.append("\nIdle traffic (no loss, 30 simulated s) and gossip "
                       "state against N, each on its own defaults (probe "
                       "every %s ms for weft, %s ms for memberlist). The simulator "
                       "counts the payload of the datagrams a node sends; the "
                       "real-agent figures above are nft counts of whole IP "
                       "packets, TCP included: compare each with its own "
                       "anchor, not the levels with each other.\n" % (
                           pi.get("weft", "?"), pi.get("memberlist", "?")))
            rows = []
            for n in sorted(idle):
                w, ml = idle[n].get("weft"), idle[n].get("memberlist")
                wb = w["idle_bytes_per_node_s"] if w else None
                mb = ml["idle_bytes_per_node_s"] if ml else None
                rows.append([n, f(wb, 0), f(mb, 0), f(ratio(wb, mb)),
                             f(w["bytes_per_member"], 0) if w else "-",
                             f(w["join_all_s"]) if w else "-",
                             f(w["wall_s"], 1) if w else "-"])
            out.append(table(["N", "weft B/node/s", "memberlist B/node/s",
                              "weft / memberlist",
                              "weft state bytes per member", "join_all_s",
                              "wall s"], rows))
        d = simruns.get("n10000-loss5")
        if d:
            c = d["crash_all_s"]
            out.append("\nN = 10,000, 120 simulated s, 5%% loss, 5 crashes: "
                       "crash known to all median %s s (p99 %s), %d false "
                       "positives, join of all %s s, %s B/node/s idle." % (
                           f(c["median"]), f(c["p99"]),
                           d["false_positives"], f(d["join_all_s"]),
                           f(d["idle_bytes_per_node_s"], 0)))
        crash = collections.defaultdict(list)
        for k, dd in simruns.items():
            mm = re.match(r"detect-(\d+)-(\w+)-\d+$", k)
            if mm and dd["crash_all_s"]["median"] is not None:
                crash[(int(mm.group(1)), mm.group(2))].append(dd)
        if crash:
            rows = []
            for n in sorted({k[0] for k in crash}):
                cw = crash.get((n, "weft"), [])
                cm = crash.get((n, "memberlist"), [])
                a = med([x["crash_all_s"]["median"] for x in cw]) if cw \
                    else None
                b = med([x["crash_all_s"]["median"] for x in cm]) if cm \
                    else None
                rows.append([n, f(a), f(b), f(ratio(a, b)),
                             "%d / %d" % (sum(x["false_positives"]
                                              for x in cw),
                                          sum(x["false_positives"]
                                              for x in cm))])
            out.append("\nEach on its own defaults, 10% loss, 10 crashes per "
                       "run, seeds 1-3 (median of the runs' medians):\n")
            out.append(table(["N", "weft crash known to all, s",
                              "memberlist, s", "ratio",
                              "false positives weft / memberlist"], rows))
    bytes_real = "".join("%d %s %s\n" % (
        n, f(runs[str(n)].get("rest", {}).get("weft", {}).get(
            "bytes_per_s"), 1),
        f(runs[str(n)].get("rest", {}).get("serf", {}).get(
            "bytes_per_s"), 1)) for n in sizes)
    bytes_sim = "".join("%d %s %s\n" % (
        n, f(idle[n]["weft"]["idle_bytes_per_node_s"], 1)
        if "weft" in idle[n] else "-",
        f(idle[n]["memberlist"]["idle_bytes_per_node_s"], 1)
        if "memberlist" in idle[n] else "-") for n in sorted(idle))
    lines = []
    if bytes_real.strip() and "-" not in bytes_real.split():
        lines += ["'bytes-real.dat' u 1:2 w lp lw 2 pt 7 t 'weft, real "
                  "agents, Serf timing (UDP+TCP)'",
                  "'' u 1:3 w lp lw 2 pt 5 t 'Serf, real agents (UDP+TCP)'"]
    if bytes_sim.strip():
        lines += ["'bytes-sim.dat' u 1:2 w lp dt 2 pt 9 t 'weft defaults, "
                  "simulator'",
                  "'' u 1:3 w lp dt 2 pt 11 t 'memberlist defaults, "
                  "simulator'"]
    body = ("set xlabel 'N (members)'\nset ylabel 'bytes per node per "
            "second at rest'\nset logscale x 10\nset datafile missing '-'\n"
            "set yrange [0:*]\n")
    img2 = plots.plot("gossip-bytes", "Gossip traffic per node at rest "
                      "against N", body + "plot " + ", \\\n  ".join(lines),
                      {"bytes-real.dat": bytes_real,
                       "bytes-sim.dat": bytes_sim}) if lines else ""
    imgs = [i for i in (img1, img2) if i]
    if imgs:
        out.append("\n" + "\n\n".join(imgs))
    return "\n".join(out)


def m2(r, system, key):
    s = r.get(system, {}).get(key)
    return s["median"] if s else None


PROXY_NAMES = {"direct": "direct (no proxy)", "weft": "weft pair",
               "haproxy": "HAProxy mTLS pair (AES-256-GCM)",
               "haproxy-chacha": "HAProxy mTLS pair (ChaCha20)",
               "weft2": "weft2 pair"}


def proxy_section(px, goals, plots):
    out = []
    if not px:
        goals.add("TCP bulk at least 1.25x the HAProxy pair", None, None,
                  1.25, True, "proxy step did not run or failed")
        return ""
    paths = [p for p in ("direct", "weft", "haproxy", "haproxy-chacha",
                         "weft2") if ("bulk_gbit_per_s", p) in px]
    secs, rounds = one(px, "config", "seconds"), one(px, "config", "rounds")
    suite = one(px, "suite", "weft") or "?"
    out.append("### TCP through the mesh: weft beside an HAProxy mutual-TLS "
               "pair\n")
    out.append("iperf3, one stream, %g s x %g rounds interleaved, median "
               "(best); CPU seconds both proxies spent per GB carried; "
               "connections per second with 16 in flight (connect, one byte "
               "each way, close). weft ran its %s suite. A 1 s warm-up per "
               "path comes first (runs before 23:00 UTC on 2026-11-26 had "
               "none: their first round counted).\n" % (
                   secs or 0, rounds or 0, suite))
    bulk = {p: med(px[("bulk_gbit_per_s", p)]) for p in paths}
    d, h = bulk.get("direct"), bulk.get("haproxy")
    rows = []
    for p in paths:
        cpu = px.get(("pair_cpu_s_per_gb", p))
        rows.append([PROXY_NAMES[p], "%s (%s)" % (
            f(bulk[p]), f(max(px[("bulk_gbit_per_s", p)]))),
            f(ratio(bulk[p], d)), f(ratio(bulk[p], h)),
            f(med(cpu)) if cpu and p != "direct" else "-",
            f(med(px.get(("conn_per_s", p), [0])), 0)])
    out.append(table(["path", "Gbit/s", "/ direct", "/ HAProxy pair",
                      "pair CPU s/GB", "conn/s"], rows))
    aead_key = "aes256gcm_openssl" if suite == "AESGCM" else \
        "chacha20poly1305"
    aead = one(px, "aead_gbytes_per_s", aead_key)
    w = bulk.get("weft")
    rss1000 = one(px, "rss_kib", "client_1000_conns")
    out.append("\nSingle-core AEAD (noise-bench, same run): %s GB/s = %s "
               "Gbit/s (%s); weft carried %s%% of it. Client agent RSS with "
               "%s concurrent connections: %s MiB (idle %s MiB); server "
               "agent %s MiB." % (
                   f(aead), f(aead * 8 if aead else None),
                   aead_key, f(100 * w / (aead * 8) if w and aead else None,
                               0),
                   f(one(px, "held_conns", "client"), 0),
                   f(rss1000 / 1024 if rss1000 else None, 1),
                   f((one(px, "rss_kib", "client_idle") or 0) / 1024, 1),
                   f((one(px, "rss_kib", "server_1000_conns") or 0) / 1024,
                     1)))
    wcpu = px.get(("pair_cpu_s_per_gb", "weft"))
    hcpu = px.get(("pair_cpu_s_per_gb", "haproxy"))
    wcpu = med(wcpu) if wcpu else None
    hcpu = med(hcpu) if hcpu else None
    prof = ("profile: `tools/bench/profile --phases tcp`, and \"Where the "
            "time goes\" under Data plane")
    goals.add("TCP bulk at least 1.25x the HAProxy mTLS pair",
              "%s vs %s Gbit/s = %sx" % (f(w), f(h), f(ratio(w, h))),
              ratio(w, h), 1.25, True, "",
              "pair CPU %s s/GB, HAProxy's %s; %s" % (f(wcpu), f(hcpu),
                                                      prof))
    goals.add("TCP bulk at least 80% of single-core AEAD",
              "%s of %s Gbit/s (%s) = %s%%" % (
                  f(w), f(aead * 8 if aead else None), aead_key,
                  f(100 * w / (aead * 8) if w and aead else None, 0)),
              w / (aead * 8) if w and aead else None, 0.8, True,
              "the anchor is AEAD encrypt alone on one core",
              "the pair spent %s CPU s per GB, of which the cipher "
              "(encrypt on a, decrypt on b) is about %s: the rest is "
              "copies, syscalls and the event loop; %s" % (
                  f(wcpu), f(2 / aead if aead else None), prof))
    if rss1000:
        goals.info("agent RSS with 1,000 TCP connections",
                   "%s MiB (client agent)" % f(rss1000 / 1024, 1))
    dat = "".join("\"%s\" %s\n" % (PROXY_NAMES[p].replace(" pair", ""),
                                   f(bulk[p], 3)) for p in paths)
    body = ("set style data histograms\nset key outside bottom center "
            "horizontal\nset style fill solid 0.8 border -1\n"
            "set boxwidth 0.7\nset ylabel 'Gbit/s'\nset yrange [0:*]\n"
            "set xtics rotate by -15\nunset key\n")
    if aead:
        body += ("set label 1 'single-core AEAD %.1f Gbit/s (%s)' at graph "
                 "0.45, graph 0.95\n" % (aead * 8, aead_key))
    img = plots.plot("proxy-bulk", "TCP bulk throughput, one stream",
                     body + "plot 'proxy-bulk.dat' u 2:xtic(1) lc rgb "
                     "'#4477aa'", {"proxy-bulk.dat": dat})
    if img:
        out.append("\n" + img)
    return "\n".join(out)


HTTP_NAMES = {"direct": "direct (no proxy)", "weft": "weft pair",
              "haproxy": "HAProxy mTLS pair (h2 hop)",
              "nginx": "nginx mTLS pair (h1 keep-alive hop)"}


def http_section(path, goals, plots):
    rows = collections.defaultdict(list)
    head = None
    meta = {}
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith("#"):
                    w = line[1:].split()
                    meta = dict(zip(w[::2], w[1::2]))
                    continue
                p = line.rstrip("\n").split("\t")
                if head is None:
                    head = p
                    continue
                rows[(p[0], p[1])].append(dict(zip(head, p)))
    except OSError:
        pass
    if not rows:
        for g in ("HTTP/1.1 at 64 connections", "h2c"):
            goals.add("HTTP: at least 1.5x the best mTLS pair, %s" % g, None,
                      None, 1.5, True, "http step did not run or failed")
        return ""
    paths = [p for p in ("direct", "weft", "haproxy", "nginx")
             if (p, "c64") in rows]

    def col(p, kind, key):
        v = [float(x[key]) for x in rows.get((p, kind), [])]
        return med(v) if v else None
    fig = {}
    for p in paths:
        rss = [int(x[k]) for kind in ("c1", "c64", "h2c")
               for x in rows.get((p, kind), [])
               for k in ("rss_kib_front", "rss_kib_back")]
        fig[p] = {"rps1": col(p, "c1", "req_per_s"),
                  "lat1": col(p, "c1", "median_us"),
                  "rps64": col(p, "c64", "req_per_s"),
                  "rpsh2": col(p, "h2c", "req_per_s"),
                  "cpu64": (col(p, "c64", "cpu_us_front") or 0)
                  + (col(p, "c64", "cpu_us_back") or 0),
                  "cpuh2": (col(p, "h2c", "cpu_us_front") or 0)
                  + (col(p, "h2c", "cpu_us_back") or 0),
                  "rss": max(rss) / 1024 if rss else None,
                  "errors": sum(int(x["errors"]) for kind in
                                ("c1", "c64", "h2c")
                                for x in rows.get((p, kind), []))}
    anchors = [p for p in ("haproxy", "nginx") if p in fig]
    best64 = max((fig[p]["rps64"] for p in anchors), default=None)
    besth2 = max((fig[p]["rpsh2"] for p in anchors), default=None)
    dlat = fig.get("direct", {}).get("lat1")
    out = ["### HTTP through the mesh: weft beside HAProxy and nginx "
           "mutual-TLS pairs\n"]
    out.append("One nginx backend with a small static answer; wrk -t1 "
               "(HTTP/1.1 keep-alive) at 1 and 64 connections, h2load -t1 "
               "-c4 -m16 (h2c); a 1 s warm-up before every measured run, "
               "the order of the paths turning each round; %s s per run x %s "
               "rounds, medians. CPU: both proxies of a pair, us per request. "
               "Ratios are to the best of the two anchor pairs.\n" % (
                   meta.get("seconds", "?"), meta.get("rounds", "?")))
    trows = []
    for p in paths:
        x = fig[p]
        trows.append([HTTP_NAMES[p], f(x["rps1"], 0), f(x["lat1"], 0),
                      ("+" + f(x["lat1"] - dlat, 0)) if dlat is not None
                      and p != "direct" else "-",
                      f(x["rps64"], 0), f(ratio(x["rps64"], best64)),
                      f(x["rpsh2"], 0), f(ratio(x["rpsh2"], besth2)),
                      f(x["cpu64"], 1) if p != "direct" else "-",
                      f(x["cpuh2"], 1) if p != "direct" else "-",
                      f(x["rss"], 1) if p != "direct" else "-",
                      x["errors"]])
    out.append(table(["path", "HTTP/1.1 1 conn req/s", "median us",
                      "added us", "HTTP/1.1 64 conns req/s",
                      "/ best pair", "h2c req/s", "/ best pair",
                      "CPU us/req (64)", "CPU us/req (h2c)",
                      "RSS MiB (max of the pair)", "errors"], trows))
    w = fig.get("weft")
    if w:
        prof = ("profile: `tools/bench/profile`, and \"Where the time "
                "goes\" under HTTP through the mesh")

        def cpu_why(key):
            return ("CPU per request of the pair: weft %s us, %s; " % (
                f(w[key], 1), ", ".join("%s %s us" % (
                    p, f(fig[p][key], 1)) for p in anchors)) + prof)
        goals.add("HTTP/1.1 at 64 connections: at least 1.5x the best mTLS "
                  "pair", "%s vs %s req/s = %sx" % (
                      f(w["rps64"], 0), f(best64, 0),
                      f(ratio(w["rps64"], best64))),
                  ratio(w["rps64"], best64), 1.5, True, "", cpu_why("cpu64"))
        goals.add("h2c: at least 1.5x the best mTLS pair",
                  "%s vs %s req/s = %sx" % (f(w["rpsh2"], 0), f(besth2, 0),
                                            f(ratio(w["rpsh2"], besth2))),
                  ratio(w["rpsh2"], besth2), 1.5, True, "", cpu_why("cpuh2"))
        add = w["lat1"] - dlat if dlat is not None else None
        goals.add("at most 40 us added median latency at 1 connection",
                  "+%s us (%s vs direct %s)" % (f(add, 0), f(w["lat1"], 0),
                                                f(dlat, 0)),
                  add, 40.0, False, "",
                  "added by the anchors: %s; %s" % (", ".join(
                      "%s +%s us" % (p, f(fig[p]["lat1"] - dlat, 0))
                      for p in anchors) if dlat is not None else "-", prof))
        goals.add("agent RSS under load at most 8 MiB",
                  "%s MiB (larger agent, HTTP runs)" % f(w["rss"], 1),
                  w["rss"], 8.0, False, "under the HTTP runs above (at most "
                  "64 connections); against 1,000 and more see the memory "
                  "rows")
    dat = "".join("\"%s\" %s %s\n" % (HTTP_NAMES[p].split(" (")[0],
                                      f(fig[p]["rps64"], 0),
                                      f(fig[p]["rpsh2"], 0)) for p in paths)
    body = ("set style data histograms\nset key outside bottom center "
            "horizontal\nset style histogram clustered gap 1"
            "\nset style fill solid 0.8 border -1\nset ylabel 'requests per "
            "second'\nset yrange [0:*]\n")
    img1 = plots.plot("http-rps", "Requests per second (one worker each)",
                      body + "plot 'http-rps.dat' u 2:xtic(1) t 'HTTP/1.1, 64 "
                      "connections' lc rgb '#4477aa', '' u 3 t 'h2c, 4 x 16 "
                      "streams' lc rgb '#ee6677'", {"http-rps.dat": dat})
    dat = "".join("\"%s\" %s %s\n" % (
        HTTP_NAMES[p].split(" (")[0], f(fig[p]["lat1"], 1),
        f(fig[p]["lat1"] - dlat, 1) if dlat is not None else "-")
        for p in paths)
    body = ("set style data histograms\nset key outside bottom center "
            "horizontal\nset style histogram clustered gap 1"
            "\nset style fill solid 0.8 border -1\nset ylabel 'microseconds'"
            "\nset yrange [0:*]\nset datafile missing '-'\n")
    img2 = plots.plot("http-latency", "Median latency at 1 connection, "
                      "HTTP/1.1 (goal: at most 40 us added)",
                      body + "plot 'http-latency.dat' u 2:xtic(1) t 'median' "
                      "lc rgb '#4477aa', '' u 3 t 'added over direct' lc rgb "
                      "'#ee6677', 40 w l dt 2 lc rgb 'black' t '40 us'",
                      {"http-latency.dat": dat})
    imgs = [i for i in (img1, img2) if i]
    if imgs:
        out.append("\n" + "\n\n".join(imgs))
    return "\n".join(out)


def noise_section(nz, from_proxy):
    if not nz or ("handshakes_per_s", "IK:weft_session") not in nz:
        return ""
    out = ["### Noise (one core)\n"]
    out.append("noise-bench (CPU time of one pinned thread; best of 5 rounds "
               "of 256 MiB)%s, libsodium %s, OpenSSL %s, AES-NI %s.\n" % (
                   " as run inside the proxy step" if from_proxy else "",
                   one(nz, "version", "libsodium"),
                   one(nz, "version", "openssl"), one(nz, "aesni", "cpu")))
    rows = []
    for hs in ("IK", "XX"):
        rows.append([hs] + [f(one(nz, "handshakes_per_s", "%s:%s" % (hs, k)),
                              0) for k in ("noise_blake2b", "noise_sha256",
                                           "weft_session")])
    out.append(table(["handshakes/s", "Noise BLAKE2b", "Noise SHA256",
                      "weft session (certificates checked)"], rows))
    rows = []
    for c, label in (("chacha20poly1305", "ChaCha20-Poly1305"),
                     ("aes256gcm_openssl", "AES-256-GCM (OpenSSL, weft's)"),
                     ("aes256gcm_libsodium", "AES-256-GCM (libsodium)")):
        for size in ("16384", "65519"):
            k = "%s:%s:" % (c, size)
            re_, ne = (one(nz, "encrypt_gbytes_per_s", k + "raw"),
                       one(nz, "encrypt_gbytes_per_s", k + "noise"))
            rs, ss = (one(nz, "send_receive_gbytes_per_s", k + "raw"),
                      one(nz, "send_receive_gbytes_per_s", k + "session"))
            if re_ is None:
                continue
            rows.append([label, size, f(re_), "%s (%s)" % (
                f(ne), f(ratio(ne, re_))), f(rs), "%s (%s)" % (
                f(ss), f(ratio(ss, rs))) if ss is not None else "-"])
    out.append("\n" + table(["cipher", "record B", "raw encrypt GB/s",
                             "Noise CipherState (ratio)",
                             "raw encrypt+decrypt GB/s",
                             "weft session send+receive (ratio)"], rows))
    return "\n".join(out)


def rss_section(path, goals, plots, state):
    rows = collections.defaultdict(dict)
    try:
        with open(path) as fh:
            for line in fh:
                p = line.rstrip("\n").split("\t")
                if len(p) == 3 and p[1].isdigit():
                    try:
                        rows[p[0]][int(p[1])] = float(p[2])
                    except ValueError:
                        pass
    except OSError:
        pass
    if not rows:
        return "### Memory (tools/bench/rss)\n\n%s\n" % state
    out = ["### Memory against connections and members (tools/bench/rss)\n"]
    out.append("weftd linked static. Connections: the larger agent's VmRSS "
               "of a pair holding that many app connections (TCP: one byte "
               "echoed each, then held; HTTP/1.1: one request each, then idle "
               "keep-alive). Members: the median agent's VmRSS in a real "
               "cluster; for the simulator, its gossip state per node (not "
               "an RSS).\n")
    def mib(what, n):
        v = rows.get(what, {}).get(n)
        return f(v / 1024, 2) if v is not None else "-"
    conns = sorted(set(rows.get("tcp_conns", {}))
                   | set(rows.get("http_conns", {})))
    if conns:
        out.append(table(["concurrent connections", "TCP: RSS MiB",
                          "HTTP/1.1: RSS MiB"],
                         [[n, mib("tcp_conns", n), mib("http_conns", n)]
                          for n in conns]))
    members = sorted(set(rows.get("real_members", {}))
                     | set(rows.get("sim_members", {})))
    if members:
        out.append("\n" + table(["members", "real agents: RSS per agent "
                                 "MiB", "simulator: gossip state per node "
                                 "MiB"],
                                [[n, mib("real_members", n),
                                  mib("sim_members", n)] for n in members]))
    for what in ("tcp_conns", "http_conns"):
        if rows.get(what):
            n = max(rows[what])
            goals.info("agent RSS against connections (%s)" % what,
                       "%s MiB at %d" % (f(rows[what][n] / 1024, 1), n))
    if rows.get("real_members"):
        n = max(rows["real_members"])
        goals.info("RSS per agent in a real cluster (tools/bench/rss)",
                   "%s MiB at N = %d" % (
                       f(rows["real_members"][n] / 1024, 2), n))
    conn = "".join("%d %s %s\n" % (
        n, f(rows["tcp_conns"][n] / 1024, 3) if n in rows.get("tcp_conns", {})
        else "-", f(rows["http_conns"][n] / 1024, 3)
        if n in rows.get("http_conns", {}) else "-")
        for n in sorted(set(rows.get("tcp_conns", {}))
                        | set(rows.get("http_conns", {}))))
    body = ("set xlabel 'concurrent connections'\nset ylabel 'RSS, MiB'\n"
            "set logscale x 10\nset yrange [0:*]\nset datafile missing '-'\n")
    img1 = plots.plot("rss-conns", "weftd RSS against concurrent "
                      "connections", body + "plot 'rss-conns.dat' u 1:2 w lp "
                      "lw 2 pt 7 t 'TCP', '' u 1:3 w lp lw 2 pt 5 t "
                      "'HTTP/1.1 keep-alive'", {"rss-conns.dat": conn}) \
        if conn else ""
    mem = "".join("%d %s %s\n" % (
        n, f(rows["real_members"][n] / 1024, 3)
        if n in rows.get("real_members", {}) else "-",
        f(rows["sim_members"][n] / 1024, 3)
        if n in rows.get("sim_members", {}) else "-")
        for n in sorted(set(rows.get("real_members", {}))
                        | set(rows.get("sim_members", {}))))
    img2 = plots.plot("rss-members", "weftd memory against members",
                      body.replace("concurrent connections", "N (members)")
                      .replace("RSS, MiB", "MiB") + "plot 'rss-members.dat' "
                      "u 1:2 w lp lw 2 pt 7 t 'real agents, RSS per agent', "
                      "'' u 1:3 w lp lw 2 pt 9 dt 2 t 'simulator, gossip "
                      "state per node'", {"rss-members.dat": mem}) \
        if mem else ""
    imgs = [i for i in (img1, img2) if i]
    if imgs:
        out.append("\n" + "\n\n".join(imgs))
    return "\n".join(out)


# ------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--started", required=True)
    ap.add_argument("--wall", type=int, required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--doc")
    ap.add_argument("--png")
    a = ap.parse_args()
    d = a.data
    steps = []
    try:
        with open(os.path.join(d, "steps.tsv")) as fh:
            steps = [line.rstrip("\n").split("\t") for line in fh]
    except OSError:
        pass
    plots = Plots(d, a.png, a.doc)
    env = {}
    try:
        with open(os.path.join(d, "env.tsv")) as fh:
            for line in fh:
                k, _, v = line.rstrip("\n").partition("\t")
                env[k] = v
    except OSError:
        pass
    if a.png and os.path.isdir(a.png):
        for fn in os.listdir(a.png):  # no stale plot from an older run
            if fn.endswith(".png"):
                os.unlink(os.path.join(a.png, fn))
    goals = Goals()
    px = load_tsv4(os.path.join(d, "proxy.tsv"))
    nz = load_tsv4(os.path.join(d, "noise.tsv"))
    from_proxy = False
    if not nz and px:
        nz, from_proxy = px, True
    rss_state = "not run"
    for s in steps:
        if s[0] == "rss":
            rss_state = ("tools/bench/rss was not in the tree at this run; "
                         "no memory curves" if s[1] == "missing"
                         else "tools/bench/rss failed (exit %s)" % s[1]
                         if s[1] != "0" else "tools/bench/rss wrote nothing")
    sections = [
        gossip_section(load_json(os.path.join(d, "gossip.json")),
                       load_json(os.path.join(d, "sim.json")), goals, plots,
                       a.quick),
        http_section(os.path.join(d, "http.tsv"), goals, plots),
        proxy_section(px, goals, plots),
        noise_section(nz, from_proxy),
        rss_section(os.path.join(d, "rss.tsv"), goals, plots, rss_state),
    ]
    wall = "%d min %02d s" % divmod(a.wall, 60)
    step_txt = ", ".join(
        "%s %s" % (s[0], "skipped (absent)" if s[1] == "missing" else
                   "%s s%s" % (s[2], "" if s[1] == "0" else
                               " FAILED (exit %s)" % s[1]))
        for s in steps)
    out = []
    if a.quick:
        out.append("## Report of `tools/bench/all --quick` (QUICK RUN)\n")
        out.append("> **Quick run**: one short repetition per figure "
                   "(gossip at N = 16 only, 2 s per HTTP/TCP path, the "
                   "simulator up to N = 1,000). It shows that everything "
                   "runs and roughly where weft stands; the figures to quote "
                   "come from the full `tools/bench/all` (about 40 min).\n")
    else:
        out.append("## Report of `tools/bench/all`\n")
        out.append("The short run a reviewer starts with, `tools/bench/all "
                   "--quick`, took 3 min 05 s and 3 min 18 s on this "
                   "machine (2026-11-26, 21:02 and 21:08 UTC); this is the "
                   "full run.\n")
    out.append("Written by `tools/bench/all` on every run (between the "
               "markers); the hand-written sections below it are history "
               "and analysis.\n")
    out.append("- Command: `%s`, started %s, wall time %s (%s)" % (
        a.command, a.started, wall, step_txt or "no steps"))
    out.append("- Machine: %s; load average %s at the start, %s at the end "
               "(a shared machine: compare ratios within one run, not "
               "across runs)" % (machine(), env.get("loadavg_start", "?"),
                                 env.get("loadavg_end", "?")))
    out.append("- Versions: %s" % versions(a.root, a.build, env))
    out.append("- Raw results: every benchmark's `--data` output, kept in "
               "`%s` on the machine that ran it\n" % d)
    out.append("### Goals of issue 9\n")
    out.append(table(["goal", "measured", "verdict", "note"], goals.rows))
    out.append("\nWhere a goal is missed, the reasons and the profiles are "
               "in the hand-written sections below (\"Where the time goes\" "
               "under Data plane and HTTP; \"Reading the figures\" under "
               "Gossip on real agents).\n")
    out += [s + "\n" for s in sections if s]
    report = "\n".join(out).rstrip("\n") + "\n"
    print(report)
    if a.doc:
        with open(a.doc) as fh:
            text = fh.read()
        block = BEGIN + "\n" + report + END + "\n"
        if BEGIN in text and END in text:
            pre, rest = text.split(BEGIN, 1)
            post = rest.split(END, 1)[1].lstrip("\n")
            text = pre + block + "\n" + post
        else:
            lines = text.split("\n", 1)
            if lines[0].startswith("# "):
                text = lines[0] + "\n\n" + block + "\n" + \
                    lines[1].lstrip("\n")
            else:
                text = block + "\n" + text
        with open(a.doc, "w") as fh:
            fh.write(text)
        sys.stderr.write("report written into %s\n" % a.doc)


if __name__ == "__main__":
    main()
