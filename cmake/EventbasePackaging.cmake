# What `cmake --install` puts where, and the Debian package `cpack -G DEB` makes of it.
#
# Two install components:
#   server  the programs eventbase-server and eventbase, the systemd unit, the sample
#           configuration: the Debian package (README "Installing the Debian package")
#   dev     the public headers (include/eventbase), the static libraries and the CMake package
#           (lib/cmake/eventbase): find_package(eventbase) + eventbase::eventbase
# `cmake --install build --prefix P` installs both.

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# -- the CMake package --------------------------------------------------------------------------

set(EVENTBASE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/eventbase)
set_target_properties(eventbase_base PROPERTIES EXPORT_NAME base)
set_target_properties(eventbase_protocol PROPERTIES EXPORT_NAME protocol)
set_target_properties(eventbase_storage PROPERTIES EXPORT_NAME storage)
set_target_properties(eventbase_nats PROPERTIES EXPORT_NAME nats)
set_target_properties(eventbase_actors PROPERTIES EXPORT_NAME actors)
install(TARGETS eventbase_base eventbase_protocol eventbase_storage eventbase_nats
                eventbase_actors eventbase
        EXPORT eventbaseTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/eventbase DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(EXPORT eventbaseTargets NAMESPACE eventbase:: DESTINATION ${EVENTBASE_CMAKE_DIR}
        COMPONENT dev)
configure_package_config_file(packaging/eventbaseConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/eventbaseConfig.cmake
                              INSTALL_DESTINATION ${EVENTBASE_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/eventbaseConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/eventbaseConfig.cmake
              ${PROJECT_BINARY_DIR}/eventbaseConfigVersion.cmake
              cmake/eventbaseFindDependencies.cmake
        DESTINATION ${EVENTBASE_CMAKE_DIR} COMPONENT dev)

# -- the programs, the service --------------------------------------------------------------------

install(TARGETS eventbase-server eventbase-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        COMPONENT server)

# The service: only for the Debian package, whose files live at absolute paths (/etc,
# /lib/systemd). EXCLUDE_FROM_ALL keeps them out of `cmake --install` into a prefix; cpack
# installs the component by name.
set(EVENTBASE_PACKAGE_PREFIX /usr)
set(EVENTBASE_ETC_DIR /etc/eventbase)
set(EVENTBASE_SERVER_PATH ${EVENTBASE_PACKAGE_PREFIX}/${CMAKE_INSTALL_BINDIR}/eventbase-server)
configure_file(packaging/eventbase-server.service.in
               ${PROJECT_BINARY_DIR}/packaging/eventbase-server.service @ONLY)
# The sample configuration (configs/eventbase-server.ini documents every option), with the
# data under /var/lib/eventbase.
file(READ configs/eventbase-server.ini EVENTBASE_SAMPLE_INI)
string(REPLACE "\ndb=\"./data\"\n" "\ndb=\"/var/lib/eventbase\"\n" EVENTBASE_PACKAGE_INI
               "${EVENTBASE_SAMPLE_INI}")
if(EVENTBASE_PACKAGE_INI STREQUAL EVENTBASE_SAMPLE_INI)
  message(FATAL_ERROR "configs/eventbase-server.ini has no line db=\"./data\" to point at "
                      "/var/lib/eventbase in the Debian package")
endif()
file(WRITE ${PROJECT_BINARY_DIR}/packaging/eventbase-server.ini "${EVENTBASE_PACKAGE_INI}")
install(FILES ${PROJECT_BINARY_DIR}/packaging/eventbase-server.service
        DESTINATION /lib/systemd/system COMPONENT service EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_BINARY_DIR}/packaging/eventbase-server.ini
        DESTINATION ${EVENTBASE_ETC_DIR} COMPONENT service EXCLUDE_FROM_ALL)
file(WRITE ${PROJECT_BINARY_DIR}/packaging/conffiles "${EVENTBASE_ETC_DIR}/eventbase-server.ini\n")

# -- the Debian package: cpack -G DEB in the build directory ------------------------------------

set(CPACK_PACKAGE_NAME eventbase)
set(CPACK_PACKAGE_VENDOR "Eventbase")
set(CPACK_PACKAGE_CONTACT "Eventbase maintainers <eventbase@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "event-sourced key-value database on NATS JetStream (server, client, systemd unit)")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX ${EVENTBASE_PACKAGE_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL server service)
set(CPACK_DEBIAN_PACKAGE_NAME eventbase)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The Debian 12 runtime packages of the libraries the programs link (the Dockerfile's list);
# nats-server for the embedded default (no NATS servers configured).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6, libstdc++6, libcaf-core0.17, libcaf-io0.17, libcaf-openssl0.17, libssl3, \
libnats3.4, librocksdb7.8, libpcre2-8-0, libcpp-httplib0.11, adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "nats-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm ${PROJECT_BINARY_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
