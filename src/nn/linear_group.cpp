#include "nn/linear_group.h"

#include <torch/csrc/autograd/variable.h>

#include "core/error.h"
#include "kernels/ops.h"

namespace vlm::nn {

namespace {

bool any_drops(const LowRankLayout& layout) {
  for (size_t i = 0; i < layout.outs.size(); ++i)
    if (layout.ranks[i] > 0 && layout.drops(i)) return true;
  return false;
}

// The input layer i's side path reads: x, or its dropout of x.
at::Tensor path_input(const at::Tensor& x, const LowRankLayout& layout, size_t i) {
  return layout.drops(i) ? ops::dropout(x, layout.dropouts[i], static_cast<uint64_t>(layout.seeds[i])) : x;
}

}  // namespace

std::pair<at::Tensor, at::Tensor> low_rank_forward(const at::Tensor& x, const at::Tensor& W, const at::Tensor& b,
                                                   const at::Tensor& A, const at::Tensor& Bs,
                                                   const LowRankLayout& layout) {
  at::Tensor y = b.defined() && b.numel() > 0 ? at::addmm(b, x, W.t()) : at::mm(x, W.t());
  if (A.size(0) == 0) return {y, at::Tensor()};
  at::Tensor h;  // [N, sum r]
  if (!any_drops(layout)) {
    h = at::mm(x, A.t());
  } else {
    // Each path's block from its own input; a dropped input lives only until its product is taken.
    h = at::empty({x.size(0), A.size(0)}, x.options());
    int64_t rank_at = 0;
    for (size_t i = 0; i < layout.outs.size(); ++i) {
      const int64_t r = layout.ranks[i];
      if (r == 0) continue;
      h.narrow(1, rank_at, r).copy_(at::mm(path_input(x, layout, i), A.narrow(0, rank_at, r).t()));
      rank_at += r;
    }
  }
  y.addmm_(h, Bs.t());
  return {y, h};
}

at::Tensor low_rank_backward(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& W, const at::Tensor& A,
                             const at::Tensor& Bs, const at::Tensor& h, const LowRankLayout& layout,
                             const std::vector<at::Tensor>& params, bool need_dx) {
  const bool side = A.size(0) > 0, drops = side && any_drops(layout);
  const at::Tensor dh = side ? at::mm(dy, Bs) : at::Tensor();  // [N, sum r]: dy_i (scale_i B_i) per layer
  at::Tensor dx = need_dx ? at::mm(dy, W) : at::Tensor();
  if (need_dx && side && !drops) dx.addmm_(dh, A);
  size_t p = 0;
  int64_t out_at = 0, rank_at = 0;
  for (size_t i = 0; i < layout.outs.size(); ++i) {
    const int64_t out = layout.outs[i], r = layout.ranks[i];
    if (r > 0) {
      at::Tensor lora_A = params.at(p), lora_B = params.at(p + 1);
      p += 2;
      const at::Tensor dh_i = dh.narrow(1, rank_at, r);
      if (lora_A.requires_grad()) ops::accumulate_mm(lora_A.mutable_grad(), dh_i.t(), path_input(x, layout, i), 1.0);
      if (lora_B.requires_grad())
        ops::accumulate_mm(lora_B.mutable_grad(), dy.narrow(1, out_at, out).t(), h.narrow(1, rank_at, r),
                           layout.scales[i]);
      if (need_dx && drops) {
        const at::Tensor A_i = A.narrow(0, rank_at, r);
        if (layout.drops(i)) {
          ops::add_dropout_(dx, at::mm(dh_i, A_i), layout.dropouts[i], static_cast<uint64_t>(layout.seeds[i]));
        } else {
          dx.addmm_(dh_i, A_i);
        }
      }
      rank_at += r;
    }
    out_at += out;
  }
  return dx;
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::vector<int64_t> leading_with(at::IntArrayRef sizes, int64_t last) {
  std::vector<int64_t> out = sizes.vec();
  out.back() = last;
  return out;
}

void save_layout(AutogradContext* ctx, const std::string& key, const LowRankLayout& l) {
  ctx->saved_data[key + "outs"] = l.outs;
  ctx->saved_data[key + "ranks"] = l.ranks;
  ctx->saved_data[key + "scales"] = l.scales;
  ctx->saved_data[key + "dropouts"] = l.dropouts;
  ctx->saved_data[key + "seeds"] = l.seeds;
}

LowRankLayout load_layout(AutogradContext* ctx, const std::string& key) {
  LowRankLayout l;
  l.outs = ctx->saved_data[key + "outs"].toIntVector();
  l.ranks = ctx->saved_data[key + "ranks"].toIntVector();
  l.scales = ctx->saved_data[key + "scales"].toDoubleVector();
  l.dropouts = ctx->saved_data[key + "dropouts"].toDoubleVector();
  l.seeds = ctx->saved_data[key + "seeds"].toIntVector();
  return l;
}

// A stored tensor for an undefined one (libtorch 1.13's saved variables and function arguments want defined ones).
at::Tensor or_empty(const at::Tensor& t, const at::Tensor& like) { return t.defined() ? t : like.new_empty({0}); }

// The grouped layers: inputs x, the stacked weight and bias (empty without), the cast factors A and Bs, and the side
// paths' parameters (so that the node is recorded when only they train; their gradients go to .grad directly).
// Outputs: one contiguous tensor per layer.
class GroupFunction : public torch::autograd::Function<GroupFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& W, const at::Tensor& b,
                               const at::Tensor& A, const at::Tensor& Bs, at::TensorList params,
                               const LowRankLayout& layout) {
    const at::Tensor x2 = x.reshape({-1, x.size(-1)});
    const auto [y, h] = low_rank_forward(x2, W, b, A, Bs, layout);
    ctx->save_for_backward({x, W, A, Bs, or_empty(h, x)});
    ctx->saved_data["params"] = params.vec();
    save_layout(ctx, "", layout);
    // The outputs are column blocks of y, not copies (consumers such as ops::rope read strided rows).
    const at::Tensor y3 = y.view(leading_with(x.sizes(), y.size(1)));
    variable_list outs;
    int64_t at = 0;
    for (const int64_t out : layout.outs) {
      outs.push_back(y3.narrow(-1, at, out));
      at += out;
    }
    return outs;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const at::Tensor &x = s[0], &W = s[1];
    const LowRankLayout layout = load_layout(ctx, "");
    const int64_t n = x.numel() / x.size(-1);
    std::vector<at::Tensor> parts;
    for (size_t i = 0; i < grads.size(); ++i)
      parts.push_back(grads[i].defined() ? grads[i].reshape({n, layout.outs[i]})
                                         : at::zeros({n, layout.outs[i]}, x.options()));
    const at::Tensor dy = parts.size() == 1 ? parts[0] : at::cat(parts, 1);
    const std::vector<at::Tensor> params = ctx->saved_data["params"].toTensorVector();
    const at::Tensor dx = low_rank_backward(dy, x.reshape({n, x.size(-1)}), W, s[2], s[3], s[4], layout, params,
                                            ctx->needs_input_grad(0));
    variable_list out(6 + params.size());
    if (dx.defined()) out[0] = dx.view(x.sizes());
    return out;
  }
};

