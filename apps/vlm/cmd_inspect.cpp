// vlm inspect PATH [--tensors]: what a checkpoint holds. PATH is a checkpoint folder, a .safetensors file or a
// model.safetensors.index.json.
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "apps/vlm/commands.h"
#include "core/error.h"
#include "core/file.h"
#include "core/safetensors.h"
#include "models/summary.h"

namespace vlm::cli {
namespace {

std::string with_commas(uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

std::string human_bytes(uint64_t n) {
  char buf[32];
  if (n >= (1ull << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", n / double(1ull << 30));
  else if (n >= (1ull << 20))
    std::snprintf(buf, sizeof buf, "%.2f MiB", n / double(1ull << 20));
  else if (n >= 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", n / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  return buf;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void inspect(const std::string& path, bool list_tensors) {
  const auto ckpt = safetensors::Checkpoint::open(path);
  const CheckpointSummary s = summarize(ckpt);
  std::printf("path: %s\n", path.c_str());
  if (s.family) {
    std::printf("model_type: %s (%s)\n", s.model_type.c_str(), s.family->name);
    for (const auto& [label, value] : s.architecture)
      std::printf("  %-15s %s\n", (label + ":").c_str(), value.c_str());
  } else if (!s.model_type.empty()) {
    std::printf("model_type: %s (not supported; supported: %s)\n", s.model_type.c_str(),
                supported_model_types().c_str());
  } else {
    std::printf("model_type: unknown (no config.json beside the weights)\n");
  }

  std::printf("parameters: %s in %zu tensors\n", with_commas(s.total_parameters).c_str(), ckpt.tensors().size());
  if (s.family) {
    for (Component c : {Component::kVision, Component::kProjector, Component::kLanguage}) {
      const auto it = s.parameters.find(c);
      std::printf("  %-15s %s\n", (std::string(component_name(c)) + ":").c_str(),
                  with_commas(it == s.parameters.end() ? 0 : it->second).c_str());
    }
  }
  std::printf("dtypes:\n");
  for (const auto& [name, d] : s.dtypes)
    std::printf("  %-15s %llu tensors, %s\n", (name + ":").c_str(), static_cast<unsigned long long>(d.tensors),
                human_bytes(d.bytes).c_str());
  std::printf("files: %zu\n", ckpt.files().size());
  for (const auto& f : ckpt.files())
    std::printf("  %s (%zu tensors, %s)\n", path_filename(f->path()).c_str(), f->tensors().size(),
                human_bytes(f->mapping()->size()).c_str());
  if (!ckpt.metadata().empty()) {
    std::printf("metadata:\n");
    for (const auto& [k, v] : ckpt.metadata()) std::printf("  %s: %s\n", k.c_str(), quote(v, 120).c_str());
  }
  if (list_tensors) {
    std::printf("tensors:\n");
    for (const auto& [name, e] : ckpt.tensors())
      std::printf("  %s %s %s\n", name.c_str(), safetensors::dtype_name(e.info->dtype),
                  shape_text(e.info->shape).c_str());
  }
}

}  // namespace

Command add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Describe a checkpoint: architecture, parameter counts, dtypes");
  auto path = std::make_shared<std::string>();
  auto tensors = std::make_shared<bool>(false);
  cmd->add_option("path", *path, "Checkpoint folder, .safetensors file or model.safetensors.index.json")->required();
  cmd->add_flag("--tensors", *tensors, "List every tensor's name, dtype and shape");
  return {cmd, [=] { inspect(*path, *tensors); }};
}

}  // namespace vlm::cli
