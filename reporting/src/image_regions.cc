#include "evax/reporting/image_regions.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

namespace evax::reporting {
namespace {

constexpr int kMapScale = 16;        // map pixels per grid cell: smooth outlines at any crop size
constexpr std::size_t kMaxVertices = 400;  // an SR stays small; more vertices add nothing a reader sees

// The largest external contour of a binary image, simplified (Douglas-Peucker) until it has at
// most kMaxVertices vertices; empty when there is none.
std::vector<cv::Point> simplified_outline(const cv::Mat& binary, double epsilon) {
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(binary, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
  if (contours.empty()) return {};
  const auto largest = std::max_element(contours.begin(), contours.end(), [](const auto& a, const auto& b) {
    return cv::contourArea(a) < cv::contourArea(b);
  });
  std::vector<cv::Point> outline;
  cv::approxPolyDP(*largest, outline, epsilon, /*closed=*/true);
  while (outline.size() > kMaxVertices) {
    epsilon *= 1.5;
    cv::approxPolyDP(*largest, outline, epsilon, true);
  }
  return outline;
}

// A closed outline from its vertices, each mapped to image coordinates by `to_image`.
template <class ToImage>
ImageRegion closed_outline(const std::vector<cv::Point>& vertices, ToImage to_image, std::string basis) {
  ImageRegion region{ImageRegion::Shape::outline, {}, std::move(basis)};
  for (const cv::Point& p : vertices) region.points.push_back(to_image(p.x + 0.5, p.y + 0.5));
  region.points.push_back(region.points.front());
  return region;
}

}  // namespace

ImageRegion rectangle_region(const PixelRect& r, std::string basis) {
  const auto left = static_cast<float>(r.left), top = static_cast<float>(r.top);
  const auto right = static_cast<float>(r.right), bottom = static_cast<float>(r.bottom);
  return {ImageRegion::Shape::outline, {{left, top}, {right, top}, {right, bottom}, {left, bottom}, {left, top}}, std::move(basis)};
}

ImageRegion attention_region(const AttentionMap& map) {
  const PixelRect& area = map.analysed;
  const int side = map.grid_side;
  const bool usable = side > 0 && map.values.size() == static_cast<std::size_t>(side) * side && area.right > area.left &&
                      area.bottom > area.top;
  const float peak_value = usable ? *std::max_element(map.values.begin(), map.values.end()) : 0.0f;
  if (!(peak_value > 0.0f))
    return rectangle_region(area, "the whole analysed area: the Grad-CAM map has no positive attention");

  // The map as the Secondary Capture shows it: bilinear, half-pixel centres, edges clamped.
  const cv::Mat grid(side, side, CV_32F, const_cast<float*>(map.values.data()));
  cv::Mat smooth;
  cv::resize(grid, smooth, cv::Size(side * kMapScale, side * kMapScale), 0, 0, cv::INTER_LINEAR);
  double max_value = 0;
  cv::Point peak;
  cv::minMaxLoc(smooth, nullptr, &max_value, nullptr, &peak);
  cv::Mat above = smooth >= 0.5 * max_value;
  // Only the connected area holding the peak.
  cv::Mat labels;
  cv::connectedComponents(above, labels, 8, CV_32S);
  const cv::Mat component = labels == labels.at<int>(peak);

  const double scale_x = static_cast<double>(area.right - area.left) / smooth.cols;
  const double scale_y = static_cast<double>(area.bottom - area.top) / smooth.rows;
  auto to_image = [&](double x, double y) {
    return ImagePoint{static_cast<float>(area.left + x * scale_x), static_cast<float>(area.top + y * scale_y)};
  };
  const std::vector<cv::Point> outline = simplified_outline(component, 1.0);
  // An area under about one source pixel across is a spot, not a region.
  if (outline.size() < 3 || cv::contourArea(outline) * scale_x * scale_y < 2.0)
    return {ImageRegion::Shape::point, {to_image(peak.x + 0.5, peak.y + 0.5)}, "the peak of the Grad-CAM map"};
  return closed_outline(outline, to_image, "Grad-CAM: where the map is at least half its peak, around the peak");
}

std::optional<ImageRegion> mask_outline(const std::vector<std::uint8_t>& mask, int width, int height, std::string basis) {
  if (width <= 0 || height <= 0 || mask.size() != static_cast<std::size_t>(width) * height) return std::nullopt;
  const cv::Mat binary = cv::Mat(height, width, CV_8U, const_cast<std::uint8_t*>(mask.data())) != 0;
  const std::vector<cv::Point> outline = simplified_outline(binary, 1.0);
  if (outline.size() < 3) return std::nullopt;
  return closed_outline(outline, [](double x, double y) { return ImagePoint{static_cast<float>(x), static_cast<float>(y)}; },
                        std::move(basis));
}

}  // namespace evax::reporting
