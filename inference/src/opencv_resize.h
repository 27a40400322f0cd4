// OpenCV's cv::resize(src, dst, {width, height}, 0, 0, INTER_LINEAR) on an 8-bit image, reproduced
// bit for bit without linking OpenCV (the engine builds with LibTorch alone): what mmcv's
// `imresize` (cv2 backend) gives mmseg's Resize. Thread-safe.
#pragma once

#include "evax/inference/grey_image.h"

namespace evax::inference {

// OpenCV 4's arithmetic: half-pixel centres, edge pixels replicated, 11-bit fixed-point weights
// rounded from float, the rows' sums scaled down with OpenCV's rounding; an exact 2x downscale
// in both directions is the 2x2 mean rounded half up (OpenCV's INTER_AREA shortcut for it).
// Same size: a copy. `width` and `height` must be positive.
GreyImage opencv_resize_linear(const GreyImage& image, int width, int height);

}  // namespace evax::inference
