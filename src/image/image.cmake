# Images: decoding (libjpeg-turbo, libpng, libwebp, giflib, our BMP reader), EXIF orientation, Pillow-exact
# resampling, and the per-family image processors. All torch-free, in vlm_base.
find_package(JPEG REQUIRED)
find_package(PNG REQUIRED)
find_package(GIF REQUIRED)
find_package(WebP REQUIRED)

target_sources(vlm_base PRIVATE
  image.cpp
  exif.cpp
  decode.cpp
  data_url.cpp
  decode_jpeg.cpp
  decode_png.cpp
  decode_webp.cpp
  decode_gif.cpp
  decode_bmp.cpp
  resample.cpp
  processor_config.cpp
  pixel_ops.cpp
  processor.cpp
  qwen2_vl_processor.cpp
  clip_processor.cpp
  siglip_processor.cpp
  idefics3_processor.cpp
  gemma3_processor.cpp)
target_include_directories(vlm_base SYSTEM PRIVATE ${JPEG_INCLUDE_DIRS} ${PNG_INCLUDE_DIRS} ${GIF_INCLUDE_DIRS}
                                                   ${WebP_INCLUDE_DIRS})
target_compile_definitions(vlm_base PRIVATE ${PNG_DEFINITIONS})
# Full library paths (not imported targets), so the installed vlmcpp package needs no find_dependency for them.
target_link_libraries(vlm_base PRIVATE ${JPEG_LIBRARIES} ${PNG_LIBRARIES} ${GIF_LIBRARIES} ${WebP_LIBRARIES})
