// vlm generate --model DIR --image FILE... --prompt TEXT [...]: streams the generated text to stdout (special
// tokens skipped, one final newline); statistics go to stderr.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "apps/vlm/commands.h"
#include "core/error.h"
#include "core/memory.h"
#include "image/decode.h"
#include "vlm.h"

namespace vlm::cli {
namespace {

struct GenerateArgs {
  std::string model, adapter, prompt, system, device = "auto", dtype = "auto";
  std::vector<std::string> images, stop;
  int64_t max_tokens = 256, top_k = 0;
  double temperature = 0, top_p = 1, min_p = 0, repetition_penalty = 1, presence_penalty = 0, frequency_penalty = 0;
  uint64_t seed = 0;
};

void run_generate(const GenerateArgs& a, const CLI::App& cmd) {
  VLM v = load(a.model, {a.device, a.dtype, a.adapter});

  GenerateRequest r;
  r.sampling = v.defaults.sampling;
  if (cmd.count("--temperature")) r.sampling.temperature = a.temperature;
  if (cmd.count("--top-p")) r.sampling.top_p = a.top_p;
  if (cmd.count("--top-k")) r.sampling.top_k = a.top_k;
  if (cmd.count("--min-p")) r.sampling.min_p = a.min_p;
  if (cmd.count("--repetition-penalty")) r.sampling.repetition_penalty = a.repetition_penalty;
  r.sampling.presence_penalty = a.presence_penalty;
  r.sampling.frequency_penalty = a.frequency_penalty;
  if (cmd.count("--seed")) r.sampling.seed = a.seed;
  r.max_tokens = a.max_tokens;
  r.stop = a.stop;

  Json content = Json::array();
  for (const auto& path : a.images) {
    r.conversation.images.push_back(image::load_image_file(path));
    content.push_back({{"type", "image"}});
  }
  content.push_back({{"type", "text"}, {"text", a.prompt}});
  if (!a.system.empty()) r.conversation.messages.push_back({{"role", "system"}, {"content", a.system}});
  r.conversation.messages.push_back({{"role", "user"}, {"content", content}});

  const GenerateResult res = generate(v, r, [](const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  const auto& s = res.stats;
  std::fprintf(stderr,
               "vlm: prompt %lld tokens (%lld image), prefill %.1f ms (%.1f tokens/s); generated %lld tokens, "
               "decode %.2f tokens/s; finish: %s\n",
               static_cast<long long>(res.prompt_tokens), static_cast<long long>(res.image_tokens), s.prefill_ms,
               s.prefill_ms > 0 ? res.prompt_tokens * 1000.0 / s.prefill_ms : 0.0,
               static_cast<long long>(res.completion_tokens),
               s.decode_ms > 0 ? s.decode_steps * 1000.0 / s.decode_ms : 0.0, res.finish_reason.c_str());
  std::fprintf(stderr, "vlm: device %s, dtype %s, peak memory %s\n", v.device.str().c_str(), c10::toString(v.dtype),
               format_bytes(peak_memory_bytes(v.device)).c_str());
}

}  // namespace

Command add_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate text from images and a prompt");
  auto a = std::make_shared<GenerateArgs>();
  cmd->add_option("--model", a->model, "Model folder (Hugging Face layout)")->required();
  cmd->add_option("--adapter", a->adapter, "LoRA adapter folder (PEFT or mlx-vlm)");
  cmd->add_option("--image", a->images, "Image file (repeat for several)");
  cmd->add_option("--prompt", a->prompt, "The user's text")->required();
  cmd->add_option("--system", a->system, "System prompt");
  cmd->add_option("--max-tokens", a->max_tokens, "Most tokens to generate (default 256)");
  cmd->add_option("--temperature", a->temperature, "Sampling temperature; 0 is greedy (default: the model's)");
  cmd->add_option("--top-p", a->top_p, "Nucleus sampling mass");
  cmd->add_option("--top-k", a->top_k, "Sample among the K most likely tokens");
  cmd->add_option("--min-p", a->min_p, "Drop tokens below min-p times the top probability");
  cmd->add_option("--repetition-penalty", a->repetition_penalty, "transformers' repetition penalty");
  cmd->add_option("--presence-penalty", a->presence_penalty, "OpenAI presence penalty");
  cmd->add_option("--frequency-penalty", a->frequency_penalty, "OpenAI frequency penalty");
  cmd->add_option("--stop", a->stop, "Stop string (repeat for several)");
  cmd->add_option("--seed", a->seed, "Random seed for sampling");
  cmd->add_option("--device", a->device, "auto, cpu, cuda or cuda:N (default auto)");
  cmd->add_option("--dtype", a->dtype, "auto, float32, bfloat16 or float16 (default: bf16 on CUDA, f32 on CPU)");
  return {cmd, [a, cmd] { run_generate(*a, *cmd); }};
}

}  // namespace vlm::cli
