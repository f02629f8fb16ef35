#!/usr/bin/env python3
"""Encode throughput, one thread, on 10 MB of mixed text (the tokenizer fixtures' strings: several scripts and
languages, code, numbers, emoji, whitespace runs, shuffled), HF tokenizers (Rust) against vlm, same machine, same
text, ids compared by hash. Run from the repository root after building with -DVLM_BUILD_BENCH=ON:

    python3 scripts/bench/tokenizer.py BUILD_DIR [TOKENIZER ...]     (default: qwen2 llama3 gemma)
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
import tokenizers  # noqa: E402

build = sys.argv[1]
names = sys.argv[2:] or ["qwen2", "llama3", "gemma"]
strings = json.load(open("tests/fixtures/tokenizers/strings.json"))["strings"]
strings = [s for s in strings if isinstance(s, str)]
rng = random.Random(0)
parts, size = [], 0
while size < 10_000_000:
    s = rng.choice(strings)
    parts.append(s)
    size += len(s.encode())
text = "\n".join(parts)
path = os.path.join(tempfile.mkdtemp(), "mixed.txt")
open(path, "w", encoding="utf-8").write(text)
nbytes = len(text.encode())
print(f"encode throughput, {nbytes / 1e6:.1f} MB mixed text, 1 thread, tokenizers {tokenizers.__version__}")
for name in names:
    folder = os.path.join("tests/fixtures/tokenizers", name)
    tok = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    tok.encode(text, add_special_tokens=False)
    start = time.perf_counter()
    ids = tok.encode(text, add_special_tokens=False).ids
    hf = nbytes / (time.perf_counter() - start) / 1e6
    h = 1469598103934665603
    for i in ids:
        h = ((h ^ i) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    out = subprocess.run([os.path.join(build, "bin", "bench_tokenizer"), folder, path, "1"], capture_output=True,
                         text=True, check=True).stdout.split()
    ours = float(out[out.index("mb_per_second") + 1])
    same = int(out[out.index("ids_hash") + 1]) == h
    print(f"  {name:8s} HF tokenizers {hf:7.2f} MB/s   vlm {ours:7.2f} MB/s   {ours / hf:5.2f}x   ids identical: {same}")
