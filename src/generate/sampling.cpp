#include "generate/sampling.h"

#include <limits>
#include <random>

#include <ATen/CPUGeneratorImpl.h>

#include "core/error.h"

namespace vlm::gen {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

}  // namespace

void validate(const SamplingParams& p) {
  VLM_CHECK(p.temperature >= 0.0 && std::isfinite(p.temperature), "temperature must be >= 0, got ", p.temperature);
  VLM_CHECK(p.top_k >= 0, "top_k must be >= 0, got ", p.top_k);
  VLM_CHECK(p.top_p > 0.0 && p.top_p <= 1.0, "top_p must be in (0, 1], got ", p.top_p);
  VLM_CHECK(p.min_p >= 0.0 && p.min_p <= 1.0, "min_p must be in [0, 1], got ", p.min_p);
  VLM_CHECK(p.repetition_penalty > 0.0 && std::isfinite(p.repetition_penalty),
            "repetition_penalty must be > 0, got ", p.repetition_penalty);
  VLM_CHECK(std::isfinite(p.presence_penalty) && p.presence_penalty >= -2.0 && p.presence_penalty <= 2.0,
            "presence_penalty must be in [-2, 2], got ", p.presence_penalty);
  VLM_CHECK(std::isfinite(p.frequency_penalty) && p.frequency_penalty >= -2.0 && p.frequency_penalty <= 2.0,
            "frequency_penalty must be in [-2, 2], got ", p.frequency_penalty);
}

at::Tensor process_logits(const at::Tensor& logits, const std::vector<std::vector<int64_t>>& context,
                          const std::vector<std::vector<int64_t>>& generated, const SamplingParams& p) {
  at::Tensor scores = logits.to(at::kFloat).clone();
  const int64_t b = scores.size(0), v = scores.size(1);
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(scores.device());

  if (p.repetition_penalty != 1.0) {
    // Every distinct token of prompt + output, as transformers' RepetitionPenaltyLogitsProcessor.
    for (int64_t i = 0; i < b; ++i) {
      std::vector<int64_t> seen = context[static_cast<size_t>(i)];
      const auto& g = generated[static_cast<size_t>(i)];
      seen.insert(seen.end(), g.begin(), g.end());
      if (seen.empty()) continue;
      const at::Tensor idx = at::tensor(seen, long_opts).clamp(0, v - 1);
      const at::Tensor row = scores[i];
      const at::Tensor s = row.index_select(0, idx);
      row.index_put_({idx}, at::where(s < 0, s * p.repetition_penalty, s / p.repetition_penalty));
    }
  }
  if (p.presence_penalty != 0.0 || p.frequency_penalty != 0.0) {
    for (int64_t i = 0; i < b; ++i) {
      const auto& g = generated[static_cast<size_t>(i)];
      if (g.empty()) continue;
      const at::Tensor counts = at::zeros({v}, scores.options()).index_add_(
          0, at::tensor(g, long_opts).clamp(0, v - 1), at::ones({static_cast<int64_t>(g.size())}, scores.options()));
      scores[i] -= counts * p.frequency_penalty + (counts > 0).to(at::kFloat) * p.presence_penalty;
    }
  }
  if (p.greedy()) return scores;

  if (p.temperature != 1.0) scores = scores / p.temperature;
  if (p.top_k > 0 && p.top_k < v) {
    const at::Tensor kth = std::get<0>(scores.topk(p.top_k, -1)).select(-1, p.top_k - 1).unsqueeze(-1);
    scores = scores.masked_fill(scores < kth, kNegInf);
  }
  if (p.top_p < 1.0) {
    // Sort ascending; drop the tokens whose cumulative probability stays <= 1 - top_p; keep at least one.
    auto [sorted, order] = scores.sort(-1, /*descending=*/false);
    const at::Tensor cum = sorted.softmax(-1).cumsum(-1);
    at::Tensor drop = cum <= (1.0 - p.top_p);
    drop.select(-1, v - 1).fill_(false);
    scores = scores.masked_fill(at::zeros_like(drop).scatter(-1, order, drop), kNegInf);
  }
  if (p.min_p > 0.0) {
    const at::Tensor probs = scores.softmax(-1);
    const at::Tensor threshold = std::get<0>(probs.max(-1, true)) * p.min_p;
    at::Tensor drop = probs < threshold;
    // Keep at least the most likely token.
    drop.scatter_(-1, probs.argmax(-1, true), false);
    scores = scores.masked_fill(drop, kNegInf);
  }
  return scores;
}

at::Generator make_generator(const SamplingParams& p) {
  const uint64_t seed = p.seed ? *p.seed : std::random_device{}();
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

at::Tensor sample(const at::Tensor& scores, const SamplingParams& p, at::Generator& generator) {
  if (p.greedy()) return scores.argmax(-1);
  // Draw on the CPU with our generator so that a seed gives the same tokens on every device.
  const at::Tensor probs = scores.softmax(-1).to(at::kCPU, at::kDouble);
  return at::multinomial(probs, 1, false, generator).squeeze(-1).to(scores.device());
}

}  // namespace vlm::gen
