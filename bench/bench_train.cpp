// LoRA training-step speed, starting from a PEFT adapter, in one of three workloads written by scripts/bench/:
//   fixed (train_lora.py): INPUTS.safetensors holds input_ids, labels [S, B, L] (int64) and pixel_values
//     [S, B * P, C] with image_grid_thw [B, 3] (the same grid for every step): the same batches the transformers +
//     PEFT side trains on, so both runs' losses can be compared step by step;
//   variable (train_variable.py): SPEC.json lists samples {"text": T, "images": [[h, w], ...]} (grids in patches)
//     and the token ids of the model; each sample gets its images' tokens then T random text tokens (all
//     labelled) and random pixels; consecutive groups of --batch samples form the steps, right-padded like
//     transformers' collator, or packed into one row without padding with --packing;
//   longest (longest_sequence.py, --longest): SPEC.json's "longest" {"images": [[h, w]], "lengths": [...],
//     "refine": n, "budget_s": s} gives one sample of each length in turn (its images' tokens, then random labelled
//     text up to the length); each gets one training step until one runs out of GPU memory, then n bisection steps
//     between the last length that fit and the first that did not; no step starts that would (by the quadratic
//     growth of the last step's time) end after budget_s. Prints each length's outcome and the longest that fit.
//   bench_train MODEL_DIR ADAPTER_DIR INPUTS.safetensors|SPEC.json [--lr 1e-4] [--max-grad-norm 1]
//               [--timed-from 5] [--steps N] [--gradient-checkpointing] [--checkpoint-offload]
//               [--checkpoint-level none|mlp|layer|offload] [--batch 4]
//               [--packing] [--longest] [--profile-step N]
// Each step: forward (vision tower + language model), the loss over labelled positions (vlm's chunked LM-head
// loss), backward, global-norm clipping, AdamW. Prints one JSON line per step and a summary: median step time over
// steps >= --timed-from, tokens per second, samples per second over those steps, peak memory. --profile-step runs
// that step between cudaProfilerStart and cudaProfilerStop (for `ncu --profile-from-start off`).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#ifdef VLM_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <cuda_profiler_api.h>
#endif

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
  int64_t timed_from = 5, batch = 4, steps = 0, profile_step = 0, trace_step = 0;
  std::string trace, checkpoint_level;
  bool gradient_checkpointing = false, checkpoint_offload = false, packing = false, longest = false;
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

void profiler_range(bool start) {
#ifdef VLM_WITH_CUDA
  if (start)
    cudaProfilerStart();
  else
    cudaProfilerStop();
#else
  (void)start;
#endif
}

struct Trainee {
  vlm::Model& model;
  vlm::train::AdamW& optimizer;
  std::vector<at::Tensor> trainable;
  double lr, max_grad_norm;
};

struct StepResult {
  double loss = 0, grad_norm = 0, ms = 0;
  std::string phases;  // JSON: per phase, when the host had issued it and when the GPU had finished it
};

// Marks the end of each phase of a step: the host's clock when the phase's work had been issued, and (on CUDA) an
// event recorded there, so the GPU's finishing time can be read after the step. Where the GPU finishes a phase
// about when the host issued it, the GPU waited for the host.
class Phases {
 public:
  explicit Phases(const at::Device& device) : cuda_(device.is_cuda()), start_(std::chrono::steady_clock::now()) {
    mark("start");
  }
  void mark(const char* name) {
    names_.emplace_back(name);
    host_ms_.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count());
#ifdef VLM_WITH_CUDA
    if (cuda_) {
      events_.emplace_back(cudaEventDefault);
      events_.back().record();
    }
#endif
  }
  // After a synchronisation: {"forward": [host ms, gpu ms], ...}.
  std::string json() {
    std::string out = "{";
    for (size_t i = 1; i < names_.size(); ++i) {
      double gpu = -1;
#ifdef VLM_WITH_CUDA
      if (cuda_) gpu = events_.front().elapsed_time(events_[i]);
#endif
      char buf[128];
      std::snprintf(buf, sizeof buf, "%s\"%s\": [%.2f, %.2f]", i > 1 ? ", " : "", names_[i].c_str(), host_ms_[i], gpu);
      out += buf;
    }
    return out + "}";
  }

 private:
  bool cuda_;
  std::chrono::steady_clock::time_point start_;
  std::vector<std::string> names_;
  std::vector<double> host_ms_;
#ifdef VLM_WITH_CUDA
  std::vector<at::cuda::CUDAEvent> events_;
#endif
};

