#include "generate/generation.h"

#include <algorithm>
#include <chrono>

#include <torch/cuda.h>

#include "core/error.h"

namespace vlm::gen {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

void sync(const at::Tensor& t) {
  if (t.is_cuda()) torch::cuda::synchronize(t.device().index());
}

bool plain_greedy(const SamplingParams& p) {
  return p.greedy() && p.repetition_penalty == 1.0 && p.presence_penalty == 0.0 && p.frequency_penalty == 0.0;
}

}  // namespace

Generation::Generation(Model& model, const Batch& batch, SamplingParams params, StopCriteria stop,
                       DecodeOptions options)
    : model_(model), params_(params), stop_(std::move(stop)), rng_(make_generator(params)) {
  validate(params_);
  VLM_CHECK(stop_.max_new_tokens >= 0, "max_new_tokens must be >= 0, got ", stop_.max_new_tokens);
  const int64_t b = batch.input_ids.size(0), l = batch.input_ids.size(1);
  const at::Tensor ids = batch.input_ids.to(at::kCPU).to(at::kLong).contiguous();
  const at::Tensor mask = batch.attention_mask.defined() ? batch.attention_mask.to(at::kCPU).to(at::kLong).contiguous()
                                                         : at::ones({b, l}, at::kLong);
  context_.resize(static_cast<size_t>(b));
  const auto id_at = ids.accessor<int64_t, 2>();
  const auto mask_at = mask.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i)
    for (int64_t j = 0; j < l; ++j)
      if (mask_at[i][j]) {
        context_[static_cast<size_t>(i)].push_back(id_at[i][j]);
        ++stats_.prompt_tokens;
      }
  generated_.resize(static_cast<size_t>(b));
  finished_.assign(static_cast<size_t>(b), stop_.max_new_tokens == 0);

  if (options.fixed_cache) state_.capacity = l + std::max<int64_t>(stop_.max_new_tokens, 1);
  runner_ = std::make_unique<DecodeRunner>(model_, state_, options.cuda_graph, plain_greedy(params_));
  const auto start = Clock::now();
  const at::Tensor hidden = model_.forward_hidden(batch, &state_);
  next_logits_ = model_.logits(hidden.select(1, l - 1));
  sync(next_logits_);
  stats_.prefill_ms = ms_since(start);
  decode_start_ = Clock::now();
}

Generation::~Generation() = default;

bool Generation::graphed() const { return runner_->graphed(); }

bool Generation::done() const {
  return std::all_of(finished_.begin(), finished_.end(), [](bool f) { return f; });
}

std::vector<int64_t> Generation::step() {
  const size_t b = finished_.size();
  std::vector<int64_t> out(b, -1);
  if (done()) return out;
  const bool first = produced_ == 0;
  std::vector<int64_t> picked;
  if (runner_->queued() > 0) {
    picked = runner_->take();
  } else {
    // Plain greedy needs no processed scores (argmax of the logits is argmax of anything monotone in them).
    const at::Tensor ids = (plain_greedy(params_) ? next_logits_.argmax(-1)
                                                  : sample(process_logits(next_logits_, context_, generated_, params_),
                                                           params_, rng_))
                               .to(at::kCPU)
                               .to(at::kLong)
                               .contiguous();
    picked.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
    produced_ += 1;
  }
  for (size_t i = 0; i < b; ++i) {
    if (finished_[i]) continue;
    const int64_t tok = picked[i];
    out[i] = tok;
    generated_[i].push_back(tok);
    if (std::find(stop_.eos_ids.begin(), stop_.eos_ids.end(), tok) != stop_.eos_ids.end() ||
        static_cast<int64_t>(generated_[i].size()) >= stop_.max_new_tokens)
      finished_[i] = true;
  }
  if (!first) {
    stats_.decode_steps += 1;
    stats_.decode_ms = ms_since(decode_start_);
  }
  if (done()) return out;
  if (runner_->chains()) {
    // The graph feeds each step its own argmax: keep a few steps queued ahead of the host. Rows that finish
    // meanwhile decode on harmlessly; steps queued past the end are never taken.
    while (runner_->queued() < kStepsAhead && produced_ < stop_.max_new_tokens) {
      runner_->advance();
      produced_ += 1;
    }
    return out;
  }
  // Finished rows keep decoding a harmless token so the batch stays rectangular; their output is ignored.
  std::vector<int64_t> feed(b);
  for (size_t i = 0; i < b; ++i) feed[i] = out[i] >= 0 ? out[i] : generated_[i].empty() ? 0 : generated_[i].back();
  const at::Tensor tokens = at::tensor(feed, at::TensorOptions().dtype(at::kLong))
                                .view({static_cast<int64_t>(b), 1})
                                .to(next_logits_.device());
  next_logits_ = runner_->step(tokens);
  // A step just captured with greedy feedback has already written the next token on the device.
  if (runner_->chains()) {
    runner_->queue_next();
    produced_ += 1;
  } else {
    sync(next_logits_);
  }
  return out;
}

}  // namespace vlm::gen
