// AdamW with PyTorch's semantics (torch.optim.AdamW, amsgrad off, maximize off): decoupled weight decay applied
// to the parameter before the moment update, bias-corrected moments, eps added after the square root. The state
// (moments and step count) is plain named tensors, so checkpoints store it as safetensors and resume is exact.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace vlm::train {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

class AdamW {
 public:
  // Named parameters (names key the saved state); each must require grad.
  AdamW(std::vector<std::pair<std::string, at::Tensor>> params, AdamWOptions options);

  // One update of every parameter that has a gradient, with learning rate `lr`.
  void step(double lr);
  void zero_grad();

  int64_t steps() const { return step_; }
  const std::vector<std::pair<std::string, at::Tensor>>& params() const { return params_; }

  // "<name>.exp_avg", "<name>.exp_avg_sq" tensors (float32, CPU) and the step count.
  std::vector<std::pair<std::string, at::Tensor>> state_tensors() const;
  // Restores what state_tensors() gave; every parameter's state must be present with its shape.
  void load_state(const std::vector<std::pair<std::string, at::Tensor>>& tensors, int64_t steps,
                  const std::string& origin);

 private:
  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<at::Tensor> exp_avg_, exp_avg_sq_;
  AdamWOptions options_;
  int64_t step_ = 0;
};

// torch.nn.utils.clip_grad_norm_ with the 2-norm over the gradients of `params` (those without one are skipped):
// total = the 2-norm of all of them together; each is multiplied by min(1, max_norm / (total + 1e-6)) on the
// device. Returns total as a float32 scalar on the device (undefined when no parameter has a gradient), without
// reading it back; a few multi-tensor kernels whatever the number of parameters.
at::Tensor clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

}  // namespace vlm::train
