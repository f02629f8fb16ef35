// Fused ops against their plain-libtorch references. The CUDA cases run only where a GPU and the kernels are.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "kernels/ops.h"
#include "nn/rope.h"

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
                          Shape{2, 12, 2, 65, 128}, Shape{1, 28, 4, 600, 128}, Shape{4, 8, 1, 1000, 256},
                          Shape{1, 12, 2, 9000, 128}}) {
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

TEST(Ops, AddRmsNormCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(7);
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16})
    for (int64_t cols : {1, 33, 256, 1536, 3584}) {
      const auto opts = torch::device(torch::kCUDA).dtype(type);
      const at::Tensor x = torch::randn({3, 2, cols}, opts) * 4, r = torch::randn({3, 2, cols}, opts),
                       w = torch::randn({cols}, opts);
      const auto [h, y] = vlm::ops::add_rms_norm(x, r, w, 1e-6);
      const auto [h_ref, y_ref] = vlm::ops::add_rms_norm_reference(x, r, w, 1e-6);
      EXPECT_TRUE(torch::equal(h, h_ref)) << c10::toString(type) << " cols " << cols;  // one rounding, both ways
      EXPECT_TRUE(torch::allclose(y.to(torch::kFloat), y_ref.to(torch::kFloat), tolerance(type), tolerance(type)))
          << c10::toString(type) << " cols " << cols;
    }
}

namespace {

// A decoding step's inputs: fused q/k/v rows, positions, caches with some content, and the slot to write.
struct DecodeStepInputs {
  at::Tensor qkv, positions, inv_freq, k_cache, v_cache, slot;
};

DecodeStepInputs decode_step_inputs(int64_t b, int64_t h, int64_t hkv, int64_t t, int64_t d, int64_t slot,
                                    at::TensorOptions opts) {
  DecodeStepInputs in;
  in.qkv = torch::randn({b, 1, (h + 2 * hkv) * d}, opts);
  in.positions = torch::randint(0, 5000, {b}, opts.dtype(torch::kLong));
  in.inv_freq = vlm::nn::rope_inv_freq(d, 1e6, opts.device());
  in.k_cache = torch::randn({b, hkv, t, d}, opts);
  in.v_cache = torch::randn({b, hkv, t, d}, opts);
  in.slot = torch::full({1}, slot, opts.dtype(torch::kLong));
  return in;
}

}  // namespace

// The decode reference rotates exactly as the prefill path does (M-RoPE tables from three equal streams).
TEST(Ops, RopeQkvDecodeReferenceMatchesThePrefillPath) {
  torch::manual_seed(8);
  const int64_t b = 2, h = 4, hkv = 2, t = 9, d = 16, slot = 5;
  const DecodeStepInputs in = decode_step_inputs(b, h, hkv, t, d, slot, torch::dtype(torch::kFloat));
  const at::Tensor k_before = in.k_cache.clone(), v_before = in.v_cache.clone();
  const at::Tensor q = vlm::ops::rope_qkv_decode(in.qkv, in.positions, in.inv_freq, in.k_cache, in.v_cache, in.slot, h);

  const at::Tensor streams = in.positions.view({1, b, 1}).expand({3, b, 1});
  const vlm::nn::CosSin cs = vlm::nn::mrope_cos_sin(in.inv_freq, streams, {2, 3, 3}, torch::kFloat);
  const at::Tensor cos = cs.cos.squeeze(1), sin = cs.sin.squeeze(1);  // [B, 1, D]
  const at::Tensor rows = in.qkv.view({b, 1, h + 2 * hkv, d});
  const at::Tensor q_ref = vlm::ops::rope_reference(rows.narrow(2, 0, h), cos, sin).transpose(1, 2);
  const at::Tensor k_ref = vlm::ops::rope_reference(rows.narrow(2, h, hkv), cos, sin).transpose(1, 2);
  EXPECT_TRUE(torch::allclose(q, q_ref, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(in.k_cache.narrow(2, slot, 1), k_ref, 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(in.v_cache.narrow(2, slot, 1), rows.narrow(2, h + hkv, hkv).transpose(1, 2)));
  // Every other position is untouched.
  for (int64_t p = 0; p < t; ++p) {
    if (p == slot) continue;
    EXPECT_TRUE(torch::equal(in.k_cache.narrow(2, p, 1), k_before.narrow(2, p, 1))) << p;
    EXPECT_TRUE(torch::equal(in.v_cache.narrow(2, p, 1), v_before.narrow(2, p, 1))) << p;
  }
}

TEST(Ops, RopeQkvDecodeCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(9);
  struct Shape {
    int64_t b, h, hkv, t, d, slot;
  };
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16})
    for (const Shape s : {Shape{1, 12, 2, 300, 128, 297}, Shape{3, 5, 1, 37, 80, 0}, Shape{2, 4, 4, 8, 64, 7}}) {
      const auto opts = torch::device(torch::kCUDA).dtype(type);
      const DecodeStepInputs a = decode_step_inputs(s.b, s.h, s.hkv, s.t, s.d, s.slot, opts);
      const at::Tensor k_ref = a.k_cache.clone(), v_ref = a.v_cache.clone();
      const at::Tensor q = vlm::ops::rope_qkv_decode(a.qkv, a.positions, a.inv_freq, a.k_cache, a.v_cache, a.slot, s.h);
      const at::Tensor q_ref =
          vlm::ops::rope_qkv_decode_reference(a.qkv, a.positions, a.inv_freq, k_ref, v_ref, a.slot, s.h);
      const std::string what = std::string(c10::toString(type)) + " h" + std::to_string(s.h) + " d" +
                               std::to_string(s.d) + " slot " + std::to_string(s.slot);
      // The kernel rounds once, the reference after each product: a bf16 ulp or so apart.
      EXPECT_TRUE(torch::allclose(q.to(torch::kFloat), q_ref.to(torch::kFloat), tolerance(type), tolerance(type)))
          << what;
      EXPECT_TRUE(torch::allclose(a.k_cache.to(torch::kFloat), k_ref.to(torch::kFloat), tolerance(type),
                                  tolerance(type)))
          << what;
      EXPECT_TRUE(torch::equal(a.v_cache, v_ref)) << what;
    }
}

