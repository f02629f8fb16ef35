// Incremental detokenization for generation: push token ids one at a time, get the text they add.
//
// Works like HF tokenizers' DecodeStream: the ids since the last emitted boundary are decoded together with the
// ones before it, and the text beyond the previous decode is emitted. Text is held back while it could still
// change: while the stream ends inside a UTF-8 sequence (at most 3 bytes, from byte-level tokens), and while it ends
// with a run of byte-fallback tokens ("<0xHH>"), because the ByteFallback decoder turns a whole run into U+FFFD when
// any of its bytes is invalid. (DecodeStream instead holds while the text ends with U+FFFD and emits byte runs
// early; for ordinary text both give the same chunks.) finish() returns what is still held back (an incomplete tail
// becomes U+FFFD, as in the full decode), so the concatenation of everything push() and finish() returned equals
// decode(all ids). Each push decodes only the short window since the last boundary, so streaming stays linear
// except inside unbroken runs of byte-fallback tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace vlm::text {

class StreamDecoder {
 public:
  StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens);

  // Adds one id; returns the newly completed text (often empty while a character is incomplete).
  std::string push(int32_t id);
  // Flushes the held-back text. The decoder can be reused afterwards for a new sequence.
  std::string finish();

 private:
  Tokenizer tokenizer_;
  bool skip_special_tokens_;
  bool byte_level_;            // the tokenizer decodes GPT-2 byte-level characters to bytes
  std::vector<int32_t> ids_;   // the window: ids from the previous boundary on
  std::string prefix_;         // decode of ids_[0, prefix_index_)... as of the last emission
  size_t prefix_index_ = 0;
  bool in_byte_run_ = false;   // the last id that decodes to something is a "<0xHH>" byte token
  std::string tail_;           // the last (at most 4) bytes of the decoded stream
};

}  // namespace vlm::text
