// Shared test helpers: hand-built safetensors bytes, temporary folders, fixture paths.
#pragma once

#include <cstdint>
#include <string>

namespace vlm::test {

// 8-byte little-endian length + header text + data, exactly as given (no padding, no validation).
std::string raw_safetensors(const std::string& header, const std::string& data);
// A fresh empty folder under the system temp dir; removed by the caller (or left for inspection).
std::string temp_dir(const std::string& tag);
void write_bytes(const std::string& path, const std::string& bytes);
// VLM_SOURCE_DIR/tests/fixtures/<rel>
std::string fixture(const std::string& rel);

}  // namespace vlm::test
