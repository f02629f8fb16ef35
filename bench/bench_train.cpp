// LoRA training-step speed on a checkpoint folder with fixed inputs written by scripts/bench/train_lora.py (the
// same batches the transformers + PEFT side trains on), starting from a PEFT adapter, so both runs' losses can be
// compared step by step.
//   bench_train MODEL_DIR ADAPTER_DIR INPUTS.safetensors [--lr 1e-4] [--max-grad-norm 1] [--timed-from 5]
//               [--gradient-checkpointing]
// INPUTS holds input_ids, labels [S, B, L] (int64) and pixel_values [S, B * P, C] with image_grid_thw [B, 3] (the
// same grid for every step). Each step: forward (vision tower + language model), the loss over labelled positions
// (vlm's chunked LM-head loss), backward, global-norm clipping, AdamW. Prints one JSON line per step and a summary:
// median step time over steps >= --timed-from, tokens per second, peak memory.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "bench_util.h"
#include "core/error.h"
#include "core/memory.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "lora/adapter_io.h"
#include "models/registry.h"
#include "train/loss.h"
#include "train/optimizer.h"

namespace {

struct Args {
  std::string model, adapter, inputs;
  double lr = 1e-4, max_grad_norm = 1.0;
  int64_t timed_from = 5;
  bool gradient_checkpointing = false;
};

void sync(const at::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"LoRA training-step speed on fixed inputs", "bench_train"};
  app.add_option("model", a.model, "Checkpoint folder")->required();
  app.add_option("adapter", a.adapter, "Initial PEFT adapter folder")->required();
  app.add_option("inputs", a.inputs, "Batches (safetensors)")->required();
  app.add_option("--lr", a.lr);
  app.add_option("--max-grad-norm", a.max_grad_norm);
  app.add_option("--timed-from", a.timed_from, "First step counted in the timing (earlier ones warm up)");
  app.add_flag("--gradient-checkpointing", a.gradient_checkpointing);
  CLI11_PARSE(app, argc, argv);
  try {
    const at::Device device(at::kCUDA);
    const vlm::LoadedModel loaded = vlm::load_model(a.model, {at::kBFloat16, device});
    vlm::Model& model = *loaded.model;
    model.set_gradient_checkpointing(a.gradient_checkpointing);
    auto adapter = vlm::lora::load_adapter(a.adapter, model, *loaded.family);
    std::vector<std::pair<std::string, at::Tensor>> params;
    for (auto& item : model.named_parameters())
      if (item.value().requires_grad()) params.emplace_back(item.key(), item.value());
    vlm::train::AdamW optimizer(params, {0.9, 0.999, 1e-8, 0.0});
    std::vector<at::Tensor> trainable;
    for (auto& [name, p] : params) trainable.push_back(p);

    const auto ckpt = vlm::safetensors::Checkpoint::open(a.inputs);
    const at::Tensor ids = vlm::to_torch(ckpt, "input_ids"), labels = vlm::to_torch(ckpt, "labels");
    const at::Tensor pixels = vlm::to_torch(ckpt, "pixel_values"), grid = vlm::to_torch(ckpt, "image_grid_thw");
    const int64_t steps = ids.size(0), batch = ids.size(1), length = ids.size(2);
    VLM_CHECK(labels.sizes() == ids.sizes() && pixels.size(0) == steps, a.inputs, ": inconsistent shapes");

    model.train();
    vlm::reset_peak_memory(device);
    std::vector<double> times;
    for (int64_t s = 0; s < steps; ++s) {
      vlm::Batch b;
      b.input_ids = ids[s].to(device);
      b.attention_mask = at::ones_like(b.input_ids);
      b.pixel_values = pixels[s].to(device, at::kBFloat16);
      b.image_grid_thw = grid;
      const at::Tensor step_labels = labels[s].to(device);
      sync(device);
      const auto start = std::chrono::steady_clock::now();
      const vlm::train::LossSums sums =
          vlm::train::causal_lm_loss(model, model.forward_hidden(b, nullptr), step_labels);
      const at::Tensor loss = sums.loss_sum / static_cast<double>(sums.tokens);
      loss.backward();
      const double norm = torch::nn::utils::clip_grad_norm_(trainable, a.max_grad_norm, 2.0);
      optimizer.step(a.lr);
      optimizer.zero_grad();
      sync(device);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (s >= a.timed_from) times.push_back(ms);
      std::printf("{\"step\": %lld, \"loss\": %.6f, \"grad_norm\": %.6f, \"ms\": %.2f}\n", static_cast<long long>(s + 1),
                  loss.item<double>(), norm, ms);
    }
    const double step_ms = vlm::bench::median(times);
    std::printf("{\"summary\": {\"steps\": %lld, \"batch\": %lld, \"length\": %lld, \"step_ms\": %.2f, "
                "\"tokens_per_s\": %.1f, \"peak_bytes\": %lld, \"trainable\": %lld}}\n",
                static_cast<long long>(steps), static_cast<long long>(batch), static_cast<long long>(length), step_ms,
                static_cast<double>(batch * length) * 1000.0 / step_ms,
                static_cast<long long>(vlm::peak_memory_bytes(device)),
                static_cast<long long>(vlm::lora::count_parameters(model, true)));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
  return 0;
}
