#include "train/loss.h"

#include <algorithm>

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
// at a time, in h's dtype then float32 (as transformers' head and loss), and never kept: when h requires grad, the
// forward also computes d loss_sum / d h = (softmax - onehot) W per chunk (the product rounded to h's dtype first,
// as autograd does) and keeps only that [N, H]; backward scales it by the incoming gradient.
class LinearCrossEntropyFunction : public torch::autograd::Function<LinearCrossEntropyFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& h, const at::Tensor& weight,
                               const at::Tensor& targets) {
    const bool grad = h.requires_grad();
    const int64_t n = h.size(0), chunk = head_chunk(weight.size(0));
    at::Tensor loss = at::zeros({}, h.options().dtype(at::kFloat));
    at::Tensor correct = at::zeros({}, h.options().dtype(at::kLong));
    at::Tensor dh = grad ? at::empty_like(h) : at::Tensor();
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t rows = std::min(chunk, n - start);
      const at::Tensor t = targets.narrow(0, start, rows).unsqueeze(1);
      at::Tensor logits = at::mm(h.narrow(0, start, rows), weight.t()).to(at::kFloat);  // [rows, V]
      const at::Tensor lse = at::logsumexp(logits, 1, /*keepdim=*/true);
      loss.add_((lse - logits.gather(1, t)).sum());
      correct.add_(logits.argmax(1).eq(t.squeeze(1)).sum());
      if (!grad) continue;
      at::Tensor& p = logits.sub_(lse).exp_();  // softmax, in place
      p.scatter_add_(1, t, at::full({rows, 1}, -1.0, p.options()));
      dh.narrow(0, start, rows).copy_(at::mm(p.to(h.scalar_type()), weight));
    }
    if (grad) ctx->save_for_backward({dh});
    ctx->mark_non_differentiable({correct});
    return {loss, correct};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor dh = ctx->get_saved_variables()[0];
    return {(dh.to(at::kFloat) * grads[0]).to(dh.scalar_type()), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

LossSums causal_lm_loss(Model& model, const at::Tensor& hidden, const at::Tensor& labels, int64_t chunk) {
  const int64_t l = hidden.size(1);
  // Position i predicts token i + 1.
  const at::Tensor targets = labels.narrow(1, 1, l - 1).reshape({-1});
  const at::Tensor h = hidden.narrow(1, 0, l - 1).reshape({-1, hidden.size(-1)});
  const at::Tensor rows = targets.ne(kIgnoreIndex).nonzero().squeeze(1);
  LossSums out;
  out.tokens = rows.size(0);
  const at::Tensor head = model.plain_lm_head_weight();
  if (head.defined() && !(head.requires_grad() && at::GradMode::is_enabled()) && out.tokens > 0) {
    const variable_list sums =
        LinearCrossEntropyFunction::apply(h.index_select(0, rows), head, targets.index_select(0, rows));
    out.loss_sum = sums[0];
    out.correct = sums[1].item<int64_t>();
    return out;
  }
  out.loss_sum = at::zeros({}, hidden.options().dtype(at::kFloat));
  for (int64_t start = 0; start < out.tokens; start += chunk) {
    const at::Tensor idx = rows.narrow(0, start, std::min(chunk, out.tokens - start));
    const at::Tensor logits = model.logits(h.index_select(0, idx)).to(at::kFloat);
    const at::Tensor t = targets.index_select(0, idx);
    out.loss_sum = out.loss_sum + at::cross_entropy_loss(logits, t, {}, at::Reduction::Sum);
    out.correct += logits.detach().argmax(-1).eq(t).sum().item<int64_t>();
  }
  return out;
}

}  // namespace vlm::train
