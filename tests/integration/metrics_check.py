#!/usr/bin/env python3
"""Checks Prometheus text exposition (format 0.0.4) read from stdin, the
rules promtool applies that matter here: every family announced once with
HELP and TYPE before its samples, samples named after their family (with
_bucket/_sum/_count for histograms), counters ending in _total, label
syntax, values that parse, histogram buckets cumulative and ending in
+Inf.  Prints the problems and exits 1, or prints the number of families.
Usage: metrics_check.py < metrics.txt"""
import re
import sys

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def value(s):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    return float(s)


def main():
    problems = []
    families = {}
    current = None
    buckets = {}
    for n, line in enumerate(sys.stdin.read().split("\n"), 1):
        if line == "":
            continue
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            if name in families:
                problems.append(f"{n}: {name} announced twice")
            families[name] = None
            current = name
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            if name != current:
                problems.append(f"{n}: TYPE of {name} not after its HELP")
            if typ not in ("counter", "gauge", "histogram"):
                problems.append(f"{n}: unknown type {typ}")
            if typ == "counter" and not name.endswith("_total"):
                problems.append(f"{n}: counter {name} without _total")
            families[name] = typ
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append(f"{n}: not a sample: {line!r}")
            continue
        name, _, labels, v = m.groups()
        typ = families.get(current)
        want = [current]
        if typ == "histogram":
            want = [current + s for s in ("_bucket", "_sum", "_count")]
        if name not in want:
            problems.append(f"{n}: sample {name} outside its family "
                            f"({current})")
        pos = 0
        seen = {}
        while labels and pos < len(labels):
            lm = LABEL.match(labels, pos)
            if not lm:
                problems.append(f"{n}: bad labels {labels!r}")
                break
            seen[lm.group(1)] = lm.group(2)
            pos = lm.end()
        try:
            fv = value(v)
        except ValueError:
            problems.append(f"{n}: bad value {v!r}")
            continue
        if typ == "counter" and fv < 0:
            problems.append(f"{n}: negative counter")
        if name.endswith("_bucket"):
            key = (current, tuple(sorted((k, x) for k, x in seen.items()
                                         if k != "le")))
            prev = buckets.get(key, (None, -1))
            if fv < prev[1]:
                problems.append(f"{n}: buckets not cumulative")
            buckets[key] = (seen.get("le"), fv)
    for key, (le, _) in buckets.items():
        if le != "+Inf":
            problems.append(f"histogram {key[0]} does not end in +Inf")
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print(f"{len(families)} families")


main()
