// WebP through libwebp's animation decoder, as Pillow's WebPImagePlugin uses it: the first frame composed on the
// canvas, in straight (not premultiplied) RGBA; mode RGBA when the file declares alpha, else RGB. EXIF and XMP
// chunks are read through the demuxer. libwebp reports errors by return value, so no jumps are involved.
#include <cstring>
#include <memory>
#include <string>

#include <webp/decode.h>
#include <webp/demux.h>

#include "core/error.h"
#include "image/decoders.h"
#include "image/exif.h"

namespace vlm::image::detail {
namespace {

struct DemuxDeleter {
  void operator()(WebPDemuxer* d) const { WebPDemuxDelete(d); }
};
struct AnimDecoderDeleter {
  void operator()(WebPAnimDecoder* d) const { WebPAnimDecoderDelete(d); }
};

std::string chunk(WebPDemuxer* demux, const char* fourcc) {
  WebPChunkIterator it;
  std::string out;
  if (WebPDemuxGetChunk(demux, fourcc, 1, &it)) {
    out.assign(reinterpret_cast<const char*>(it.chunk.bytes), it.chunk.size);
    WebPDemuxReleaseChunkIterator(&it);
  }
  return out;
}

}  // namespace

Image decode_webp(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(data, size, &features);
  if (status == VP8_STATUS_NOT_ENOUGH_DATA) fail_decode(origin, "WEBP", "truncated image data");
  if (status != VP8_STATUS_OK) fail_decode(origin, "WEBP", "corrupt or unsupported WebP data");
  check_dimensions(features.width, features.height, origin, "WEBP", limits);

  WebPData webp_data{data, size};
  std::unique_ptr<WebPDemuxer, DemuxDeleter> demux(WebPDemux(&webp_data));
  if (!demux) fail_decode(origin, "WEBP", "corrupt or truncated WebP container");
  const int64_t canvas_w = WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_WIDTH);
  const int64_t canvas_h = WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_HEIGHT);
  check_dimensions(canvas_w, canvas_h, origin, "WEBP", limits);  // the canvas is what gets allocated

  WebPAnimDecoderOptions options;
  if (!WebPAnimDecoderOptionsInit(&options)) fail_decode(origin, "WEBP", "decoder initialisation failed");
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  std::unique_ptr<WebPAnimDecoder, AnimDecoderDeleter> decoder(WebPAnimDecoderNew(&webp_data, &options));
  if (!decoder) fail_decode(origin, "WEBP", "corrupt or unsupported WebP data");
  WebPAnimInfo info;
  if (!WebPAnimDecoderGetInfo(decoder.get(), &info) || info.canvas_width != canvas_w || info.canvas_height != canvas_h)
    fail_decode(origin, "WEBP", "corrupt WebP canvas");
  uint8_t* rgba = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetNext(decoder.get(), &rgba, &timestamp) || !rgba)
    fail_decode(origin, "WEBP", "corrupt or truncated image data");

  Image out;
  out.width = static_cast<int>(canvas_w);
  out.height = static_cast<int>(canvas_h);
  out.format = "WEBP";
  const size_t n = out.pixel_count();
  if (features.has_alpha) {
    out.mode = Mode::kRGBA;
    out.pixels.assign(rgba, rgba + n * 4);
  } else {
    out.mode = Mode::kRGB;
    out.pixels.resize(n * 3);
    for (size_t i = 0; i < n; ++i) std::memcpy(&out.pixels[3 * i], rgba + 4 * i, 3);
  }

  const std::string exif = chunk(demux.get(), "EXIF");
  const std::string xmp = chunk(demux.get(), "XMP ");
  const int from_exif = exif.empty() ? -1 : exif_orientation(reinterpret_cast<const uint8_t*>(exif.data()), exif.size());
  out.orientation = resolve_orientation(from_exif, xmp.empty() ? -1 : xmp_orientation(xmp));
  return out;
}

}  // namespace vlm::image::detail
