#!/usr/bin/env python3
"""The recipe of the bundled model, models/tiny-qwen2-vl-shapes: a tiny Qwen2-VL (about 5M parameters) that
vlm itself pretrains from random weights on synthetic shape scenes, until it describes them.

Runs on the GPU machine from the repository root, with a built `vlm` (CUDA) and the reference stack
(transformers, tokenizers, Pillow, torch; no network). Steps:
  1. data       `vlm data synth`: a mixed training set (describe / color / position), held-out sets of every
                task (count and shape included: the model never trains on them; the demo teaches shape with
                LoRA), and the text of the tokenizer's tasks
  2. tokenizer  a byte-level BPE trained with HF tokenizers on that text, with the Qwen2 pipeline (NFC, the
                Qwen2 split regex, ByteLevel) and the Qwen2-VL special tokens
  3. model      a Qwen2VLConfig with small dimensions and random weights, saved in the published Hugging Face
                layout (flat config.json, preprocessor_config.json with small max_pixels, chat_template.json with
                the real Qwen2-VL template, generation_config.json), float32
  4. pretrain   `vlm train --full-finetune --train-vision` on the GPU (every weight, vision tower included)
  5. ship       the published files of the result into OUT, nothing else
  6. evaluate   `vlm eval` on every held-out task (exact match, token accuracy, loss)
  7. parity     transformers loads OUT and greedy-generates answers for held-out samples of every task: they
                must equal vlm's (CUDA and CPU, float32)
  8. card       OUT/README.md (recipe, data, steps, accuracies); the folder must stay under 25 MB
A report (timings, accuracies, parity) is printed and written to WORK/report.json. Exit status 1 when the
parity check or the size limit fails (the folder is still written, so it can be inspected).

Usage (see scripts/gpu/make_tiny_model.sh, which runs it and packs the result):
  python3 scripts/demo/make_tiny_model.py BUILD_DIR OUT [--steps N] [--train-n N] [--reuse-run] ...
  e.g. python3 scripts/demo/make_tiny_model.py build-gpu models/tiny-qwen2-vl-shapes
"""
import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from PIL import Image  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers  # noqa: E402
from tokenizers import processors, trainers  # noqa: E402
from transformers import (AutoModelForImageTextToText, AutoProcessor, GenerationConfig,  # noqa: E402
                          AutoTokenizer, Qwen2VLConfig, Qwen2VLForConditionalGeneration)
# vlm's image processor is pixel-exact to transformers' PIL one (the torchvision default differs slightly).
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.path.join(REPO, "tests", "fixtures", "templates", "qwen2_vl.jinja")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
# Files of the published layout; anything else in the training output (metrics, checkpoints) stays behind.
PUBLISHED = ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
             "chat_template.json", "chat_template.jinja", "preprocessor_config.json", "processor_config.json",
             "special_tokens_map.json"]
SIZE_LIMIT = 25 * 1000 * 1000
IMAGE_SIZE = 112
HELD_OUT = {"describe": 101, "color": 102, "position": 103, "count": 104, "shape": 105}  # task -> seed


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("build_dir", help="vlm build folder (BUILD_DIR/bin/vlm, built with CUDA)")
    p.add_argument("out", help="where the published model folder goes (e.g. models/tiny-qwen2-vl-shapes)")
    p.add_argument("--work", help="scratch folder (default BUILD_DIR/tiny-model-work)")
    p.add_argument("--train-n", type=int, default=40000, help="mixed training samples")
    p.add_argument("--held-out-n", type=int, default=200, help="samples per held-out task")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--num-workers", type=int, default=12, help="vlm train's sample-encoding threads")
    p.add_argument("--warmup-steps", type=int, default=300)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--vocab", type=int, default=640, help="BPE vocabulary before the special tokens")
    p.add_argument("--tokenizer-tasks", default="describe,count,color,position",
                   help="tasks whose text trains the tokenizer")
    p.add_argument("--parity-samples", type=int, default=6, help="per held-out task, checked with transformers")
    p.add_argument("--train-timeout", type=int, default=0,
                   help="stop pretraining (with a checkpoint) after this many seconds; 0 = no limit")
    p.add_argument("--resume-run", action="store_true",
                   help="continue an interrupted pretraining from its newest checkpoint (same options)")
    p.add_argument("--reuse-run", action="store_true",
                   help="keep WORK's data, tokenizer and trained model when present (redo only ship/eval/parity)")
    return p.parse_args()


