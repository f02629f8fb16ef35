#include "models/registry.h"

#include "core/error.h"
#include "core/file.h"
#include "models/qwen2_vl/config.h"
#include "models/qwen2_vl/model.h"

namespace vlm {
namespace {

// ---- Qwen2-VL / Qwen2.5-VL -------------------------------------------------------------------------------------

std::vector<std::pair<std::string, std::string>> describe_qwen2_vl(const Json& j, const std::string& file) {
  return qwen2_vl::describe(qwen2_vl::parse_config(j, file));
}

std::shared_ptr<Model> create_qwen2_vl(const Json& j, const std::string& file) {
  return std::make_shared<qwen2_vl::Qwen2VLImpl>(qwen2_vl::parse_config(j, file));
}

// Published layout (model.*, visual.*, lm_head) or transformers 5's in-memory one (model.language_model.*,
// model.visual.*); lm_head.weight is dropped when the embeddings are tied.
std::string key_map_qwen2_vl(const std::string& key, const Model& model) {
  auto starts = [&](const char* p) { return key.rfind(p, 0) == 0; };
  const auto& m = static_cast<const qwen2_vl::Qwen2VLImpl&>(model);
  if (starts("lm_head.")) return m.lm_head ? key : "";
  if (starts("model.language_model.")) return "model." + key.substr(21);
  if (starts("model.visual.")) return key.substr(6);
  return key;
}

// Our module path -> transformers 5's (model.language_model.*, model.visual.*; lm_head unchanged).
std::string transformers_path_qwen2_vl(const std::string& path) {
  if (path.rfind("model.", 0) == 0) return "model.language_model." + path.substr(6);
  if (path.rfind("visual.", 0) == 0) return "model." + path;
  return path;
}

}  // namespace

const std::vector<Family>& families() {
  static const std::vector<Family> list = {
      {"qwen2_vl", "Qwen2-VL", describe_qwen2_vl, qwen2_vl::component_of, create_qwen2_vl, key_map_qwen2_vl,
       transformers_path_qwen2_vl},
      {"qwen2_5_vl", "Qwen2.5-VL", describe_qwen2_vl, qwen2_vl::component_of, create_qwen2_vl, key_map_qwen2_vl,
       transformers_path_qwen2_vl},
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

LoadedModel load_model(const std::string& dir, const LoadOptions& options) {
  LoadedModel out;
  out.dir = dir;
  const std::string config_path = path_join(dir, "config.json");
  out.config = read_json_file(config_path);
  const std::string model_type = JsonObject(out.config, config_path).get<std::string>("model_type");
  out.family = find_family(model_type);
  if (!out.family)
    fail(config_path, ": model_type ", quote(model_type), " is not supported (supported: ", supported_model_types(),
         ")");
  out.model = out.family->create(out.config, config_path);
  const auto ckpt = safetensors::Checkpoint::open(dir);
  const Model& m = *out.model;
  load_weights(*out.model, ckpt, [&](const std::string& k) { return out.family->key_map(k, m); }, options);
  out.model->eval();
  return out;
}

}  // namespace vlm
