// Fused ops against their plain-libtorch references. The CUDA cases run only where a GPU and the kernels are.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
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
      // Float32 tables (the vision tower's): computed in float32, rounded once to x's dtype.
      const at::Tensor cf = cos.to(torch::kFloat), sf = sin.to(torch::kFloat);
      const at::Tensor got_f = vlm::ops::rope(x, cf, sf);
      EXPECT_EQ(got_f.scalar_type(), type);
      EXPECT_TRUE(torch::allclose(got_f.to(torch::kFloat), vlm::ops::rope_reference(x, cf, sf).to(torch::kFloat),
                                  tolerance(type), tolerance(type)))
          << "float tables, " << c10::toString(type) << " " << b << "x" << l << "x" << h << "x" << d;
      // Heads read in place from a wider row (q inside a joined q/k/v projection), both directions.
      const at::Tensor wide = torch::randn({b, l, (h + 3) * d}, opts).narrow(-1, d, h * d).view({b, l, h, d});
      EXPECT_TRUE(torch::allclose(vlm::ops::rope(wide, cos, sin).to(torch::kFloat),
                                  vlm::ops::rope_reference(wide, cos, sin).to(torch::kFloat), tolerance(type),
                                  tolerance(type)))
          << "strided rows, " << c10::toString(type) << " " << b << "x" << l << "x" << h << "x" << d;
      EXPECT_TRUE(torch::allclose(vlm::ops::rope_backward(wide, cos, sin).to(torch::kFloat),
                                  vlm::ops::rope_backward_reference(wide, cos, sin).to(torch::kFloat),
                                  tolerance(type), tolerance(type)))
          << "strided rows, backward, " << c10::toString(type);
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

// The kernel rounds as the reference's three kernels do: equal but for an ulp where expf and torch's sigmoid part.
TEST(Ops, QuickGeluCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(6);
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16})
    for (int64_t n : {1, 255, 5120, 100003}) {
      const at::Tensor x = torch::randn({n}, torch::device(torch::kCUDA).dtype(type)) * 4;
      const at::Tensor got = vlm::ops::quick_gelu(x).to(torch::kFloat);
      const at::Tensor ref = vlm::ops::quick_gelu_reference(x).to(torch::kFloat);
      EXPECT_TRUE(torch::allclose(got, ref, type == torch::kFloat ? 1e-6 : 8e-3, 1e-6))
          << c10::toString(type) << " n " << n;
      EXPECT_GT(torch::equal(got, ref) ? 1.0 : (got == ref).to(torch::kFloat).mean().item<double>(), 0.99)
          << c10::toString(type) << " n " << n;
    }
}

// SwiGLU over the two halves of one product, forward and backward, on CPU (the reference against the plain
// functions) and on CUDA (the strided kernels against the reference; even and odd widths).
TEST(Ops, SwigluHalvesMatchesSwigluOfTheHalves) {
  torch::manual_seed(10);
  const at::Tensor gu = torch::randn({3, 5, 2 * 24}) * 2, dy = torch::randn({3, 5, 24});
  const at::Tensor g = gu.narrow(-1, 0, 24), u = gu.narrow(-1, 24, 24);
  EXPECT_TRUE(torch::allclose(vlm::ops::swiglu_halves(gu), vlm::ops::swiglu_reference(g, u)));
  const auto [dg, du] = vlm::ops::swiglu_backward_reference(g, u, dy);
  EXPECT_TRUE(torch::allclose(vlm::ops::swiglu_halves_backward(gu, dy), at::cat({dg, du}, -1)));
  EXPECT_THROW(vlm::ops::swiglu_halves(torch::randn({2, 7})), std::exception);
}

TEST(Ops, SwigluHalvesCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(11);
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16})
    for (int64_t half : {1, 13, 64, 8960}) {
      const auto opts = torch::device(torch::kCUDA).dtype(type);
      const at::Tensor gu = torch::randn({7, 2 * half}, opts) * 3, dy = torch::randn({7, half}, opts);
      auto close = [&](const at::Tensor& a, const at::Tensor& b) {
        return torch::allclose(a.to(torch::kFloat), b.to(torch::kFloat), tolerance(type), tolerance(type));
      };
      EXPECT_TRUE(close(vlm::ops::swiglu_halves(gu), vlm::ops::swiglu_halves_reference(gu)))
          << c10::toString(type) << " " << half;
      EXPECT_TRUE(close(vlm::ops::swiglu_halves_backward(gu, dy), vlm::ops::swiglu_halves_backward_reference(gu, dy)))
          << c10::toString(type) << " " << half;
    }
}

// cast_scale: float32 sources into strided blocks of a larger tensor of another dtype, more than one launch's worth
// (kCastScaleBatch = 8) of them; the kernel against the reference, and blocks outside the targets left alone.
// On the CPU: the scaled, rounded block lands in place; a source of another shape is refused, not broadcast.
TEST(Ops, CastScaleWritesBlocksAndRefusesOtherShapes) {
  const at::Tensor src = torch::randn({2, 3});
  at::Tensor dst = torch::zeros({4, 5}, torch::kBFloat16);
  vlm::ops::cast_scale({{src, dst.narrow(0, 1, 2).narrow(1, 2, 3), 2.0}});
  EXPECT_TRUE(torch::equal(dst.narrow(0, 1, 2).narrow(1, 2, 3), (src * 2).to(torch::kBFloat16)));
  EXPECT_EQ(dst.abs().sum().item<double>(), dst.narrow(0, 1, 2).narrow(1, 2, 3).abs().sum().item<double>());
  EXPECT_THROW(vlm::ops::cast_scale({{torch::randn({1, 3}), dst.narrow(0, 0, 2).narrow(1, 0, 3), 1.0}}),
               std::exception);
}

TEST(Ops, CastScaleCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(12);
  for (auto type : {torch::kHalf, torch::kBFloat16}) {
    const auto opts = torch::device(torch::kCUDA).dtype(type);
    at::Tensor got = torch::full({40, 30}, 7.0, opts), want = got.clone();
    std::vector<vlm::ops::CastScale> a, b;
    for (int64_t i = 0; i < 10; ++i) {
      const at::Tensor src = torch::randn({4, 3}, torch::device(torch::kCUDA));
      a.push_back({src, got.narrow(0, 4 * i, 4).narrow(1, 3 * i, 3), 0.5 + i});
      b.push_back({src, want.narrow(0, 4 * i, 4).narrow(1, 3 * i, 3), 0.5 + i});
    }
    vlm::ops::cast_scale(a);
    vlm::ops::cast_scale_reference(b);
    EXPECT_TRUE(torch::equal(got, want)) << c10::toString(type);
    EXPECT_EQ(got[0][29].item<double>(), 7.0);
  }
}

