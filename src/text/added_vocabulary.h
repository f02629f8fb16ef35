// Added tokens ("added_tokens" of tokenizer.json, plus special tokens named in tokenizer_config.json), matched in the
// input before the model sees it, as HF's AddedVocabulary does:
//   - tokens with normalized=false are matched on the raw text, those with normalized=true on each normalised
//     leftover (against their own normalised content);
//   - matching is leftmost-longest over all tokens of the set; a token with single_word only counts when no word
//     character (regex \w) touches it; lstrip / rstrip make the match swallow the whitespace before / after it;
//   - with parse_special=false (HF's encode_special_tokens=true) special tokens are skipped, so their text goes
//     through the normal pipeline; non-special added tokens are still matched.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace vlm::text {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

// A piece of the input: either plain text [begin, end) or a matched added token (id >= 0) spanning it.
struct TextSplit {
  size_t begin, end;
  int32_t id;  // -1 for plain text
};

class AddedVocabulary {
 public:
  // Adds a token (a second token with the same content replaces the first's options, as in HF).
  void add(const AddedToken& token);
  // Builds the matchers; `normalizer` (may be null) is applied to the contents of normalized tokens.
  void build(const Normalizer* normalizer);

  // Splits `text` with the raw (normalized=false) or the normalised token set. Plain pieces may be empty only when
  // the whole text is empty.
  void split(std::string_view text, bool normalized_set, bool parse_special, std::vector<TextSplit>& out) const;

  std::optional<int32_t> token_to_id(std::string_view content) const;
  const AddedToken* by_id(int32_t id) const;
  bool is_special_content(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  bool empty() const { return tokens_.empty(); }

 private:
  // A byte trie over the contents of one token set; leftmost-longest search.
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
      int32_t token = -1;                                        // index into tokens_
    };
    std::vector<Node> nodes;
    bool first_byte[256] = {};
    void insert(std::string_view key, int32_t token);
    // The longest token starting exactly at `pos`: (token index, length) or token -1.
    std::pair<int32_t, size_t> longest_at(std::string_view text, size_t pos) const;
  };
  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, size_t> by_content_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_set<std::string> special_contents_;
  Trie raw_, normalized_;
};

}  // namespace vlm::text
