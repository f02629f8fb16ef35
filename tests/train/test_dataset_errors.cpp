// load_dataset on malformed lines: one test per case, each checking that the message names the file and line
// and the field, and says what was expected.
#include <string>

#include "train/dataset_test_util.h"

namespace vlm::train::test {
namespace {

using DatasetErrors = DatasetFolder;

const std::string kGood = R"({"question": "q", "answer": "a"})";
const std::string kAssistant = R"({"role": "assistant", "content": "a"})";

// A messages-form line whose first message is `first` (then an assistant turn) plus `rest` top-level fields.
std::string with_user(const std::string& first, const std::string& rest = "") {
  return R"({"messages": [)" + first + ", " + kAssistant + "]" + rest + "}";
}

#define EXPECT_MESSAGE_HAS(message, part)            \
  EXPECT_NE((message).find(part), std::string::npos) \
      << "message: " << (message) << "\nexpected to contain: " << (part)

TEST_F(DatasetErrors, InvalidJsonNamesLineAndColumn) {
  const std::string m = error_of({kGood, R"({"messages": [})"});
  EXPECT_MESSAGE_HAS(m, "data.jsonl:2: invalid JSON at column 15");
}

TEST_F(DatasetErrors, InvalidUtf8) {
  EXPECT_MESSAGE_HAS(error_of({"{\"question\": \"\xff\", \"answer\": \"a\"}"}), "data.jsonl:1: invalid JSON");
}

TEST_F(DatasetErrors, NotAnObject) {
  EXPECT_MESSAGE_HAS(error_of({"[1, 2]"}), "data.jsonl:1: expected a JSON object on each line, got an array");
}

TEST_F(DatasetErrors, NeitherMessagesNorQuestion) {
  EXPECT_MESSAGE_HAS(error_of({R"({"text": "hi"})"}),
                     "data.jsonl:1: expected a \"messages\" list or \"question\" and \"answer\" fields");
}

TEST_F(DatasetErrors, MessagesAndQuestionTogether) {
  EXPECT_MESSAGE_HAS(error_of({R"({"messages": [], "question": "q", "answer": "a"})"}),
                     "data.jsonl:1: messages: a sample has either");
}

TEST_F(DatasetErrors, MessagesNotAList) {
  EXPECT_MESSAGE_HAS(error_of({R"({"messages": {"role": "user"}})"}),
                     "data.jsonl:1: messages: expected a list of messages, got an object");
}

TEST_F(DatasetErrors, EmptyMessages) {
  EXPECT_MESSAGE_HAS(error_of({R"({"messages": []})"}), "data.jsonl:1: messages: empty list");
}

TEST_F(DatasetErrors, MessageNotAnObject) {
  EXPECT_MESSAGE_HAS(error_of({with_user("\"hi\"")}),
                     "data.jsonl:1: messages[0]: expected an object, got a string");
}

TEST_F(DatasetErrors, MissingRole) {
  EXPECT_MESSAGE_HAS(error_of({with_user(R"({"content": "q"})")}),
                     "data.jsonl:1: messages[0].role: required field is missing");
}

TEST_F(DatasetErrors, RoleNotAString) {
  EXPECT_MESSAGE_HAS(error_of({with_user(R"({"role": 1, "content": "q"})")}),
                     "data.jsonl:1: messages[0].role: expected a string, got an integer");
}

TEST_F(DatasetErrors, UnknownRole) {
  EXPECT_MESSAGE_HAS(
      error_of({kGood, with_user(R"({"role": "user", "content": "q"}, {"role": "tool", "content": "x"})")}),
      "data.jsonl:2: messages[1].role: expected \"system\", \"user\" or \"assistant\", got \"tool\"");
}

TEST_F(DatasetErrors, MissingContent) {
  EXPECT_MESSAGE_HAS(error_of({with_user(R"({"role": "user"})")}),
                     "data.jsonl:1: messages[0].content: required field is missing");
}

TEST_F(DatasetErrors, ContentNotStringOrList) {
  EXPECT_MESSAGE_HAS(
      error_of({with_user(R"({"role": "user", "content": 5})")}),
      "data.jsonl:1: messages[0].content: expected a string or a list of parts, got an integer");
}

TEST_F(DatasetErrors, PartNotAnObject) {
  EXPECT_MESSAGE_HAS(
      error_of({with_user(R"({"role": "user", "content": [{"type": "text", "text": "q"}, "x"]})")}),
      "data.jsonl:1: messages[0].content[1]: expected an object, got a string");
}

TEST_F(DatasetErrors, PartWithoutType) {
  EXPECT_MESSAGE_HAS(error_of({with_user(R"({"role": "user", "content": [{"text": "q"}]})")}),
                     "data.jsonl:1: messages[0].content[0].type: required field is missing");
}

TEST_F(DatasetErrors, UnknownPartTypeOnLineSeven) {
  std::vector<std::string> lines(6, kGood);
  lines.push_back(R"({"messages": [{"role": "user", "content": "q"},)"
                  R"( {"role": "assistant", "content": [{"type": "video"}]}]})");
  const std::string m = error_of(lines);
  EXPECT_MESSAGE_HAS(
      m, "data.jsonl:7: messages[1].content[0].type: expected \"text\" or \"image\", got \"video\"");
}

TEST_F(DatasetErrors, ImageUrlPartSaysToUseImage) {
  const std::string m = error_of({with_user(
      R"({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "imgs/a.png"}}]})")});
  EXPECT_MESSAGE_HAS(m, "data.jsonl:1: messages[0].content[0].type: \"image_url\" is not supported");
  EXPECT_MESSAGE_HAS(m, "use {\"type\": \"image\"}");
}

TEST_F(DatasetErrors, ImagePartWithUrlKey) {
  EXPECT_MESSAGE_HAS(
      error_of({with_user(R"({"role": "user", "content": [{"type": "image", "url": "imgs/a.png"}]})")}),
      "data.jsonl:1: messages[0].content[0].url: not supported");
}

TEST_F(DatasetErrors, TextPartWithoutText) {
  EXPECT_MESSAGE_HAS(
      error_of({with_user(R"({"role": "user", "content": [{"type": "image"}, {"type": "text"}]})",
                          R"(, "images": ["imgs/a.png"])")}),
      "data.jsonl:1: messages[0].content[1].text: required field is missing");
}

TEST_F(DatasetErrors, TextNotAString) {
  EXPECT_MESSAGE_HAS(
      error_of({with_user(R"({"role": "user", "content": [{"type": "text", "text": ["q"]}]})")}),
      "data.jsonl:1: messages[0].content[0].text: expected a string, got an array");
}

TEST_F(DatasetErrors, NoAssistantTurn) {
  EXPECT_MESSAGE_HAS(
      error_of({R"({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]})"}),
      "data.jsonl:1: messages: no \"assistant\" turn");
}

TEST_F(DatasetErrors, FewerPathsThanImageParts) {
  EXPECT_MESSAGE_HAS(
      error_of({with_user(R"({"role": "user", "content": [{"type": "image"}, {"type": "image"}]})",
                          R"(, "images": ["imgs/a.png"])")}),
      "data.jsonl:1: images: 1 image path(s) for 2 {\"type\": \"image\"} part(s)");
}

TEST_F(DatasetErrors, PathsWithoutImageParts) {
  EXPECT_MESSAGE_HAS(
      error_of({with_user(R"({"role": "user", "content": "q"})", R"(, "image": "imgs/a.png")")}),
      "data.jsonl:1: image: 1 image path(s) for 0");
}

TEST_F(DatasetErrors, ImagesNotAList) {
  EXPECT_MESSAGE_HAS(error_of({R"({"images": "imgs/a.png", "question": "q", "answer": "a"})"}),
                     "data.jsonl:1: images: expected a list of paths, got a string");
}

TEST_F(DatasetErrors, ImagePathNotAString) {
  EXPECT_MESSAGE_HAS(error_of({R"({"images": ["imgs/a.png", 3], "question": "q", "answer": "a"})"}),
                     "data.jsonl:1: images[1]: expected a string (a path), got an integer");
}

TEST_F(DatasetErrors, ImageAndImagesTogether) {
  EXPECT_MESSAGE_HAS(
      error_of({R"({"image": "imgs/a.png", "images": ["imgs/b.png"], "question": "q", "answer": "a"})"}),
      "data.jsonl:1: image: give either \"image\" or \"images\", not both");
}

TEST_F(DatasetErrors, MissingImageFileNamesThePath) {
  const std::string m =
      error_of({R"({"images": ["imgs/a.png", "imgs/missing.png"], "question": "q", "answer": "a"})"});
  EXPECT_MESSAGE_HAS(m, "data.jsonl:1: images[1]: image file not found: ");
  EXPECT_MESSAGE_HAS(m, dir_ + "/imgs/missing.png");
}

TEST_F(DatasetErrors, MissingInlineImageFile) {
  const std::string m =
      error_of({with_user(R"({"role": "user", "content": [{"type": "image", "image": "gone.png"}]})")});
  EXPECT_MESSAGE_HAS(m, "data.jsonl:1: messages[0].content[0].image: image file not found: ");
  EXPECT_MESSAGE_HAS(m, dir_ + "/gone.png");
}

TEST_F(DatasetErrors, ImagePathIsAFolder) {
  EXPECT_MESSAGE_HAS(error_of({R"({"image": "imgs", "question": "q", "answer": "a"})"}),
                     "data.jsonl:1: image: is a folder, expected an image file");
}

TEST_F(DatasetErrors, ImageUrlsAreNotFetched) {
  EXPECT_MESSAGE_HAS(
      error_of({R"({"images": ["https://example.com/a.png"], "question": "q", "answer": "a"})"}),
      "data.jsonl:1: images[0]: expected the path of an image file, got a URL");
}

TEST_F(DatasetErrors, InlineAndListedImagesMixed) {
  EXPECT_MESSAGE_HAS(
      error_of({with_user(R"({"role": "user", "content": [{"type": "image", "image": "imgs/a.png"}]})",
                          R"(, "images": ["imgs/b.png"])")}),
      "data.jsonl:1: messages[0].content[0].image: inline image paths and a top-level \"images\" list");
}

TEST_F(DatasetErrors, SomeImagePartsInlineOthersNot) {
  EXPECT_MESSAGE_HAS(
      error_of({with_user(
          R"({"role": "user", "content": [{"type": "image", "image": "imgs/a.png"}, {"type": "image"}]})")}),
      "data.jsonl:1: messages[0].content[1]: this image part has no \"image\" path");
}

TEST_F(DatasetErrors, ShorthandMissingAnswer) {
  EXPECT_MESSAGE_HAS(error_of({R"({"question": "q"})"}), "data.jsonl:1: answer: required field is missing");
}

TEST_F(DatasetErrors, ShorthandAnswerNotAString) {
  EXPECT_MESSAGE_HAS(error_of({R"({"question": "q", "answer": 3})"}),
                     "data.jsonl:1: answer: expected a string, got an integer");
}

TEST_F(DatasetErrors, ShorthandSystemNotAString) {
  EXPECT_MESSAGE_HAS(error_of({R"({"system": ["s"], "question": "q", "answer": "a"})"}),
                     "data.jsonl:1: system: expected a string, got an array");
}

}  // namespace
}  // namespace vlm::train::test