// The reference against torch's cross-entropy and its autograd gradient (float32).
TEST(Ops, CrossEntropyRowsReferenceMatchesTorch) {
  torch::manual_seed(13);
  const at::Tensor logits = (torch::randn({6, 37}) * 3).requires_grad_(true);
  const at::Tensor targets = torch::randint(0, 37, {6}, torch::kLong);
  const auto ce = vlm::ops::cross_entropy_rows_reference(logits.detach(), targets, true);
  const at::Tensor want = at::cross_entropy_loss(logits, targets, {}, at::Reduction::None);
  want.sum().backward();
  EXPECT_TRUE(torch::allclose(ce.loss, want.detach(), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(ce.grad, logits.grad(), 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(ce.correct, logits.detach().argmax(1).eq(targets)));
  EXPECT_THROW(vlm::ops::cross_entropy_rows(logits.detach(), targets.to(torch::kInt), false), std::exception);
}

// The kernel against the reference: odd and packed vocabulary sizes, float32 and bf16, with and without the
// gradient; a target outside the vocabulary gives a NaN loss.
TEST(Ops, CrossEntropyRowsCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(14);
  for (auto type : {torch::kFloat, torch::kBFloat16})
    for (int64_t v : {1, 37, 4096, 151936}) {
      const auto opts = torch::device(torch::kCUDA).dtype(type);
      const at::Tensor logits = torch::randn({5, v}, opts) * 4;
      const at::Tensor targets = torch::randint(0, v, {5}, torch::device(torch::kCUDA).dtype(torch::kLong));
      const auto got = vlm::ops::cross_entropy_rows(logits, targets, true);
      const auto ref = vlm::ops::cross_entropy_rows_reference(logits, targets, true);
      EXPECT_TRUE(torch::allclose(got.loss, ref.loss, 1e-4, 1e-4)) << c10::toString(type) << " v " << v;
      EXPECT_TRUE(torch::equal(got.correct, ref.correct)) << c10::toString(type) << " v " << v;
      EXPECT_TRUE(torch::allclose(got.grad.to(torch::kFloat), ref.grad.to(torch::kFloat), tolerance(type), 1e-6))
          << c10::toString(type) << " v " << v;
      EXPECT_FALSE(vlm::ops::cross_entropy_rows(logits, targets, false).grad.defined());
    }
  const at::Tensor logits = torch::randn({2, 8}, torch::device(torch::kCUDA));
  const at::Tensor bad = torch::tensor({3, 8}, torch::device(torch::kCUDA).dtype(torch::kLong));
  const at::Tensor loss = vlm::ops::cross_entropy_rows(logits, bad, false).loss.cpu();
  EXPECT_FALSE(std::isnan(loss[0].item<float>()));
  EXPECT_TRUE(std::isnan(loss[1].item<float>()));
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
                          Shape{1, 12, 2, 9000, 128}, Shape{2, 24, 2, 100, 128},  // two blocks a KV head
                          Shape{2, 6, 2, 50, 96},                                 // d 96: the reference's case
                          // batches past the GEMV's rows: the kernels on the driver's carve-out (cuda_types.cuh)
                          Shape{16, 12, 2, 554, 128}, Shape{5, 8, 2, 33, 64}}) {
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
  // Caches that are not 16-byte aligned (views one element into their buffers) are copied for the kernel.
  const auto opts = torch::device(torch::kCUDA).dtype(torch::kBFloat16);
  const int64_t n = 2 * 40 * 64;
  const at::Tensor q = torch::randn({1, 4, 1, 64}, opts);
  const at::Tensor k = torch::randn({n + 1}, opts).narrow(0, 1, n).view({1, 2, 40, 64});
  const at::Tensor v = torch::randn({n + 1}, opts).narrow(0, 1, n).view({1, 2, 40, 64});
  ASSERT_NE(reinterpret_cast<uintptr_t>(k.data_ptr()) % 16, 0u);
  const at::Tensor mask = torch::ones({1, 40}, torch::device(torch::kCUDA).dtype(torch::kBool));
  const at::Tensor got = vlm::ops::decode_attention(q, k, v, mask, 0.125).to(torch::kFloat);
  const at::Tensor ref = vlm::ops::decode_attention_reference(q.to(torch::kFloat), k.to(torch::kFloat),
                                                              v.to(torch::kFloat), mask, 0.125);
  EXPECT_TRUE(torch::allclose(got, ref, tolerance(torch::kBFloat16), tolerance(torch::kBFloat16)))
      << "unaligned caches, max diff " << (got - ref).abs().max().item<double>();
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

// A mask that does not cover the caches is an error that names it, on any device.
TEST(Ops, DecodeQkvAttentionRejectsAMaskOfAnotherLength) {
  const DecodeStepInputs in = decode_step_inputs(1, 4, 2, 9, 16, 3, torch::dtype(torch::kFloat));
  const at::Tensor mask = torch::ones({1, 8}, torch::kBool);
  try {
    vlm::ops::decode_qkv_attention(in.qkv, in.positions, in.inv_freq, in.k_cache, in.v_cache, in.slot, mask, 4, 0.25);
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("decode_qkv_attention: mask [1, 8]"), std::string::npos) << e.what();
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

// The reference is what decoding ran before: index_fill_ on the mask, slot + deltas, the embedding module.
TEST(Ops, BeginDecodeStepReferenceMatchesTheSeparateOps) {
  torch::manual_seed(11);
  const int64_t b = 3, t = 9, v = 50, hidden = 16;
  torch::nn::Embedding embedding(v, hidden);
  const at::Tensor tokens = torch::randint(0, v, {b, 1}, torch::kLong), slot = torch::full({1}, 4, torch::kLong);
  const at::Tensor deltas = torch::randint(-5, 5, {b}, torch::kLong);
  const at::Tensor mask = torch::rand({b, t}) < 0.5, mask_ref = mask.clone();
  const auto got = vlm::ops::begin_decode_step(tokens, embedding->weight, mask, slot, deltas);
  mask_ref.index_fill_(1, slot, true);
  EXPECT_TRUE(torch::equal(mask, mask_ref));
  EXPECT_TRUE(torch::equal(got.positions.view({b, 1}), slot.view({1, 1}) + deltas.view({b, 1})));
  EXPECT_TRUE(torch::equal(got.embeds, embedding(tokens)));
}

TEST(Ops, BeginDecodeStepCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(12);
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16})
    for (const int64_t b : {1, 3})
      for (const int64_t hidden : {1536, 18})  // 16-byte packs, and single elements
        for (const int64_t slot : {0, 8, 9}) {   // first, last, outside the mask (marks nothing)
          const int64_t t = 9, v = 1000;
          const auto cuda = torch::device(torch::kCUDA);
          const at::Tensor embedding = torch::randn({v, hidden}, cuda.dtype(type));
          const at::Tensor tokens = torch::randint(0, v, {b, 1}, cuda.dtype(torch::kLong));
          const at::Tensor deltas = torch::randint(-50, 50, {b}, cuda.dtype(torch::kLong));
          const at::Tensor slots = torch::full({1}, slot, cuda.dtype(torch::kLong));
          const at::Tensor mask = torch::rand({b, t}, cuda) < 0.5, mask_ref = mask.clone();
          const auto got = vlm::ops::begin_decode_step(tokens, embedding, mask, slots, deltas);
          // The reference's index_fill_ needs an index inside the mask: mark by hand where the slot is outside.
          vlm::ops::DecodeStepStart ref;
          if (slot < t) {
            ref = vlm::ops::begin_decode_step_reference(tokens, embedding, mask_ref, slots, deltas);
          } else {
            ref = {at::embedding(embedding, tokens), slots + deltas};
          }
          const std::string what = std::string(c10::toString(type)) + " b" + std::to_string(b) + " hidden " +
                                   std::to_string(hidden) + " slot " + std::to_string(slot);
          EXPECT_TRUE(torch::equal(mask, mask_ref)) << what;
          EXPECT_TRUE(torch::equal(got.positions, ref.positions)) << what;
          EXPECT_TRUE(torch::equal(got.embeds, ref.embeds)) << what;
        }
}

// The fused step (RoPE, cache write, attention) against the reference ops one after the other, with the caches and
// mask loaded before the dependent-launch wait or after it.
TEST(Ops, DecodeQkvAttentionCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(10);
  struct Shape {
    int64_t b, h, hkv, t, d, slot;
  };
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16})
    for (const Shape s : {Shape{1, 12, 2, 300, 128, 297}, Shape{3, 6, 3, 37, 64, 0}, Shape{2, 4, 4, 64, 32, 63},
                          Shape{2, 28, 4, 1000, 128, 511}, Shape{1, 8, 1, 40, 256, 32},
                          // blocks of fewer threads than the RoPE table's d/2 frequencies; two blocks a KV head
                          Shape{2, 4, 4, 50, 128, 40}, Shape{1, 4, 2, 70, 256, 64}, Shape{2, 32, 2, 300, 128, 130},
                          // batches past the GEMV's rows (the driver's carve-out)
                          Shape{16, 12, 2, 554, 128, 400}, Shape{5, 8, 2, 33, 64, 32}})
      for (const bool settled : {false, true}) {
        const auto opts = torch::device(torch::kCUDA).dtype(type);
        const DecodeStepInputs a = decode_step_inputs(s.b, s.h, s.hkv, s.t, s.d, s.slot, opts);
        // Random holes, the step's slot marked as a decoding step marks it, the positions after it unfilled.
        at::Tensor mask = torch::rand({s.b, 1, 1, s.t}, torch::device(torch::kCUDA)) < 0.7;
        mask.narrow(3, s.slot, 1).fill_(true);
        mask.narrow(3, s.slot + 1, s.t - s.slot - 1).fill_(false);
        const double scale = 1.0 / std::sqrt(static_cast<double>(s.d));
        const at::Tensor k_ref = a.k_cache.clone(), v_ref = a.v_cache.clone();
        std::optional<vlm::ops::SettledWeights> guard;
        if (settled) guard.emplace();
        const at::Tensor y = vlm::ops::decode_qkv_attention(a.qkv, a.positions, a.inv_freq, a.k_cache, a.v_cache,
                                                            a.slot, mask, s.h, scale);
        guard.reset();
        const at::Tensor y_ref = vlm::ops::decode_qkv_attention_reference(a.qkv, a.positions, a.inv_freq, k_ref,
                                                                          v_ref, a.slot, mask, s.h, scale);
        const std::string what = std::string(c10::toString(type)) + " b" + std::to_string(s.b) + " h" +
                                 std::to_string(s.h) + "/" + std::to_string(s.hkv) + " t" + std::to_string(s.t) +
                                 " d" + std::to_string(s.d) + " slot " + std::to_string(s.slot) +
                                 (settled ? " settled" : "");
        ASSERT_EQ(y.sizes(), y_ref.sizes()) << what;
        EXPECT_TRUE(torch::allclose(y.to(torch::kFloat), y_ref.to(torch::kFloat), tolerance(type), tolerance(type)))
            << what << " max diff " << (y.to(torch::kFloat) - y_ref.to(torch::kFloat)).abs().max().item<double>();
        EXPECT_TRUE(torch::allclose(a.k_cache.to(torch::kFloat), k_ref.to(torch::kFloat), tolerance(type),
                                    tolerance(type)))
            << what;
        EXPECT_TRUE(torch::equal(a.v_cache, v_ref)) << what;
        // Again over the caches it wrote (the slot now holds what the step wrote there): the same output.
        const at::Tensor again = vlm::ops::decode_qkv_attention(a.qkv, a.positions, a.inv_freq, a.k_cache,
                                                                a.v_cache, a.slot, mask, s.h, scale);
        EXPECT_TRUE(torch::equal(again, y)) << what;
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
  // Kernel shapes (m <= 4; k % 8 == 0; the down projection's k 8960, 4 rows of it over 48 KB of shared memory; full
  // and partial rounds of the unrolled loads; rounds of 16 loads for one row against k over 4096, the last one a
  // single load at k 4104) and ones that go to torch's linear (m 5, k 12, fp32).
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16})
    for (const Shape s : {Shape{1, 1, 8}, Shape{1, 2051, 1536}, Shape{2, 7, 8960}, Shape{3, 300, 72}, Shape{4, 33, 136},
                          Shape{1, 1536, 8960}, Shape{3, 5, 4096}, Shape{4, 33, 2048}, Shape{4, 19, 8960},
                          Shape{1, 40, 4104}, Shape{5, 19, 64}, Shape{2, 9, 12}})
      for (bool with_bias : {false, true})
        for (bool settled : {false, true}) {
          const auto opts = torch::device(torch::kCUDA).dtype(type);
          // x is a column slice (not contiguous) when it can be: the op copies it.
          const at::Tensor x = torch::randn({s.m, s.k + 8}, opts).narrow(1, 8, s.k);
          const at::Tensor w = torch::randn({s.n, s.k}, opts), b = with_bias ? torch::randn({s.n}, opts) : at::Tensor();
          // Settled weights are read before the kernel ahead finishes: here that kernel wrote w, so wait for it.
          if (settled) torch::cuda::synchronize();
          std::optional<vlm::ops::SettledWeights> guard;
          if (settled) guard.emplace();
          const at::Tensor got = vlm::ops::linear(x.view({s.m, 1, s.k}).squeeze(1), w, b);
          guard.reset();
          const at::Tensor ref = vlm::ops::linear_reference(x, w, b);
          ASSERT_EQ(got.sizes(), ref.sizes());
          EXPECT_LT(relative_max_error(got, ref), type == torch::kFloat ? 1e-5 : 1e-2)
              << c10::toString(type) << " " << s.m << "x" << s.n << "x" << s.k << " bias " << with_bias
              << " settled " << settled;
        }
}

