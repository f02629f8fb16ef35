# FindWebP: libwebp (decoding) and libwebpdemux (container, animation decoder).
# Honours CMAKE_PREFIX_PATH (the GPU machine unpacks Debian packages under a prefix) and WebP_ROOT.
# Sets WebP_FOUND, WebP_INCLUDE_DIRS, WebP_LIBRARIES (full paths) and the imported target WebP::webp.
find_path(WebP_INCLUDE_DIR NAMES webp/decode.h webp/demux.h)
find_library(WebP_LIBRARY NAMES webp)
find_library(WebP_DEMUX_LIBRARY NAMES webpdemux)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(WebP REQUIRED_VARS WebP_LIBRARY WebP_DEMUX_LIBRARY WebP_INCLUDE_DIR)

if(WebP_FOUND)
  set(WebP_INCLUDE_DIRS ${WebP_INCLUDE_DIR})
  # webpdemux depends on webp: list it first for static linking.
  set(WebP_LIBRARIES ${WebP_DEMUX_LIBRARY} ${WebP_LIBRARY})
  if(NOT TARGET WebP::webp)
    add_library(WebP::webp INTERFACE IMPORTED)
    set_target_properties(WebP::webp PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${WebP_INCLUDE_DIRS}"
                                                INTERFACE_LINK_LIBRARIES "${WebP_LIBRARIES}")
  endif()
endif()
mark_as_advanced(WebP_INCLUDE_DIR WebP_LIBRARY WebP_DEMUX_LIBRARY)
