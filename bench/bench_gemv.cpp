// The matrix-vector products of a decoding step, vlm's kernel against torch's linear (cuBLAS; for the "add_norm" rows
// after vlm's add + RMSNorm kernel, which vlm runs inside the product), at the shapes of
// Qwen2-VL-2B and -7B, batch 1, bf16. Each variant is captured in a CUDA graph of `--launches` products cycling
// through enough copies of the weight to spill the L2 cache (as a step over all layers does), so the time is the
// GPU's, without launch overhead. Also measures the card's device-to-device copy bandwidth, the roofline's unit.
// Prints one JSON line per shape and variant.
//   bench_gemv [--launches N] [--repeats N]
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "bench_util.h"
#include "kernels/ops.h"

#ifdef VLM_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace {

#ifdef VLM_WITH_CUDA
// Milliseconds per call of f, captured `launches` times in one CUDA graph and replayed `repeats` times (median).
double graphed_ms(const std::function<void(int)>& f, int launches, int repeats) {
  c10::cuda::CUDAStreamGuard guard(c10::cuda::getStreamFromPool());
  for (int i = 0; i < launches; ++i) f(i);  // warm-up outside the graph (allocations, kernel attributes)
  at::cuda::CUDAGraph graph;
  graph.capture_begin();
  for (int i = 0; i < launches; ++i) f(i);
  graph.capture_end();
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    torch::cuda::synchronize();
    const auto start = std::chrono::steady_clock::now();
    graph.replay();
    torch::cuda::synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() /
                 launches);
  }
  return vlm::bench::median(ms);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  int launches = 64, repeats = 20;
  CLI::App app{"Decoding matrix-vector products: vlm's kernel against torch's linear", "bench_gemv"};
  app.add_option("--launches", launches, "Products per captured graph (default 64)");
  app.add_option("--repeats", repeats, "Graph replays, median taken (default 20)");
  CLI11_PARSE(app, argc, argv);
#ifndef VLM_WITH_CUDA
  std::fprintf(stderr, "bench_gemv: this build has no CUDA\n");
  return 1;
#else
  if (!torch::cuda::is_available()) {
    std::fprintf(stderr, "bench_gemv: no CUDA device\n");
    return 1;
  }
  torch::NoGradGuard no_grad;
  const vlm::ops::SettledWeights settled;  // as in a decoding step (the weights are written before, then synchronized)
  const auto opts = torch::device(torch::kCUDA).dtype(torch::kBFloat16);
  {
    const at::Tensor a = torch::empty({int64_t{1} << 29}, opts), b = torch::empty_like(a);  // 1 GiB each
    const double ms = graphed_ms([&](int) { b.copy_(a); }, 4, repeats);
    std::printf("{\"copy_gb_per_s\": %.1f}\n", 2.0 * static_cast<double>(a.nbytes()) / ms / 1e6);
  }
  struct Shape {
    const char* model;
    const char* name;
    int64_t n, k;
    bool bias, swiglu;
    bool norm = false;  // with the residual add and RMSNorm before it (the decoding step's qkv and gate/up)
  };
  const std::vector<Shape> shapes = {
      {"2B", "qkv", 2048, 1536, true, false},          {"2B", "o_proj", 1536, 1536, false, false},
      {"2B", "gate_up+swiglu", 8960, 1536, false, true}, {"2B", "down_proj", 1536, 8960, false, false},
      {"2B", "lm_head", 151936, 1536, false, false},   {"2B", "add_norm+qkv", 2048, 1536, true, false, true},
      {"2B", "add_norm+gate_up+swiglu", 8960, 1536, false, true, true},
      {"7B", "qkv", 4608, 3584, true, false},
      {"7B", "o_proj", 3584, 3584, false, false},      {"7B", "gate_up+swiglu", 18944, 3584, false, true},
      {"7B", "down_proj", 3584, 18944, false, false},  {"7B", "lm_head", 152064, 3584, false, false}};
  for (const Shape& s : shapes) {
    const int64_t matrices = s.swiglu ? 2 : 1;
    const int64_t bytes = matrices * s.n * s.k * 2;
    const int64_t copies = std::max<int64_t>(2, (int64_t{512} << 20) / bytes);  // >= 512 MB: past the L2
    std::vector<at::Tensor> w, w2;
    for (int64_t i = 0; i < copies; ++i) {
      w.push_back(torch::randn({s.n, s.k}, opts));
      if (s.swiglu) w2.push_back(torch::randn({s.n, s.k}, opts));
    }
    const at::Tensor x = torch::randn({1, 1, s.k}, opts), bias = s.bias ? torch::randn({s.n}, opts) : at::Tensor();
    const at::Tensor residual = torch::randn({1, 1, s.k}, opts), norm_weight = torch::rand({s.k}, opts);
    // The input of the product: x, or with s.norm rms_norm(x + residual) by torch's ops (the vlm side fuses it).
    auto input = [&] { return s.norm ? vlm::ops::add_rms_norm(x, residual, norm_weight, 1e-6).second : x; };
    torch::cuda::synchronize();
    auto pick = [&](const std::vector<at::Tensor>& v, int i) { return v[static_cast<size_t>(i) % v.size()]; };
    const double torch_ms = graphed_ms(
        [&](int i) {
          const at::Tensor in = input();
          if (s.swiglu)
            (void)vlm::ops::swiglu(at::linear(in, pick(w, i)), at::linear(in, pick(w2, i)));
          else
            (void)at::linear(in, pick(w, i), bias);
        },
        launches, repeats);
    const double vlm_ms = graphed_ms(
        [&](int i) {
          if (s.norm && s.swiglu)
            (void)vlm::ops::add_rms_norm_swiglu_linear(x, residual, norm_weight, 1e-6, pick(w, i), pick(w2, i));
          else if (s.norm)
            (void)vlm::ops::add_rms_norm_linear(x, residual, norm_weight, 1e-6, pick(w, i), bias);
          else if (s.swiglu)
            (void)vlm::ops::swiglu_linear(x, pick(w, i), pick(w2, i));
          else
            (void)vlm::ops::linear(x, pick(w, i), bias);
        },
        launches, repeats);
    std::printf("{\"model\": \"%s\", \"op\": \"%s\", \"n\": %lld, \"k\": %lld, \"mb\": %.1f, \"torch_us\": %.2f, "
                "\"vlm_us\": %.2f, \"torch_gb_per_s\": %.0f, \"vlm_gb_per_s\": %.0f, \"speedup\": %.2f}\n",
                s.model, s.name, static_cast<long long>(s.n), static_cast<long long>(s.k),
                static_cast<double>(bytes) / 1e6, torch_ms * 1e3, vlm_ms * 1e3,
                static_cast<double>(bytes) / torch_ms / 1e6, static_cast<double>(bytes) / vlm_ms / 1e6,
                torch_ms / vlm_ms);
    std::fflush(stdout);
  }
  return 0;
#endif
}
