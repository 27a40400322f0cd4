#include "evax/results/codec.h"

#include <nlohmann/json.hpp>

namespace evax::results {
namespace {

using json = nlohmann::json;

json crop_json(const CropPlacement& c) {
  return {{"image_width", c.image_width},     {"image_height", c.image_height}, {"resized_width", c.resized_width},
          {"resized_height", c.resized_height}, {"crop_left", c.crop_left},       {"crop_top", c.crop_top},
          {"crop_size", c.crop_size}};
}

json lungs_json(const LungResult& lungs) {
  json out{{"side_basis", lungs.side_basis}, {"lungs", json::array()}};
  if (!lungs.rejection.empty()) out["rejected"] = lungs.rejection;
  for (const auto& m : lungs.lungs)
    out["lungs"].push_back({{"laterality", m.laterality},
                            {"pixels", m.pixels},
                            {"area_mm2", m.area_mm2 ? json(*m.area_mm2) : json(nullptr)},
                            {"spacing_source", m.spacing_source}});
  return out;
}

json cams_json(const ImageAnalysis& analysis) {
  json cams = json::array();
  for (std::size_t i = 0; i < analysis.findings.size(); ++i) {
    const auto& f = analysis.findings[i];
    if (f.cam) cams.push_back({{"label", f.label}, {"class_index", i}, {"grid_side", f.cam->grid_side}, {"map", f.cam->normalised}});
  }
  return cams;
}

// Reads fields strictly: a missing required one or a wrong type is an error naming it.
template <class T>
T required(const json& object, const char* key, const std::string& where) {
  if (!object.is_object() || !object.contains(key)) throw std::invalid_argument(where + ": missing \"" + key + "\"");
  try {
    return object.at(key).get<T>();
  } catch (const json::exception&) {
    throw std::invalid_argument(where + ": \"" + key + "\" has the wrong type");
  }
}

template <class T>
T optional_field(const json& object, const char* key, T fallback, const std::string& where) {
  if (!object.contains(key) || object.at(key).is_null()) return fallback;
  return required<T>(object, key, where);
}

LungResult lungs_from(const json& in) {
  const std::string where = "segmentation";
  LungResult lungs;
  lungs.side_basis = optional_field<std::string>(in, "side_basis", "", where);
  lungs.rejection = optional_field<std::string>(in, "rejected", "", where);
  for (const auto& l : required<json>(in, "lungs", where)) {
    LungMeasurement m;
    m.laterality = required<std::string>(l, "laterality", "segmentation lung");
    m.pixels = required<std::int64_t>(l, "pixels", "segmentation lung");
    if (l.contains("area_mm2") && !l.at("area_mm2").is_null()) m.area_mm2 = required<double>(l, "area_mm2", "segmentation lung");
    m.spacing_source = optional_field<std::string>(l, "spacing_source", "", "segmentation lung");
    lungs.lungs.push_back(std::move(m));
  }
  return lungs;
}

ImageAnalysis analysis_from(const json& p, const json& cams) {
  const std::string where = "probabilities_json";
  if (!p.is_object()) throw std::invalid_argument(where + ": not a JSON object");
  ImageAnalysis a;
  a.provenance.model = optional_field<std::string>(p, "model", "", where);
  a.provenance.task = optional_field<std::string>(p, "task", "", where);
  a.provenance.demo = optional_field<bool>(p, "demo", false, where);
  a.provenance.checkpoint_digest = optional_field<std::string>(p, "checkpoint_sha256", "", where);
  const auto labels = required<std::vector<std::string>>(p, "labels", where);
  const auto probabilities = required<std::vector<double>>(p, "probabilities", where);
  if (labels.size() != probabilities.size())
    throw std::invalid_argument(where + ": " + std::to_string(labels.size()) + " labels but " +
                                std::to_string(probabilities.size()) + " probabilities");
  for (std::size_t i = 0; i < labels.size(); ++i) a.findings.push_back({labels[i], probabilities[i], std::nullopt});
  if (p.contains("crop")) {
    const json& c = p.at("crop");
    a.crop = CropPlacement{required<int>(c, "image_width", "crop"),   required<int>(c, "image_height", "crop"),
                           required<int>(c, "resized_width", "crop"), required<int>(c, "resized_height", "crop"),
                           required<int>(c, "crop_left", "crop"),     required<int>(c, "crop_top", "crop"),
                           required<int>(c, "crop_size", "crop")};
  }
  a.features = optional_field<std::vector<float>>(p, "features", {}, where);
  if (p.contains("segmentation")) a.lungs = lungs_from(p.at("segmentation"));

  if (!cams.is_array()) throw std::invalid_argument("cams_json: not a JSON array");
  for (const auto& cam : cams) {
    const auto label = required<std::string>(cam, "label", "cams_json entry");
    // class_index places the map; rows without it are matched by label.
    std::size_t index = a.findings.size();
    if (cam.contains("class_index")) {
      index = required<std::size_t>(cam, "class_index", "cams_json entry");
    } else {
      for (std::size_t i = 0; i < a.findings.size(); ++i)
        if (a.findings[i].label == label) index = i;
    }
    if (index >= a.findings.size() || a.findings[index].label != label)
      throw std::invalid_argument("cams_json: the map of \"" + label + "\" matches no finding");
    CamGrid grid{required<int>(cam, "grid_side", "cams_json entry"), required<std::vector<float>>(cam, "map", "cams_json entry")};
    if (grid.grid_side <= 0 || grid.normalised.size() != static_cast<std::size_t>(grid.grid_side) * grid.grid_side)
      throw std::invalid_argument("cams_json: the map of \"" + label + "\" does not fill its " +
                                  std::to_string(grid.grid_side) + "-sided grid");
    a.findings[index].cam = std::move(grid);
  }
  return a;
}

}  // namespace

StoredColumns encode_columns(const std::optional<ImageAnalysis>& analysis) {
  if (!analysis) return {};
  const ImageAnalysis& a = *analysis;
  json p{{"model", a.provenance.model},
         {"task", a.provenance.task},
         {"demo", a.provenance.demo},
         {"labels", json::array()},
         {"probabilities", json::array()}};
  if (!a.provenance.checkpoint_digest.empty()) p["checkpoint_sha256"] = a.provenance.checkpoint_digest;
  for (const auto& f : a.findings) {
    p["labels"].push_back(f.label);
    p["probabilities"].push_back(f.probability);
  }
  if (a.crop) p["crop"] = crop_json(*a.crop);
  if (!a.features.empty()) p["features"] = a.features;
  if (a.lungs) p["segmentation"] = lungs_json(*a.lungs);
  return {p.dump(), cams_json(a).dump()};
}

std::expected<std::optional<ImageAnalysis>, std::string> decode_columns(const StoredColumns& columns) {
  if (columns.probabilities_json.empty() && columns.cams_json.empty()) return std::optional<ImageAnalysis>{};
  if (columns.probabilities_json.empty()) return std::unexpected("cams_json without probabilities_json");
  try {
    const json p = json::parse(columns.probabilities_json);
    const json cams = columns.cams_json.empty() ? json::array() : json::parse(columns.cams_json);
    return std::optional<ImageAnalysis>{analysis_from(p, cams)};
  } catch (const json::parse_error& e) {
    return std::unexpected(std::string("results columns are not JSON: ") + e.what());
  } catch (const std::exception& e) {
    return std::unexpected(std::string("results columns: ") + e.what());
  }
}

std::string encode_api_image(const ImageResult& image) {
  json entry{{"sop_instance_uid", image.sop_instance_uid},
             {"decision", image.decision},
             {"reason_code", image.reason_code},
             {"detail", image.detail}};
  if (image.analysis) {
    const ImageAnalysis& a = *image.analysis;
    json findings = json::array();
    for (const auto& f : a.findings) findings.push_back({{"label", f.label}, {"probability", f.probability}});
    entry["model"] = a.provenance.model;
    entry["demo"] = a.provenance.demo;
    entry["findings"] = std::move(findings);
    if (a.lungs) entry["segmentation"] = lungs_json(*a.lungs);
    entry["cams"] = cams_json(a);
    if (a.crop) entry["crop"] = crop_json(*a.crop);  // where the Grad-CAM grids lie on the image
  }
  return entry.dump();
}

}  // namespace evax::results