// One training step on `step` (moved to the device first, outside the timing).
StepResult train_step(Trainee& t, const Step& step, const at::Device& device) {
  vlm::Batch b = step.batch;
  b.input_ids = b.input_ids.to(device);
  if (b.attention_mask.defined()) b.attention_mask = b.attention_mask.to(device);
  if (b.pixel_values.defined()) b.pixel_values = b.pixel_values.to(device, at::kBFloat16);
  const at::Tensor labels = step.labels;  // on the CPU, as the trainer's collators give them
  sync(device);
  const auto start = std::chrono::steady_clock::now();
  Phases phases(device);
  const at::Tensor hidden = t.model.forward_hidden(b, nullptr);
  phases.mark("forward");
  const vlm::train::LossSums sums = vlm::train::causal_lm_loss(t.model, hidden, labels);
  const at::Tensor loss = sums.loss_sum / static_cast<double>(sums.tokens);
  phases.mark("loss");
  loss.backward();
  phases.mark("backward");
  StepResult r;
  const at::Tensor norm = vlm::train::clip_grad_norm(t.trainable, t.max_grad_norm);
  phases.mark("clip");
  t.optimizer.step(t.lr);
  t.optimizer.zero_grad();
  phases.mark("optimizer");
  sync(device);
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  r.phases = phases.json();
  r.loss = loss.item<double>();
  r.grad_norm = norm.defined() ? norm.item<double>() : 0.0;
  return r;
}

bool out_of_memory(const c10::Error& e) { return std::string(e.what()).find("out of memory") != std::string::npos; }

