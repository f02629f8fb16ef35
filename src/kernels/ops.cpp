#include "kernels/ops.h"

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include <torch/autograd.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include "core/error.h"
#include "core/torch_compat.h"
#include "kernels/dropout_mask.h"

#ifdef VLM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAStream.h>

#include "kernels/kernels_cuda.h"
#endif

namespace vlm::ops {
namespace {

// Whether autograd would record an op on t. Parameters require grad, but inference runs with grad mode off.
bool records_grad(const at::Tensor& t) { return t.requires_grad() && at::GradMode::is_enabled(); }

#ifdef VLM_WITH_CUDA
// The kernels' element type for a floating dtype they handle.
std::optional<cuda::ElemType> elem_type(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return cuda::ElemType::kF32;
    case at::kHalf: return cuda::ElemType::kF16;
    case at::kBFloat16: return cuda::ElemType::kBF16;
    default: return std::nullopt;
  }
}

// Inputs a forward-only kernel may take: on one CUDA device, one handled dtype, no autograd history to keep.
bool kernel_inputs(std::initializer_list<const at::Tensor*> ts) {
  const at::Tensor& first = **ts.begin();
  if (!first.is_cuda() || !elem_type(first.scalar_type())) return false;
  for (const at::Tensor* t : ts)
    if (t->device() != first.device() || t->scalar_type() != first.scalar_type() || records_grad(*t)) return false;
  return true;
}

// Whether every tensor is on `device` (the kernels' other inputs: indices, masks, tables).
bool on_device(const at::Device& device, std::initializer_list<const at::Tensor*> ts) {
  for (const at::Tensor* t : ts)
    if (t->device() != device) return false;
  return true;
}

void* current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }
#endif

}  // namespace

bool has_cuda_kernels() {
#ifdef VLM_WITH_CUDA
  return true;
#else
  return false;
#endif
}

at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& w, double eps) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return w * normed.to(x.scalar_type());
}

at::Tensor rms_norm_backward_reference(const at::Tensor& x, const at::Tensor& w, const at::Tensor& dy, double eps) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor rstd = at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  const at::Tensor gw = (dy * w).to(at::kFloat);  // the product rounded as autograd's in x's dtype
  const at::Tensor dot = (gw * xf).sum(-1, /*keepdim=*/true);
  return (rstd * gw - xf * rstd.pow(3) * dot / static_cast<double>(x.size(-1))).to(x.scalar_type());
}

at::Tensor rms_norm_backward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& dy, double eps) {
#ifdef VLM_WITH_CUDA
  if (kernel_inputs({&x, &w, &dy}) && x.sizes() == dy.sizes() && w.dim() == 1 && x.dim() > 0 &&
      w.size(0) == x.size(-1)) {
    const at::Tensor xc = x.contiguous(), wc = w.contiguous(), dyc = dy.contiguous();
    at::Tensor dx = at::empty_like(xc);
    const int64_t cols = x.size(-1);
    const int err = cuda::rms_norm_backward(*elem_type(x.scalar_type()), xc.data_ptr(), wc.data_ptr(), dyc.data_ptr(),
                                            dx.data_ptr(), cols == 0 ? 0 : xc.numel() / cols, cols,
                                            static_cast<float>(eps), current_stream());
    VLM_CHECK(err == 0, "rms_norm backward CUDA kernel failed with CUDA error ", err);
    return dx;
  }
#endif
  return rms_norm_backward_reference(x, w, dy, eps);
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Whether the fused autograd functions below take these tensors: x [..., C] and w [C] of one floating dtype.
bool norm_shapes(const at::Tensor& x, const at::Tensor& w) {
  return x.dim() > 0 && w.dim() == 1 && w.size(0) == x.size(-1) && w.scalar_type() == x.scalar_type() &&
         at::isFloatingType(x.scalar_type());
}

// The norm weight's gradient, sum over rows of dy * cast(x * rstd), as autograd of the reference computes it.
at::Tensor rms_norm_weight_grad(const at::Tensor& x, const at::Tensor& dy, double eps) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor normed = (xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps)).to(x.scalar_type());
  return (dy * normed).reshape({-1, x.size(-1)}).sum(0);
}

// RMSNorm under autograd keeping only x (autograd of the reference keeps fp32 copies of x and of the normalised
// row as well); backward is one kernel on CUDA.
class RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, double eps) {
    ctx->save_for_backward({x, w});
    ctx->saved_data["eps"] = eps;
    return rms_norm(x, w, eps);  // grad mode is off in here: the kernel or the reference
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const double eps = ctx->saved_data["eps"].toDouble();
    const at::Tensor dx =
        ctx->needs_input_grad(0) ? rms_norm_backward(saved[0], saved[1], grads[0], eps) : at::Tensor();
    const at::Tensor dw = ctx->needs_input_grad(1) ? rms_norm_weight_grad(saved[0], grads[0], eps) : at::Tensor();
    return {dx, dw, at::Tensor()};
  }
};

// {h, rms_norm(h)} with h = x + r under autograd, keeping only h.
class AddRmsNormFunction : public torch::autograd::Function<AddRmsNormFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& r, const at::Tensor& w,
                               double eps) {
    auto [h, y] = add_rms_norm(x, r, w, eps);
    ctx->save_for_backward({h, w});
    ctx->saved_data["eps"] = eps;
    return {h, y};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const double eps = ctx->saved_data["eps"].toDouble();
    const at::Tensor &dh_out = grads[0], &dy = grads[1];
    at::Tensor dh;
    if (dy.defined()) dh = rms_norm_backward(saved[0], saved[1], dy, eps);
    if (dh_out.defined()) dh = dh.defined() ? dh + dh_out : dh_out;
    const at::Tensor dw = ctx->needs_input_grad(2) && dy.defined() ? rms_norm_weight_grad(saved[0], dy, eps)
                                                                    : at::Tensor();
    return {dh, dh, dw, at::Tensor()};
  }
};

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  if ((records_grad(x) || records_grad(w)) && norm_shapes(x, w)) return RmsNormFunction::apply(x, w, eps);
#ifdef VLM_WITH_CUDA
  if (kernel_inputs({&x, &w}) && norm_shapes(x, w)) {
    const at::Tensor xc = x.contiguous(), wc = w.contiguous();
    at::Tensor y = at::empty_like(xc);
    const int64_t cols = x.size(-1);
    const int err = cuda::rms_norm_forward(*elem_type(x.scalar_type()), xc.data_ptr(), wc.data_ptr(), y.data_ptr(),
                                           cols == 0 ? 0 : xc.numel() / cols, cols, static_cast<float>(eps),
                                           current_stream());
    VLM_CHECK(err == 0, "rms_norm CUDA kernel failed with CUDA error ", err);
    return y;
  }
#endif
  return rms_norm_reference(x, w, eps);
}

std::pair<at::Tensor, at::Tensor> add_rms_norm_reference(const at::Tensor& x, const at::Tensor& r, const at::Tensor& w,
                                                         double eps) {
  at::Tensor h = x + r;
  return {h, rms_norm_reference(h, w, eps)};
}

std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& x, const at::Tensor& r, const at::Tensor& w,
                                               double eps) {
  if ((records_grad(x) || records_grad(r) || records_grad(w)) && norm_shapes(x, w) && x.sizes() == r.sizes() &&
      r.scalar_type() == x.scalar_type()) {
    const variable_list hy = AddRmsNormFunction::apply(x, r, w, eps);
    return {hy[0], hy[1]};
  }
#ifdef VLM_WITH_CUDA
  if (kernel_inputs({&x, &r, &w}) && x.sizes() == r.sizes() && norm_shapes(x, w)) {
    const at::Tensor xc = x.contiguous(), rc = r.contiguous(), wc = w.contiguous();
    at::Tensor h = at::empty_like(xc), y = at::empty_like(xc);
    const int64_t cols = x.size(-1);
    const int err = cuda::add_rms_norm_forward(*elem_type(x.scalar_type()), xc.data_ptr(), rc.data_ptr(), wc.data_ptr(),
                                               h.data_ptr(), y.data_ptr(), cols == 0 ? 0 : xc.numel() / cols, cols,
                                               static_cast<float>(eps), current_stream());
    VLM_CHECK(err == 0, "add_rms_norm CUDA kernel failed with CUDA error ", err);
    return {h, y};
  }
#endif
  return add_rms_norm_reference(x, r, w, eps);
}

