#include "vlm.h"

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "text/stream_decoder.h"

namespace vlm {
namespace {

at::Device parse_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  if (name == "cpu") return at::kCPU;
  if (name.rfind("cuda", 0) == 0) {
    VLM_CHECK(torch::cuda::is_available(), "--device ", name, ": no CUDA device is available to this build");
    try {
      return at::Device(name);
    } catch (const std::exception&) {
      fail("--device ", quote(name), ": expected cpu, cuda or cuda:N");
    }
  }
  fail("--device ", quote(name), ": expected auto, cpu, cuda or cuda:N");
}

at::ScalarType parse_dtype(const std::string& name, const at::Device& device) {
  if (name == "auto") return device.is_cuda() ? at::kBFloat16 : at::kFloat;
  if (name == "float32" || name == "fp32") return at::kFloat;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  if (name == "float16" || name == "fp16") return at::kHalf;
  fail("--dtype ", quote(name), ": expected auto, float32, bfloat16 or float16");
}

// Longest suffix of `text` that is a proper prefix of some stop string: text that must be held back.
size_t held_back(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const auto& s : stops)
    for (size_t n = std::min(text.size(), s.size() - 1); n > hold; --n)
      if (text.compare(text.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
  return hold;
}

}  // namespace

GenerationDefaults read_generation_config(const std::string& dir) {
  GenerationDefaults d;
  const std::string path = path_join(dir, "generation_config.json");
  if (!path_exists(path)) return d;
  const Json j = read_json_file(path);
  const JsonObject o(j, path);
  if (o.has("eos_token_id")) {
    if (j.at("eos_token_id").is_array())
      d.eos_ids = o.get<std::vector<int64_t>>("eos_token_id");
    else
      d.eos_ids = {o.get<int64_t>("eos_token_id")};
  }
  d.sampling.temperature = o.get<double>("temperature", 1.0);
  d.sampling.top_p = o.get<double>("top_p", 1.0);
  d.sampling.top_k = o.get<int64_t>("top_k", 0);
  d.sampling.repetition_penalty = o.get<double>("repetition_penalty", 1.0);
  if (!o.get<bool>("do_sample", false)) d.sampling.temperature = 0.0;
  return d;
}

VLM load(const std::string& dir, const ModelOptions& options) {
  VLM v;
  v.dir = dir;
  v.device = parse_device(options.device);
  v.dtype = parse_dtype(options.dtype, v.device);
  LoadedModel loaded = load_model(dir, {v.dtype, v.device});
  v.model = loaded.model;
  v.family = loaded.family;
  v.processor = Processor::load(dir, loaded.config);
  v.defaults = read_generation_config(dir);
  if (v.defaults.eos_ids.empty())
    if (auto eos = v.processor->tokenizer().eos_id()) v.defaults.eos_ids.push_back(*eos);
  return v;
}

GenerateResult generate(VLM& v, const GenerateRequest& request, const std::function<void(const std::string&)>& on_text) {
  c10::InferenceMode inference;
  const Batch batch = v.processor->prepare({request.conversation}, v.device);
  GenerateResult result;
  for (const auto& s : request.stop) VLM_CHECK(!s.empty(), "stop strings must not be empty");
  gen::Generation g(*v.model, batch, request.sampling, {v.defaults.eos_ids, request.max_tokens});
  text::StreamDecoder decoder = v.processor->tokenizer().stream_decoder(/*skip_special_tokens=*/true);
  std::string pending;  // decoded text not yet passed on (it may be the start of a stop string)
  bool stopped = false;
  auto flush = [&](bool final) {
    const size_t keep = final ? 0 : held_back(pending, request.stop);
    const std::string out = pending.substr(0, pending.size() - keep);
    pending.erase(0, out.size());
    result.text += out;
    if (on_text && !out.empty()) on_text(out);
  };
  while (!g.done()) {
    const int64_t tok = g.step()[0];
    if (tok < 0) break;
    pending += decoder.push(static_cast<int32_t>(tok));
    for (const auto& s : request.stop) {
      const size_t at = pending.find(s);
      if (at == std::string::npos) continue;
      pending.resize(at);
      g.stop_row(0);
      stopped = true;
      break;
    }
    flush(false);
  }
  if (!stopped) pending += decoder.finish();
  flush(true);
  const auto& gen_tokens = g.generated()[0];
  const bool eos = !gen_tokens.empty() && std::find(v.defaults.eos_ids.begin(), v.defaults.eos_ids.end(),
                                                    gen_tokens.back()) != v.defaults.eos_ids.end();
  result.finish_reason = stopped || eos ? "stop" : "length";
  result.stats = g.stats();
  result.prompt_tokens = g.stats().prompt_tokens;
  result.completion_tokens = static_cast<int64_t>(gen_tokens.size());
  result.image_tokens = batch.input_ids.eq(v.processor->image_token_id()).sum().item<int64_t>();
  return result;
}

}  // namespace vlm
