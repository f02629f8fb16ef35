#include "util/test_util.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

namespace vlm::test {

std::string raw_safetensors(const std::string& header, const std::string& data) {
  const uint64_t n = header.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + header + data;
}

std::string temp_dir(const std::string& tag) {
  std::random_device rd;
  auto p = std::filesystem::temp_directory_path() / ("vlm-test-" + tag + "-" + std::to_string(rd()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string fixture(const std::string& rel) {
  const char* root = std::getenv("VLM_SOURCE_DIR");
  return std::string(root ? root : VLM_SOURCE_DIR) + "/tests/fixtures/" + rel;
}

}  // namespace vlm::test
