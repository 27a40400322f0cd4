// The output builders the node runs, in build order: an object may refer only to objects built
// before it (the SR references the SEGs; a Key Object Selection, listing every object, comes last).
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "evax/config/node_config.h"
#include "evax/pipeline/output_builder.h"
#include "evax/pipeline/result_settings.h"

namespace evax::pipeline {

// Every kind this node can make, in build order ("seg", "sr", "sc", "pmap", "kos").
std::vector<std::string> known_output_kinds();

// The builders of `kinds` (config reporting.outputs), in build order whatever their order in the
// list; an unknown kind is an error naming the known ones.
std::expected<std::vector<std::unique_ptr<OutputBuilder>>, std::string> make_output_builders(
    const std::vector<std::string>& kinds, const ResultSettings& settings);

// The notification of each RIS target (notifications[]), run after the DICOM kinds: one file per
// target and study, of kind notification_output_kind(target), queued for that target alone.
std::vector<std::unique_ptr<OutputBuilder>> make_notification_outputs(const std::vector<config::Notification>& targets,
                                                                      const ResultSettings& settings);

// "hl7:<name>" or "fhir:<name>".
std::string notification_output_kind(const config::Notification& target);

}  // namespace evax::pipeline
