#!/usr/bin/env python3
"""A bounded HTTP/1.1 load and its reading, for f_http_load.sh.

  run HOST PORT CONC MAXSECS STOP OUT [PATH]
      CONC threads, each a keep-alive connection, sending GET PATH (default
      /slow?ms=10) one after another until the file STOP exists or MAXSECS
      have passed.  A request that fails (refused, reset, closed, timed
      out) is recorded as an error; the thread waits 50 ms and opens a new
      connection.  Every request is recorded in OUT (JSON list of
      [start, end, status or "error:KIND", x-app-name, x-weft-agent]),
      wall-clock seconds, so that the shell can set its own `date +%s.%N`
      against them.  Prints "started" once every thread runs.
  window OUT FROM TO
      The requests that started in [FROM, TO): JSON {n, ok, failed,
      status: {...}, name: {...}, failures: [[start, end, what, agent]]}
  inflight OUT T [SLACK]
      How many requests were in flight at T (started by T, not ended
      before T), and the failures of requests that were not in flight then
      (started after T + SLACK or ended before T): JSON {inflight, failed,
      failed_not_inflight: [...]}
"""
import http.client
import json
import os
import sys
import threading
import time


def run(host, port, conc, maxsecs, stop, out, path):
    deadline = time.monotonic() + maxsecs
    recs = []
    lock = threading.Lock()
    started = threading.Barrier(conc + 1)

    def worker():
        c = None
        mine = []
        started.wait()
        while time.monotonic() < deadline and not os.path.exists(stop):
            t0 = time.time()
            try:
                if c is None:
                    c = http.client.HTTPConnection(host, port, timeout=10)
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                mine.append([t0, time.time(), r.status,
                             r.getheader("x-app-name"),
                             r.getheader("x-weft-agent")])
                if r.getheader("connection", "").lower() == "close":
                    c.close()
                    c = None
            except (OSError, http.client.HTTPException) as e:
                mine.append([t0, time.time(), "error:" + type(e).__name__,
                             None, None])
                if c is not None:
                    c.close()
                c = None
                time.sleep(0.05)
        if c is not None:
            c.close()
        with lock:
            recs.extend(mine)

    ts = [threading.Thread(target=worker) for _ in range(conc)]
    for t in ts:
        t.start()
    started.wait()
    print("started", flush=True)
    for t in ts:
        t.join()
    recs.sort()
    with open(out, "w") as f:
        json.dump(recs, f)
    n = len(recs)
    bad = sum(1 for r in recs if r[2] != 200)
    print(json.dumps({"n": n, "failed": bad}), flush=True)


def window(out, lo, hi):
    recs = [r for r in json.load(open(out)) if lo <= r[0] < hi]
    res = {"n": len(recs), "ok": 0, "failed": 0, "status": {}, "name": {},
           "failures": []}
    for r in recs:
        k = str(r[2])
        res["status"][k] = res["status"].get(k, 0) + 1
        if r[2] == 200:
            res["ok"] += 1
            res["name"][str(r[3])] = res["name"].get(str(r[3]), 0) + 1
        else:
            res["failed"] += 1
            if len(res["failures"]) < 20:
                res["failures"].append([round(r[0], 3), round(r[1], 3),
                                        r[2], r[4]])
    print(json.dumps(res, sort_keys=True))


def inflight(out, t, slack):
    recs = json.load(open(out))
    fly = [r for r in recs if r[0] <= t <= r[1]]
    failed = [r for r in recs if r[2] != 200]
    other = [[round(r[0], 3), round(r[1], 3), r[2], r[4]] for r in failed
             if not (r[0] <= t + slack and r[1] >= t)]
    print(json.dumps({"inflight": len(fly), "failed": len(failed),
                      "failed_not_inflight": other[:20]}))


def main():
    a = sys.argv[1:]
    if a and a[0] == "run" and len(a) in (7, 8):
        run(a[1], int(a[2]), int(a[3]), float(a[4]), a[5], a[6],
            a[7] if len(a) == 8 else "/slow?ms=10")
    elif a and a[0] == "window" and len(a) == 4:
        window(a[1], float(a[2]), float(a[3]))
    elif a and a[0] == "inflight" and len(a) in (3, 4):
        inflight(a[1], float(a[2]), float(a[3]) if len(a) == 4 else 0.0)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
