// vlm::text::Tokenizer: Hugging Face tokenizers in C++, with exact parity to the `tokenizers` library (and to
// transformers' handling of tokenizer_config.json).
//
//   auto tok = vlm::text::Tokenizer::load("path/to/model");   // tokenizer.json, else tokenizer.model
//   std::vector<int32_t> ids = tok.encode("Hello <|im_end|>");  // specials in the text become special ids
//   std::vector<int32_t> safe = tok.encode(user_text, /*parse_special=*/false);  // never control tokens
//   std::string text = tok.decode(ids, /*skip_special_tokens=*/true);
//
// Input text that is not valid UTF-8 is first decoded as Python's bytes.decode("utf-8", errors="replace") would
// (one U+FFFD per maximal invalid subsequence): a Python str, which is what HF tokenizes, can never hold invalid
// UTF-8, so this is the string a Python caller would have passed. Decoding produces valid UTF-8 the same way.
//
// A Tokenizer is cheap to copy (shared, immutable state) and safe to use from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vlm::text {

class TokenizerBackend;
class StreamDecoder;

class Tokenizer {
 public:
  // Loads <model_dir>/tokenizer.json (or, without it, <model_dir>/tokenizer.model through SentencePiece) together
  // with tokenizer_config.json / special_tokens_map.json when present. Errors name the file and field.
  static Tokenizer load(const std::string& model_dir);
  // From the text of a tokenizer.json (and optionally of a tokenizer_config.json); `origin` names it in errors.
  static Tokenizer from_json(const std::string& tokenizer_json, const std::string& origin = "tokenizer.json",
                             const std::string& tokenizer_config_json = "");
  // From the bytes of a SentencePiece tokenizer.model.
  static Tokenizer from_sentencepiece(const std::string& model_bytes, const std::string& origin = "tokenizer.model",
                                      const std::string& tokenizer_config_json = "");

  // Token ids of `text`.
  //   parse_special: special tokens written in the text become their ids (HF's default). With false, special
  //     tokens are tokenized as ordinary text (HF's encode_special_tokens=True / split_special_tokens=True), for
  //     message content that must never turn into control tokens; non-special added tokens still match.
  //   add_special_tokens: apply the post-processor (e.g. BOS for Llama). transformers' tokenizer(...) defaults to
  //     true; apply_chat_template encodes with false because templates write BOS themselves.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true,
                              bool add_special_tokens = false) const;

  // Text of `ids` as transformers' decode gives it: unknown ids are skipped, special tokens dropped when
  // skip_special_tokens, invalid UTF-8 bytes become U+FFFD, and clean_up_tokenization_spaces is applied when
  // tokenizer_config.json asks for it.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  // An incremental decoder (see stream_decoder.h).
  StreamDecoder stream_decoder(bool skip_special_tokens = false) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  // Vocabulary size including added tokens (len(tokenizer) in transformers), and without them.
  size_t vocab_size() const;
  size_t base_vocab_size() const;
  // True for ids of special tokens (those skip_special_tokens drops).
  bool is_special(int32_t id) const;

  // Special tokens named by tokenizer_config.json (bos_token, ...): their text and id, when set.
  std::optional<std::string> bos_token() const { return bos_token_; }
  std::optional<std::string> eos_token() const { return eos_token_; }
  std::optional<std::string> pad_token() const { return pad_token_; }
  std::optional<std::string> unk_token() const { return unk_token_; }
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> pad_id() const;
  std::optional<int32_t> unk_id() const;

 private:
  friend class StreamDecoder;
  Tokenizer() = default;
  static Tokenizer finish(std::shared_ptr<TokenizerBackend> backend, const std::string& config_json,
                          const std::string& config_origin, bool config_from_dir, const std::string& dir);
  std::optional<int32_t> id_of(const std::optional<std::string>& token) const;
  bool byte_level_decoding() const;

  std::shared_ptr<const TokenizerBackend> backend_;
  std::optional<std::string> bos_token_, eos_token_, pad_token_, unk_token_;
  bool clean_up_tokenization_spaces_ = false;
};

}  // namespace vlm::text
