# The tokenizer.json pipeline (normalizers, pre-tokenizers, BPE, post-processors, decoders, added tokens) and
# SentencePiece models, in vlm_base. Regexes go through PCRE2, Unicode normalisation through utf8proc.
# The libraries are linked by path (not as imported targets) so that the exported vlm_base needs no extra
# find_dependency() in the installed package config.
find_package(PCRE2 REQUIRED)
find_package(utf8proc REQUIRED)
find_package(SentencePiece REQUIRED)

target_sources(vlm_base PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/unicode.cpp
  ${CMAKE_CURRENT_LIST_DIR}/regex.cpp
  ${CMAKE_CURRENT_LIST_DIR}/normalizers.cpp
  ${CMAKE_CURRENT_LIST_DIR}/split_pattern.cpp
  ${CMAKE_CURRENT_LIST_DIR}/pre_tokenizers.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bpe_model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bpe_cache.cpp
  ${CMAKE_CURRENT_LIST_DIR}/added_vocabulary.cpp
  ${CMAKE_CURRENT_LIST_DIR}/post_processors.cpp
  ${CMAKE_CURRENT_LIST_DIR}/decoders.cpp
  ${CMAKE_CURRENT_LIST_DIR}/json_tokenizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/sentencepiece_tokenizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/stream_decoder.cpp)
target_include_directories(vlm_base PRIVATE ${PCRE2_INCLUDE_DIR} ${UTF8PROC_INCLUDE_DIR}
                                            ${SENTENCEPIECE_INCLUDE_DIR})
target_compile_definitions(vlm_base PRIVATE PCRE2_CODE_UNIT_WIDTH=8)
target_link_libraries(vlm_base PRIVATE ${PCRE2_8_LIBRARY} ${UTF8PROC_LIBRARY} ${SENTENCEPIECE_LIBRARY})
