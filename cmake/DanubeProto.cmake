# danube_add_proto_library(<name> SOURCE GENERATE|PREGENERATED [OUT_DIR <dir>])
#
# Builds the static library holding the protobuf/gRPC code for proto/. GENERATE runs the
# consumer's protoc and grpc_cpp_plugin at build time into OUT_DIR (default
# ${CMAKE_CURRENT_BINARY_DIR}/generated), so the generated code always matches the protobuf runtime
# it links; PREGENERATED compiles the committed generated/ tree (protobuf 3.21.12 / gRPC 1.51.1).
# Either way the code is compiled once, into this one library, and its headers reach dependants as
# SYSTEM includes. The library is EXCLUDE_FROM_ALL: it is built when something links it.
#
# This file is also installed next to danubeConfig.cmake, which sets DANUBE_PROTO_DIR and
# DANUBE_GENERATED_DIR to the installed proto/ and generated/ trees before including it and then
# creates danube::proto in the consumer's build (docs/packaging.md).
if(NOT DANUBE_PROTO_DIR)
  set(DANUBE_PROTO_DIR "${CMAKE_CURRENT_LIST_DIR}/../proto")
endif()
if(NOT DANUBE_GENERATED_DIR)
  set(DANUBE_GENERATED_DIR "${CMAKE_CURRENT_LIST_DIR}/../generated")
endif()
set(DANUBE_PROTO_FILES danube/wire/danube_api danube/wire/auth_service danube/wire/schema_registry)

function(danube_proto_outputs out_dir out_var)
  set(outputs)
  foreach(stem IN LISTS DANUBE_PROTO_FILES)
    list(APPEND outputs "${out_dir}/${stem}.pb.h" "${out_dir}/${stem}.pb.cc" "${out_dir}/${stem}.grpc.pb.h"
         "${out_dir}/${stem}.grpc.pb.cc")
  endforeach()
  set(${out_var} ${outputs} PARENT_SCOPE)
endfunction()

# Adds a custom command that writes the generated sources for proto/ into out_dir.
function(danube_generate_proto out_dir)
  get_filename_component(proto_dir "${DANUBE_PROTO_DIR}" ABSOLUTE)
  set(inputs)
  foreach(stem IN LISTS DANUBE_PROTO_FILES)
    list(APPEND inputs "${proto_dir}/${stem}.proto")
  endforeach()
  danube_proto_outputs("${out_dir}" outputs)
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${out_dir}"
    COMMAND protobuf::protoc --proto_path=${proto_dir} --cpp_out=${out_dir} --grpc_out=${out_dir}
            --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin> ${inputs}
    DEPENDS ${inputs} protobuf::protoc gRPC::grpc_cpp_plugin
    COMMENT "Generating protobuf/gRPC code for danube-cpp"
    VERBATIM)
endfunction()

function(danube_add_proto_library name)
  cmake_parse_arguments(arg "" "SOURCE;OUT_DIR" "" ${ARGN})
  if(arg_SOURCE STREQUAL "PREGENERATED")
    get_filename_component(gen_dir "${DANUBE_GENERATED_DIR}" ABSOLUTE)
    add_library(${name} STATIC "${gen_dir}/danube_proto_all.cc")
  elseif(arg_SOURCE STREQUAL "GENERATE")
    set(gen_dir "${CMAKE_CURRENT_BINARY_DIR}/generated")
    if(arg_OUT_DIR)
      set(gen_dir "${arg_OUT_DIR}")
    endif()
    # Exists before the build: CMake refuses an include directory that does not exist when it is
    # reached through an imported target (danube::danube of an installed package).
    file(MAKE_DIRECTORY "${gen_dir}")
    danube_generate_proto("${gen_dir}")
    danube_proto_outputs("${gen_dir}" outputs)
    add_library(${name} STATIC ${outputs})
  else()
    message(FATAL_ERROR "DANUBE_PROTO_SOURCE must be GENERATE or PREGENERATED, not '${arg_SOURCE}'")
  endif()
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON EXPORT_NAME proto EXCLUDE_FROM_ALL ON)
  target_compile_features(${name} PUBLIC cxx_std_17)
  target_include_directories(${name} SYSTEM PUBLIC $<BUILD_INTERFACE:${gen_dir}>
                                                  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/danube/generated>)
  target_link_libraries(${name} PUBLIC gRPC::grpc++ protobuf::libprotobuf)
endfunction()

# `danube_regenerate` rewrites the committed generated/ tree from proto/.
function(danube_add_regenerate_target)
  get_filename_component(proto_dir "${DANUBE_PROTO_DIR}" ABSOLUTE)
  get_filename_component(gen_dir "${DANUBE_GENERATED_DIR}" ABSOLUTE)
  add_custom_target(
    danube_regenerate
    COMMAND "${CMAKE_COMMAND}" -DPROTOC=$<TARGET_FILE:protobuf::protoc>
            -DGRPC_PLUGIN=$<TARGET_FILE:gRPC::grpc_cpp_plugin> -DPROTO_DIR=${proto_dir} -DOUT_DIR=${gen_dir} -P
            "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/DanubeRegenerate.cmake"
    COMMENT "Regenerating the committed generated/ tree"
    VERBATIM)
endfunction()
