# Installs the libraries, public headers and a CMake package so that other projects can
#   find_package(vlmcpp) and link vlmcpp::vlm (or vlmcpp::vlm_base, the torch-free part).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_vlm_targets vlm_base vlm_warnings vlm_sanitize)
if(VLM_TORCH)
  list(APPEND _vlm_targets vlm vlm_cli)
  if(TARGET vlm_kernels_cuda)
    list(APPEND _vlm_targets vlm_kernels_cuda)
  endif()
endif()
install(TARGETS ${_vlm_targets} EXPORT vlmcppTargets
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/src/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/vlm
        FILES_MATCHING PATTERN "*.h")
install(EXPORT vlmcppTargets NAMESPACE vlmcpp:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vlmcpp)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/vlmcppConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/vlmcppConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vlmcpp)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/vlmcppConfigVersion.cmake COMPATIBILITY SameMinorVersion)
file(GLOB _vlm_find_modules ${PROJECT_SOURCE_DIR}/cmake/Find*.cmake)
install(FILES ${PROJECT_BINARY_DIR}/vlmcppConfig.cmake ${PROJECT_BINARY_DIR}/vlmcppConfigVersion.cmake
              ${_vlm_find_modules}
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vlmcpp)
