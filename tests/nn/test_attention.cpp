// Segment attention (nn/attention.h) against attention run on each segment alone: equal-length segments batched
// into one call, mixed lengths grouped by length (on CUDA: one variable-length flash call), empty segments; values
// and gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>
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

void expect_matches(const std::vector<int64_t>& cu, bool cuda = false) {
  torch::manual_seed(static_cast<uint64_t>(cu.back()));
  // CPU float32, or CUDA bfloat16 (the vision tower's head size, 80) against the definition in float32.
  const int64_t n = cu.back(), h = cuda ? 2 : 3, d = cuda ? 80 : 8;
  const double tol = cuda ? 2e-2 : 1e-5, grad_tol = cuda ? 5e-2 : 1e-5;
  const auto opts = cuda ? torch::dtype(torch::kBFloat16).device(torch::kCUDA) : torch::dtype(torch::kFloat);
  auto leaf = [](const at::Tensor& t) { return t.detach().requires_grad_(true); };
  const at::Tensor q0 = torch::randn({n, h, d}, opts), k0 = torch::randn({n, h, d}, opts);
  const at::Tensor v0 = torch::randn({n, h, d}, opts);
  const at::Tensor q = leaf(q0), k = leaf(k0), v = leaf(v0);
  const at::Tensor qr = leaf(q0.to(torch::kFloat)), kr = leaf(k0.to(torch::kFloat)), vr = leaf(v0.to(torch::kFloat));
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const at::Tensor got = vlm::nn::segment_attention(q, k, v, cu, scale).to(torch::kFloat);
  const at::Tensor want = per_segment(qr, kr, vr, cu, scale);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(torch::allclose(got, want, tol, tol)) << "max diff " << (got - want).abs().max().item<double>();
  const at::Tensor w = torch::randn_like(want);
  const auto g = torch::autograd::grad({(got * w).sum()}, {q, k, v});
  const auto r = torch::autograd::grad({(want * w).sum()}, {qr, kr, vr});
  for (size_t i = 0; i < 3; ++i)
    EXPECT_TRUE(torch::allclose(g[i].to(torch::kFloat), r[i], grad_tol, grad_tol))
        << "gradient " << i << " max diff " << (g[i].to(torch::kFloat) - r[i]).abs().max().item<double>();
}

}  // namespace

TEST(SegmentAttention, EqualSegmentsMatchEachSegmentAlone) { expect_matches({0, 16, 32, 48}); }

TEST(SegmentAttention, MixedLengthsMatchEachSegmentAlone) { expect_matches({0, 16, 20, 36, 36, 45, 61}); }

TEST(SegmentAttention, OneSegment) { expect_matches({0, 7}); }

// On CUDA, segments of several lengths covering every row go through the variable-length flash kernel in one call.
TEST(SegmentAttention, CudaMixedLengthsMatchTheDefinition) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA";
  expect_matches({0, 100, 164, 164, 400, 403}, true);
  expect_matches({0, 64, 128, 192}, true);  // one length: batched attention
}

// Grouped-query attention on CUDA without a mask (causal rows, each a segment of the variable-length flash kernel)
// and with a packed row's mask, against the repeated-KV definition in fp32: values and gradients.
TEST(GqaAttention, CudaCausalAndPackedMatchTheDefinition) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(9);
  const int64_t h = 4, hkv = 2, d = 64;
  const double scale = 1.0 / std::sqrt(64.0);
  const auto opts = torch::dtype(torch::kBFloat16).device(torch::kCUDA);
  struct Case {
    int64_t b, l;
    std::vector<int64_t> packed;  // segment lengths of a packed row (b = 1), or none
  };
  for (const Case& c : std::vector<Case>{{2, 37, {}}, {1, 1, {}}, {3, 130, {}}, {1, 50, {20, 1, 29}}}) {
    // [B, L, H, D] projections viewed as [B, H, L, D], as the text attention hands them over.
    const at::Tensor q0 = torch::randn({c.b, c.l, h, d}, opts), k0 = torch::randn({c.b, c.l, hkv, d}, opts),
                     v0 = torch::randn({c.b, c.l, hkv, d}, opts);
    vlm::nn::AttentionMask mask;
    std::optional<at::Tensor> dense;
    if (!c.packed.empty()) {
      mask = vlm::nn::packed_mask(c.packed, torch::kCUDA);
      dense = vlm::nn::packed_causal_mask(mask.cu_seqlens, c.l);
    }
    auto leaf = [](const at::Tensor& t, bool fp32) {
      return (fp32 ? t.to(torch::kFloat) : t.clone()).transpose(1, 2).detach().requires_grad_(true);
    };
    const at::Tensor q = leaf(q0, false), k = leaf(k0, false), v = leaf(v0, false);
    const at::Tensor qr = leaf(q0, true), kr = leaf(k0, true), vr = leaf(v0, true);
    const at::Tensor got = vlm::nn::gqa_attention(q, k, v, mask, scale);
    const at::Tensor want = vlm::nn::attention(qr, vlm::nn::repeat_kv(kr, h / hkv), vlm::nn::repeat_kv(vr, h / hkv),
                                               dense, !dense.has_value(), scale);
    const std::string what = "b" + std::to_string(c.b) + " l" + std::to_string(c.l);
    ASSERT_EQ(got.sizes(), want.sizes()) << what;
    EXPECT_TRUE(torch::allclose(got.to(torch::kFloat), want, 2e-2, 2e-2)) << what;
    const at::Tensor w = torch::randn_like(want);
    const auto g = torch::autograd::grad({(got.to(torch::kFloat) * w).sum()}, {q, k, v});
    const auto r = torch::autograd::grad({(want * w).sum()}, {qr, kr, vr});
    for (size_t i = 0; i < 3; ++i)
      EXPECT_TRUE(torch::allclose(g[i].to(torch::kFloat), r[i], 5e-2, 5e-2))
          << what << " gradient " << i << " max diff " << (g[i].to(torch::kFloat) - r[i]).abs().max().item<double>();
  }
}
