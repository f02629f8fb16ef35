// Fused operations. Each has one entry point that picks a CUDA kernel when the tensors are on a GPU and this
// build has the kernels, and otherwise runs its plain-libtorch reference; the reference is also the test oracle.
#pragma once

#include <ATen/ATen.h>

namespace vlm::ops {

// RMSNorm as transformers' Llama/Qwen: normalise in fp32, cast to x's dtype, multiply by w.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);
at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& w, double eps);

// True when this build carries the CUDA kernels.
bool has_cuda_kernels();

}  // namespace vlm::ops