def log(*parts):
    print("[make_tiny_model %s]" % time.strftime("%H:%M:%S"), *parts, flush=True)


def run(cmd, **kwargs):
    log("$", " ".join(cmd))
    subprocess.run(cmd, check=True, **kwargs)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def text_of(message):
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


# ------------------------------------------------------------------------------------------------------------
# 1. data
# ------------------------------------------------------------------------------------------------------------
def make_data(vlm, work, args):
    sets = {"train": ("mixed", 1, args.train_n), "val": ("mixed", 100, 256)}
    for task, seed in HELD_OUT.items():
        sets["heldout-" + task] = (task, seed, args.held_out_n)
    for task in args.tokenizer_tasks.split(","):
        if task != "mixed":
            sets["text-" + task] = (task, 2, 5000)
    for name, (task, seed, n) in sets.items():
        folder = os.path.join(work, "data", name)
        if (args.reuse_run or args.resume_run) and os.path.exists(os.path.join(folder, "data.jsonl")):
            continue
        run([vlm, "data", "synth", "--task", task, "--n", str(n), "--seed", str(seed), "--out", folder,
             "--image-size", str(IMAGE_SIZE)], stdout=subprocess.DEVNULL)
    return {name: os.path.join(work, "data", name, "data.jsonl") for name in sets}


# ------------------------------------------------------------------------------------------------------------
# 2. tokenizer
# ------------------------------------------------------------------------------------------------------------
def tokenizer_corpus(paths):
    """The text pieces the model will see between special tokens: the template's fixed parts, questions and
    answers (see tests/fixtures/templates/qwen2_vl.jinja)."""
    fixed = ["system\nYou are a helpful assistant.", "\n", "user\n", "assistant\n"]
    corpus = []
    for path in paths:
        for line in read_jsonl(path):
            corpus.extend(fixed)
            corpus.extend(text_of(m) for m in line["messages"])
    return corpus


def make_tokenizer(corpus, vocab_size, folder):
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    t = Tokenizer(models.BPE(fuse_unk=False, byte_fallback=False))
    t.normalizer = normalizers.NFC()
    t.pre_tokenizer = pre
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    t.train_from_iterator(corpus, trainer=trainer)
    t.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    # Merges as legacy "a b" strings, the form published Qwen2 tokenizers use.
    d = json.loads(t.to_str())
    merges = d["model"]["merges"]
    if merges and isinstance(merges[0], list):
        d["model"]["merges"] = ["%s %s" % (a, b) for a, b in merges]
    os.makedirs(folder, exist_ok=True)
    Tokenizer.from_str(json.dumps(d, ensure_ascii=False)).save(os.path.join(folder, "tokenizer.json"))
    write_json(os.path.join(folder, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>", "unk_token": None, "clean_up_tokenization_spaces": False,
        "model_max_length": 32768, "split_special_tokens": False})
    return AutoTokenizer.from_pretrained(folder)


# ------------------------------------------------------------------------------------------------------------
# 3. model (published layout)
# ------------------------------------------------------------------------------------------------------------
def model_config(tokenizer):
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in [
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"),
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>")]}
    im_end, eot = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")
    # head_dim 64: mrope_section sums to 32 (temporal, height, width pairs of rotary frequencies).
    return Qwen2VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
                         max_position_embeddings=2048, bos_token_id=eot, eos_token_id=im_end, pad_token_id=eot,
                         rope_parameters={"rope_type": "default", "mrope_section": [8, 12, 12],
                                          "rope_theta": 10000.0}),
        vision_config=dict(depth=4, embed_dim=192, hidden_size=256, num_heads=3, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
        tie_word_embeddings=True, **ids), im_end, eot


