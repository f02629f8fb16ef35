#include "lora/fuse.h"

#include <sys/stat.h>

#include <utility>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "core/tensor_io.h"
#include "lora/adapter_formats.h"
#include "lora/lora_linear.h"
#include "lora/targets.h"

namespace vlm::lora {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Weight files of a Hugging Face folder: never copied (the fused weights replace them).
bool is_weight_file(const std::string& name) {
  for (const char* ext : {".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".h5", ".msgpack"})
    if (ends_with(name, ext)) return true;
  return name == "model.safetensors.index.json" || name == "pytorch_model.bin.index.json";
}

bool same_folder(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool ties_embeddings(const std::string& base_dir) {
  const std::string path = path_join(base_dir, "config.json");
  if (!path_exists(path)) return false;
  const Json config = read_json_file(path);
  // transformers reads tie_word_embeddings at the top level (default true for PretrainedConfig) or, for some
  // composite configs, from text_config.
  if (config.contains("tie_word_embeddings") && config["tie_word_embeddings"].is_boolean())
    return config["tie_word_embeddings"].get<bool>();
  if (config.contains("text_config") && config["text_config"].is_object() &&
      config["text_config"].contains("tie_word_embeddings") && config["text_config"]["tie_word_embeddings"].is_boolean())
    return config["text_config"]["tie_word_embeddings"].get<bool>();
  return false;
}

}  // namespace

int64_t fuse_adapters(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  int64_t fused = 0;
  for (const auto& [path, linear] : named_linears(model)) {
    if (!linear->adapter()) continue;
    const auto adapter = std::dynamic_pointer_cast<LoraAdapter>(linear->adapter());
    VLM_CHECK(adapter, "module ", path, " has an adapter that is not LoRA / DoRA; cannot fuse it");
    const at::Tensor merged = adapter->merged_weight(linear->weight).to(linear->weight.scalar_type());
    // set_data, not copy_: the weight may be a read-only view of the checkpoint's memory map.
    linear->weight.set_data(merged.to(linear->weight.device()).contiguous());
    linear->set_adapter(nullptr);
    ++fused;
  }
  return fused;
}

void save_fused_checkpoint(const std::string& base_dir, const std::string& out_dir, torch::nn::Module& model,
                           const FusedCheckpointOptions& options) {
  for (const auto& [path, linear] : named_linears(model))
    VLM_CHECK(!linear->adapter(), "module ", path, " still has an adapter: fuse the adapters before saving");
  VLM_CHECK(is_directory(base_dir), base_dir, ": the base model folder does not exist");
  make_directories(out_dir);
  VLM_CHECK(!same_folder(base_dir, out_dir), out_dir, ": the output folder is the base model's folder");

  const bool tied = ties_embeddings(base_dir);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) {
    if (tied && p.key() == "lm_head.weight") continue;
    at::Tensor t = p.value().detach();
    if (options.dtype && t.is_floating_point()) t = t.to(*options.dtype);
    tensors.emplace_back(p.key(), t);
  }
  save_safetensors(path_join(out_dir, "model.safetensors"), tensors, {{"format", "pt"}});

  for (const std::string& name : detail::regular_files(base_dir)) {
    if (is_weight_file(name)) continue;
    // Byte for byte; the largest of these (tokenizer.json) is some MB.
    atomic_write_string(path_join(out_dir, name), read_file(path_join(base_dir, name), size_t{1} << 30));
  }
}

}  // namespace vlm::lora
