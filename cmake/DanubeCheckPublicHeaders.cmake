# cmake -DINCLUDE_DIR=<include> -P DanubeCheckPublicHeaders.cmake
# Fails when a public header (anything outside danube/detail/ and danube/testing/) includes
# generated protobuf/gRPC code directly: public headers never expose generated types.
file(GLOB_RECURSE headers RELATIVE "${INCLUDE_DIR}" "${INCLUDE_DIR}/danube/*.hpp")
set(offenders)
foreach(header IN LISTS headers)
  if(header MATCHES "^danube/(detail|testing)/")
    continue()
  endif()
  file(STRINGS "${INCLUDE_DIR}/${header}" lines REGEX "^[ \t]*#[ \t]*include.*\\.pb\\.h")
  if(lines)
    list(APPEND offenders "${header}")
  endif()
endforeach()
if(offenders)
  message(FATAL_ERROR "public headers include generated code: ${offenders}")
endif()
list(LENGTH headers count)
message(STATUS "${count} headers checked: no public header includes generated code")