at::Tensor rope_reference(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  if (cos.scalar_type() != x.scalar_type()) {  // float32 tables: computed in float32, rounded once
    const at::Tensor xf = x.to(cos.scalar_type());
    return (xf * cos.unsqueeze(2) + rotated.to(cos.scalar_type()) * sin.unsqueeze(2)).to(x.scalar_type());
  }
  return x * cos.unsqueeze(2) + rotated * sin.unsqueeze(2);
}

at::Tensor rope_backward_reference(const at::Tensor& dy, const at::Tensor& cos, const at::Tensor& sin) {
  // The transposed rotation: dx_j = dy_j cos_j + dy_{j+D/2} sin_{j+D/2} in the first half, and
  // dx_j = dy_j cos_j - dy_{j-D/2} sin_{j-D/2} in the second.
  const int64_t half = dy.size(-1) / 2;
  const at::Tensor s = sin.unsqueeze(2);
  const at::Tensor rotated = at::cat({dy.narrow(-1, half, half) * s.narrow(-1, half, half),
                                      -dy.narrow(-1, 0, half) * s.narrow(-1, 0, half)},
                                     -1);
  return (dy * cos.unsqueeze(2) + rotated).to(dy.scalar_type());
}

namespace {

// Shapes the rope kernel and the autograd function take: x [B, L, H, D], cos and sin [B, L, D] in x's dtype or
// float32, D even.
bool rope_shapes(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return x.dim() == 4 && cos.dim() == 3 && cos.sizes() == sin.sizes() && cos.size(0) == x.size(0) &&
         cos.size(1) == x.size(1) && cos.size(2) == x.size(3) && x.size(3) % 2 == 0 &&
         sin.scalar_type() == cos.scalar_type() &&
         (cos.scalar_type() == x.scalar_type() || cos.scalar_type() == at::kFloat);
}

// x [B, L, H, D] rotated by the kernel (or its transpose with `backward`); nullopt where the kernel does not apply.
std::optional<at::Tensor> rope_kernel(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                      bool backward) {
#ifdef VLM_WITH_CUDA
  const bool float_tables = cos.scalar_type() != x.scalar_type();
  if (rope_shapes(x, cos, sin) && kernel_inputs({&x}) && kernel_inputs({&cos, &sin})) {
    // Rows of heads in place (q or k inside a joined projection: each (b, l) row of heads contiguous, rows strided)
    // are read as they are.
    const bool rows_in_place = x.stride(3) == 1 && x.stride(2) == x.size(3) && x.stride(1) >= x.size(2) * x.size(3) &&
                               (x.size(0) == 1 || x.stride(0) == x.size(1) * x.stride(1));
    const at::Tensor xc = rows_in_place ? x : x.contiguous(), cc = cos.contiguous(), sc = sin.contiguous();
    at::Tensor y = at::empty(x.sizes(), x.options());
    const int err = cuda::rope_forward(*elem_type(x.scalar_type()), xc.data_ptr(), cc.data_ptr(), sc.data_ptr(),
                                       y.data_ptr(), x.size(0), x.size(1), x.size(2), x.size(3), current_stream(),
                                       backward, float_tables, rows_in_place ? xc.stride(1) : 0);
    VLM_CHECK(err == 0, "rope CUDA kernel failed with CUDA error ", err);
    return y;
  }
#else
  (void)x, (void)cos, (void)sin, (void)backward;
#endif
  return std::nullopt;
}

// RoPE under autograd: keeps the (shared) cos / sin tables only; backward applies the transposed rotation.
class RopeFunction : public torch::autograd::Function<RopeFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
    ctx->save_for_backward({cos, sin});
    return rope(x, cos, sin);  // grad mode is off in here
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    return {rope_backward(grads[0], saved[0], saved[1]), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor rope_backward(const at::Tensor& dy, const at::Tensor& cos, const at::Tensor& sin) {
  if (auto dx = rope_kernel(dy, cos, sin, /*backward=*/true)) return *dx;
  return rope_backward_reference(dy, cos, sin);
}

at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  if (records_grad(x) && !records_grad(cos) && !records_grad(sin) && rope_shapes(x, cos, sin))
    return RopeFunction::apply(x, cos, sin);
  if (auto y = rope_kernel(x, cos, sin, /*backward=*/false)) return *y;
  return rope_reference(x, cos, sin);
}

at::Tensor rope_qkv_decode_reference(const at::Tensor& qkv, const at::Tensor& positions, const at::Tensor& inv_freq,
                                     const at::Tensor& k_cache, const at::Tensor& v_cache, const at::Tensor& slot,
                                     int64_t heads) {
  const int64_t b = k_cache.size(0), hkv = k_cache.size(1), d = k_cache.size(3);
  const at::Tensor rows = qkv.reshape({b, 1, heads + 2 * hkv, d});
  const at::Tensor freqs = positions.to(at::kFloat).view({b, 1, 1}) * inv_freq.to(at::kFloat).view({1, 1, d / 2});
  const at::Tensor angles = at::cat({freqs, freqs}, -1);  // [B, 1, D]
  const at::Tensor cos = angles.cos().to(qkv.scalar_type()), sin = angles.sin().to(qkv.scalar_type());
  const at::Tensor q = rope_reference(rows.narrow(2, 0, heads), cos, sin);  // [B, 1, H, D]
  const at::Tensor k = rope_reference(rows.narrow(2, heads, hkv), cos, sin);
  k_cache.index_copy_(2, slot, k.transpose(1, 2));
  v_cache.index_copy_(2, slot, rows.narrow(2, heads + hkv, hkv).transpose(1, 2));
  return q.transpose(1, 2);
}

at::Tensor rope_qkv_decode(const at::Tensor& qkv, const at::Tensor& positions, const at::Tensor& inv_freq,
                           const at::Tensor& k_cache, const at::Tensor& v_cache, const at::Tensor& slot,
                           int64_t heads) {
  VLM_CHECK(k_cache.dim() == 4 && v_cache.sizes() == k_cache.sizes() && k_cache.size(3) % 2 == 0 &&
                qkv.numel() == k_cache.size(0) * (heads + 2 * k_cache.size(1)) * k_cache.size(3) &&
                positions.numel() == k_cache.size(0) && inv_freq.numel() == k_cache.size(3) / 2 && slot.numel() == 1,
            "rope_qkv_decode: qkv ", qkv.sizes(), ", positions ", positions.sizes(), ", inv_freq ", inv_freq.sizes(),
            ", caches ", k_cache.sizes(), " and slot ", slot.sizes(), " do not fit ", heads, " query heads");
#ifdef VLM_WITH_CUDA
  if (kernel_inputs({&qkv, &k_cache, &v_cache}) && k_cache.is_contiguous() && v_cache.is_contiguous() &&
      on_device(qkv.device(), {&positions, &inv_freq, &slot}) && positions.scalar_type() == at::kLong &&
      inv_freq.scalar_type() == at::kFloat && slot.scalar_type() == at::kLong) {
    const int64_t b = k_cache.size(0), hkv = k_cache.size(1), t = k_cache.size(2), d = k_cache.size(3);
    const at::Tensor rows = qkv.reshape({b, (heads + 2 * hkv) * d}).contiguous();
    const at::Tensor pos = positions.contiguous(), inv = inv_freq.contiguous();
    at::Tensor q = at::empty({b, heads, 1, d}, qkv.options());
    const int err = cuda::rope_qkv_decode_forward(*elem_type(qkv.scalar_type()), rows.data_ptr(), rows.stride(0),
                                                  pos.data_ptr<int64_t>(), inv.data_ptr<float>(), q.data_ptr(),
                                                  k_cache.data_ptr(), v_cache.data_ptr(), slot.data_ptr<int64_t>(), b,
                                                  heads, hkv, t, d, current_stream());
    VLM_CHECK(err == 0, "rope_qkv_decode CUDA kernel failed with CUDA error ", err);
    return q;
  }
#endif
  return rope_qkv_decode_reference(qkv, positions, inv_freq, k_cache, v_cache, slot, heads);
}

at::Tensor swiglu_reference(const at::Tensor& gate, const at::Tensor& up) { return at::silu(gate) * up; }

std::pair<at::Tensor, at::Tensor> swiglu_backward_reference(const at::Tensor& gate, const at::Tensor& up,
                                                            const at::Tensor& dy) {
  const at::Tensor sig = at::sigmoid(gate);
  // d silu(g) / dg = sig * (1 + g * (1 - sig))
  return {dy * up * sig * (1 + gate * (1 - sig)), dy * gate * sig};
}

std::pair<at::Tensor, at::Tensor> swiglu_backward(const at::Tensor& gate, const at::Tensor& up, const at::Tensor& dy) {
#ifdef VLM_WITH_CUDA
  if (kernel_inputs({&gate, &up, &dy}) && gate.sizes() == up.sizes() && dy.sizes() == gate.sizes()) {
    const at::Tensor g = gate.contiguous(), u = up.contiguous(), d = dy.contiguous();
    at::Tensor dg = at::empty_like(g), du = at::empty_like(u);
    const int64_t n = g.numel();
    const int err = cuda::swiglu_backward(*elem_type(g.scalar_type()), g.data_ptr(), u.data_ptr(), d.data_ptr(),
                                          dg.data_ptr(), du.data_ptr(), 1, n, n, n, n, current_stream());
    VLM_CHECK(err == 0, "swiglu backward CUDA kernel failed with CUDA error ", err);
    return {dg, du};
  }
#endif
  return swiglu_backward_reference(gate, up, dy);
}

namespace {

// SwiGLU under autograd, keeping only its two inputs for backward, which recomputes the sigmoid. (Autograd of
// silu(gate) * up also keeps silu's output: a third activation of the MLP's width in every layer.) Backward runs in
// the inputs' dtype, as autograd's own would.
class SwigluFunction : public torch::autograd::Function<SwigluFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    ctx->save_for_backward({gate, up});
    return swiglu(gate, up);  // grad mode is off in here: the kernel or the reference
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto [d_gate, d_up] = swiglu_backward(saved[0], saved[1], grads[0]);
    return {d_gate, d_up};
  }
};

}  // namespace

