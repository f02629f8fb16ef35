#include "models/summary.h"

#include "core/file.h"
#include "core/json.h"

namespace vlm {

CheckpointSummary summarize(const safetensors::Checkpoint& ckpt) {
  CheckpointSummary s;
  const std::string config_path = path_join(ckpt.folder(), "config.json");
  if (path_exists(config_path)) {
    const Json config = read_json_file(config_path);
    s.model_type = JsonObject(config, config_path).get<std::string>("model_type");
    s.family = find_family(s.model_type);
    if (s.family) s.architecture = s.family->describe(config, config_path);
  }
  for (const auto& [name, e] : ckpt.tensors()) {
    if (s.family) s.parameters[s.family->component_of(name)] += e.info->numel;
    s.total_parameters += e.info->numel;
    auto& d = s.dtypes[safetensors::dtype_name(e.info->dtype)];
    d.tensors += 1;
    d.bytes += e.info->nbytes();
  }
  return s;
}

}  // namespace vlm
