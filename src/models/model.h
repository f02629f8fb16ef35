// The interface every vision-language model family implements, used by generation and training.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/error.h"
#include "nn/attention.h"

namespace vlm {

// A batch as the processor produces it. Sequences are left-padded for generation (attention_mask 0 = pad).
struct Batch {
  at::Tensor input_ids;       // [B, L] int64
  at::Tensor attention_mask;  // [B, L] int64, 1 = token; undefined = no padding
  at::Tensor pixel_values;    // family-specific layout (Qwen2-VL: [patches, C*T*P*P]); undefined = no images
  at::Tensor image_grid_thw;  // [images, 3] int64 (Qwen2-VL family)
  // Training without padding: one row (B = 1, no attention_mask) holding samples of these lengths back to back;
  // positions restart and attention stays within each sample. Empty: one sample per row.
  std::vector<int64_t> packed_lengths;
};

// How much of a training step's activations is formed again in backward instead of kept, from least to most memory
// saved (and compute added):
//   kNone     everything is kept;
//   kMlp      each decoder layer's MLP keeps only its input, and backward forms the gate/up product (most of a
//             layer's activations) again: one product more a layer, where kLayer runs the whole layer again (the
//             whole MLP where LoRA's fused MLP node does not apply: DoRA, a trained base, another activation);
//   kLayer    each decoder layer keeps only its input and runs again in backward (nn/checkpoint.h);
//   kOffload  kLayer with those inputs in pinned CPU memory: the longest sequences.
enum class CheckpointLevel { kNone, kMlp, kLayer, kOffload };

inline const char* checkpoint_level_name(CheckpointLevel level) {
  switch (level) {
    case CheckpointLevel::kMlp: return "mlp";
    case CheckpointLevel::kLayer: return "layer";
    case CheckpointLevel::kOffload: return "offload";
    default: return "none";
  }
}

inline CheckpointLevel checkpoint_level_from_name(const std::string& name) {
  for (const CheckpointLevel level :
       {CheckpointLevel::kNone, CheckpointLevel::kMlp, CheckpointLevel::kLayer, CheckpointLevel::kOffload})
    if (name == checkpoint_level_name(level)) return level;
  fail("checkpoint level ", quote(name), " is not one of none, mlp, layer, offload");
}

// What a decoding loop carries between steps. Set `capacity` before forward_hidden to get a fixed-capacity cache
// (see nn::KVCache): decoding steps then have static shapes and keep their counters on the device, so a step can
// be captured once in a CUDA graph and replayed.
struct DecodeState {
  nn::KVCache cache;
  at::Tensor attention_mask;  // [B, T] int64 over every position seen so far; fixed cache: [B, capacity] bool
  at::Tensor rope_deltas;     // [B] int64 (M-RoPE families)
  int64_t length = 0;         // positions in the cache (decode_hidden adds its tokens)
  int64_t capacity = 0;       // 0 = growing cache; N = fixed cache of N positions
  at::Tensor slot;            // fixed cache: [1] int64 on the device, where the next decoding step writes

  // A decoding step past a fixed cache's end would mark no position and attend stale keys: an error instead.
  void require_room() const {
    VLM_CHECK(capacity == 0 || length < capacity, "decoding step at position ", length,
              " does not fit the fixed KV cache of ", capacity, " positions");
  }
};

class Model : public torch::nn::Module {
 public:
  // Runs the whole prompt; returns the final hidden states [B, L, hidden]. With a state, fills its cache.
  virtual at::Tensor forward_hidden(const Batch& batch, DecodeState* state) = 0;
  // One decoding step for tokens [B, 1]; returns hidden states [B, 1, hidden]. With a fixed cache the step reads
  // and advances only device-side state (slot, mask), so it can be captured and replayed.
  virtual at::Tensor decode_hidden(const at::Tensor& tokens, DecodeState& state) = 0;
  // hidden [..., hidden] -> logits [..., vocab].
  virtual at::Tensor logits(const at::Tensor& hidden) = 0;
  // The LM head's weight [vocab, hidden] when logits(h) is exactly h times it transposed (no bias, no adapter);
  // undefined otherwise. Lets the training loss fuse the head with the cross-entropy.
  virtual at::Tensor plain_lm_head_weight() { return {}; }
  virtual int64_t vocab_size() const = 0;
  virtual int64_t num_layers() const = 0;
  // Training: which activations backward forms again instead of keeping them (CheckpointLevel; kNone by default).
  virtual void set_checkpoint_level(CheckpointLevel /*level*/) {}
};

}  // namespace vlm
