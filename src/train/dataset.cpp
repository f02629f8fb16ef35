// load_dataset: reads a JSONL file line by line (bounded memory per line, any file size), parses each line
// with parse_dataset_line (dataset_sample.cpp) and applies the skip-bad-samples policy.
#include "train/dataset.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/file.h"

namespace vlm::train {

namespace {

// Reads '\n'-terminated lines through a fixed buffer. A line longer than the limit is not kept in memory: the
// reader drops its bytes and reports it as too long.
class LineReader {
 public:
  LineReader(const std::string& path, size_t max_line_bytes) : path_(path), max_line_(max_line_bytes) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail(path, ": cannot open the dataset: ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail(path, ": cannot stat: ", std::strerror(errno));
    if (S_ISDIR(st.st_mode)) fail(path, ": is a folder, expected a JSONL file");
  }
  ~LineReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its '\n' (and a '\r' before it); false at the end of the file.
  bool next(std::string& line, bool& too_long) {
    line.clear();
    too_long = false;
    bool any = false;
    for (;;) {
      if (pos_ == len_ && !fill()) break;
      any = true;
      const char* start = buffer_ + pos_;
      const void* nl = std::memchr(start, '\n', len_ - pos_);
      const size_t take = nl ? static_cast<size_t>(static_cast<const char*>(nl) - start) : len_ - pos_;
      if (!too_long) {
        if (line.size() + take > max_line_) {
          too_long = true;
          line.clear();
          line.shrink_to_fit();
        } else {
          line.append(start, take);
        }
      }
      pos_ += take;
      if (nl) {
        ++pos_;
        break;
      }
    }
    if (!any) return false;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  }

 private:
  bool fill() {
    for (;;) {
      const ssize_t n = ::read(fd_, buffer_, sizeof(buffer_));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail(path_, ": read failed: ", std::strerror(errno));
      pos_ = 0;
      len_ = static_cast<size_t>(n);
      return n > 0;
    }
  }

  std::string path_;
  size_t max_line_;
  int fd_ = -1;
  char buffer_[1 << 16];
  size_t pos_ = 0, len_ = 0;
};

bool is_blank(const std::string& line) {
  for (char c : line)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

}  // namespace

Dataset load_dataset(const std::string& path, const DatasetOptions& options) {
  Dataset dataset;
  dataset.path = path;
  LineReader reader(path, kMaxDatasetLineBytes);
  const std::string base_dir = path_parent(path);
  std::string line;
  bool too_long = false;
  for (size_t line_number = 1; reader.next(line, too_long); ++line_number) {
    if (!too_long && is_blank(line)) continue;
    const std::string origin = str(path, ":", line_number);
    try {
      if (too_long) fail(origin, ": line is longer than ", kMaxDatasetLineBytes >> 20, " MiB");
      // A UTF-8 byte order mark before the first line (some editors write one) is not part of the JSON.
      if (line_number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
      dataset.samples.push_back(parse_dataset_line(line, origin, base_dir));
    } catch (const Error& e) {
      if (!options.skip_bad_samples) throw;
      ++dataset.skipped;
      if (dataset.skip_reasons.size() < kMaxSkipReasons) dataset.skip_reasons.push_back(e.what());
    }
  }
  if (dataset.samples.empty()) {
    if (dataset.skipped == 0) fail(path, ": the dataset has no samples (no non-empty lines)");
    fail(path, ": the dataset has no usable samples: all ", dataset.skipped,
         " lines were bad; the first: ", dataset.skip_reasons.front());
  }
  return dataset;
}

}  // namespace vlm::train
