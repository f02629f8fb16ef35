"""The transformers + PEFT side shared by the training benchmarks: LoRA r16 / alpha 32 (no dropout unless asked) on
every language-model linear, AdamW (lr 1e-4, no weight decay) and one timed training step with clipping at 1.0."""
import time

import torch
from peft import LoraConfig, get_peft_model

from shapes import LORA_TARGETS as TARGETS


def lora_model(model, adapter_dir, dropout=0.0):
    """The PEFT model, its initial adapter saved to adapter_dir (vlm starts from it, with the same lora_dropout), its
    trainable parameters and their optimizer."""
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=dropout, target_modules=TARGETS))
    model.save_pretrained(adapter_dir)
    params = [p for p in model.parameters() if p.requires_grad]
    return model, params, torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)


def train_step(model, params, opt, kw):
    """One step on the batch kw: forward, backward, clipping, AdamW. Returns (loss, milliseconds)."""
    torch.cuda.synchronize()
    t = time.perf_counter()
    loss = model(**kw).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    return loss.item(), (time.perf_counter() - t) * 1000
