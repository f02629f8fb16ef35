// libFuzzer target: encoding arbitrary bytes and decoding arbitrary ids with fixed tokenizers of the main families'
// shapes (byte-level with the Qwen2 split regex; Llama-2-style byte fallback). Checks, besides "no crash":
//   - byte-level BPE without a normalizer round-trips: decode(encode(text)) == the text as Python would see it;
//   - streamed decoding concatenates to the full decode.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "text/stream_decoder.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace {

using vlm::Json;
using vlm::text::Tokenizer;

const char* const kQwen2Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

Tokenizer byte_level() {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[vlm::text::unicode::byte_level_char(static_cast<unsigned char>(b))] = b;
  Json merges = Json::array();
  int next = 256;
  for (const char* pair : {"t h", "th e", "\xC4\xA0 t", "\xC4\xA0t h", "\xC4\xA0th e", "i n", "a n", "e r",
                           "\xC3\xA4 \xC2\xB8"}) {
    const std::string p = pair;
    const size_t space = p.find(' ');
    vocab[p.substr(0, space) + p.substr(space + 1)] = next++;
    merges.push_back(p);
  }
  Json j = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
            {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", Json::array({
                {{"type", "Split"}, {"pattern", {{"Regex", kQwen2Pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
                {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
            {"decoder", {{"type", "ByteLevel"}}},
            {"added_tokens", Json::array({{{"id", next}, {"content", "<|im_end|>"}, {"special", true},
                                           {"normalized", false}},
                                          {{"id", next + 1}, {"content", "<tool>"}, {"special", false},
                                           {"normalized", false}}})}};
  return Tokenizer::from_json(j.dump(), "fuzz/byte_level.json");
}

Tokenizer byte_fallback() {
  Json vocab = Json::object();
  vocab["<unk>"] = 0;
  vocab["<s>"] = 1;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 2 + b;
  }
  int next = 258;
  for (const char* t : {"\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab"}) vocab[t] = next++;
  Json j = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", Json::array({"\xE2\x96\x81 a", "a b"})},
                       {"byte_fallback", true}, {"unk_token", "<unk>"}, {"fuse_unk", true}}},
            {"normalizer", {{"type", "Sequence"}, {"normalizers", Json::array({
                {{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}})}}},
            {"decoder", {{"type", "Sequence"}, {"decoders", Json::array({
                {{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                {{"type", "ByteFallback"}}, {{"type", "Fuse"}},
                {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}},
            {"added_tokens", Json::array({{{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}}})}};
  return Tokenizer::from_json(j.dump(), "fuzz/byte_fallback.json");
}

std::string stream_all(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip) {
  vlm::text::StreamDecoder stream = tok.stream_decoder(skip);
  std::string out;
  for (int32_t id : ids) out += stream.push(id);
  return out + stream.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Tokenizer level = byte_level();
  static const Tokenizer fallback = byte_fallback();
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string as_python = vlm::text::unicode::decode_lossy(text);

  const auto ids = level.encode(text, /*parse_special=*/false);
  if (level.decode(ids) != as_python) __builtin_trap();  // byte-level BPE is lossless
  level.encode(text, true, true);
  for (const Tokenizer* tok : {&level, &fallback}) {
    const auto encoded = tok->encode(text, size % 2 == 0, size % 3 == 0);
    // The bytes read as ids (mostly unknown ones) must decode, and stream, consistently.
    std::vector<int32_t> raw;
    for (size_t i = 0; i + 1 < size && raw.size() < 256; i += 2) raw.push_back(int32_t(data[i]) | (int32_t(data[i + 1] & 1) << 8));
    const std::vector<int32_t>& raw_ids = raw;
    for (const std::vector<int32_t>* list : {&encoded, &raw_ids}) {
      for (bool skip : {false, true}) {
        if (stream_all(*tok, *list, skip) != tok->decode(*list, skip)) __builtin_trap();
      }
    }
  }
  return 0;
}
