# The Debian package (cpack -G DEB in the build directory): the binary, the configuration under
# /etc/evax-node (data in /var/lib/evax-node), the hardened systemd unit, the docs, and the
# maintainer scripts that create the service user. Library dependencies come from
# dpkg-shlibdeps. Two packages, one per flavour:
# - evax-node (build/): Debian's LibTorch, a dependency like any other; the pthread OpenBLAS is
#   named because LibTorch silently runs 6-10x slower with the reference BLAS.
# - evax-node-cuda (build-cuda/): the CUDA LibTorch of PyPI's torch wheel has no Debian package,
#   so the package carries it under /opt/evax-node-cuda: the libraries the binary loads and the
#   ones LibTorch and cuDNN open at run time, in the wheel's own layout so that their RPATHs
#   ($ORIGIN/../../nvidia/...) hold. Only the NVIDIA driver comes from the machine.

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

if(EVAX_LIBTORCH_CUDA)
  include(packaging/BundleLibTorch.cmake)
endif()

set(CPACK_GENERATOR DEB)
if(EVAX_LIBTORCH_CUDA)
  set(CPACK_PACKAGE_NAME evax-node-cuda)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
  # One node per machine: the two flavours share the binary's path, the config and the unit.
  set(CPACK_DEBIAN_PACKAGE_CONFLICTS "evax-node")
  set(CPACK_DEBIAN_PACKAGE_REPLACES "evax-node")
  set(CPACK_DEBIAN_PACKAGE_PROVIDES "evax-node")
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${EVAX_BUNDLED_LIB_DIRS})
  # zstd, multi-threaded: the bundled GPU libraries are ~3 GB; xz would take many minutes.
  set(CPACK_DEBIAN_COMPRESSION_TYPE zstd)
  set(CPACK_THREADS 0)
else()
  set(CPACK_PACKAGE_NAME evax-node)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libopenblas0-pthread, adduser")
endif()
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "evax-node maintainers <evax-node@localhost>")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "dcmtk")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/debian/postinst;${PROJECT_SOURCE_DIR}/packaging/debian/prerm;${PROJECT_SOURCE_DIR}/packaging/debian/postrm;${PROJECT_SOURCE_DIR}/packaging/debian/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
