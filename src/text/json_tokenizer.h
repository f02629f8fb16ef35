// The tokenizer.json pipeline: added tokens -> normalizer -> pre-tokenizer -> BPE -> post-processor, and the
// decoder back. Loading is strict: a missing model, bad merges, out-of-range or duplicate ids, and any component or
// option we do not implement are errors naming the field.
#pragma once

#include <memory>
#include <string>

#include "text/added_vocabulary.h"
#include "text/bpe_model.h"
#include "text/decoders.h"
#include "text/normalizers.h"
#include "text/post_processors.h"
#include "text/pre_tokenizers.h"
#include "text/tokenizer_backend.h"

namespace vlm::text {

class JsonTokenizer : public TokenizerBackend {
 public:
  // `origin` names the file in errors ("model/tokenizer.json").
  static std::unique_ptr<JsonTokenizer> parse(const std::string& json_text, const std::string& origin);

  void encode(std::string_view text, bool parse_special, bool add_special_tokens,
              std::vector<int32_t>& out) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::optional<std::string> id_to_token(int32_t id) const override;
  bool is_special(int32_t id) const override;
  bool is_added(std::string_view content) const override { return added_.token_to_id(content).has_value(); }
  size_t base_vocab_size() const override { return model_->vocab_size(); }
  size_t vocab_size() const override;
  void add_tokens(const std::vector<AddedToken>& tokens) override;
  bool has_post_processor() const override { return post_processor_ != nullptr; }
  bool byte_level_decoding() const override { return decoder_ && decoder_->is_byte_level(); }
  void set_affix_post_processor(std::vector<int32_t> prefix, std::vector<int32_t> suffix) override;

 private:
  JsonTokenizer() = default;
  // HF's AddedVocabulary::add_tokens: reuses the id of a known token, else the next free id after the model's.
  void add_token(AddedToken token);

  std::string origin_;
  AddedVocabulary added_;
  int64_t max_added_id_ = -1;  // largest id given to an added token
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
};

}  // namespace vlm::text
