# Tokenizer fuzzers: tokenizer.json loading (seed corpus fuzz/corpus/fuzz_tokenizer_load/) and encoding/decoding of
# arbitrary bytes with fixed tokenizers (fuzz/corpus/fuzz_tokenizer_encode/).
vlm_add_fuzzer(fuzz_tokenizer_load fuzz_tokenizer_load.cpp)
vlm_add_fuzzer(fuzz_tokenizer_encode fuzz_tokenizer_encode.cpp)
