// Fused ops against their plain-libtorch references. The CUDA cases run only where a GPU and the kernels are.
#include <gtest/gtest.h>

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
