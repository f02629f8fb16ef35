#!/usr/bin/env python3
"""Adapters trained by vlm, read by the Python stack: run on the GPU machine after building vlm (CPU is enough).

For a LoRA adapter (language model) and a DoRA adapter (language model + vision tower), each trained for a few
steps by `vlm train` on tests/fixtures/peft_train/data.jsonl from the tiny Qwen2-VL chat model:
  1. PEFT loads the adapter (PeftModel.from_pretrained) and its teacher-forced loss on the data equals the loss
     `vlm eval --adapter` reports (the labels: every assistant turn, as make_peft_train_fixtures.py computes them);
  2. PEFT's greedy answers equal vlm's;
  3. `vlm fuse` writes a checkpoint that transformers loads (AutoModelForImageTextToText) with the same loss and the
     same greedy answers.
Prints one line per check and writes a JSON report; exits non-zero if any check fails.

Usage: python3 scripts/interop/check_adapters.py BUILD_DIR [REPORT_JSON]
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from peft import PeftModel
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
if len(sys.argv) < 2:
    print(__doc__)
    sys.exit(2)
BUILD = sys.argv[1]
REPORT = sys.argv[2] if len(sys.argv) > 2 else None
sys.argv = [sys.argv[0], "tests/fixtures"]  # make_peft_train_fixtures reads its root from argv
from make_peft_train_fixtures import labelled_ids  # noqa: E402

BASE = "tests/fixtures/tiny-qwen2-vl-chat"
DATA = "tests/fixtures/peft_train/data.jsonl"
VLM = os.path.join(BUILD, "bin", "vlm")
NEW_TOKENS = 16
TOLERANCE = 1e-4


def vlm(*args):
    subprocess.run([VLM, *args], check=True, stdout=subprocess.DEVNULL)


def samples():
    with open(DATA) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    folder = os.path.dirname(DATA)
    return [(r["messages"], [Image.open(os.path.join(folder, p)).convert("RGB") for p in r["images"]]) for r in rows]


def python_loss_and_answers(model, processor):
    total, tokens, answers = 0.0, 0, []
    with torch.no_grad():
        for messages, images in samples():
            inputs, labels = labelled_ids(processor, messages, images)
            logits = model(**inputs).logits[0].float()
            target = labels[1:]
            keep = target != -100
            total += torch.nn.functional.cross_entropy(logits[:-1][keep], target[keep], reduction="sum").item()
            tokens += int(keep.sum())
            last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
            prompt = messages[:last]
            n_images = sum(1 for m in prompt for p in m["content"] if isinstance(p, dict) and p.get("type") == "image")
            text = processor.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
            enc = processor(text=[text], images=images[:n_images] or None, return_tensors="pt")
            out = model.generate(**enc, max_new_tokens=NEW_TOKENS, do_sample=False)
            answers.append(processor.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    return total / tokens, answers


def main():
    processor = AutoProcessor.from_pretrained(BASE)
    processor.image_processor = Qwen2VLImageProcessorPil.from_pretrained(BASE)
    tmp = tempfile.mkdtemp(prefix="vlm-interop-")
    report, ok = [], True
    for name, extra in [("lora", []), ("dora_vision", ["--dora", "--train-vision"])]:
        out = os.path.join(tmp, name)
        vlm("train", "--model", BASE, "--data", DATA, "--output", out, "--steps", "8", "--lr", "5e-3", "--device",
            "cpu", "--rank", "4", "--alpha", "8", "--seed", "1", *extra)
        vlm("eval", "--model", BASE, "--adapter", out, "--data", DATA, "--device", "cpu", "--dtype", "float32",
            "--max-new-tokens", str(NEW_TOKENS), "--json", os.path.join(out, "eval.json"))
        with open(os.path.join(out, "eval.json")) as f:
            ours = json.load(f)
        base = AutoModelForImageTextToText.from_pretrained(BASE, dtype=torch.float32).eval()
        peft_model = PeftModel.from_pretrained(base, out).eval()
        peft_loss, peft_answers = python_loss_and_answers(peft_model, processor)
        fused_dir = os.path.join(tmp, name + "-fused")
        vlm("fuse", "--model", BASE, "--adapter", out, "--out", fused_dir)
        fused = AutoModelForImageTextToText.from_pretrained(fused_dir, dtype=torch.float32).eval()
        fused_loss, fused_answers = python_loss_and_answers(fused, processor)
        our_answers = [a["generated"] for a in ours["answers"]]
        checks = {
            "peft_loss_matches_vlm": abs(peft_loss - ours["loss"]) <= TOLERANCE * abs(peft_loss),
            "peft_answers_match_vlm": peft_answers == our_answers,
            "fused_loss_matches_vlm": abs(fused_loss - ours["loss"]) <= TOLERANCE * abs(peft_loss),
            "fused_answers_match_vlm": fused_answers == our_answers,
        }
        row = dict(adapter=name, vlm_loss=ours["loss"], peft_loss=peft_loss, fused_loss=fused_loss,
                   vlm_answers=our_answers, peft_answers=peft_answers, fused_answers=fused_answers, **checks)
        report.append(row)
        for k, v in checks.items():
            print("%-12s %-26s %s" % (name, k, "ok" if v else "FAILED"))
            ok &= v
        print("%-12s losses: vlm %.6f  PEFT %.6f  fused (transformers) %.6f" % (name, ours["loss"], peft_loss,
                                                                               fused_loss))
    if REPORT:
        with open(REPORT, "w") as f:
            json.dump(report, f, indent=1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
