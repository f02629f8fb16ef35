#include "vlm.h"

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "lora/adapter_io.h"
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
  if (!options.adapter.empty()) {
    v.adapter_format = lora::load_adapter(options.adapter, *v.model, *v.family).format;
    v.model->eval();
  }
  v.processor = Processor::load(dir, loaded.config);
  v.defaults = read_generation_config(dir);
  if (v.defaults.eos_ids.empty())
    if (auto eos = v.processor->tokenizer().eos_id()) v.defaults.eos_ids.push_back(*eos);
  return v;
}

namespace {

void check_same_sampling(const gen::SamplingParams& a, const gen::SamplingParams& b, size_t row) {
  const bool same = a.temperature == b.temperature && a.top_k == b.top_k && a.top_p == b.top_p && a.min_p == b.min_p &&
                    a.repetition_penalty == b.repetition_penalty && a.presence_penalty == b.presence_penalty &&
                    a.frequency_penalty == b.frequency_penalty && a.seed == b.seed;
  VLM_CHECK(same, "batched request ", row, " has other sampling parameters than request 0: a batch shares them");
}

// The text side of one row: incremental detokenisation, stop strings, and what has been passed on.
struct RowText {
  text::StreamDecoder decoder;
  std::string pending;  // decoded text not yet passed on (it may be the start of a stop string)
  bool stopped = false;
  GenerateResult result;
};

}  // namespace

std::vector<GenerateResult> generate_batch(VLM& v, const std::vector<GenerateRequest>& requests,
                                           const std::function<void(size_t, const std::string&)>& on_text) {
  VLM_CHECK(!requests.empty(), "generate_batch needs at least one request");
  c10::InferenceMode inference;
  std::vector<Conversation> conversations;
  int64_t max_tokens = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    check_same_sampling(requests[0].sampling, requests[i].sampling, i);
    VLM_CHECK(requests[i].max_tokens >= 0, "max_tokens must be >= 0, got ", requests[i].max_tokens);
    for (const auto& s : requests[i].stop) VLM_CHECK(!s.empty(), "stop strings must not be empty");
    conversations.push_back(requests[i].conversation);
    max_tokens = std::max(max_tokens, requests[i].max_tokens);
  }
  const Batch batch = v.processor->prepare(conversations, v.device);
  gen::Generation g(*v.model, batch, requests[0].sampling, {v.defaults.eos_ids, max_tokens});
  std::vector<RowText> rows;
  for (size_t i = 0; i < requests.size(); ++i) {
    rows.push_back({v.processor->tokenizer().stream_decoder(/*skip_special_tokens=*/true), {}, false, {}});
    if (requests[i].max_tokens == 0) g.stop_row(i);
  }
  auto flush = [&](size_t i, bool final) {
    RowText& r = rows[i];
    const size_t keep = final ? 0 : held_back(r.pending, requests[i].stop);
    const std::string out = r.pending.substr(0, r.pending.size() - keep);
    r.pending.erase(0, out.size());
    r.result.text += out;
    if (on_text && !out.empty()) on_text(i, out);
  };
  while (!g.done()) {
    const std::vector<int64_t> picked = g.step();
    for (size_t i = 0; i < rows.size(); ++i) {
      if (picked[i] < 0) continue;
      RowText& r = rows[i];
      r.pending += r.decoder.push(static_cast<int32_t>(picked[i]));
      for (const auto& s : requests[i].stop) {
        const size_t at = r.pending.find(s);
        if (at == std::string::npos) continue;
        r.pending.resize(at);
        r.stopped = true;
        g.stop_row(i);
        break;
      }
      if (!r.stopped && static_cast<int64_t>(g.generated()[i].size()) >= requests[i].max_tokens) g.stop_row(i);
      flush(i, false);
    }
  }
  const at::Tensor ids = batch.input_ids.to(at::kCPU);
  const at::Tensor real = batch.attention_mask.defined() ? batch.attention_mask.to(at::kCPU).to(at::kBool)
                                                         : at::ones_like(ids, at::kBool);
  std::vector<GenerateResult> results;
  for (size_t i = 0; i < rows.size(); ++i) {
    RowText& r = rows[i];
    if (!r.stopped) r.pending += r.decoder.finish();
    flush(i, true);
    const auto& tokens = g.generated()[i];
    const bool eos = !tokens.empty() && std::find(v.defaults.eos_ids.begin(), v.defaults.eos_ids.end(),
                                                  tokens.back()) != v.defaults.eos_ids.end();
    GenerateResult result = std::move(r.result);
    result.finish_reason = r.stopped || eos ? "stop" : "length";
    result.stats = g.stats();
    const int64_t row = static_cast<int64_t>(i);
    result.prompt_tokens = real[row].sum().item<int64_t>();
    result.completion_tokens = static_cast<int64_t>(tokens.size());
    result.image_tokens = (ids[row].eq(v.processor->image_token_id()) & real[row]).sum().item<int64_t>();
    results.push_back(std::move(result));
  }
  return results;
}

GenerateResult generate(VLM& v, const GenerateRequest& request, const std::function<void(const std::string&)>& on_text) {
  std::function<void(size_t, const std::string&)> forward;
  if (on_text) forward = [&](size_t, const std::string& text) { on_text(text); };
  return generate_batch(v, {request}, forward)[0];
}

}  // namespace vlm
