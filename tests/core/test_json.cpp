#include <gtest/gtest.h>

#include "core/error.h"
#include "core/json.h"

using vlm::Json;
using vlm::JsonObject;

namespace {
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const vlm::Error& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(Json, SyntaxErrorNamesLineAndColumn) {
  const std::string err = error_of([] { vlm::parse_json("{\n  \"a\": 1,\n  \"b\": ]\n}", "cfg.json"); });
  EXPECT_EQ(err.rfind("cfg.json:3:8: invalid JSON", 0), 0u) << err;
}

TEST(Json, NumberBeyondDoubleRangeIsAnError) {
  const std::string err = error_of([] { vlm::parse_json("{\"a\": 1e400}", "cfg.json"); });
  EXPECT_EQ(err.rfind("cfg.json", 0), 0u) << err;
  EXPECT_NE(err.find("invalid JSON"), std::string::npos) << err;
}

TEST(Json, TypedGettersNameTheFieldPath) {
  const Json j = vlm::parse_json(R"({"a": 1, "s": "x", "f": 1.5, "n": null, "o": {"k": "v", "l": [1, "2"]}})", "c.json");
  const JsonObject root(j, "c.json");
  EXPECT_EQ(root.get<int64_t>("a"), 1);
  EXPECT_EQ(root.get<double>("a"), 1.0);  // integers are numbers
  EXPECT_EQ(root.get<std::string>("s"), "x");
  EXPECT_EQ(root.get<int64_t>("n", 7), 7);  // null means default
  EXPECT_FALSE(root.has("n"));
  EXPECT_EQ(root.get<int64_t>("missing", 3), 3);
  EXPECT_EQ(error_of([&] { root.get<int64_t>("missing"); }), "c.json: missing: required field is missing");
  EXPECT_EQ(error_of([&] { root.get<int64_t>("s"); }), "c.json: s: expected an integer, got a string");
  EXPECT_EQ(error_of([&] { root.get<int64_t>("f"); }), "c.json: f: expected an integer, got a number");
  EXPECT_EQ(error_of([&] { root.get<bool>("a"); }), "c.json: a: expected a boolean, got an integer");
  const JsonObject o = root.object("o");
  EXPECT_EQ(o.get<std::string>("k"), "v");
  EXPECT_EQ(error_of([&] { o.get<std::vector<int64_t>>("l"); }), "c.json: o.l[1]: expected an integer, got a string");
  EXPECT_EQ(error_of([&] { root.object("s"); }), "c.json: s: expected an object, got a string");
  EXPECT_EQ(root.first_present({"x", "s", "a"}), "s");
}

TEST(Json, ThirtyTwoBitRange) {
  const Json j = vlm::parse_json(R"({"big": 4294967296})", "c.json");
  const JsonObject root(j, "c.json");
  EXPECT_EQ(root.get<int64_t>("big"), 4294967296);
  EXPECT_NE(error_of([&] { root.get<int>("big"); }).find("expected an integer (32-bit)"), std::string::npos);
}

TEST(Json, TopLevelMustBeAnObject) {
  const Json j = vlm::parse_json("[1]", "c.json");
  EXPECT_EQ(error_of([&] { JsonObject o(j, "c.json"); }), "c.json: the top level: expected an object, got an array");
}

TEST(Json, ReadMissingFileNamesIt) {
  EXPECT_NE(error_of([] { vlm::read_json_file("/nonexistent/config.json"); }).find("/nonexistent/config.json: cannot open"),
            std::string::npos);
}