// The greedy head's token against torch's argmax of linear's logits (the same kernel's numbers): random heads of odd
// sizes, rows made exact ties of the largest logit (the first index wins), rows within a rounding step of it, a
// head whose rows all tie, and NaN inputs (NaN wins, as in torch). Each case runs twice: the kernels leave their
// state as they found it.
TEST(Ops, GreedyNextTokenMatchesArgmaxOfLinear) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(12);
  struct Shape {
    int64_t v, k;
  };
  for (auto type : {torch::kHalf, torch::kBFloat16})
    for (const Shape s : {Shape{1, 16}, Shape{1000, 1536}, Shape{5003, 96}, Shape{151, 4096}, Shape{70, 3584}})
      for (int variant = 0; variant < 5; ++variant) {
        const auto opts = torch::device(torch::kCUDA).dtype(type);
        at::Tensor x = torch::randn({1, s.k}, opts), w = torch::randn({s.v, s.k}, opts) * 0.05;
        const int64_t top = vlm::ops::linear(x, w).argmax(-1).item<int64_t>();
        if (variant == 1 && s.v > 3) {  // exact ties above and below the largest row
          w[s.v - 1].copy_(w[top]);
          w[0].copy_(w[top]);
        } else if (variant == 2 && s.v > 3) {  // a near tie: one element nudged
          w[s.v / 2].copy_(w[top]);
          w[s.v / 2][s.k / 2] = w[s.v / 2][s.k / 2].item<float>() * 1.001f;
        } else if (variant == 3) {  // every row the same
          w.copy_(w[top].expand({s.v, s.k}));
        } else if (variant == 4) {
          x[0][s.k - 1] = std::nan("");
        }
        const std::shared_ptr<vlm::ops::GreedyHead> head = vlm::ops::make_greedy_head(w);
        ASSERT_NE(head, nullptr);
        const int64_t expected = vlm::ops::linear(x, w).argmax(-1).item<int64_t>();
        for (int repeat = 0; repeat < 2; ++repeat) {
          at::Tensor out = torch::full({1}, -1, torch::device(torch::kCUDA).dtype(torch::kLong));
          ASSERT_TRUE(vlm::ops::greedy_next_token(x, *head, out));
          EXPECT_EQ(out.item<int64_t>(), expected)
              << c10::toString(type) << " " << s.v << "x" << s.k << " variant " << variant << " repeat " << repeat;
        }
      }
}