at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up) {
  if ((records_grad(gate) || records_grad(up)) && gate.sizes() == up.sizes() &&
      gate.scalar_type() == up.scalar_type())
    return SwigluFunction::apply(gate, up);
#ifdef VLM_WITH_CUDA
  if (kernel_inputs({&gate, &up}) && gate.sizes() == up.sizes()) {
    const at::Tensor g = gate.contiguous(), u = up.contiguous();
    at::Tensor y = at::empty_like(g);
    const int64_t n = g.numel();
    const int err = cuda::swiglu_forward(*elem_type(g.scalar_type()), g.data_ptr(), u.data_ptr(), y.data_ptr(), 1, n,
                                         n, n, current_stream());
    VLM_CHECK(err == 0, "swiglu CUDA kernel failed with CUDA error ", err);
    return y;
  }
#endif
  return swiglu_reference(gate, up);
}

at::Tensor swiglu_halves_reference(const at::Tensor& gu) {
  const int64_t half = gu.size(-1) / 2;
  return swiglu_reference(gu.narrow(-1, 0, half), gu.narrow(-1, half, half));
}

at::Tensor swiglu_halves_backward_reference(const at::Tensor& gu, const at::Tensor& dy) {
  const int64_t half = gu.size(-1) / 2;
  const auto [dg, du] = swiglu_backward_reference(gu.narrow(-1, 0, half), gu.narrow(-1, half, half), dy);
  return at::cat({dg, du}, -1);
}

namespace {
void check_halves(const at::Tensor& gu) {
  VLM_CHECK(gu.dim() > 0 && gu.size(-1) % 2 == 0, "swiglu_halves: the last dimension must be even, got ", gu.sizes());
}
}  // namespace

at::Tensor swiglu_halves(const at::Tensor& gu) {
  check_halves(gu);
#ifdef VLM_WITH_CUDA
  if (kernel_inputs({&gu})) {
    const at::Tensor g = gu.contiguous();
    const int64_t half = g.size(-1) / 2, rows = g.numel() / std::max<int64_t>(1, g.size(-1));
    std::vector<int64_t> sizes = g.sizes().vec();
    sizes.back() = half;
    at::Tensor y = at::empty(sizes, g.options());
    const auto* base = static_cast<const char*>(g.data_ptr());
    const int err = cuda::swiglu_forward(*elem_type(g.scalar_type()), base, base + half * g.element_size(),
                                         y.data_ptr(), rows, half, 2 * half, half, current_stream());
    VLM_CHECK(err == 0, "swiglu CUDA kernel failed with CUDA error ", err);
    return y;
  }
#endif
  return swiglu_halves_reference(gu);
}

at::Tensor swiglu_halves_backward(const at::Tensor& gu, const at::Tensor& dy) {
  check_halves(gu);
#ifdef VLM_WITH_CUDA
  if (kernel_inputs({&gu, &dy})) {
    const at::Tensor g = gu.contiguous(), d = dy.contiguous();
    const int64_t half = g.size(-1) / 2, rows = g.numel() / std::max<int64_t>(1, g.size(-1));
    VLM_CHECK(d.numel() == rows * half, "swiglu_halves_backward: dy ", dy.sizes(), " does not match ", gu.sizes());
    at::Tensor dg = at::empty_like(g);
    const auto* base = static_cast<const char*>(g.data_ptr());
    auto* out = static_cast<char*>(dg.data_ptr());
    const int64_t off = half * g.element_size();
    const int err = cuda::swiglu_backward(*elem_type(g.scalar_type()), base, base + off, d.data_ptr(), out, out + off,
                                          rows, half, 2 * half, half, 2 * half, current_stream());
    VLM_CHECK(err == 0, "swiglu backward CUDA kernel failed with CUDA error ", err);
    return dg;
  }
#endif
  return swiglu_halves_backward_reference(gu, dy);
}

void cast_scale_reference(const std::vector<CastScale>& items) {
  for (const CastScale& c : items) c.dst.copy_(c.scale == 1.0 ? c.src : c.src * c.scale);
}

void cast_scale(const std::vector<CastScale>& items) {
  for (const CastScale& c : items)
    VLM_CHECK(c.src.dim() == 2 && c.src.sizes() == c.dst.sizes() && c.src.scalar_type() == at::kFloat,
              "cast_scale: expected a float32 source [rows, cols] and a destination of its shape, got ",
              c.src.sizes(), " ", c.src.scalar_type(), " into ", c.dst.sizes());
  if (items.empty()) return;
#ifdef VLM_WITH_CUDA
  const at::Tensor& first = items.front().dst;
  bool kernel = first.is_cuda() && elem_type(first.scalar_type()).has_value();
  for (const CastScale& c : items)
    kernel = kernel && c.src.is_cuda() && c.src.is_contiguous() && c.dst.stride(1) == 1 &&
             c.dst.scalar_type() == first.scalar_type() && !records_grad(c.src) && !records_grad(c.dst);
  if (kernel) {
    std::vector<cuda::CastScaleSegment> segments;
    for (const CastScale& c : items)
      segments.push_back({c.src.data_ptr<float>(), c.dst.data_ptr(), c.src.size(0), c.src.size(1), c.dst.stride(0),
                          static_cast<float>(c.scale)});
    const int err = cuda::cast_scale(*elem_type(first.scalar_type()), segments.data(),
                                     static_cast<int>(segments.size()), current_stream());
    VLM_CHECK(err == 0, "cast_scale CUDA kernel failed with CUDA error ", err);
    return;
  }
#endif
  cast_scale_reference(items);
}

