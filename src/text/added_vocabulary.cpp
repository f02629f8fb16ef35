#include "text/added_vocabulary.h"

#include <algorithm>

#include "text/normalizers.h"
#include "text/unicode.h"

namespace vlm::text {

namespace {

// The `regex` crate's \w at the end of `s` / at its start (HF's ENDS_WITH_WORD / STARTS_WITH_WORD).
bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t start;
  return unicode::is_word_char(unicode::decode_last(s, &start));
}

bool starts_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t len;
  return unicode::is_word_char(unicode::decode_at(s, 0, &len));
}

// Start of the run of White_Space characters that ends `s` (s.size() when there is none).
size_t trailing_space_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start;
    if (!unicode::is_whitespace(unicode::decode_last(s.substr(0, end), &start))) break;
    end = start;
  }
  return end;
}

// Length of the run of White_Space characters that starts `s`.
size_t leading_space_length(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t len;
    if (!unicode::is_whitespace(unicode::decode_at(s, i, &len))) break;
    i += len;
  }
  return i;
}

}  // namespace

void AddedVocabulary::Trie::insert(std::string_view key, int32_t token) {
  if (key.empty()) return;
  if (nodes.empty()) nodes.emplace_back();
  first_byte[static_cast<unsigned char>(key[0])] = true;
  int32_t node = 0;
  for (unsigned char b : key) {
    auto& kids = nodes[static_cast<size_t>(node)].children;
    auto it = std::lower_bound(kids.begin(), kids.end(), std::make_pair(b, INT32_MIN));
    if (it != kids.end() && it->first == b) {
      node = it->second;
    } else {
      const int32_t child = static_cast<int32_t>(nodes.size());
      kids.insert(it, {b, child});
      nodes.emplace_back();
      node = child;
    }
  }
  nodes[static_cast<size_t>(node)].token = token;
}

std::pair<int32_t, size_t> AddedVocabulary::Trie::longest_at(std::string_view text, size_t pos) const {
  std::pair<int32_t, size_t> best{-1, 0};
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto& kids = nodes[static_cast<size_t>(node)].children;
    const unsigned char b = static_cast<unsigned char>(text[i]);
    auto it = std::lower_bound(kids.begin(), kids.end(), std::make_pair(b, INT32_MIN));
    if (it == kids.end() || it->first != b) break;
    node = it->second;
    if (nodes[static_cast<size_t>(node)].token >= 0) best = {nodes[static_cast<size_t>(node)].token, i + 1 - pos};
  }
  return best;
}

void AddedVocabulary::add(const AddedToken& token) {
  if (token.content.empty()) return;  // HF ignores empty tokens
  auto it = by_content_.find(token.content);
  if (it != by_content_.end()) {
    AddedToken& old = tokens_[it->second];
    by_id_.erase(old.id);
    old = token;
    by_id_[token.id] = it->second;
  } else {
    by_content_[token.content] = tokens_.size();
    by_id_[token.id] = tokens_.size();
    tokens_.push_back(token);
  }
  if (token.special) special_contents_.insert(token.content);
}

void AddedVocabulary::build(const Normalizer* normalizer) {
  raw_ = Trie();
  normalized_ = Trie();
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    if (!t.normalized) {
      raw_.insert(t.content, static_cast<int32_t>(i));
    } else {
      std::string content = t.content;
      if (normalizer) normalizer->normalize(content);
      normalized_.insert(content, static_cast<int32_t>(i));
    }
  }
}

void AddedVocabulary::split(std::string_view text, bool normalized_set, bool parse_special,
                            std::vector<TextSplit>& out) const {
  const Trie& trie = normalized_set ? normalized_ : raw_;
  if (trie.nodes.empty()) {
    out.push_back({0, text.size(), -1});
    return;
  }
  size_t start_offset = 0;  // end of the last emitted split
  size_t pos = 0;           // where the leftmost-longest search resumes (end of the last match found)
  while (pos < text.size()) {
    // Find the next match: leftmost start, longest token there.
    size_t at = pos;
    std::pair<int32_t, size_t> found{-1, 0};
    for (; at < text.size(); ++at) {
      if (!trie.first_byte[static_cast<unsigned char>(text[at])]) continue;
      found = trie.longest_at(text, at);
      if (found.first >= 0) break;
    }
    if (found.first < 0) break;
    const AddedToken& token = tokens_[static_cast<size_t>(found.first)];
    size_t start = at, stop = at + found.second;
    pos = stop;
    if (!parse_special && token.special) continue;
    if (token.single_word) {
      const bool start_space = start == 0 || !ends_with_word(text.substr(0, start));
      const bool stop_space = stop == text.size() || !starts_with_word(text.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (token.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), start_offset);
    if (token.rstrip) stop += leading_space_length(text.substr(stop));
    stop = std::max(stop, start);  // HF would panic on the (pathological) overlap that makes start > stop
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, token.id});
    start_offset = stop;
  }
  if (start_offset < text.size() || text.empty()) out.push_back({start_offset, text.size(), -1});
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? std::nullopt : std::optional<int32_t>(tokens_[it->second].id);
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

bool AddedVocabulary::is_special_content(std::string_view content) const {
  return special_contents_.count(std::string(content)) > 0;
}

}  // namespace vlm::text
