#include "train/evaluate.h"

#include "core/error.h"
#include "image/decode.h"
#include "train/loss.h"

namespace vlm::train {
namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// The text parts of a message, concatenated.
std::string text_of(const Json& message) {
  std::string out;
  const Json& content = message.at("content");
  if (content.is_string()) return content.get<std::string>();
  for (const auto& part : content)
    if (part.value("type", "") == "text") out += part.value("text", "");
  return out;
}

// The prompt (every message before the last assistant turn) and that turn's text.
std::pair<Conversation, std::string> split_last_answer(const DatasetSample& s) {
  size_t last = s.messages.size();
  for (size_t i = 0; i < s.messages.size(); ++i)
    if (s.messages[i].value("role", "") == "assistant") last = i;
  VLM_CHECK(last < s.messages.size(), s.origin, ": no assistant turn to compare with");
  Conversation c;
  c.messages = Json(s.messages.begin(), s.messages.begin() + static_cast<std::ptrdiff_t>(last));
  c.add_generation_prompt = true;
  size_t images = 0;
  for (const auto& m : c.messages)
    if (m.at("content").is_array())
      for (const auto& part : m.at("content")) images += part.value("type", "") == "image";
  for (size_t i = 0; i < images; ++i) c.images.push_back(image::load_image_file(s.images.at(i)));
  return {c, text_of(s.messages[last])};
}

}  // namespace

EvalReport evaluate(VLM& v, const Dataset& data, const EvalOptions& options) {
  VLM_CHECK(options.batch_size > 0, "evaluation batch size must be > 0");
  torch::NoGradGuard no_grad;
  v.model->eval();
  EvalReport report;
  const size_t n = options.limit > 0 ? std::min(data.samples.size(), static_cast<size_t>(options.limit))
                                     : data.samples.size();
  double loss = 0;
  int64_t correct_tokens = 0;
  std::vector<EncodedSample> pending;
  auto flush = [&] {
    if (pending.empty()) return;
    std::vector<const EncodedSample*> ptrs;
    for (const auto& s : pending) ptrs.push_back(&s);
    const TrainBatch b = collate(ptrs, v.processor->tokenizer().pad_id().value_or(0), v.device);
    const LossSums sums = causal_lm_loss(*v.model, v.model->forward_hidden(b.batch, nullptr), b.labels);
    loss += sums.loss_sum.item<double>();
    report.tokens += sums.tokens;
    correct_tokens += sums.correct.item<int64_t>();
    pending.clear();
  };
  for (size_t i = 0; i < n; ++i) {
    if (auto e = encode_sample(*v.processor, data.samples[i], options.collate, nullptr))
      pending.push_back(std::move(*e));
    else
      ++report.skipped;
    if (static_cast<int64_t>(pending.size()) == options.batch_size) flush();
  }
  flush();
  VLM_CHECK(report.tokens > 0, data.path, ": no sample has a token to score");
  report.loss = loss / static_cast<double>(report.tokens);
  report.token_accuracy = static_cast<double>(correct_tokens) / static_cast<double>(report.tokens);
  report.samples = static_cast<int64_t>(n) - report.skipped;

  if (options.exact_match) {
    int64_t hits = 0;
    for (size_t start = 0; start < n; start += static_cast<size_t>(options.batch_size)) {
      std::vector<GenerateRequest> requests;
      std::vector<std::string> expected;
      const size_t end = std::min(n, start + static_cast<size_t>(options.batch_size));
      for (size_t i = start; i < end; ++i) {
        auto [conversation, answer] = split_last_answer(data.samples[i]);
        GenerateRequest r;
        r.conversation = std::move(conversation);
        r.sampling.temperature = 0;
        r.max_tokens = options.max_new_tokens;
        requests.push_back(std::move(r));
        expected.push_back(trim(answer));
      }
      const auto results = generate_batch(v, requests);
      for (size_t i = 0; i < results.size(); ++i) {
        const DatasetSample& s = data.samples[start + i];
        EvalSample a;
        a.origin = s.origin;
        const Json& last_user = requests[i].conversation.messages.back();
        a.prompt = trim(text_of(last_user));
        a.expected = expected[i];
        a.generated = trim(results[i].text);
        a.correct = a.generated == a.expected;
        hits += a.correct;
        report.answers.push_back(std::move(a));
      }
    }
    report.exact_match = static_cast<double>(hits) / static_cast<double>(n);
  }
  return report;
}

}  // namespace vlm::train
