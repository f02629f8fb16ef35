// What a checkpoint holds, for `vlm inspect`: family and architecture (from config.json beside the weights),
// parameter counts per component, and tensors and bytes per dtype.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/safetensors.h"
#include "models/registry.h"

namespace vlm {

struct CheckpointSummary {
  std::string model_type;                                           // "" without config.json
  const Family* family = nullptr;                                   // nullptr if unsupported or unknown
  std::vector<std::pair<std::string, std::string>> architecture;   // from the family's describe()
  std::map<Component, uint64_t> parameters;                         // only with a family
  uint64_t total_parameters = 0;
  struct DTypeUse {
    uint64_t tensors = 0, bytes = 0;
  };
  std::map<std::string, DTypeUse> dtypes;  // by safetensors dtype name
};

CheckpointSummary summarize(const safetensors::Checkpoint& checkpoint);

}  // namespace vlm
