#include "text/bpe_model.h"

#include <algorithm>
#include <climits>
#include <cstdio>

#include "core/error.h"
#include "text/component_json.h"
#include "text/unicode.h"

namespace vlm::text {

namespace {

// One symbol of the word being merged: a token id, its neighbours in the linked list (-1 = none) and its length
// in bytes of the piece (0 once merged into its left neighbour).
struct Symbol {
  int32_t id;
  int32_t prev, next;
  uint32_t len;
};

struct QueuedMerge {
  uint32_t rank;
  uint32_t pos;
  int32_t new_id;
};

// std heap functions keep the "largest" element on top; this order puts the lowest rank, then the leftmost
// position, there (HF's Merge ordering).
struct LaterMerge {
  bool operator()(const QueuedMerge& a, const QueuedMerge& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

class Word {
 public:
  void clear() { symbols_.clear(); }
  void add(int32_t id, uint32_t len) {
    const int32_t n = static_cast<int32_t>(symbols_.size());
    if (n > 0) symbols_.back().next = n;
    symbols_.push_back({id, n - 1, -1, len});
  }
  std::vector<Symbol>& symbols() { return symbols_; }

 private:
  std::vector<Symbol> symbols_;
};

}  // namespace

std::unique_ptr<BpeModel> BpeModel::from_json(const JsonObject& model) {
  std::unique_ptr<BpeModel> m(new BpeModel());
  check_known_keys(model, "model BPE",
                   {"dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk",
                    "byte_fallback", "ignore_merges", "vocab", "merges"});
  if (model.has("dropout")) {
    const double dropout = model.get<double>("dropout");
    if (dropout != 0.0) fail(model.where("dropout"), ": BPE dropout ", dropout, " is not supported (only null or 0)");
  }
  m->unk_token_ = model.maybe<std::string>("unk_token");
  m->continuing_subword_prefix_ = model.maybe<std::string>("continuing_subword_prefix");
  m->end_of_word_suffix_ = model.maybe<std::string>("end_of_word_suffix");
  m->fuse_unk_ = model.get<bool>("fuse_unk", false);
  m->byte_fallback_ = model.get<bool>("byte_fallback", false);
  m->ignore_merges_ = model.get<bool>("ignore_merges", false);

  // Vocabulary: {"token": id}; ids must be unique and dense enough to index a table.
  const JsonObject vocab = model.object("vocab");
  const size_t count = vocab.json().size();
  const int64_t id_limit = static_cast<int64_t>(count) * 2 + 65536;
  std::vector<std::pair<std::string_view, int64_t>> entries;
  entries.reserve(count);
  int64_t max_id = -1;
  for (auto it = vocab.json().begin(); it != vocab.json().end(); ++it) {
    const Json& v = it.value();
    if (!v.is_number_integer()) fail(vocab.where(it.key()), ": expected an integer id, got ", json_type_name(v));
    const int64_t id = v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX ? INT64_MAX : v.get<int64_t>();
    if (id < 0 || id >= id_limit || id >= INT32_MAX)
      fail(vocab.where(it.key()), ": id ", id, " is out of range (0..", std::min<int64_t>(id_limit, INT32_MAX) - 1,
           " for a vocabulary of ", count, " tokens)");
    entries.emplace_back(it.key(), id);
    max_id = std::max(max_id, id);
  }
  m->token_offsets_.assign(static_cast<size_t>(max_id + 1), {0u, UINT32_MAX});
  for (const auto& [token, id] : entries) {
    auto& slot = m->token_offsets_[static_cast<size_t>(id)];
    if (slot.second != UINT32_MAX)
      fail(vocab.where(std::string(token)), ": id ", id, " is also the id of ",
           quote(m->token_arena_.substr(slot.first, slot.second)), " (ids must be unique)");
    slot = {static_cast<uint32_t>(m->token_arena_.size()), static_cast<uint32_t>(token.size())};
    m->token_arena_.append(token);
    m->vocab_.put(token, static_cast<int32_t>(id));
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    const int32_t* id = m->vocab_.find(name);
    m->byte_fallback_ids_[b] = id ? *id : -1;
  }

  // Merges: "a b" strings (lines starting with "#version" skipped) or ["a", "b"] pairs; rank = position.
  if (!model.has("merges")) fail(model.where("merges"), ": required field is missing");
  const Json& merges = model.json().at("merges");
  if (!merges.is_array()) fail(model.where("merges"), ": expected a list, got ", json_type_name(merges));
  const size_t prefix_len = m->continuing_subword_prefix_ ? m->continuing_subword_prefix_->size() : 0;
  uint32_t rank = 0;
  std::string merged;
  for (size_t i = 0; i < merges.size(); ++i) {
    const Json& entry = merges[i];
    const std::string where = model.where(str("merges[", i, "]"));
    std::string a, b;
    if (entry.is_string()) {
      const std::string& line = entry.get_ref<const std::string&>();
      if (line.rfind("#version", 0) == 0) continue;
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
        fail(where, ": expected two tokens separated by one space, got ", quote(line));
      a = line.substr(0, space);
      b = line.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
      a = entry[0].get<std::string>();
      b = entry[1].get<std::string>();
    } else {
      fail(where, ": expected \"a b\" or [\"a\", \"b\"], got ", json_type_name(entry));
    }
    const int32_t* a_id = m->vocab_.find(a);
    const int32_t* b_id = m->vocab_.find(b);
    if (!a_id) fail(where, ": token ", quote(a), " is not in the vocabulary");
    if (!b_id) fail(where, ": token ", quote(b), " is not in the vocabulary");
    if (b.size() < prefix_len || b.compare(0, prefix_len, *m->continuing_subword_prefix_) != 0)
      fail(where, ": token ", quote(b), " does not start with the continuing_subword_prefix");
    merged = a;
    merged.append(b, prefix_len, std::string::npos);
    const int32_t* new_id = m->vocab_.find(merged);
    if (!new_id) fail(where, ": merged token ", quote(merged), " is not in the vocabulary");
    // A repeated pair keeps its last rank, as HF's HashMap collect does.
    m->merges_.put(static_cast<uint32_t>(*a_id), static_cast<uint32_t>(*b_id), Merge{rank, *new_id});
    ++rank;
  }
  return m;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  const int32_t* id = vocab_.find(token);
  return id ? std::optional<int32_t>(*id) : std::nullopt;
}

std::optional<std::string_view> BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= token_offsets_.size()) return std::nullopt;
  const auto& [offset, size] = token_offsets_[static_cast<size_t>(id)];
  if (size == UINT32_MAX) return std::nullopt;
  return std::string_view(token_arena_).substr(offset, size);
}

void BpeModel::tokenize(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    if (const int32_t* id = vocab_.find(piece)) {
      out.push_back(*id);
      return;
    }
  }
  if (cache_.lookup(piece, out)) return;
  const size_t first = out.size();
  merge_word(piece, out);
  cache_.insert(piece, out.data() + first, out.size() - first);
}

