#!/usr/bin/env python3
"""Issue 8's benchmark 4: the longest sequence one training step fits in, vlm against transformers + PEFT on the
same card in one run. A Qwen2-VL-7B-shaped model (random weights, bf16, SDPA; hidden 3584, 28 layers, 28 heads,
4 KV heads, intermediate 18944, vocab 152064), LoRA r16 / alpha 32 on every language-model linear, batch 1: one
448x448 image (256 merged tokens) and random text up to the length, every text token labelled; AdamW, clipping at
1.0. Both sides use gradient checkpointing (transformers: non-reentrant, inputs requiring grad, as its trainers set
it up) and PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True.

Each engine tries a ladder of lengths, one full step each (forward, loss, backward, clip, AdamW), until one runs out
of GPU memory, then bisects between the longest that fit and the shortest that did not (to 1024 tokens, a few
steps). vlm's ladder runs from 2x the longest transformers length upwards (the issue's target is 4x), with the
layer inputs offloaded to pinned CPU memory (--checkpoint-offload) and then kept on the GPU, each within what is
left of a deadline (a step is not started if it would end after it, judged from the last step's time).

    python3 scripts/bench/longest_sequence.py BUILD_DIR [OUT_JSON] [--deadline 540] [--modes offload,checkpoint]
        [--factors 0.5,0.75,1,1.25,1.5,2,2.5,3]
"""
import argparse
import gc
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

import torch  # noqa: E402
import transformers  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anchor import lora_model, train_step  # noqa: E402
from shapes import QWEN2_VL_7B, make_model  # noqa: E402

WORK = "/tmp/vlm-bench"
MODEL_DIR = os.path.join(WORK, "qwen2-vl-7b")
ADAPTER_DIR = os.path.join(WORK, "longest-initial-adapter")
SPEC = os.path.join(WORK, "longest-spec.json")
GRID = 32  # 448 px / 14: 1024 patches, 256 merged tokens
TEXT_VOCAB = 150000
TRANSFORMERS_LADDER = [8192, 16384, 24576, 32768, 40960, 49152, 65536, 81920, 98304, 131072]


def image_ids(c):
    return [c["vision_start_token_id"]] + [c["image_token_id"]] * (GRID * GRID // 4) + [c["vision_end_token_id"]]


def transformers_step(model, opt, params, length):
    c = QWEN2_VL_7B
    head = image_ids(c)
    text = torch.randint(0, TEXT_VOCAB, (1, length - len(head)))
    ids = torch.cat([torch.tensor([head]), text], 1).cuda()
    labels = ids.clone()
    labels[:, :len(head)] = -100
    kw = dict(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels,
              pixel_values=torch.randn(GRID * GRID, 3 * 2 * 14 * 14, dtype=torch.bfloat16, device="cuda"),
              image_grid_thw=torch.tensor([[1, GRID, GRID]], device="cuda"),
              mm_token_type_ids=(ids == c["image_token_id"]).long())
    return train_step(model, params, opt, kw)[1]


def transformers_longest(model, refine):
    model, params, opt = lora_model(model, ADAPTER_DIR)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    model.train()
    tries = []

    def attempt(length):
        torch.cuda.reset_peak_memory_stats()
        try:
            ms, fits = transformers_step(model, opt, params, length), True
        except torch.OutOfMemoryError:
            ms, fits = 0.0, False
            opt.zero_grad(set_to_none=True)
        row = dict(length=length, fits=fits, ms=ms, peak_bytes=torch.cuda.max_memory_allocated())
        print(json.dumps(dict(engine="transformers", **row)), flush=True)
        tries.append(row)
        gc.collect()
        torch.cuda.empty_cache()
        return fits

    fit, fail = 0, 0
    for length in TRANSFORMERS_LADDER:
        if not attempt(length):
            fail = length
            break
        fit = length
    for _ in range(refine):
        mid = (fit + fail) // 2 // 1024 * 1024
        if not fit or not fail or mid <= fit:
            break
        if attempt(mid):
            fit = mid
        else:
            fail = mid
    return dict(longest=fit, tries=tries)


def vlm_longest(build, start, factors, offload, budget, refine):
    lengths = [int(start * f) // 1024 * 1024 for f in factors]
    spec = dict(image_token_id=QWEN2_VL_7B["image_token_id"], text_vocab=TEXT_VOCAB,
                vision_start_token_id=QWEN2_VL_7B["vision_start_token_id"],
                vision_end_token_id=QWEN2_VL_7B["vision_end_token_id"],
                longest=dict(images=[[GRID, GRID]], lengths=lengths, refine=refine, budget_s=budget))
    with open(SPEC, "w") as f:
        json.dump(spec, f)
    cmd = [os.path.join(build, "bin", "bench_train"), MODEL_DIR, ADAPTER_DIR, SPEC, "--longest",
           "--checkpoint-offload" if offload else "--gradient-checkpointing"]
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [json.loads(line) for line in proc.stdout.strip().splitlines() if line.startswith("{")]
    for line in lines:
        print(json.dumps(dict(engine="vlm-offload" if offload else "vlm", **line)), flush=True)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], flush=True)
    tries = [line for line in lines if "length" in line]
    summary = [line["summary"] for line in lines if "summary" in line]
    return dict(longest=summary[0]["longest"] if summary else max([t["length"] for t in tries if t.get("fits")] or [0]),
                tries=tries, returncode=proc.returncode)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("out_json", nargs="?")
    p.add_argument("--deadline", type=float, default=540,
                   help="seconds from the start by which the vlm searches must end (each gets what is left)")
    p.add_argument("--refine", type=int, default=2, help="bisection steps after the first length that fails")
    p.add_argument("--modes", default="offload,checkpoint",
                   help="vlm searches to run, in order: offload (--checkpoint-offload), checkpoint")
    p.add_argument("--factors", default="0.5,0.75,1,1.25,1.5,2,2.5,3",
                   help="vlm's ladder, in multiples of 4x the longest transformers length")
    args = p.parse_args()
    os.makedirs(WORK, exist_ok=True)
    t0 = time.time()
    model = make_model(QWEN2_VL_7B, MODEL_DIR)
    print("model ready in %.0f s" % (time.time() - t0), flush=True)
    hf = transformers_longest(model, args.refine)
    del model
    gc.collect()
    torch.cuda.empty_cache()
    target = 4 * hf["longest"] if hf["longest"] else 32768
    ours = {}
    for mode in [m for m in args.modes.split(",") if m]:
        budget = args.deadline - (time.time() - t0) - 30  # loading the checkpoint
        if budget < 30:
            print("no time left for the %s search" % mode, flush=True)
            break
        factors = [float(f) for f in args.factors.split(",")]
        ours[mode] = vlm_longest(args.build, target, factors, mode == "offload", budget, args.refine)
    result = dict(card=torch.cuda.get_device_name(), torch=torch.__version__, transformers=transformers.__version__,
                  transformers_peft=hf, vlm=ours)
    print("card %s" % result["card"])
    print("transformers + PEFT (gradient checkpointing): %d tokens" % hf["longest"])
    for mode, r in ours.items():
        print("vlm (%s): %d tokens (%.2fx)" % (mode, r["longest"], r["longest"] / max(hf["longest"], 1)))
    if args.out_json:
        with open(args.out_json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
