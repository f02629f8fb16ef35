// data: URLs (RFC 2397) as OpenAI-style clients send images: "data:image/png;base64,iVBORw0...". A bare base64
// string is also accepted, as transformers' load_image does. Messages give offsets, never the payload.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "image/decode.h"

namespace vlm::image {
namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;  // '-' and '_' are the URL-safe alphabet
  if (c == '/' || c == '_') return 63;
  return -1;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string decode_base64(std::string_view text, size_t offset, size_t max_bytes) {
  if (text.size() / 4 * 3 > max_bytes + 3)
    fail("<data URL>: decoded image would exceed the limit of ", max_bytes, " bytes");
  std::string out;
  out.reserve(text.size() / 4 * 3 + 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (is_space(c)) continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    const int v = base64_value(c);
    if (v < 0 || padding > 0)
      fail("<data URL>: invalid base64 character at offset ", offset + i,
           padding > 0 ? " (data after '=' padding)" : "");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (bits >= 6 || padding > 2) fail("<data URL>: base64 payload has an invalid length");
  if (out.size() > max_bytes) fail("<data URL>: decoded image exceeds the limit of ", max_bytes, " bytes");
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string decode_percent(std::string_view text, size_t offset, size_t max_bytes) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
    } else {
      const int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) fail("<data URL>: invalid percent escape at offset ", offset + i);
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
    if (out.size() > max_bytes) fail("<data URL>: decoded image exceeds the limit of ", max_bytes, " bytes");
  }
  return out;
}

}  // namespace

std::string decode_data_url(std::string_view url, size_t max_bytes) {
  if (url.substr(0, 5) != "data:") return decode_base64(url, 0, max_bytes);  // bare base64
  const size_t comma = url.find(',');
  if (comma == std::string_view::npos) fail("<data URL>: no ',' separates the media type from the data");
  const std::string_view header = url.substr(5, comma - 5);
  const std::string_view payload = url.substr(comma + 1);
  const bool base64 = header.size() >= 7 && header.substr(header.size() - 7) == ";base64";
  const std::string_view mime = header.substr(0, header.find(';'));
  if (!mime.empty() && mime.substr(0, 6) != "image/")
    fail("<data URL>: media type ", quote(std::string(mime), 40), " is not an image type");
  return base64 ? decode_base64(payload, comma + 1, max_bytes) : decode_percent(payload, comma + 1, max_bytes);
}

}  // namespace vlm::image
