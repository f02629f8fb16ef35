#include "models/processor.h"

#include "core/error.h"
#include "core/file.h"

namespace vlm {
namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// Where each assistant turn lies in the full rendering, for templates without {% generation %} blocks: render the
// conversation up to before the turn with the generation prompt, and up to the turn's end without it; the turn is
// what the second adds to the first, less trailing whitespace (the separator between turns). This needs only that
// the template renders a conversation's prefixes as prefixes of its full text, which chat templates do so that
// KV caches can be reused; a template that does not is an error rather than silently wrong labels.
std::vector<text::ByteSpan> assistant_spans(const text::ChatTemplate& t, const text::ChatRenderRequest& request,
                                            const std::string& full) {
  std::vector<text::ByteSpan> spans;
  const auto& messages = request.messages;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (!messages[i].is_object() || messages[i].value("role", "") != "assistant") continue;
    text::ChatRenderRequest before = request, upto = request;
    before.messages = nlohmann::ordered_json(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(i));
    before.add_generation_prompt = true;
    upto.messages = nlohmann::ordered_json(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    upto.add_generation_prompt = false;
    const std::string a = t.render(before).text, b = t.render(upto).text;
    VLM_CHECK(b.size() >= a.size() && b.compare(0, a.size(), a) == 0 && full.compare(0, b.size(), b) == 0,
              t.origin(), ": the chat template does not render the conversation up to message ", i,
              " as a prefix of the whole, so its assistant turns cannot be located for training labels (a template "
              "with {% generation %} blocks would say where they are)");
    size_t end = b.size();
    while (end > a.size() && is_space(b[end - 1])) --end;
    if (end > a.size()) spans.push_back({a.size(), end});
  }
  return spans;
}

}  // namespace

std::shared_ptr<Processor> Processor::load(const std::string& dir, const Json& model_config) {
  auto p = std::make_shared<Processor>();
  p->tokenizer_ = std::make_shared<text::Tokenizer>(text::Tokenizer::load(dir));
  p->template_ = std::make_shared<text::ChatTemplate>(text::ChatTemplate::load(dir));
  p->images_ = image::load_image_processor(dir);
  for (const auto& [name, value] : {std::pair{"bos_token", p->tokenizer_->bos_token()},
                                    std::pair{"eos_token", p->tokenizer_->eos_token()},
                                    std::pair{"pad_token", p->tokenizer_->pad_token()},
                                    std::pair{"unk_token", p->tokenizer_->unk_token()}})
    if (value) p->special_variables_[name] = *value;
  const std::string config_path = path_join(dir, "config.json");
  const JsonObject cfg(model_config, config_path);
  p->image_token_id_ = static_cast<int32_t>(cfg.get<int64_t>("image_token_id", -1));
  if (auto v = cfg.maybe_object("vision_config")) p->merge_ = v->get<int64_t>("spatial_merge_size", 2);
  return p;
}

