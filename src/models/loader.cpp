#include "models/loader.h"

#include <map>
#include <set>

#include "core/error.h"
#include "core/tensor_io.h"

namespace vlm {
namespace {

std::string list(const std::vector<std::string>& names) {
  std::string out;
  const size_t shown = std::min<size_t>(names.size(), 12);
  for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > shown) out += str(", ... (", names.size() - shown, " more)");
  return out;
}

}  // namespace

void load_weights(torch::nn::Module& module, const safetensors::Checkpoint& ckpt, const KeyMap& map,
                  const LoadOptions& options) {
  auto params = module.named_parameters(/*recurse=*/true);
  std::map<std::string, std::string> source;  // parameter name -> checkpoint key
  std::vector<std::string> unexpected;
  for (const auto& [key, entry] : ckpt.tensors()) {
    const std::string name = map(key);
    if (name.empty()) continue;
    if (!params.contains(name)) {
      unexpected.push_back(key);
      continue;
    }
    if (!source.emplace(name, key).second)
      fail(ckpt.origin(), ": tensors ", quote(source[name]), " and ", quote(key), " both map to parameter ", name);
  }
  std::vector<std::string> missing;
  for (const auto& p : params)
    if (!source.count(p.key())) missing.push_back(p.key());
  if (!missing.empty() || !unexpected.empty()) {
    std::string msg = ckpt.origin() + ": the checkpoint does not match the model";
    if (!missing.empty()) msg += str("; missing ", missing.size(), " tensors: ", list(missing));
    if (!unexpected.empty()) msg += str("; unexpected ", unexpected.size(), " tensors: ", list(unexpected));
    fail(msg);
  }

  torch::NoGradGuard no_grad;
  for (auto& p : params) {
    const std::string& key = source[p.key()];
    at::Tensor t = to_torch(ckpt, key);
    if (t.sizes() != p.value().sizes())
      fail(ckpt.origin(), ": tensor ", quote(key), " has shape ", t.sizes(), ", the model expects ", p.value().sizes());
    if (t.is_floating_point()) t = t.to(options.device, options.dtype);
    else t = t.to(options.device);
    p.value().set_data(t);
  }
}

}  // namespace vlm
