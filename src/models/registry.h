// The one list of supported model families (HF model_type). Code outside src/models asks the registry; nothing
// else switches on the architecture.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "models/component.h"
#include "models/loader.h"
#include "models/model.h"

namespace vlm {

struct Family {
  const char* model_type;  // as in config.json
  const char* name;        // for people
  // (label, value) rows describing the architecture; parses config.json strictly (errors name the field).
  std::vector<std::pair<std::string, std::string>> (*describe)(const Json& config, const std::string& file);
  // Which component a checkpoint tensor belongs to.
  Component (*component_of)(const std::string& tensor_name);
  // Builds the model (parameters uninitialised) from config.json.
  std::shared_ptr<Model> (*create)(const Json& config, const std::string& file);
  // Checkpoint key -> module parameter name for this model ("" drops the key), for both weight layouts.
  std::string (*key_map)(const std::string& key, const Model& model);
  // Our module path (the published layout) -> the module path in transformers >= 4.52 / 5, which PEFT adapters
  // made with those versions key by.
  std::string (*transformers_path)(const std::string& module_path);
};

const std::vector<Family>& families();
// The family for a model_type, or nullptr.
const Family* find_family(const std::string& model_type);
// "qwen2_vl, qwen2_5_vl" for messages.
std::string supported_model_types();

struct LoadedModel {
  std::shared_ptr<Model> model;
  const Family* family = nullptr;
  Json config;
  std::string dir;
};

// Reads DIR/config.json, builds the family's model and loads its weights strictly (missing or unexpected tensors,
// or shape mismatches, are errors that list them). The model is in eval mode.
LoadedModel load_model(const std::string& dir, const LoadOptions& options);

}  // namespace vlm
