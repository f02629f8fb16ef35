#!/usr/bin/env python3
"""Host time of one training step by operator, from the chrome trace that `bench_train --trace-step N --trace FILE`
writes (torch's legacy profiler: one complete event per operator call, on the thread that made it). Per thread:
the outermost operators' time and the time between them (the caller's own code); per operator name: calls and
outermost time. Run where the trace is:

    python3 scripts/bench/trace_ops.py TRACE.json [TOP]
"""
import collections
import json
import sys


def load(path):
    try:
        with open(path) as f:
            events = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit("trace_ops: %s: not a readable chrome trace (%s)" % (path, e))
    events = events.get("traceEvents") if isinstance(events, dict) else events
    if not isinstance(events, list):
        sys.exit("trace_ops: %s: expected a list of events or {\"traceEvents\": [...]}" % path)
    return events


def main():
    if len(sys.argv) < 2 or (len(sys.argv) > 2 and not sys.argv[2].isdigit()):
        sys.exit("usage: trace_ops.py TRACE.json [TOP]")
    events = load(sys.argv[1])
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    by_thread = collections.defaultdict(list)
    for e in events:
        if isinstance(e, dict) and e.get("ph") == "X" and "dur" in e and "ts" in e:
            by_thread[e.get("tid")].append(e)
    names = collections.defaultdict(lambda: [0, 0.0])
    for tid, evs in by_thread.items():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        outer, end = [], -1.0
        for e in evs:
            if e["ts"] >= end:
                outer.append(e)
                end = e["ts"] + e["dur"]
        span = outer[-1]["ts"] + outer[-1]["dur"] - outer[0]["ts"] if outer else 0
        busy = sum(e["dur"] for e in outer)
        print("thread %s: %d calls, %d outermost, span %.1f ms, inside operators %.1f ms, between %.1f ms" % (
            tid, len(evs), len(outer), span / 1e3, busy / 1e3, (span - busy) / 1e3))
        for e in outer:
            names[e["name"]][0] += 1
            names[e["name"]][1] += e["dur"]
    print("%-48s %8s %10s %8s" % ("outermost operator", "calls", "ms", "us/call"))
    for name, (n, dur) in sorted(names.items(), key=lambda kv: -kv[1][1])[:top]:
        print("%-48s %8d %10.2f %8.1f" % (name[:48], n, dur / 1e3, dur / n))


if __name__ == "__main__":
    main()
