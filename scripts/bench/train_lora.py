#!/usr/bin/env python3
"""Issue 8's fixed training workload, vlm against transformers + PEFT on the same card in one run: a Qwen2-VL-2B-shaped
model with random weights (bf16, SDPA), LoRA r16 / alpha 32 on every language-model linear (dropout: --dropout P,
default none), batch 4,
each sample one 448x448 image (256 merged image tokens) + 256 text tokens, all text tokens labelled; AdamW lr 1e-4,
no weight decay, clipping at 1.0. Both start from the same PEFT adapter (written here) and train on the same batches
(written here to a safetensors file that bench_train reads), so their losses are compared step by step (with dropout
the two draw different masks: the losses then agree in size only).

Reports step time (median over the steps after the first 5), tokens/s, peak memory, the losses of both and their
largest difference, and model FLOP utilisation, with the FLOP count stated: the forward of the vision tower and of
the language model, plus the language model's input gradients (the base is frozen, so no weight gradients except
LoRA's, which are negligible), plus attention (forward and backward), at 989 TFLOP/s dense bf16 for an H100 SXM
(H200: the same).

    python3 scripts/bench/train_lora.py BUILD_DIR [OUT_JSON] [--steps 20] [--gradient-checkpointing] [--dropout P]
        [--baseline-build DIR] [--levels mlp,layer]

--gradient-checkpointing turns it on in both (vlm: --checkpoint-level layer). --levels also runs vlm at each of
those activation checkpointing levels (none, mlp, layer, offload), reported as "vlm (LEVEL)". --baseline-build runs
a second build's bench_train on the same workload too (an earlier version, for an A/B in the same run), reported as
"vlm (baseline)".
"""
import argparse
import json
import os
import statistics
import subprocess

import torch
import transformers
from safetensors.torch import save_file

from anchor import lora_model, train_step
from shapes import QWEN2_VL_2B, make_model

WORK = "/tmp/vlm-bench"
MODEL_DIR = os.path.join(WORK, "qwen2-vl-2b")
ADAPTER_DIR = os.path.join(WORK, "train-initial-adapter")
INPUTS = os.path.join(WORK, "train-inputs.safetensors")
BATCH, IMAGE, TEXT = 4, 448, 256
PEAK_FLOPS = 989e12


