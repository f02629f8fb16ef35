# Finds libsentencepiece (libsentencepiece-dev), honouring CMAKE_PREFIX_PATH.
# Sets SentencePiece_FOUND, SENTENCEPIECE_INCLUDE_DIR, SENTENCEPIECE_LIBRARY and the imported target
# SentencePiece::SentencePiece.
find_path(SENTENCEPIECE_INCLUDE_DIR NAMES sentencepiece_processor.h)
find_library(SENTENCEPIECE_LIBRARY NAMES sentencepiece)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(SentencePiece REQUIRED_VARS SENTENCEPIECE_LIBRARY SENTENCEPIECE_INCLUDE_DIR)
if(SentencePiece_FOUND AND NOT TARGET SentencePiece::SentencePiece)
  add_library(SentencePiece::SentencePiece UNKNOWN IMPORTED)
  set_target_properties(SentencePiece::SentencePiece PROPERTIES IMPORTED_LOCATION "${SENTENCEPIECE_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${SENTENCEPIECE_INCLUDE_DIR}")
endif()
mark_as_advanced(SENTENCEPIECE_INCLUDE_DIR SENTENCEPIECE_LIBRARY)
