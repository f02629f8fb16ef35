#include "train/loss.h"

#include <algorithm>

#include "core/memory.h"
#include "kernels/ops.h"
#include "train/collator.h"

namespace vlm::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows of the LM head's logits at a time: about 128 MiB of float32 logits whatever the vocabulary (they are made at
// the end of the forward pass, when every activation is still held, so they add to the peak).
int64_t head_chunk(int64_t vocab) { return std::max<int64_t>(64, (int64_t{1} << 25) / std::max<int64_t>(vocab, 1)); }

// The LM head fused with the summed cross-entropy over labelled rows h [N, H] (targets [N], weight [V, H] frozen):
// outputs {loss_sum, correct} (float32 scalar; int64 count of argmax == target). The logits are made a chunk of rows
// at a time, in h's dtype and read in float32 (as transformers' head and loss), and never kept: per chunk one
// ops::cross_entropy_rows gives the rows' losses, argmax hits and, when h requires grad, softmax - onehot rounded
// to h's dtype (as autograd rounds it), whose product with W is d loss_sum / d h for those rows. Only that [N, H]
// is kept; backward scales it by the incoming gradient.
class LinearCrossEntropyFunction : public torch::autograd::Function<LinearCrossEntropyFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& h, const at::Tensor& weight,
                               const at::Tensor& targets) {
    const bool grad = h.requires_grad();
    const int64_t n = h.size(0), chunk = head_chunk(weight.size(0));
    at::Tensor losses = at::empty({n}, h.options().dtype(at::kFloat));
    at::Tensor correct = at::empty({n}, h.options().dtype(at::kBool));
    at::Tensor dh = grad ? at::empty_like(h) : at::Tensor();
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t rows = std::min(chunk, n - start);
      const at::Tensor logits = at::mm(h.narrow(0, start, rows), weight.t());  // [rows, V] in h's dtype
      const ops::CrossEntropyRows ce = ops::cross_entropy_rows(logits, targets.narrow(0, start, rows), grad);
      losses.narrow(0, start, rows).copy_(ce.loss);
      correct.narrow(0, start, rows).copy_(ce.correct);
      if (grad) {
        at::Tensor dh_rows = dh.narrow(0, start, rows);
        at::mm_out(dh_rows, ce.grad, weight);  // (softmax - onehot) W
      }
    }
    const at::Tensor loss = losses.sum(), correct_count = correct.sum();
    if (grad) ctx->save_for_backward({dh});
    ctx->mark_non_differentiable({correct_count});
    return {loss, correct_count};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor dh = ctx->get_saved_variables()[0];
    return {(dh.to(at::kFloat) * grads[0]).to(dh.scalar_type()), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

LossSums causal_lm_loss(Model& model, const at::Tensor& hidden, const at::Tensor& labels, int64_t chunk) {
  const int64_t l = hidden.size(1);
  // Position i predicts token i + 1: the labelled rows and their targets, found where the labels are and then
  // moved to the device.
  const at::Tensor shifted = labels.narrow(1, 1, l - 1).reshape({-1});
  const at::Tensor labelled = shifted.ne(kIgnoreIndex).nonzero().squeeze(1);
  const at::Tensor rows = to_device_async(labelled, hidden.device());
  const at::Tensor targets = to_device_async(shifted.index_select(0, labelled), hidden.device());
  const at::Tensor h = hidden.narrow(1, 0, l - 1).reshape({-1, hidden.size(-1)});
  LossSums out;
  out.tokens = rows.size(0);
  const at::Tensor head = model.plain_lm_head_weight();
  if (head.defined() && !(head.requires_grad() && at::GradMode::is_enabled()) && out.tokens > 0) {
    const variable_list sums = LinearCrossEntropyFunction::apply(h.index_select(0, rows), head, targets);
    out.loss_sum = sums[0];
    out.correct = sums[1];
    return out;
  }
  out.loss_sum = at::zeros({}, hidden.options().dtype(at::kFloat));
  out.correct = at::zeros({}, hidden.options().dtype(at::kLong));
  for (int64_t start = 0; start < out.tokens; start += chunk) {
    const int64_t n = std::min(chunk, out.tokens - start);
    const at::Tensor logits = model.logits(h.index_select(0, rows.narrow(0, start, n))).to(at::kFloat);
    const at::Tensor t = targets.narrow(0, start, n);
    out.loss_sum = out.loss_sum + at::cross_entropy_loss(logits, t, {}, at::Reduction::Sum);
    out.correct = out.correct + logits.detach().argmax(-1).eq(t).sum();
  }
  return out;
}

}  // namespace vlm::train
