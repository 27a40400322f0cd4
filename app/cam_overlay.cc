#include "cam_overlay.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>

namespace evax::app {

std::expected<void, std::string> write_cam_overlay(const std::string& path, const inference::GreyImage& image,
                                                   const std::vector<std::uint8_t>& heat, const inference::ImageRect& analysed,
                                                   const OverlayText& text) {
  if (!image.valid() || heat.size() != image.pixels.size()) return std::unexpected(std::string("heatmap does not fit its image"));
  const cv::Mat grey(image.height, image.width, CV_8UC1, const_cast<std::uint8_t*>(image.pixels.data()));
  const cv::Mat heat_map(image.height, image.width, CV_8UC1, const_cast<std::uint8_t*>(heat.data()));

  cv::Mat grey_bgr, colour, mixed;
  cv::cvtColor(grey, grey_bgr, cv::COLOR_GRAY2BGR);
  cv::applyColorMap(heat_map, colour, cv::COLORMAP_JET);
  cv::addWeighted(grey_bgr, 0.55, colour, 0.45, 0.0, mixed);
  cv::Mat blended = grey_bgr.clone();
  const cv::Rect crop = cv::Rect(analysed.left, analysed.top, analysed.right - analysed.left, analysed.bottom - analysed.top) &
                        cv::Rect(0, 0, image.width, image.height);
  mixed(crop).copyTo(blended(crop));

  const double scale = std::max(0.4, image.width / 1400.0);
  const int line = static_cast<int>(28 * scale);
  std::vector<std::pair<std::string, cv::Scalar>> lines{{"AI-GENERATED - NOT FOR DIAGNOSTIC USE", {255, 255, 255}},
                                                        {"Grad-CAM: " + text.finding, {255, 255, 255}}};
  if (text.demo) lines.insert(lines.begin(), {"DEMO MODEL - UNTRAINED WEIGHTS", {0, 0, 255}});
  cv::rectangle(blended, {0, 0}, {image.width, line * static_cast<int>(lines.size()) + line / 2}, {0, 0, 0}, cv::FILLED);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    cv::putText(blended, lines[i].first, {line / 3, line * static_cast<int>(i + 1)}, cv::FONT_HERSHEY_SIMPLEX, 0.7 * scale,
                lines[i].second, std::max(1, static_cast<int>(scale * 1.5)), cv::LINE_AA);
  }
  if (!cv::imwrite(path, blended)) return std::unexpected("cannot write " + path);
  return {};
}

}  // namespace evax::app
