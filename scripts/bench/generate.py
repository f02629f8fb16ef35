#!/usr/bin/env python3
"""Generation speed, vlm against transformers' generate() on the same card in one run: a Qwen2-VL-2B-shaped model
with random weights (hidden 1536, 28 layers, 12 heads, 2 KV heads, intermediate 8960, vocab 151936; vision depth 32,
width 1280), bfloat16, SDPA attention; one 448x448 image (256 merged image tokens) + 40 text tokens, 256 new tokens
(EOS ignored), batch 1 and 16. Prefill = the prompt through the model and the first token; decode tokens/s = the
other 255 tokens. Also the copy bandwidth of the card and the decode roofline it implies (weights + KV cache read
once per token). The row "lora" is batch 1 with a LoRA adapter applied, not merged: transformers + PEFT (r16, alpha
32, on every language-model linear, random B so that it changes the output) against vlm loading the adapter PEFT
saved. Run from the repository root on the GPU machine after building bench_generate:

    python3 scripts/bench/generate.py BUILD_DIR [OUT_JSON] [--rows 1,16,lora]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import transformers

from shapes import QWEN2_VL_2B, make_model as make_model_of, with_random_lora

parser = argparse.ArgumentParser()
parser.add_argument("build")
parser.add_argument("out_json", nargs="?")
parser.add_argument("--rows", default="1,16,lora", help="comma-separated: a batch size, or lora")
args = parser.parse_args()
for row in args.rows.split(","):
    if row != "lora" and not (row.isdigit() and int(row) > 0):
        parser.error("--rows: %r is neither a batch size nor lora" % row)
build, out_json = args.build, args.out_json
MODEL_DIR = "/tmp/vlm-bench/qwen2-vl-2b"
ADAPTER_DIR = "/tmp/vlm-bench/qwen2-vl-2b-lora"
IMAGE, TEXT, NEW = 448, 40, 256
REPEAT = 3


def make_model():
    return make_model_of(QWEN2_VL_2B, MODEL_DIR).eval()


def inputs(model, batch):
    c = model.config
    grid = IMAGE // 14
    ids = [c.vision_start_token_id] + [c.image_token_id] * (grid * grid // 4) + [c.vision_end_token_id]
    ids += torch.randint(0, 1000, (TEXT,), generator=torch.Generator().manual_seed(0)).tolist()
    input_ids = torch.tensor([ids] * batch, device="cuda")
    return dict(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                pixel_values=torch.randn(batch * grid * grid, 3 * 2 * 14 * 14, device="cuda", dtype=torch.bfloat16),
                image_grid_thw=torch.tensor([[1, grid, grid]] * batch, device="cuda"))


def timed_generate(model, kw, new):
    torch.cuda.synchronize()
    t = time.perf_counter()
    with torch.no_grad():
        model.generate(**kw, max_new_tokens=new, min_new_tokens=new, do_sample=False, eos_token_id=None,
                       pad_token_id=0)
    torch.cuda.synchronize()
    return time.perf_counter() - t


def bench_transformers(model, batch):
    kw = inputs(model, batch)
    timed_generate(model, kw, 8)  # warm-up
    torch.cuda.reset_peak_memory_stats()
    prefill, decode = [], []
    for _ in range(REPEAT):
        t1 = timed_generate(model, kw, 1)
        tn = timed_generate(model, kw, NEW)
        prefill.append(t1 * 1000)
        decode.append((NEW - 1) * batch / (tn - t1))
    return dict(prefill_ms=statistics.median(prefill), decode_tokens_per_s=statistics.median(decode),
                peak_bytes=torch.cuda.max_memory_allocated())


def bench_vlm(batch, eager=False, env=None, adapter=None):
    cmd = [os.path.join(build, "bin", "bench_generate"), MODEL_DIR, "--image-size", str(IMAGE), "--text-tokens",
           str(TEXT), "--new-tokens", str(NEW), "--batch", str(batch), "--repeat", str(REPEAT)]
    if eager:
        cmd.append("--eager")
    if adapter:
        cmd += ["--adapter", adapter]
    run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if run.returncode != 0:
        sys.exit("%s failed (%d): %s" % (" ".join(cmd), run.returncode, run.stderr.strip()))
    out = run.stdout
    print(out.strip())
    return json.loads(out.strip().splitlines()[-1])["summary"]


def host_cpu():
    """The host's CPU model: transformers' decoding is host-bound, so its speed (and every ratio) follows it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return "%s x%d" % (line.split(":", 1)[1].strip(), os.cpu_count())
    except OSError:
        pass
    return "unknown"