namespace {

// The largest difference of a and b relative to b's largest magnitude (the scale a bf16 rounding of the output has).
double relative_max_error(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor af = a.to(torch::kFloat), bf = b.to(torch::kFloat);
  return (af - bf).abs().max().item<double>() / std::max(bf.abs().max().item<double>(), 1e-12);
}

}  // namespace

TEST(Ops, LinearCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(10);
  struct Shape {
    int64_t m, n, k;
  };
  // Kernel shapes (m <= 4; k % 8 == 0; the down projection's k 8960; full and partial rounds of the unrolled loads)
  // and ones that go to torch's linear (m 5, k 12, fp32).
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16})
    for (const Shape s : {Shape{1, 1, 8}, Shape{1, 2051, 1536}, Shape{2, 7, 8960}, Shape{3, 300, 72}, Shape{4, 33, 136},
                          Shape{1, 1536, 8960}, Shape{3, 5, 4096}, Shape{4, 33, 2048}, Shape{5, 19, 64},
                          Shape{2, 9, 12}})
      for (bool with_bias : {false, true}) {
        const auto opts = torch::device(torch::kCUDA).dtype(type);
        // x is a column slice (not contiguous) when it can be: the op copies it.
        const at::Tensor x = torch::randn({s.m, s.k + 8}, opts).narrow(1, 8, s.k);
        const at::Tensor w = torch::randn({s.n, s.k}, opts), b = with_bias ? torch::randn({s.n}, opts) : at::Tensor();
        const at::Tensor got = vlm::ops::linear(x.view({s.m, 1, s.k}).squeeze(1), w, b);
        const at::Tensor ref = vlm::ops::linear_reference(x, w, b);
        ASSERT_EQ(got.sizes(), ref.sizes());
        EXPECT_LT(relative_max_error(got, ref), type == torch::kFloat ? 1e-5 : 1e-2)
            << c10::toString(type) << " " << s.m << "x" << s.n << "x" << s.k << " bias " << with_bias;
      }
}

TEST(Ops, LinearKeepsLeadingDimensions) {
  torch::manual_seed(11);
  const at::Tensor x = torch::randn({2, 1, 16}), w = torch::randn({5, 16}), b = torch::randn({5});
  const at::Tensor got = vlm::ops::linear(x, w, b);
  EXPECT_EQ(got.sizes(), (std::vector<int64_t>{2, 1, 5}));
  EXPECT_TRUE(torch::allclose(got, vlm::ops::linear_reference(x, w, b), 1e-5, 1e-5));
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) return;
  const auto cuda = torch::device(torch::kCUDA).dtype(torch::kBFloat16);
  const at::Tensor got_cuda = vlm::ops::linear(x.to(cuda), w.to(cuda), b.to(cuda));
  EXPECT_EQ(got_cuda.sizes(), (std::vector<int64_t>{2, 1, 5}));
  EXPECT_LT(relative_max_error(got_cuda, vlm::ops::linear_reference(x.to(cuda), w.to(cuda), b.to(cuda))), 1e-2);
}

