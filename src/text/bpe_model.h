// The BPE model of tokenizer.json ("model": {"type": "BPE", ...}), with HF tokenizers' exact algorithm:
//   1. a piece is split into characters; each becomes its vocabulary id (with continuing_subword_prefix on all but
//      the first, end_of_word_suffix on the last); an unknown character becomes one <0xHH> token per UTF-8 byte
//      (byte_fallback), else the unk token (consecutive unknowns fused into one with fuse_unk), else nothing;
//   2. merges are applied lowest rank first, leftmost first among equal ranks, with a priority queue over a linked
//      list of symbols, so a piece of n characters costs O(n log n) (long repeats stay fast);
//   3. with ignore_merges, a piece that is itself in the vocabulary is emitted directly.
// Results for pieces shorter than 256 bytes are cached (bounded).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "text/bpe_cache.h"
#include "text/string_table.h"

namespace vlm::text {

class BpeModel {
 public:
  // Reads the "model" object. Errors name the field: missing vocab or merges, ids out of range or duplicated,
  // merges that are not two tokens or use tokens absent from the vocabulary, dropout other than null/0.
  static std::unique_ptr<BpeModel> from_json(const JsonObject& model);

  // Appends the ids of one pre-tokenised piece (valid UTF-8; nothing for an empty piece).
  void tokenize(std::string_view piece, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string_view> id_to_token(int32_t id) const;
  // Number of vocabulary entries (HF's get_vocab_size for BPE).
  size_t vocab_size() const { return vocab_.size(); }
  // One past the largest id of the vocabulary.
  int32_t id_end() const { return static_cast<int32_t>(token_offsets_.size()); }

 private:
  BpeModel() = default;
  void merge_word(std::string_view piece, std::vector<int32_t>& out) const;

  struct Merge {
    uint32_t rank = 0;
    int32_t new_id = 0;
  };
  StringTable<int32_t> vocab_;
  std::string token_arena_;                                 // all token strings, back to back
  std::vector<std::pair<uint32_t, uint32_t>> token_offsets_;  // id -> (offset, size); size UINT32_MAX = no token
  PairTable<Merge> merges_;
  std::optional<std::string> unk_token_, continuing_subword_prefix_, end_of_word_suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  int32_t byte_fallback_ids_[256];  // id of "<0xHH>" or -1
  BpeCache cache_;
};

}  // namespace vlm::text
