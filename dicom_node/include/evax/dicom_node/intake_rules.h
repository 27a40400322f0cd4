// Intake rules: which received images the model may see, decided from their DICOM attributes
// alone, each refusal with a stable reason code (shown by the admin API and kept in SQLite).
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "evax/storage/records.h"

namespace evax::dicom_node {

struct IntakeSettings {
  bool accept_empty_body_part = true;
  std::string own_manufacturer = "evax-node";  // the node's outputs carry it: the loop guard
};

struct IntakeDecision {
  bool analyse = false;
  std::string reason_code;  // empty when analysed; else one of the codes below
  std::string detail;       // for people: what the attribute said
};

// Reason codes:
//   not-cr-dx           Modality is neither CR nor DX
//   not-chest           BodyPartExamined is not CHEST (or empty where that is not accepted)
//   for-processing      DX For Processing SOP class, or PresentationIntentType FOR PROCESSING
//   lateral-view        ViewPosition LL/RL/LATERAL, or a lateral view code
//   decubitus-view      ViewPosition LLD, RLD, LD, RD or DECUBITUS
//   view-unknown        neither ViewPosition nor ViewCodeSequence (PA 272479007, AP 399348003)
//                       names a frontal view; any other view code lands here too
//   own-output          made by this node (Manufacturer), never fed back
IntakeDecision decide_intake(const storage::InstanceAttributes& image, const IntakeSettings& settings);

// The SOP classes the SCP accepts for storage.
inline constexpr std::string_view kCrImageStorage = "1.2.840.10008.5.1.4.1.1.1";
inline constexpr std::string_view kDxForPresentation = "1.2.840.10008.5.1.4.1.1.1.1";
inline constexpr std::string_view kDxForProcessing = "1.2.840.10008.5.1.4.1.1.1.1.1";

}  // namespace evax::dicom_node
