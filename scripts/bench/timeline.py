#!/usr/bin/env python3
"""Lays out graphed decoding steps from the timeline probe's block stamps (src/kernels/cuda_types.cuh): per kernel of
a layer, when its blocks started, when their waits for the kernel before returned and when they finished, in
microseconds after the layer's first kernel started, averaged over the layers of the steps after the first two. Build
with -DVLM_TIMELINE=ON, then on the GPU machine:

    VLM_TIMELINE_OUT=/tmp/tl.bin build/bin/bench_generate MODEL --repeat 1 ...
    python3 scripts/bench/timeline.py /tmp/tl.bin

Columns: blocks; start first/last; waited first/last; end first/last (us). `gap` is the time from the kernel
before's last block end to this kernel's last wait return: how long the dependency hand-over took.
"""
import struct
import sys
from collections import defaultdict

KINDS = {1: "gemv", 2: "swiglu", 3: "attn-chunk", 4: "attn-merge", 5: "begin-step", 6: "greedy-screen",
         7: "greedy-exact"}
SPLIT_NS = 10_000  # blocks of one tag starting further apart than this belong to different launches


def name_of(tag):
    kind, n, k = tag >> 28, (tag >> 10) & 0x3FFFF, (tag & 0x3FF) * 16
    if kind in (1, 2):
        return "%s %dx%d" % (KINDS[kind], n, k)
    return KINDS.get(kind, "kind%d" % kind)


def launches(records):
    by_tag = defaultdict(list)
    for r in records:
        by_tag[r[3] & 0xFFFFFFFF].append(r)
    out = []
    for tag, rs in by_tag.items():
        rs.sort(key=lambda r: r[0])
        group = [rs[0]]
        for r in rs[1:]:
            if r[0] - group[-1][0] > SPLIT_NS:
                out.append((tag, group))
                group = []
            group.append(r)
        out.append((tag, group))
    summary = []
    for tag, g in out:
        starts, waits, ends = [r[0] for r in g], [r[1] for r in g], [r[2] for r in g]
        summary.append(dict(name=name_of(tag), blocks=len(g), s0=min(starts), s1=max(starts), w0=min(waits),
                            w1=max(waits), e0=min(ends), e1=max(ends)))
    summary.sort(key=lambda l: l["s0"])
    return summary


def main():
    data = open(sys.argv[1], "rb").read()
    n = len(data) // 32
    records = [struct.unpack_from("<4Q", data, 32 * i) for i in range(n)]
    ls = launches(records)
    steps, current = [], None
    for l in ls:
        if l["name"] == "begin-step":
            current = [l]
            steps.append(current)
        elif current is not None:
            current.append(l)
    print("%d stamps, %d launches, %d steps" % (n, len(ls), len(steps)))
    steps = steps[2:-1] if len(steps) > 4 else steps[:-1]
    periods = [b[0]["s0"] - a[0]["s0"] for a, b in zip(steps, steps[1:])]
    if periods:
        print("step period %.1f us (%.1f steps/s), %d steps" % (
            sum(periods) / len(periods) / 1e3, 1e9 * len(periods) / sum(periods), len(periods)))
    # Layers: each starts at the kernel that follows the step's begin-step kernel (the q/k/v projection); the last
    # layer also holds the LM head.
    rows = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    order = []
    tails = defaultdict(list)
    for step in steps:
        layers = []
        for l in step[1:]:
            if l["name"] == step[1]["name"]:
                layers.append([])
            layers[-1].append(l)
        prev = step[0]
        for layer in layers:
            key = tuple(l["name"] for l in layer)
            if key not in order:
                order.append(key)
            base = layer[0]["s0"]
            for i, l in enumerate(layer):
                r = rows[key][i]
                for f in ("s0", "s1", "w0", "w1", "e0", "e1"):
                    r[f].append((l[f] - base) / 1e3)
                r["blocks"].append(l["blocks"])
                r["gap"].append((l["w1"] - prev["e1"]) / 1e3)
                prev = l
            tails[key].append((layer[-1]["e1"] - base) / 1e3)
    for key in order:
        count = len(rows[key][0]["s0"])
        print("\nlayer shape seen %d times (kernels: %s); last end %.2f us" % (
            count, len(key), sum(tails[key]) / count))
        print("%-22s %6s %8s %8s %8s %8s %8s %8s %7s" % ("kernel", "blocks", "start0", "start1", "wait0", "wait1",
                                                          "end0", "end1", "gap"))
        for i, name in enumerate(key):
            r = rows[key][i]
            avg = {f: sum(v) / len(v) for f, v in r.items()}
            print("%-22s %6d %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %7.2f" % (
                name, avg["blocks"], avg["s0"], avg["s1"], avg["w0"], avg["w1"], avg["e0"], avg["e1"], avg["gap"]))


if __name__ == "__main__":
    main()
