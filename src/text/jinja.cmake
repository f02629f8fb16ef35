# Chat templates: the sandboxed Jinja interpreter and the model-folder loader (torch-free, in vlm_base).
find_package(utf8proc REQUIRED)
target_sources(vlm_base PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/jinja.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_error.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_unicode.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_string.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_value.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_value_python.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_pyformat.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_format.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_lexer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_parser.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_parser_base.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_parser_expressions.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_operators.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_strings.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_methods.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_str_methods.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_json.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_filters.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_filters_sequences.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_tests.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_globals.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_interpreter.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jinja_expressions.cpp
  ${CMAKE_CURRENT_LIST_DIR}/chat_template.cpp)
target_link_libraries(vlm_base PRIVATE utf8proc::utf8proc)
