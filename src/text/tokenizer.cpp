#include "text/tokenizer.h"

#include "core/error.h"
#include "core/file.h"
#include "text/json_tokenizer.h"
#include "text/sentencepiece_tokenizer.h"
#include "text/stream_decoder.h"
#include "text/tokenizer_config.h"
#include "text/unicode.h"

namespace vlm::text {

namespace {

constexpr size_t kMaxTokenizerFileBytes = size_t(512) << 20;
constexpr size_t kMaxEncodeBytes = size_t(1) << 30;  // keeps every offset well inside 32 bits

// transformers' clean_up_tokenization.
std::string clean_up_tokenization(std::string s) {
  static const char* const kPairs[][2] = {{" .", "."},   {" ?", "?"},   {" !", "!"},   {" ,", ","},
                                          {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"},
                                          {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& pair : kPairs) {
    const std::string from = pair[0], to = pair[1];
    std::string out;
    size_t prev = 0;
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, prev)) {
      out.append(s, prev, at - prev);
      out += to;
      prev = at + from.size();
    }
    out.append(s, prev, std::string::npos);
    s.swap(out);
  }
  return s;
}

}  // namespace

Tokenizer Tokenizer::load(const std::string& model_dir) {
  VLM_CHECK(is_directory(model_dir), model_dir, ": not a folder (expected a model folder with tokenizer.json or "
            "tokenizer.model)");
  const std::string json_path = path_join(model_dir, "tokenizer.json");
  const std::string spm_path = path_join(model_dir, "tokenizer.model");
  std::shared_ptr<TokenizerBackend> backend;
  if (path_exists(json_path)) {
    backend = JsonTokenizer::parse(read_file(json_path, kMaxTokenizerFileBytes), json_path);
  } else if (path_exists(spm_path)) {
    backend = SentencePieceTokenizer::parse(read_file(spm_path, kMaxTokenizerFileBytes), spm_path);
  } else {
    fail(model_dir, ": no tokenizer.json or tokenizer.model in this folder");
  }
  return finish(std::move(backend), "", "", true, model_dir);
}

Tokenizer Tokenizer::from_json(const std::string& tokenizer_json, const std::string& origin,
                               const std::string& tokenizer_config_json) {
  return finish(JsonTokenizer::parse(tokenizer_json, origin), tokenizer_config_json, "tokenizer_config.json", false,
                "");
}

Tokenizer Tokenizer::from_sentencepiece(const std::string& model_bytes, const std::string& origin,
                                        const std::string& tokenizer_config_json) {
  return finish(SentencePieceTokenizer::parse(model_bytes, origin), tokenizer_config_json, "tokenizer_config.json",
                false, "");
}

Tokenizer Tokenizer::finish(std::shared_ptr<TokenizerBackend> backend, const std::string& config_json,
                            const std::string& config_origin, bool config_from_dir, const std::string& dir) {
  TokenizerConfig cfg;
  if (config_from_dir)
    cfg = read_tokenizer_config(dir);
  else if (!config_json.empty())
    cfg = parse_tokenizer_config(config_json, config_origin);

  // As transformers' TokenizersBackend.__init__: tokens of added_tokens_decoder, then named and extra special
  // tokens the tokenizer does not have as added tokens yet.
  std::vector<AddedToken> to_add = cfg.added_tokens_decoder;
  const auto pending = [&](const std::string& content) {
    if (backend->is_added(content)) return false;
    for (const AddedToken& t : to_add)
      if (t.content == content) return false;
    return true;
  };
  for (const char* name : kNamedSpecialTokens) {
    auto it = cfg.named.find(name);
    if (it != cfg.named.end() && pending(it->second.content)) to_add.push_back(it->second);
  }
  for (const AddedToken& token : cfg.extra_special)
    if (pending(token.content)) to_add.push_back(token);
  if (!to_add.empty()) backend->add_tokens(to_add);

  Tokenizer t;
  const auto named = [&](const char* key) -> std::optional<std::string> {
    auto it = cfg.named.find(key);
    return it == cfg.named.end() ? std::nullopt : std::optional<std::string>(it->second.content);
  };
  t.bos_token_ = named("bos_token");
  t.eos_token_ = named("eos_token");
  t.pad_token_ = named("pad_token");
  t.unk_token_ = named("unk_token");
  // transformers 5 skips this clean-up for BPE tokenizers (every tokenizer we load is BPE or SentencePiece)
  // unless the config insists.
  t.clean_up_tokenization_spaces_ = cfg.clean_up_tokenization_spaces && cfg.clean_up_for_bpe_anyway;

  // An explicit add_bos_token / add_eos_token makes transformers rebuild the post-processor as
  // "[bos] $A [eos]" (each part only when asked for and the token is set).
  if (cfg.add_bos_token || cfg.add_eos_token || !backend->has_post_processor()) {
    std::vector<int32_t> prefix, suffix;
    const auto id_for = [&](const std::optional<std::string>& token, const char* flag) {
      const auto id = backend->token_to_id(*token);
      if (!id) fail(config_origin.empty() ? "tokenizer_config.json" : config_origin, ": ", flag, " is true but ",
                    quote(*token), " is not in the vocabulary");
      return *id;
    };
    if (cfg.add_bos_token.value_or(false) && t.bos_token_) prefix.push_back(id_for(t.bos_token_, "add_bos_token"));
    if (cfg.add_eos_token.value_or(false) && t.eos_token_) suffix.push_back(id_for(t.eos_token_, "add_eos_token"));
    backend->set_affix_post_processor(std::move(prefix), std::move(suffix));
  }
  t.backend_ = std::move(backend);
  return t;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special, bool add_special_tokens) const {
  VLM_CHECK(text.size() <= kMaxEncodeBytes, "encode: the text has ", text.size(), " bytes; at most ",
            kMaxEncodeBytes, " can be encoded at once");
  std::vector<int32_t> ids;
  if (unicode::is_valid(text)) {
    backend_->encode(text, parse_special, add_special_tokens, ids);
  } else {
    const std::string repaired = unicode::decode_lossy(text);
    backend_->encode(repaired, parse_special, add_special_tokens, ids);
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string text = backend_->decode(ids, skip_special_tokens);
  if (clean_up_tokenization_spaces_) text = clean_up_tokenization(std::move(text));
  return text;
}

StreamDecoder Tokenizer::stream_decoder(bool skip_special_tokens) const {
  return StreamDecoder(*this, skip_special_tokens);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const { return backend_->token_to_id(token); }
std::optional<std::string> Tokenizer::id_to_token(int32_t id) const { return backend_->id_to_token(id); }
size_t Tokenizer::vocab_size() const { return backend_->vocab_size(); }
size_t Tokenizer::base_vocab_size() const { return backend_->base_vocab_size(); }
bool Tokenizer::is_special(int32_t id) const { return backend_->is_special(id); }
bool Tokenizer::byte_level_decoding() const { return backend_->byte_level_decoding(); }

std::optional<int32_t> Tokenizer::id_of(const std::optional<std::string>& token) const {
  return token ? backend_->token_to_id(*token) : std::nullopt;
}
std::optional<int32_t> Tokenizer::bos_id() const { return id_of(bos_token_); }
std::optional<int32_t> Tokenizer::eos_id() const { return id_of(eos_token_); }
std::optional<int32_t> Tokenizer::pad_id() const { return id_of(pad_token_); }
std::optional<int32_t> Tokenizer::unk_id() const { return id_of(unk_token_); }

}  // namespace vlm::text