EncodedConversation Processor::encode(const Conversation& c) const {
  text::ChatRenderRequest req;
  req.messages = nlohmann::ordered_json::parse(c.messages.dump());
  req.add_generation_prompt = c.add_generation_prompt;
  req.variables = nlohmann::ordered_json::parse(special_variables_.dump());
  text::RenderOutput out = template_->render(req);
  if (c.label_assistant && out.generation_spans.empty()) out.generation_spans = assistant_spans(*template_, req, out.text);

  // Encode markup (special tokens on) and content (off) piece by piece, tracking byte offsets for the
  // assistant mask.
  EncodedConversation e;
  auto in_generation = [&](size_t begin, size_t end) {
    for (const auto& g : out.generation_spans)
      if (begin >= g.begin && end <= g.end) return true;
    return false;
  };
  auto emit = [&](size_t begin, size_t end, bool content) {
    if (begin >= end) return;
    const std::string_view piece(out.text.data() + begin, end - begin);
    const std::vector<int32_t> ids = tokenizer_->encode(piece, /*parse_special=*/!content);
    const uint8_t assistant = in_generation(begin, end) ? 1 : 0;
    e.ids.insert(e.ids.end(), ids.begin(), ids.end());
    e.assistant.insert(e.assistant.end(), ids.size(), assistant);
  };
  // Split at content and generation boundaries so each piece lies wholly inside or outside each kind of span.
  std::vector<size_t> cuts{0, out.text.size()};
  for (const auto& s : out.content_spans) cuts.insert(cuts.end(), {s.begin, s.end});
  for (const auto& s : out.generation_spans) cuts.insert(cuts.end(), {s.begin, s.end});
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    bool content = false;
    for (const auto& s : out.content_spans)
      if (cuts[i] >= s.begin && cuts[i + 1] <= s.end) content = true;
    emit(cuts[i], cuts[i + 1], content);
  }

  // Images: preprocess, then expand each image placeholder token to the image's token count (the Qwen2-VL rule:
  // t * h * w / merge^2 tokens per image).
  int64_t placeholders = 0;
  for (int32_t id : e.ids) placeholders += id == image_token_id_;
  VLM_CHECK(placeholders == static_cast<int64_t>(c.images.size()), "the conversation has ", placeholders,
            " image placeholders but ", c.images.size(), " images were given");
  if (c.images.empty()) return e;
  e.images = images_->process(c.images);
  std::vector<int32_t> ids;
  std::vector<uint8_t> assistant;
  size_t image = 0;
  for (size_t i = 0; i < e.ids.size(); ++i) {
    if (e.ids[i] != image_token_id_) {
      ids.push_back(e.ids[i]);
      assistant.push_back(e.assistant[i]);
      continue;
    }
    const auto& g = e.images.images.at(image++).grid_thw;
    const int64_t n = g[0] * g[1] * g[2] / (merge_ * merge_);
    ids.insert(ids.end(), static_cast<size_t>(n), image_token_id_);
    assistant.insert(assistant.end(), static_cast<size_t>(n), e.assistant[i]);
  }
  e.ids = std::move(ids);
  e.assistant = std::move(assistant);
  return e;
}

Batch Processor::prepare(const std::vector<Conversation>& conversations, const at::Device& device) const {
  VLM_CHECK(!conversations.empty(), "no conversations to prepare");
  std::vector<EncodedConversation> enc;
  size_t width = 0;
  for (const auto& c : conversations) {
    enc.push_back(encode(c));
    width = std::max(width, enc.back().ids.size());
  }
  const int64_t b = static_cast<int64_t>(enc.size()), l = static_cast<int64_t>(width);
  const int32_t pad = tokenizer_->pad_id().value_or(0);
  std::vector<int64_t> ids(static_cast<size_t>(b * l), pad), mask(static_cast<size_t>(b * l), 0);
  std::vector<at::Tensor> pixels, grids;
  for (int64_t i = 0; i < b; ++i) {
    const auto& e = enc[static_cast<size_t>(i)];
    const size_t offset = static_cast<size_t>((i + 1) * l) - e.ids.size();  // left padding
    std::copy(e.ids.begin(), e.ids.end(), ids.begin() + static_cast<std::ptrdiff_t>(offset));
    std::fill_n(mask.begin() + static_cast<std::ptrdiff_t>(offset), e.ids.size(), 1);
    if (!e.images.images.empty()) {
      const auto& pv = e.images.pixel_values;
      pixels.push_back(at::tensor(pv.data).view(pv.shape));
      for (const auto& im : e.images.images)
        grids.push_back(at::tensor(std::vector<int64_t>{im.grid_thw[0], im.grid_thw[1], im.grid_thw[2]}));
    }
  }
  Batch batch;
  batch.input_ids = at::tensor(ids).view({b, l}).to(device);
  batch.attention_mask = at::tensor(mask).view({b, l}).to(device);
  if (!pixels.empty()) {
    batch.pixel_values = at::cat(pixels, 0).to(device);
    batch.image_grid_thw = at::stack(grids, 0).to(device);
  }
  return batch;
}

}  // namespace vlm
