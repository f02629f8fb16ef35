// LoRA training-step speed, starting from a PEFT adapter, in one of two workloads written by scripts/bench/:
//   fixed (train_lora.py): INPUTS.safetensors holds input_ids, labels [S, B, L] (int64) and pixel_values
//     [S, B * P, C] with image_grid_thw [B, 3] (the same grid for every step): the same batches the transformers +
//     PEFT side trains on, so both runs' losses can be compared step by step;
//   variable (train_variable.py): SPEC.json lists samples {"text": T, "images": [[h, w], ...]} (grids in patches)
//     and the token ids of the model; each sample gets its images' tokens then T random text tokens (all
//     labelled) and random pixels; consecutive groups of --batch samples form the steps, right-padded like
//     transformers' collator, or packed into one row without padding with --packing.
//   bench_train MODEL_DIR ADAPTER_DIR INPUTS.safetensors|SPEC.json [--lr 1e-4] [--max-grad-norm 1]
//               [--timed-from 5] [--gradient-checkpointing] [--batch 4] [--packing]
// Each step: forward (vision tower + language model), the loss over labelled positions (vlm's chunked LM-head
// loss), backward, global-norm clipping, AdamW. Prints one JSON line per step and a summary: median step time over
// steps >= --timed-from, tokens per second, samples per second over those steps, peak memory.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "bench_util.h"
#include "core/error.h"
#include "core/json.h"
#include "core/memory.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "lora/adapter_io.h"
#include "models/registry.h"
#include "train/collator.h"
#include "train/loss.h"
#include "train/optimizer.h"

