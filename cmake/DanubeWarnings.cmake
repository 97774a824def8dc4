# Warnings for danube-cpp's own targets only. Generated and third-party headers reach our targets
# as SYSTEM includes, so their warnings never fail our build.
add_library(danube_warnings INTERFACE)
add_library(danube::warnings ALIAS danube_warnings)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(
    danube_warnings
    INTERFACE -Wall
              -Wextra
              -Wpedantic
              -Wshadow
              -Wconversion
              -Wsign-conversion
              -Wnon-virtual-dtor
              -Wold-style-cast
              -Werror)
elseif(MSVC)
  target_compile_options(danube_warnings INTERFACE /W4 /permissive- /WX)
endif()

# Marks a target as ours: C++23, our warnings as errors.
function(danube_own_target target)
  target_compile_features(${target} PRIVATE cxx_std_23)
  target_link_libraries(${target} PRIVATE danube::warnings)
endfunction()
