// The interface both tokenizer implementations (tokenizer.json pipeline, SentencePiece model) provide to
// vlm::text::Tokenizer. Internal: use text/tokenizer.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "text/added_vocabulary.h"

namespace vlm::text {

class TokenizerBackend {
 public:
  virtual ~TokenizerBackend() = default;
  // `text` is valid UTF-8 (Tokenizer replaces invalid bytes first). Appends ids to `out`.
  virtual void encode(std::string_view text, bool parse_special, bool add_special_tokens,
                      std::vector<int32_t>& out) const = 0;
  // Ids that name no token are skipped (as HF does).
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const = 0;

  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::string> id_to_token(int32_t id) const = 0;
  virtual bool is_special(int32_t id) const = 0;
  // True when `content` is an added token (not merely a model token).
  virtual bool is_added(std::string_view content) const = 0;
  // Base vocabulary, and with the added tokens (len(tokenizer) in transformers).
  virtual size_t base_vocab_size() const = 0;
  virtual size_t vocab_size() const = 0;

  // transformers' additions from tokenizer_config.json: added tokens and named special tokens that the tokenizer
  // does not know yet (HF's AddedVocabulary::add_tokens id rule), and a "[bos] $A [eos]" post-processor.
  virtual void add_tokens(const std::vector<AddedToken>& tokens) = 0;
  virtual bool has_post_processor() const = 0;
  // True when decoding maps GPT-2 byte-level characters back to bytes (a ByteLevel decoder).
  virtual bool byte_level_decoding() const { return false; }
  virtual void set_affix_post_processor(std::vector<int32_t> prefix, std::vector<int32_t> suffix) = 0;
};

}  // namespace vlm::text
