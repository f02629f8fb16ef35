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

// The multi-tensor clipping against libtorch's own clip_grad_norm_ (one norm per parameter): the same total and the
// same scaled gradients, whether the norm is above the limit (clipped) or below (unchanged); parameters without a
// gradient are skipped.
TEST(ClipGradNorm, MatchesLibtorch) {
  torch::manual_seed(5);
  for (double max_norm : {0.5, 1e3}) {
    std::vector<at::Tensor> a, b;
    for (int64_t n : {3, 17, 1}) {
      const at::Tensor p = torch::randn({n, 4}, torch::requires_grad());
      a.push_back(p.detach().clone().requires_grad_(true));
      b.push_back(p.detach().clone().requires_grad_(true));
      const at::Tensor g = torch::randn({n, 4});
      a.back().mutable_grad() = g.clone();
      b.back().mutable_grad() = g.clone();
    }
    a.push_back(torch::zeros({2}, torch::requires_grad()));  // no gradient
    const at::Tensor total = vlm::train::clip_grad_norm(a, max_norm);
    const double expected = torch::nn::utils::clip_grad_norm_(b, max_norm, 2.0);
    EXPECT_NEAR(total.item<double>(), expected, 1e-5 * expected);
    EXPECT_EQ(max_norm < expected, max_norm < 1.0) << "the first case clips, the second does not";
    for (size_t i = 0; i < b.size(); ++i) EXPECT_TRUE(torch::allclose(a[i].grad(), b[i].grad(), 1e-6, 1e-6)) << i;
    EXPECT_FALSE(a.back().grad().defined());
  }
}
