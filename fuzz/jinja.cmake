# Chat template fuzzer: parse + render arbitrary templates (seed corpus fuzz/corpus/fuzz_jinja/).
vlm_add_fuzzer(fuzz_jinja ${CMAKE_CURRENT_LIST_DIR}/fuzz_jinja.cpp)
