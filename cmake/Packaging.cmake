# Installed beyond the C/C++ parts (issue 18): the Python package (with the dist-info that
# registers its pytest plugin), the systemd units, the Grafana dashboard, the alert rules and the
# documentation; and the Debian package (`cmake --build BUILD --target package` writes
# ttmem_<version>_amd64.deb into BUILD; docs/packaging.md).

# Python: Debian's path for packages installed with the system's python3 (/usr/lib/python3/
# dist-packages in the .deb). For a /usr/local install, set
# -DTTMEM_PYTHON_DIR=lib/python3.11/dist-packages (or use `pip install ./python`).
set(TTMEM_PYTHON_DIR "lib/python3/dist-packages" CACHE STRING
    "where the Python package is installed, relative to the prefix")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/ttmem DESTINATION ${TTMEM_PYTHON_DIR}
        FILES_MATCHING PATTERN "*.py" PATTERN "__pycache__" EXCLUDE)
set(_distinfo ${CMAKE_CURRENT_BINARY_DIR}/python/ttmem-${PROJECT_VERSION}.dist-info)
file(WRITE ${_distinfo}/METADATA
     "Metadata-Version: 2.1\nName: ttmem\nVersion: ${PROJECT_VERSION}\nSummary: Who holds Tenstorrent device memory: ttmemd's Python client, leak checks and a pytest plugin\n")
file(WRITE ${_distinfo}/entry_points.txt "[pytest11]\nttmem = ttmem.pytest_plugin\n")
file(WRITE ${_distinfo}/top_level.txt "ttmem\n")
file(WRITE ${_distinfo}/INSTALLER "cmake\n")
install(DIRECTORY ${_distinfo} DESTINATION ${TTMEM_PYTHON_DIR})

# systemd units, with ExecStart and the documentation path of the prefix installed to (known only
# at install time: CPack installs to /usr). Under /usr they go to /lib/systemd/system (Debian 12),
# else under the prefix. Installed, not enabled: `systemctl enable --now ttmemd.socket`.
install(CODE "
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(_unitdir \"/lib/systemd/system\")
  else()
    set(_unitdir \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
  endif()
  foreach(_unit ttmemd.service ttmemd.socket)
    file(READ \"${PROJECT_SOURCE_DIR}/packaging/\${_unit}\" _text)
    string(REPLACE \"/usr/local/bin/\" \"\${CMAKE_INSTALL_PREFIX}/bin/\" _text \"\${_text}\")
    string(REPLACE \"/usr/local/share/\" \"\${CMAKE_INSTALL_PREFIX}/share/\" _text \"\${_text}\")
    file(WRITE \"\$ENV{DESTDIR}\${_unitdir}/\${_unit}\" \"\${_text}\")
    message(STATUS \"Installing: \$ENV{DESTDIR}\${_unitdir}/\${_unit}\")
  endforeach()
  # The metrics drop-in: shipped, not active (copied into ttmemd.service.d by whoever wants it).
  file(READ \"${PROJECT_SOURCE_DIR}/packaging/ttmemd-metrics.conf\" _text)
  string(REPLACE \"/usr/local/bin/\" \"\${CMAKE_INSTALL_PREFIX}/bin/\" _text \"\${_text}\")
  string(REPLACE \"/usr/local/share/\" \"\${CMAKE_INSTALL_PREFIX}/share/\" _text \"\${_text}\")
  file(WRITE \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/share/ttmem/systemd/metrics.conf\" \"\${_text}\")
")

install(FILES ${PROJECT_SOURCE_DIR}/packaging/grafana/ttmem.json
        DESTINATION ${CMAKE_INSTALL_DATADIR}/ttmem/grafana)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/prometheus/ttmem-alerts.yml
              ${PROJECT_SOURCE_DIR}/packaging/prometheus/ttmem-alerts.test.yml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/ttmem/prometheus)
file(GLOB _docs ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${_docs} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/packaging/debian/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
# Debian wants the changelog compressed, reproducibly (gzip -9n).
add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/changelog.gz
                   COMMAND gzip -9n -c ${PROJECT_SOURCE_DIR}/packaging/debian/changelog >
                           ${CMAKE_CURRENT_BINARY_DIR}/changelog.gz
                   DEPENDS ${PROJECT_SOURCE_DIR}/packaging/debian/changelog)
add_custom_target(ttmem_changelog ALL DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/changelog.gz)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})

# --- the Debian package ---
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "ttmem")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "who holds Tenstorrent device memory, on which device")
set(CPACK_PACKAGE_DESCRIPTION
    "ttmem accounts for the device memory that tt-metal's allocators keep
inside each process (DRAM, L1, L1_SMALL, TRACE, circular buffers, kernel
binaries). ttmemd aggregates every process's reports per device, memory type
and process; ttmem shows them (status, top), records and reports runs, and
exports Prometheus metrics; libttmem is the client library a runtime calls on
every allocation and free.")
set(CPACK_PACKAGE_CONTACT "ttmem developers <ttmem-developers@users.noreply.github.com>")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "utils")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # dpkg-shlibdeps: the runtime libraries' packages
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)  # libttmem.so.0's shlibs file
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/packaging/debian/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES TRUE)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR})
include(CPack)