def flatten_config(nested):
    """transformers 5's nested config -> the published hub layout (text keys at the top, rope_scaling,
    vision in_chans), the form the Qwen2-VL checkpoints on the hub have."""
    flat = {k: v for k, v in nested.items() if k != "text_config"}
    text = dict(nested["text_config"])
    rope = text.pop("rope_parameters", None) or {}
    for k in ("model_type", "architectures", "dtype", "torch_dtype", "transformers_version", "layer_types"):
        text.pop(k, None)
    flat.update(text)
    flat["rope_theta"] = rope.get("rope_theta", 1000000.0)
    flat["rope_scaling"] = {"type": "mrope", "mrope_section": rope["mrope_section"]}
    vision = dict(flat["vision_config"])
    vision["in_chans"] = vision.pop("in_channels")
    flat["vision_config"] = vision
    return flat


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def make_staging(staging, tokenizer):
    shutil.rmtree(staging, ignore_errors=True)
    config, im_end, eot = model_config(tokenizer)
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(config).eval()
    parameters = sum(p.numel() for p in model.parameters())
    model.save_pretrained(staging)
    with open(TEMPLATE) as f:
        template = f.read()
    image_processor = Qwen2VLImageProcessorPil(size={"shortest_edge": 56 * 56, "longest_edge": IMAGE_SIZE * IMAGE_SIZE})
    processor = transformers.Qwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                              video_processor=transformers.Qwen2VLVideoProcessor(),
                                              chat_template=template)
    processor.save_pretrained(staging)
    GenerationConfig(eos_token_id=[im_end, eot], pad_token_id=eot, bos_token_id=eot, do_sample=False,
                     temperature=None, top_p=None, top_k=None).save_pretrained(staging)
    # The published layout: flat config, preprocessor_config.json, chat_template.json.
    with open(os.path.join(staging, "config.json")) as f:
        write_json(os.path.join(staging, "config.json"), flatten_config(json.load(f)))
    ip = image_processor.to_dict()
    ip["min_pixels"], ip["max_pixels"] = ip["size"]["shortest_edge"], ip["size"]["longest_edge"]
    ip["image_processor_type"] = "Qwen2VLImageProcessor"
    ip["processor_class"] = "Qwen2VLProcessor"
    for name in ("processor_config.json", "chat_template.jinja", "preprocessor_config.json", "video_preprocessor_config.json"):
        if os.path.exists(os.path.join(staging, name)):
            os.remove(os.path.join(staging, name))
    write_json(os.path.join(staging, "preprocessor_config.json"), {k: v for k, v in ip.items() if not k.startswith("_")})
    write_json(os.path.join(staging, "chat_template.json"), {"chat_template": template})
    # transformers must read the flat folder as the same model.
    again = AutoModelForImageTextToText.from_pretrained(staging, dtype=torch.float32)
    for (name, a), (_, b) in zip(sorted(model.state_dict().items()), sorted(again.state_dict().items())):
        assert torch.equal(a, b), "staging weights changed on reload: " + name
    log("staging model: %d parameters, vocab %d" % (parameters, len(tokenizer)))
    return parameters