// The SwiGLU MLP: gu = gate_up(x) (both halves in one product), act = silu(gu[:, :I]) * gu[:, I:], y = down(act).
// Keeps x, gu (unless keep_product is false: backward forms it again) and the small side-path rows; backward forms
// act again.
class SwigluMlpFunction : public torch::autograd::Function<SwigluMlpFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& W_gu, const at::Tensor& A_gu,
                            const at::Tensor& Bs_gu, const at::Tensor& W_d, const at::Tensor& A_d,
                            const at::Tensor& Bs_d, at::TensorList params, const LowRankLayout& gu_layout,
                            const LowRankLayout& d_layout, int64_t gu_params, bool keep_product) {
    const at::Tensor x2 = x.reshape({-1, x.size(-1)});
    const auto [gu, h_gu] = low_rank_forward(x2, W_gu, at::Tensor(), A_gu, Bs_gu, gu_layout);
    const at::Tensor act = ops::swiglu_halves(gu);
    const auto [y, h_d] = low_rank_forward(act, W_d, at::Tensor(), A_d, Bs_d, d_layout);
    ctx->save_for_backward({x, keep_product ? gu : x.new_empty({0}), W_gu, A_gu, Bs_gu, or_empty(h_gu, x), W_d, A_d,
                            Bs_d, or_empty(h_d, x)});
    ctx->saved_data["keep_product"] = keep_product;
    ctx->saved_data["params"] = params.vec();
    ctx->saved_data["gu_params"] = gu_params;
    save_layout(ctx, "gu_", gu_layout);
    save_layout(ctx, "d_", d_layout);
    return y.view(leading_with(x.sizes(), W_d.size(0)));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const at::Tensor& x = s[0];
    const at::Tensor x2 = x.reshape({-1, x.size(-1)});
    const LowRankLayout gu_layout = load_layout(ctx, "gu_");
    // The product again when it was not kept: the same products (and the same dropout seeds) as forward.
    const at::Tensor gu = ctx->saved_data["keep_product"].toBool()
                              ? s[1]
                              : low_rank_forward(x2, s[2], at::Tensor(), s[3], s[4], gu_layout).first;
    const std::vector<at::Tensor> params = ctx->saved_data["params"].toTensorVector();
    const auto split = params.begin() + ctx->saved_data["gu_params"].toInt();
    const std::vector<at::Tensor> gu_params(params.begin(), split), d_params(split, params.end());
    const at::Tensor act = ops::swiglu_halves(gu);
    const at::Tensor dy = grads[0].reshape({gu.size(0), -1});
    const at::Tensor d_act =
        low_rank_backward(dy, act, s[6], s[7], s[8], s[9], load_layout(ctx, "d_"), d_params, true);
    const at::Tensor d_gu = ops::swiglu_halves_backward(gu, d_act);
    const at::Tensor dx =
        low_rank_backward(d_gu, x2, s[2], s[3], s[4], s[5], gu_layout, gu_params, ctx->needs_input_grad(0));
    variable_list out(11 + params.size());
    if (dx.defined()) out[0] = dx.view(x.sizes());
    return out;
  }
};

}  // namespace

