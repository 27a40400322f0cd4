#include "image_input.h"

#include <opencv2/imgcodecs.hpp>

#include <fstream>

#include "evax/dicom_node/pixel_decoder.h"

namespace evax::app {
namespace {

bool looks_like_png(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  return in.read(head, sizeof head) && std::string_view(head, 8) == "\x89PNG\r\n\x1a\n";
}

std::expected<InputImage, std::string> read_png(const std::string& path) {
  // IMREAD_UNCHANGED keeps the stored values: no gamma, no colour conversion.
  const cv::Mat png = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (png.empty()) return std::unexpected("cannot read PNG " + path + " (damaged or truncated?)");
  if (png.channels() != 1) {
    return std::unexpected("PNG " + path + " has " + std::to_string(png.channels()) +
                           " channels; the node takes 8-bit greyscale (send the DICOM instead)");
  }
  if (png.depth() != CV_8U)
    return std::unexpected("PNG " + path + " is not 8-bit; the node takes 8-bit greyscale PNG (send the DICOM instead)");
  InputImage out;
  out.format = "png";
  out.grey_mapping = "as stored";
  out.image.width = png.cols;
  out.image.height = png.rows;
  out.image.pixels.resize(static_cast<std::size_t>(png.cols) * png.rows);
  for (int y = 0; y < png.rows; ++y)
    std::copy(png.ptr<std::uint8_t>(y), png.ptr<std::uint8_t>(y) + png.cols, out.image.pixels.begin() + static_cast<std::ptrdiff_t>(y) * png.cols);
  return out;
}

}  // namespace

InputBatch read_input_batch(const std::vector<std::string>& files, std::size_t first, std::size_t last) {
  InputBatch batch;
  for (std::size_t i = first; i < last; ++i) {
    auto input = read_input_image(files[i]);
    if (!input) {
      batch.errors.emplace_back(i - first, input.error());
      continue;
    }
    batch.positions.push_back(i - first);
    batch.inputs.push_back(std::move(*input));
  }
  return batch;
}

std::string safe_file_part(std::string text) {
  for (char& c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return text;
}

std::expected<InputImage, std::string> read_input_image(const std::string& path) {
  if (!std::ifstream(path)) return std::unexpected("cannot open " + path);
  if (looks_like_png(path)) return read_png(path);
  // Part 10 files start with "DICM" after a preamble; DCMTK also reads bare datasets.
  auto decoded = dicom_node::decode_dicom_file(path);
  if (!decoded) {
    if (!dicom_node::looks_like_dicom_file(path))
      return std::unexpected(path + " is neither a PNG nor a DICOM image (" + decoded.error() + ")");
    return std::unexpected(decoded.error());
  }
  InputImage out;
  out.format = "dicom";
  out.grey_mapping = decoded->grey_mapping;
  out.spacing = decoded->spacing;
  out.row_direction = decoded->row_direction;
  out.image = {decoded->width, decoded->height, std::move(decoded->pixels)};
  return out;
}

}  // namespace evax::app
