// AdamW (train/optimizer.h) against torch.optim.AdamW's update written out per element in double precision
// (amsgrad off): p *= 1 - lr * wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). Several parameters of different shapes, one
// without a gradient (left alone), three steps with changing gradients and learning rates.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <torch/torch.h>

#include "train/optimizer.h"

TEST(AdamW, MatchesTheUpdateWrittenOut) {
  torch::manual_seed(0);
  const vlm::train::AdamWOptions o{0.9, 0.95, 1e-6, 0.1};
  std::vector<std::pair<std::string, at::Tensor>> params;
  for (auto shape : {std::vector<int64_t>{3, 5}, std::vector<int64_t>{7}, std::vector<int64_t>{2, 2, 2}})
    params.emplace_back("p" + std::to_string(params.size()), torch::randn(shape).requires_grad_());
  vlm::train::AdamW adam(params, o);
  std::vector<at::Tensor> p, m, v;
  for (auto& [name, t] : params) {
    p.push_back(t.detach().to(at::kDouble));
    m.push_back(torch::zeros_like(p.back()));
    v.push_back(torch::zeros_like(p.back()));
  }
  for (int step = 1; step <= 3; ++step) {
    const double lr = 1e-2 * step;
    for (size_t i = 0; i < params.size(); ++i) {
      if (i == 1 && step == 2) continue;  // no gradient this step: no update, no moment change
      const at::Tensor g = torch::randn_like(params[i].second);
      params[i].second.mutable_grad() = g;
      const at::Tensor gd = g.to(at::kDouble);
      p[i] = p[i] * (1 - lr * o.weight_decay);
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * gd;
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * gd * gd;
      const double b1 = 1 - std::pow(o.beta1, step), b2 = std::sqrt(1 - std::pow(o.beta2, step));
      p[i] = p[i] - lr / b1 * m[i] / (v[i].sqrt() / b2 + o.eps);
    }
    adam.step(lr);
    adam.zero_grad();
    for (size_t i = 0; i < params.size(); ++i)
      EXPECT_TRUE(torch::allclose(params[i].second.detach().to(at::kDouble), p[i], 1e-6, 1e-6))
          << "parameter " << i << " after step " << step;
  }
}
