#include "models/registry.h"

#include "models/qwen2_vl/config.h"

namespace vlm {
namespace {

std::vector<std::pair<std::string, std::string>> describe_qwen2_vl(const Json& j, const std::string& file) {
  return qwen2_vl::describe(qwen2_vl::parse_config(j, file));
}

}  // namespace

const std::vector<Family>& families() {
  static const std::vector<Family> list = {
      {"qwen2_vl", "Qwen2-VL", describe_qwen2_vl, qwen2_vl::component_of},
      {"qwen2_5_vl", "Qwen2.5-VL", describe_qwen2_vl, qwen2_vl::component_of},
  };
  return list;
}

const Family* find_family(const std::string& model_type) {
  for (const Family& f : families())
    if (model_type == f.model_type) return &f;
  return nullptr;
}

std::string supported_model_types() {
  std::string out;
  for (const Family& f : families()) out += (out.empty() ? "" : ", ") + std::string(f.model_type);
  return out;
}

}  // namespace vlm
