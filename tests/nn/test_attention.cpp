// Segment attention (nn/attention.h) against attention run on each segment alone: equal-length segments batched
// into one call, mixed lengths grouped by length, empty segments; values and gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <torch/torch.h>

#include "nn/attention.h"

namespace {

// The definition: plain softmax attention inside each segment, one at a time.
at::Tensor per_segment(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const std::vector<int64_t>& cu,
                       double scale) {
  std::vector<at::Tensor> outs;
  for (size_t i = 0; i + 1 < cu.size(); ++i) {
    const int64_t len = cu[i + 1] - cu[i];
    if (len == 0) continue;
    auto seg = [&](const at::Tensor& t) { return t.narrow(0, cu[i], len).transpose(0, 1); };  // [H, len, D]
    const at::Tensor p = at::softmax(at::matmul(seg(q), seg(k).transpose(1, 2)) * scale, -1);
    outs.push_back(at::matmul(p, seg(v)).transpose(0, 1));
  }
  return at::cat(outs, 0);
}

void expect_matches(const std::vector<int64_t>& cu) {
  torch::manual_seed(static_cast<uint64_t>(cu.back()));
  const int64_t n = cu.back(), h = 3, d = 8;
  const at::Tensor q = torch::randn({n, h, d}, torch::requires_grad());
  const at::Tensor k = torch::randn({n, h, d}, torch::requires_grad());
  const at::Tensor v = torch::randn({n, h, d}, torch::requires_grad());
  const double scale = 1.0 / std::sqrt(8.0);
  const at::Tensor got = vlm::nn::segment_attention(q, k, v, cu, scale);
  const at::Tensor want = per_segment(q, k, v, cu, scale);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-5));
  const at::Tensor w = torch::randn_like(want);
  const auto g = torch::autograd::grad({(got * w).sum()}, {q, k, v});
  const auto r = torch::autograd::grad({(want * w).sum()}, {q, k, v});
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::allclose(g[i], r[i], 1e-5, 1e-5)) << "gradient " << i;
}

}  // namespace

TEST(SegmentAttention, EqualSegmentsMatchEachSegmentAlone) { expect_matches({0, 16, 32, 48}); }

TEST(SegmentAttention, MixedLengthsMatchEachSegmentAlone) { expect_matches({0, 16, 20, 36, 36, 45, 61}); }

TEST(SegmentAttention, OneSegment) { expect_matches({0, 7}); }
