#!/usr/bin/env python3
"""Per-op GPU time of one decoding step's pieces at Qwen2-VL-2B shapes (bf16, batch 1), each op replayed 200 times
inside one CUDA graph so that host launch cost is excluded: what a captured decode step pays per kernel. Also the
bandwidth-bound ideal of each linear (weight bytes / copy bandwidth).

    python3 scripts/bench/decode_ops.py
"""
import time

import torch
import torch.nn.functional as F

torch.manual_seed(0)
dev, dt = "cuda", torch.bfloat16
REPS = 200


def graph_time(fn):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(REPS):
            fn()
    g.replay()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(5):
        g.replay()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / (5 * REPS) * 1e6  # microseconds per op


x = torch.empty(1 << 30, dtype=torch.uint8, device=dev)
y = torch.empty_like(x)
bw = 2 * x.numel() / (graph_time(lambda: y.copy_(x)) * 1e-6 / 1)
del x, y
print("copy bandwidth %.0f GB/s" % (bw / 1e9))
rows = []
for name, k, n, bias in [("q_proj", 1536, 1536, True), ("k_proj", 1536, 256, True), ("o_proj", 1536, 1536, False),
                         ("gate/up", 1536, 8960, False), ("down", 8960, 1536, False),
                         ("lm_head", 1536, 151936, False), ("qkv fused", 1536, 2048, True),
                         ("gate+up fused", 1536, 17920, False)]:
    a = torch.randn(1, 1, k, device=dev, dtype=dt)
    w = torch.randn(n, k, device=dev, dtype=dt) * 0.02
    b = torch.randn(n, device=dev, dtype=dt) if bias else None
    us = graph_time(lambda: F.linear(a, w, b))
    ideal = n * k * 2 / bw * 1e6
    rows.append((name, us, ideal))
h = torch.randn(1, 1, 1536, device=dev, dtype=dt)
g8960 = torch.randn(1, 1, 8960, device=dev, dtype=dt)
cache = torch.zeros(1, 2, 600, 128, device=dev, dtype=dt)
slot = torch.tensor([5], device=dev)
kv = torch.ones(1, 2, 1, 128, device=dev, dtype=dt)
for name, fn in [("add", lambda: h + h), ("rmsnorm (torch ops)", lambda: (h.float() * torch.rsqrt(h.float().pow(2).mean(-1, True) + 1e-6)).to(dt) * h),
                 ("silu*mul 8960", lambda: F.silu(g8960) * g8960),
                 ("index_copy kv", lambda: cache.index_copy_(2, slot, kv))]:
    rows.append((name, graph_time(fn), 0.0))
print("%-22s %10s %10s" % ("op", "us", "ideal us"))
total = 0
for name, us, ideal in rows:
    print("%-22s %10.2f %10.2f" % (name, us, ideal))
per_layer = {r[0]: r[1] for r in rows}
layer = per_layer["q_proj"] + 2 * per_layer["k_proj"] + per_layer["o_proj"] + 2 * per_layer["gate/up"] + per_layer["down"]
print("linears per layer %.1f us, x28 = %.2f ms, + lm_head %.1f us" % (layer, layer * 28 / 1000, per_layer["lm_head"]))
