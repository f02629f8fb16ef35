// libFuzzer target: tokenizer.json loading. Any input must either load or raise vlm::Error (any other exception,
// crash, hang, leak or sanitizer report is a finding). A file that loads must then encode and decode a few texts
// without failing.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "text/stream_decoder.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  try {
    const vlm::text::Tokenizer tok = vlm::text::Tokenizer::from_json(json, "fuzz/tokenizer.json");
    for (const char* text : {"", "Hello world! 123", "a  b\n\ncd <s> </s> <|im_end|>", "\xC3\xA9\xF0\x9F\x98\x80",
                             "\xFF\xFE bad"}) {
      for (bool parse_special : {true, false}) {
        const auto ids = tok.encode(text, parse_special, true);
        for (bool skip : {false, true}) {
          const std::string full = tok.decode(ids, skip);
          vlm::text::StreamDecoder stream = tok.stream_decoder(skip);
          std::string streamed;
          for (int32_t id : ids) streamed += stream.push(id);
          streamed += stream.finish();
          (void)full;
          (void)streamed;
        }
      }
    }
    tok.decode({0, 1, 2, -1, 1 << 30}, false);
  } catch (const vlm::Error&) {
  }
  return 0;
}
