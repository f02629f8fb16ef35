// Fused operations. Each has one entry point that picks a CUDA kernel when the tensors are on a GPU and this
// build has the kernels, and otherwise runs its plain-libtorch reference; the reference is also the test oracle.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

namespace vlm::ops {

// Under autograd, rms_norm, add_rms_norm, rope and swiglu are autograd functions that keep only their inputs (no
// fp32 or intermediate copies) and run the backward kernels below on CUDA; their gradients are those of autograd
// over the reference, up to rounding.

// RMSNorm as transformers' Llama/Qwen: normalise in fp32, cast to x's dtype, multiply by w.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);
at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& w, double eps);
// d rms_norm / dx given the output's gradient dy, computed in fp32 from x (the product dy * w rounded to x's dtype
// first, as autograd of the reference rounds it).
at::Tensor rms_norm_backward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& dy, double eps);
at::Tensor rms_norm_backward_reference(const at::Tensor& x, const at::Tensor& w, const at::Tensor& dy, double eps);

// The residual add of a pre-norm block fused with the RMSNorm after it: {h, rms_norm(h, w)} with h = x + r in x's
// dtype (the same numbers as the add and the norm run one after the other).
std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& x, const at::Tensor& r, const at::Tensor& w,
                                               double eps);
std::pair<at::Tensor, at::Tensor> add_rms_norm_reference(const at::Tensor& x, const at::Tensor& r, const at::Tensor& w,
                                                         double eps);

// Rotary embedding over x [B, L, H, D] with cos, sin [B, L, D]: x * cos + rotate_half(x) * sin. Tables in x's
// dtype, or float32 (then computed in float32 and rounded once to x's dtype, as the vision tower's RoPE).
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
at::Tensor rope_reference(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
// d rope / dx given the output's gradient dy [B, L, H, D]: the transposed rotation.
at::Tensor rope_backward(const at::Tensor& dy, const at::Tensor& cos, const at::Tensor& sin);
at::Tensor rope_backward_reference(const at::Tensor& dy, const at::Tensor& cos, const at::Tensor& sin);

// A decoding step's attention inputs from the fused projection qkv [B, 1, (H + 2 Hkv) D] (q, k, v heads in order):
// q and k rotated at positions [B] (int64: the M-RoPE streams agree while decoding, so the rotation is 1D) with
// inv_freq [D/2] (float32; angle = position * inv_freq in fp32, cos and sin rounded to qkv's dtype, as transformers'
// tables); k and v are written into k_cache, v_cache [B, Hkv, T, D] at position slot ([1] int64, on the device).
// Returns q [B, H, 1, D].
at::Tensor rope_qkv_decode(const at::Tensor& qkv, const at::Tensor& positions, const at::Tensor& inv_freq,
                           const at::Tensor& k_cache, const at::Tensor& v_cache, const at::Tensor& slot, int64_t heads);
at::Tensor rope_qkv_decode_reference(const at::Tensor& qkv, const at::Tensor& positions, const at::Tensor& inv_freq,
                                     const at::Tensor& k_cache, const at::Tensor& v_cache, const at::Tensor& slot,
                                     int64_t heads);

// silu(gate) * up. Under autograd it keeps only gate and up for backward (autograd of the reference also keeps
// silu(gate), a third tensor of the MLP's width).
at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up);
at::Tensor swiglu_reference(const at::Tensor& gate, const at::Tensor& up);
// {d/dgate, d/dup} of silu(gate) * up given the output's gradient dy.
std::pair<at::Tensor, at::Tensor> swiglu_backward(const at::Tensor& gate, const at::Tensor& up, const at::Tensor& dy);
std::pair<at::Tensor, at::Tensor> swiglu_backward_reference(const at::Tensor& gate, const at::Tensor& up,
                                                            const at::Tensor& dy);