namespace {

struct Args {
  std::string model, adapter, inputs;
  double lr = 1e-4, max_grad_norm = 1.0;
  int64_t timed_from = 5, batch = 4;
  bool gradient_checkpointing = false, packing = false;
};

struct Step {
  vlm::Batch batch;
  at::Tensor labels;
  int64_t samples = 0, tokens = 0;
};

// The fixed workload's steps (see the header).
std::vector<Step> fixed_steps(const std::string& path) {
  const auto ckpt = vlm::safetensors::Checkpoint::open(path);
  const at::Tensor ids = vlm::to_torch(ckpt, "input_ids"), labels = vlm::to_torch(ckpt, "labels");
  const at::Tensor pixels = vlm::to_torch(ckpt, "pixel_values"), grid = vlm::to_torch(ckpt, "image_grid_thw");
  VLM_CHECK(labels.sizes() == ids.sizes() && pixels.size(0) == ids.size(0), path, ": inconsistent shapes");
  std::vector<Step> steps;
  for (int64_t s = 0; s < ids.size(0); ++s) {
    Step st;
    st.batch.input_ids = ids[s];
    st.batch.attention_mask = at::ones_like(ids[s]);
    st.batch.pixel_values = pixels[s];
    st.batch.image_grid_thw = grid;
    st.labels = labels[s];
    st.samples = ids.size(1);
    st.tokens = ids[s].numel();
    steps.push_back(std::move(st));
  }
  return steps;
}

// The variable workload's samples as the trainer's encoded samples (see the header).
std::vector<vlm::train::EncodedSample> variable_samples(const vlm::Json& spec) {
  const int64_t image_token = spec.at("image_token_id"), start = spec.at("vision_start_token_id"),
                end = spec.at("vision_end_token_id"), text_vocab = spec.at("text_vocab");
  const int64_t channels = spec.value("patch_values", 1176);
  at::manual_seed(0);
  std::vector<vlm::train::EncodedSample> out;
  for (const vlm::Json& item : spec.at("samples")) {
    vlm::train::EncodedSample s;
    int64_t patches = 0;
    for (const vlm::Json& hw : item.at("images")) {
      const int64_t h = hw.at(0), w = hw.at(1);
      s.ids.push_back(static_cast<int32_t>(start));
      s.ids.insert(s.ids.end(), static_cast<size_t>(h * w / 4), static_cast<int32_t>(image_token));
      s.ids.push_back(static_cast<int32_t>(end));
      vlm::image::ImagePlaceholder p;
      p.grid_thw = {1, h, w};
      p.num_tokens = h * w / 4;
      s.images.images.push_back(p);
      patches += h * w;
    }
    s.labels.assign(s.ids.size(), vlm::train::kIgnoreIndex);
    const at::Tensor text = at::randint(0, text_vocab, {item.at("text").get<int64_t>()}, at::kLong);
    for (int64_t i = 0; i < text.size(0); ++i) {
      s.ids.push_back(static_cast<int32_t>(text[i].item<int64_t>()));
      s.labels.push_back(s.ids.back());
    }
    s.label_tokens = text.size(0);
    if (patches > 0) {
      const at::Tensor pixels = at::randn({patches, channels});
      s.images.pixel_values.shape = {patches, channels};
      s.images.pixel_values.data.assign(pixels.data_ptr<float>(), pixels.data_ptr<float>() + pixels.numel());
    }
    s.origin = "sample " + std::to_string(out.size());
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<Step> variable_steps(const std::string& path, int64_t batch, bool packing, int32_t pad_id) {
  const std::vector<vlm::train::EncodedSample> samples = variable_samples(vlm::read_json_file(path));
  std::vector<Step> steps;
  for (size_t i = 0; i < samples.size(); i += static_cast<size_t>(batch)) {
    std::vector<const vlm::train::EncodedSample*> group;
    for (size_t j = i; j < std::min(samples.size(), i + static_cast<size_t>(batch)); ++j) group.push_back(&samples[j]);
    vlm::train::TrainBatch tb = packing ? vlm::train::collate_packed(group, at::kCPU)
                                        : vlm::train::collate(group, pad_id, at::kCPU);
    Step st;
    st.batch = std::move(tb.batch);
    st.labels = tb.labels;
    st.samples = static_cast<int64_t>(group.size());
    st.tokens = tb.tokens;
    steps.push_back(std::move(st));
  }
  return steps;
}

void sync(const at::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"LoRA training-step speed on a fixed or a variable workload", "bench_train"};
  app.add_option("model", a.model, "Checkpoint folder")->required();
  app.add_option("adapter", a.adapter, "Initial PEFT adapter folder")->required();
  app.add_option("inputs", a.inputs, "Batches (.safetensors) or a variable workload's samples (.json)")->required();
  app.add_option("--batch", a.batch, "Samples a step (variable workload)");
  app.add_flag("--packing", a.packing, "Pack each step's samples into one row without padding (variable workload)");
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

    const bool variable = a.inputs.size() > 5 && a.inputs.substr(a.inputs.size() - 5) == ".json";
    const std::vector<Step> steps =
        variable ? variable_steps(a.inputs, a.batch, a.packing, 0) : fixed_steps(a.inputs);  // pad id: masked anyway

    model.train();
    vlm::reset_peak_memory(device);
    std::vector<double> times;
    int64_t timed_samples = 0, timed_tokens = 0;
    for (size_t s = 0; s < steps.size(); ++s) {
      vlm::Batch b = steps[s].batch;
      b.input_ids = b.input_ids.to(device);
      if (b.attention_mask.defined()) b.attention_mask = b.attention_mask.to(device);
      if (b.pixel_values.defined()) b.pixel_values = b.pixel_values.to(device, at::kBFloat16);
      const at::Tensor step_labels = steps[s].labels.to(device);
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
      if (static_cast<int64_t>(s) >= a.timed_from) {
        times.push_back(ms);
        timed_samples += steps[s].samples;
        timed_tokens += steps[s].tokens;
      }
      std::printf("{\"step\": %lld, \"loss\": %.6f, \"grad_norm\": %.6f, \"ms\": %.2f, \"tokens\": %lld}\n",
                  static_cast<long long>(s + 1), loss.item<double>(), norm, ms,
                  static_cast<long long>(steps[s].tokens));
    }
    double total_ms = 0;
    for (double t : times) total_ms += t;
    const int64_t batch = steps.empty() ? 0 : steps[0].samples;
    const int64_t length = steps.empty() ? 0 : steps[0].batch.input_ids.size(1);
    const double step_ms = vlm::bench::median(times);
    std::printf("{\"summary\": {\"steps\": %lld, \"batch\": %lld, \"length\": %lld, \"step_ms\": %.2f, "
                "\"tokens_per_s\": %.1f, \"samples_per_s\": %.2f, \"real_tokens_per_s\": %.1f, \"peak_bytes\": %lld, "
                "\"trainable\": %lld}}\n",
                static_cast<long long>(steps.size()), static_cast<long long>(batch), static_cast<long long>(length),
                step_ms, static_cast<double>(batch * length) * 1000.0 / step_ms,
                static_cast<double>(timed_samples) * 1000.0 / total_ms,
                static_cast<double>(timed_tokens) * 1000.0 / total_ms,
                static_cast<long long>(vlm::peak_memory_bytes(device)),
                static_cast<long long>(vlm::lora::count_parameters(model, true)));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
  return 0;
}
