# cmake -DSOURCE_DIR=<danube-cpp> -DWORK_DIR=<dir> -DGENERATOR=<generator> -DCXX_COMPILER=<c++>
#       -DPORTFILE=<ports/danube-cpp/portfile.cmake> -P install_package.cmake
#
# The package.install fixture: what the vcpkg port does, without vcpkg. It configures the source
# tree with the `-D` options of the port's vcpkg_cmake_configure call (read from the portfile, so the
# two cannot drift apart) plus CMAKE_BUILD_TYPE=Release (the port's VCPKG_BUILD_TYPE release), runs
# the `install` target (vcpkg_cmake_install) into WORK_DIR/staging, then moves the tree to
# WORK_DIR/prefix and fails if any installed file still names the staging prefix or the source tree:
# the package must be relocatable.
cmake_minimum_required(VERSION 3.25)
foreach(var SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER PORTFILE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_package.cmake: ${var} is not set")
  endif()
endforeach()

# The port's cache variables: every `-DNAME=VALUE` line of the portfile that uses no vcpkg variable.
file(STRINGS "${PORTFILE}" port_lines REGEX "^[ \t]*-D[A-Za-z_][A-Za-z0-9_]*=")
set(port_options)
foreach(line IN LISTS port_lines)
  if(line MATCHES "-D[A-Za-z_][A-Za-z0-9_]*=[^ \t)]*")
    set(option "${CMAKE_MATCH_0}")
    if(NOT option MATCHES "\\$\\{")
      list(APPEND port_options "${option}")
    endif()
  endif()
endforeach()
if(NOT port_options MATCHES "-DDANUBE_BUILD_TESTS=OFF")
  message(FATAL_ERROR "no port options found in ${PORTFILE} (got: ${port_options})")
endif()
message(STATUS "port options: ${port_options}")

set(build "${WORK_DIR}/build")
set(staging "${WORK_DIR}/staging")
set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${staging}" "${prefix}")

execute_process(
  COMMAND "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${build}" -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
          -DCMAKE_BUILD_TYPE=Release "-DCMAKE_INSTALL_PREFIX=${staging}" ${port_options}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring ${SOURCE_DIR} with the port's options failed (${rc})")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${build}" --target install RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the install target failed (${rc})")
endif()

file(RENAME "${staging}" "${prefix}")
file(GLOB_RECURSE installed RELATIVE "${prefix}" "${prefix}/*")
list(LENGTH installed count)
set(offenders)
foreach(f IN LISTS installed)
  if(f MATCHES "\\.(a|so|o)$")
    message(FATAL_ERROR "${f} is installed: the package must hold no compiled code (ARCH_INDEPENDENT)")
  endif()
  file(READ "${prefix}/${f}" content)
  string(FIND "${content}" "${staging}" at_staging)
  string(FIND "${content}" "${SOURCE_DIR}" at_source)
  if(NOT at_staging EQUAL -1 OR NOT at_source EQUAL -1)
    list(APPEND offenders "${f}")
  endif()
endforeach()
if(offenders)
  message(FATAL_ERROR "not relocatable: these installed files name the staging prefix or the source tree: ${offenders}")
endif()
foreach(required IN ITEMS share/danube/danubeConfig.cmake share/danube/danubeConfigVersion.cmake
                          share/danube/danubeTargets.cmake share/danube/DanubeProto.cmake
                          include/danube/danube.hpp include/danube/generated/danube_proto_all.cc
                          share/danube/proto/danube/wire/danube_api.proto share/danube/DanubeCompiled.cmake)
  if(NOT EXISTS "${prefix}/${required}")
    message(FATAL_ERROR "${required} is not installed")
  endif()
endforeach()
# Every header and definition file (*.ipp) of include/danube, and every source of src/, is installed.
file(GLOB_RECURSE sources RELATIVE "${SOURCE_DIR}/include" "${SOURCE_DIR}/include/danube/*.hpp"
     "${SOURCE_DIR}/include/danube/*.ipp")
foreach(f IN LISTS sources)
  if(NOT EXISTS "${prefix}/include/${f}")
    message(FATAL_ERROR "include/${f} is not installed")
  endif()
endforeach()
file(GLOB sources RELATIVE "${SOURCE_DIR}/src" "${SOURCE_DIR}/src/*.cpp")
foreach(f IN LISTS sources)
  if(NOT EXISTS "${prefix}/share/danube/src/${f}")
    message(FATAL_ERROR "src/${f} is not installed (share/danube/src/)")
  endif()
endforeach()
message(STATUS "installed ${count} files into ${prefix} (relocated from ${staging})")
