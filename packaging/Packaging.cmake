# The Debian package (cpack -G DEB in the build directory): the binary, the configuration under
# /etc/evax-node (data in /var/lib/evax-node), the hardened systemd unit, the docs, and the
# maintainer scripts that create the service user. Library dependencies come from
# dpkg-shlibdeps; the pthread OpenBLAS is named because LibTorch silently runs 6-10x slower
# with the reference BLAS.

# The shipped example, pointed at the system data directory.
file(READ "${PROJECT_SOURCE_DIR}/packaging/evax-node.example.json" evax_packaged_config)
string(REPLACE "\"data_dir\": \"evax-data\"" "\"data_dir\": \"/var/lib/evax-node\"" evax_packaged_config
       "${evax_packaged_config}")
if(NOT evax_packaged_config MATCHES "/var/lib/evax-node")
  message(FATAL_ERROR "packaging/evax-node.example.json no longer has \"data_dir\": \"evax-data\"; update Packaging.cmake")
endif()
file(WRITE "${PROJECT_BINARY_DIR}/packaging/evax-node.json" "${evax_packaged_config}")

install(FILES "${PROJECT_BINARY_DIR}/packaging/evax-node.json" DESTINATION /etc/evax-node)
install(FILES "${PROJECT_SOURCE_DIR}/packaging/evax-node.service" DESTINATION /lib/systemd/system)
install(FILES "${PROJECT_SOURCE_DIR}/README.md" "${PROJECT_SOURCE_DIR}/docs/results.md"
        DESTINATION share/doc/evax-node)
install(DIRECTORY DESTINATION /var/lib/evax-node)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME evax-node)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "evax-node maintainers <evax-node@localhost>")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libopenblas0-pthread, adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "dcmtk")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/debian/postinst;${PROJECT_SOURCE_DIR}/packaging/debian/prerm;${PROJECT_SOURCE_DIR}/packaging/debian/postrm;${PROJECT_SOURCE_DIR}/packaging/debian/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