namespace {

void check_dropout(double p) { VLM_CHECK(p >= 0 && p < 1, "dropout: the probability must be in [0, 1), got ", p); }

}  // namespace

uint64_t dropout_seed() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get<at::CPUGeneratorImpl>()->random64();
}

at::Tensor dropout_keep(at::IntArrayRef sizes, double p, uint64_t seed) {
  check_dropout(p);
  at::Tensor keep = at::empty(sizes, at::TensorOptions().dtype(at::kBool));
  bool* out = keep.data_ptr<bool>();
  const uint32_t threshold = dropout::threshold(p);
  at::parallel_for(0, keep.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = dropout::keep(seed, static_cast<uint64_t>(i), threshold);
  });
  return keep;
}

namespace {

// x * keep / (1 - p) in the arithmetic type of x's dtype (float32 as the kernels, float64 for double), not rounded
// yet; a dropped element is 0 whatever x holds.
at::Tensor dropout_scaled(const at::Tensor& x, double p, uint64_t seed) {
  const at::ScalarType math = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const double scale = 1.0 / (1.0 - p);
  const at::Tensor dropped = dropout_keep(x.sizes(), p, seed).logical_not_().to(x.device());
  return (x.to(math) * (math == at::kFloat ? static_cast<double>(static_cast<float>(scale)) : scale))
      .masked_fill_(dropped, 0.0);
}

}  // namespace

at::Tensor dropout_reference(const at::Tensor& x, double p, uint64_t seed) {
  return dropout_scaled(x, p, seed).to(x.scalar_type());
}

void add_dropout_reference(const at::Tensor& dst, const at::Tensor& src, double p, uint64_t seed) {
  const at::Tensor sum = dropout_scaled(src, p, seed);
  dst.copy_(sum.add_(dst.to(sum.scalar_type())));
}

#ifdef VLM_WITH_CUDA
namespace {

bool dropout_kernel_takes(const at::Tensor& a, const at::Tensor& b) {
  return a.is_cuda() && elem_type(a.scalar_type()) && b.device() == a.device() &&
         b.scalar_type() == a.scalar_type() && !records_grad(a) && !records_grad(b);
}

void launch_dropout(const at::Tensor& src, const at::Tensor& dst, double p, uint64_t seed, bool add) {
  const int err = cuda::dropout(*elem_type(src.scalar_type()), src.data_ptr(), dst.data_ptr(), src.numel(), seed,
                                dropout::threshold(p), static_cast<float>(1.0 / (1.0 - p)), add, current_stream());
  VLM_CHECK(err == 0, "dropout CUDA kernel failed with CUDA error ", err);
}

}  // namespace
#endif

at::Tensor dropout(const at::Tensor& x, double p, uint64_t seed) {
  check_dropout(p);
#ifdef VLM_WITH_CUDA
  if (dropout_kernel_takes(x, x)) {
    const at::Tensor xc = x.contiguous();
    at::Tensor y = at::empty_like(xc);
    launch_dropout(xc, y, p, seed, false);
    return y;
  }
  if (x.is_cuda() && elem_type(x.scalar_type()) && records_grad(x)) {
    // Under autograd: the kernel draws keep / (1 - p) in float32 on the device, and plain ops apply it (the same
    // numbers; the gradient is that factor).
    at::Tensor scaled;
    {
      at::NoGradGuard no_grad;
      const at::Tensor ones = at::ones(x.sizes(), x.options().dtype(at::kFloat));
      scaled = at::empty_like(ones);
      launch_dropout(ones, scaled, p, seed, false);
    }
    const at::Tensor xf = x.to(at::kFloat);
    return at::where(scaled.ne(0), xf * scaled, at::zeros_like(xf)).to(x.scalar_type());
  }
#endif
  return dropout_reference(x, p, seed);
}

void add_dropout_(const at::Tensor& dst, const at::Tensor& src, double p, uint64_t seed) {
  check_dropout(p);
  VLM_CHECK(dst.sizes() == src.sizes(), "add_dropout_: dst ", dst.sizes(), " and src ", src.sizes(), " differ");
#ifdef VLM_WITH_CUDA
  if (dropout_kernel_takes(dst, src) && dst.is_contiguous()) {
    launch_dropout(src.contiguous(), dst, p, seed, true);
    return;
  }
#endif
  add_dropout_reference(dst, src, p, seed);
}

CrossEntropyRows cross_entropy_rows_reference(const at::Tensor& logits, const at::Tensor& targets, bool with_grad) {
  const at::Tensor lf = logits.to(at::kFloat), t = targets.unsqueeze(1);
  const at::Tensor lse = at::logsumexp(lf, 1, /*keepdim=*/true);
  CrossEntropyRows out;
  out.loss = (lse - lf.gather(1, t)).squeeze(1);
  out.correct = lf.argmax(1).eq(targets);
  if (with_grad) {
    at::Tensor p = (lf - lse).exp_();
    p.scatter_add_(1, t, at::full({lf.size(0), 1}, -1.0, p.options()));
    out.grad = p.to(logits.scalar_type());
  }
  return out;
}

CrossEntropyRows cross_entropy_rows(const at::Tensor& logits, const at::Tensor& targets, bool with_grad) {
  VLM_CHECK(logits.dim() == 2 && targets.dim() == 1 && targets.size(0) == logits.size(0) &&
                targets.scalar_type() == at::kLong,
            "cross_entropy_rows: expected logits [rows, V] and int64 targets [rows], got ", logits.sizes(), " and ",
            targets.sizes());
#ifdef VLM_WITH_CUDA
  if (kernel_inputs({&logits}) && on_device(logits.device(), {&targets}) && logits.size(1) > 0) {
    const at::Tensor lc = logits.contiguous(), tc = targets.contiguous();
    CrossEntropyRows out;
    out.loss = at::empty({lc.size(0)}, lc.options().dtype(at::kFloat));
    out.correct = at::empty({lc.size(0)}, lc.options().dtype(at::kBool));  // one byte, 0 or 1
    if (with_grad) out.grad = at::empty_like(lc);
    const int err = cuda::cross_entropy_rows(*elem_type(lc.scalar_type()), lc.data_ptr(), tc.data_ptr<int64_t>(),
                                             out.loss.data_ptr<float>(),
                                             reinterpret_cast<uint8_t*>(out.correct.data_ptr<bool>()),
                                             with_grad ? out.grad.data_ptr() : nullptr, lc.size(0), lc.size(1),
                                             current_stream());
    VLM_CHECK(err == 0, "cross_entropy_rows CUDA kernel failed with CUDA error ", err);
    return out;
  }
#endif
  return cross_entropy_rows_reference(logits, targets, with_grad);
}

at::Tensor quick_gelu_reference(const at::Tensor& x) { return x * at::sigmoid(1.702 * x); }

at::Tensor quick_gelu(const at::Tensor& x) {
#ifdef VLM_WITH_CUDA
  if (kernel_inputs({&x})) {
    const at::Tensor xc = x.contiguous();
    at::Tensor y = at::empty_like(xc);
    const int err = cuda::quick_gelu_forward(*elem_type(x.scalar_type()), xc.data_ptr(), y.data_ptr(), xc.numel(),
                                             current_stream());
    VLM_CHECK(err == 0, "quick_gelu CUDA kernel failed with CUDA error ", err);
    return y;
  }
#endif
  return quick_gelu_reference(x);
}

