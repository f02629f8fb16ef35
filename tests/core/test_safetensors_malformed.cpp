// Hostile and malformed safetensors files: each is rejected with an error that names the file and the rule.
#include <gtest/gtest.h>


#include "core/error.h"
#include "core/safetensors.h"
#include "util/test_util.h"

namespace st = vlm::safetensors;
using vlm::test::raw_safetensors;

namespace {

struct Case {
  const char* name;
  std::string bytes;
  const char* expected;  // a substring of the error message
};

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

std::string u64(uint64_t n) { return std::string(reinterpret_cast<const char*>(&n), 8); }

std::vector<Case> cases() {
  const std::string ok4 = entry("a", "F32", "[1]", "[0,4]");
  return {
      {"empty_file", "", "too short for the 8-byte header length"},
      {"five_bytes", "\x05\0\0\0\0", "too short for the 8-byte header length"},
      {"header_beyond_file", u64(64) + "{}", "extends beyond the end of the file"},
      {"header_over_100MB", u64(100'000'001) + "{}", "exceeds the limit of 100000000 bytes"},
      {"header_huge_u64", u64(~0ull) + "{}", "exceeds the limit"},
      {"invalid_utf8", raw_safetensors("{\"\xff\xfe\":1}", ""), "not valid UTF-8"},
      {"overlong_utf8", raw_safetensors("{\"\xc0\xaf\":1}", ""), "not valid UTF-8"},
      {"invalid_json", raw_safetensors("{\"a\": {", ""), "not valid JSON"},
      {"empty_header", raw_safetensors("", ""), "not valid JSON"},
      {"header_is_array", raw_safetensors("[1,2]", ""), "must be a JSON object"},
      {"duplicate_names", raw_safetensors("{" + ok4 + "," + entry("a", "F32", "[1]", "[4,8]") + "}",
                                          std::string(8, '\0')),
       "duplicate key \"a\""},
      {"duplicate_field", raw_safetensors("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],"
                                          "\"data_offsets\":[0,4]}}",
                                          std::string(4, '\0')),
       "duplicate key \"dtype\""},
      {"overlapping_offsets",
       raw_safetensors("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[1]", "[4,8]") + "}",
                       std::string(8, '\0')),
       "overlap the previous tensor"},
      {"gap", raw_safetensors("{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[1]", "[8,12]") + "}",
                              std::string(12, '\0')),
       "gap in the data buffer"},
      {"leading_gap", raw_safetensors("{" + entry("a", "F32", "[1]", "[4,8]") + "}", std::string(8, '\0')),
       "gap in the data buffer: bytes [0, 4)"},
      {"trailing_bytes", raw_safetensors("{" + ok4 + "}", std::string(9, '\0')), "5 trailing bytes"},
      {"offsets_beyond_buffer", raw_safetensors("{" + entry("a", "F32", "[4]", "[0,16]") + "}", std::string(8, '\0')),
       "lies beyond the data buffer"},
      {"element_count_overflow",
       raw_safetensors("{" + entry("a", "U8", "[4294967296,4294967296]", "[0,0]") + "}", ""),
       "element count overflows"},
      {"byte_size_overflow",
       raw_safetensors("{" + entry("a", "F64", "[4611686018427387904]", "[0,0]") + "}", ""), "byte size overflows"},
      {"size_mismatch", raw_safetensors("{" + entry("a", "F32", "[2]", "[0,4]") + "}", std::string(4, '\0')),
       "size mismatch"},
      {"unknown_dtype", raw_safetensors("{" + entry("a", "F12", "[1]", "[0,4]") + "}", std::string(4, '\0')),
       "unknown dtype \"F12\""},
      {"dtype_not_string", raw_safetensors("{\"a\":{\"dtype\":3,\"shape\":[1],\"data_offsets\":[0,4]}}",
                                           std::string(4, '\0')),
       "\"dtype\" must be a string"},
      {"negative_shape", raw_safetensors("{" + entry("a", "F32", "[-1]", "[0,4]") + "}", std::string(4, '\0')),
       "shape entries must be non-negative integers, got -1"},
      {"fractional_shape", raw_safetensors("{" + entry("a", "F32", "[1.5]", "[0,4]") + "}", std::string(4, '\0')),
       "shape entries must be non-negative integers, got 1.5"},
      {"string_shape", raw_safetensors("{" + entry("a", "F32", "[\"1\"]", "[0,4]") + "}", std::string(4, '\0')),
       "shape entries must be non-negative integers, got a string"},
      {"shape_not_list", raw_safetensors("{" + entry("a", "F32", "4", "[0,4]") + "}", std::string(4, '\0')),
       "\"shape\" must be a list"},
      {"begin_after_end", raw_safetensors("{" + entry("a", "F32", "[0]", "[4,0]") + "}", std::string(4, '\0')),
       "begin 4 is after end 0"},
      {"offsets_wrong_arity", raw_safetensors("{" + entry("a", "F32", "[1]", "[0,4,8]") + "}", std::string(4, '\0')),
       "must be [begin, end]"},
      {"negative_offset", raw_safetensors("{" + entry("a", "F32", "[1]", "[-4,0]") + "}", std::string(4, '\0')),
       "must be [begin, end]"},
      {"missing_dtype", raw_safetensors("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", std::string(4, '\0')),
       "missing \"dtype\""},
      {"missing_shape", raw_safetensors("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", std::string(4, '\0')),
       "missing \"shape\""},
      {"missing_offsets", raw_safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", std::string(4, '\0')),
       "missing \"data_offsets\""},
      {"entry_not_object", raw_safetensors("{\"a\":[1,2]}", ""), "expected an object with dtype"},
      {"metadata_not_object", raw_safetensors("{\"__metadata__\":[\"x\"]}", ""), "__metadata__ must be an object"},
      {"metadata_value_not_string", raw_safetensors("{\"__metadata__\":{\"k\":1}}", ""),
       "__metadata__ value for \"k\" must be a string"},
      {"deep_nesting", raw_safetensors("{\"a\":{\"shape\":[[[[[1]]]]]}}", ""), "nests deeper"},
      {"very_deep_nesting", raw_safetensors(std::string(100000, '[') + std::string(100000, ']'), ""), "nests deeper"},
      {"f4_partial_byte", raw_safetensors("{" + entry("a", "F4", "[3]", "[0,1]") + "}", std::string(1, '\0')),
       "do not fill whole bytes"},
  };
}

}  // namespace

