// What the admin API needs from the running node to pull studies from a PACS: a C-FIND at a
// configured source (so that a study that is not there is refused before anything is queued),
// a wake-up for the retriever, and the model in use (a sweep skips studies it analysed
// already). Plain values and functions: the DICOM networking stays in dicom_node, wired in
// serve().
#pragma once

#include <expected>
#include <functional>
#include <string>
#include <vector>

#include "evax/config/node_config.h"
#include "evax/results/records.h"

namespace evax::admin {

// STUDY-level matching keys (empty: not matched on); dates YYYYMMDD.
struct StudySearch {
  std::string study_instance_uid;
  std::string accession_number;
  std::vector<std::string> modalities;
  std::string body_part;
  std::string date_from, date_to;
};

struct StudyMatch {
  std::string study_instance_uid;
  std::string accession_number;
  std::string study_date;
  std::string modalities;
};

struct RetrievalHooks {
  // The matching studies at `source`, or why the C-FIND failed. Unset: retrieval is off.
  std::function<std::expected<std::vector<StudyMatch>, std::string>(const config::Source&, const StudySearch&)> find;
  std::function<void()> queued;  // retrievals were queued
  results::Provenance model;     // the classifier in use
};

}  // namespace evax::admin
