// tokenizer.json "pre_tokenizer": Split, ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit, Punctuation,
// BertPreTokenizer, CharDelimiterSplit and Sequence, with HF tokenizers' semantics.
//
// A pre-tokenizer turns a list of pieces into a finer list; each piece later goes through the model on its own.
// Pieces are byte ranges of one shared buffer, so splitting never copies text; only pre-tokenizers that rewrite
// text (ByteLevel, Metaspace) build a new buffer.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace vlm::text {

struct Piece {
  size_t begin, end;
  // True when the piece starts at offset 0 of the original input (HF: offsets_original().0 == 0), which
  // Metaspace's prepend_scheme "first" looks at.
  bool at_origin;
};

struct PieceList {
  std::string text;
  std::vector<Piece> pieces;
  std::string_view view(const Piece& p) const { return std::string_view(text).substr(p.begin, p.end - p.begin); }
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `list` by its pre-tokenised form; empty pieces never appear in the result.
  virtual void pre_tokenize(PieceList& list) const = 0;
};

// Builds the pre-tokenizer described by `j`; errors name `file` and `path`.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const std::string& file, const std::string& path);

// GPT-2's split regex, used by ByteLevel when use_regex is true.
extern const char* const kGpt2SplitPattern;

}  // namespace vlm::text
