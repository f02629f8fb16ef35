// Generation speed on a checkpoint folder with synthetic inputs shaped like the benchmark workload: BATCH copies of
// one square image of IMAGE_SIZE px + TEXT_TOKENS random text tokens, then NEW_TOKENS greedy tokens (EOS ignored).
//   bench_generate MODEL_DIR [--image-size 448] [--text-tokens 40] [--new-tokens 256] [--batch 1] [--repeat 3]
//                  [--device cuda] [--dtype bfloat16] [--eager] [--adapter ADAPTER_DIR]
// Prints one JSON line per repeat (the first is a warm-up) and a final {"summary": ...} line with medians. With
// VLM_TIMELINE_OUT=FILE in the environment (and a build with VLM_TIMELINE=ON), one more generation of at most 16
// tokens writes the decoding kernels' block stamps to FILE for scripts/bench/timeline.py.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "bench_util.h"
#include "core/error.h"
#include "core/memory.h"
#include "generate/generation.h"
#include "lora/adapter_io.h"
#include "models/registry.h"
#ifdef VLM_WITH_CUDA
#include "kernels/kernels_cuda.h"
#endif

namespace {

struct Args {
  std::string model, device = "cuda", dtype = "bfloat16", adapter;
  int64_t image_size = 448, text_tokens = 40, new_tokens = 256, batch = 1, repeat = 3;
  bool eager = false;
};

at::ScalarType dtype_of(const std::string& s) {
  if (s == "bfloat16") return at::kBFloat16;
  if (s == "float16") return at::kHalf;
  if (s == "float32") return at::kFloat;
  vlm::fail("--dtype: expected bfloat16, float16 or float32, got ", s);
}

vlm::Batch make_batch(const vlm::Json& config, const Args& a, const at::Device& device, at::ScalarType dtype) {
  const vlm::Json& vision = config.at("vision_config");
  const int64_t patch = vision.value("patch_size", 14), merge = vision.value("spatial_merge_size", 2);
  const int64_t temporal = vision.value("temporal_patch_size", 2);
  const int64_t channels = vision.contains("in_chans") ? vision.at("in_chans").get<int64_t>()
                                                       : vision.value("in_channels", 3);
  const int64_t grid = a.image_size / patch, image_tokens = grid * grid / (merge * merge);
  std::vector<int64_t> ids{config.at("vision_start_token_id").get<int64_t>()};
  ids.insert(ids.end(), image_tokens, config.at("image_token_id").get<int64_t>());
  ids.push_back(config.at("vision_end_token_id").get<int64_t>());
  at::manual_seed(0);
  const at::Tensor text = at::randint(0, 1000, {a.text_tokens}, at::kLong);
  for (int64_t i = 0; i < a.text_tokens; ++i) ids.push_back(text[i].item<int64_t>());
  const auto n = static_cast<int64_t>(ids.size());
  vlm::Batch b;
  b.input_ids = at::tensor(ids, at::kLong).view({1, n}).repeat({a.batch, 1}).to(device);
  b.attention_mask = at::ones({a.batch, n}, at::kLong).to(device);
  b.pixel_values = at::randn({a.batch * grid * grid, channels * temporal * patch * patch}).to(device, dtype);
  b.image_grid_thw = at::tensor(std::vector<int64_t>{1, grid, grid}, at::kLong).view({1, 3}).repeat({a.batch, 1});
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"Generation speed on a checkpoint with synthetic inputs", "bench_generate"};
  app.add_option("model", a.model, "Checkpoint folder")->required();
  app.add_option("--image-size", a.image_size);
  app.add_option("--text-tokens", a.text_tokens);
  app.add_option("--new-tokens", a.new_tokens);
  app.add_option("--batch", a.batch);
  app.add_option("--repeat", a.repeat);
  app.add_option("--device", a.device);
  app.add_option("--dtype", a.dtype);
  app.add_flag("--eager", a.eager, "No CUDA graph for decoding steps");
  app.add_option("--adapter", a.adapter, "A LoRA adapter folder (PEFT or mlx-vlm) applied, not fused");
  CLI11_PARSE(app, argc, argv);
  try {
    c10::InferenceMode inference;
    const at::Device device(a.device);
    const at::ScalarType dtype = dtype_of(a.dtype);
    const vlm::LoadedModel loaded = vlm::load_model(a.model, {dtype, device});
    if (!a.adapter.empty()) {
      vlm::lora::load_adapter(a.adapter, *loaded.model, *loaded.family);
      loaded.model->eval();
    }
    const vlm::Batch batch = make_batch(loaded.config, a, device, dtype);
    vlm::gen::SamplingParams greedy;
    greedy.temperature = 0;
    std::vector<double> prefill, decode;
    int64_t peak = 0;
    for (int64_t r = 0; r < a.repeat + 1; ++r) {
      vlm::reset_peak_memory(device);
      vlm::gen::Generation g(*loaded.model, batch, greedy, {{}, a.new_tokens}, {true, !a.eager});
      uint64_t hash = 1469598103934665603ull;  // FNV-1a over the generated ids: versions must decode the same
      while (!g.done())
        for (const int64_t id : g.step()) hash = (hash ^ static_cast<uint64_t>(id)) * 1099511628211ull;
      const auto& s = g.stats();
      const double tok_s = s.decode_ms > 0 ? s.decode_steps * 1000.0 / s.decode_ms : 0.0;
      peak = std::max(peak, vlm::peak_memory_bytes(device));
      std::printf("{\"repeat\": %lld, \"prefill_ms\": %.2f, \"decode_steps\": %lld, \"decode_tokens_per_s\": %.2f, "
                  "\"graphed\": %s, \"ids_hash\": \"%016llx\"}\n",
                  static_cast<long long>(r), s.prefill_ms, static_cast<long long>(s.decode_steps), tok_s,
                  g.graphed() ? "true" : "false", static_cast<unsigned long long>(hash));
      if (r == 0) continue;  // warm-up
      prefill.push_back(s.prefill_ms);
      decode.push_back(tok_s);
    }
    if (const char* path = std::getenv("VLM_TIMELINE_OUT")) {
#ifdef VLM_WITH_CUDA
      if (!vlm::cuda::timeline_begin(int64_t{1} << 20))
        vlm::fail("VLM_TIMELINE_OUT is set, but the timeline probe did not start (it needs a build with ",
                  "VLM_TIMELINE=ON, and 32 MB of GPU memory)");
      vlm::gen::Generation g(*loaded.model, batch, greedy, {{}, std::min<int64_t>(a.new_tokens, 16)}, {true, !a.eager});
      while (!g.done()) g.step();
      const int64_t stamps = vlm::cuda::timeline_dump(path);
      if (stamps < 0) vlm::fail("VLM_TIMELINE_OUT: cannot write the timeline stamps to '", path, "'");
      std::printf("{\"timeline\": \"%s\", \"stamps\": %lld}\n", path, static_cast<long long>(stamps));
#else
      vlm::fail("VLM_TIMELINE_OUT=", path, " is set, but this build has no CUDA kernels");
#endif
    }
    std::printf("{\"summary\": {\"batch\": %lld, \"prompt_tokens\": %lld, \"new_tokens\": %lld, \"prefill_ms\": %.2f, "
                "\"decode_tokens_per_s\": %.2f, \"decode_row_tokens_per_s\": %.2f, \"peak_bytes\": %lld, "
                "\"eager\": %s}}\n",
                static_cast<long long>(a.batch), static_cast<long long>(batch.input_ids.size(1)),
                static_cast<long long>(a.new_tokens), vlm::bench::median(prefill), vlm::bench::median(decode) * a.batch, vlm::bench::median(decode),
                static_cast<long long>(peak), a.eager ? "true" : "false");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_generate: %s\n", e.what());
    return 1;
  }
  return 0;
}