def copy_bandwidth():
    x = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    y = torch.empty_like(x)
    for _ in range(3):
        y.copy_(x)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(20):
        y.copy_(x)
    torch.cuda.synchronize()
    return 2 * x.numel() * 20 / (time.perf_counter() - t)  # bytes read + written per second


def main():
    model = make_model()
    lm = model.model.language_model
    # Bytes a decoding step must read: every language-model weight except the embedding lookup, plus the LM head
    # (tied: the embedding matrix once), plus the KV cache (about prompt + NEW/2 positions on average).
    lm_bytes = sum(p.numel() for n, p in lm.named_parameters() if "embed_tokens" not in n) * 2
    head_bytes = model.lm_head.weight.numel() * 2
    c = model.config.text_config
    kv_per_pos = 2 * c.num_hidden_layers * c.num_key_value_heads * (c.hidden_size // c.num_attention_heads) * 2
    prompt = 2 + (IMAGE // 14) ** 2 // 4 + TEXT
    bw = copy_bandwidth()
    results = dict(card=torch.cuda.get_device_name(), host_cpu=host_cpu(), torch=torch.__version__,
                   transformers=transformers.__version__, copy_bandwidth_gb_s=bw / 1e9, rows=[])
    for name in args.rows.split(","):
        lora = name == "lora"
        batch = 1 if lora else int(name)
        if lora:
            model = with_random_lora(model, ADAPTER_DIR)
        hf = bench_transformers(model, batch)
        ours = bench_vlm(batch, adapter=ADAPTER_DIR if lora else None)
        plain1 = batch == 1 and not lora
        eager = bench_vlm(batch, eager=True) if plain1 else None
        # The same graphed decoding with the kernels launched as plain (not programmatic dependent) launches.
        no_pdl = bench_vlm(batch, env={"VLM_PDL": "0"}) if plain1 else None
        bytes_per_step = lm_bytes + head_bytes + batch * kv_per_pos * (prompt + NEW // 2)
        roofline = bw / bytes_per_step * batch
        row = dict(batch=batch, lora=lora, transformers=hf, vlm=ours, vlm_eager=eager, vlm_no_pdl=no_pdl,
                   roofline_tokens_per_s=roofline,
                   decode_speedup=ours["decode_tokens_per_s"] / hf["decode_tokens_per_s"],
                   prefill_speedup=hf["prefill_ms"] / ours["prefill_ms"],
                   roofline_fraction=ours["decode_tokens_per_s"] / roofline)
        results["rows"].append(row)
        print(json.dumps(row), flush=True)
    print("card %s, copy bandwidth %.0f GB/s; host CPU %s" % (results["card"], bw / 1e9, results["host_cpu"]))
    print("%-6s %-17s %9s %16s %12s" % ("batch", "engine", "prefill ms", "decode tok/s", "peak GiB"))
    for row in results["rows"]:
        for name in ("transformers", "vlm", "vlm_eager", "vlm_no_pdl"):
            r = row[name]
            if r:
                label = {"transformers": "transformers+peft", "vlm": "vlm+lora"}[name] if row["lora"] else name
                print("%-6d %-17s %9.1f %16.1f %12.2f" % (row["batch"], label, r["prefill_ms"],
                                                          r["decode_tokens_per_s"], r["peak_bytes"] / 2 ** 30))
        print("       decode %.1fx, prefill %.1fx, roofline %.0f tok/s (%.0f%%)" % (
            row["decode_speedup"], row["prefill_speedup"], row["roofline_tokens_per_s"],
            100 * row["roofline_fraction"]))
    if out_json:
        with open(out_json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
