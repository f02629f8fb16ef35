// tokenizer.json "decoder": ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, WordPiece, BPEDecoder and
// Sequence. Like HF, each decoder maps a list of token strings to a new list ("decode_chain"); the text is the
// concatenation of the final list.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/json.h"

namespace vlm::text {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  // True when the chain maps GPT-2 byte-level characters back to bytes (the stream decoder needs to know).
  virtual bool is_byte_level() const { return false; }
  std::string decode(std::vector<std::string> tokens) const;
};

std::unique_ptr<Decoder> make_decoder(const Json& j, const std::string& file, const std::string& path);

}  // namespace vlm::text
