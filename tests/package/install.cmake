# The install test (ctest package.install): installs the build into a fresh prefix with
# `cmake --install`, then configures, builds and runs tests/package/consumer against it, as an
# application outside the tree would. Run with cmake -P and
#   -DBUILD_DIR=<the build> -DSOURCE_DIR=<tests/package> -DWORK_DIR=<scratch directory>
#   -DCXX=<compiler> [-DLAUNCHER=ccache]
# Fails on any step, printing its output; also fails when an internal header was installed.
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
require_arguments(install.cmake BUILD_DIR SOURCE_DIR WORK_DIR CXX)

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

foreach(expected include/eventbase/eventbase.hpp include/eventbase/actors.hpp
                 lib/cmake/eventbase/eventbaseConfig.cmake
                 lib/cmake/eventbase/eventbaseConfigVersion.cmake lib/libeventbase.a
                 bin/eventbase-server bin/eventbase)
  if(NOT EXISTS ${prefix}/${expected})
    message(FATAL_ERROR "not installed: ${expected}")
  endif()
endforeach()
file(GLOB_RECURSE headers RELATIVE ${prefix}/include ${prefix}/include/*)
foreach(header IN LISTS headers)
  if(NOT header MATCHES "^eventbase/[a-z_]+\\.hpp$")
    message(FATAL_ERROR "an internal header was installed: include/${header}")
  endif()
endforeach()
if(EXISTS ${prefix}/etc OR EXISTS ${prefix}/lib/systemd)
  message(FATAL_ERROR "the Debian package's service files were installed into the prefix")
endif()

set(launcher)
if(LAUNCHER)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
run("configuring the consumer" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/consumer -B ${WORK_DIR}/build
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release
    ${launcher})
run("building the consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run("running the consumer" ${WORK_DIR}/build/consumer ${WORK_DIR}/data)
if(NOT last_output MATCHES "\\{\"from\":\"outside\"\\}")
  message(FATAL_ERROR "the consumer printed:\n${last_output}")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
message(STATUS "installed, found and used: ${last_output}")
