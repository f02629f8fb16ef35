#include "text/sentencepiece_tokenizer.h"

#include <algorithm>

#include <sentencepiece_processor.h>

#include "core/error.h"

namespace vlm::text {

SentencePieceTokenizer::SentencePieceTokenizer() : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::parse(const std::string& model_bytes,
                                                                      const std::string& origin) {
  std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer());
  t->origin_ = origin;
  const auto status = t->sp_->LoadFromSerializedProto(model_bytes);
  if (!status.ok()) fail(origin, ": not a valid SentencePiece model: ", status.ToString());
  // Control pieces (<s>, </s>, ...) are the model's special tokens.
  const int n = t->sp_->GetPieceSize();
  for (int id = 0; id < n; ++id) {
    if (!t->sp_->IsControl(id)) continue;
    AddedToken token;
    token.content = t->sp_->IdToPiece(id);
    token.id = id;
    token.special = true;
    token.normalized = false;
    t->added_.add(token);
    t->max_added_id_ = std::max<int64_t>(t->max_added_id_, id);
  }
  t->added_.build(nullptr);
  if (t->sp_->bos_id() >= 0) t->prefix_ = {t->sp_->bos_id()};
  return t;
}

std::optional<int32_t> SentencePieceTokenizer::piece_id(std::string_view piece) const {
  const int id = sp_->PieceToId(std::string(piece));
  if (id < 0 || id >= sp_->GetPieceSize() || sp_->IdToPiece(id) != piece) return std::nullopt;
  return id;
}

void SentencePieceTokenizer::add_tokens(const std::vector<AddedToken>& tokens) {
  for (AddedToken token : tokens) {
    if (token.content.empty()) continue;
    if (const auto known = token_to_id(token.content)) {
      token.id = *known;
    } else {
      const int64_t base = sp_->GetPieceSize();
      const int64_t next = max_added_id_ < base ? base : max_added_id_ + 1;
      VLM_CHECK(next < INT32_MAX, origin_, ": too many added tokens");
      token.id = static_cast<int32_t>(next);
    }
    max_added_id_ = std::max<int64_t>(max_added_id_, token.id);
    added_.add(token);
  }
  added_.build(nullptr);
}

void SentencePieceTokenizer::set_affix_post_processor(std::vector<int32_t> prefix, std::vector<int32_t> suffix) {
  prefix_ = std::move(prefix);
  suffix_ = std::move(suffix);
}

void SentencePieceTokenizer::encode(std::string_view text, bool parse_special, bool add_special_tokens,
                                    std::vector<int32_t>& out) const {
  if (add_special_tokens) out.insert(out.end(), prefix_.begin(), prefix_.end());
  std::vector<TextSplit> splits;
  if (parse_special)
    added_.split(text, false, true, splits);
  else
    splits.push_back({0, text.size(), -1});
  std::vector<int> ids;
  for (const TextSplit& s : splits) {
    if (s.id >= 0) {
      out.push_back(s.id);
      continue;
    }
    if (s.end <= s.begin) continue;
    ids.clear();
    const auto status = sp_->Encode(text.substr(s.begin, s.end - s.begin), &ids);
    if (!status.ok()) fail(origin_, ": SentencePiece encoding failed: ", status.ToString());
    out.insert(out.end(), ids.begin(), ids.end());
  }
  if (add_special_tokens) out.insert(out.end(), suffix_.begin(), suffix_.end());
}

std::string SentencePieceTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string out, piece;
  std::vector<int> run;
  const int n = sp_->GetPieceSize();
  const auto flush = [&] {
    if (run.empty()) return;
    piece.clear();
    const auto status = sp_->Decode(run, &piece);
    if (!status.ok()) fail(origin_, ": SentencePiece decoding failed: ", status.ToString());
    out += piece;
    run.clear();
  };
  for (int32_t id : ids) {
    if (const AddedToken* added = added_.by_id(id)) {
      if (added->special) {
        flush();
        if (!skip_special_tokens) out += added->content;
        continue;
      }
      if (id >= n) {  // an added, non-special token outside the model
        flush();
        out += added->content;
        continue;
      }
    }
    if (id >= 0 && id < n) run.push_back(id);  // unknown ids are skipped, as HF does
  }
  flush();
  return out;
}

std::optional<int32_t> SentencePieceTokenizer::token_to_id(std::string_view token) const {
  if (const auto id = added_.token_to_id(token)) return id;
  return piece_id(token);
}

std::optional<std::string> SentencePieceTokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* added = added_.by_id(id)) return added->content;
  if (id >= 0 && id < sp_->GetPieceSize()) return sp_->IdToPiece(id);
  return std::nullopt;
}

bool SentencePieceTokenizer::is_special(int32_t id) const {
  const AddedToken* added = added_.by_id(id);
  return added && added->special;
}

size_t SentencePieceTokenizer::base_vocab_size() const { return static_cast<size_t>(sp_->GetPieceSize()); }

size_t SentencePieceTokenizer::vocab_size() const {
  size_t extra = 0;
  for (const AddedToken& t : added_.tokens())
    if (t.id >= sp_->GetPieceSize()) ++extra;
  return base_vocab_size() + extra;
}

}  // namespace vlm::text