// Heads the greedy kernels do not take get no int8 copy (the caller computes the logits instead), and a row that does
// not fit the head is refused without a launch.
TEST(Ops, GreedyHeadRefusesWhatItDoesNotTake) {
  torch::manual_seed(13);
  EXPECT_EQ(vlm::ops::make_greedy_head(torch::randn({10, 32}, torch::kBFloat16)), nullptr);  // on the CPU
  EXPECT_EQ(vlm::ops::make_greedy_head(at::Tensor()), nullptr);
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) return;
  const auto cuda = torch::device(torch::kCUDA).dtype(torch::kBFloat16);
  EXPECT_EQ(vlm::ops::make_greedy_head(torch::randn({10, 32}, cuda.dtype(torch::kFloat))), nullptr);  // fp32
  EXPECT_EQ(vlm::ops::make_greedy_head(torch::randn({10, 24}, cuda)), nullptr);    // K not a multiple of 16
  EXPECT_EQ(vlm::ops::make_greedy_head(torch::randn({10, 4112}, cuda)), nullptr);  // K over 4096
  EXPECT_EQ(vlm::ops::make_greedy_head(torch::randn({32, 10}, cuda).t()), nullptr);  // not contiguous
  const std::shared_ptr<vlm::ops::GreedyHead> head = vlm::ops::make_greedy_head(torch::randn({10, 32}, cuda));
  ASSERT_NE(head, nullptr);
  at::Tensor out = torch::full({1}, -1, torch::device(torch::kCUDA).dtype(torch::kLong));
  EXPECT_FALSE(vlm::ops::greedy_next_token(torch::randn({1, 16}, cuda), *head, out));  // x of the wrong width
  EXPECT_FALSE(vlm::ops::greedy_next_token(torch::randn({2, 32}, cuda), *head, out));  // two rows
  EXPECT_FALSE(vlm::ops::greedy_next_token(torch::randn({1, 32}, cuda.dtype(torch::kHalf)), *head, out));
  at::Tensor int_out = torch::zeros({1}, torch::device(torch::kCUDA).dtype(torch::kInt));
  EXPECT_FALSE(vlm::ops::greedy_next_token(torch::randn({1, 32}, cuda), *head, int_out));
  EXPECT_EQ(out.item<int64_t>(), -1);
}

