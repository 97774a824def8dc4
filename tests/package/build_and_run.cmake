# cmake -DSOURCE=<consumer project> -DBINARY=<build dir> -DGENERATOR=<generator> -DCXX_COMPILER=<c++>
#       [-DLAUNCHER=<ccache>] [-DJOBS=2] [-DOPTIONS=-Da=1|-Db=2] -DPROGRAMS=<executable>[|<executable>...]
#       -P build_and_run.cmake
#
# One package test: configures a consumer project, builds it (at most JOBS compile jobs) and runs
# each program it builds, in order; fails at the first step that fails. The build directory is kept, so a
# second run only rebuilds what changed. Prints how long each step took.
cmake_minimum_required(VERSION 3.25)
foreach(var SOURCE BINARY GENERATOR CXX_COMPILER PROGRAMS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "build_and_run.cmake: ${var} is not set")
  endif()
endforeach()
if(NOT JOBS)
  set(JOBS 2)
endif()
string(REPLACE "|" ";" options "${OPTIONS}")
string(REPLACE "|" ";" programs "${PROGRAMS}")

function(now out)
  string(TIMESTAMP t "%s%f" UTC)
  string(SUBSTRING "${t}" 0 13 ms)  # seconds and the first 3 digits of the microseconds
  set(${out} ${ms} PARENT_SCOPE)
endfunction()

# run_step(<name> <command>...): runs the command, echoing its output, and fails on a non-zero exit.
function(run_step name)
  now(t0)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc TIMEOUT 900)
  now(t1)
  math(EXPR elapsed "${t1} - ${t0}")
  math(EXPR seconds "${elapsed} / 1000")
  math(EXPR tenths "(${elapsed} % 1000) / 100")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package test: ${name} failed (${rc}) after ${seconds}.${tenths} s")
  endif()
  message(STATUS "package test: ${name} ok in ${seconds}.${tenths} s")
endfunction()

set(configure "${CMAKE_COMMAND}" -S "${SOURCE}" -B "${BINARY}" -G "${GENERATOR}"
              "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=")
if(LAUNCHER)
  list(APPEND configure "-DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER}")
endif()
run_step(configure ${configure} ${options})
run_step(build "${CMAKE_COMMAND}" --build "${BINARY}" --parallel ${JOBS})
foreach(program IN LISTS programs)
  run_step("run ${program}" "${BINARY}/${program}")
endforeach()
