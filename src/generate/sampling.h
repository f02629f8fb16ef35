// Logits processors and samplers, with transformers' semantics where transformers has the option (repetition
// penalty over prompt and output, then temperature, top-k, top-p, min-p), and OpenAI's presence / frequency
// penalties over the generated tokens.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <ATen/ATen.h>

namespace vlm::gen {

struct SamplingParams {
  double temperature = 1.0;         // 0 = greedy
  int64_t top_k = 0;                // 0 = off
  double top_p = 1.0;               // 1 = off
  double min_p = 0.0;               // 0 = off
  double repetition_penalty = 1.0;  // 1 = off (transformers: divides positive logits, multiplies negative ones)
  double presence_penalty = 0.0;    // OpenAI: minus this once for every token already generated
  double frequency_penalty = 0.0;   // OpenAI: minus this times the count of each generated token
  std::optional<uint64_t> seed;     // none = nondeterministic
  bool greedy() const { return temperature <= 0.0; }
};

// Checks ranges (temperature >= 0, top_p in (0, 1], ...); errors name the parameter.
void validate(const SamplingParams& p);

// logits [B, V] (any float dtype) -> float32 scores after penalties and warpers. `context[b]` holds the prompt
// tokens and `generated[b]` the tokens generated so far for row b.
at::Tensor process_logits(const at::Tensor& logits, const std::vector<std::vector<int64_t>>& context,
                          const std::vector<std::vector<int64_t>>& generated, const SamplingParams& p);

// Picks one token per row from processed scores [B, V]: argmax when greedy, else a draw from softmax(scores).
at::Tensor sample(const at::Tensor& scores, const SamplingParams& p, at::Generator& generator);

at::Generator make_generator(const SamplingParams& p);

}  // namespace vlm::gen