def make_inputs(config, steps):
    """Per step: input_ids / labels [B, L] and pixel_values [B * 1024, 1176]; the same grid for every sample."""
    grid = IMAGE // 14
    g = torch.Generator().manual_seed(1)
    ids, labels, pixels = [], [], []
    image = [config["vision_start_token_id"]] + [config["image_token_id"]] * (grid * grid // 4) + \
            [config["vision_end_token_id"]]
    for _ in range(steps):
        text = torch.randint(0, 150000, (BATCH, TEXT), generator=g)
        row = torch.cat([torch.tensor(image).expand(BATCH, -1), text], 1)
        lab = row.clone()
        lab[:, :len(image)] = -100
        ids.append(row)
        labels.append(lab)
        pixels.append(torch.randn(BATCH * grid * grid, 3 * 2 * 14 * 14, generator=g).to(torch.bfloat16))
    return dict(input_ids=torch.stack(ids), labels=torch.stack(labels), pixel_values=torch.stack(pixels),
                image_grid_thw=torch.tensor([[1, grid, grid]] * BATCH))


def train_transformers(model, inputs, steps, checkpointing, dropout):
    model, params, opt = lora_model(model, ADAPTER_DIR, dropout)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    losses, times = [], []
    grid = inputs["image_grid_thw"].cuda()
    torch.cuda.reset_peak_memory_stats()
    for s in range(steps):
        ids = inputs["input_ids"][s].cuda()
        kw = dict(input_ids=ids, attention_mask=torch.ones_like(ids), labels=inputs["labels"][s].cuda(),
                  pixel_values=inputs["pixel_values"][s].cuda(), image_grid_thw=grid,
                  mm_token_type_ids=(ids == QWEN2_VL_2B["image_token_id"]).long())
        loss, ms = train_step(model, params, opt, kw)
        losses.append(loss)
        times.append(ms)
        print(json.dumps({"engine": "transformers", "step": s + 1, "loss": losses[-1], "ms": times[-1]}), flush=True)
    return dict(losses=losses, step_ms=statistics.median(times[5:]), peak_bytes=torch.cuda.max_memory_allocated(),
                trainable=sum(p.numel() for p in params))


LEVEL_FLAGS = {"none": [], "mlp": ["--checkpoint-level", "mlp"], "layer": ["--gradient-checkpointing"],
               "offload": ["--checkpoint-offload"]}


def train_vlm(build, level):
    cmd = [os.path.join(build, "bin", "bench_train"), MODEL_DIR, ADAPTER_DIR, INPUTS] + LEVEL_FLAGS[level]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    lines = [json.loads(line) for line in out.strip().splitlines()]
    for line in lines[:-1]:
        print(json.dumps(dict(engine="vlm", **line)), flush=True)
    summary = lines[-1]["summary"]
    summary["losses"] = [line["loss"] for line in lines[:-1]]
    return summary


def flops_per_step(c):
    """Model FLOPs of one step (see the docstring): 2 * params * tokens per matmul pass; attention 4 * L^2 * width per
    layer forward (QK^T and PV), causal halves it for the language model, backward costs twice the forward."""
    t = c["text_config"] if "text_config" in c else c
    v = c["vision_config"]
    h, inter, layers, vocab = t["hidden_size"], t["intermediate_size"], t["num_hidden_layers"], t["vocab_size"]
    kv = h // t["num_attention_heads"] * t["num_key_value_heads"]
    lm_layer = h * (h + 2 * kv) + h * h + 3 * h * inter
    grid = IMAGE // 14
    patches, tokens = grid * grid, 2 + grid * grid // 4 + TEXT
    vw = v["embed_dim"]
    v_layer = 4 * vw * vw + 2 * vw * vw * v["mlp_ratio"]
    merger = (vw * 4) ** 2 + vw * 4 * h
    vision = BATCH * (2 * patches * (v["depth"] * v_layer + 3 * 2 * 14 * 14 * vw) + 2 * (patches // 4) * merger
                      + v["depth"] * 4 * patches * patches * vw)
    lm_fwd = BATCH * (2 * tokens * layers * lm_layer + layers * 4 * tokens * tokens * h / 2)
    head_fwd = BATCH * 2 * TEXT * h * vocab  # the loss needs logits of the labelled positions only
    return vision + 3 * (lm_fwd + head_fwd)  # forward + input gradients (2x) for the language model and head


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("out_json", nargs="?")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--dropout", type=float, default=0.0, help="lora_dropout of both")
    p.add_argument("--baseline-build", help="another build whose bench_train runs the same workload")
    p.add_argument("--levels", default="", help="comma-separated checkpointing levels vlm also runs at")
    args = p.parse_args()
    levels = [x for x in args.levels.split(",") if x]
    for level in levels:
        if level not in LEVEL_FLAGS:
            p.error("--levels: %r is not one of %s" % (level, ", ".join(LEVEL_FLAGS)))
    main_level = "layer" if args.gradient_checkpointing else "none"
    os.makedirs(WORK, exist_ok=True)
    model = make_model(QWEN2_VL_2B, MODEL_DIR)
    inputs = make_inputs(QWEN2_VL_2B, args.steps)
    save_file({k: v.contiguous() for k, v in inputs.items()}, INPUTS)
    hf = train_transformers(model, inputs, args.steps, args.gradient_checkpointing, args.dropout)
    del model
    torch.cuda.empty_cache()
    ours = train_vlm(args.build, main_level)
    baseline = train_vlm(args.baseline_build, main_level) if args.baseline_build else None
    at_levels = {level: train_vlm(args.build, level) for level in levels}
    tokens = BATCH * inputs["input_ids"].shape[-1]
    flops = flops_per_step(QWEN2_VL_2B)
    diffs = [abs(a - b) for a, b in zip(hf["losses"], ours["losses"])]
    result = dict(card=torch.cuda.get_device_name(), torch=torch.__version__, transformers=transformers.__version__,
                  gradient_checkpointing=args.gradient_checkpointing, dropout=args.dropout, tokens_per_step=tokens,
                  flops_per_step=flops,
                  transformers_peft=dict(hf, tokens_per_s=tokens * 1000 / hf["step_ms"],
                                         mfu=flops / (hf["step_ms"] / 1000) / PEAK_FLOPS),
                  vlm=dict(ours, mfu=flops / (ours["step_ms"] / 1000) / PEAK_FLOPS),
                  max_loss_diff=max(diffs))
    if baseline:
        result["vlm_baseline"] = dict(baseline, mfu=flops / (baseline["step_ms"] / 1000) / PEAK_FLOPS)
    result["vlm_levels"] = {level: dict(r, mfu=flops / (r["step_ms"] / 1000) / PEAK_FLOPS)
                            for level, r in at_levels.items()}
    print("card %s; %d tokens a step; %.2f TFLOP a step" % (result["card"], tokens, flops / 1e12))
    print("%-16s %10s %12s %10s %8s" % ("engine", "step ms", "tokens/s", "peak GiB", "MFU"))
    rows = [("transformers", result["transformers_peft"]), ("vlm", result["vlm"])]
    if baseline:
        rows.append(("vlm (baseline)", result["vlm_baseline"]))
    rows += [("vlm (%s)" % level, r) for level, r in result["vlm_levels"].items()]
    for name, r in rows:
        print("%-16s %10.1f %12.0f %10.2f %7.1f%%" % (name, r["step_ms"], r["tokens_per_s"], r["peak_bytes"] / 2 ** 30,
                                                    100 * r["mfu"]))
    print("speed %.2fx, memory %.2fx; losses: largest difference %.2e over %d steps" % (
        hf["step_ms"] / ours["step_ms"], ours["peak_bytes"] / hf["peak_bytes"], max(diffs), len(diffs)))
    if args.out_json:
        with open(args.out_json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
