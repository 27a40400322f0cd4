// Where `evax-node evaluate` finds the labelled images: files in a folder, matched by the labels'
// file names, or the node's own stored instances, matched by SOP Instance UID through the
// storage interfaces; and, for `--format feedback`, the labels radiologists gave those stored
// instances. Stateless.
#pragma once

#include <expected>
#include <map>
#include <string>
#include <vector>

#include "evax/storage/storage_backend.h"
#include "evaluation_labels.h"

namespace evax::app {

// The file of each key (a relative path or a file name from a labels file) under `folder`:
// the path itself; else with its extension replaced by .png or .dcm (a converted copy, e.g.
// CheXpert's JPEGs as PNG); else the same tried with the key's leading folders dropped one by
// one (a labels file written relative to a parent folder); else, for a bare file name, the one
// file of that name anywhere below `folder` (ChestX-ray14's images_001/images/... split).
// An error lists the keys with no file (up to ten, and how many in all).
std::expected<std::vector<std::string>, std::string> find_image_files(const std::string& folder,
                                                                      const std::vector<std::string>& keys);

// The files of the instances the node stored in studies whose jobs received their images in
// [from, to) (ISO 8601 prefixes, e.g. "2026-11-01"), by SOP Instance UID; purged files are left
// out (`purged` counts them).
struct StoredInstances {
  std::map<std::string, std::string> file_of_uid;
  int purged = 0;
};
StoredInstances stored_instance_files(storage::StorageBackend& backend, const std::string& from, const std::string& to);

// The radiologists' verdicts (FeedbackStore::labels_from_feedback: SOP Instance UID -> finding
// -> 0/1, the newest verdict winning) on the instances of `stored`, as a label table keyed by SOP
// Instance UID: one column per finding named by any verdict (sorted by name), each image labelled
// only for the findings it has a verdict on (blank elsewhere: left out of that finding), images in
// UID order, `files` their files. Verdicts on images not in `stored` (received outside the range,
// purged, or never stored) are left out and counted in `not_stored`.
struct FeedbackLabels {
  LabelTable table;
  std::vector<std::string> files;  // per table.images
  int not_stored = 0;
};
FeedbackLabels feedback_labels(const std::map<std::string, std::map<std::string, int>>& verdicts, const StoredInstances& stored);

}  // namespace evax::app
