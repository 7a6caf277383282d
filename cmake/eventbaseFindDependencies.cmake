# The Debian 12 libraries that Eventbase's libraries need at link time, each as an imported
# target. Shared by the build (cmake/EventbaseDependencies.cmake) and by the installed package
# (eventbaseConfig.cmake includes the installed copy), so an application that does
# find_package(eventbase) finds them the same way the build did.
#
# Contract: defines only targets that do not exist yet (an application may have its own
# caf::core); never fails by itself. When something is missing it sets
# EVENTBASE_MISSING_DEPENDENCY to a message naming it and the Debian package that has it.
#
# cnats' CMake config is broken on Debian (it names files the package does not install): cnats
# and PCRE2 come through pkg-config. CAF 0.17 ships neither a CMake config nor a .pc file: its
# libraries are found by name.

set(EVENTBASE_MISSING_DEPENDENCY "")
macro(_eventbase_missing what package)
  string(APPEND EVENTBASE_MISSING_DEPENDENCY " ${what} (Debian package ${package})")
endmacro()

find_package(Threads QUIET)
if(NOT Threads_FOUND)
  _eventbase_missing("threads" "libc6-dev")
endif()

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  # cnats 3.4 (libnats-dev)
  if(NOT TARGET PkgConfig::NATS)
    pkg_check_modules(NATS QUIET IMPORTED_TARGET libnats)
  endif()
  if(NOT TARGET PkgConfig::NATS)
    _eventbase_missing("cnats" "libnats-dev")
  endif()
  # PCRE2 10.42, 8-bit library (libpcre2-dev): the keys(pattern) regexes. Hostile patterns need
  # its match/depth/heap limits and JIT, which std::regex lacks.
  if(NOT TARGET PkgConfig::PCRE2)
    pkg_check_modules(PCRE2 QUIET IMPORTED_TARGET libpcre2-8)
  endif()
  if(NOT TARGET PkgConfig::PCRE2)
    _eventbase_missing("PCRE2" "libpcre2-dev")
  endif()
else()
  _eventbase_missing("pkg-config" "pkg-config")
endif()

# RocksDB 7.8 (librocksdb-dev): RocksDB::rocksdb-shared
find_package(RocksDB CONFIG QUIET)
if(NOT RocksDB_FOUND)
  _eventbase_missing("RocksDB" "librocksdb-dev")
endif()

# nlohmann_json 3.11 (nlohmann-json3-dev): public headers use it.
find_package(nlohmann_json 3.11 CONFIG QUIET)
if(NOT nlohmann_json_FOUND)
  _eventbase_missing("nlohmann_json 3.11" "nlohmann-json3-dev")
endif()

# OpenSSL 3.0 (libssl-dev): CAF's OpenSSL module is built against it; Eventbase checks TLS
# files with it and signs NATS nkeys.
find_package(OpenSSL 3.0 QUIET)
if(NOT OpenSSL_FOUND)
  _eventbase_missing("OpenSSL 3.0" "libssl-dev")
endif()

# CAF 0.17 (libcaf-dev): core, io, and the OpenSSL module (TLS sessions for caf::io).
find_path(CAF_INCLUDE_DIR caf/all.hpp)
find_library(CAF_CORE_LIBRARY caf_core)
find_library(CAF_IO_LIBRARY caf_io)
find_library(CAF_OPENSSL_LIBRARY caf_openssl)
if(CAF_INCLUDE_DIR AND CAF_CORE_LIBRARY AND CAF_IO_LIBRARY AND CAF_OPENSSL_LIBRARY
   AND Threads_FOUND AND OpenSSL_FOUND)
  # An imported CAF library `target` at `location` that links `links`.
  macro(_eventbase_caf_library target location links)
    if(NOT TARGET ${target})
      add_library(${target} UNKNOWN IMPORTED)
      set_target_properties(${target} PROPERTIES
        IMPORTED_LOCATION "${location}"
        INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${links}")
    endif()
  endmacro()
  _eventbase_caf_library(caf::core "${CAF_CORE_LIBRARY}" Threads::Threads)
  _eventbase_caf_library(caf::io "${CAF_IO_LIBRARY}" caf::core)
  _eventbase_caf_library(caf::openssl "${CAF_OPENSSL_LIBRARY}"
                         "caf::io;OpenSSL::SSL;OpenSSL::Crypto")
elseif(NOT (CAF_INCLUDE_DIR AND CAF_CORE_LIBRARY AND CAF_IO_LIBRARY AND CAF_OPENSSL_LIBRARY))
  _eventbase_missing("CAF 0.17 (caf_core, caf_io, caf_openssl)" "libcaf-dev")
endif()
