#!/usr/bin/env python3
"""Issue 8's variable training workload, vlm against transformers + PEFT on the same card in one run: the
Qwen2-VL-2B-shaped model of train_lora.py (random weights, bf16, SDPA), LoRA r16 / alpha 32 on every language-model
linear, AdamW lr 1e-4, clipping at 1.0; 256 samples, each with 1-3 images of random sizes between 224 and 896 px
(multiples of 28) and 32-1024 text tokens (all labelled), in steps of 4 samples in a fixed order. transformers pads
each step's samples to the longest (as its collators do); vlm runs the same steps padded and packed (--packing: one
row without padding, variable-length flash attention). Token ids and pixels are random on both sides (speed only).

Reports samples per second over the steps after the first 2 (warm-up), real (unpadded) tokens per second and peak
memory. Run from the repository root on the GPU machine after building bench_train:

    python3 scripts/bench/train_variable.py BUILD_DIR [OUT_JSON]
"""
import json
import os
import random
import subprocess
import sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anchor import lora_model, train_step  # noqa: E402
from shapes import QWEN2_VL_2B, make_model  # noqa: E402

WORK = "/tmp/vlm-bench"
MODEL_DIR = os.path.join(WORK, "qwen2-vl-2b")
ADAPTER_DIR = os.path.join(WORK, "variable-initial-adapter")
SPEC = os.path.join(WORK, "variable-spec.json")
SAMPLES = int(os.environ.get("VLM_BENCH_SAMPLES", 256))  # fewer for a quick check of the script
BATCH, WARMUP = 4, 2
TEXT_VOCAB = 150000


def make_spec(c):
    rng = random.Random(0)
    samples = []
    for _ in range(SAMPLES):
        images = [[rng.randrange(224, 897, 28) // 14, rng.randrange(224, 897, 28) // 14]
                  for _ in range(rng.randint(1, 3))]
        samples.append({"text": rng.randint(32, 1024), "images": images})
    return {"samples": samples, "image_token_id": c["image_token_id"], "text_vocab": TEXT_VOCAB,
            "vision_start_token_id": c["vision_start_token_id"], "vision_end_token_id": c["vision_end_token_id"]}


def transformers_batches(spec):
    g = torch.Generator().manual_seed(0)
    c = spec
    for i in range(0, len(spec["samples"]), BATCH):
        group = spec["samples"][i:i + BATCH]
        rows, labels, pixels, grids = [], [], [], []
        for s in group:
            ids = []
            for h, w in s["images"]:
                ids += [c["vision_start_token_id"]] + [c["image_token_id"]] * (h * w // 4) + [c["vision_end_token_id"]]
                pixels.append(torch.randn(h * w, 3 * 2 * 14 * 14, generator=g).to(torch.bfloat16))
                grids.append([1, h, w])
            n_image = len(ids)
            ids += torch.randint(0, TEXT_VOCAB, (s["text"],), generator=g).tolist()
            rows.append(ids)
            labels.append([-100] * n_image + ids[n_image:])
        width = max(len(r) for r in rows)
        mask = [[1] * len(r) + [0] * (width - len(r)) for r in rows]
        yield dict(input_ids=torch.tensor([r + [0] * (width - len(r)) for r in rows]),
                   attention_mask=torch.tensor(mask),
                   labels=torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels]),
                   pixel_values=torch.cat(pixels), image_grid_thw=torch.tensor(grids)), len(group), sum(map(len, rows))


def train_transformers(model, spec):
    model, params, opt = lora_model(model, ADAPTER_DIR)
    model.train()
    torch.cuda.reset_peak_memory_stats()
    total_ms, samples, tokens = 0.0, 0, 0
    for step, (batch, n, real) in enumerate(transformers_batches(spec)):
        kw = {k: v.cuda() for k, v in batch.items()}
        kw["mm_token_type_ids"] = (kw["input_ids"] == spec["image_token_id"]).long()
        loss, ms = train_step(model, params, opt, kw)
        print(json.dumps({"engine": "transformers", "step": step + 1, "loss": loss, "ms": ms,
                          "padded_tokens": kw["input_ids"].numel(), "tokens": real}), flush=True)
        if step >= WARMUP:
            total_ms, samples, tokens = total_ms + ms, samples + n, tokens + real
    return dict(samples_per_s=samples * 1000 / total_ms, real_tokens_per_s=tokens * 1000 / total_ms,
                peak_bytes=torch.cuda.max_memory_allocated())


def train_vlm(build, packing):
    cmd = [os.path.join(build, "bin", "bench_train"), MODEL_DIR, ADAPTER_DIR, SPEC, "--batch", str(BATCH),
           "--timed-from", str(WARMUP)] + (["--packing"] if packing else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    lines = [json.loads(line) for line in out.strip().splitlines()]
    for line in lines[:-1]:
        print(json.dumps(dict(engine="vlm-packed" if packing else "vlm", **line)), flush=True)
    return lines[-1]["summary"]


def main():
    build = sys.argv[1]
    out_json = sys.argv[2] if len(sys.argv) > 2 else None
    os.makedirs(WORK, exist_ok=True)
    spec = make_spec(QWEN2_VL_2B)
    with open(SPEC, "w") as f:
        json.dump(spec, f)
    model = make_model(QWEN2_VL_2B, MODEL_DIR)
    hf = train_transformers(model, spec)
    del model
    torch.cuda.empty_cache()
    padded = train_vlm(build, False)
    packed = train_vlm(build, True)
    result = dict(card=torch.cuda.get_device_name(), torch=torch.__version__, transformers=transformers.__version__,
                  samples=SAMPLES, batch=BATCH, transformers_peft=hf, vlm_padded=padded, vlm_packed=packed)
    print("card %s; %d samples, %d a step (1-3 images of 224-896 px, 32-1024 text tokens)" % (
        result["card"], SAMPLES, BATCH))
    print("%-16s %10s %14s %10s" % ("engine", "samples/s", "real tokens/s", "peak GiB"))
    for name, r in (("transformers", hf), ("vlm padded", padded), ("vlm packed", packed)):
        print("%-16s %10.2f %14.0f %10.2f" % (name, r["samples_per_s"], r["real_tokens_per_s"], r["peak_bytes"] / 2 ** 30))
    print("speed: padded %.2fx, packed %.2fx" % (padded["samples_per_s"] / hf["samples_per_s"],
                                                packed["samples_per_s"] / hf["samples_per_s"]))
    if out_json:
        with open(out_json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
