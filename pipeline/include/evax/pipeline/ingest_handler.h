// IngestHandler: what the SCP's StoreHandler means in the node: keep the file durably through
// the InstanceIndex, answer the C-STORE from the outcome, and tell the StudyAssembler that a
// study received something new. Thread-safe (every association calls it).
#pragma once

#include "evax/dicom_node/store_handler.h"
#include "evax/logging/audit_log.h"
#include "evax/logging/logger.h"
#include "evax/pipeline/study_assembler.h"
#include "evax/storage/file_store.h"
#include "evax/storage/instance_index.h"

namespace evax::pipeline {

class IngestHandler final : public dicom_node::StoreHandler {
 public:
  // Everything passed in must outlive this object; with `audit`, every store is recorded there.
  IngestHandler(const storage::FileStore& files, storage::InstanceIndex& store, StudyAssembler& assembler, logging::Logger& log,
                logging::AuditLog* audit = nullptr)
      : files_(files), store_(store), assembler_(assembler), log_(log), audit_(audit) {}

  bool has_space() override;
  std::string new_temp_path() override { return files_.new_temp_path(); }
  dicom_node::StoreStatus handle(const dicom_node::ReceivedFile& file) override;

 private:
  const storage::FileStore& files_;
  storage::InstanceIndex& store_;
  StudyAssembler& assembler_;
  logging::Logger& log_;
  logging::AuditLog* const audit_;
};

}  // namespace evax::pipeline
