// Token-level generation as a step iterator: construction runs the prompt (prefill), each step() samples one token
// per row and feeds it back through the KV cache. Rows stop at an EOS id, at max_new_tokens, or when the caller
// stops them (stop strings are checked on text, one level up).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "generate/decode_runner.h"
#include "generate/sampling.h"
#include "models/model.h"

namespace vlm::gen {

struct StopCriteria {
  std::vector<int64_t> eos_ids;
  int64_t max_new_tokens = 256;
};

// How decoding runs. A fixed-capacity KV cache (prompt + max_new_tokens positions) gives every step the same
// shapes, which on CUDA lets one step be captured as a CUDA graph and replayed.
struct DecodeOptions {
  bool fixed_cache = true;
  bool cuda_graph = true;
};

struct GenerationStats {
  int64_t prompt_tokens = 0;  // real (unpadded) tokens over all rows
  double prefill_ms = 0;      // prompt through the model, first token's logits included
  int64_t decode_steps = 0;   // tokens delivered after the first
  double decode_ms = 0;       // from the end of prefill to the last token delivered (wall time)
};

class Generation {
 public:
  Generation(Model& model, const Batch& batch, SamplingParams params, StopCriteria stop, DecodeOptions options = {});
  ~Generation();

  bool done() const;
  // Samples the next token of every running row and advances. Returns one id per row; -1 for rows already done.
  std::vector<int64_t> step();
  // Marks a row finished (a stop string matched); its later steps return -1.
  void stop_row(size_t row) { finished_[row] = true; }
  bool row_done(size_t row) const { return finished_[row]; }
  // The tokens generated so far per row (EOS included if it ended a row).
  const std::vector<std::vector<int64_t>>& generated() const { return generated_; }
  const GenerationStats& stats() const { return stats_; }
  bool graphed() const;

 private:
  Model& model_;
  SamplingParams params_;
  StopCriteria stop_;
  DecodeState state_;
  std::unique_ptr<DecodeRunner> runner_;
  at::Generator rng_;
  at::Tensor next_logits_;  // [B, V] for the token to sample next
  std::vector<std::vector<int64_t>> context_, generated_;
  std::vector<bool> finished_;
  int64_t produced_ = 0;  // tokens per row picked on the host or queued on the device
  std::chrono::steady_clock::time_point decode_start_;
  GenerationStats stats_;
  static constexpr size_t kStepsAhead = 3;  // chained greedy steps queued ahead of the host
};

}  // namespace vlm::gen