// silu(gu[..., :I]) * gu[..., I:] for the two halves of one [..., 2I] tensor (a SwiGLU MLP's gate and up
// projections computed as one product), without autograd; and its gradient d gu [..., 2I] given dy [..., I].
at::Tensor swiglu_halves(const at::Tensor& gu);
at::Tensor swiglu_halves_reference(const at::Tensor& gu);
at::Tensor swiglu_halves_backward(const at::Tensor& gu, const at::Tensor& dy);
at::Tensor swiglu_halves_backward_reference(const at::Tensor& gu, const at::Tensor& dy);

// dst = src * scale for float32 sources [rows, cols] into 2-D destinations of another dtype whose rows may be
// strided (blocks of a larger tensor), rounded once: on CUDA one launch for up to eight of them.
struct CastScale {
  at::Tensor src, dst;
  double scale = 1.0;
};
void cast_scale(const std::vector<CastScale>& items);
void cast_scale_reference(const std::vector<CastScale>& items);

// Dropout drawn from a seed (kernels/dropout_mask.h), so that a mask is drawn again from the seed alone rather than
// kept: a LoRA side path's dropout in training, whose backward needs the dropped input again. Element i (row-major)
// of a tensor is kept or not by (seed, i) only, on any device. dropout_keep is the mask (bool, CPU); dropout is
// x * keep / (1 - p) in x's dtype (the product in float32, or float64 for double, rounded once); add_dropout_ adds
// src * keep / (1 - p) to dst in place with one rounding, the same mask for the same seed and shape. dropout_seed
// draws a seed from the CPU default generator, whose state checkpointing and the trainer's resume restore. On CUDA
// one kernel each for fp32 / fp16 / bf16; p in [0, 1).
uint64_t dropout_seed();
at::Tensor dropout_keep(at::IntArrayRef sizes, double p, uint64_t seed);
at::Tensor dropout(const at::Tensor& x, double p, uint64_t seed);
at::Tensor dropout_reference(const at::Tensor& x, double p, uint64_t seed);
void add_dropout_(const at::Tensor& dst, const at::Tensor& src, double p, uint64_t seed);
void add_dropout_reference(const at::Tensor& dst, const at::Tensor& src, double p, uint64_t seed);

// Cross-entropy of each row of logits [rows, V] against targets [rows] (int64 in [0, V)), computed in float32 from
// logits in their dtype: {loss [rows] float32 (logsumexp - the target's logit), correct [rows] bool (argmax ==
// target), grad [rows, V] in the logits' dtype (softmax - onehot; only with with_grad)}. On CUDA one kernel.
struct CrossEntropyRows {
  at::Tensor loss, correct, grad;
};
CrossEntropyRows cross_entropy_rows(const at::Tensor& logits, const at::Tensor& targets, bool with_grad);
CrossEntropyRows cross_entropy_rows_reference(const at::Tensor& logits, const at::Tensor& targets, bool with_grad);

// x * sigmoid(1.702 x) (quick GELU, the CLIP-style vision MLPs' activation). Without autograd on CUDA one kernel
// with the three roundings of the reference's three operations; otherwise the reference.
at::Tensor quick_gelu(const at::Tensor& x);
at::Tensor quick_gelu_reference(const at::Tensor& x);

// The start of a fixed-cache decoding step: marks position slot ([1] int64) in mask [B, T] bool (in place) and
// returns the step's token embeddings embedding[tokens] ([B, 1, H] for tokens [B, 1], embedding [V, H]) and
// positions slot + deltas ([B] int64). On CUDA one kernel without autograd for int64 tokens (three torch kernels in
// the reference, which any other case takes).
struct DecodeStepStart {
  at::Tensor embeds, positions;
};
DecodeStepStart begin_decode_step(const at::Tensor& tokens, const at::Tensor& embedding, const at::Tensor& mask,
                                  const at::Tensor& slot, const at::Tensor& deltas);
DecodeStepStart begin_decode_step_reference(const at::Tensor& tokens, const at::Tensor& embedding,
                                            const at::Tensor& mask, const at::Tensor& slot, const at::Tensor& deltas);