# ------------------------------------------------------------------------------------------------------------
# 4-8
# ------------------------------------------------------------------------------------------------------------
def pretrain(vlm, staging, run_dir, data, args):
    cmd = [vlm, "train", "--model", staging, "--data", data["train"], "--output", run_dir, "--full-finetune",
           "--train-vision", "--device", "cuda", "--dtype", "float32", "--steps", str(args.steps),
           "--batch-size", str(args.batch_size), "--num-workers", str(args.num_workers), "--lr", str(args.lr),
           "--lr-schedule", "cosine",
           "--warmup-steps", str(args.warmup_steps), "--weight-decay", str(args.weight_decay),
           "--val-data", data["val"], "--eval-every", str(args.eval_every), "--save-every", str(args.eval_every),
           "--keep-checkpoints", "1", "--log-every", "50", "--seed", "0"]
    checkpoints = sorted(glob.glob(os.path.join(run_dir, "checkpoints", "step-*")))
    if args.resume_run and checkpoints:
        log("resuming pretraining from " + checkpoints[-1])
        cmd += ["--resume", checkpoints[-1]]
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    log("$", " ".join(cmd))
    proc = subprocess.Popen(cmd)
    try:
        rc = proc.wait(timeout=args.train_timeout or None)
    except subprocess.TimeoutExpired:
        # vlm train finishes the step, saves a checkpoint (a whole model folder) and exits on SIGTERM. The recipe
        # ships that checkpoint, and --resume-run continues the run from it.
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        newest = sorted(glob.glob(os.path.join(run_dir, "checkpoints", "step-*")),
                        key=lambda d: int(d.rsplit("-", 1)[1]))
        if not newest:
            sys.exit("make_tiny_model: pretraining stopped after --train-timeout %d s without a checkpoint"
                     % args.train_timeout)
        log("pretraining stopped after --train-timeout %d s at %s; shipping it (continue with --resume-run)"
            % (args.train_timeout, os.path.basename(newest[-1])))
        return newest[-1]
    if rc != 0:
        raise subprocess.CalledProcessError(rc, cmd)
    return run_dir


def ship(run_dir, out):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for name in PUBLISHED:
        if os.path.exists(os.path.join(run_dir, name)):
            shutil.copyfile(os.path.join(run_dir, name), os.path.join(out, name))


def vlm_eval(vlm, model, data, json_path, device, batch_size, limit=0):
    cmd = [vlm, "eval", "--model", model, "--data", data, "--device", device, "--dtype", "float32",
           "--batch-size", str(batch_size), "--json", json_path, "--show", "2"]
    if limit:
        cmd += ["--limit", str(limit)]
    run(cmd)
    with open(json_path) as f:
        return json.load(f)


