// A temporary dataset folder for the dataset tests: imgs/a.png, imgs/b.png, imgs/c.png (placeholder bytes:
// the loader only checks that image files exist) and a data.jsonl written from the test's lines.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "train/dataset.h"
#include "util/test_util.h"

namespace vlm::train::test {

class DatasetFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = vlm::test::temp_dir("train-dataset");
    ASSERT_EQ(::mkdir((dir_ + "/imgs").c_str(), 0755), 0);
    for (const char* name : {"a.png", "b.png", "c.png"}) vlm::test::write_bytes(dir_ + "/imgs/" + name, "x");
  }
  void TearDown() override { vlm::test::remove_tree(dir_); }

  // Writes the lines (each followed by '\n') to data.jsonl and returns its path.
  std::string write(const std::vector<std::string>& lines) {
    std::string text;
    for (const std::string& l : lines) text += l + "\n";
    vlm::test::write_bytes(path(), text);
    return path();
  }
  std::string path() const { return dir_ + "/data.jsonl"; }
  std::string img(const char* name) const { return dir_ + "/imgs/" + name; }

  // The message load_dataset throws for these lines; a test failure (and "") if it does not throw.
  std::string error_of(const std::vector<std::string>& lines) {
    write(lines);
    try {
      load_dataset(path());
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "load_dataset accepted the lines";
    return "";
  }

  std::string dir_;
};

}  // namespace vlm::train::test
