// A bounded cache of BPE results per piece (piece text -> token ids), as HF's BPE keeps one: pieces repeat a lot in
// natural text, and merging is the most expensive step. Like HF's, the cache is per thread (no locks on the hot
// path), only pieces shorter than 256 bytes are cached, and a full cache stops growing (no eviction), so memory
// stays bounded: at most 10000 entries per thread for each of the 4 tokenizers a thread used last.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace vlm::text {

class BpeCache {
 public:
  static constexpr size_t kMaxPieceBytes = 256;
  static constexpr size_t kCapacity = 10000;  // entries, as HF's DEFAULT_CACHE_CAPACITY

  BpeCache();
  // Appends the cached ids of `piece` to `out` and returns true, or returns false.
  bool lookup(std::string_view piece, std::vector<int32_t>& out) const;
  void insert(std::string_view piece, const int32_t* ids, size_t count) const;

 private:
  uint64_t id_;  // tells this cache's entries apart from other tokenizers' in the per-thread store
};

}  // namespace vlm::text