DecodeStepStart begin_decode_step_reference(const at::Tensor& tokens, const at::Tensor& embedding,
                                            const at::Tensor& mask, const at::Tensor& slot, const at::Tensor& deltas) {
  mask.index_fill_(1, slot, true);
  return {at::embedding(embedding, tokens), slot + deltas.reshape({-1})};
}

DecodeStepStart begin_decode_step(const at::Tensor& tokens, const at::Tensor& embedding, const at::Tensor& mask,
                                  const at::Tensor& slot, const at::Tensor& deltas) {
  VLM_CHECK(tokens.dim() == 2 && tokens.size(1) == 1 && embedding.dim() == 2 && mask.dim() == 2 &&
                mask.size(0) == tokens.size(0) && mask.scalar_type() == at::kBool && slot.numel() == 1 &&
                slot.scalar_type() == at::kLong && deltas.numel() == tokens.size(0) &&
                deltas.scalar_type() == at::kLong,
            "begin_decode_step: tokens ", tokens.sizes(), ", embedding ", embedding.sizes(), ", mask ", mask.sizes(),
            ", slot ", slot.sizes(), " and deltas ", deltas.sizes(), " do not fit one decoding step");
#ifdef VLM_WITH_CUDA
  if (kernel_inputs({&embedding}) && on_device(embedding.device(), {&tokens, &mask, &slot, &deltas}) &&
      tokens.scalar_type() == at::kLong && embedding.is_contiguous() && tokens.is_contiguous() &&
      mask.is_contiguous() && deltas.is_contiguous()) {
    const int64_t b = tokens.size(0);
    DecodeStepStart out{at::empty({b, 1, embedding.size(1)}, embedding.options()),
                        at::empty({b}, deltas.options())};
    const int err = cuda::begin_decode_step(
        *elem_type(embedding.scalar_type()), tokens.data_ptr<int64_t>(), embedding.data_ptr(), embedding.size(0),
        embedding.size(1), reinterpret_cast<uint8_t*>(mask.data_ptr<bool>()), mask.size(1), slot.data_ptr<int64_t>(),
        deltas.data_ptr<int64_t>(), out.embeds.data_ptr(), out.positions.data_ptr<int64_t>(), b, current_stream());
    VLM_CHECK(err == 0, "begin_decode_step CUDA kernel failed with CUDA error ", err);
    return out;
  }
#endif
  return begin_decode_step_reference(tokens, embedding, mask, slot, deltas);
}

at::Tensor decode_attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                      const at::Tensor& mask, double scale) {
  const int64_t b = q.size(0), h = q.size(1), hkv = k.size(1), t = k.size(2), d = k.size(3);
  auto repeat = [&](const at::Tensor& x) {
    return x.unsqueeze(2).expand({b, hkv, h / hkv, t, d}).reshape({b, h, t, d});
  };
  return compat::scaled_dot_product_attention(q, repeat(k), repeat(v), mask.view({b, 1, 1, t}), false, scale);
}

#ifdef VLM_WITH_CUDA
namespace {

bool aligned16(const at::Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0; }

// t contiguous and 16-byte aligned (a copy where it is not).
at::Tensor contiguous16(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return aligned16(c) ? c : c.clone();
}

// Runs the kernel for q [B, H, 1, D] (or a step's fused projection, when args.positions is set), caches k, v
// [B, Hkv, T, D] and mask [B, T] bool, all checked by the caller; returns y [B, H, 1, D].
at::Tensor decode_attention_kernel(cuda::DecodeAttentionArgs args, const at::Tensor& q, const at::Tensor& k_cache,
                                   const at::Tensor& v_cache, const at::Tensor& mask) {
  const int64_t b = k_cache.size(0), t = k_cache.size(2), d = k_cache.size(3);
  const at::Tensor m = mask.reshape({b, t}).contiguous();
  at::Tensor y = at::empty({b, args.h, 1, d}, q.options());
  at::Tensor work = at::empty({cuda::decode_attention_workspace(b, args.h, t, d)}, q.options().dtype(at::kFloat));
  args.q = q.data_ptr();
  args.k_cache = k_cache.data_ptr();
  args.v_cache = v_cache.data_ptr();
  args.mask = reinterpret_cast<const uint8_t*>(m.data_ptr<bool>());
  args.y = y.data_ptr();
  args.workspace = work.data_ptr<float>();
  args.b = b;
  args.hkv = k_cache.size(1);
  args.t = t;
  args.d = d;
  const int err = cuda::decode_attention_forward(*elem_type(q.scalar_type()), args, current_stream());
  VLM_CHECK(err == 0, "decode attention CUDA kernel failed with CUDA error ", err);
  return y;
}

}  // namespace
#endif

at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                            double scale) {
#ifdef VLM_WITH_CUDA
  if (q.dim() == 4 && q.size(2) == 1 && k.dim() == 4 && kernel_inputs({&q, &k, &v}) && on_device(q.device(), {&mask}) &&
      mask.scalar_type() == at::kBool && k.sizes() == v.sizes() && q.size(0) == k.size(0) && q.size(3) == k.size(3) &&
      mask.numel() == k.size(0) * k.size(2) &&
      cuda::decode_attention_supported(q.size(1), k.size(1), k.size(2), k.size(3))) {
    cuda::DecodeAttentionArgs args;
    args.h = q.size(1);
    args.scale = static_cast<float>(scale);
    return decode_attention_kernel(args, q.contiguous(), contiguous16(k), contiguous16(v), mask);
  }
#endif
  return decode_attention_reference(q, k, v, mask, scale);
}

at::Tensor decode_qkv_attention_reference(const at::Tensor& qkv, const at::Tensor& positions,
                                          const at::Tensor& inv_freq, const at::Tensor& k_cache,
                                          const at::Tensor& v_cache, const at::Tensor& slot, const at::Tensor& mask,
                                          int64_t heads, double scale) {
  const at::Tensor q = rope_qkv_decode_reference(qkv, positions, inv_freq, k_cache, v_cache, slot, heads);
  return decode_attention_reference(q, k_cache, v_cache, mask, scale);
}

at::Tensor decode_qkv_attention(const at::Tensor& qkv, const at::Tensor& positions, const at::Tensor& inv_freq,
                                const at::Tensor& k_cache, const at::Tensor& v_cache, const at::Tensor& slot,
                                const at::Tensor& mask, int64_t heads, double scale) {
  VLM_CHECK(k_cache.dim() == 4 && heads > 0 && mask.numel() == k_cache.size(0) * k_cache.size(2),
            "decode_qkv_attention: mask ", mask.sizes(), " does not cover caches ", k_cache.sizes(), " with ", heads,
            " query heads");
#ifdef VLM_WITH_CUDA
  if (kernel_inputs({&qkv, &k_cache, &v_cache}) && k_cache.is_contiguous() && v_cache.is_contiguous() &&
      v_cache.sizes() == k_cache.sizes() &&
      qkv.numel() == k_cache.size(0) * (heads + 2 * k_cache.size(1)) * k_cache.size(3) &&
      on_device(qkv.device(), {&positions, &inv_freq, &slot, &mask}) && positions.scalar_type() == at::kLong &&
      positions.numel() == k_cache.size(0) && inv_freq.scalar_type() == at::kFloat &&
      inv_freq.numel() == k_cache.size(3) / 2 && slot.scalar_type() == at::kLong && slot.numel() == 1 &&
      mask.scalar_type() == at::kBool &&
      cuda::decode_attention_supported(heads, k_cache.size(1), k_cache.size(2), k_cache.size(3)) &&
      cuda::decode_attention_fuses_rope(*elem_type(qkv.scalar_type()), k_cache.size(0), heads, k_cache.size(1),
                                        k_cache.size(2), k_cache.size(3)) &&
      aligned16(k_cache) && aligned16(v_cache)) {
    const at::Tensor rows = qkv.reshape({k_cache.size(0), -1}).contiguous();
    const at::Tensor pos = positions.contiguous(), inv = inv_freq.contiguous();
    cuda::DecodeAttentionArgs args;
    args.q_row = rows.stride(0);
    args.positions = pos.data_ptr<int64_t>();
    args.inv_freq = inv.data_ptr<float>();
    args.slot = slot.data_ptr<int64_t>();
    args.h = heads;
    args.scale = static_cast<float>(scale);
    // Early loads read the caller's tensors in place, so only when no copy kernel would run just before.
    args.cache_settled = SettledWeights::active() && mask.is_contiguous() && positions.is_contiguous() &&
                         inv_freq.is_contiguous();
    return decode_attention_kernel(args, rows, k_cache, v_cache, mask);
  }
#endif
  const at::Tensor q = rope_qkv_decode(qkv, positions, inv_freq, k_cache, v_cache, slot, heads);
  return decode_attention(q, k_cache, v_cache, mask, scale);
}

