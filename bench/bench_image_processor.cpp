// Images per second through a model's image processor, decoding included, one thread:
//   bench_image_processor MODEL_DIR ROUNDS IMAGE...
// Prints one line: "images N seconds S images_per_second R checksum C".
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "image/decode.h"
#include "image/processor.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_image_processor MODEL_DIR ROUNDS IMAGE...\n");
    return 2;
  }
  try {
    const auto processor = vlm::image::load_image_processor(argv[1]);
    const int rounds = std::atoi(argv[2]);
    std::vector<std::string> files(argv + 3, argv + argc);
    double checksum = 0;
    // Warm-up: one pass over every file.
    for (const auto& f : files) checksum += processor->process({vlm::image::load_image_file(f)}).pixel_values.data[0];
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < rounds; ++r)
      for (const auto& f : files)
        checksum += processor->process({vlm::image::load_image_file(f)}).pixel_values.data[0];
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const size_t n = files.size() * static_cast<size_t>(rounds);
    std::printf("images %zu seconds %.3f images_per_second %.2f checksum %.4f\n", n, s, n / s, checksum);
  } catch (const vlm::Error& e) {
    std::fprintf(stderr, "bench_image_processor: %s\n", e.what());
    return 1;
  }
  return 0;
}