TEST(Ops, SwigluLinearCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(12);
  struct Shape {
    int64_t m, n, k;
  };
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16})
    for (const Shape s : {Shape{1, 8960, 1536}, Shape{2, 37, 200}, Shape{4, 1, 8}, Shape{1, 3, 4096}, Shape{6, 11, 64}}) {
      const auto opts = torch::device(torch::kCUDA).dtype(type);
      const at::Tensor x = torch::randn({s.m, 1, s.k}, opts);
      const at::Tensor wg = torch::randn({s.n, s.k}, opts) / 4, wu = torch::randn({s.n, s.k}, opts);
      const at::Tensor got = vlm::ops::swiglu_linear(x, wg, wu);
      const at::Tensor ref = vlm::ops::swiglu_linear_reference(x, wg, wu);
      ASSERT_EQ(got.sizes(), ref.sizes());
      EXPECT_LT(relative_max_error(got, ref), type == torch::kFloat ? 1e-5 : 2e-2)
          << c10::toString(type) << " " << s.m << "x" << s.n << "x" << s.k;
    }
}

TEST(Ops, AddRmsNormLinearCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(13);
  struct Shape {
    int64_t m, n, k;
  };
  // The kernel's shapes and one that falls back (m 5); with and without the residual; plain and SwiGLU.
  for (auto type : {torch::kHalf, torch::kBFloat16})
    for (const Shape s : {Shape{1, 2048, 1536}, Shape{2, 37, 200}, Shape{4, 9, 8960}, Shape{5, 11, 64}})
      for (bool with_residual : {false, true}) {
        const auto opts = torch::device(torch::kCUDA).dtype(type);
        const at::Tensor x = torch::randn({s.m, 1, s.k}, opts) * 3;
        const at::Tensor r = with_residual ? torch::randn({s.m, 1, s.k}, opts) : at::Tensor();
        const at::Tensor nw = torch::rand({s.k}, opts) + 0.5, w = torch::randn({s.n, s.k}, opts) / 8,
                         w_up = torch::randn({s.n, s.k}, opts), bias = torch::randn({s.n}, opts);
        const auto [h_ref, normed] = with_residual ? vlm::ops::add_rms_norm_reference(x, r, nw, 1e-6)
                                                   : std::make_pair(x, vlm::ops::rms_norm_reference(x, nw, 1e-6));
        const std::string what = std::string(c10::toString(type)) + " " + std::to_string(s.m) + "x" +
                                 std::to_string(s.n) + "x" + std::to_string(s.k) +
                                 (with_residual ? " residual" : "");
        const auto [h, y] = vlm::ops::add_rms_norm_linear(x, r, nw, 1e-6, w, bias);
        EXPECT_TRUE(torch::equal(h, h_ref)) << what;
        EXPECT_LT(relative_max_error(y, vlm::ops::linear_reference(normed, w, bias)), 2e-2) << what;
        const auto [h2, act] = vlm::ops::add_rms_norm_swiglu_linear(x, r, nw, 1e-6, w, w_up);
        EXPECT_TRUE(torch::equal(h2, h_ref)) << what;
        EXPECT_LT(relative_max_error(act, vlm::ops::swiglu_linear_reference(normed, w, w_up)), 3e-2) << what;
      }
}

TEST(Ops, SwigluGradientsMatchAutogradOfTheReference) {
  torch::manual_seed(14);
  for (auto type : {torch::kDouble, torch::kFloat, torch::kBFloat16}) {
    const at::Tensor g0 = torch::randn({3, 5, 37}, torch::dtype(type)) * 3;
    const at::Tensor u0 = torch::randn({3, 5, 37}, torch::dtype(type));
    const at::Tensor dy = torch::randn({3, 5, 37}, torch::dtype(type));
    const at::Tensor g = g0.clone().requires_grad_(true), u = u0.clone().requires_grad_(true);
    const at::Tensor g_ref = g0.clone().requires_grad_(true), u_ref = u0.clone().requires_grad_(true);
    const at::Tensor y = vlm::ops::swiglu(g, u), y_ref = vlm::ops::swiglu_reference(g_ref, u_ref);
    ASSERT_TRUE(y.requires_grad());
    // Only the inputs are kept: the output's grad_fn is the custom node, not autograd's MulBackward.
    EXPECT_EQ(y.grad_fn()->name().find("MulBackward"), std::string::npos) << y.grad_fn()->name();
    y.backward(dy);
    y_ref.backward(dy);
    const double tol = type == torch::kBFloat16 ? 3e-2 : 1e-6;
    EXPECT_TRUE(torch::allclose(y.to(torch::kDouble), y_ref.to(torch::kDouble), tol, tol)) << c10::toString(type);
    EXPECT_TRUE(torch::allclose(g.grad().to(torch::kDouble), g_ref.grad().to(torch::kDouble), tol, tol))
        << c10::toString(type);
    EXPECT_TRUE(torch::allclose(u.grad().to(torch::kDouble), u_ref.grad().to(torch::kDouble), tol, tol))
        << c10::toString(type);
  }
}