TEST(Ops, SettledWeightsGuardsNest) {
  EXPECT_FALSE(vlm::ops::SettledWeights::active());
  {
    const vlm::ops::SettledWeights outer;
    EXPECT_TRUE(vlm::ops::SettledWeights::active());
    {
      const vlm::ops::SettledWeights inner;
      EXPECT_TRUE(vlm::ops::SettledWeights::active());
    }
    EXPECT_TRUE(vlm::ops::SettledWeights::active());
  }
  EXPECT_FALSE(vlm::ops::SettledWeights::active());
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
  // A round loads the gate and up rows at the same offsets: one partial round (k 200, 8), two (4096), the second of
  // one load (4104); with the first round loaded before the dependent-launch wait (settled) or after it.
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16})
    for (const Shape s : {Shape{1, 8960, 1536}, Shape{2, 37, 200}, Shape{4, 1, 8}, Shape{1, 3, 4096}, Shape{1, 7, 4104},
                          Shape{6, 11, 64}})
      for (bool settled : {false, true}) {
        const auto opts = torch::device(torch::kCUDA).dtype(type);
        const at::Tensor x = torch::randn({s.m, 1, s.k}, opts);
        const at::Tensor wg = torch::randn({s.n, s.k}, opts) / 4, wu = torch::randn({s.n, s.k}, opts);
        if (settled) torch::cuda::synchronize();  // (the weights were written just before: see LinearCudaMatches...)
        std::optional<vlm::ops::SettledWeights> guard;
        if (settled) guard.emplace();
        const at::Tensor got = vlm::ops::swiglu_linear(x, wg, wu);
        guard.reset();
        const at::Tensor ref = vlm::ops::swiglu_linear_reference(x, wg, wu);
        ASSERT_EQ(got.sizes(), ref.sizes());
        EXPECT_LT(relative_max_error(got, ref), type == torch::kFloat ? 1e-5 : 2e-2)
            << c10::toString(type) << " " << s.m << "x" << s.n << "x" << s.k << " settled " << settled;
      }
}

