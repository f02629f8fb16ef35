# vlm_add_test(NAME name SOURCES a.cpp ... [LIBS lib ...] [LABELS l ...])
# One GoogleTest executable per unit; every TEST becomes a CTest case. Test data paths come in through
# VLM_SOURCE_DIR (the repository root) so tests run from any build folder.
function(vlm_add_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} vlm_test_util GTest::gtest GTest::gtest_main vlm_warnings vlm_sanitize)
  target_compile_definitions(${T_NAME} PRIVATE VLM_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR})
  if(VLM_PCH AND "vlm" IN_LIST T_LIBS)
    target_precompile_headers(${T_NAME} REUSE_FROM vlm)
  endif()
  gtest_discover_tests(${T_NAME} DISCOVERY_MODE PRE_TEST
                       PROPERTIES LABELS "${T_LABELS}" ENVIRONMENT "VLM_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