bool LinearGroup::groupable(const std::vector<LinearImpl*>& layers, const at::Tensor& x) {
  if (!enabled || layers.empty() || !at::GradMode::is_enabled() || x.dim() == 0) return false;
  const LinearImpl& first = *layers.front();
  for (const LinearImpl* l : layers) {
    if (l->weight.requires_grad() || l->in_features != first.in_features ||
        l->weight.scalar_type() != x.scalar_type() || l->weight.device() != x.device() ||
        l->bias.defined() != first.bias.defined() || (l->bias.defined() && l->bias.requires_grad()))
      return false;
    if (l->adapter() && !l->adapter()->low_rank_path(x, *l)) return false;
  }
  return true;
}

bool LinearGroup::trains(const std::vector<LinearImpl*>& layers, const at::Tensor& x) {
  if (x.requires_grad()) return true;
  for (const LinearImpl* l : layers)
    if (l->adapter())
      if (const auto path = l->adapter()->low_rank_path(x, *l))
        if (path->lora_A.requires_grad() || path->lora_B.requires_grad()) return true;
  return false;
}

namespace {

// Whether `parts` are the consecutive row blocks of `stacked` (same dtype, device, contiguous).
bool stacked_from(const at::Tensor& stacked, const std::vector<at::Tensor>& parts) {
  if (!stacked.defined()) return false;
  int64_t offset = 0;
  for (const at::Tensor& p : parts) {
    if (!p.is_contiguous() || p.scalar_type() != stacked.scalar_type() || p.device() != stacked.device() ||
        p.data_ptr() != static_cast<char*>(stacked.data_ptr()) + offset * stacked.element_size())
      return false;
    offset += p.numel();
  }
  return offset == stacked.numel();
}

// Stacks the parameters into one tensor along dim 0 and makes each a view of its block.
at::Tensor restack(const std::vector<at::Tensor>& parts) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> data;
  for (const at::Tensor& p : parts) data.push_back(p.detach());
  at::Tensor stacked = at::cat(data, 0);
  int64_t row = 0;
  for (at::Tensor p : parts) {
    p.set_data(stacked.narrow(0, row, p.size(0)));
    row += p.size(0);
  }
  return stacked;
}

}  // namespace

