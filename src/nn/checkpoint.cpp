#include "nn/checkpoint.h"

#include <mutex>
#include <utility>

#include <torch/torch.h>

#include "core/error.h"

#ifdef VLM_WITH_CUDA
#include <ATen/cuda/CUDAGeneratorImpl.h>
#endif

namespace vlm::nn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The default generators a block on `device` may draw from: the CPU one always, plus the device's own for CUDA.
std::vector<at::Generator> generators_for(const at::Device& device) {
  std::vector<at::Generator> gens{at::detail::getDefaultCPUGenerator()};
#ifdef VLM_WITH_CUDA
  if (device.is_cuda())
    gens.push_back(at::cuda::detail::getDefaultCUDAGenerator(device.has_index() ? device.index() : 0));
#else
  (void)device;
#endif
  return gens;
}

std::vector<at::Tensor> get_states(std::vector<at::Generator>& gens) {
  std::vector<at::Tensor> states;
  for (at::Generator& g : gens) {
    std::lock_guard<std::mutex> lock(g.mutex());
    states.push_back(g.get_state());
  }
  return states;
}

void set_states(std::vector<at::Generator>& gens, const std::vector<at::Tensor>& states) {
  for (size_t i = 0; i < gens.size(); ++i) {
    std::lock_guard<std::mutex> lock(gens[i].mutex());
    gens[i].set_state(states[i]);
  }
}

// Puts the generators back to the states they had when it was made (also when the recomputation throws).
class RestoreRngOnExit {
 public:
  explicit RestoreRngOnExit(std::vector<at::Generator>& gens) : gens_(gens), states_(get_states(gens)) {}
  ~RestoreRngOnExit() {
    try {
      set_states(gens_, states_);
    } catch (...) {  // a destructor must not throw; the states were valid when read
    }
  }
  RestoreRngOnExit(const RestoreRngOnExit&) = delete;
  RestoreRngOnExit& operator=(const RestoreRngOnExit&) = delete;

 private:
  std::vector<at::Generator>& gens_;
  std::vector<at::Tensor> states_;
};

// What backward needs besides the saved input: the block, the generator states at forward time, and, when the input
// was offloaded, its pinned CPU copy. Held by the autograd context as an IValue capsule, so it lives exactly as long
// as the graph node.
struct Recompute : torch::CustomClassHolder {
  std::function<at::Tensor(const at::Tensor&)> fn;
  at::Device device{at::kCPU};
  std::vector<at::Tensor> rng_states;
  at::Tensor offloaded;
};

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  // anchor: an empty tensor that requires grad, so that the output does even when the input does not.
  static at::Tensor forward(AutogradContext* ctx, std::function<at::Tensor(const at::Tensor&)> fn,
                            const at::Tensor& input, const at::Tensor& anchor, bool offload) {
    (void)anchor;
    auto state = c10::make_intrusive<Recompute>();
    state->device = input.device();
    std::vector<at::Generator> gens = generators_for(state->device);
    state->rng_states = get_states(gens);
    at::Tensor out;
    {
      torch::NoGradGuard no_grad;  // apply() already disables grad; stated here because it is the point
      out = fn(input);
    }
    VLM_CHECK(out.defined(), "checkpoint: the block returned an undefined tensor");
    state->fn = std::move(fn);
    if (offload && input.is_cuda()) {
      state->offloaded = at::empty(input.sizes(), input.options().device(at::kCPU).pinned_memory(true));
      state->offloaded.copy_(input, /*non_blocking=*/true);
      ctx->save_for_backward({});
    } else {
      ctx->save_for_backward({input});  // also catches in-place changes of the input before backward
    }
    ctx->saved_data["input_requires_grad"] = input.requires_grad();
    ctx->saved_data["recompute"] = at::IValue::make_capsule(std::move(state));
    return out;
  }

  // grads: [d loss / d out]. Returns one entry per forward argument: d loss / d input where it requires one.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto state = c10::static_intrusive_pointer_cast<Recompute>(ctx->saved_data["recompute"].toCapsule());
    const bool input_grad = ctx->saved_data["input_requires_grad"].toBool();
    at::Tensor x = state->offloaded.defined()
                       ? state->offloaded.to(state->device, state->offloaded.scalar_type(), /*non_blocking=*/true)
                       : ctx->get_saved_variables()[0].detach();
    x.requires_grad_(input_grad);
    at::Tensor out;
    {
      std::vector<at::Generator> gens = generators_for(state->device);
      RestoreRngOnExit restore(gens);
      set_states(gens, state->rng_states);
      at::AutoGradMode grad_on(true);
      out = state->fn(x);
    }
    // A nested (reentrant) backward: accumulates into the .grad of the block's parameters and of x.
    if (out.requires_grad()) torch::autograd::backward({out}, {grads[0]});
    return {at::Tensor(), input_grad ? x.grad() : at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor checkpoint(std::function<at::Tensor(const at::Tensor&)> fn, const at::Tensor& input, bool offload) {
  if (!at::GradMode::is_enabled()) return fn(input);
  const at::Tensor anchor =
      torch::empty({0}, torch::dtype(input.scalar_type()).device(input.device()).requires_grad(true));
  return CheckpointFunction::apply(std::move(fn), input, anchor, offload);
}

}  // namespace vlm::nn