TEST(Ops, AddRmsNormLinearCudaMatchesReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(13);
  struct Shape {
    int64_t m, n, k;
  };
  // The kernel's shapes (over 48 KB of shared memory: 2 x 8960 with the residual, 4 x 8960 without; one row of 8960
  // in rounds of 16 loads) and ones that fall back (4 x 8960 with the residual: over its 96 KB; m 5); with and
  // without the residual; plain and SwiGLU.
  for (auto type : {torch::kHalf, torch::kBFloat16})
    for (const Shape s : {Shape{1, 2048, 1536}, Shape{2, 37, 200}, Shape{1, 9, 8960}, Shape{2, 9, 8960},
                          Shape{4, 9, 8960}, Shape{5, 11, 64}})
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

namespace {

// Side paths on column blocks {c0, n} of a projection from k inputs, of the given ranks (0: no path on that block),
// random, in `opts`; A scaled so that h = x A^T is of the order of x.
vlm::ops::LowRank random_low_rank(int64_t k, const std::vector<std::array<int64_t, 3>>& blocks,
                                  const at::TensorOptions& opts) {
  vlm::ops::LowRank lr;
  std::vector<at::Tensor> a;
  int64_t o = 0;
  for (const auto& [c0, n, r] : blocks) {
    if (r == 0) continue;
    a.push_back(torch::randn({r, k}, opts) / std::sqrt(static_cast<double>(k)));
    lr.paths.push_back({c0, o, torch::randn({n, r}, opts)});
    o += r;
  }
  if (!a.empty()) lr.a = at::cat(a, 0);
  return lr;
}

// LoRA's definition of a layer with side paths, in float32 from the rounded base product and h: y + h_path Bs^T on
// each path's columns, rounded once.
at::Tensor low_rank_definition(const at::Tensor& y, const at::Tensor& h, const vlm::ops::LowRank& lr) {
  at::Tensor out = y.to(torch::kFloat).clone();
  for (const auto& p : lr.paths)
    out.narrow(-1, p.c0, p.bs.size(0)) += h.to(torch::kFloat).narrow(-1, p.o, p.bs.size(1)).matmul(
        p.bs.to(torch::kFloat).t());
  return out.to(y.scalar_type());
}

}  // namespace

// The plain-libtorch path: each path's columns are addmm onto y, the others stay as they were (bit for bit).
TEST(Ops, LowRankAddIsAddmmOnEachPathsColumns) {
  torch::manual_seed(14);
  const auto opts = torch::dtype(torch::kFloat);
  const at::Tensor y = torch::randn({2, 3, 37}, opts), h = torch::randn({2, 3, 11}, opts);
  vlm::ops::LowRank lr;
  lr.paths = {{0, 4, torch::randn({5, 7}, opts)}, {20, 0, torch::randn({9, 4}, opts)}};
  const at::Tensor got = vlm::ops::low_rank_add(y, h, lr);
  EXPECT_LT(relative_max_error(got, low_rank_definition(y, h, lr)), 1e-6);
  EXPECT_TRUE(torch::equal(got.narrow(-1, 5, 15), y.narrow(-1, 5, 15)));
  EXPECT_TRUE(torch::equal(got.narrow(-1, 29, 8), y.narrow(-1, 29, 8)));
  const at::Tensor y_up = torch::randn({2, 3, 37}, opts), h_up = torch::randn({2, 3, 6}, opts);
  vlm::ops::LowRank up;
  up.paths = {{3, 0, torch::randn({30, 6}, opts)}};
  EXPECT_TRUE(torch::allclose(vlm::ops::low_rank_swiglu(y, h, lr, y_up, h_up, up),
                              vlm::ops::swiglu_reference(low_rank_definition(y, h, lr),
                                                         low_rank_definition(y_up, h_up, up)),
                              1e-5, 1e-5));
  vlm::ops::LowRank outside;
  outside.paths = {{30, 0, torch::randn({9, 4}, opts)}};
  EXPECT_THROW(vlm::ops::low_rank_add(y, h, outside), std::exception);
}

// Projections with side paths on CUDA: the matrix-vector kernel with the A factors below the weight and the
// finishing kernel (fp16 / bf16, at most 4 rows), or torch's products and the finishing kernel (fp32, 5 rows), against
// LoRA's definition: q/k/v-like blocks with paths of different ranks and one without, one path on a long row, SwiGLU
// with equal ranks (one product), unequal ranks and a path on gate only (separate products); with and without the
// residual add and norm before; the finishing kernel's factor rows in registers (every rank 16) or read in its sums,
// loaded before the dependent-launch wait (settled weights) or after it.
TEST(Ops, LowRankProjectionsCudaMatchTheDefinition) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(15);
  struct Case {
    int64_t m, k;
    std::vector<std::array<int64_t, 3>> blocks;  // {c0, n, r}; the projection's width is the blocks' end
  };
  const std::vector<Case> cases = {{1, 136, {{0, 48, 4}, {48, 16, 16}, {64, 16, 0}}},
                                   {3, 8960, {{0, 19, 16}}},
                                   {4, 200, {{0, 24, 3}, {24, 9, 5}}},
                                   {5, 64, {{0, 40, 8}, {40, 8, 2}}}};
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16}) {
    const auto opts = torch::device(torch::kCUDA).dtype(type);
    const double tol = type == torch::kFloat ? 1e-5 : 2e-2;
    for (const Case& c : cases) {
      const int64_t n = c.blocks.back()[0] + c.blocks.back()[1];
      const std::string what = std::string(c10::toString(type)) + " " + std::to_string(c.m) + "x" +
                               std::to_string(n) + "x" + std::to_string(c.k);
      const at::Tensor x = torch::randn({c.m, 1, c.k}, opts), r = torch::randn({c.m, 1, c.k}, opts);
      const at::Tensor w = torch::randn({n, c.k}, opts) / 8, bias = torch::randn({n}, opts);
      const at::Tensor nw = torch::rand({c.k}, opts) + 0.5;
      const vlm::ops::LowRank lr = random_low_rank(c.k, c.blocks, opts);
      const auto definition = [&](const at::Tensor& in) {
        return low_rank_definition(vlm::ops::linear_reference(in, w, bias), vlm::ops::linear_reference(in, lr.a), lr);
      };
      for (const bool settled : {false, true}) {  // factor rows loaded before the wait (rank 16: in registers)
        if (settled) torch::cuda::synchronize();  // (the factors were written just before: see LinearCudaMatches...)
        std::optional<vlm::ops::SettledWeights> guard;
        if (settled) guard.emplace();
        const at::Tensor y = vlm::ops::linear(x, w, bias, lr);
        guard.reset();
        EXPECT_LT(relative_max_error(y, definition(x)), tol) << what << " settled " << settled;
      }
      const auto [h_ref, normed] = vlm::ops::add_rms_norm_reference(x, r, nw, 1e-6);
      const auto [h, y] = vlm::ops::add_rms_norm_linear(x, r, nw, 1e-6, w, bias, lr);
      EXPECT_TRUE(torch::equal(h, h_ref)) << what;
      EXPECT_LT(relative_max_error(y, definition(normed)), tol) << what << " with the norm";
      // SwiGLU over the first block's width: ranks equal, unequal, or a path on gate only.
      const int64_t width = c.blocks[0][1], rank = c.blocks[0][2];
      const at::Tensor wg = torch::randn({width, c.k}, opts) / 8, wu = torch::randn({width, c.k}, opts) / 8;
      for (const int64_t up_rank : {rank, rank + 1, int64_t{0}}) {
        const vlm::ops::LowRank lg = random_low_rank(c.k, {{0, width, rank}}, opts),
                                lu = random_low_rank(c.k, {{0, width, up_rank}}, opts);
        const auto projection = [&](const at::Tensor& in, const at::Tensor& wt, const vlm::ops::LowRank& l) {
          const at::Tensor base = vlm::ops::linear_reference(in, wt);
          return l.empty() ? base : low_rank_definition(base, vlm::ops::linear_reference(in, l.a), l);
        };
        const at::Tensor want =
            vlm::ops::swiglu_reference(projection(normed, wg, lg), projection(normed, wu, lu));
        for (const bool settled : {false, true}) {
          if (settled) torch::cuda::synchronize();
          std::optional<vlm::ops::SettledWeights> guard;
          if (settled) guard.emplace();
          const auto [h2, act] = vlm::ops::add_rms_norm_swiglu_linear(x, r, nw, 1e-6, wg, wu, lg, lu);
          guard.reset();
          EXPECT_TRUE(torch::equal(h2, h_ref)) << what;
          EXPECT_LT(relative_max_error(act, want), 3e-2) << what << " SwiGLU, up rank " << up_rank << " settled "
                                                         << settled;
        }
      }
    }
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

namespace {

using GradFn = std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>&)>;

// Runs fused and reference on fresh leaf copies of `inputs` (those flagged in `trainable` require grad),
// back-propagates the same random output gradients through both and expects equal outputs and input gradients.
void expect_same_gradients(const GradFn& fused, const GradFn& reference, const std::vector<at::Tensor>& inputs,
                           const std::vector<bool>& trainable, double tol, const std::string& what) {
  auto leaves = [&] {
    std::vector<at::Tensor> out;
    for (size_t i = 0; i < inputs.size(); ++i) out.push_back(inputs[i].clone().requires_grad_(trainable[i]));
    return out;
  };
  const std::vector<at::Tensor> a = leaves(), b = leaves();
  const std::vector<at::Tensor> ya = fused(a), yb = reference(b);
  ASSERT_EQ(ya.size(), yb.size()) << what;
  std::vector<at::Tensor> dys;
  for (const at::Tensor& y : ya) dys.push_back(torch::randn_like(y));
  torch::autograd::backward(ya, dys);
  torch::autograd::backward(yb, dys);
  auto close = [&](const at::Tensor& x, const at::Tensor& y) {
    return torch::allclose(x.to(torch::kDouble), y.to(torch::kDouble), tol, tol);
  };
  for (size_t i = 0; i < ya.size(); ++i) EXPECT_TRUE(close(ya[i], yb[i])) << what << ": output " << i;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!trainable[i]) continue;
    ASSERT_TRUE(a[i].grad().defined() && b[i].grad().defined()) << what << ": input " << i;
    EXPECT_TRUE(close(a[i].grad(), b[i].grad()))
        << what << ": gradient of input " << i << ", max diff "
        << (a[i].grad().to(torch::kDouble) - b[i].grad().to(torch::kDouble)).abs().max().item<double>();
  }
}

// Real M-RoPE tables (both halves of a row equal, as every RoPE table is) for [B, L] positions.
std::pair<at::Tensor, at::Tensor> rope_tables(int64_t b, int64_t l, int64_t d, at::ScalarType type,
                                              const at::Device& device) {
  const at::Tensor pos = torch::randint(0, 500, {3, b, l}, torch::dtype(torch::kLong).device(device));
  const at::Tensor inv = vlm::nn::rope_inv_freq(d, 10000.0, device);
  const int64_t s = d / 2 / 4;
  const vlm::nn::CosSin cs = vlm::nn::mrope_cos_sin(inv, pos, {d / 2 - 2 * s, s, s}, type);
  return {cs.cos.squeeze(1), cs.sin.squeeze(1)};
}

