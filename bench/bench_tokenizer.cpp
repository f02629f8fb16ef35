// Encode throughput of a tokenizer, one thread: bench_tokenizer TOKENIZER_DIR TEXT_FILE ROUNDS
// Prints "bytes B tokens N seconds S mb_per_second R ids_hash H" (the hash lets a script compare ids with HF's).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "core/file.h"
#include "text/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_tokenizer TOKENIZER_DIR TEXT_FILE ROUNDS\n");
    return 2;
  }
  try {
    const auto tok = vlm::text::Tokenizer::load(argv[1]);
    const std::string text = vlm::read_file(argv[2], size_t{1} << 30);
    const int rounds = std::atoi(argv[3]);
    std::vector<int32_t> ids = tok.encode(text);  // warm-up (and the ids to hash)
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < rounds; ++r) ids = tok.encode(text);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the ids
    for (int32_t id : ids) h = (h ^ static_cast<uint32_t>(id)) * 1099511628211ull;
    std::printf("bytes %zu tokens %zu seconds %.3f mb_per_second %.2f ids_hash %llu\n", text.size(), ids.size(), s,
                text.size() * rounds / s / 1e6, static_cast<unsigned long long>(h));
  } catch (const vlm::Error& e) {
    std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
    return 1;
  }
  return 0;
}
