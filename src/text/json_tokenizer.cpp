#include "text/json_tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "core/log.h"
#include "text/component_json.h"

namespace vlm::text {

std::unique_ptr<JsonTokenizer> JsonTokenizer::parse(const std::string& json_text, const std::string& origin) {
  const Json root = parse_json_strict(json_text, origin);
  const JsonObject top(root, origin);
  std::unique_ptr<JsonTokenizer> t(new JsonTokenizer());
  t->origin_ = origin;
  // "truncation" and "padding" are ignored: transformers switches both off unless a call asks for them.

  const JsonObject model = top.object("model");
  const std::string type = model.get<std::string>("type", "BPE");
  if (type != "BPE")
    fail(model.where("type"), ": model type ", quote(type), " is not supported (only BPE; SentencePiece models load "
         "from tokenizer.model)");
  t->model_ = BpeModel::from_json(model);

  if (top.has("normalizer")) t->normalizer_ = make_normalizer(root.at("normalizer"), origin, "normalizer");
  if (top.has("pre_tokenizer")) t->pre_tokenizer_ = make_pre_tokenizer(root.at("pre_tokenizer"), origin, "pre_tokenizer");
  if (top.has("post_processor"))
    t->post_processor_ = make_post_processor(root.at("post_processor"), origin, "post_processor");
  if (top.has("decoder")) t->decoder_ = make_decoder(root.at("decoder"), origin, "decoder");

  if (top.has("added_tokens")) {
    const Json& list = root.at("added_tokens");
    if (!list.is_array()) fail(top.where("added_tokens"), ": expected a list, got ", json_type_name(list));
    for (size_t i = 0; i < list.size(); ++i) {
      const JsonObject entry(list[i], origin, index_path("added_tokens", i));
      check_known_keys(entry, "an added token",
                       {"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"});
      AddedToken token;
      token.content = entry.get<std::string>("content");
      const int64_t id = entry.get<int64_t>("id");
      if (id < 0 || id >= INT32_MAX) fail(entry.where("id"), ": id ", id, " is out of range");
      token.single_word = entry.get<bool>("single_word", false);
      token.lstrip = entry.get<bool>("lstrip", false);
      token.rstrip = entry.get<bool>("rstrip", false);
      token.normalized = entry.get<bool>("normalized", true);
      token.special = entry.get<bool>("special", false);
      t->add_token(token);
      // HF assigns ids itself and only warns when the file disagrees; so do we.
      const auto assigned = t->token_to_id(token.content);
      if (!token.content.empty() && assigned && *assigned != id)
        log::warn(entry.where("id"), ": token ", quote(token.content), " was expected to have id ", id,
                  " but gets id ", *assigned, " (as in HF tokenizers)");
    }
  }
  t->added_.build(t->normalizer_.get());
  return t;
}

void JsonTokenizer::add_token(AddedToken token) {
  if (token.content.empty()) return;
  if (const auto known = token_to_id(token.content)) {
    token.id = *known;
  } else {
    const int64_t base = static_cast<int64_t>(model_->vocab_size());
    const int64_t max_added = max_added_id_;
    const int64_t next = max_added < 0 ? base : (max_added >= base || base == 0) ? max_added + 1 : base;
    VLM_CHECK(next < INT32_MAX, origin_, ": too many added tokens");
    token.id = static_cast<int32_t>(next);
  }
  max_added_id_ = std::max<int64_t>(max_added_id_, token.id);
  added_.add(token);
}

void JsonTokenizer::add_tokens(const std::vector<AddedToken>& tokens) {
  for (const AddedToken& t : tokens) add_token(t);
  added_.build(normalizer_.get());
}

void JsonTokenizer::set_affix_post_processor(std::vector<int32_t> prefix, std::vector<int32_t> suffix) {
  post_processor_ = make_affix_processor(std::move(prefix), std::move(suffix));
}

void JsonTokenizer::encode(std::string_view text, bool parse_special, bool add_special_tokens,
                           std::vector<int32_t>& out) const {
  std::vector<int32_t> ids;
  std::vector<TextSplit> raw_splits, normalized_splits;
  PieceList pieces;
  // 1. Added tokens that match the raw text.
  added_.split(text, /*normalized_set=*/false, parse_special, raw_splits);
  for (const TextSplit& raw : raw_splits) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    if (raw.end <= raw.begin) continue;
    // 2. Normalise the text between them, then match the normalized added tokens.
    std::string normalized(text.substr(raw.begin, raw.end - raw.begin));
    if (normalizer_) normalizer_->normalize(normalized);
    normalized_splits.clear();
    added_.split(normalized, /*normalized_set=*/true, parse_special, normalized_splits);
    for (const TextSplit& split : normalized_splits) {
      if (split.id >= 0) {
        ids.push_back(split.id);
        continue;
      }
      if (split.end <= split.begin) continue;
      // 3. Pre-tokenise, 4. run the model on every piece.
      if (split.begin == 0 && split.end == normalized.size())
        pieces.text.swap(normalized);
      else
        pieces.text.assign(normalized, split.begin, split.end - split.begin);
      pieces.pieces.assign(1, Piece{0, pieces.text.size(), raw.begin == 0 && split.begin == 0});
      if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pieces);
      for (const Piece& p : pieces.pieces) model_->tokenize(pieces.view(p), ids);
    }
  }
  // 5. Post-process (special tokens of the template).
  if (post_processor_) post_processor_->process(ids, add_special_tokens);
  out.insert(out.end(), ids.begin(), ids.end());
}

std::string JsonTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (const AddedToken* added = added_.by_id(id)) {
      if (skip_special_tokens && added_.is_special_content(added->content)) continue;
      tokens.push_back(added->content);
    } else if (const auto token = model_->id_to_token(id)) {
      if (skip_special_tokens && added_.is_special_content(*token)) continue;
      tokens.emplace_back(*token);
    }
  }
  if (decoder_) return decoder_->decode(std::move(tokens));
  std::string joined;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) joined += ' ';
    joined += tokens[i];
  }
  return joined;
}

std::optional<int32_t> JsonTokenizer::token_to_id(std::string_view token) const {
  if (const auto id = added_.token_to_id(token)) return id;
  return model_->token_to_id(token);
}

std::optional<std::string> JsonTokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* added = added_.by_id(id)) return added->content;
  if (const auto token = model_->id_to_token(id)) return std::string(*token);
  return std::nullopt;
}

bool JsonTokenizer::is_special(int32_t id) const {
  const auto token = id_to_token(id);
  return token && added_.is_special_content(*token);
}

size_t JsonTokenizer::vocab_size() const {
  size_t extra = 0;
  for (const AddedToken& t : added_.tokens())
    if (!model_->token_to_id(t.content)) ++extra;
  return model_->vocab_size() + extra;
}

}  // namespace vlm::text