// The gradient cases of the fused autograd functions on `device`.
void check_fused_gradients(const at::Device& device, const std::vector<at::ScalarType>& types) {
  for (auto type : types) {
    const double tol = type == torch::kBFloat16 || type == torch::kHalf ? 3e-2 : (type == torch::kFloat ? 2e-4 : 1e-6);
    const auto opts = torch::dtype(type).device(device);
    for (int64_t cols : {7, 256, 1536}) {
      const std::string what = std::string(c10::toString(type)) + " cols " + std::to_string(cols);
      const at::Tensor x = torch::randn({3, 5, cols}, opts) * 2, r = torch::randn({3, 5, cols}, opts),
                       w = torch::randn({cols}, opts);
      for (bool train_w : {false, true}) {
        expect_same_gradients([](auto& t) { return std::vector<at::Tensor>{vlm::ops::rms_norm(t[0], t[1], 1e-6)}; },
                              [](auto& t) {
                                return std::vector<at::Tensor>{vlm::ops::rms_norm_reference(t[0], t[1], 1e-6)};
                              },
                              {x, w}, {true, train_w}, tol, "rms_norm " + what);
        auto pair = [](auto p) { return std::vector<at::Tensor>{p.first, p.second}; };
        expect_same_gradients([&](auto& t) { return pair(vlm::ops::add_rms_norm(t[0], t[1], t[2], 1e-6)); },
                              [&](auto& t) { return pair(vlm::ops::add_rms_norm_reference(t[0], t[1], t[2], 1e-6)); },
                              {x, r, w}, {true, true, train_w}, tol, "add_rms_norm " + what);
      }
    }
    for (auto [b, l, h, d] : std::vector<std::array<int64_t, 4>>{{1, 7, 3, 16}, {2, 33, 4, 128}}) {
      const auto [cos, sin] = rope_tables(b, l, d, type, device);
      const at::Tensor x = torch::randn({b, l, h, d}, opts);
      expect_same_gradients([&](auto& t) { return std::vector<at::Tensor>{vlm::ops::rope(t[0], cos, sin)}; },
                            [&](auto& t) { return std::vector<at::Tensor>{vlm::ops::rope_reference(t[0], cos, sin)}; },
                            {x}, {true}, tol, std::string("rope ") + c10::toString(type) + " d " + std::to_string(d));
    }
  }
}

}  // namespace

TEST(Ops, FusedGradientsMatchAutogradOfTheReference) {
  torch::manual_seed(15);
  check_fused_gradients(torch::kCPU, {torch::kDouble, torch::kFloat, torch::kBFloat16});
}

TEST(Ops, FusedGradientsCudaMatchAutogradOfTheReference) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(16);
  check_fused_gradients(torch::kCUDA, {torch::kFloat, torch::kHalf, torch::kBFloat16});
}

TEST(Ops, BackwardKernelsMatchTheirReferences) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(17);
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16}) {
    const auto opts = torch::device(torch::kCUDA).dtype(type);
    const double tol = tolerance(type);
    auto close = [&](const at::Tensor& a, const at::Tensor& b) {
      return torch::allclose(a.to(torch::kFloat), b.to(torch::kFloat), tol, tol);
    };
    for (int64_t cols : {1, 33, 1536, 3584}) {
      const at::Tensor x = torch::randn({4, 3, cols}, opts) * 3, w = torch::randn({cols}, opts),
                       dy = torch::randn({4, 3, cols}, opts);
      EXPECT_TRUE(close(vlm::ops::rms_norm_backward(x, w, dy, 1e-6),
                        vlm::ops::rms_norm_backward_reference(x, w, dy, 1e-6)))
          << c10::toString(type) << " cols " << cols;
    }
    for (int64_t n : {1, 255, 8960, 100003}) {
      const at::Tensor g = torch::randn({n}, opts) * 3, u = torch::randn({n}, opts), dy = torch::randn({n}, opts);
      const auto [dg, du] = vlm::ops::swiglu_backward(g, u, dy);
      const auto [dg_ref, du_ref] = vlm::ops::swiglu_backward_reference(g, u, dy);
      EXPECT_TRUE(close(dg, dg_ref) && close(du, du_ref)) << c10::toString(type) << " n " << n;
    }
    for (auto [b, l, h, d] : std::vector<std::array<int64_t, 4>>{{1, 1, 12, 128}, {3, 37, 5, 64}}) {
      // Random tables: the transposed rotation holds for any cos / sin, not only RoPE's.
      const at::Tensor dy = torch::randn({b, l, h, d}, opts), cos = torch::randn({b, l, d}, opts),
                       sin = torch::randn({b, l, d}, opts);
      EXPECT_TRUE(close(vlm::ops::rope_backward(dy, cos, sin), vlm::ops::rope_backward_reference(dy, cos, sin)))
          << c10::toString(type) << " d " << d;
    }
  }
}

// accumulate_mm: out = alpha a b, then out += alpha a b, for plain and transposed operands; on CPU against the
// reference, on CUDA (bf16 factors, float32 output from one product) against float32 products of the same values.
// Errors are measured against the largest value (libtorch 1.13's CPU bf16 product rounds its partial sums).
namespace {
void check_accumulate_mm(at::Device device, at::ScalarType type, double tol) {
  const at::Tensor p = torch::randn({37, 5}).to(type), q = torch::randn({37, 19}).to(type);
  const at::Tensor r = torch::randn({5, 37}).to(type), s = torch::randn({19, 37}).to(type);
  const at::Tensor pf = p.to(at::kFloat), qf = q.to(at::kFloat), rf = r.to(at::kFloat), sf = s.to(at::kFloat);
  const std::vector<std::pair<at::Tensor, at::Tensor>> operands = {{p.t(), q}, {r, s.t()}, {r, q}, {p.t(), s.t()}};
  const std::vector<at::Tensor> want = {at::mm(pf.t(), qf), at::mm(rf, sf.t()), at::mm(rf, qf), at::mm(pf.t(), sf.t())};
  auto error = [](const at::Tensor& got, const at::Tensor& expected) {
    return (got.cpu() - expected).abs().max().item<double>() / expected.abs().max().item<double>();
  };
  for (size_t i = 0; i < operands.size(); ++i) {
    at::Tensor out;
    vlm::ops::accumulate_mm(out, operands[i].first.to(device), operands[i].second.to(device), 0.5);
    ASSERT_EQ(out.scalar_type(), at::kFloat);
    EXPECT_LE(error(out, 0.5 * want[i]), tol) << i << " " << c10::toString(type);
    vlm::ops::accumulate_mm(out, operands[i].first.to(device), operands[i].second.to(device), 2.0);
    EXPECT_LE(error(out, 2.5 * want[i]), tol) << i << " " << c10::toString(type);
  }
  at::Tensor wrong = torch::zeros({3, 3});
  EXPECT_THROW(vlm::ops::accumulate_mm(wrong, p.t().to(device), q.to(device), 1.0), std::exception);
}
}  // namespace

