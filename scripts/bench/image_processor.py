#!/usr/bin/env python3
"""Images per second through the Qwen2-VL image processor, 1024x768 JPEGs, decoding included, one thread:
transformers' PIL processor (and its torchvision "fast" one, for reference) against vlm's, on the same machine and
files. Run from the repository root after building with -DVLM_BUILD_BENCH=ON:

    python3 scripts/bench/image_processor.py BUILD_DIR [ROUNDS]
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import transformers
from PIL import Image
from transformers import AutoImageProcessor

build, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
torch.set_num_threads(1)
config_dir = "tests/fixtures/images/configs/qwen2_vl_hub"
tmp = tempfile.mkdtemp()
rng = np.random.default_rng(0)
files = []
for i in range(16):
    # Smooth gradients plus noise: photo-like JPEG sizes.
    y, x = np.mgrid[0:768, 0:1024]
    img = np.stack([(x * (i + 1) / 8) % 256, (y * (i + 2) / 6) % 256, ((x + y) / 7) % 256], -1)
    img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
    path = os.path.join(tmp, f"img{i}.jpg")
    Image.fromarray(img).save(path, quality=90)
    files.append(path)


def bench(processor):
    def one(path):
        with Image.open(path) as im:
            return processor(images=im.convert("RGB"), return_tensors="np")
    for f in files:
        one(f)
    start = time.perf_counter()
    for _ in range(rounds):
        for f in files:
            one(f)
    return len(files) * rounds / (time.perf_counter() - start)


results = {}
for name, fast in (("transformers (PIL)", False), ("transformers (fast, torchvision)", True)):
    try:
        results[name] = bench(AutoImageProcessor.from_pretrained(config_dir, use_fast=fast))
    except Exception as e:  # a backend missing on this machine
        print(name, "failed:", e)
out = subprocess.run([os.path.join(build, "bin", "bench_image_processor"), config_dir, str(rounds)] + files,
                     capture_output=True, text=True, check=True).stdout
results["vlm"] = float(out.split("images_per_second")[1].split()[0])
print(f"Qwen2-VL image processor, 1024x768 JPEG, decode included, 1 thread, transformers {transformers.__version__}")
for name, ips in results.items():
    print(f"  {name:34s} {ips:8.1f} images/s")
print(f"  vlm / transformers (PIL)           {results['vlm'] / results['transformers (PIL)']:8.2f}x")