void BpeModel::merge_word(std::string_view piece, std::vector<int32_t>& out) const {
  thread_local Word word;
  thread_local std::vector<QueuedMerge> queue;
  thread_local std::string decorated;
  word.clear();
  const bool decorate = continuing_subword_prefix_ || end_of_word_suffix_;
  // A pending unknown: (id, byte length), flushed before the next known symbol.
  int32_t unk_id = -1;
  uint32_t unk_len = 0;
  bool have_unk = false;
  for (size_t i = 0; i < piece.size();) {
    const size_t len = unicode::utf8_length(static_cast<unsigned char>(piece[i]));
    const size_t char_len = std::min(len, piece.size() - i);
    std::string_view s = piece.substr(i, char_len);
    const bool is_first = i == 0, is_last = i + char_len >= piece.size();
    if (decorate) {
      decorated.clear();
      if (!is_first && continuing_subword_prefix_) decorated += *continuing_subword_prefix_;
      decorated.append(s);
      if (is_last && end_of_word_suffix_) decorated += *end_of_word_suffix_;
      s = decorated;
    }
    i += char_len;
    if (const int32_t* id = vocab_.find(s)) {
      if (have_unk) {
        word.add(unk_id, unk_len);
        have_unk = false;
      }
      word.add(*id, static_cast<uint32_t>(char_len));
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char b : s) all = all && byte_fallback_ids_[b] >= 0;
      if (all) {
        // HF adds the byte tokens without flushing a pending unknown first; so do we.
        for (unsigned char b : s) word.add(byte_fallback_ids_[b], 1);
        continue;
      }
    }
    if (unk_token_) {
      const int32_t* id = vocab_.find(*unk_token_);
      if (!id) fail("tokenizer.json: model.unk_token ", quote(*unk_token_), " is not in the vocabulary");
      if (have_unk && fuse_unk_) {
        unk_len += static_cast<uint32_t>(char_len);
      } else {
        if (have_unk) word.add(unk_id, unk_len);
        unk_id = *id;
        unk_len = static_cast<uint32_t>(char_len);
        have_unk = true;
      }
    }
  }
  if (have_unk) word.add(unk_id, unk_len);

  std::vector<Symbol>& sym = word.symbols();
  queue.clear();
  for (size_t k = 0; k + 1 < sym.size(); ++k) {
    if (const Merge* m = merges_.find(static_cast<uint32_t>(sym[k].id), static_cast<uint32_t>(sym[k + 1].id)))
      queue.push_back({m->rank, static_cast<uint32_t>(k), m->new_id});
  }
  std::make_heap(queue.begin(), queue.end(), LaterMerge());
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), LaterMerge());
    const QueuedMerge top = queue.back();
    queue.pop_back();
    Symbol& left = sym[top.pos];
    if (left.len == 0 || left.next == -1) continue;  // merged away, or the last symbol
    const Symbol right = sym[static_cast<size_t>(left.next)];
    const Merge* current = merges_.find(static_cast<uint32_t>(left.id), static_cast<uint32_t>(right.id));
    if (!current || current->new_id != top.new_id) continue;  // stale entry
    const int32_t right_pos = left.next;
    left.id = top.new_id;
    left.len += right.len;
    left.next = right.next;
    sym[static_cast<size_t>(right_pos)].len = 0;
    if (right.next >= 0) sym[static_cast<size_t>(right.next)].prev = static_cast<int32_t>(top.pos);
    if (left.prev >= 0) {
      const Symbol& prev = sym[static_cast<size_t>(left.prev)];
      if (const Merge* m = merges_.find(static_cast<uint32_t>(prev.id), static_cast<uint32_t>(left.id))) {
        queue.push_back({m->rank, static_cast<uint32_t>(left.prev), m->new_id});
        std::push_heap(queue.begin(), queue.end(), LaterMerge());
      }
    }
    if (left.next >= 0) {
      const Symbol& next = sym[static_cast<size_t>(left.next)];
      if (const Merge* m = merges_.find(static_cast<uint32_t>(left.id), static_cast<uint32_t>(next.id))) {
        queue.push_back({m->rank, top.pos, m->new_id});
        std::push_heap(queue.begin(), queue.end(), LaterMerge());
      }
    }
  }
  for (const Symbol& s : sym)
    if (s.len != 0) out.push_back(s.id);
}

}  // namespace vlm::text
