// What a finished analysis turns into: the settings of the result objects (reporting module)
// and which destinations each object is queued for.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "evax/reporting/result_objects.h"
#include "evax/storage/records.h"

namespace evax::pipeline {

struct ResultSettings {
  reporting::AlgorithmIdentity algorithm;
  std::optional<reporting::AlgorithmIdentity> segmenter;  // the lung model, when one runs
  reporting::SrDocumentType document_type = reporting::SrDocumentType::comprehensive;
  double default_operating_point = 0.5;
  std::map<std::string, double> operating_points;  // per label
  std::vector<std::string> outputs = {"seg", "sr", "sc", "pmap", "kos"};  // the builders to run (reporting.outputs)
  int sc_max_side = 2048;
  std::vector<storage::DeliveryRoute> destinations;  // each output is queued for those that take its kind

  double operating_point(const std::string& label) const {
    const auto it = operating_points.find(label);
    return it == operating_points.end() ? default_operating_point : it->second;
  }
};

}  // namespace evax::pipeline
