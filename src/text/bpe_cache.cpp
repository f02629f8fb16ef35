#include "text/bpe_cache.h"

#include <array>
#include <atomic>
#include <memory>

#include "text/string_table.h"

namespace vlm::text {

namespace {

std::atomic<uint64_t> next_cache_id{1};

struct Entry {
  uint32_t offset = 0, count = 0;  // range in LocalCache::ids
};

struct LocalCache {
  uint64_t owner = 0;  // BpeCache id, 0 = free
  uint64_t last_use = 0;
  StringTable<Entry> table;
  std::vector<int32_t> ids;
};

// The calling thread's caches, one per recently used tokenizer (least recently used one reused first).
struct ThreadCaches {
  std::array<LocalCache, 4> slots;
  uint64_t clock = 0;
  LocalCache& for_owner(uint64_t owner) {
    LocalCache* oldest = &slots[0];
    for (LocalCache& c : slots) {
      if (c.owner == owner) {
        c.last_use = ++clock;
        return c;
      }
      if (c.last_use < oldest->last_use) oldest = &c;
    }
    *oldest = LocalCache();
    oldest->owner = owner;
    oldest->last_use = ++clock;
    return *oldest;
  }
};

LocalCache& local_cache(uint64_t owner) {
  thread_local std::unique_ptr<ThreadCaches> caches = std::make_unique<ThreadCaches>();
  return caches->for_owner(owner);
}

}  // namespace

BpeCache::BpeCache() : id_(next_cache_id.fetch_add(1)) {}

bool BpeCache::lookup(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() >= kMaxPieceBytes) return false;
  const LocalCache& cache = local_cache(id_);
  const Entry* e = cache.table.find(piece);
  if (!e) return false;
  out.insert(out.end(), cache.ids.begin() + e->offset, cache.ids.begin() + e->offset + e->count);
  return true;
}

void BpeCache::insert(std::string_view piece, const int32_t* ids, size_t count) const {
  if (piece.size() >= kMaxPieceBytes) return;
  LocalCache& cache = local_cache(id_);
  if (cache.table.size() >= kCapacity || cache.table.find(piece)) return;
  cache.table.put(piece, Entry{static_cast<uint32_t>(cache.ids.size()), static_cast<uint32_t>(count)});
  cache.ids.insert(cache.ids.end(), ids, ids + count);
}

}  // namespace vlm::text
