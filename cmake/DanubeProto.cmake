# danube_add_proto_library(<name> SOURCE GENERATE|PREGENERATED)
#
# Builds the static library holding the protobuf/gRPC code for proto/. GENERATE runs the
# consumer's protoc and grpc_cpp_plugin at build time (so the generated code always matches the
# protobuf runtime it links); PREGENERATED compiles the committed generated/ tree (protobuf
# 3.21.12 / gRPC 1.51.1). Either way the code is compiled once, into this one library, and its
# headers reach dependants as SYSTEM includes.
set(DANUBE_PROTO_DIR "${CMAKE_CURRENT_LIST_DIR}/../proto")
set(DANUBE_GENERATED_DIR "${CMAKE_CURRENT_LIST_DIR}/../generated")
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
  cmake_parse_arguments(arg "" "SOURCE" "" ${ARGN})
  if(arg_SOURCE STREQUAL "PREGENERATED")
    get_filename_component(gen_dir "${DANUBE_GENERATED_DIR}" ABSOLUTE)
    add_library(${name} STATIC "${gen_dir}/danube_proto_all.cc")
  elseif(arg_SOURCE STREQUAL "GENERATE")
    set(gen_dir "${CMAKE_CURRENT_BINARY_DIR}/generated")
    danube_generate_proto("${gen_dir}")
    danube_proto_outputs("${gen_dir}" outputs)
    add_library(${name} STATIC ${outputs})
  else()
    message(FATAL_ERROR "DANUBE_PROTO_SOURCE must be GENERATE or PREGENERATED, not '${arg_SOURCE}'")
  endif()
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON EXPORT_NAME proto)
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
