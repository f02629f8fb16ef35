// JPEG through libjpeg-turbo, configured as Pillow configures it (default IDCT and fancy upsampling; 1 component
// -> L, 3 -> RGB, 4 -> CMYK read with Adobe's inverted convention, as Pillow's "CMYK;I" rawmode does).
//
// libjpeg reports fatal errors through error_exit, which must not return. Ours longjmps back into a small
// C-style function (jpeg_phase_*) that holds no C++ objects, so no destructor is ever skipped; the C++ wrapper
// then turns the recorded failure into a vlm::Error. Warnings are ignored as Pillow ignores them, except running
// out of data (libjpeg would pad the image with gray): a truncated file is an error.
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <jpeglib.h>
#include <jerror.h>

#include "core/error.h"
#include "image/decoders.h"
#include "image/exif.h"

namespace vlm::image::detail {
namespace {

enum Failure { kOk = 0, kCorrupt, kTruncated, kTooManyScans, kNoMemory };

struct JpegState {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr err;
  jpeg_progress_mgr progress;
  std::jmp_buf jump;
  int failure = kOk;
  int max_scans = 0;
  bool created = false;
  unsigned char* pixels = nullptr;  // malloc'ed by jpeg_phase_decode, owned by the wrapper
};

JpegState* state_of(j_common_ptr cinfo) {
  // err is a member of JpegState: recover the enclosing object from it.
  return reinterpret_cast<JpegState*>(reinterpret_cast<char*>(cinfo->err) - offsetof(JpegState, err));
}

void on_error_exit(j_common_ptr cinfo) {
  JpegState* st = state_of(cinfo);
  if (st->failure == kOk) st->failure = cinfo->err->msg_code == JERR_OUT_OF_MEMORY ? kNoMemory : kCorrupt;
  std::longjmp(st->jump, 1);
}

void on_emit_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    state_of(cinfo)->failure = kTruncated;
    std::longjmp(state_of(cinfo)->jump, 1);
  }
}

void on_output_message(j_common_ptr) {}

void on_progress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  JpegState* st = state_of(cinfo);
  if (reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number > st->max_scans) {
    st->failure = kTooManyScans;
    std::longjmp(st->jump, 1);
  }
}

// Reads the header and the APP markers. Returns a Failure.
int jpeg_phase_header(JpegState* st, const unsigned char* data, unsigned long size) {
  st->cinfo.err = jpeg_std_error(&st->err);
  st->err.error_exit = on_error_exit;
  st->err.emit_message = on_emit_message;
  st->err.output_message = on_output_message;
  if (setjmp(st->jump)) return st->failure;
  jpeg_create_decompress(&st->cinfo);
  st->created = true;
  st->progress.progress_monitor = on_progress;
  st->cinfo.progress = &st->progress;
  jpeg_mem_src(&st->cinfo, data, size);
  jpeg_save_markers(&st->cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&st->cinfo, TRUE);
  return kOk;
}

// Decodes every scanline into st->pixels (out_color_components bytes per pixel). Returns a Failure.
int jpeg_phase_decode(JpegState* st, J_COLOR_SPACE out_space) {
  if (setjmp(st->jump)) return st->failure;
  st->cinfo.out_color_space = out_space;
  jpeg_start_decompress(&st->cinfo);
  const size_t stride = static_cast<size_t>(st->cinfo.output_width) * st->cinfo.output_components;
  st->pixels = static_cast<unsigned char*>(std::malloc(stride * st->cinfo.output_height));
  if (!st->pixels) {
    st->failure = kNoMemory;
    return kNoMemory;
  }
  while (st->cinfo.output_scanline < st->cinfo.output_height) {
    JSAMPROW row = st->pixels + stride * st->cinfo.output_scanline;
    jpeg_read_scanlines(&st->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&st->cinfo);
  return kOk;
}

struct StateGuard {
  JpegState* st;
  ~StateGuard() {
    if (st->created) jpeg_destroy_decompress(&st->cinfo);
    std::free(st->pixels);
  }
};

[[noreturn]] void fail_jpeg(const std::string& origin, int failure) {
  switch (failure) {
    case kTruncated: fail_decode(origin, "JPEG", "truncated image data");
    case kTooManyScans: fail_decode(origin, "JPEG", "too many progressive scans (possible decoding bomb)");
    case kNoMemory: fail_decode(origin, "JPEG", "out of memory while decoding");
    default: fail_decode(origin, "JPEG", "corrupt or unsupported JPEG data");
  }
}

// EXIF segments are concatenated (the first keeps its "Exif\0\0" prefix) and the last XMP packet wins, as in
// Pillow's JpegImagePlugin.
int orientation_from_markers(const jpeg_decompress_struct& cinfo) {
  static const char kXmpId[] = "http://ns.adobe.com/xap/1.0/";  // followed by a NUL
  std::string exif, xmp;
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next) {
    if (m->marker != JPEG_APP0 + 1) continue;
    const char* d = reinterpret_cast<const char*>(m->data);
    if (m->data_length >= 6 && std::memcmp(d, "Exif\0\0", 6) == 0) {
      if (exif.empty()) exif.assign(d, m->data_length);
      else exif.append(d + 6, m->data_length - 6);
    } else if (m->data_length >= sizeof kXmpId && std::memcmp(d, kXmpId, sizeof kXmpId) == 0) {
      xmp.assign(d + sizeof kXmpId, m->data_length - sizeof kXmpId);
    }
  }
  const int from_exif = exif.empty() ? -1 : exif_orientation(reinterpret_cast<const uint8_t*>(exif.data()), exif.size());
  return resolve_orientation(from_exif, xmp.empty() ? -1 : xmp_orientation(xmp));
}

}  // namespace

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits) {
  JpegState st{};
  StateGuard guard{&st};
  st.max_scans = limits.max_jpeg_scans;
  if (int f = jpeg_phase_header(&st, data, static_cast<unsigned long>(size))) fail_jpeg(origin, f);

  const jpeg_decompress_struct& c = st.cinfo;
  check_dimensions(c.image_width, c.image_height, origin, "JPEG", limits);
  Mode mode;
  J_COLOR_SPACE space;
  switch (c.num_components) {
    case 1: mode = Mode::kL; space = JCS_GRAYSCALE; break;
    case 3: mode = Mode::kRGB; space = JCS_RGB; break;
    case 4: mode = Mode::kCMYK; space = JCS_CMYK; break;
    default:
      fail_decode(origin, "JPEG", str("unsupported JPEG with ", c.num_components, " color components"));
  }
  const int orientation = orientation_from_markers(c);

  if (int f = jpeg_phase_decode(&st, space)) fail_jpeg(origin, f);
  if (static_cast<int64_t>(c.output_width) != c.image_width || static_cast<int64_t>(c.output_height) != c.image_height ||
      c.output_components != bytes_per_pixel(mode))
    fail_decode(origin, "JPEG", "decoder produced an unexpected layout");

  Image out;
  out.width = static_cast<int>(c.output_width);
  out.height = static_cast<int>(c.output_height);
  out.mode = mode;
  out.format = "JPEG";
  out.orientation = orientation;
  out.pixels.assign(st.pixels, st.pixels + out.pixel_count() * bytes_per_pixel(mode));
  if (mode == Mode::kCMYK)
    for (uint8_t& v : out.pixels) v = static_cast<uint8_t>(255 - v);  // Adobe stores CMYK inverted
  return out;
}

}  // namespace vlm::image::detail