namespace {

#ifdef VLM_WITH_CUDA
// The matrix-vector kernels' case: CUDA fp16 / bf16 without autograd, few rows, weights [N, K] contiguous and
// 16-byte aligned like the inputs.
bool gemv_inputs(const at::Tensor& x, std::initializer_list<const at::Tensor*> weights, bool residual = false,
                 bool norm = false) {
  if (!kernel_inputs({&x}) || x.dim() == 0) return false;
  const int64_t k = x.size(-1);
  if (!cuda::gemv_supported(*elem_type(x.scalar_type()), k == 0 ? 0 : x.numel() / k, k, residual, norm)) return false;
  for (const at::Tensor* w : weights)
    if (!kernel_inputs({&x, w}) || w->dim() != 2 || w->size(1) != k || !w->is_contiguous() ||
        !aligned16(*w))
      return false;
  return true;
}

// x as a contiguous, 16-byte aligned [M, K] matrix.
at::Tensor gemv_rows(const at::Tensor& x) {
  at::Tensor rows = x.reshape({-1, x.size(-1)});
  if (!rows.is_contiguous() || !aligned16(rows)) rows = rows.clone();
  return rows;
}

std::vector<int64_t> output_sizes(const at::Tensor& x, int64_t n) {
  std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().end());
  sizes.back() = n;
  return sizes;
}
#endif

}  // namespace

at::Tensor low_rank_add_reference(const at::Tensor& y, const at::Tensor& h, const LowRank& low_rank) {
  const at::Tensor y2 = y.reshape({-1, y.size(-1)}), h2 = h.reshape({-1, h.size(-1)});
  at::Tensor out = y2.clone(at::MemoryFormat::Contiguous);
  for (const LowRank::Path& p : low_rank.paths) {
    const int64_t n = p.bs.size(0);
    out.narrow(1, p.c0, n).copy_(at::addmm(y2.narrow(1, p.c0, n), h2.narrow(1, p.o, p.bs.size(1)), p.bs.t()));
  }
  return out.view(y.sizes());
}

at::Tensor low_rank_swiglu_reference(const at::Tensor& y, const at::Tensor& h, const LowRank& low_rank,
                                     const at::Tensor& y_up, const at::Tensor& h_up, const LowRank& low_rank_up) {
  return swiglu_reference(low_rank_add_reference(y, h, low_rank), low_rank_add_reference(y_up, h_up, low_rank_up));
}

namespace {

void check_low_rank(const at::Tensor& y, const at::Tensor& h, const LowRank& low_rank) {
  VLM_CHECK(y.dim() >= 1 && h.dim() == y.dim() && h.numel() / std::max<int64_t>(h.size(-1), 1) ==
                                                      y.numel() / std::max<int64_t>(y.size(-1), 1),
            "low_rank_add: y ", y.sizes(), " and h ", h.sizes(), " do not have the same rows");
  for (const LowRank::Path& p : low_rank.paths)
    VLM_CHECK(p.bs.dim() == 2 && p.c0 >= 0 && p.c0 + p.bs.size(0) <= y.size(-1) && p.o >= 0 &&
                  p.o + p.bs.size(1) <= h.size(-1),
              "low_rank_add: a side path (columns from ", p.c0, ", h from ", p.o, ", factor ", p.bs.sizes(),
              ") does not fit y ", y.sizes(), " and h ", h.sizes());
}

#ifdef VLM_WITH_CUDA
// The finishing kernel's case: CUDA without autograd, rows with unit stride along the last dim, y and y_up (h and
// h_up) rows equally far apart, factors contiguous, at most four paths.
std::optional<at::Tensor> try_low_rank_kernel(const at::Tensor& y, const at::Tensor& h, const LowRank& lr,
                                              const at::Tensor& y_up, const at::Tensor& h_up, const LowRank& lr_up) {
  const bool swiglu = y_up.defined();
  const auto row_stride = [](const at::Tensor& t) { return t.dim() >= 2 ? t.stride(-2) : t.size(-1); };
  const auto rows_ok = [&](const at::Tensor& t, const at::Tensor& like) {
    if (!kernel_inputs({&like, &t}) || t.stride(-1) != 1) return false;
    for (int64_t d = 0; d + 2 < t.dim(); ++d)  // leading dims laid out as one run of rows
      if (t.stride(d) != t.stride(d + 1) * t.size(d + 1)) return false;
    return true;
  };
  if (lr.paths.size() + lr_up.paths.size() > static_cast<size_t>(cuda::kLowRankMaxPaths) || !rows_ok(y, y) ||
      !rows_ok(h, y) ||
      (swiglu && (!rows_ok(y_up, y) || !rows_ok(h_up, y) || y_up.sizes() != y.sizes() ||
                  row_stride(y_up) != row_stride(y) || row_stride(h_up) != row_stride(h))))
    return std::nullopt;
  for (const LowRank* l : {&lr, &lr_up})
    for (const LowRank::Path& p : l->paths)
      if (!kernel_inputs({&y, &p.bs}) || !p.bs.is_contiguous()) return std::nullopt;
  at::Tensor out = at::empty(y.sizes(), y.options());
  cuda::LowRankAddArgs a;
  a.y = y.data_ptr();
  a.h = h.data_ptr();
  a.y_up = swiglu ? y_up.data_ptr() : nullptr;
  a.h_up = swiglu ? h_up.data_ptr() : nullptr;
  a.out = out.data_ptr();
  a.y_row = row_stride(y);
  a.h_row = row_stride(h);
  a.n_out = y.size(-1);
  a.m = a.n_out == 0 ? 0 : y.numel() / a.n_out;
  for (const LowRank* l : {&lr, &lr_up})
    for (const LowRank::Path& p : l->paths)
      a.path[a.paths++] = {p.c0, p.bs.size(0), p.o, p.bs.size(1), p.bs.data_ptr()};
  a.gate_paths = static_cast<int>(lr.paths.size());
  a.weights_settled = SettledWeights::active();
  const int err = cuda::low_rank_add_forward(*elem_type(y.scalar_type()), a, current_stream());
  VLM_CHECK(err == 0, "low-rank add CUDA kernel failed with CUDA error ", err);
  return out;
}
#endif

}  // namespace

at::Tensor low_rank_add(const at::Tensor& y, const at::Tensor& h, const LowRank& low_rank) {
  check_low_rank(y, h, low_rank);
#ifdef VLM_WITH_CUDA
  if (auto out = try_low_rank_kernel(y, h, low_rank, {}, {}, {})) return *out;
#endif
  return low_rank_add_reference(y, h, low_rank);
}

