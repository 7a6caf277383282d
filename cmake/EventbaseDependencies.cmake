# Finds the Debian 12 packages Eventbase builds against and exposes each as an imported target:
# the link-time libraries through eventbaseFindDependencies.cmake (shared with the installed
# package), plus what only the build needs (msgpack-c's headers, cpp-httplib for the server's
# HTTP endpoint). Any missing package stops the configuration with its name.

include(${CMAKE_CURRENT_LIST_DIR}/eventbaseFindDependencies.cmake)
if(EVENTBASE_MISSING_DEPENDENCY)
  message(FATAL_ERROR "Eventbase needs:${EVENTBASE_MISSING_DEPENDENCY} (scripts/setup.sh "
                      "installs them)")
endif()

# msgpack-c 4.1 (libmsgpack-cxx-dev), header only; built without its Boost parts. Used inside
# the protocol library only: not a dependency of the installed package.
find_package(msgpack CONFIG REQUIRED NAMES msgpack msgpackc-cxx)
add_library(eventbase_msgpack INTERFACE)
target_link_libraries(eventbase_msgpack INTERFACE msgpackc-cxx)
target_compile_definitions(eventbase_msgpack INTERFACE MSGPACK_NO_BOOST)

# cpp-httplib 0.11 (libcpp-httplib-dev): the HTTP endpoint of eventbase-server (health and
# metrics, api/http_endpoint.cc). Debian builds it as a shared library (its compile-time limits
# are fixed in it; the endpoint sets the rest at run time).
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
