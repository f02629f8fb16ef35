// Shared by the image tests: the golden fixtures written by scripts/fixtures/make_image_fixtures.py
// (tests/fixtures/images/goldens.json + goldens.safetensors + inputs/), CRC-32, and tensor comparison with a
// first-mismatch report.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/safetensors.h"
#include "image/image.h"
#include "image/processor.h"

namespace vlm::image::test {

struct Goldens {
  Json doc;
  std::shared_ptr<safetensors::File> tensors;

  std::vector<uint8_t> u8(const std::string& name, std::vector<int64_t>* shape = nullptr) const;
  std::vector<float> f32(const std::string& name, std::vector<int64_t>* shape = nullptr) const;
};

// The loaded goldens, or nullptr when the fixture files are missing (tests then GTEST_SKIP naming
// missing_goldens_message()).
const Goldens* goldens();
std::string missing_goldens_message();

// tests/fixtures/images/<rel>
std::string image_fixture(const std::string& rel);
std::string read_fixture_bytes(const std::string& rel);

uint32_t crc32(const uint8_t* data, size_t size);
inline uint32_t crc32(const std::vector<uint8_t>& v) { return crc32(v.data(), v.size()); }

// "" when equal, else "N of M bytes differ; first at index i: got a, expected b".
std::string compare_bytes(const std::vector<uint8_t>& got, const std::vector<uint8_t>& expected);
// "" when |got - expected| <= tol everywhere, else a report of the count and the first and worst mismatches.
std::string compare_floats(const std::vector<float>& got, const std::vector<float>& expected, double tol);

// Runs one processor case of goldens.json ("processor" list) and returns "" or a description of every
// difference (shape, grids, token counts, rows/cols, crops, pixel values, mask).
std::string check_processor_case(const Json& entry);
// The processor cases whose "family" is one of `families`.
std::vector<Json> processor_cases(const std::vector<std::string>& families);

}  // namespace vlm::image::test