// The longest-sequence search (see the header). Returns the longest length that trained.
int64_t longest(Trainee& t, const vlm::Json& spec, const at::Device& device) {
  const vlm::Json& ladder = spec.at("longest");
  const int64_t refine = ladder.value("refine", 0);
  const double budget_ms = ladder.value("budget_s", 1e9) * 1000.0;
  std::vector<int64_t> lengths = ladder.at("lengths").get<std::vector<int64_t>>();
  int64_t image_tokens = 2;
  for (const vlm::Json& hw : ladder.at("images")) image_tokens += hw.at(0).get<int64_t>() * hw.at(1).get<int64_t>() / 4;
  const auto begin = std::chrono::steady_clock::now();
  int64_t last_length = 0;
  double last_ms = 0;
  // Whether one step of this length fits in memory; nullopt when the time budget does not allow it.
  auto attempt = [&](int64_t length) -> std::optional<bool> {
    const double elapsed =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
    const double ratio = last_length > 0 ? static_cast<double>(length) / static_cast<double>(last_length) : 0;
    if (last_length > 0 && elapsed + last_ms * ratio * ratio > budget_ms) {
      std::printf("{\"length\": %lld, \"skipped\": \"time budget\"}\n", static_cast<long long>(length));
      return std::nullopt;
    }
    vlm::Json one = spec;
    one["samples"] = vlm::Json::array({{{"text", length - image_tokens}, {"images", ladder.at("images")}}});
    const std::vector<vlm::train::EncodedSample> samples = variable_samples(one);
    vlm::train::TrainBatch tb = vlm::train::collate({&samples[0]}, 0, at::kCPU);
    Step step;
    step.batch = std::move(tb.batch);
    step.labels = tb.labels;
    vlm::reset_peak_memory(device);
    bool fits = true;
    StepResult r;
    try {
      r = train_step(t, step, device);
    } catch (const c10::Error& e) {
      if (!out_of_memory(e)) throw;
      fits = false;
      t.optimizer.zero_grad();
    }
    std::printf("{\"length\": %lld, \"fits\": %s, \"ms\": %.1f, \"peak_bytes\": %lld}\n",
                static_cast<long long>(length), fits ? "true" : "false", r.ms,
                static_cast<long long>(vlm::peak_memory_bytes(device)));
    std::fflush(stdout);
    vlm::release_cached_memory(device);
    if (fits) {
      last_length = length;
      last_ms = r.ms;
    }
    return fits;
  };
  int64_t fit = 0, fail = 0;  // the longest length that fit, the shortest that did not
  for (int64_t length : lengths) {
    const auto r = attempt(length);
    if (!r) return fit;
    if (!*r) {
      fail = length;
      break;
    }
    fit = length;
  }
  for (int64_t i = 0; i < refine && fit > 0 && fail > 0; ++i) {
    const int64_t mid = (fit + fail) / 2 / 1024 * 1024;
    if (mid <= fit) break;
    const auto r = attempt(mid);
    if (!r) break;
    (*r ? fit : fail) = mid;
  }
  return fit;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"LoRA training-step speed on a fixed, variable or longest-sequence workload", "bench_train"};
  app.add_option("model", a.model, "Checkpoint folder")->required();
  app.add_option("adapter", a.adapter, "Initial PEFT adapter folder")->required();
  app.add_option("inputs", a.inputs, "Batches (.safetensors) or a variable workload's samples (.json)")->required();
  app.add_option("--batch", a.batch, "Samples a step (variable workload)");
  app.add_flag("--packing", a.packing, "Pack each step's samples into one row without padding (variable workload)");
  app.add_flag("--longest", a.longest, "Search the longest sequence that trains (SPEC.json's \"longest\")");
  app.add_option("--lr", a.lr);
  app.add_option("--max-grad-norm", a.max_grad_norm);
  app.add_option("--timed-from", a.timed_from, "First step counted in the timing (earlier ones warm up)");
  app.add_option("--steps", a.steps, "Run at most this many steps (0 = all)");
  app.add_option("--profile-step", a.profile_step, "Run this step (1-based) inside a CUDA profiler range");
  app.add_option("--trace-step", a.trace_step, "Record this step's operators (host times) with torch's profiler");
  app.add_option("--trace", a.trace, "Chrome trace file for --trace-step");
  app.add_flag("--gradient-checkpointing", a.gradient_checkpointing);
  app.add_flag("--checkpoint-offload", a.checkpoint_offload, "Checkpointing with layer inputs in pinned CPU memory");
  app.add_option("--checkpoint-level", a.checkpoint_level, "none, mlp, layer or offload (instead of the flags)")
      ->check(CLI::IsMember({"none", "mlp", "layer", "offload"}))
      ->excludes("--gradient-checkpointing")
      ->excludes("--checkpoint-offload");
  CLI11_PARSE(app, argc, argv);
  if ((a.trace_step > 0) != !a.trace.empty()) {
    std::fprintf(stderr, "bench_train: --trace-step N and --trace FILE go together\n");
    return 2;
  }
  try {
    const at::Device device(at::kCUDA);
    const vlm::LoadedModel loaded = vlm::load_model(a.model, {at::kBFloat16, device});
    vlm::Model& model = *loaded.model;
    model.set_checkpoint_level(!a.checkpoint_level.empty() ? vlm::checkpoint_level_from_name(a.checkpoint_level)
                               : a.checkpoint_offload        ? vlm::CheckpointLevel::kOffload
                               : a.gradient_checkpointing    ? vlm::CheckpointLevel::kLayer
                                                             : vlm::CheckpointLevel::kNone);
    auto adapter = vlm::lora::load_adapter(a.adapter, model, *loaded.family);
    std::vector<std::pair<std::string, at::Tensor>> params;
    for (auto& item : model.named_parameters())
      if (item.value().requires_grad()) params.emplace_back(item.key(), item.value());
    vlm::train::AdamW optimizer(params, {0.9, 0.999, 1e-8, 0.0});
    Trainee trainee{model, optimizer, {}, a.lr, a.max_grad_norm};
    for (auto& [name, p] : params) trainee.trainable.push_back(p);
    model.train();

    if (a.longest) {
      const int64_t fit = longest(trainee, vlm::read_json_file(a.inputs), device);
      std::printf("{\"summary\": {\"longest\": %lld}}\n", static_cast<long long>(fit));
      return 0;
    }
    const bool variable = a.inputs.size() > 5 && a.inputs.substr(a.inputs.size() - 5) == ".json";
    std::vector<Step> steps = variable ? variable_steps(a.inputs, a.batch, a.packing, 0)  // pad id: masked anyway
                                       : fixed_steps(a.inputs);
    if (a.steps > 0 && static_cast<size_t>(a.steps) < steps.size()) steps.resize(static_cast<size_t>(a.steps));
    VLM_CHECK(a.trace_step <= static_cast<int64_t>(steps.size()), "--trace-step ", a.trace_step,
              " is past the last of ", steps.size(), " steps");
    VLM_CHECK(a.trace.empty() || std::ofstream(a.trace).good(), "--trace: cannot write ", a.trace);

    vlm::reset_peak_memory(device);
    std::vector<double> times;
    int64_t timed_samples = 0, timed_tokens = 0;
    for (size_t s = 0; s < steps.size(); ++s) {
      const bool profiled = static_cast<int64_t>(s) + 1 == a.profile_step;
      if (profiled) profiler_range(true);
      std::optional<torch::autograd::profiler::RecordProfile> trace;
      if (static_cast<int64_t>(s) + 1 == a.trace_step && !a.trace.empty()) trace.emplace(a.trace);
      const StepResult r = train_step(trainee, steps[s], device);
      trace.reset();
      if (profiled) profiler_range(false);
      if (static_cast<int64_t>(s) >= a.timed_from) {
        times.push_back(r.ms);
        timed_samples += steps[s].samples;
        timed_tokens += steps[s].tokens;
      }
      std::printf("{\"step\": %lld, \"loss\": %.6f, \"grad_norm\": %.6f, \"ms\": %.2f, \"tokens\": %lld, "
                  "\"phases\": %s}\n",
                  static_cast<long long>(s + 1), r.loss, r.grad_norm, r.ms, static_cast<long long>(steps[s].tokens),
                  r.phases.c_str());
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
