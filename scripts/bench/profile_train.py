#!/usr/bin/env python3
"""Where a training step's GPU time goes: runs bench_train on benchmark 1's workload (the files train_lora.py writes
under /tmp/vlm-bench: run it first, in the same call) under Nsight Compute, profiling one step after warm-up
(bench_train --profile-step, ncu --profile-from-start off), and sums the kernel durations by kernel and by kind
(GEMM, attention, our fused kernels, elementwise, reductions, copies, optimizer). ncu serialises the kernels and
replays each one, so the sum is the step's GPU busy time without overlap; the gap to the measured step time is
launch and host time. Run from the repository root on the GPU machine after building bench_train:

    python3 scripts/bench/profile_train.py BUILD_DIR [OUT_JSON] [--gradient-checkpointing]
"""
import argparse
import collections
import json
import os
import re
import sys

from ncu import kernel_times

WORK = "/tmp/vlm-bench"
MODEL_DIR = os.path.join(WORK, "qwen2-vl-2b")
ADAPTER_DIR = os.path.join(WORK, "train-initial-adapter")
INPUTS = os.path.join(WORK, "train-inputs.safetensors")
STEP = 8

KINDS = [  # first match wins
    ("attention", r"flash|fmha|attention"),
    ("gemm", r"gemm|gemv|nvjet|sm90_xmma|cutlass|cublas|splitK|dot_kernel"),
    ("vlm fused", r"vlm::cuda"),
    ("optimizer / foreach", r"foreach|multi_tensor|adam"),
    ("reduction", r"reduce|norm_kernel|softmax|cross_entropy|nll|logsumexp"),
    ("copy / cast / index", r"copy|cast|index|gather|scatter|cat|fill|arange|nonzero|where"),
    ("elementwise", r"elementwise|vectorized|unrolled"),
]


def kind_of(name):
    for kind, pattern in KINDS:
        if re.search(pattern, name, re.IGNORECASE):
            return kind
    return "other"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("out_json", nargs="?")
    p.add_argument("--gradient-checkpointing", action="store_true")
    args = p.parse_args()
    for path in (MODEL_DIR, ADAPTER_DIR, INPUTS):
        if not os.path.exists(path):
            sys.exit("%s is missing: run scripts/bench/train_lora.py first" % path)
    program = [os.path.join(args.build, "bin", "bench_train"), MODEL_DIR, ADAPTER_DIR, INPUTS, "--steps", str(STEP),
               "--profile-step", str(STEP)] + (["--gradient-checkpointing"] if args.gradient_checkpointing else [])
    out, kernels = kernel_times(program, ["--profile-from-start", "off", "--clock-control", "none", "--cache-control",
                                          "none"])  # (name, microseconds)
    steps = [json.loads(line) for line in out.splitlines() if line.startswith('{"step"')]
    by_name = collections.defaultdict(lambda: [0, 0.0])
    by_kind = collections.defaultdict(lambda: [0, 0.0])
    for name, us in kernels:
        for table, key in ((by_name, name), (by_kind, kind_of(name))):
            table[key][0] += 1
            table[key][1] += us
    total = sum(us for _, us in kernels)
    measured = [s["ms"] for s in steps]
    print("profiled step %d: %d kernels, %.1f ms of kernel time; step times under ncu (ms): %s" % (
        STEP, len(kernels), total / 1000, measured))
    print("%10s %7s %6s  %s" % ("ms", "share", "count", "kind"))
    for kind, (count, us) in sorted(by_kind.items(), key=lambda kv: -kv[1][1]):
        print("%10.2f %6.1f%% %6d  %s" % (us / 1000, 100 * us / total, count, kind))
    print("%10s %6s %9s  %s" % ("ms", "count", "us/call", "kernel"))
    table = sorted(by_name.items(), key=lambda kv: -kv[1][1])
    for name, (count, us) in table[:45]:
        print("%10.2f %6d %9.1f  %s" % (us / 1000, count, us / count, name[:120]))
    if args.out_json:
        with open(args.out_json, "w") as f:
            json.dump({"kernels": len(kernels), "total_us": total, "step_ms_under_ncu": measured,
                       "by_kind": {k: {"count": c, "us": u} for k, (c, u) in by_kind.items()},
                       "by_kernel": [{"name": n, "count": c, "us": u} for n, (c, u) in table]}, f, indent=1)


if __name__ == "__main__":
    main()
