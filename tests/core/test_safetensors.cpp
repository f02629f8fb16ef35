// safetensors round trips: every dtype, 0-d and empty tensors, metadata, sharded folders, atomic writes.
#include <gtest/gtest.h>

#include <numeric>
#include <cstring>
#include <random>

#include "core/error.h"
#include "core/safetensors.h"
#include "util/test_util.h"

namespace st = vlm::safetensors;
using vlm::test::temp_dir;

namespace {

const st::DType kAll[] = {st::DType::kBool,    st::DType::kU8,      st::DType::kI8,      st::DType::kI16,
                          st::DType::kU16,     st::DType::kF16,     st::DType::kBF16,    st::DType::kI32,
                          st::DType::kU32,     st::DType::kF32,     st::DType::kF64,     st::DType::kI64,
                          st::DType::kU64,     st::DType::kC64,     st::DType::kF8_E5M2, st::DType::kF8_E4M3,
                          st::DType::kF8_E8M0, st::DType::kF4,      st::DType::kF6_E2M3, st::DType::kF6_E3M2};

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

}  // namespace

TEST(Safetensors, DTypeNamesRoundTrip) {
  for (st::DType d : kAll) {
    auto back = st::dtype_from_name(st::dtype_name(d));
    ASSERT_TRUE(back.has_value()) << st::dtype_name(d);
    EXPECT_EQ(*back, d);
  }
  EXPECT_FALSE(st::dtype_from_name("F12").has_value());
  EXPECT_FALSE(st::dtype_from_name("f32").has_value());  // names are case-sensitive
}

TEST(Safetensors, EveryDTypeRoundTripsThroughAFile) {
  const std::string dir = temp_dir("dtypes");
  std::vector<std::string> payloads;
  std::vector<st::TensorView> views;
  uint32_t seed = 1;
  for (st::DType d : kAll) {
    // 8 elements fill whole bytes for every dtype, 4- and 6-bit ones included.
    const std::vector<int64_t> shape = {2, 4};
    payloads.push_back(random_bytes(static_cast<size_t>(8 * st::dtype_bits(d) / 8), seed++));
  }
  size_t i = 0;
  for (st::DType d : kAll) {
    views.push_back({std::string("t_") + st::dtype_name(d), d, {2, 4}, payloads[i].data(), payloads[i].size()});
    ++i;
  }
  const std::string path = dir + "/all.safetensors";
  st::write(path, views, {{"format", "pt"}, {"note", "ünïcödé"}});

  auto f = st::File::open(path);
  ASSERT_EQ(f->tensors().size(), views.size());
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->metadata().at("note"), "ünïcödé");
  for (const auto& v : views) {
    const st::TensorInfo& t = f->at(v.name);
    EXPECT_EQ(t.dtype, v.dtype);
    EXPECT_EQ(t.shape, v.shape);
    EXPECT_EQ(t.numel, 8u);
    ASSERT_EQ(t.nbytes(), v.nbytes);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(f->data(t)), t.nbytes()),
              std::string(static_cast<const char*>(v.data), v.nbytes))
        << v.name;
    // Tensors are laid out so that each is aligned to its element size.
    const size_t align = std::max(1, st::dtype_bits(t.dtype) / 8);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(f->data(t)) % align, 0u) << v.name;
  }
  vlm::test::remove_tree(dir);
}

TEST(Safetensors, ZeroDimensionalAndEmptyTensors) {
  const float scalar = 3.5f;
  const std::vector<st::TensorView> views = {
      {"scalar", st::DType::kF32, {}, &scalar, 4},
      {"empty", st::DType::kF32, {0, 7}, nullptr, 0},
      {"empty2", st::DType::kI64, {3, 0}, nullptr, 0},
  };
  const std::string bytes = st::serialize(views);
  const st::Header h = st::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem");
  ASSERT_EQ(h.tensors.size(), 3u);
  for (const auto& t : h.tensors) {
    if (t.name == "scalar") {
      EXPECT_TRUE(t.shape.empty());
      EXPECT_EQ(t.numel, 1u);
      float v;
      std::memcpy(&v, bytes.data() + h.data_offset + t.begin, 4);
      EXPECT_EQ(v, 3.5f);
    } else {
      EXPECT_EQ(t.numel, 0u);
      EXPECT_EQ(t.nbytes(), 0u);
    }
  }
}

TEST(Safetensors, HeaderIsPaddedToEightBytesAndWhitespaceIsAccepted) {
  const int32_t v = 7;
  const std::string bytes = st::serialize({{"a", st::DType::kI32, {1}, &v, 4}});
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  // A header with leading and trailing whitespace is valid.
  const std::string raw = vlm::test::raw_safetensors(
      "  {\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}   ", std::string(4, '\1'));
  EXPECT_NO_THROW(st::parse(reinterpret_cast<const uint8_t*>(raw.data()), raw.size(), "mem"));
}