at::Tensor low_rank_swiglu(const at::Tensor& y, const at::Tensor& h, const LowRank& low_rank, const at::Tensor& y_up,
                           const at::Tensor& h_up, const LowRank& low_rank_up) {
  check_low_rank(y, h, low_rank);
  check_low_rank(y_up, h_up, low_rank_up);
  VLM_CHECK(y_up.sizes() == y.sizes(), "low_rank_swiglu: gate ", y.sizes(), " and up ", y_up.sizes(), " differ");
#ifdef VLM_WITH_CUDA
  if (auto out = try_low_rank_kernel(y, h, low_rank, y_up, h_up, low_rank_up)) return *out;
#endif
  return swiglu(low_rank_add(y, h, low_rank), low_rank_add(y_up, h_up, low_rank_up));
}

namespace {
thread_local bool settled_weights = false;
}  // namespace

SettledWeights::SettledWeights() : previous_(settled_weights) { settled_weights = true; }
SettledWeights::~SettledWeights() { settled_weights = previous_; }
bool SettledWeights::active() { return settled_weights; }

at::Tensor linear_reference(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) {
  const at::Tensor y = at::linear(x.to(at::kFloat), w.to(at::kFloat), bias.defined() ? bias.to(at::kFloat) : bias);
  return y.to(x.scalar_type());
}

namespace {

#ifdef VLM_WITH_CUDA
// Whether the side paths can ride on the matrix-vector kernel's product by w [N, K] (their a below it) and be finished
// by low_rank_add's kernel: a of x's dtype [H, K] contiguous and aligned, at most four paths, each bs of x's dtype,
// contiguous, within N and h.
bool low_rank_rides(const at::Tensor& x, const at::Tensor& w, const LowRank& lr) {
  if (lr.empty()) return true;
  const at::Tensor& a = lr.a;
  if (lr.paths.size() > static_cast<size_t>(cuda::kLowRankMaxPaths) || !kernel_inputs({&x, &a}) || a.dim() != 2 ||
      a.size(1) != w.size(1) || !a.is_contiguous() || !aligned16(a))
    return false;
  for (const LowRank::Path& p : lr.paths)
    if (!kernel_inputs({&x, &p.bs}) || p.bs.dim() != 2 || !p.bs.is_contiguous() || p.c0 < 0 ||
        p.c0 + p.bs.size(0) > w.size(0) || p.o < 0 || p.o + p.bs.size(1) > a.size(0))
      return false;
  return true;
}
#endif

// The matrix-vector kernel on x's rows: the projection by w (and w_up: SwiGLU; bias: added) and, with norm_weight,
// the residual add and RMSNorm before it; side paths ride on it and are finished by low_rank_add or low_rank_swiglu.
// Returns {h, y} (h = x + residual, or x), or nothing where the kernel does not take these inputs.
std::optional<std::pair<at::Tensor, at::Tensor>> try_gemv(const at::Tensor& x, const at::Tensor& residual,
                                                          const at::Tensor& norm_weight, double eps,
                                                          const at::Tensor& w, const at::Tensor& w_up,
                                                          const at::Tensor& bias, const LowRank& lr = {},
                                                          const LowRank& lr_up = {}) {
#ifdef VLM_WITH_CUDA
  const bool tails = !lr.empty() || !lr_up.empty();
  if (!gemv_inputs(x, {&w}, residual.defined(), norm_weight.defined()) ||
      (w_up.defined() && (!gemv_inputs(x, {&w_up}) || w_up.sizes() != w.sizes())) ||
      (bias.defined() && !(kernel_inputs({&x, &bias}) && bias.dim() == 1 && bias.size(0) == w.size(0))) ||
      (residual.defined() && !(kernel_inputs({&x, &residual}) && residual.sizes() == x.sizes())) ||
      (norm_weight.defined() &&
       !(kernel_inputs({&x, &norm_weight}) && norm_weight.dim() == 1 && norm_weight.size(0) == x.size(-1))) ||
      !low_rank_rides(x, w, lr) || (w_up.defined() && !low_rank_rides(x, w_up, lr_up)) ||
      (tails && w_up.defined() && (lr.empty() || lr_up.empty() || lr.a.sizes() != lr_up.a.sizes())) ||
      lr.paths.size() + lr_up.paths.size() > static_cast<size_t>(cuda::kLowRankMaxPaths))
    return std::nullopt;
  const at::Tensor rows = gemv_rows(x);
  const at::Tensor r = residual.defined() ? gemv_rows(residual) : residual;
  const at::Tensor nw = norm_weight.defined() ? gemv_rows(norm_weight) : norm_weight;
  const at::Tensor b = bias.defined() ? bias.contiguous() : bias;
  const int64_t n = w.size(0), n_tail = tails ? lr.a.size(0) : 0;
  // With side paths: [M, N + H] (SwiGLU: [M, 2, N + H], gate's then up's), finished below.
  at::Tensor y = at::empty({rows.size(0), tails && w_up.defined() ? 2 : 1, n + n_tail}, x.options());
  at::Tensor h = residual.defined() ? at::empty_like(rows).view(x.sizes()) : x;
  cuda::GemvArgs a;
  a.x = rows.data_ptr();
  a.residual = r.defined() ? r.data_ptr() : nullptr;
  a.norm_weight = nw.defined() ? nw.data_ptr() : nullptr;
  a.eps = static_cast<float>(eps);
  a.sum_out = residual.defined() ? h.data_ptr() : nullptr;
  a.w = w.data_ptr();
  a.w_up = w_up.defined() ? w_up.data_ptr() : nullptr;
  a.bias = b.defined() ? b.data_ptr() : nullptr;
  a.y = y.data_ptr();
  a.m = rows.size(0), a.n = n + n_tail, a.k = rows.size(1);
  a.weights_settled = SettledWeights::active();
  if (tails) {
    a.w_tail = lr.a.data_ptr();
    a.w_up_tail = w_up.defined() ? lr_up.a.data_ptr() : nullptr;
    a.n_tail = n_tail;
    a.raw_pairs = w_up.defined();
  }
  const int err = cuda::gemv_forward(*elem_type(x.scalar_type()), a, current_stream());
  VLM_CHECK(err == 0, "gemv CUDA kernel failed with CUDA error ", err);
  if (tails) {
    const auto base = [&](int i) { return y.select(1, i).narrow(1, 0, n); };
    const auto low = [&](int i) { return y.select(1, i).narrow(1, n, n_tail); };
    y = w_up.defined() ? low_rank_swiglu(base(0), low(0), lr, base(1), low(1), lr_up)
                       : low_rank_add(base(0), low(0), lr);
  }
  return std::make_pair(h, y.view(output_sizes(x, n)));
#else
  return std::nullopt;
#endif
}

// {h, rms_norm(h) * norm_weight} with h = x + residual, or h = x without a residual.
std::pair<at::Tensor, at::Tensor> add_norm(const at::Tensor& x, const at::Tensor& residual,
                                           const at::Tensor& norm_weight, double eps) {
  if (residual.defined()) return add_rms_norm(x, residual, norm_weight, eps);
  return {x, rms_norm(x, norm_weight, eps)};
}

}  // namespace

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, const LowRank& low_rank) {
  if (auto hy = try_gemv(x, {}, {}, 0.0, w, {}, bias, low_rank)) return hy->second;
  if (low_rank.empty()) return at::linear(x, w, bias);
  return low_rank_add(at::linear(x, w, bias), at::linear(x, low_rank.a), low_rank);
}

at::Tensor swiglu_linear_reference(const at::Tensor& x, const at::Tensor& w_gate, const at::Tensor& w_up) {
  return swiglu_reference(linear_reference(x, w_gate), linear_reference(x, w_up));
}

at::Tensor swiglu_linear(const at::Tensor& x, const at::Tensor& w_gate, const at::Tensor& w_up,
                         const LowRank& low_rank_gate, const LowRank& low_rank_up) {
  if (auto hy = try_gemv(x, {}, {}, 0.0, w_gate, w_up, {}, low_rank_gate, low_rank_up)) return hy->second;
  return swiglu(ops::linear(x, w_gate, {}, low_rank_gate), ops::linear(x, w_up, {}, low_rank_up));
}

