// Raw-pointer CUDA launchers (no torch types, so this header is shared by .cu and .cpp files). Each returns a CUDA
// error code (0 = success) and runs on the given stream. Tensors are contiguous unless said otherwise.
#pragma once

#include <cstdint>

namespace vlm::cuda {

enum class ElemType { kF32, kF16, kBF16 };

// y[r, :] = w * cast(x[r, :] * rsqrt(mean(x[r, :]^2) + eps)) for rows r < rows of `cols` contiguous elements; the
// normalisation runs in fp32 and is rounded to the element type before the weight multiply, as in transformers'
// Llama/Qwen RMSNorm.
int rms_norm_forward(ElemType type, const void* x, const void* w, void* y, int64_t rows, int64_t cols, float eps,
                     void* stream);

// h = x + r (rounded to the element type), y = rms_norm(h) * w as above: the residual add of a pre-norm block fused
// with the next norm. x, r, h, y [rows, cols].
int add_rms_norm_forward(ElemType type, const void* x, const void* r, const void* w, void* h, void* y, int64_t rows,
                         int64_t cols, float eps, void* stream);

// dx of rms_norm_forward given dy (x, dy, dx [rows, cols]): computed in fp32 from x and w, rounded once.
int rms_norm_backward(ElemType type, const void* x, const void* w, const void* dy, void* dx, int64_t rows, int64_t cols,
                      float eps, void* stream);

// Rotary embedding: y[b, l, h, :] = x * cos[b, l, :] + rotate_half(x) * sin[b, l, :] with x, y [B, L, H, D] and
// cos, sin [B, L, D] of the same element type (or float32 with float_tables); computed in fp32, rounded once. D
// even. With `backward`, x is the output's gradient and y gets the input's (the transposed rotation). x's (b, l) rows
// may be x_row elements apart (0: H * D, contiguous); y is contiguous.
int rope_forward(ElemType type, const void* x, const void* cos, const void* sin, void* y, int64_t b, int64_t l,
                 int64_t h, int64_t d, void* stream, bool backward = false, bool float_tables = false,
                 int64_t x_row = 0);

// A decoding step's fused projection qkv [B, (H + 2 Hkv) D] (rows `row_stride` elements apart): q and k heads are
// rotated at positions[b] (int64; angle = position * inv_freq[j % (D/2)] in fp32, cos and sin rounded to the element
// type), q is written to q_out [B, H, D], k and v to k_cache, v_cache [B, Hkv, T, D] at position *slot (int64 on
// the device, so a captured graph replays at the next slot).
int rope_qkv_decode_forward(ElemType type, const void* qkv, int64_t row_stride, const int64_t* positions,
                            const float* inv_freq, void* q_out, void* k_cache, void* v_cache, const int64_t* slot,
                            int64_t b, int64_t h, int64_t hkv, int64_t t, int64_t d, void* stream);

// y = silu(gate) * up over rows x cols elements, computed in fp32; and its gradients dgate, dup given dy. gate and
// up rows are in_stride elements apart (flat arrays: one row; a [rows, 2 cols] tensor's halves: 2 cols), dy rows
// dy_stride apart, y, dgate and dup rows out_stride apart.
int swiglu_forward(ElemType type, const void* gate, const void* up, void* y, int64_t rows, int64_t cols,
                   int64_t in_stride, int64_t out_stride, void* stream);
int swiglu_backward(ElemType type, const void* gate, const void* up, const void* dy, void* dgate, void* dup,
                    int64_t rows, int64_t cols, int64_t in_stride, int64_t dy_stride, int64_t out_stride,
                    void* stream);

// dst = cast(src * scale) for several float32 sources src [rows, cols] (contiguous) into blocks of element-type
// destinations whose rows are dst_stride elements apart: the LoRA factors of a group of layers, cast in one launch
// per kCastScaleBatch segments.
struct CastScaleSegment {
  const float* src;
  void* dst;
  int64_t rows, cols, dst_stride;
  float scale;
};
constexpr int kCastScaleBatch = 8;
struct CastScaleBatch {
  CastScaleSegment segments[kCastScaleBatch];
};
int cast_scale(ElemType type, const CastScaleSegment* segments, int count, void* stream);

// Cross-entropy over rows of logits [rows, v] (contiguous) with targets [rows] (int64), in fp32: loss[r] =
// logsumexp(logits[r]) - logits[r, t] (NaN for a target outside [0, v)), correct[r] = (first argmax == t), and
// when grad is not null grad[r, :] = softmax(logits[r]) - onehot(t), rounded to the element type.
int cross_entropy_rows(ElemType type, const void* logits, const int64_t* targets, float* loss, uint8_t* correct,
                       void* grad, int64_t rows, int64_t v, void* stream);

// y = x * sigmoid(1.702 x) (quick GELU) over n elements, rounded to the element type after each of the three
// operations as torch's separate kernels round.
int quick_gelu_forward(ElemType type, const void* x, void* y, int64_t n, void* stream);

// Dropout over n contiguous elements with the mask of kernels/dropout_mask.h for (seed, threshold): dst = src * keep
// * scale, or with add dst += src * keep * scale, in fp32 with one rounding.
int dropout(ElemType type, const void* src, void* dst, int64_t n, uint64_t seed, uint32_t threshold, float scale,
            bool add, void* stream);

// The start of a fixed-cache decoding step, one block a batch row b: mask[b, *slot] = 1 (mask [B, T] bytes; a slot
// outside [0, T) marks nothing), positions[b] = *slot + deltas[b] (int64), embeds[b, :] = embedding[tokens[b], :]
// (embedding [V, H] of the element type; a token outside [0, V) traps, as torch's embedding asserts).
int begin_decode_step(ElemType type, const int64_t* tokens, const void* embedding, int64_t v, int64_t hidden,
                      uint8_t* mask, int64_t t, const int64_t* slot, const int64_t* deltas, void* embeds,
                      int64_t* positions, int64_t b, void* stream);

// One query per (batch, head) over a key/value cache: q [B, H, D], k_cache, v_cache [B, Hkv, T, D], mask [B, T]
// (bytes, non-zero = attend), y [B, H, D]; head h reads KV head h / (H / Hkv). softmax(q k^T * scale) v in fp32,
// split over T in chunks whose partial results go to `workspace` (float, decode_attention_workspace(B, H, T, D) of
// them) and are combined by a second kernel. With `positions` set, q is instead the fused projection of a decoding
// step ([B, (H + 2 Hkv) D], rows q_row elements apart): q and that step's k are rotated as rope_qkv_decode_forward
// rotates them, and k, v are written to the caches at position *slot (and attended there from the projection). With
// `cache_settled` too, no kernel that may still run when this one starts (cuda_types.cuh) writes the caches (other
// than at the slot), the mask, positions, inv_freq or slot: they may be loaded before the dependent-launch wait.
// decode_attention_supported says which shapes the kernels take (D 32, 64, 128 or 256; T at most 262,144); the caches
// must be 16-byte aligned.
struct DecodeAttentionArgs {
  const void* q = nullptr;
  int64_t q_row = 0;
  const int64_t* positions = nullptr;
  const float* inv_freq = nullptr;
  const int64_t* slot = nullptr;
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  const uint8_t* mask = nullptr;
  void* y = nullptr;
  float* workspace = nullptr;
  int64_t b = 0, h = 0, hkv = 0, t = 0, d = 0;
  float scale = 1.f;
  bool cache_settled = false;
};
bool decode_attention_supported(int64_t h, int64_t hkv, int64_t t, int64_t d);
// Whether the fused step is the faster way for this size (its blocks fit in one wave); else rope_qkv_decode_forward
// then this kernel without positions.
bool decode_attention_fuses_rope(ElemType type, int64_t b, int64_t h, int64_t hkv, int64_t t, int64_t d);
int64_t decode_attention_workspace(int64_t b, int64_t h, int64_t t, int64_t d);
int decode_attention_forward(ElemType type, const DecodeAttentionArgs& args, void* stream);

// Matrix-vector products for decoding, fp16 or bf16, accumulated in fp32 and rounded once. The input rows are x
// [M, K], or, with norm_weight, rms_norm(x + residual) * norm_weight (residual optional; the numbers of
// add_rms_norm_forward, with x + residual written to sum_out [M, K] when given). Then
//   plain (w_up null): y[m, r] = in[m, :] . w[r, :] (+ bias[r]) for w [N, K], bias [N] or null, y [M, N];
//   SwiGLU (w_up set):  y[m, r] = silu(g) * u with g, u the products with w and w_up [N, K], each rounded to the
//                       element type first (the numbers of two plain products and swiglu_forward).
// With n_tail rows in w_tail [n_tail, K] (and w_up_tail), the matrices are w (w_up) with those rows below, n counting
// them too: the LoRA side paths' A factors ride on the product (no bias on them). With raw_pairs (SwiGLU only) the
// two products are written as they are: y [M, 2, n], gate's in y[m, 0, :], up's in y[m, 1, :].
// gemv_supported says which shapes the kernel takes: M <= kGemvMaxRows, K a multiple of 8, what it stages in shared
// memory (x, and with a norm the residual and the norm weight) at most kGemvMaxInputBytes and within the device's
// limit. Pointers 16-byte aligned.
constexpr int64_t kGemvMaxRows = 4;
constexpr int64_t kGemvMaxInputBytes = 96 * 1024;
struct GemvArgs {
  const void* x = nullptr;
  const void* residual = nullptr;
  const void* norm_weight = nullptr;
  float eps = 0.f;
  void* sum_out = nullptr;
  const void* w = nullptr;
  const void* w_up = nullptr;
  const void* bias = nullptr;
  void* y = nullptr;
  int64_t m = 0, n = 0, k = 0;
  // No kernel that may still run when this one starts (cuda_types.cuh) writes w or w_up: their first loads may be
  // issued before the dependent-launch wait (only a data-independent L2 hint otherwise).
  bool weights_settled = false;
  const void* w_tail = nullptr;
  const void* w_up_tail = nullptr;
  int64_t n_tail = 0;
  bool raw_pairs = false;
};
bool gemv_supported(ElemType type, int64_t m, int64_t k, bool residual = false, bool norm = false);
int gemv_forward(ElemType type, const GemvArgs& args, void* stream);

// LoRA side paths finishing a projection: out[m, c] = y[m, c] + sum_j h[m, o + j] * bs[c - c0, j] (fp32 sums, one
// rounding, as at::addmm onto y) for the path whose output columns [c0, c0 + n) hold c (y as it is elsewhere), with
// h = x A^T (from the product's extra rows, GemvArgs::w_tail, or a product of its own) and bs = scale * B [n, r]
// contiguous. With y_up set (SwiGLU), paths [0, gate_paths) finish y, the others y_up with h_up, and out = silu(g) * u
// of the two in swiglu_forward's numbers. y and y_up rows y_row elements apart, h and h_up rows h_row apart; out
// [M, n_out] contiguous.
constexpr int kLowRankMaxPaths = 4;
struct LowRankPath {
  int64_t c0 = 0, n = 0, o = 0, r = 0;
  const void* bs = nullptr;
};
struct LowRankAddArgs {
  const void* y = nullptr;
  const void* h = nullptr;
  const void* y_up = nullptr;
  const void* h_up = nullptr;
  void* out = nullptr;
  int64_t y_row = 0, h_row = 0, m = 0, n_out = 0;
  int paths = 0, gate_paths = 0;
  LowRankPath path[kLowRankMaxPaths];
  // No kernel that may still run when this one starts writes a bs (GemvArgs::weights_settled): each thread loads its
  // factor rows before the dependent-launch wait.
  bool weights_settled = false;
};
int low_rank_add_forward(ElemType type, const LowRankAddArgs& args, void* stream);

// The greedy next token of one row x [K] under a plain LM head w [V, K] (the argmax of gemv_forward's y = x w^T,
// the first index among equal maxima, NaN above all, as torch's argmax) without computing every logit: a first
// kernel screens every row with an int8 copy of w (q [V, K], per-row scale: w[r] ~ scale[r] * q[r], rounded to
// nearest) and a bound on how far that is from the exact bf16/fp16 logit (quantisation, fp32 sums and the final
// rounding); a second recomputes exactly, as gemv_forward does, only the rows whose bound reaches the largest lower
// bound, and writes the argmax to *out (int64). Non-finite screens make every row exact. Half the LM head's bytes.
// Workspace: upper [V] floats, state [4] uint32 zeroed once (the second kernel leaves it zeroed), partials of
// greedy_head_blocks() blocks. greedy_head_supported: K a multiple of 16 and at most 4096, fp16 / bf16.
struct GreedyHeadArgs {
  const void* x = nullptr;
  const void* w = nullptr;
  const int8_t* q = nullptr;
  const float* scale = nullptr;
  float* upper = nullptr;
  unsigned* state = nullptr;
  float* partial_value = nullptr;
  int64_t* partial_index = nullptr;
  int64_t* out = nullptr;
  int64_t v = 0, k = 0;
};
bool greedy_head_supported(ElemType type, int64_t k);
int greedy_head_blocks();
// The int8 copy: per row r of w [V, K], scale[r] = max |w[r]| / 127 (fp32) and q[r] = w[r] / scale[r] rounded to
// nearest even (0 for a row of zeros). K a multiple of 8, w 16-byte aligned.
int greedy_head_quantize(ElemType type, const void* w, int8_t* q, float* scale, int64_t v, int64_t k, void* stream);
int greedy_head_argmax(ElemType type, const GreedyHeadArgs& args, void* stream);

// Timeline probe (built with CMake VLM_TIMELINE=ON; see cuda_types.cuh): timeline_begin makes room for `records`
// block stamps and starts appending (false when the probe is not built in or the allocation fails);
// timeline_dump writes the stamps appended since as raw little-endian uint64 quadruples (start ns, waited ns, end ns,
// tag | block << 32 | sm << 56) to `path` and returns how many, or -1.
bool timeline_begin(int64_t records);
int64_t timeline_dump(const char* path);

}  // namespace vlm::cuda
