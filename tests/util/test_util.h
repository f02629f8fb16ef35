// Shared test helpers: hand-built safetensors bytes, temporary folders, fixture paths.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vlm::test {

// 8-byte little-endian length + header text + data, exactly as given (no padding, no validation).
std::string raw_safetensors(const std::string& header, const std::string& data);
// A fresh empty folder under the system temp dir; removed by the caller (or left for inspection).
std::string temp_dir(const std::string& tag);
void write_bytes(const std::string& path, const std::string& bytes);
// rm -rf. Use this, not std::filesystem::remove_all, which crashed in binaries linked with libtorch 2.11.
void remove_tree(const std::string& path);
// The regular files directly inside a folder, sorted.
std::vector<std::string> list_dir(const std::string& dir);
// VLM_SOURCE_DIR/tests/fixtures/<rel>
std::string fixture(const std::string& rel);

}  // namespace vlm::test
