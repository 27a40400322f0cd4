#include "evax/inference/lung_mask.h"

#include <algorithm>
#include <cstdio>
#include <deque>

namespace evax::inference {
namespace {

std::string percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%", 100.0 * fraction);
  return text;
}

// 8-connected components of the foreground; labels[i] = component index + 1, or 0.
std::vector<std::int64_t> label_components(const std::vector<std::uint8_t>& mask, int width, int height,
                                           std::vector<std::int32_t>& labels) {
  labels.assign(mask.size(), 0);
  std::vector<std::int64_t> sizes;
  std::vector<std::int64_t> stack;
  for (std::int64_t start = 0; start < static_cast<std::int64_t>(mask.size()); ++start) {
    if (!mask[start] || labels[start]) continue;
    const auto label = static_cast<std::int32_t>(sizes.size() + 1);
    std::int64_t size = 0;
    labels[start] = label;
    stack.push_back(start);
    while (!stack.empty()) {
      const std::int64_t at = stack.back();
      stack.pop_back();
      ++size;
      const int x = static_cast<int>(at % width), y = static_cast<int>(at / width);
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
          const std::int64_t next = static_cast<std::int64_t>(ny) * width + nx;
          if (mask[next] && !labels[next]) {
            labels[next] = label;
            stack.push_back(next);
          }
        }
      }
    }
    sizes.push_back(size);
  }
  return sizes;
}

// One component as its own mask with the holes filled: background inside its bounding box that
// no 4-connected path joins to the box's edge.
LungRegion fill_region(const std::vector<std::int32_t>& labels, std::int32_t label, int width, int height) {
  int left = width, right = -1, top = height, bottom = -1;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      if (labels[static_cast<std::size_t>(y) * width + x] == label) {
        left = std::min(left, x), right = std::max(right, x), top = std::min(top, y), bottom = std::max(bottom, y);
      }
  LungRegion region;
  region.mask.assign(labels.size(), 0);
  const int box_width = right - left + 1, box_height = bottom - top + 1;
  std::vector<std::uint8_t> outside(static_cast<std::size_t>(box_width) * box_height, 0);
  auto inside_region = [&](int x, int y) { return labels[static_cast<std::size_t>(y) * width + x] == label; };
  std::deque<std::pair<int, int>> queue;
  auto visit = [&](int x, int y) {
    std::uint8_t& seen = outside[static_cast<std::size_t>(y - top) * box_width + (x - left)];
    if (seen || inside_region(x, y)) return;
    seen = 1;
    queue.emplace_back(x, y);
  };
  for (int x = left; x <= right; ++x) visit(x, top), visit(x, bottom);
  for (int y = top; y <= bottom; ++y) visit(left, y), visit(right, y);
  while (!queue.empty()) {
    const auto [x, y] = queue.front();
    queue.pop_front();
    if (x > left) visit(x - 1, y);
    if (x < right) visit(x + 1, y);
    if (y > top) visit(x, y - 1);
    if (y < bottom) visit(x, y + 1);
  }
  double sum_x = 0, sum_y = 0;
  for (int y = top; y <= bottom; ++y) {
    for (int x = left; x <= right; ++x) {
      if (outside[static_cast<std::size_t>(y - top) * box_width + (x - left)]) continue;
      region.mask[static_cast<std::size_t>(y) * width + x] = 1;
      ++region.pixel_count;
      sum_x += x, sum_y += y;
    }
  }
  region.centroid_x = sum_x / static_cast<double>(region.pixel_count);
  region.centroid_y = sum_y / static_cast<double>(region.pixel_count);
  return region;
}

}  // namespace

LungMasks extract_lungs(const std::vector<std::uint8_t>& mask, int width, int height, const LungMaskLimits& limits) {
  LungMasks result;
  if (width <= 0 || height <= 0 || mask.size() != static_cast<std::size_t>(width) * height) {
    result.rejection = "the mask does not match its image size";
    return result;
  }
  result.raw_pixel_count = std::count_if(mask.begin(), mask.end(), [](std::uint8_t v) { return v != 0; });
  if (result.raw_pixel_count == 0) {
    result.rejection = "empty mask: no pixel above the threshold";
    return result;
  }
  std::vector<std::int32_t> labels;
  const std::vector<std::int64_t> sizes = label_components(mask, width, height, labels);
  if (sizes.size() < 2) {
    result.rejection = "one connected region covering " + percent(static_cast<double>(sizes[0]) / static_cast<double>(mask.size())) +
                       " of the image, not two lungs";
    return result;
  }
  std::vector<std::int32_t> order(sizes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int32_t>(i);
  std::partial_sort(order.begin(), order.begin() + 2, order.end(), [&](auto a, auto b) { return sizes[a] > sizes[b]; });

  std::vector<LungRegion> regions{fill_region(labels, order[0] + 1, width, height), fill_region(labels, order[1] + 1, width, height)};
  const double image_pixels = static_cast<double>(mask.size());
  const double smaller = static_cast<double>(std::min(regions[0].pixel_count, regions[1].pixel_count)) / image_pixels;
  // The union: one filled region can enclose the other (a frame around the image with a blob inside).
  std::int64_t covered = 0;
  for (std::size_t i = 0; i < mask.size(); ++i) covered += (regions[0].mask[i] | regions[1].mask[i]);
  const double total = static_cast<double>(covered) / image_pixels;
  if (smaller < limits.min_region_fraction) {
    result.rejection = "the second lung region covers only " + percent(smaller) + " of the image (at least " +
                       percent(limits.min_region_fraction) + " expected)";
    return result;
  }
  if (total > limits.max_total_fraction) {
    result.rejection = "the lung regions cover " + percent(total) + " of the image (at most " + percent(limits.max_total_fraction) +
                       " expected)";
    return result;
  }
  std::sort(regions.begin(), regions.end(), [](const LungRegion& a, const LungRegion& b) { return a.centroid_x < b.centroid_x; });
  const double middle = (width - 1) / 2.0;
  if (regions[0].centroid_x >= middle || regions[1].centroid_x <= middle) {
    result.rejection = "both lung regions lie on the same side of the image";
    return result;
  }
  regions[0].side = ImageSide::left;
  regions[1].side = ImageSide::right;
  result.regions = std::move(regions);
  return result;
}

}  // namespace evax::inference