def transformers_answers(model_dir, data_path, n, device):
    processor = AutoProcessor.from_pretrained(model_dir)
    processor.image_processor = Qwen2VLImageProcessorPil.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).to(device).eval()
    base = os.path.dirname(data_path)
    answers = []
    for line in read_jsonl(data_path)[:n]:
        prompt_messages = line["messages"][:-1]
        images = [Image.open(os.path.join(base, p)).convert("RGB") for p in line["images"]]
        prompt = processor.apply_chat_template(prompt_messages, add_generation_prompt=True, tokenize=False)
        inputs = processor(text=[prompt], images=images, return_tensors="pt").to(device)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=64, do_sample=False)
        answers.append(processor.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    return answers


def model_card(out, report, args):
    acc = report["held_out"]
    rows = "\n".join("| %s | %d | %.1f%% | %.1f%% | %.3f |" % (t, r["samples"], 100 * r["exact_match"],
                                                              100 * r["token_accuracy"], r["loss"])
                     for t, r in acc.items())
    stopped = ""
    if report["steps_done"] < args.steps:
        stopped = (", stopped by the recipe's time limit after step %d (the checkpoint there is this model)"
                   % report["steps_done"])
    text = f"""---
license: apache-2.0
library_name: transformers
pipeline_tag: image-text-to-text
tags: [qwen2_vl, tiny, synthetic, vlmcpp]
---
# tiny-qwen2-vl-shapes

A tiny Qwen2-VL ({report['parameters'] / 1e6:.1f}M parameters, float32) that looks at synthetic scenes of flat
shapes and answers questions about them. It is vlmcpp's bundled default model: small enough to ship in the
repository and to fine-tune on a laptop CPU in minutes, real enough that `transformers` loads it and gives the same
answers as `vlm`.

It was trained from random weights by vlmcpp itself (`vlm train --full-finetune --train-vision`); the recipe is
`scripts/demo/make_tiny_model.py` (run on a GPU machine; it rebuilds this folder).

## What it knows
Images are {IMAGE_SIZE}x{IMAGE_SIZE} PNGs of 0-6 shapes (circle, square, triangle; red, green, blue, yellow,
purple, orange, black) on light backgrounds, made by `vlm data synth`. It was trained on the `mixed` task:
- describe: "Describe the image." -> "a red circle, an orange square and a black triangle."
- color: "What color is the square?" -> "red"
- position: "Where is the red square?" -> "top left" ... "bottom right" (3x3 grid)

It was never asked for the shape of an object of a given colour ("What shape is the red object?" -> "a circle"):
that is the held-out task the README's demo teaches it with a LoRA fine-tune on the CPU. Nor was it trained to
count ("How many circles are there?"), which is harder to teach it: it has never produced a digit.

## Architecture
Qwen2-VL: language model hidden 256, 4 layers, 4 attention heads (2 key/value heads), MLP 688, M-RoPE sections
[8, 12, 12], tied embeddings; vision tower 4 blocks, width 192, 3 heads, patch 14, 2x2 merge; images of at most
{IMAGE_SIZE}x{IMAGE_SIZE} pixels (16 image tokens). Tokenizer: byte-level BPE ({report['vocab']} tokens) trained
with HF tokenizers on the synthetic text with the Qwen2 pipeline (NFC, Qwen2 split regex, ByteLevel) and the
Qwen2-VL special tokens; the real Qwen2-VL chat template.

## Training
- data: `vlm data synth --task mixed --n {args.train_n} --seed 1 --image-size {IMAGE_SIZE}`
- `vlm train --full-finetune --train-vision --dtype float32 --steps {args.steps} --batch-size {args.batch_size}
  --lr {args.lr} --lr-schedule cosine --warmup-steps {args.warmup_steps} --weight-decay {args.weight_decay}
  --seed 0` on one {report['device']} ({report['timings_s']['pretrain']:.0f} s){stopped}; final training loss
  {report['final_train_loss']:.4f}

## Held-out accuracy
`vlm eval` (greedy, float32) on fresh sets (`vlm data synth --task T --n {args.held_out_n} --seed S`, seeds
{', '.join('%s %d' % kv for kv in HELD_OUT.items())}):

| task | samples | exact match | token accuracy | loss |
|---|---|---|---|---|
{rows}

transformers {transformers.__version__} (torch {torch.__version__}) loads this folder and its greedy answers
equal vlm's on {report['parity']['checked']} held-out samples: {report['parity']['equal']}.
"""
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(text)


def final_train_loss(run_dir):
    """The last logged training loss and its step."""
    last, step = None, 0
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            if "loss" in record:  # training steps; evaluations write eval_loss
                last, step = record["loss"], record.get("step", step)
    return (last if last is not None else float("nan")), step


def main():
    args = parse_args()
    vlm = os.path.abspath(os.path.join(args.build_dir, "bin", "vlm"))
    if not os.access(vlm, os.X_OK):
        sys.exit("make_tiny_model: %s is missing: build vlm first (VLM_NO_TESTS=1 scripts/gpu/build.sh)" % vlm)
    work = os.path.abspath(args.work or os.path.join(args.build_dir, "tiny-model-work"))
    out = os.path.abspath(args.out)
    staging, run_dir = os.path.join(work, "staging"), os.path.join(work, "run")
    os.makedirs(work, exist_ok=True)
    report = {"transformers": transformers.__version__, "torch": torch.__version__, "timings_s": {},
              "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}
    timings = report["timings_s"]

    t = time.time()
    data = make_data(vlm, work, args)
    timings["data"] = time.time() - t

    reuse = args.reuse_run and os.path.exists(os.path.join(run_dir, "model.safetensors"))
    t = time.time()
    if not reuse and not (args.resume_run and os.path.exists(os.path.join(staging, "config.json"))):
        texts = [data["text-" + task] for task in args.tokenizer_tasks.split(",") if "text-" + task in data]
        tokenizer = make_tokenizer(tokenizer_corpus([data["train"]] + texts), args.vocab,
                                   os.path.join(work, "tokenizer"))
        report["parameters"] = make_staging(staging, tokenizer)
        report["vocab"] = len(tokenizer)
    timings["tokenizer_and_model"] = time.time() - t

    seconds_file = os.path.join(run_dir, "pretrain_seconds.txt")
    trained = run_dir
    if not reuse:
        t = time.time()
        trained = pretrain(vlm, staging, run_dir, data, args)
        with open(seconds_file, "w") as f:
            f.write("%.1f\n" % (time.time() - t))
    with open(seconds_file) as f:
        timings["pretrain"] = float(f.read())
    report["final_train_loss"], report["steps_done"] = final_train_loss(run_dir)

    ship(trained, out)
    model = AutoModelForImageTextToText.from_pretrained(out, dtype=torch.float32)
    report["parameters"] = sum(p.numel() for p in model.parameters())
    report["vocab"] = len(AutoProcessor.from_pretrained(out).tokenizer)
    del model

    # Held-out accuracy (CUDA, float32).
    t = time.time()
    evals = {}
    report["held_out"] = {}
    for task in HELD_OUT:
        e = vlm_eval(vlm, out, data["heldout-" + task], os.path.join(work, "eval-%s.json" % task), "cuda", 32)
        evals[task] = e
        report["held_out"][task] = {k: e[k] for k in ("samples", "exact_match", "token_accuracy", "loss")}
    timings["eval"] = time.time() - t

    # Parity: transformers' greedy answers equal vlm's (CUDA batched, CPU one by one).
    t = time.time()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    mismatches, checked = [], 0
    for task in HELD_OUT:
        n = args.parity_samples
        hf = transformers_answers(out, data["heldout-" + task], n, device)
        cpu = vlm_eval(vlm, out, data["heldout-" + task], os.path.join(work, "parity-cpu-%s.json" % task), "cpu", 1, n)
        for i, want in enumerate(hf):
            checked += 1
            got_cuda, got_cpu = evals[task]["answers"][i]["generated"], cpu["answers"][i]["generated"]
            if not (want == got_cuda == got_cpu):
                mismatches.append({"task": task, "index": i, "transformers": want, "vlm_cuda": got_cuda,
                                   "vlm_cpu": got_cpu})
    report["parity"] = {"checked": checked, "equal": checked - len(mismatches), "mismatches": mismatches}
    timings["parity"] = time.time() - t

    model_card(out, report, args)
    sizes = {name: os.path.getsize(os.path.join(out, name)) for name in sorted(os.listdir(out))}
    report["files"] = sizes
    report["total_bytes"] = sum(sizes.values())
    with open(os.path.join(work, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    for name, size in sizes.items():
        log("%10d  %s" % (size, name))
    log("total %.2f MB (limit %.0f MB)" % (report["total_bytes"] / 1e6, SIZE_LIMIT / 1e6))
    for task, r in report["held_out"].items():
        log("held-out %-9s exact match %.3f  token accuracy %.3f  loss %.4f" %
            (task, r["exact_match"], r["token_accuracy"], r["loss"]))
    log("parity with transformers: %d of %d equal" % (report["parity"]["equal"], checked))
    for m in mismatches:
        log("  MISMATCH", json.dumps(m))
    log("report:", os.path.join(work, "report.json"))
    failed = []
    if mismatches:
        failed.append("transformers and vlm disagree on %d answers" % len(mismatches))
    if report["total_bytes"] > SIZE_LIMIT:
        failed.append("the folder is %d bytes, over the %d limit" % (report["total_bytes"], SIZE_LIMIT))
    if failed:
        sys.exit("make_tiny_model: FAILED: " + "; ".join(failed))


if __name__ == "__main__":
    main()
