#include "kernels/ops.h"

#include "core/error.h"

#ifdef VLM_WITH_CUDA
#include <c10/cuda/CUDAStream.h>

#include "kernels/rms_norm_cuda.h"
#endif

namespace vlm::ops {

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

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
#ifdef VLM_WITH_CUDA
  const auto type = x.scalar_type();
  if (x.is_cuda() && w.is_cuda() && w.scalar_type() == type && w.dim() == 1 && w.size(0) == x.size(-1) &&
      (type == at::kFloat || type == at::kHalf || type == at::kBFloat16) && !(x.requires_grad() || w.requires_grad())) {
    const at::Tensor xc = x.contiguous();
    const at::Tensor wc = w.contiguous();
    at::Tensor y = at::empty_like(xc);
    const int64_t cols = x.size(-1);
    const auto elem = type == at::kFloat ? cuda::ElemType::kF32
                      : type == at::kHalf ? cuda::ElemType::kF16
                                          : cuda::ElemType::kBF16;
    const int err = cuda::rms_norm_forward(elem, xc.data_ptr(), wc.data_ptr(), y.data_ptr(), xc.numel() / cols, cols,
                                           static_cast<float>(eps), c10::cuda::getCurrentCUDAStream().stream());
    VLM_CHECK(err == 0, "rms_norm CUDA kernel failed with CUDA error ", err);
    return y;
  }
#endif
  return rms_norm_reference(x, w, eps);
}

}  // namespace vlm::ops
