"""Model shapes of the GPU benchmarks (random weights, published flat config layout): Qwen2-VL-2B and -7B."""
import os

import torch
from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

VISION = {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_chans": 3, "patch_size": 14,
          "spatial_merge_size": 2, "temporal_patch_size": 2}
COMMON = {"architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl", "hidden_act": "silu",
          "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "max_position_embeddings": 32768, "bos_token_id": 151643,
          "eos_token_id": 151645, "vision_start_token_id": 151652, "vision_end_token_id": 151653,
          "image_token_id": 151655, "video_token_id": 151656,
          "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}}
QWEN2_VL_2B = dict(COMMON, hidden_size=1536, intermediate_size=8960, num_attention_heads=12, num_hidden_layers=28,
                   num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True,
                   vision_config=dict(VISION, hidden_size=1536))
QWEN2_VL_7B = dict(COMMON, hidden_size=3584, intermediate_size=18944, num_attention_heads=28, num_hidden_layers=28,
                   num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False,
                   vision_config=dict(VISION, hidden_size=3584))


def make_model(config, folder, dtype=torch.bfloat16, seed=0):
    """The model on CUDA in `dtype` (SDPA attention), with random weights from `seed`; saved to `folder` unless a
    config.json is already there (same seed, same weights)."""
    torch.manual_seed(seed)
    c = Qwen2VLConfig(**config)
    c._attn_implementation = "sdpa"
    with torch.device("cuda"):
        model = Qwen2VLForConditionalGeneration(c).to(dtype)
    if not os.path.exists(os.path.join(folder, "config.json")):
        model.save_pretrained(folder)
    return model


LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def with_random_lora(model, folder, seed=1):
    """The PEFT model of `model` with LoRA r16 / alpha 32 (no dropout) on every language-model linear, B random (so
    that it changes the output), applied and not merged (as PeftModel.from_pretrained gives it); saved to `folder`."""
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(seed)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=LORA_TARGETS))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.02)
    model.save_pretrained(folder)
    return model.eval()