LinearGroup::Prepared LinearGroup::prepare(const std::vector<LinearImpl*>& layers, const at::Tensor& x) {
  const at::ScalarType dtype = x.scalar_type();
  Prepared p;
  std::vector<at::Tensor> weights, biases;
  for (LinearImpl* l : layers) {
    weights.push_back(l->weight);
    if (l->bias.defined()) biases.push_back(l->bias);
  }
  if (!stacked_from(weight_, weights)) weight_ = restack(weights);
  if (biases.empty()) {
    bias_ = at::Tensor();
  } else if (!stacked_from(bias_, biases)) {
    bias_ = restack(biases);
  }
  p.weight = weight_;
  p.bias = bias_;

  std::vector<std::pair<const void*, int64_t>> source;
  std::vector<double> scales;
  std::vector<std::pair<at::Tensor, at::Tensor>> factors;  // per layer with a side path: lora_A, lora_B
  for (LinearImpl* l : layers) {
    p.layout.outs.push_back(l->out_features);
    std::optional<LowRankPath> path;
    if (l->adapter()) path = l->adapter()->low_rank_path(x, *l);
    if (!path) {
      p.layout.ranks.push_back(0);
      p.layout.scales.push_back(0.0);
      p.layout.dropouts.push_back(0.0);
      p.layout.seeds.push_back(0);
      continue;
    }
    p.layout.ranks.push_back(path->lora_A.size(0));
    p.layout.scales.push_back(path->scale);
    // A fresh mask for every forward; a recomputed checkpoint draws the same seed again (it restores the generator).
    p.layout.dropouts.push_back(path->dropout);
    p.layout.seeds.push_back(path->dropout > 0 ? static_cast<int64_t>(ops::dropout_seed()) : 0);
    p.params.push_back(path->lora_A);
    p.params.push_back(path->lora_B);
    for (const at::Tensor* t : {&path->lora_A, &path->lora_B}) source.emplace_back(t->data_ptr(), t->_version());
    scales.push_back(path->scale);
    factors.emplace_back(path->lora_A, path->lora_B);
  }
  int64_t total_out = 0, total_rank = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    total_out += p.layout.outs[i];
    total_rank += p.layout.ranks[i];
  }
  const auto options = weight_.options().dtype(dtype);
  const bool shapes_match = A_.defined() && A_.scalar_type() == dtype && A_.device() == weight_.device() &&
                            A_.size(0) == total_rank && A_.size(1) == weight_.size(1) && Bs_.size(0) == total_out;
  if (!shapes_match || source != factor_source_ || scales != factor_scales_) {
    torch::NoGradGuard no_grad;
    if (!shapes_match) {
      A_ = at::empty({total_rank, weight_.size(1)}, options);
      Bs_ = at::zeros({total_out, total_rank}, options);  // block diagonal: the blocks below are all it changes
    }
    std::vector<ops::CastScale> casts;
    int64_t out_at = 0, rank_at = 0;
    size_t f = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
      const int64_t r = p.layout.ranks[i];
      if (r > 0) {
        casts.push_back({factors[f].first.detach(), A_.narrow(0, rank_at, r), 1.0});
        casts.push_back(
            {factors[f].second.detach(), Bs_.narrow(0, out_at, p.layout.outs[i]).narrow(1, rank_at, r), scales[f]});
        ++f;
        rank_at += r;
      }
      out_at += p.layout.outs[i];
    }
    ops::cast_scale(casts);
    // Written in place (by a kernel that autograd does not see): move the version counters, so that a graph still
    // holding the old factors for backward fails loudly instead of using the new ones.
    torch::autograd::impl::bump_version(A_);
    torch::autograd::impl::bump_version(Bs_);
    factor_source_ = std::move(source);
    factor_scales_ = std::move(scales);
  }
  p.A = A_;
  p.Bs = Bs_;
  return p;
}

std::vector<at::Tensor> LinearGroup::forward(const at::Tensor& x, const std::vector<LinearImpl*>& layers) {
  VLM_CHECK(groupable(layers, x) && x.size(-1) == layers.front()->in_features,
            "LinearGroup::forward: these layers cannot run as one group for an input of shape ", x.sizes());
  const Prepared p = prepare(layers, x);
  return GroupFunction::apply(x, p.weight, or_empty(p.bias, p.weight), p.A, p.Bs, at::TensorList(p.params),
                              p.layout);
}

at::Tensor swiglu_mlp(const at::Tensor& x, LinearGroup& gate_up, const std::vector<LinearImpl*>& gate_up_layers,
                      LinearGroup& down, LinearImpl* down_layer, bool keep_product) {
  VLM_CHECK(gate_up_layers.size() == 2 && gate_up_layers[0]->out_features == gate_up_layers[1]->out_features &&
                down_layer->in_features == gate_up_layers[0]->out_features && !gate_up_layers[0]->bias.defined() &&
                !down_layer->bias.defined(),
            "swiglu_mlp: expected gate and up of one width without biases, and a down projection from that width");
  const LinearGroup::Prepared gu = gate_up.prepare(gate_up_layers, x);
  const LinearGroup::Prepared d = down.prepare({down_layer}, x);
  std::vector<at::Tensor> params = gu.params;
  params.insert(params.end(), d.params.begin(), d.params.end());
  return SwigluMlpFunction::apply(x, gu.weight, gu.A, gu.Bs, d.weight, d.A, d.Bs, at::TensorList(params), gu.layout,
                                  d.layout, static_cast<int64_t>(gu.params.size()), keep_product);
}

}  // namespace vlm::nn
