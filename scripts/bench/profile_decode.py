#!/usr/bin/env python3
"""Where a decoding step's GPU time goes: runs bench_generate under Nsight Compute (ncu) on the Qwen2-VL-2B-shaped
model of generate.py, with CUDA graphs (ncu profiles each kernel node of a replayed graph), and sums the kernel
durations of the last decoding step by kernel name. ncu replays every kernel alone with cold caches, so the sum is
an upper bound of the step's GPU time; the gap to the measured step time is launch, host and sampling time.
Run from the repository root on the GPU machine after building bench_generate:

    python3 scripts/bench/profile_decode.py BUILD_DIR [OUT_JSON]
"""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ncu import kernel_times  # noqa: E402
from shapes import QWEN2_VL_2B, make_model  # noqa: E402

build = sys.argv[1]
out_json = sys.argv[2] if len(sys.argv) > 2 else None
MODEL_DIR = "/tmp/vlm-bench/qwen2-vl-2b"
NEW = 12

if not os.path.exists(os.path.join(MODEL_DIR, "config.json")):
    make_model(QWEN2_VL_2B, MODEL_DIR)
_, kernels = kernel_times([os.path.join(build, "bin", "bench_generate"), MODEL_DIR, "--new-tokens", str(NEW),
                           "--repeat", "0"], ["--graph-profiling", "node"])  # (name, microseconds)

# The last step: the kernels after the second-to-last occurrence of the step's final kernel name.
last = kernels[-1][0]
ends = [i for i, (name, _) in enumerate(kernels) if name == last]
step = kernels[ends[-2] + 1:] if len(ends) >= 2 else kernels[-400:]
by_name = collections.defaultdict(lambda: [0, 0.0])
for name, us in step:
    by_name[name][0] += 1
    by_name[name][1] += us
total = sum(us for _, us in step)
print("last decoding step: %d kernels, %.1f us of kernel time" % (len(step), total))
print("%8s %6s %9s  %s" % ("us", "count", "us/call", "kernel"))
table = sorted(by_name.items(), key=lambda kv: -kv[1][1])
for name, (count, us) in table:
    print("%8.1f %6d %9.2f  %s" % (us, count, us / count, name[:110]))
if out_json:
    with open(out_json, "w") as f:
        json.dump({"kernels": len(step), "total_us": total,
                   "by_kernel": [{"name": n, "count": c, "us": u} for n, (c, u) in table]}, f, indent=1)
