# Finds the Debian 12 packages Eventbase builds against and exposes each as an imported target.
# See NOTES in README "Building": cnats' CMake config is broken on Debian (use pkg-config), CAF
# 0.17 ships no CMake config at all.

find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

# cnats 3.4 (libnats-dev)
pkg_check_modules(NATS REQUIRED IMPORTED_TARGET libnats)

# PCRE2 10.42 (libpcre2-dev), 8-bit library: the keys(pattern) regexes. Hostile patterns need
# its match/depth/heap limits and JIT, which std::regex lacks.
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)

# RocksDB 7.8 (librocksdb-dev)
find_package(RocksDB CONFIG REQUIRED)

# msgpack-c 4.1 (libmsgpack-cxx-dev), header only; built without its Boost parts.
find_package(msgpack CONFIG REQUIRED NAMES msgpack msgpackc-cxx)
add_library(eventbase_msgpack INTERFACE)
target_link_libraries(eventbase_msgpack INTERFACE msgpackc-cxx)
target_compile_definitions(eventbase_msgpack INTERFACE MSGPACK_NO_BOOST)

# nlohmann_json 3.11 (nlohmann-json3-dev)
find_package(nlohmann_json 3.11 CONFIG REQUIRED)

# CAF 0.17 (libcaf-dev): core, io and the header-only caf-test.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
find_library(CAF_IO_LIBRARY caf_io REQUIRED)
add_library(caf::core UNKNOWN IMPORTED)
set_target_properties(caf::core PROPERTIES
  IMPORTED_LOCATION "${CAF_CORE_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
  INTERFACE_LINK_LIBRARIES Threads::Threads)
add_library(caf::io UNKNOWN IMPORTED)
set_target_properties(caf::io PROPERTIES
  IMPORTED_LOCATION "${CAF_IO_LIBRARY}"
  INTERFACE_LINK_LIBRARIES caf::core)

# OpenSSL 3.0 (libssl-dev): CAF's OpenSSL module is built against it, and Eventbase uses it
# directly to check TLS files before it starts, to read why a TLS handshake failed, and for
# the Ed25519 of NATS nkeys.
find_package(OpenSSL 3.0 REQUIRED)

# CAF 0.17's OpenSSL module (libcaf_openssl, shipped in libcaf-dev): TLS sessions for
# caf::io's connections (mutual TLS between nodes and clients).
find_library(CAF_OPENSSL_LIBRARY caf_openssl REQUIRED)
add_library(caf::openssl UNKNOWN IMPORTED)
set_target_properties(caf::openssl PROPERTIES
  IMPORTED_LOCATION "${CAF_OPENSSL_LIBRARY}"
  INTERFACE_LINK_LIBRARIES "caf::io;OpenSSL::SSL;OpenSSL::Crypto")
