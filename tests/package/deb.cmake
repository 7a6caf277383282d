# The Debian package test (ctest package.deb): runs `cpack -G DEB` on the build into a scratch
# directory and checks the package with dpkg-deb: the programs, the systemd unit (its user,
# data directory, restart policy, ExecStart with the configuration), the configuration as a
# conffile, the maintainer scripts and the runtime dependencies. Run with cmake -P and
#   -DBUILD_DIR=<the build> -DWORK_DIR=<scratch directory> -DCPACK=<cpack>
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
require_arguments(deb.cmake BUILD_DIR WORK_DIR CPACK)

function(expect text pattern what)
  if(NOT text MATCHES "${pattern}")
    message(FATAL_ERROR "${what}: no match for '${pattern}' in:\n${text}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
run("cpack -G DEB" ${CPACK} -G DEB -B ${WORK_DIR} --config ${BUILD_DIR}/CPackConfig.cmake)
file(GLOB debs ${WORK_DIR}/*.deb)
list(LENGTH debs count)
if(NOT count EQUAL 1)
  message(FATAL_ERROR "expected one .deb in ${WORK_DIR}, found: ${debs}")
endif()
file(SIZE ${debs} size)

run("dpkg-deb -c" dpkg-deb -c ${debs})
set(files "${last_output}")
foreach(path ./usr/bin/eventbase-server ./usr/bin/eventbase
             ./lib/systemd/system/eventbase-server.service ./etc/eventbase/eventbase-server.ini)
  string(REPLACE "." "\\." pattern "${path}")
  expect("${files}" " ${pattern}\n" "package contents")
endforeach()
if(files MATCHES "include/eventbase|\\.a\n|lib/cmake")
  message(FATAL_ERROR "the package holds development files:\n${files}")
endif()

run("dpkg-deb -f" dpkg-deb -f ${debs} Package Depends Recommends)
set(control "${last_output}")
expect("${control}" "Package: eventbase\n" "control")
foreach(dependency libcaf-core0.17 libcaf-io0.17 libcaf-openssl0.17 libnats3.4 librocksdb7.8
                   libpcre2-8-0 libcpp-httplib0.11 adduser)
  expect("${control}" "${dependency}" "Depends")
endforeach()
expect("${control}" "Recommends: nats-server" "Recommends")

run("dpkg-deb -I conffiles" dpkg-deb -I ${debs} conffiles)
expect("${last_output}" "^/etc/eventbase/eventbase-server.ini\n$" "conffiles")
run("dpkg-deb -I postinst" dpkg-deb -I ${debs} postinst)
expect("${last_output}" "adduser --system" "postinst")
run("dpkg-deb -I prerm" dpkg-deb -I ${debs} prerm)

file(MAKE_DIRECTORY ${WORK_DIR}/root)
run("dpkg-deb -x" dpkg-deb -x ${debs} ${WORK_DIR}/root)
file(READ ${WORK_DIR}/root/lib/systemd/system/eventbase-server.service unit)
foreach(line "User=eventbase" "StateDirectory=eventbase" "WorkingDirectory=/var/lib/eventbase"
             "Restart=on-failure"
             "ExecStart=/usr/bin/eventbase-server --config-file=/etc/eventbase/eventbase-server.ini")
  expect("${unit}" "\n${line}\n" "eventbase-server.service")
endforeach()
file(READ ${WORK_DIR}/root/etc/eventbase/eventbase-server.ini ini)
expect("${ini}" "\ndb=\"/var/lib/eventbase\"\n" "eventbase-server.ini")
run("the packaged eventbase --help" ${WORK_DIR}/root/usr/bin/eventbase --help)
file(REMOVE_RECURSE ${WORK_DIR})
message(STATUS "package of ${size} bytes: contents, unit, conffile and dependencies as expected")
