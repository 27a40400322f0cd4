// Writes a Grad-CAM map as a PNG a person can look at: the X-ray in grey with the map in a
// colour scale over the analysed crop, and a banner saying what it is (and, for demo weights,
// that the model is untrained).
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "evax/inference/engine.h"
#include "evax/inference/grey_image.h"

namespace evax::app {

struct OverlayText {
  std::string finding;   // "Cardiomegaly 0.734"
  bool demo = false;
};

// `heat` is render_cam's output (one byte per image pixel); it is blended over `analysed`,
// the part of the image the model saw, and the rest stays plain grey.
std::expected<void, std::string> write_cam_overlay(const std::string& path, const inference::GreyImage& image,
                                                   const std::vector<std::uint8_t>& heat, const inference::ImageRect& analysed,
                                                   const OverlayText& text);

}  // namespace evax::app
