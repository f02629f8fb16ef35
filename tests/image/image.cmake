# Image tests: decoding, EXIF, resampling and hostile inputs against Pillow goldens; per-family processors
# against transformers goldens (tests/fixtures/images, written by scripts/fixtures/make_image_fixtures.py).
foreach(t test_image_decode test_image_exif test_image_resample test_image_hostile test_image_processor_config
          test_qwen2_vl_processor test_clip_processor test_siglip_processor test_idefics3_processor
          test_gemma3_processor)
  vlm_add_test(NAME ${t} SOURCES ${t}.cpp image_test_util.cpp LIBS vlm_base LABELS image)
endforeach()
