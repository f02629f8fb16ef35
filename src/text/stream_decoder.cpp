#include "text/stream_decoder.h"

#include <optional>

#include "text/unicode.h"

namespace vlm::text {

namespace {

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// "<0xHH>": a byte-fallback token.
bool is_byte_token(const std::string& token) {
  return token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>' && is_hex(token[3]) &&
         is_hex(token[4]);
}

// The bytes a token stands for in the decoded stream: with a ByteLevel decoder, its byte-level characters mapped
// back to bytes when it is made of them only (as that decoder does), else its own UTF-8.
std::string stream_bytes(const std::string& token, bool byte_level) {
  if (!byte_level) return token;
  std::string out;
  for (size_t i = 0; i < token.size();) {
    size_t len;
    const int b = unicode::byte_level_byte(unicode::decode_at(token, i, &len));
    if (b < 0) return token;
    out += static_cast<char>(b);
    i += len;
  }
  return out;
}

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer),
      skip_special_tokens_(skip_special_tokens),
      byte_level_(tokenizer.byte_level_decoding()) {}

std::string StreamDecoder::push(int32_t id) {
  ids_.push_back(id);
  // Ids that decode to nothing (unknown ids, skipped special tokens) change nothing below.
  const auto token = tokenizer_.id_to_token(id);
  if (token && !(skip_special_tokens_ && tokenizer_.is_special(id))) {
    in_byte_run_ = is_byte_token(*token);
    if (!in_byte_run_) {
      tail_ += stream_bytes(*token, byte_level_);
      if (tail_.size() > 4) tail_.erase(0, tail_.size() - 4);
    } else {
      tail_.clear();
    }
  }
  // A run of byte-fallback tokens is final only once another token follows it; an incomplete UTF-8 sequence at the
  // end (at most 3 bytes) only once it completes or breaks.
  if (in_byte_run_ || unicode::complete_prefix_length(tail_) < tail_.size()) return "";
  const std::string text = tokenizer_.decode(ids_, skip_special_tokens_);
  if (text.size() <= prefix_.size()) return "";
  // HF's DecodeStream fails when the window's text no longer starts with the previous one (only possible with
  // decoders that rewrite across tokens); we emit what is new after the old length instead of failing.
  std::string fresh = text.substr(prefix_.size());
  // Slide the window: keep the ids from the previous boundary on, and remember their text.
  const size_t new_prefix_index = ids_.size() - prefix_index_;
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_index_));
  prefix_ = tokenizer_.decode(ids_, skip_special_tokens_);
  prefix_index_ = new_prefix_index;
  return fresh;
}

std::string StreamDecoder::finish() {
  std::string rest;
  const std::string text = tokenizer_.decode(ids_, skip_special_tokens_);
  if (text.size() > prefix_.size()) rest = text.substr(prefix_.size());
  ids_.clear();
  prefix_.clear();
  tail_.clear();
  prefix_index_ = 0;
  in_byte_run_ = false;
  return rest;
}

}  // namespace vlm::text