// Attention of one query per head over a key/value cache: q [B, H, 1, D], k, v [B, Hkv, T, D] (grouped-query:
// head h reads KV head h / (H / Hkv)), mask [B, T] bool (true = attend; any shape of B * T elements). Returns
// [B, H, 1, D]. The kernel splits the keys over many blocks (flash-decoding) and a second kernel merges them; the
// reference repeats the KV heads and runs SDPA.
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                            double scale);
at::Tensor decode_attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                      const at::Tensor& mask, double scale);

// A whole decoding step's attention from its fused projection: rope_qkv_decode then decode_attention over the
// updated caches, with the same numbers. On CUDA the RoPE and the cache write run inside the attention's first
// kernel while its blocks fit in one wave (batch 1: two kernels where there were three), else as their own kernel.
at::Tensor decode_qkv_attention(const at::Tensor& qkv, const at::Tensor& positions, const at::Tensor& inv_freq,
                                const at::Tensor& k_cache, const at::Tensor& v_cache, const at::Tensor& slot,
                                const at::Tensor& mask, int64_t heads, double scale);
at::Tensor decode_qkv_attention_reference(const at::Tensor& qkv, const at::Tensor& positions,
                                          const at::Tensor& inv_freq, const at::Tensor& k_cache,
                                          const at::Tensor& v_cache, const at::Tensor& slot, const at::Tensor& mask,
                                          int64_t heads, double scale);

// While one is alive on this thread, the matrix-vector kernels below (linear, swiglu_linear, add_rms_norm_linear,
// add_rms_norm_swiglu_linear) load their first weights before the kernel ahead of them in the stream has finished,
// and decode_qkv_attention its caches, mask, positions and slot: the caller vouches that no kernel that may still run
// when the product starts (see cuda_types.cuh) writes a weight, nor those inputs of the attention, as in a decoding
// step (the weights are parameters; the mask and positions are set at the step's start, the slot advanced at its
// end). Without one they only ask for those weights in L2 there, which is right for any input and cost ~10% of the
// decoding speed (bench/NOTES.md, session 8). Guards nest.
class SettledWeights {
 public:
  SettledWeights();
  ~SettledWeights();
  SettledWeights(const SettledWeights&) = delete;
  SettledWeights& operator=(const SettledWeights&) = delete;
  static bool active();

 private:
  bool previous_;
};

// LoRA side paths riding on a projection for inference (see nn::LinearAdapter::inference_factors): their A factors
// stacked as `a` [H, K] (H = the sum of their ranks), and for each path the first output column c0 it adds to, where
// its block of h = x a^T starts (o), and bs = scale * B [n, r] in the projection's dtype: the path adds h[o, o + r)
// bs^T to the output columns [c0, c0 + n). Empty: none.
struct LowRank {
  struct Path {
    int64_t c0 = 0, o = 0;
    at::Tensor bs;
  };
  at::Tensor a;
  std::vector<Path> paths;
  bool empty() const { return paths.empty(); }
};

// A projection's output y [..., N] finished by its side paths given h [..., H]: each path's columns become
// addmm(y, h_path, bs^T) (fp32 sums, one rounding), as LoRA's inference forward adds them; a new contiguous tensor.
// With up (y_up, h_up and its paths), silu(gate) * up of the two finished projections instead (swiglu's numbers).
// On CUDA one kernel (at most four paths in all).
at::Tensor low_rank_add(const at::Tensor& y, const at::Tensor& h, const LowRank& low_rank);
at::Tensor low_rank_add_reference(const at::Tensor& y, const at::Tensor& h, const LowRank& low_rank);
at::Tensor low_rank_swiglu(const at::Tensor& y, const at::Tensor& h, const LowRank& low_rank, const at::Tensor& y_up,
                           const at::Tensor& h_up, const LowRank& low_rank_up);
at::Tensor low_rank_swiglu_reference(const at::Tensor& y, const at::Tensor& h, const LowRank& low_rank,
                                     const at::Tensor& y_up, const at::Tensor& h_up, const LowRank& low_rank_up);