TEST(Safetensors, EmptyFileWithNoTensors) {
  const std::string bytes = st::serialize({});
  const st::Header h = st::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem");
  EXPECT_TRUE(h.tensors.empty());
}

TEST(Safetensors, WriteRejectsInconsistentViews) {
  const float x[4] = {};
  EXPECT_THROW(st::serialize({{"a", st::DType::kF32, {3}, x, 16}}), vlm::Error);                 // size
  EXPECT_THROW(st::serialize({{"a", st::DType::kF32, {1}, x, 4}, {"a", st::DType::kF32, {1}, x, 4}}),
               vlm::Error);                                                                        // duplicate
  EXPECT_THROW(st::serialize({{"__metadata__", st::DType::kF32, {1}, x, 4}}), vlm::Error);        // reserved
  EXPECT_THROW(st::serialize({{"a", st::DType::kF32, {-1}, x, 4}}), vlm::Error);                  // negative
  EXPECT_THROW(st::serialize({{"a", st::DType::kF4, {3}, x, 1}}), vlm::Error);                    // 12 bits
}

TEST(Safetensors, AtomicWriteReplacesAndLeavesNoTemporaryFiles) {
  const std::string dir = temp_dir("atomic");
  const std::string path = dir + "/m.safetensors";
  const float a = 1, b = 2;
  st::write(path, {{"x", st::DType::kF32, {1}, &a, 4}});
  st::write(path, {{"y", st::DType::kF32, {1}, &b, 4}});
  auto f = st::File::open(path);
  EXPECT_EQ(f->find("x"), nullptr);
  ASSERT_NE(f->find("y"), nullptr);
  EXPECT_EQ(vlm::test::list_dir(dir), std::vector<std::string>{path});
  // A failed write (invalid view) leaves the previous file intact.
  EXPECT_THROW(st::write(path, {{"z", st::DType::kF32, {2}, &a, 4}}), vlm::Error);
  EXPECT_NE(st::File::open(path)->find("y"), nullptr);
  vlm::test::remove_tree(dir);
}

TEST(Safetensors, ShardedFolderThroughIndex) {
  const std::string dir = temp_dir("sharded");
  std::vector<float> a(6), b(4), c(2);
  std::iota(a.begin(), a.end(), 0.f);
  std::iota(b.begin(), b.end(), 10.f);
  std::iota(c.begin(), c.end(), 20.f);
  st::write(dir + "/model-00001-of-00002.safetensors",
            {{"w.a", st::DType::kF32, {2, 3}, a.data(), 24}, {"w.b", st::DType::kF32, {4}, b.data(), 16}});
  st::write(dir + "/model-00002-of-00002.safetensors", {{"w.c", st::DType::kF32, {2}, c.data(), 8}});
  vlm::test::write_bytes(dir + "/model.safetensors.index.json", R"({
    "metadata": {"total_size": 48},
    "weight_map": {"w.a": "model-00001-of-00002.safetensors", "w.b": "model-00001-of-00002.safetensors",
                   "w.c": "model-00002-of-00002.safetensors"}})");
  for (const std::string& path : {dir, dir + "/model.safetensors.index.json"}) {
    const auto ck = st::Checkpoint::open(path);
    EXPECT_EQ(ck.files().size(), 2u);
    ASSERT_EQ(ck.tensors().size(), 3u);
    EXPECT_EQ(ck.metadata().at("total_size"), "48");
    const auto& e = ck.at("w.c");
    float v[2];
    std::memcpy(v, e.file->data(*e.info), 8);
    EXPECT_EQ(v[0], 20.f);
    EXPECT_EQ(v[1], 21.f);
    EXPECT_EQ(ck.folder(), dir);
  }
  vlm::test::remove_tree(dir);
}

TEST(Safetensors, SingleFileFolderAndTensorsAreZeroCopy) {
  const std::string dir = temp_dir("single");
  const double x[3] = {1.5, 2.5, 3.5};
  st::write(dir + "/model.safetensors", {{"x", st::DType::kF64, {3}, x, 24}});
  const auto ck = st::Checkpoint::open(dir);
  const auto& e = ck.at("x");
  const uint8_t* p = e.file->data(*e.info);
  const uint8_t* base = e.file->mapping()->data();
  EXPECT_GE(p, base);
  EXPECT_LT(p, base + e.file->mapping()->size());
  EXPECT_THROW(ck.at("nope"), vlm::Error);
  vlm::test::remove_tree(dir);
}
