#include "image_test_util.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "core/error.h"
#include "core/file.h"
#include "image/decode.h"
#include "image/processor_config.h"
#include "util/test_util.h"

namespace vlm::image::test {

std::string image_fixture(const std::string& rel) { return vlm::test::fixture("images/" + rel); }

std::string read_fixture_bytes(const std::string& rel) { return read_file(image_fixture(rel), 64u << 20); }

std::string missing_goldens_message() {
  return "missing fixture " + image_fixture("goldens.json") +
         " (run scripts/fixtures/make_image_fixtures.py tests/fixtures/images on the GPU machine)";
}

const Goldens* goldens() {
  static std::unique_ptr<Goldens> loaded = []() -> std::unique_ptr<Goldens> {
    const std::string json = image_fixture("goldens.json"), tensors = image_fixture("goldens.safetensors");
    if (!path_exists(json) || !path_exists(tensors)) return nullptr;
    auto g = std::make_unique<Goldens>();
    g->doc = read_json_file(json);
    g->tensors = safetensors::File::open(tensors);
    return g;
  }();
  return loaded.get();
}

std::vector<uint8_t> Goldens::u8(const std::string& name, std::vector<int64_t>* shape) const {
  const auto& t = tensors->at(name);
  if (t.dtype != safetensors::DType::kU8) throw Error("golden tensor " + name + " is not U8");
  if (shape) *shape = t.shape;
  const uint8_t* p = tensors->data(t);
  return std::vector<uint8_t>(p, p + t.nbytes());
}

std::vector<float> Goldens::f32(const std::string& name, std::vector<int64_t>* shape) const {
  const auto& t = tensors->at(name);
  if (t.dtype != safetensors::DType::kF32) throw Error("golden tensor " + name + " is not F32");
  if (shape) *shape = t.shape;
  std::vector<float> out(t.numel);
  std::memcpy(out.data(), tensors->data(t), t.nbytes());
  return out;
}

uint32_t crc32(const uint8_t* data, size_t size) {
  static uint32_t table[256];
  static bool ready = false;
  if (!ready) {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    ready = true;
  }
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string compare_bytes(const std::vector<uint8_t>& got, const std::vector<uint8_t>& expected) {
  if (got.size() != expected.size())
    return str("size ", got.size(), " != expected ", expected.size());
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != expected[i]) {
      if (bad++ == 0) first = i;
    }
  if (!bad) return "";
  return str(bad, " of ", got.size(), " bytes differ; first at index ", first, ": got ", int(got[first]),
             ", expected ", int(expected[first]));
}

std::string compare_floats(const std::vector<float>& got, const std::vector<float>& expected, double tol) {
  if (got.size() != expected.size()) return str("size ", got.size(), " != expected ", expected.size());
  size_t bad = 0, first = 0, worst = 0;
  double worst_err = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - expected[i]);
    if (!(err <= tol)) {
      if (bad++ == 0) first = i;
      if (!(err <= worst_err)) worst_err = err, worst = i;
    }
  }
  if (!bad) return "";
  return str(bad, " of ", got.size(), " values differ by more than ", tol, "; first at ", first, ": got ",
             got[first], ", expected ", expected[first], "; worst at ", worst, " (error ", worst_err, ")");
}

std::vector<Json> processor_cases(const std::vector<std::string>& families) {
  std::vector<Json> out;
  const Goldens* g = goldens();
  if (!g) return out;
  for (const Json& c : g->doc.at("processor"))
    for (const std::string& f : families)
      if (c.at("family") == f) out.push_back(c);
  return out;
}

std::string check_processor_case(const Json& entry) {
  const Goldens* g = goldens();
  std::ostringstream problems;
  const std::string name = entry.at("case");
  const auto processor = make_image_processor(load_image_processor_config(image_fixture(entry.at("config_dir"))));
  std::vector<Image> images;
  for (const Json& f : entry.at("images")) images.push_back(load_image_file(image_fixture("inputs/" + f.get<std::string>())));
  if (entry.contains("error")) {
    try {
      processor->process(images);
    } catch (const Error&) {
      return "";
    }
    return name + ": transformers raised an error (" + entry.at("error").get<std::string>() + "), we did not";
  }
  const ProcessedImages out = processor->process(images);
  const auto expected_shape = entry.at("shape").get<std::vector<int64_t>>();
  if (out.pixel_values.shape != expected_shape) {
    problems << name << ": pixel_values shape [";
    for (auto d : out.pixel_values.shape) problems << d << ",";
    problems << "] != expected " << entry.at("shape").dump() << "\n";
    return problems.str();
  }
  const Json& per_image = entry.at("per_image");
  if (per_image.size() != out.images.size())
    return str(name, ": ", out.images.size(), " placeholders, expected ", per_image.size());
  for (size_t i = 0; i < out.images.size(); ++i) {
    const Json& e = per_image[i];
    const ImagePlaceholder& p = out.images[i];
    auto check = [&](const char* key, int64_t got) {
      if (e.contains(key) && e.at(key).get<int64_t>() != got)
        problems << name << ": image " << i << " " << key << " = " << got << ", expected " << e.at(key) << "\n";
    };
    if (e.contains("grid_thw")) {
      const auto grid = e.at("grid_thw").get<std::vector<int64_t>>();
      if (grid != std::vector<int64_t>(p.grid_thw.begin(), p.grid_thw.end()))
        problems << name << ": image " << i << " grid_thw differs from " << e.at("grid_thw") << "\n";
    }
    check("num_tokens", p.num_tokens);
    check("rows", p.rows);
    check("cols", p.cols);
    check("num_crops", p.num_crops);
    check("num_frames", p.num_frames);
  }
  const Json& st = entry.at("stats");
  const std::vector<float>& v = out.pixel_values.data;
  if (st.at("numel").get<size_t>() != v.size()) problems << name << ": numel differs\n";
  double sum = 0;
  for (float x : v) sum += x;
  if (std::fabs(sum - st.at("sum").get<double>()) > 1e-6 * static_cast<double>(v.size()) + 1e-9)
    problems << name << ": sum " << sum << " != expected " << st.at("sum").get<double>() << "\n";
  const auto idx = st.at("sample_index").get<std::vector<size_t>>();
  const auto val = st.at("sample_value").get<std::vector<double>>();
  for (size_t k = 0; k < idx.size() && idx[k] < v.size(); ++k)
    if (std::fabs(v[idx[k]] - val[k]) > 1e-6) {
      problems << name << ": value at " << idx[k] << " = " << v[idx[k]] << ", expected " << val[k] << "\n";
      break;
    }
  if (entry.contains("tensor")) {
    const std::string diff = compare_floats(v, g->f32(entry.at("tensor")), 1e-6);
    if (!diff.empty()) problems << name << ": pixel_values: " << diff << "\n";
  }
  if (entry.contains("mask_sum")) {
    int64_t mask_sum = 0;
    for (int64_t m : out.pixel_attention_mask.data) mask_sum += m;
    if (mask_sum != entry.at("mask_sum").get<int64_t>()) problems << name << ": mask sum " << mask_sum << "\n";
  }
  if (entry.contains("mask_tensor") && !entry.at("mask_tensor").is_null()) {
    std::vector<uint8_t> mask(out.pixel_attention_mask.data.begin(), out.pixel_attention_mask.data.end());
    const std::string diff = compare_bytes(mask, g->u8(entry.at("mask_tensor")));
    if (!diff.empty()) problems << name << ": pixel_attention_mask: " << diff << "\n";
  }
  return problems.str();
}

}  // namespace vlm::image::test
