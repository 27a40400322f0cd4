// Where `evax-node evaluate` finds the labelled images: files in a folder, matched by the labels'
// file names, or the node's own stored instances, matched by SOP Instance UID through the
// storage interfaces. Stateless.
#pragma once

#include <expected>
#include <map>
#include <string>
#include <vector>

#include "evax/storage/storage_backend.h"

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

}  // namespace evax::app
