// load_dataset: every accepted line form normalises to the chat-format messages of dataset.h (the expected
// JSON below is the format's specification), and the file-level rules (blank lines, skipping, missing files).
#include <string>

#include "train/dataset_test_util.h"

namespace vlm::train::test {
namespace {

using DatasetForms = DatasetFolder;
using DatasetFile = DatasetFolder;

const char* const kOneImageQa = R"([
  {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many circles?"}]},
  {"role": "assistant", "content": [{"type": "text", "text": "3"}]}])";

DatasetSample only_sample(const Dataset& d) {
  EXPECT_EQ(d.samples.size(), 1u);
  return d.samples.at(0);
}

TEST_F(DatasetForms, MessagesWithImageList) {
  write(
      {R"({"messages": [{"role": "user", "content": [{"type": "image"},)"
       R"( {"type": "text", "text": "How many circles?"}]},)"
       R"( {"role": "assistant", "content": [{"type": "text", "text": "3"}]}], "images": ["imgs/a.png"]})"});
  const DatasetSample s = only_sample(load_dataset(path()));
  EXPECT_EQ(s.messages, Json::parse(kOneImageQa));
  EXPECT_EQ(s.images, std::vector<std::string>{img("a.png")});
  EXPECT_EQ(s.origin, path() + ":1");
}

TEST_F(DatasetForms, PlainStringContentBecomesOneTextPart) {
  write({R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},)"
         R"( {"role": "assistant", "content": "Hello"}]})"});
  const DatasetSample s = only_sample(load_dataset(path()));
  EXPECT_EQ(s.messages, Json::parse(R"([
    {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
    {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]}])"));
  EXPECT_TRUE(s.images.empty());
}

TEST_F(DatasetForms, InlineImagePathsMoveToTheImageList) {
  write({R"({"messages": [{"role": "user", "content": [{"type": "image", "image": "imgs/b.png"},)"
         R"( {"type": "text", "text": "How many circles?"}]}, {"role": "assistant", "content": "3"}]})"});
  const DatasetSample s = only_sample(load_dataset(path()));
  EXPECT_EQ(s.messages, Json::parse(kOneImageQa));
  EXPECT_EQ(s.images, std::vector<std::string>{img("b.png")});
}

TEST_F(DatasetForms, ShorthandWithOneImage) {
  write({R"({"image": "imgs/c.png", "question": "How many circles?", "answer": "3"})"});
  const DatasetSample s = only_sample(load_dataset(path()));
  EXPECT_EQ(s.messages, Json::parse(kOneImageQa));
  EXPECT_EQ(s.images, std::vector<std::string>{img("c.png")});
}

TEST_F(DatasetForms, ShorthandWithImagesAndSystem) {
  write({R"({"system": "Count.", "images": ["imgs/a.png", "imgs/b.png"], "question": "Q?", "answer": "A"})"});
  const DatasetSample s = only_sample(load_dataset(path()));
  EXPECT_EQ(s.messages, Json::parse(R"([
    {"role": "system", "content": [{"type": "text", "text": "Count."}]},
    {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Q?"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "A"}]}])"));
  EXPECT_EQ(s.images, (std::vector<std::string>{img("a.png"), img("b.png")}));
}

TEST_F(DatasetForms, ShorthandWithoutImages) {
  write({R"({"question": "2+2?", "answer": "4"})"});
  const DatasetSample s = only_sample(load_dataset(path()));
  EXPECT_EQ(s.messages, Json::parse(R"([
    {"role": "user", "content": [{"type": "text", "text": "2+2?"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "4"}]}])"));
  EXPECT_TRUE(s.images.empty());
}

TEST_F(DatasetForms, SeveralTurnsAndImagesKeepTheirOrder) {
  write({R"({"messages": [)"
         R"({"role": "user", "content": [{"type": "text", "text": "Compare"}, {"type": "image"},)"
         R"( {"type": "image"}]},)"
         R"({"role": "assistant", "content": "left"},)"
         R"({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "And this?"}]},)"
         R"({"role": "assistant", "content": [{"type": "text", "text": "right"}]}],)"
         R"( "images": ["imgs/c.png", "imgs/a.png", "imgs/b.png"]})"});
  const DatasetSample s = only_sample(load_dataset(path()));
  EXPECT_EQ(s.messages, Json::parse(R"([
    {"role": "user", "content": [{"type": "text", "text": "Compare"}, {"type": "image"}, {"type": "image"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "left"}]},
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "And this?"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "right"}]}])"));
  EXPECT_EQ(s.images, (std::vector<std::string>{img("c.png"), img("a.png"), img("b.png")}));
}

