// write_png_rgb: libpng's simplified write API into memory, then one plain write. libpng adds no time stamp,
// so equal pixels give equal bytes. Its messages never reach ours; the path and the cause (ours) do.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <png.h>

#include "core/error.h"
#include "core/file.h"
#include "train/synth.h"

namespace vlm::train {

void write_png_rgb(const std::string& path, const image::Image& rgb) {
  VLM_CHECK(rgb.mode == image::Mode::kRGB, path, ": PNG writer takes RGB images, got mode ",
            image::mode_name(rgb.mode));
  VLM_CHECK(rgb.width > 0 && rgb.height > 0 && rgb.pixels.size() == rgb.pixel_count() * 3, path,
            ": PNG writer: bad image (", rgb.width, "x", rgb.height, ", ", rgb.pixels.size(), " bytes)");
  png_image desc;
  std::memset(&desc, 0, sizeof(desc));
  desc.version = PNG_IMAGE_VERSION;
  desc.width = static_cast<png_uint_32>(rgb.width);
  desc.height = static_cast<png_uint_32>(rgb.height);
  desc.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> encoded(PNG_IMAGE_PNG_SIZE_MAX(desc));
  png_alloc_size_t size = encoded.size();
  const int ok =
      png_image_write_to_memory(&desc, encoded.data(), &size, /*convert_to_8bit=*/0, rgb.pixels.data(),
                                /*row_stride=*/0, /*colormap=*/nullptr);
  png_image_free(&desc);
  VLM_CHECK(ok && size <= encoded.size(), path, ": PNG encoding failed (", rgb.width, "x", rgb.height,
            " RGB)");

  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, ": cannot create the file: ", std::strerror(errno));
  try {
    write_all(fd, encoded.data(), size, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) fail(path, ": write failed: ", std::strerror(errno));
}

}  // namespace vlm::train
