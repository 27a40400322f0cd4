# Debian ships OpenCV's CMake package only with the libopencv-dev meta package, which pulls in
# every module (VTK, Qt, ...). The node needs three: find them directly.
find_path(EVAX_OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
foreach(module core imgproc imgcodecs)
  find_library(EVAX_OPENCV_${module}_LIBRARY opencv_${module} REQUIRED)
  add_library(evax_opencv_${module} UNKNOWN IMPORTED)
  set_target_properties(evax_opencv_${module} PROPERTIES
    IMPORTED_LOCATION "${EVAX_OPENCV_${module}_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${EVAX_OPENCV_INCLUDE_DIR}")
endforeach()
