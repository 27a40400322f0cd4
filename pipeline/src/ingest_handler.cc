#include "evax/pipeline/ingest_handler.h"

namespace evax::pipeline {

using dicom_node::StoreStatus;
using storage::StoreOutcome;

bool IngestHandler::has_space() {
  if (!store_.below_watermark(0)) return true;
  log_.warn("ingest", "below-watermark", "free space is below storage.min_free_mb: refusing stores with 0xA700");
  return false;
}

StoreStatus IngestHandler::handle(const dicom_node::ReceivedFile& file) {
  const auto result = store_.store({file.attributes, file.from, file.temp_path});
  if (audit_)
    audit_->record("store", file.from.calling_ae_title + "@" + file.from.peer_address, storage::outcome_name(result.outcome),
                   {{"sop_instance_uid", file.attributes.sop_instance_uid}, {"study_instance_uid", file.attributes.study_instance_uid},
                    {"instance", std::to_string(result.instance_id)}});
  // Built only for the outcomes that log them: the stored path is the hot one.
  const auto fields = [&] {
    return logging::Fields{{"outcome", std::string(storage::outcome_name(result.outcome))},
                           {"calling_ae", file.from.calling_ae_title},
                           {"peer", file.from.peer_address}};
  };
  switch (result.outcome) {
    case StoreOutcome::stored:
      assembler_.note_arrival(result.study_id);
      log_.debug("ingest", "instance-stored", "instance stored",
                 {{"instance", std::to_string(result.instance_id)}, {"study", std::to_string(result.study_id)}});
      return StoreStatus::success;
    case StoreOutcome::duplicate:
      log_.info("ingest", "instance-duplicate", "instance already held; stored once",
                {{"instance", std::to_string(result.instance_id)}});
      return StoreStatus::success;
    case StoreOutcome::quarantined:
      // Stored (so the sender need not retry) but never merged into the study it claims.
      log_.warn("ingest", "instance-quarantined", result.detail, fields());
      return StoreStatus::success;
    case StoreOutcome::out_of_space:
      log_.warn("ingest", "out-of-space", result.detail, fields());
      return StoreStatus::out_of_resources;
    case StoreOutcome::unavailable:
      // Nothing was committed, so nothing is acknowledged: 0xA700 makes the sender keep the
      // image and retry later, when the database may be back.
      log_.error("ingest", "database-unavailable", "database unavailable: refusing the store with 0xA700 (" + result.detail + ")",
                 fields());
      return StoreStatus::out_of_resources;
    case StoreOutcome::failed:
      log_.error("ingest", "store-failed", result.detail, fields());
      return StoreStatus::processing_failure;
  }
  return StoreStatus::processing_failure;
}

}  // namespace evax::pipeline
