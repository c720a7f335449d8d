#!/usr/bin/env python3
"""Tables from bench.py's results: printed, and with --doc written into the
"Gossip on real agents" section of docs/BENCHMARKS.md (between its two
markers, so that hand-written notes after the end marker stay)."""
import argparse
import json
import os
import platform
import re
import subprocess
import time

HEADING = "## Gossip on real agents (weftd and Serf)"
BEGIN = "<!-- gossip-bench: begin; written by tools/bench/gossip -->"
END = "<!-- gossip-bench: end -->"


def sh(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def link_kind(path):
    """How weftd was linked: its ELF has a PT_INTERP (dynamic loader)
    unless it was linked static (-Dstatic_weftd=true, static-pie)."""
    try:
        with open(path, "rb") as f:
            elf = f.read(1 << 20)
    except OSError:
        return "link unknown"
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return "link unknown"
    phoff = int.from_bytes(elf[32:40], "little")
    phentsize = int.from_bytes(elf[54:56], "little")
    phnum = int.from_bytes(elf[56:58], "little")
    for i in range(phnum):
        off = phoff + i * phentsize
        if int.from_bytes(elf[off:off + 4], "little") == 3:  # PT_INTERP
            return "dynamically linked"
    return "statically linked with `-Dstatic_weftd=true`"


def machine():
    model = "?"
    mem = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = "%.0f GiB" % (int(line.split()[1]) / 2**20)
    return "%d cores (nproc), %s, %s RAM, Linux %s" % (
        os.cpu_count(), model, mem, platform.release())


def f1(x, unit=""):
    if x is None:
        return "-"
    return ("%.2f%s" if x < 1 else "%.1f%s") % (x, unit)


def f2(x, unit=""):
    return "-" if x is None else "%.2f%s" % (x, unit)


def f3(x, unit=""):
    return "-" if x is None else "%.3f%s" % (x, unit)


def spread(s):
    """median (min-max) of a stats dict."""
    if not s:
        return "timed out"
    if s["n"] == 1:
        return f1(s["median"])
    return "%s (%s-%s)" % (f1(s["median"]), f1(s["min"]), f1(s["max"]))


def med(s):
    return s["median"] if s else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return "%.2f" % (a / b)


def table(rows, head):
    out = ["| " + " | ".join(head) + " |",
           "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def per_n(n, r):
    w, s = r["weft"], r["serf"]
    rw, rs = r["rest"]["weft"], r["rest"]["serf"]
    rows = [
        ["join known to all (s)", spread(w["join_all_s"]),
         spread(s["join_all_s"]),
         ratio(med(w["join_all_s"]), med(s["join_all_s"]))],
        ["  of which: the new member lists all (s)",
         spread(w["join_self_s"]), spread(s["join_self_s"]), ""],
        ["crash (kill -9) known to all (s)", spread(w["crash_all_s"]),
         spread(s["crash_all_s"]),
         ratio(med(w["crash_all_s"]), med(s["crash_all_s"]))],
        ["  of which: first suspicion / first declared failed (s)",
         "%s / %s" % (f1(med(w["crash_first_suspect_s"])),
                      f1(med(w["crash_first_s"]))),
         "- / %s" % f1(med(s["crash_first_s"])), ""],
        ["graceful leave known to all (s)", spread(w["leave_all_s"]),
         spread(s["leave_all_s"]),
         ratio(med(w["leave_all_s"]), med(s["leave_all_s"]))],
        ["RSS per agent, median (max), MiB",
         "%s (%s)" % (f2(rw["rss_mib_median"]), f2(rw["rss_mib_max"])),
         "%s (%s)" % (f2(rs["rss_mib_median"]), f2(rs["rss_mib_max"])),
         ratio(rw["rss_mib_median"], rs["rss_mib_median"])],
        ["  of which anonymous (heap, stacks), median, MiB",
         f2(rw.get("rss_anon_mib_median")), f2(rs.get("rss_anon_mib_median")),
         ""],
        ["  PSS (shared pages split among their users), median, MiB",
         f2(rw.get("pss_mib_median")), f2(rs.get("pss_mib_median")), ""],
        ["CPU at rest per agent, mean (max), s/min",
         "%s (%s)" % (f3(rw["cpu_s_per_min"]), f3(rw["cpu_s_per_min_max"])),
         "%s (%s)" % (f3(rs["cpu_s_per_min"]), f3(rs["cpu_s_per_min_max"])),
         ratio(rw["cpu_s_per_min"], rs["cpu_s_per_min"])],
    ]
    if "bytes_per_s" in rw:
        rows.append(["bytes at rest per agent, B/s (UDP + TCP)",
                     "%.0f (%.0f + %.0f)" % (rw["bytes_per_s"],
                                             rw["udp_bytes_per_s"],
                                             rw["tcp_bytes_per_s"]),
                     "%.0f (%.0f + %.0f)" % (rs["bytes_per_s"],
                                             rs["udp_bytes_per_s"],
                                             rs["tcp_bytes_per_s"]),
                     ratio(rw["bytes_per_s"], rs["bytes_per_s"])])
        rows.append(["  UDP packets per agent per s, mean size (B)",
                     "%.2f, %.0f" % (rw["udp_pkts_per_s"],
                                     rw["udp_bytes_per_s"]
                                     / max(rw["udp_pkts_per_s"], 1e-9)),
                     "%.2f, %.0f" % (rs["udp_pkts_per_s"],
                                     rs["udp_bytes_per_s"]
                                     / max(rs["udp_pkts_per_s"], 1e-9)),
                     ""])
    for k in sorted(x for x in r if x.startswith("loss_")):
        lo = r[k]
        rows.append(["false deaths, %s%% UDP loss for %.0f s (reports)"
                     % (k[5:], lo["window_s"]),
                     "%d (%d)" % (lo["weft"]["false_deaths"],
                                  lo["weft"]["failed_reports"]),
                     "%d (%d)" % (lo["serf"]["false_deaths"],
                                  lo["serf"]["failed_reports"]), ""])
        rows.append(["  suspicions heard at %s%% loss (weft only)" % k[5:],
                     str(lo["weft"]["suspect_reports"]), "-", ""])
    rows.append(["cluster formed at 32 starts/s, all see all, s from the "
                 "first start",
                 f1(r["formed_s"].get("weft")), f1(r["formed_s"].get("serf")),
                 ""])
    return "### N = %s\n\n%s" % (n, table(rows, ["", "weft", "Serf",
                                                  "weft / Serf"]))


def goals(res):
    runs = res["runs"]
    ns = sorted(runs, key=int)
    rows = []

    def row(name, fn):
        cells, ok = [], True
        for n in ns:
            text, good = fn(runs[n])
            cells.append(text)
            ok = ok and good
        rows.append([name] + cells + ["**met**" if ok else "**not met**"])

    def half(key):
        def fn(r):
            w, s = med(r["weft"][key]), med(r["serf"][key])
            if w is None or s is None:
                return "timed out", False
            return "%.2f" % (w / s), w <= 0.5 * s
        return fn

    row("join known to all ≤ 0.5 × Serf (ratio of medians)",
        half("join_all_s"))
    row("crash known to all ≤ 0.5 × Serf (ratio of medians)",
        half("crash_all_s"))
    if any("loss_10" in runs[n] for n in ns):
        row("zero false deaths at 10% loss (weft)",
            lambda r: ("%d" % r["loss_10"]["weft"]["false_deaths"],
                       r["loss_10"]["weft"]["false_deaths"] == 0)
            if "loss_10" in r else ("-", False))
    if any("loss_30" in runs[n] for n in ns):
        row("fewer false deaths than Serf at 30% loss (weft vs Serf)",
            lambda r: ("%d vs %d" % (r["loss_30"]["weft"]["false_deaths"],
                                     r["loss_30"]["serf"]["false_deaths"]),
                       r["loss_30"]["weft"]["false_deaths"]
                       < r["loss_30"]["serf"]["false_deaths"]
                       or r["loss_30"]["weft"]["false_deaths"] == 0)
            if "loss_30" in r else ("-", False))
    row("RSS ≤ 3 MiB per agent (median, MiB)",
        lambda r: (f2(r["rest"]["weft"]["rss_mib_median"]),
                   r["rest"]["weft"]["rss_mib_median"] <= 3.0))
    row("CPU at rest ≤ 0.02 s/min per agent (mean)",
        lambda r: (f3(r["rest"]["weft"]["cpu_s_per_min"]),
                   r["rest"]["weft"]["cpu_s_per_min"] <= 0.02))
    if all("bytes_per_s" in runs[n]["rest"]["weft"] for n in ns):
        row("bytes at rest ≤ Serf's (ratio)",
            lambda r: (ratio(r["rest"]["weft"]["bytes_per_s"],
                             r["rest"]["serf"]["bytes_per_s"]),
                       r["rest"]["weft"]["bytes_per_s"]
                       <= r["rest"]["serf"]["bytes_per_s"]))
    for n in sorted(res.get("defaults", {}), key=int):
        d = res["defaults"][n]["weft"]
        if n not in runs:
            continue
        for key, what in (("join_all_s", "join"), ("crash_all_s", "crash")):
            w, sv = med(d[key]), med(runs[n]["serf"][key])
            cells = ["-"] * len(ns)
            cells[ns.index(n)] = "-" if w is None or sv is None else \
                "%.2f" % (w / sv)
            good = w is not None and sv is not None and w <= 0.5 * sv
            rows.append(["%s known to all ≤ 0.5 × Serf, weftd on its "
                         "own defaults (above)" % what] + cells +
                        ["**met**" if good else "**not met**"])
    st = res.get("storm")
    out = "### Goals\n\n" + table(rows, ["goal"] + ["N = %s" % n for n in ns]
                                  + ["verdict"])
    out += ("\n\nAt 30% loss a tie at zero counts as met: no false death "
            "is as few as there can be.")
    if st:
        conv = st.get("learned_all_s")
        # weftd's ms clock has a whole-second base: read up to 1 s early.
        good = (conv is not None and conv + 1 < 10
                and st["failed_reports"] == 0
                and st["suspect_reports"] < st["n"])
        out += ("\n\n### N = %d started at the same moment (weft)\n\n"
                "All %d weftd processes were started within %.2f s "
                "(posix_spawn in a loop), each joining through the first, on "
                "weftd's own timing defaults (probe 500 ms; no Serf runs beside it). %s (polled: %s of %d agents listed all "
                "within the %.0f s watched, the last at %s s). Over the watch "
                "the agents logged %d suspicions (about %d distinct members) "
                "and %d failures; at the end %d of %d agents listed all %d. "
                "Goal, under 10 s with no storm of suspicions: **%s**." % (
                    st["n"], st["n"], st["spawn_s"],
                    ("Every agent had learned its last member by %.1f s "
                     "after the first start (median agent %.1f s; from each "
                     "agent's `last_change_ms`, plus 1 s because weftd's "
                     "millisecond clock starts from a whole second)." % (
                         conv + 1, st["learned_all_median_s"] + 1))
                    if conv is not None else
                    ("Only %d agents listed all members at the end."
                     % st.get("learned_all_agents", 0)),
                    st["converged_agents"], st["n"], st["observe_s"],
                    f1(st.get("polled_last_s")),
                    st["suspect_reports"], st["suspected_members"],
                    st["failed_reports"], st["all_see_all_at_end"], st["n"],
                    st["n"], "met" if good else "not met"))
        if "polled_by_10s" in st:
            out += (" Polled, %d of %d agents listed all members within "
                    "10 s; half of them by %s s, 90%% by %s s.%s" % (
                        st["polled_by_10s"], st["n"], f1(st["polled_p50_s"]),
                        f1(st["polled_p90_s"]),
                        (" Still short at the end: %s." % ", ".join(
                            "%s lacked %d" % kv for kv in
                            sorted(st["lacking_at_end"].items())))
                        if st["lacking_at_end"] else ""))
        if "cpu_s_until_converged" in st:
            out += (" The agents had used %.1f CPU seconds in all by %.1f s "
                    "after the first start, on %d cores." % (
                        st["cpu_s_until_converged"], st["cpu_measured_at_s"],
                        st["nproc"]))
    return out


def render(res, args):
    cfg = res["config"]
    tm = res["timing"]
    weftd_v = sh([args.weftd, "--version"])
    serf_v = sh(["serf", "version"]).splitlines()
    serf_pkg = sh(["dpkg-query", "-W", "-f=${Version}", "serf"])
    head = [
        "Command: `%s`. Run %s, took %.1f min." % (
            args.command, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            res.get("total_s", 0) / 60),
        "",
        "Machine: %s; load average %s at the start, %s at the end (the "
        "machine is shared, other builds ran alongside)." % (
            machine(), res.get("loadavg_start", "?"),
            res.get("loadavg_end", "?")),
        "",
        "Versions: %s (release build, %s); Serf %s (Debian package %s), "
        "`-encrypt` with a 32-byte key, LAN profile." % (
            weftd_v, link_kind(args.weftd), serf_v[0] if serf_v else "?",
            serf_pkg),
        "",
        "Both on the same timing: probe every %d ms, probe timeout %d ms, "
        "gossip every %d ms (Serf's LAN profile; weftd through its "
        "`gossip` config keys, the rest of its settings default). Weft on "
        "127.11.0.0/16 port %d, Serf on 127.12.0.0/16 port %d, both "
        "clusters up at once, the measurements interleaved (weft first in "
        "even rounds, Serf first in odd ones), %d warm-up round%s not "
        "counted, %d measured round%s per size." % (
            tm["probe_interval_ms"], tm["probe_timeout_ms"],
            tm["gossip_interval_ms"], 7370, 7946, cfg["warmup_reps"],
            "" if cfg["warmup_reps"] == 1 else "s", cfg["reps"],
            "" if cfg["reps"] == 1 else "s"),
        "",
        "How each figure is taken: every agent's event stream is open "
        "(weft `GET /v1/events`, Serf's RPC `stream`) and events are "
        "timestamped as they arrive. *Join*: a new agent, already running "
        "alone, is told to join through the first agent (weft `POST "
        "/v1/join`, Serf RPC `join`); done when every member reported it "
        "joined and it lists every member. *Crash*: `kill -9` of a random "
        "member; done when every other member reported it failed. *Leave*: "
        "`POST /v1/leave` / RPC `leave`; done when every other member "
        "reported it left. *At rest*: %.0f s after a %.0f s settle: CPU "
        "from utime+stime in /proc/PID/stat, RSS is VmRSS at the end, bytes "
        "are nft counters on the input hook (every loopback packet counted "
        "once, IP headers included; UDP to the gossip port, TCP to and "
        "from it). *Loss*: nft `numgen random mod 100 < P drop` on UDP to "
        "the gossip ports of both clusters for %.0f s, then %.0f s more to "
        "let suspicions end; a false death is a live member declared "
        "failed (counted once however many members reported it; in "
        "brackets the reports)." % (
            cfg["rest"], cfg["warmup"], cfg["loss_window"],
            cfg["loss_settle"]),
    ]
    parts = ["\n".join(head)]
    for n in sorted(res["runs"], key=int):
        parts.append(per_n(n, res["runs"][n]))
    for n in sorted(res.get("defaults", {}), key=int):
        d = res["defaults"][n]["weft"]
        sv = res["runs"].get(n, {}).get("serf")
        rows = [
            ["join known to all (s)", spread(d["join_all_s"]),
             spread(sv["join_all_s"]) if sv else "-",
             ratio(med(d["join_all_s"]), med(sv["join_all_s"]))
             if sv else "-"],
            ["crash (kill -9) known to all (s)", spread(d["crash_all_s"]),
             spread(sv["crash_all_s"]) if sv else "-",
             ratio(med(d["crash_all_s"]), med(sv["crash_all_s"]))
             if sv else "-"],
            ["  of which: first suspicion / first declared failed (s)",
             "%s / %s" % (f1(med(d["crash_first_suspect_s"])),
                          f1(med(d["crash_first_s"]))),
             "- / %s" % f1(med(sv["crash_first_s"])) if sv else "-", ""],
        ]
        parts.append(
            "### N = %s, weftd on its own timing defaults\n\n"
            "The same join and crash rounds with weftd alone on its "
            "defaults (probe every 500 ms, timeout 250 ms, suspicion "
            "minimum 6 x log10(N) gossip intervals of 200 ms, two "
            "confirmations, six probers), against Serf's figures "
            "from the N = %s rounds above.\n\n%s" % (
                n, n, table(rows, ["", "weft (defaults)", "Serf (LAN)",
                                   "weft / Serf"])))
    if res["runs"]:
        parts.append(goals(res))
    return "\n\n".join(parts)


def write_doc(path, body):
    with open(path) as f:
        text = f.read()
    block = BEGIN + "\n" + body + "\n" + END
    if BEGIN in text and END in text:
        a = text.index(BEGIN)
        b = text.index(END) + len(END)
        text = text[:a] + block + text[b:]
    elif HEADING in text:
        a = text.index(HEADING) + len(HEADING)
        m = re.compile(r"^## ", re.M).search(text, a)
        b = m.start() if m else len(text)
        text = text[:a] + "\n\n" + block + "\n\n" + text[b:].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + HEADING + "\n\n" + block + "\n"
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def splice_storm(path, res):
    """Replace only the N-at-once paragraph inside the generated block,
    with the results of a run of it alone."""
    with open(path) as f:
        text = f.read()
    b = text.index(END)
    a = text.rindex("### N = ", text.index(BEGIN), b)
    text = text[:a] + storm_only(res) + "\n" + text[b:]
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def storm_only(res):
    out = goals({"runs": {}, "storm": res["storm"]})
    return out[out.index("### N = "):]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--json", required=True)
    p.add_argument("--weftd", required=True)
    p.add_argument("--command", default="tools/bench/gossip")
    p.add_argument("--doc")
    p.add_argument("--storm-only", action="store_true",
                   help="results of the N-at-once run alone: replace only "
                   "that paragraph in --doc")
    args = p.parse_args()
    with open(args.json) as f:
        res = json.load(f)
    if args.storm_only:
        print(storm_only(res))
        if args.doc:
            splice_storm(args.doc, res)
        return
    body = render(res, args)
    print()
    print(body)
    if args.doc:
        write_doc(args.doc, body)
        print("\n(written to %s)" % args.doc)


if __name__ == "__main__":
    main()