std::pair<at::Tensor, at::Tensor> add_rms_norm_linear(const at::Tensor& x, const at::Tensor& residual,
                                                      const at::Tensor& norm_weight, double eps, const at::Tensor& w,
                                                      const at::Tensor& bias, const LowRank& low_rank) {
  if (auto hy = try_gemv(x, residual, norm_weight, eps, w, {}, bias, low_rank)) return *hy;
  auto [h, normed] = add_norm(x, residual, norm_weight, eps);
  return {h, ops::linear(normed, w, bias, low_rank)};
}

std::pair<at::Tensor, at::Tensor> add_rms_norm_swiglu_linear(const at::Tensor& x, const at::Tensor& residual,
                                                             const at::Tensor& norm_weight, double eps,
                                                             const at::Tensor& w_gate, const at::Tensor& w_up,
                                                             const LowRank& low_rank_gate,
                                                             const LowRank& low_rank_up) {
  if (auto hy = try_gemv(x, residual, norm_weight, eps, w_gate, w_up, {}, low_rank_gate, low_rank_up)) return *hy;
  auto [h, normed] = add_norm(x, residual, norm_weight, eps);
  return {h, swiglu_linear(normed, w_gate, w_up, low_rank_gate, low_rank_up)};
}

std::shared_ptr<GreedyHead> make_greedy_head(const at::Tensor& weight) {
#ifdef VLM_WITH_CUDA
  if (const char* env = std::getenv("VLM_GREEDY_HEAD"); env && std::string(env) == "0") return nullptr;
  if (!weight.defined() || weight.dim() != 2 || !kernel_inputs({&weight}) || !weight.is_contiguous() ||
      !aligned16(weight) || weight.size(0) < 1 ||
      !cuda::greedy_head_supported(*elem_type(weight.scalar_type()), weight.size(1)))
    return nullptr;
  const int64_t v = weight.size(0), k = weight.size(1);
  auto head = std::make_shared<GreedyHead>();
  head->weight = weight;
  head->q = at::empty({v, k}, weight.options().dtype(at::kChar));
  head->scale = at::empty({v}, weight.options().dtype(at::kFloat));
  const int err = cuda::greedy_head_quantize(*elem_type(weight.scalar_type()), weight.data_ptr(),
                                             head->q.data_ptr<int8_t>(), head->scale.data_ptr<float>(), v, k,
                                             current_stream());
  VLM_CHECK(err == 0, "greedy head quantisation CUDA kernel failed with CUDA error ", err);
  head->upper = at::empty({v}, weight.options().dtype(at::kFloat));
  head->state = at::zeros({4}, weight.options().dtype(at::kInt));
  head->partial_value = at::empty({cuda::greedy_head_blocks()}, weight.options().dtype(at::kFloat));
  head->partial_index = at::empty({cuda::greedy_head_blocks()}, weight.options().dtype(at::kLong));
  return head;
#else
  (void)weight;
  return nullptr;
#endif
}

bool greedy_next_token(const at::Tensor& x, const GreedyHead& head, at::Tensor& out) {
#ifdef VLM_WITH_CUDA
  const at::Tensor& w = head.weight;
  if (!kernel_inputs({&w, &x}) || x.numel() != w.size(1) || out.device() != w.device() ||
      out.scalar_type() != at::kLong || out.numel() != 1 || !out.is_contiguous())
    return false;
  const at::Tensor row = gemv_rows(x.reshape({1, -1}));
  cuda::GreedyHeadArgs a;
  a.x = row.data_ptr();
  a.w = w.data_ptr();
  a.q = head.q.data_ptr<int8_t>();
  a.scale = head.scale.data_ptr<float>();
  a.upper = head.upper.data_ptr<float>();
  a.state = reinterpret_cast<unsigned*>(head.state.data_ptr<int>());
  a.partial_value = head.partial_value.data_ptr<float>();
  a.partial_index = head.partial_index.data_ptr<int64_t>();
  a.out = out.data_ptr<int64_t>();
  a.v = w.size(0), a.k = w.size(1);
  const int err = cuda::greedy_head_argmax(*elem_type(w.scalar_type()), a, current_stream());
  VLM_CHECK(err == 0, "greedy head CUDA kernels failed with CUDA error ", err);
  return true;
#else
  (void)x, (void)head, (void)out;
  return false;
#endif
}

void accumulate_mm_reference(at::Tensor& out, const at::Tensor& a, const at::Tensor& b, double alpha) {
  const at::Tensor prod = at::mm(a, b);
  if (!out.defined()) {
    out = prod.to(at::kFloat).mul_(alpha);
  } else {
    out.add_(prod, alpha);
  }
}

#ifdef VLM_WITH_CUDA
namespace {

// A 2-D operand as cuBLAS (column-major) sees it: 'n' with leading dimension stride(0) for a row-major matrix,
// 't' with stride(1) for the transpose of one; nullopt for other layouts.
std::optional<std::pair<char, int64_t>> blas_layout(const at::Tensor& t) {
  if (t.stride(1) == 1 && t.stride(0) >= std::max<int64_t>(1, t.size(1))) return std::make_pair('n', t.stride(0));
  if (t.stride(0) == 1 && t.stride(1) >= std::max<int64_t>(1, t.size(0))) return std::make_pair('t', t.stride(1));
  return std::nullopt;
}

}  // namespace
#endif

void accumulate_mm(at::Tensor& out, const at::Tensor& a, const at::Tensor& b, double alpha) {
  VLM_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0), "accumulate_mm: cannot multiply ", a.sizes(),
            " by ", b.sizes());
  VLM_CHECK(!out.defined() || (out.scalar_type() == at::kFloat && out.sizes() == at::IntArrayRef{a.size(0), b.size(1)}),
            "accumulate_mm: the output must be float32 ", at::IntArrayRef{a.size(0), b.size(1)});
#ifdef VLM_WITH_CUDA
  if (a.is_cuda() && b.is_cuda() && a.scalar_type() == at::kBFloat16 && b.scalar_type() == at::kBFloat16 &&
      !records_grad(a) && !records_grad(b) && (!out.defined() || out.is_contiguous()) && a.numel() > 0 &&
      b.numel() > 0) {
    const at::Tensor ac = blas_layout(a) ? a : a.contiguous(), bc = blas_layout(b) ? b : b.contiguous();
    const auto [op_a, ld_a] = *blas_layout(ac);
    const auto [op_b, ld_b] = *blas_layout(bc);
    const bool accumulate = out.defined();
    if (!accumulate) out = at::empty({a.size(0), b.size(1)}, a.options().dtype(at::kFloat));
    // Row-major out = a b is column-major out^T = b^T a^T: cuBLAS gets b first.
    const float alpha_f = static_cast<float>(alpha), beta_f = accumulate ? 1.0f : 0.0f;
    const auto op = [](char c) { return c == 't' ? CUBLAS_OP_T : CUBLAS_OP_N; };
    const cublasStatus_t status =
        cublasGemmEx(at::cuda::getCurrentCUDABlasHandle(), op(op_b), op(op_a), static_cast<int>(b.size(1)),
                     static_cast<int>(a.size(0)), static_cast<int>(a.size(1)), &alpha_f, bc.data_ptr(), CUDA_R_16BF,
                     static_cast<int>(ld_b), ac.data_ptr(), CUDA_R_16BF, static_cast<int>(ld_a), &beta_f,
                     out.data_ptr(), CUDA_R_32F, static_cast<int>(b.size(1)), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    VLM_CHECK(status == CUBLAS_STATUS_SUCCESS, "accumulate_mm: cublasGemmEx failed with status ",
              static_cast<int>(status), " for ", a.sizes(), " x ", b.sizes());
    return;
  }
#endif
  if (out.defined() && a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat) {
    out.addmm_(a, b, 1.0, alpha);
    return;
  }
  accumulate_mm_reference(out, a, b, alpha);
}

}  // namespace vlm::ops
