# The CUDA LibTorch inside the evax-node-cuda package (included by Packaging.cmake for the CUDA
# flavour): the wheel's libraries the node needs, installed under /opt/evax-node-cuda in the
# wheel's own layout (torch/lib, nvidia/<part>/lib) so that LibTorch's RPATHs
# ($ORIGIN/../../nvidia/...) find them there; the binary's RUNPATH points at them.
#
# Which libraries: the executable's ELF dependency closure inside the wheel, plus those loaded
# by name at run time that no NEEDED entry lists: cuDNN 9's sub-libraries and engines (opened
# by libcudnn.so.9), NVRTC's builtins, and LibTorch's CUDA linear algebra (opened the first
# time such an operation runs). Python's own parts (libtorch_python, headers, static
# libraries) stay out.

set(EVAX_BUNDLE_ROOT /opt/evax-node-cuda)
get_filename_component(evax_site_packages "${EVAX_LIBTORCH_DIR}" DIRECTORY)

file(GLOB evax_loaded_by_name
  "${evax_site_packages}/nvidia/cudnn/lib/lib*.so*"
  "${evax_site_packages}/nvidia/cu[0-9]*/lib/libnvrtc-builtins.so*"
  "${EVAX_LIBTORCH_LIB_DIR}/libtorch_cuda_linalg.so")

# RUNPATH of the installed binary: LibTorch, and the CUDA runtime it calls directly.
set(evax_install_rpath "$ORIGIN/../..${EVAX_BUNDLE_ROOT}/torch/lib")
set(EVAX_BUNDLED_LIB_DIRS "${EVAX_BUNDLE_ROOT}/torch/lib")
foreach(dir IN LISTS evax_wheel_cuda_lib_dirs)
  file(RELATIVE_PATH relative "${evax_site_packages}" "${dir}")
  string(APPEND evax_install_rpath ":$ORIGIN/../..${EVAX_BUNDLE_ROOT}/${relative}")
endforeach()
set_target_properties(evax-node PROPERTIES INSTALL_RPATH "${evax_install_rpath}")

install(CODE "
  file(GET_RUNTIME_DEPENDENCIES
    EXECUTABLES \"$<TARGET_FILE:evax-node>\"
    LIBRARIES ${evax_loaded_by_name}
    RESOLVED_DEPENDENCIES_VAR evax_resolved
    UNRESOLVED_DEPENDENCIES_VAR evax_unresolved
    POST_INCLUDE_REGEXES \"^${evax_site_packages}/\"
    POST_EXCLUDE_REGEXES \".*\")
  set(evax_bundled ${evax_loaded_by_name})
  list(APPEND evax_bundled \${evax_resolved})
  list(REMOVE_DUPLICATES evax_bundled)
  foreach(library IN LISTS evax_bundled)
    file(RELATIVE_PATH relative \"${evax_site_packages}\" \"\${library}\")
    get_filename_component(relative_dir \"\${relative}\" DIRECTORY)
    file(INSTALL \"\${library}\" DESTINATION \"${EVAX_BUNDLE_ROOT}/\${relative_dir}\" FOLLOW_SYMLINK_CHAIN)
  endforeach()
  list(LENGTH evax_bundled evax_count)
  message(STATUS \"evax-node-cuda: bundled \${evax_count} LibTorch and CUDA libraries under ${EVAX_BUNDLE_ROOT}\")
")