// x [..., K] times w [N, K] transposed, plus bias [N] when defined: torch's linear. On CUDA, fp16 / bf16 inputs of at
// most four rows without autograd (a decoding step) go through a matrix-vector kernel that streams w at the memory
// bandwidth; everything else is torch's linear. The reference computes in fp32 and rounds once.
// With side paths (low_rank), low_rank_add(linear(x, w, bias), linear(x, low_rank.a), low_rank): the matrix-vector
// kernel computes h with the output (a below w) and one more kernel finishes.
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias = {},
                  const LowRank& low_rank = {});
at::Tensor linear_reference(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias = {});

// swiglu(linear(x, w_gate), linear(x, w_up)) with the same numbers, in one kernel where linear would take its
// matrix-vector kernel. With side paths on either, swiglu(linear(x, w_gate, {}, low_rank_gate), linear(x, w_up, {},
// low_rank_up)): in the matrix-vector kernel's case (both paths' a of one shape) one product gives both projections
// and their h, and low_rank_swiglu finishes.
at::Tensor swiglu_linear(const at::Tensor& x, const at::Tensor& w_gate, const at::Tensor& w_up,
                         const LowRank& low_rank_gate = {}, const LowRank& low_rank_up = {});
at::Tensor swiglu_linear_reference(const at::Tensor& x, const at::Tensor& w_gate, const at::Tensor& w_up);

// A pre-norm block's residual add and RMSNorm fused into the projection after them: {h, linear(rms_norm(h) *
// norm_weight, w, bias)} with h = x + residual (h = x when residual is undefined), and the same with swiglu_linear
// as the projection. The matrix-vector kernel's case runs as one kernel; otherwise add_rms_norm (or rms_norm) and
// the projection run one after the other.
std::pair<at::Tensor, at::Tensor> add_rms_norm_linear(const at::Tensor& x, const at::Tensor& residual,
                                                      const at::Tensor& norm_weight, double eps, const at::Tensor& w,
                                                      const at::Tensor& bias = {}, const LowRank& low_rank = {});
std::pair<at::Tensor, at::Tensor> add_rms_norm_swiglu_linear(const at::Tensor& x, const at::Tensor& residual,
                                                             const at::Tensor& norm_weight, double eps,
                                                             const at::Tensor& w_gate, const at::Tensor& w_up,
                                                             const LowRank& low_rank_gate = {},
                                                             const LowRank& low_rank_up = {});

// The greedy next token under a plain LM head without all its logits (CUDA, one row, fp16 / bf16, K a multiple of
// 16 up to 4096): argmax(linear(x, weight)) exactly as linear's kernel computes the logits (the first index among
// equal maxima, NaN above all), from an int8 copy of the weight that bounds every logit, and the exact logits of the
// rows those bounds leave in the running. Reads about half the head's bytes; the copy takes half its memory.
// make_greedy_head builds the copy (not while a CUDA graph is capturing) and returns null where the kernels do not
// take the weight, or when VLM_GREEDY_HEAD=0 is in the environment; greedy_next_token writes the token to out (int64,
// one element) and returns false where it cannot run (then nothing is launched). A head serves one stream at a time.
struct GreedyHead {
  at::Tensor weight, q, scale, upper, state, partial_value, partial_index;
};
std::shared_ptr<GreedyHead> make_greedy_head(const at::Tensor& weight);
bool greedy_next_token(const at::Tensor& x, const GreedyHead& head, at::Tensor& out);

// out (float32 [M, N]) = alpha * a @ b, or out += alpha * a @ b when out is defined: a gradient accumulated in
// float32 from factors in a lower precision (a [M, K], b [K, N], both of one dtype; either may be a transposed
// view). On CUDA one cuBLAS product writes the float32 result directly (no rounding to the factors' dtype, no cast,
// scale or add kernels); the reference multiplies in the factors' dtype and adds in float32.
void accumulate_mm(at::Tensor& out, const at::Tensor& a, const at::Tensor& b, double alpha);
void accumulate_mm_reference(at::Tensor& out, const at::Tensor& a, const at::Tensor& b, double alpha);

// True when this build carries the CUDA kernels.
bool has_cuda_kernels();

}  // namespace vlm::ops