class Malformed : public ::testing::TestWithParam<Case> {};

TEST_P(Malformed, IsRejectedWithItsRule) {
  const Case& c = GetParam();
  try {
    st::parse(reinterpret_cast<const uint8_t*>(c.bytes.data()), c.bytes.size(), "bad.safetensors");
    FAIL() << c.name << ": accepted";
  } catch (const vlm::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("bad.safetensors: ", 0), 0u) << msg;
    EXPECT_NE(msg.find(c.expected), std::string::npos) << c.name << ": got: " << msg;
  }
}

INSTANTIATE_TEST_SUITE_P(Safetensors, Malformed, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

// The same through a real file: the error names the path.
TEST(MalformedFile, ErrorNamesThePath) {
  const std::string dir = vlm::test::temp_dir("malformed");
  const std::string path = dir + "/broken.safetensors";
  vlm::test::write_bytes(path, raw_safetensors("{\"a\":", ""));
  try {
    st::File::open(path);
    FAIL();
  } catch (const vlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": header is not valid JSON"), std::string::npos) << e.what();
  }
  vlm::test::remove_tree(dir);
}

// Sharded checkpoints: broken indexes and shards.
class MalformedIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = vlm::test::temp_dir("index");
    const float v[2] = {1, 2};
    st::write(dir + "/s1.safetensors", {{"a", st::DType::kF32, {1}, v, 4}, {"b", st::DType::kF32, {1}, v + 1, 4}});
  }
  void TearDown() override { vlm::test::remove_tree(dir); }
  std::string open_error(const std::string& index) {
    vlm::test::write_bytes(dir + "/model.safetensors.index.json", index);
    try {
      st::Checkpoint::open(dir);
    } catch (const vlm::Error& e) {
      return e.what();
    }
    return "accepted";
  }
  std::string dir;
};

TEST_F(MalformedIndex, MissingShard) {
  EXPECT_NE(open_error(R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})")
                .find("shard \"s2.safetensors\" (named for tensor \"b\") does not exist"),
            std::string::npos);
}
TEST_F(MalformedIndex, TensorAbsentFromItsShard) {
  EXPECT_NE(open_error(R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors", "c": "s1.safetensors"}})")
                .find("names tensor \"c\" in shard \"s1.safetensors\", which does not hold it"),
            std::string::npos);
}
TEST_F(MalformedIndex, ShardTensorMissingFromIndex) {
  EXPECT_NE(open_error(R"({"weight_map": {"a": "s1.safetensors"}})")
                .find("holds tensor \"b\", which the index does not name"),
            std::string::npos);
}
TEST_F(MalformedIndex, PathTraversalInShardName) {
  EXPECT_NE(open_error(R"({"weight_map": {"a": "../s1.safetensors"}})").find("must be a plain file name"),
            std::string::npos);
  EXPECT_NE(open_error(R"({"weight_map": {"a": "/etc/passwd"}})").find("must be a plain file name"),
            std::string::npos);
}
TEST_F(MalformedIndex, MissingWeightMap) {
  EXPECT_NE(open_error(R"({"metadata": {}})").find("missing \"weight_map\""), std::string::npos);
}
TEST_F(MalformedIndex, WeightMapValueNotString) {
  EXPECT_NE(open_error(R"({"weight_map": {"a": 3}})").find("weight_map[\"a\"] must be a file name"),
            std::string::npos);
}
TEST_F(MalformedIndex, InvalidJsonNamesLineAndColumn) {
  const std::string err = open_error("{\n  \"weight_map\": {\n    \"a\": \"s1.safetensors\",\n  }\n}");
  EXPECT_NE(err.find("model.safetensors.index.json:4:"), std::string::npos) << err;
}
TEST_F(MalformedIndex, FolderWithoutWeights) {
  const std::string empty = vlm::test::temp_dir("noweights");
  try {
    st::Checkpoint::open(empty);
    FAIL();
  } catch (const vlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no model.safetensors or model.safetensors.index.json"), std::string::npos);
  }
  vlm::test::remove_tree(empty);
  EXPECT_THROW(st::Checkpoint::open(dir + "/does-not-exist"), vlm::Error);
}
