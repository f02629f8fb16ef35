// The C++ API, shaped like mlx-vlm's load / generate:
//
//   auto m = vlm::load("path/to/Qwen2-VL-2B-Instruct", {});            // model + processor, on the best device
//   vlm::GenerateRequest r;
//   r.conversation.messages = {{{"role", "user"}, {"content", {{{"type", "image"}}, {{"type", "text"},
//                               {"text", "Describe the image."}}}}}};
//   r.conversation.images.push_back(vlm::image::load_image_file("cat.jpg"));
//   auto result = vlm::generate(m, r, [](const std::string& text) { std::cout << text << std::flush; });
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "generate/generation.h"
#include "models/processor.h"
#include "models/registry.h"

namespace vlm {

struct ModelOptions {
  std::string device = "auto";  // auto (CUDA when available), cpu, cuda, cuda:N
  std::string dtype = "auto";   // auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16, float16
  std::string adapter;          // a LoRA adapter folder (PEFT or mlx-vlm) to apply; "" = none
};

// Defaults from generation_config.json (absent keys keep these).
struct GenerationDefaults {
  std::vector<int64_t> eos_ids;
  gen::SamplingParams sampling;  // temperature 0 when do_sample is false
};

struct VLM {
  std::shared_ptr<Model> model;
  std::shared_ptr<Processor> processor;
  const Family* family = nullptr;
  GenerationDefaults defaults;
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
  std::string dir;
  std::string adapter_format;  // "peft" or "mlx-vlm" when an adapter is applied
};

VLM load(const std::string& model_dir, const ModelOptions& options);

// Reads generation_config.json if present; `origin` errors name it.
GenerationDefaults read_generation_config(const std::string& model_dir);

struct GenerateRequest {
  Conversation conversation;
  gen::SamplingParams sampling;
  int64_t max_tokens = 256;
  std::vector<std::string> stop;  // stop strings: generation ends before the first match, which is not returned
};

struct GenerateResult {
  std::string text;
  std::string finish_reason;  // "stop" (EOS or stop string) or "length"
  int64_t prompt_tokens = 0, image_tokens = 0, completion_tokens = 0;
  gen::GenerationStats stats;
};

// Generates for one conversation, streaming text through on_text (may be empty) as it becomes final.
GenerateResult generate(VLM& vlm, const GenerateRequest& request,
                        const std::function<void(const std::string&)>& on_text = {});

// Generates for several conversations at once in one left-padded batch. The requests must share their sampling
// parameters; each has its own max_tokens and stop strings. on_text(row, text) streams each row's text.
std::vector<GenerateResult> generate_batch(VLM& vlm, const std::vector<GenerateRequest>& requests,
                                           const std::function<void(size_t, const std::string&)>& on_text = {});

}  // namespace vlm
