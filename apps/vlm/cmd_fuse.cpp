// vlm fuse --model DIR --adapter DIR --out DIR [--dtype T]: merges a LoRA / DoRA adapter into the base weights and
// writes a checkpoint in the published layout, with the base's config, tokenizer and processor files.
#include <cstdio>
#include <memory>

#include "apps/vlm/commands.h"
#include "core/error.h"
#include "lora/adapter_io.h"
#include "lora/fuse.h"
#include "models/registry.h"

namespace vlm::cli {
namespace {

struct FuseArgs {
  std::string model, adapter, out, dtype;
};

std::optional<at::ScalarType> dtype_named(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float16") return at::kHalf;
  return std::nullopt;
}

void run_fuse(const FuseArgs& a) {
  std::optional<at::ScalarType> dtype = dtype_named(a.dtype);
  if (!a.dtype.empty() && !dtype) fail("--dtype ", quote(a.dtype), ": expected float32, bfloat16 or float16");
  // Fuse in float32 from the weights as stored, then cast once (by default to the base's dtype).
  LoadedModel m = load_model(a.model, {at::kFloat, at::kCPU});
  if (!dtype) dtype = dtype_named(m.config.value("torch_dtype", m.config.value("dtype", std::string("float32"))));
  const lora::LoadedAdapter adapter = lora::load_adapter(a.adapter, *m.model, *m.family);
  const int64_t layers = lora::fuse_adapters(*m.model);
  lora::save_fused_checkpoint(a.model, a.out, *m.model, {dtype});
  std::fprintf(stderr, "vlm fuse: %s adapter merged into %lld layers; written to %s\n", adapter.format.c_str(),
               static_cast<long long>(layers), a.out.c_str());
}

}  // namespace

Command add_fuse(CLI::App& app) {
  auto* cmd = app.add_subcommand("fuse", "Merge a LoRA adapter into the base model and save the result");
  auto a = std::make_shared<FuseArgs>();
  cmd->add_option("--model", a->model, "Base model folder")->required();
  cmd->add_option("--adapter", a->adapter, "Adapter folder (PEFT or mlx-vlm)")->required();
  cmd->add_option("--out", a->out, "Output folder")->required();
  cmd->add_option("--dtype", a->dtype, "float32, bfloat16 or float16 (default: the base checkpoint's)");
  return {cmd, [a] { run_fuse(*a); }};
}

}  // namespace vlm::cli
