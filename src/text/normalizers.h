// tokenizer.json "normalizer": NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Prepend, Replace, ByteLevel
// and Sequence, with HF tokenizers' semantics. Normalisers rewrite the text of one piece (the text between added
// tokens); offsets are not tracked because nothing here reports them.
#pragma once

#include <memory>
#include <string>

#include "core/json.h"

namespace vlm::text {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites `text` (valid UTF-8) in place.
  virtual void normalize(std::string& text) const = 0;
};

// Builds the normalizer described by `j` (an object with "type"); `where` is "tokenizer.json: normalizer" or a
// deeper path, used in every error. An unknown type or option is an error naming it.
std::unique_ptr<Normalizer> make_normalizer(const Json& j, const std::string& file, const std::string& path);

}  // namespace vlm::text
