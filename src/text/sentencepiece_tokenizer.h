// A SentencePiece model (tokenizer.model) through libsentencepiece, for folders without tokenizer.json.
//
// Encoding is sentencepiece's own (normalisation, dummy prefix, byte fallback as the model says). Special tokens:
// the model's control pieces (<s>, </s>, ...) plus those tokenizer_config.json names; with parse_special they are
// cut out of the text first and each remaining piece is encoded on its own (as transformers' slow tokenizers do).
// add_special_tokens adds BOS (add_bos_token, default true) and EOS (add_eos_token, default false).
// Decoding hands runs of ordinary ids to sentencepiece and writes special tokens as their text (or drops them with
// skip_special_tokens).
#pragma once

#include <memory>
#include <string>

#include "text/added_vocabulary.h"
#include "text/tokenizer_backend.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace vlm::text {

class SentencePieceTokenizer : public TokenizerBackend {
 public:
  // Reads a serialized ModelProto (the bytes of tokenizer.model); `origin` names it in errors.
  static std::unique_ptr<SentencePieceTokenizer> parse(const std::string& model_bytes, const std::string& origin);
  ~SentencePieceTokenizer() override;

  void encode(std::string_view text, bool parse_special, bool add_special_tokens,
              std::vector<int32_t>& out) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::optional<std::string> id_to_token(int32_t id) const override;
  bool is_special(int32_t id) const override;
  bool is_added(std::string_view content) const override { return added_.token_to_id(content).has_value(); }
  size_t base_vocab_size() const override;
  size_t vocab_size() const override;
  void add_tokens(const std::vector<AddedToken>& tokens) override;
  bool has_post_processor() const override { return true; }
  void set_affix_post_processor(std::vector<int32_t> prefix, std::vector<int32_t> suffix) override;

 private:
  SentencePieceTokenizer();
  std::optional<int32_t> piece_id(std::string_view piece) const;  // id of an existing piece (not unk fallback)

  std::string origin_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  AddedVocabulary added_;  // control pieces and configured special tokens
  int64_t max_added_id_ = -1;
  std::vector<int32_t> prefix_, suffix_;  // what add_special_tokens adds
};

}  // namespace vlm::text
