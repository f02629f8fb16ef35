// safetensors <-> torch: zero-copy reads that keep the mapping alive, every torch dtype round trip, and the
// reference-written dtypes fixture (written by Python safetensors, with float64 decodes from torch).
#include <gtest/gtest.h>


#include <torch/torch.h>

#include "core/error.h"
#include "util/test_util.h"
#include "core/tensor_io.h"
#include "core/torch_compat.h"

namespace st = vlm::safetensors;

TEST(TensorIO, RoundTripTorchDtypes) {
  const std::string dir = vlm::test::temp_dir("tio");
  std::vector<std::pair<std::string, at::Tensor>> in;
  in.emplace_back("f32", torch::randn({3, 5}));
  in.emplace_back("f64", torch::randn({2, 2}, torch::kDouble));
  in.emplace_back("f16", torch::randn({7}).to(torch::kHalf));
  in.emplace_back("bf16", torch::randn({4, 1, 3}).to(torch::kBFloat16));
  in.emplace_back("i64", torch::arange(-5, 5, torch::kLong));
  in.emplace_back("i32", torch::arange(0, 9, torch::kInt).reshape({3, 3}));
  in.emplace_back("i16", torch::arange(-3, 3, torch::kShort));
  in.emplace_back("i8", torch::arange(-3, 3, torch::kChar));
  in.emplace_back("u8", torch::arange(0, 255, torch::kByte));
  in.emplace_back("bool", torch::rand({5}) > 0.5);
  in.emplace_back("scalar", torch::tensor(2.5));
  in.emplace_back("empty", torch::empty({0, 3}));
  in.emplace_back("noncontig", torch::randn({4, 6}).t());
  const std::string path = dir + "/t.safetensors";
  vlm::save_safetensors(path, in, {{"format", "pt"}});
  auto f = st::File::open(path);
  for (const auto& [name, t] : in) {
    const at::Tensor back = vlm::to_torch(*f, f->at(name));
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(back.sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(back, t)) << name;
  }
  vlm::test::remove_tree(dir);
}

TEST(TensorIO, SaveThenReadHeader) {
  const std::string dir = vlm::test::temp_dir("tio1");
  vlm::save_safetensors(dir + "/a.safetensors", {{"x", torch::ones({2, 3})}});
  auto f = st::File::open(dir + "/a.safetensors");
  EXPECT_EQ(f->at("x").shape, (std::vector<int64_t>{2, 3}));
  vlm::test::remove_tree(dir);
}

TEST(TensorIO, WriteThenLoadTensor) {
  const std::string dir = vlm::test::temp_dir("tio2");
  const float v[3] = {1, 2, 3};
  st::write(dir + "/a.safetensors", {{"x", st::DType::kF32, {3}, v, 12}});
  auto f = st::File::open(dir + "/a.safetensors");
  const at::Tensor t = vlm::to_torch(*f, f->at("x"));
  EXPECT_EQ(t[2].item<float>(), 3.f);
  vlm::test::remove_tree(dir);
}

TEST(TensorIO, ZeroCopyTensorOutlivesTheFileObject) {
  const std::string dir = vlm::test::temp_dir("tio0");
  const std::string path = dir + "/t.safetensors";
  const at::Tensor x = torch::randn({64, 64});
  vlm::save_safetensors(path, {{"x", x}});
  at::Tensor t;
  const void* mapped = nullptr;
  {
    auto f = st::File::open(path);
    t = vlm::to_torch(*f, f->at("x"));
    mapped = f->data(f->at("x"));
  }
  EXPECT_EQ(t.data_ptr(), mapped);  // no copy
  vlm::test::remove_tree(dir);  // the mapping stays valid after unlink
  EXPECT_TRUE(torch::equal(t, x));
  t.mul_(2);  // private copy-on-write mapping: writable
  EXPECT_TRUE(torch::allclose(t, x * 2));
}

TEST(TensorIO, ReferenceWrittenDtypes) {
  const std::string path = vlm::test::fixture("dtypes.safetensors");
  const auto ck = st::Checkpoint::open(path);
  int compared = 0;
  for (const auto& [name, e] : ck.tensors()) {
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".f64") == 0) continue;
    SCOPED_TRACE(name);
    const at::Tensor t = vlm::to_torch(*e.file, *e.info);
    const at::Tensor expected = vlm::to_torch(ck, name + ".f64");
    ASSERT_EQ(t.sizes(), expected.sizes());
    const at::Tensor got = t.to(torch::kDouble);
    EXPECT_TRUE(torch::equal(got.isnan(), expected.isnan()));
    EXPECT_TRUE(torch::equal(got.nan_to_num(0), expected.nan_to_num(0)));
    ++compared;
  }
  EXPECT_GE(compared, 10);
}

TEST(TensorIO, UnsupportedTorchDtypeIsAnError) {
  EXPECT_THROW(vlm::dtype_of(at::kComplexDouble), vlm::Error);
}

TEST(Compat, SdpaMatchesExplicitSoftmax) {
  torch::manual_seed(0);
  const at::Tensor q = torch::randn({2, 3, 5, 8}), k = torch::randn({2, 3, 7, 8}), v = torch::randn({2, 3, 7, 8});
  const double scale = 1.0 / std::sqrt(8.0);
  const at::Tensor ref = torch::matmul(torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * scale, -1), v);
  EXPECT_TRUE(torch::allclose(vlm::compat::scaled_dot_product_attention(q, k, v, std::nullopt, false, scale), ref,
                              1e-5, 1e-5));
  const at::Tensor qc = torch::randn({1, 2, 6, 4}), kc = torch::randn({1, 2, 6, 4}), vc = torch::randn({1, 2, 6, 4});
  const at::Tensor mask = torch::ones({6, 6}, torch::kBool).tril();
  const at::Tensor causal_ref = vlm::compat::scaled_dot_product_attention(qc, kc, vc, mask, false, 0.5);
  EXPECT_TRUE(torch::allclose(vlm::compat::scaled_dot_product_attention(qc, kc, vc, std::nullopt, true, 0.5),
                              causal_ref, 1e-5, 1e-5));
}
