# Image fuzzers: the decoders behind decode_image (seed corpus fuzz/corpus/fuzz_image/) and the EXIF/XMP
# orientation parsers (fuzz/corpus/fuzz_image_exif/).
vlm_add_fuzzer(fuzz_image fuzz_image.cpp)
vlm_add_fuzzer(fuzz_image_exif fuzz_image_exif.cpp)
