// libFuzzer target: parse and render a chat template. Input: template source, optionally followed by a NUL
// byte and a JSON message list (a fixed conversation is used otherwise). Every input must render or raise
// vlm::Error (JinjaError for template problems); crashes, hangs, leaks and sanitizer reports are findings.
// Tight limits keep each run fast.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "text/jinja.h"

namespace {

const char* const kDefaultMessages = R"([
  {"role": "system", "content": "Be brief."},
  {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this? <|im_end|>"}]},
  {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
  {"role": "user", "content": "Thanks \u00e9\ud83d\ude00"}
])";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string source = input.substr(0, nul);
  vlm::text::JinjaLimits limits;
  limits.max_template_bytes = 64 << 10;
  limits.max_output_bytes = 1 << 20;
  limits.max_loop_iterations = 20000;
  limits.max_steps = 200000;
  limits.max_recursion_depth = 32;
  limits.max_data_depth = 64;
  try {
    const auto tmpl = vlm::text::JinjaTemplate::parse(source, "fuzz", limits);
    vlm::text::JinjaContext ctx;
    nlohmann::ordered_json messages = nlohmann::ordered_json::parse(kDefaultMessages);
    if (nul != std::string::npos) {
      messages = nlohmann::ordered_json::parse(input.substr(nul + 1), nullptr, /*allow_exceptions=*/false);
      if (messages.is_discarded()) return 0;
    }
    ctx.set("messages", messages, true);
    ctx.set_none("tools");
    ctx.set_none("documents");
    ctx.set_bool("add_generation_prompt", true);
    ctx.set_string("bos_token", "<s>");
    ctx.set_string("eos_token", "</s>");
    ctx.set_now(0);
    const auto out = tmpl.render(ctx);
    // Spans must lie inside the text, content spans sorted and disjoint.
    size_t last = 0;
    for (const auto& s : out.content_spans) {
      if (s.begin < last || s.end <= s.begin || s.end > out.text.size()) __builtin_trap();
      last = s.end;
    }
    for (const auto& s : out.generation_spans)
      if (s.end < s.begin) __builtin_trap();
  } catch (const vlm::Error&) {
  }
  return 0;
}
