// Flat open-addressing hash tables for the tokenizer's hot paths: string -> value lookups by string_view without
// building a std::string (C++17 unordered_map cannot), and (id, id) -> value lookups for BPE merges.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace vlm::text {

inline uint64_t hash_bytes(std::string_view s) {
  // 64-bit multiply-xorshift over 8-byte words; good enough for tokens (short, varied) and fast.
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (s.size() * 0xC2B2AE3D27D4EB4Full);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  uint64_t tail = 0;
  if (i < s.size()) std::memcpy(&tail, s.data() + i, s.size() - i);
  h = (h ^ tail) * 0x94D049BB133111EBull;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

// Maps byte strings to values of type V. Keys are copied into one arena; lookups take a string_view.
template <typename V>
class StringTable {
 public:
  // Inserts or overwrites; returns true when the key was new.
  bool put(std::string_view key, const V& value) {
    if ((count_ + 1) * 4 > slots_.size() * 3) grow();
    Slot* s = locate(key);
    if (s->used) {
      s->value = value;
      return false;
    }
    s->used = true;
    s->key_offset = arena_.size();
    s->key_size = static_cast<uint32_t>(key.size());
    s->hash = hash_bytes(key);
    s->value = value;
    arena_.append(key);
    ++count_;
    return true;
  }
  const V* find(std::string_view key) const {
    if (slots_.empty()) return nullptr;
    const Slot* s = locate(key);
    return s->used ? &s->value : nullptr;
  }
  size_t size() const { return count_; }
  size_t memory_bytes() const { return arena_.size() + slots_.size() * sizeof(Slot); }

  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const Slot& s : slots_)
      if (s.used) fn(std::string_view(arena_).substr(s.key_offset, s.key_size), s.value);
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    size_t key_offset = 0;
    uint32_t key_size = 0;
    bool used = false;
    V value{};
  };
  Slot* locate(std::string_view key) const {
    const uint64_t h = hash_bytes(key);
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (!s.used) return const_cast<Slot*>(&s);
      if (s.hash == h && s.key_size == key.size() &&
          std::memcmp(arena_.data() + s.key_offset, key.data(), key.size()) == 0)
        return const_cast<Slot*>(&s);
    }
  }
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (!s.used) continue;
      size_t i = s.hash & mask;
      while (slots_[i].used) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_;
  std::string arena_;
  size_t count_ = 0;
};

// Maps a pair of 32-bit ids to a value (BPE merges: (left, right) -> (rank, merged id)).
template <typename V>
class PairTable {
 public:
  void put(uint32_t a, uint32_t b, const V& value) {
    if ((count_ + 1) * 4 > slots_.size() * 3) grow();
    const uint64_t key = pack(a, b);
    Slot* s = locate(key);
    if (!s->used) {
      s->used = true;
      s->key = key;
      ++count_;
    }
    s->value = value;
  }
  const V* find(uint32_t a, uint32_t b) const {
    if (slots_.empty()) return nullptr;
    const Slot* s = locate(pack(a, b));
    return s->used ? &s->value : nullptr;
  }
  size_t size() const { return count_; }

 private:
  struct Slot {
    uint64_t key = 0;
    bool used = false;
    V value{};
  };
  static uint64_t pack(uint32_t a, uint32_t b) { return (uint64_t(a) << 32) | b; }
  static uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    k ^= k >> 33;
    return k;
  }
  Slot* locate(uint64_t key) const {
    const size_t mask = slots_.size() - 1;
    for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (!s.used || s.key == key) return const_cast<Slot*>(&s);
    }
  }
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (!s.used) continue;
      size_t i = mix(s.key) & mask;
      while (slots_[i].used) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_;
  size_t count_ = 0;
};

}  // namespace vlm::text