TEST(Ops, AccumulateMmMatchesFloatProducts) {
  check_accumulate_mm(at::kCPU, at::kFloat, 1e-6);
  check_accumulate_mm(at::kCPU, at::kBFloat16, 3e-2);
}

TEST(Ops, AccumulateMmCudaMatchesFloatProducts) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  // The CUDA path keeps the float32 result: float32 rounding only, well below bf16's 4e-3.
  check_accumulate_mm(at::kCUDA, at::kBFloat16, 1e-5);
}

// Seeded dropout: the output is x * keep / (1 - p) for the seed's mask, rounded once; the mask depends on the seed
// alone (the same seed draws it again, another seed another mask), keeps 1 - p of the elements, and is the same for
// add_dropout_ and for a strided input; p = 0 keeps everything and p outside [0, 1) is refused.
TEST(Ops, DropoutIsTheSeedsMaskScaled) {
  torch::manual_seed(20);
  const double p = 0.3;
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  const at::Tensor x = torch::randn({37, 53});
  const uint64_t seed = vlm::ops::dropout_seed();
  const at::Tensor keep = vlm::ops::dropout_keep(x.sizes(), p, seed);
  const at::Tensor y = vlm::ops::dropout(x, p, seed);
  EXPECT_TRUE(torch::equal(y, torch::where(keep, x * scale, torch::zeros_like(x))));
  EXPECT_TRUE(torch::equal(vlm::ops::dropout(x, p, seed), y));
  EXPECT_FALSE(torch::equal(vlm::ops::dropout_keep(x.sizes(), p, seed + 1), keep));
  EXPECT_TRUE(torch::equal(vlm::ops::dropout(x, 0.0, seed), x));

  const at::Tensor many = vlm::ops::dropout_keep({1 << 20}, p, seed);
  EXPECT_NEAR(many.to(torch::kDouble).mean().item<double>(), 1 - p, 3e-3);
  // Neighbours share one 64-bit draw: its two halves must not agree more than chance says.
  const at::Tensor pairs = many.view({-1, 2});
  EXPECT_NEAR((pairs.select(1, 0) & pairs.select(1, 1)).to(torch::kDouble).mean().item<double>(),
              (1 - p) * (1 - p), 3e-3);

  const at::Tensor strided = torch::randn({53, 37}).t();
  EXPECT_TRUE(torch::equal(vlm::ops::dropout(strided, p, seed), vlm::ops::dropout(strided.contiguous(), p, seed)));

  const at::Tensor dst = torch::randn({37, 53}), sum = dst.clone();
  vlm::ops::add_dropout_(sum, x, p, seed);
  EXPECT_TRUE(torch::equal(sum, dst + y));

  const at::Tensor xd = x.to(torch::kDouble);
  EXPECT_TRUE(torch::equal(vlm::ops::dropout(xd, p, seed),
                           torch::where(keep, xd * (1.0 / (1.0 - p)), torch::zeros_like(xd))));
  EXPECT_THROW(vlm::ops::dropout(x, 1.0, seed), std::exception);
  EXPECT_THROW(vlm::ops::dropout(x, -0.1, seed), std::exception);
  EXPECT_THROW(vlm::ops::add_dropout_(dst, x.t(), p, seed), std::exception);
}

// The kernels draw the CPU's mask and round as the reference: equal to the bit, for every dtype, odd sizes, an
// unaligned start (the one-element path) and the in-place add.
TEST(Ops, DropoutCudaMatchesTheCpu) {
  if (!torch::cuda::is_available() || !vlm::ops::has_cuda_kernels()) GTEST_SKIP() << "no CUDA";
  torch::manual_seed(21);
  for (auto type : {torch::kFloat, torch::kHalf, torch::kBFloat16})
    for (int64_t n : {1, 7, 4099, 100003, 1 << 20})
      for (double p : {0.05, 0.5}) {
        SCOPED_TRACE(std::string(c10::toString(type)) + " n " + std::to_string(n) + " p " + std::to_string(p));
        const uint64_t seed = vlm::ops::dropout_seed();
        // Sliced on the device, so that an offset of one element leaves the pointers unaligned there.
        const at::Tensor x = torch::randn({n + 1}).to(type), x_gpu = x.cuda();
        const at::Tensor d = torch::randn({n + 1}).to(type), d_gpu = d.cuda();
        for (const int64_t at : {0, 1}) {
          const at::Tensor in = x.narrow(0, at, n);
          EXPECT_TRUE(torch::equal(vlm::ops::dropout(x_gpu.narrow(0, at, n), p, seed).cpu(),
                                   vlm::ops::dropout_reference(in, p, seed)));
          const at::Tensor dst = d.narrow(0, at, n).clone(), dst_gpu = d_gpu.narrow(0, at, n).clone();
          vlm::ops::add_dropout_reference(dst, in, p, seed);
          vlm::ops::add_dropout_(dst_gpu, x_gpu.narrow(0, at, n), p, seed);
          EXPECT_TRUE(torch::equal(dst_gpu.cpu(), dst));
        }
        // Under autograd the mask is drawn on the device too, and the gradient is the mask's scale.
        const at::Tensor leaf = x_gpu.narrow(0, 0, n).detach().requires_grad_(true);
        const at::Tensor y = vlm::ops::dropout(leaf, p, seed);
        EXPECT_TRUE(torch::equal(y.detach().cpu(), vlm::ops::dropout_reference(x.narrow(0, 0, n), p, seed)));
        y.backward(torch::ones_like(y));
        EXPECT_TRUE(torch::equal(leaf.grad().cpu(),
                                 vlm::ops::dropout_reference(torch::ones({n}).to(type), p, seed)));
      }
}
