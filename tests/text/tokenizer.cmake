# Tokenizer tests (label "text"). Fixture-based tests skip with a message while tests/fixtures/tokenizers/ is absent
# (scripts/fixtures/make_tokenizer_fixtures.py writes it).
set(_vlm_tokenizer_tests tokenizer_unicode tokenizer_components tokenizer_bpe tokenizer_added_tokens
                           tokenizer_malformed tokenizer_stream tokenizer_fixtures tokenizer_sentencepiece)
foreach(unit ${_vlm_tokenizer_tests})
  vlm_add_test(NAME test_${unit} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_${unit}.cpp LIBS vlm_base LABELS text)
endforeach()
