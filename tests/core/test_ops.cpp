// Fused ops against their plain-libtorch references. The CUDA cases run only where a GPU and the kernels are.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <vector>

#include <torch/torch.h>

#include "kernels/ops.h"

TEST(Ops, RmsNormReferenceMatchesDefinition) {
  torch::manual_seed(1);
  const at::Tensor x = torch::randn({3, 17}, torch::kDouble), w = torch::randn({17}, torch::kDouble);
  const at::Tensor expected = w * (x / torch::sqrt(x.pow(2).mean(-1, true) + 1e-6));
  // The reference computes in fp32 like transformers; compare at fp32 precision.
  EXPECT_TRUE(torch::allclose(vlm::ops::rms_norm_reference(x, w, 1e-6), expected, 1e-5, 1e-5));
}

TEST(Ops, RmsNormCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(2);
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16}) {
    for (int64_t cols : {1, 31, 64, 257, 1536, 3584}) {
      const at::Tensor x = torch::randn({5, 3, cols}, torch::device(torch::kCUDA).dtype(type));
      const at::Tensor w = torch::randn({cols}, torch::device(torch::kCUDA).dtype(type));
      const at::Tensor got = vlm::ops::rms_norm(x, w, 1e-6);
      const at::Tensor ref = vlm::ops::rms_norm_reference(x, w, 1e-6);
      const double tol = type == torch::kFloat ? 1e-5 : 1e-2;
      EXPECT_TRUE(torch::allclose(got.to(torch::kFloat), ref.to(torch::kFloat), tol, tol))
          << c10::toString(type) << " cols " << cols;
    }
  }
}

namespace {

double tolerance(at::ScalarType type) { return type == torch::kFloat ? 1e-5 : 2e-2; }

}  // namespace

TEST(Ops, RopeReferenceMatchesRotateHalfDefinition) {
  torch::manual_seed(3);
  const at::Tensor x = torch::randn({2, 3, 4, 8}), cos = torch::randn({2, 3, 8}), sin = torch::randn({2, 3, 8});
  const at::Tensor rotated = torch::cat({-x.narrow(-1, 4, 4), x.narrow(-1, 0, 4)}, -1);
  EXPECT_TRUE(torch::allclose(vlm::ops::rope(x, cos, sin), x * cos.unsqueeze(2) + rotated * sin.unsqueeze(2)));
}

TEST(Ops, RopeCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(4);
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16})
    for (auto [b, l, h, d] : std::vector<std::array<int64_t, 4>>{{1, 1, 12, 128}, {3, 37, 5, 64}, {2, 300, 2, 80}}) {
      const auto opts = torch::device(torch::kCUDA).dtype(type);
      const at::Tensor x = torch::randn({b, l, h, d}, opts), cos = torch::randn({b, l, d}, opts),
                       sin = torch::randn({b, l, d}, opts);
      const at::Tensor got = vlm::ops::rope(x, cos, sin), ref = vlm::ops::rope_reference(x, cos, sin);
      EXPECT_TRUE(torch::allclose(got.to(torch::kFloat), ref.to(torch::kFloat), tolerance(type), tolerance(type)))
          << c10::toString(type) << " " << b << "x" << l << "x" << h << "x" << d;
    }
}

TEST(Ops, SwigluCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(5);
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16})
    for (int64_t n : {1, 255, 8960, 100003}) {
      const auto opts = torch::device(torch::kCUDA).dtype(type);
      const at::Tensor g = torch::randn({n}, opts) * 3, u = torch::randn({n}, opts);
      EXPECT_TRUE(torch::allclose(vlm::ops::swiglu(g, u).to(torch::kFloat),
                                  vlm::ops::swiglu_reference(g, u).to(torch::kFloat), tolerance(type), tolerance(type)))
          << c10::toString(type) << " n " << n;
    }
}

TEST(Ops, DecodeAttentionCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(6);
  struct Shape {
    int64_t b, h, hkv, t, d;
  };
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16})
    for (const Shape s : {Shape{1, 12, 2, 1, 128}, Shape{3, 6, 3, 37, 64}, Shape{2, 4, 4, 64, 32},
                          Shape{2, 12, 2, 65, 128}, Shape{1, 28, 4, 600, 128}, Shape{4, 8, 1, 1000, 256}}) {
      const auto opts = torch::device(torch::kCUDA).dtype(type);
      const at::Tensor q = torch::randn({s.b, s.h, 1, s.d}, opts), k = torch::randn({s.b, s.hkv, s.t, s.d}, opts),
                       v = torch::randn({s.b, s.hkv, s.t, s.d}, opts);
      // Random holes and unfilled tails, but every row attends to at least its first position.
      at::Tensor mask = torch::rand({s.b, s.t}, torch::device(torch::kCUDA)) < 0.7;
      mask.select(1, 0).fill_(true);
      const double scale = 1.0 / std::sqrt(static_cast<double>(s.d));
      const at::Tensor got = vlm::ops::decode_attention(q, k, v, mask, scale);
      const at::Tensor ref = vlm::ops::decode_attention_reference(q.to(torch::kFloat), k.to(torch::kFloat),
                                                                  v.to(torch::kFloat), mask, scale);
      EXPECT_TRUE(torch::allclose(got.to(torch::kFloat), ref, tolerance(type), tolerance(type)))
          << c10::toString(type) << " b" << s.b << " h" << s.h << "/" << s.hkv << " t" << s.t << " d" << s.d
          << " max diff " << (got.to(torch::kFloat) - ref).abs().max().item<double>();
    }
}