TEST_F(DatasetForms, NullsAndExtraKeysAreIgnored) {
  // Rows exported from HF datasets carry null for fields a part does not use, and extra columns.
  write({R"({"id": 7, "messages": [{"role": "user", "name": "x", "content": [{"type": "image", "text": null,)"
         R"( "index": 0}, {"type": "text", "text": "How many circles?", "image": null}]},)"
         R"( {"role": "assistant", "content": [{"type": "text", "text": "3"}]}],)"
         R"( "images": ["imgs/a.png"], "image": null})"});
  const DatasetSample s = only_sample(load_dataset(path()));
  EXPECT_EQ(s.messages, Json::parse(kOneImageQa));
  EXPECT_EQ(s.images, std::vector<std::string>{img("a.png")});
}

TEST_F(DatasetForms, AbsolutePathsAreKept) {
  write({R"({"image": ")" + img("a.png") + R"(", "question": "Q", "answer": "A"})"});
  EXPECT_EQ(only_sample(load_dataset(path())).images, std::vector<std::string>{img("a.png")});
}

TEST_F(DatasetFile, BlankLinesAreSkippedAndLineNumbersCountThem) {
  vlm::test::write_bytes(
      path(), "\n  \n{\"question\": \"a\", \"answer\": \"b\"}\r\n\n{\"question\": \"c\", \"answer\": \"d\"}");
  const Dataset d = load_dataset(path());
  ASSERT_EQ(d.samples.size(), 2u);
  EXPECT_EQ(d.samples[0].origin, path() + ":3");
  EXPECT_EQ(d.samples[1].origin, path() + ":5");
  EXPECT_EQ(d.samples[1].messages[1]["content"][0]["text"], "d");
  EXPECT_EQ(d.path, path());
  EXPECT_EQ(d.skipped, 0u);
}

TEST_F(DatasetFile, MissingFileIsAnErrorEvenWhenSkipping) {
  DatasetOptions skip;
  skip.skip_bad_samples = true;
  try {
    load_dataset(dir_ + "/nope.jsonl", skip);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir_ + "/nope.jsonl: cannot open"), std::string::npos) << e.what();
  }
  try {
    load_dataset(dir_, skip);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is a folder"), std::string::npos) << e.what();
  }
}

TEST_F(DatasetFile, EmptyFileIsAnError) {
  try {
    load_dataset(write({"", "   "}));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data.jsonl: the dataset has no samples"), std::string::npos)
        << e.what();
  }
}

TEST_F(DatasetFile, SkipBadSamplesCountsAndKeepsTheFirstReasons) {
  std::vector<std::string> lines;
  for (int i = 0; i < 8; ++i) lines.push_back(i % 4 == 0 ? R"({"question": "q", "answer": "a"})" : "{bad");
  write(lines);
  EXPECT_THROW(load_dataset(path()), Error);
  DatasetOptions skip;
  skip.skip_bad_samples = true;
  const Dataset d = load_dataset(path(), skip);
  EXPECT_EQ(d.samples.size(), 2u);
  EXPECT_EQ(d.skipped, 6u);
  ASSERT_EQ(d.skip_reasons.size(), kMaxSkipReasons);
  EXPECT_NE(d.skip_reasons[0].find("data.jsonl:2: invalid JSON"), std::string::npos) << d.skip_reasons[0];
  EXPECT_NE(d.skip_reasons[4].find("data.jsonl:7: invalid JSON"), std::string::npos) << d.skip_reasons[4];
  EXPECT_EQ(d.samples[1].origin, path() + ":5");
}

TEST_F(DatasetFile, AllBadWithSkippingIsStillAnError) {
  write({"[1]", R"({"question": 1, "answer": "a"})"});
  DatasetOptions skip;
  skip.skip_bad_samples = true;
  try {
    load_dataset(path(), skip);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("no usable samples: all 2 lines were bad"), std::string::npos) << m;
    EXPECT_NE(m.find("data.jsonl:1: expected a JSON object"), std::string::npos) << m;
  }
}

TEST_F(DatasetFile, OverlongLineIsAnErrorAndCanBeSkipped) {
  const std::string good = R"({"question": "q", "answer": "a"})";
  const std::string huge =
      R"({"question": ")" + std::string(kMaxDatasetLineBytes, 'x') + R"(", "answer": "a"})";
  write({good, huge, good});
  try {
    load_dataset(path());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data.jsonl:2: line is longer than 16 MiB"), std::string::npos)
        << e.what();
  }
  DatasetOptions skip;
  skip.skip_bad_samples = true;
  const Dataset d = load_dataset(path(), skip);
  ASSERT_EQ(d.samples.size(), 2u);
  EXPECT_EQ(d.samples[1].origin, path() + ":3");
  EXPECT_EQ(d.skipped, 1u);
}

}  // namespace
}  // namespace vlm::train::test
