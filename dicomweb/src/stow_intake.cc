#include "evax/dicomweb/stow_intake.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "evax/dicom_node/received_file.h"
#include "evax/dicomweb/multipart_reader.h"

namespace evax::dicomweb {
namespace {

using dicom_node::StoreStatus;

// Failure reasons (PS3.18 Table I.2-2) for what the handler or the upload itself says.
constexpr std::uint16_t kOutOfResources = 0xA700;
constexpr std::uint16_t kCannotUnderstand = 0xC000;
constexpr std::uint16_t kProcessingFailure = 0x0110;

// RFC 2046 allows boundaries of 1 to 70 characters, but Orthanc's DICOMweb plugin (1.7, Debian
// 12) sends 73 (a UUID, '-', the same UUID), so a longer one is accepted too. This limit only
// bounds the delimiter that the multipart reader searches for.
constexpr std::size_t kMaxBoundaryChars = 200;

std::uint16_t failure_reason(StoreStatus status) {
  switch (status) {
    case StoreStatus::success: return 0;
    case StoreStatus::out_of_resources: return kOutOfResources;
    case StoreStatus::cannot_understand: return kCannotUnderstand;
    case StoreStatus::processing_failure: return kProcessingFailure;
  }
  return kProcessingFailure;
}

std::string hex(std::uint16_t value) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%04X", value);
  return text;
}

void remove_quietly(const std::string& path) {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
}

}  // namespace

struct StowUpload::Impl final : PartSink {
  struct Part {
    std::string path;
    bool written = true;  // every byte reached the file
    bool handed_over = false;
  };

  StowIntake& intake;
  StowRequest request;
  StowFormat format;
  MultipartReader reader;
  std::vector<Part> parts;
  std::FILE* file = nullptr;  // the part being received
  int refusal_status = 400;   // the answer when the reader stops on an error

  Impl(StowIntake& i, StowRequest r, StowFormat f, std::string boundary)
      : intake(i), request(std::move(r)), format(f), reader(std::move(boundary), *this) {}

  ~Impl() override {
    if (file) std::fclose(file);
    for (const Part& part : parts)
      if (!part.handed_over) remove_quietly(part.path);
  }

  std::expected<void, std::string> begin_part(const std::map<std::string, std::string>& headers) override {
    if (static_cast<int>(parts.size()) >= intake.settings_.max_instances) {
      refusal_status = 413;
      return std::unexpected("the request holds more than stow.max_instances (" + std::to_string(intake.settings_.max_instances) +
                             ") instances");
    }
    if (auto type = headers.find("content-type"); type != headers.end()) {
      const auto media = parse_media_type(type->second);
      if (!media || media->type != "application/dicom") {
        refusal_status = 415;
        return std::unexpected("part " + std::to_string(parts.size() + 1) + " is not application/dicom; only DICOM instances are accepted");
      }
    }
    parts.push_back({intake.handler_.new_temp_path()});
    file = std::fopen(parts.back().path.c_str(), "wbx");
    parts.back().written = file != nullptr;
    return {};
  }

  std::expected<void, std::string> part_bytes(std::string_view bytes) override {
    // A write that fails (disk full) fails this instance only; the rest of the body is read on.
    if (file && std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size()) parts.back().written = false;
    return {};
  }

  std::expected<void, std::string> end_part() override {
    if (file && std::fclose(file) != 0) parts.back().written = false;
    file = nullptr;
    return {};
  }

  StowInstanceOutcome store(Part& part);
};

StowUpload::StowUpload(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StowUpload::~StowUpload() = default;

std::expected<std::unique_ptr<StowUpload>, StowResponse> StowIntake::open(const StowRequest& request) {
  const auto media = parse_media_type(request.content_type);
  if (!media || media->type != "multipart/related")
    return std::unexpected(stow_error(415, "unsupported_media_type", "STOW-RS takes multipart/related; type=\"application/dicom\""));
  if (auto type = media->params.find("type"); type != media->params.end() && type->second != "application/dicom")
    return std::unexpected(stow_error(415, "unsupported_media_type",
                                      "only application/dicom parts are accepted (type=\"" + type->second + "\" is not)"));
  const auto boundary = media->params.find("boundary");
  if (boundary == media->params.end() || boundary->second.empty() || boundary->second.size() > kMaxBoundaryChars)
    return std::unexpected(stow_error(400, "bad_request",
                                      "the Content-Type has no boundary of 1 to " + std::to_string(kMaxBoundaryChars) + " characters"));
  const auto format = stow_response_format(request.accept);
  if (!format) return std::unexpected(stow_error(406, "not_acceptable", format.error()));
  if (!request.study_instance_uid.empty() && !dicom_node::valid_uid(request.study_instance_uid))
    return std::unexpected(stow_error(400, "bad_request", "the StudyInstanceUID in the path is not a valid UID"));
  if (!handler_.has_space()) {
    StowResponse busy = stow_error(503, "out_of_space", "free space is below storage.min_free_mb; try again later");
    return std::unexpected(busy);
  }
  return std::unique_ptr<StowUpload>(new StowUpload(std::make_unique<StowUpload::Impl>(*this, request, *format, boundary->second)));
}

std::optional<StowResponse> StowUpload::write(std::string_view bytes) {
  auto fed = impl_->reader.feed(bytes);
  if (fed) return std::nullopt;
  const int status = impl_->refusal_status;
  return stow_error(status, status == 413 ? "payload_too_large" : status == 415 ? "unsupported_media_type" : "bad_request",
                    (status == 400 ? "malformed multipart body: " : "") + fed.error());
}

StowInstanceOutcome StowUpload::Impl::store(Part& part) {
  StowIntake& in = intake;
  const std::string peer = "STOW-RS@" + request.client;
  const auto refused = [&](std::uint16_t reason, const std::string& why, StowInstanceOutcome outcome) {
    in.log_.warn("stow", "instance-refused", why, {{"peer", request.client}, {"status", hex(reason)}});
    if (in.audit_)
      in.audit_->record("store", peer, "refused",
                        {{"status", hex(reason)}, {"reason", why}, {"sop_instance_uid", outcome.sop_instance_uid}, {"token", request.caller}});
    outcome.failure_reason = reason;
    return outcome;
  };
  if (!part.written) return refused(kOutOfResources, "the instance could not be written (disk full?)", {});
  auto inspected = dicom_node::inspect_received_file(part.path, {"", "", request.study_instance_uid});
  if (!inspected) {
    const auto& refusal = inspected.error();
    return refused(dicom_node::refusal_status(refusal.code), refusal.why, {refusal.sop_class_uid, refusal.sop_instance_uid});
  }
  StowInstanceOutcome outcome{inspected->sop_class_uid, inspected->sop_instance_uid};
  // Disk space may have run low since the request began.
  if (!in.handler_.has_space()) return refused(kOutOfResources, "free space below the watermark", outcome);
  part.handed_over = true;  // the handler keeps or removes the file, whatever it answers
  const StoreStatus status = in.handler_.handle({part.path, *inspected, {"STOW-RS", request.client}});
  outcome.failure_reason = failure_reason(status);
  if (status != StoreStatus::success)
    in.log_.warn("stow", "instance-refused", "the store handler refused it", {{"peer", request.client}, {"status", hex(outcome.failure_reason)}});
  return outcome;
}

StowResponse StowUpload::finish() {
  Impl& s = *impl_;
  if (auto done = s.reader.finish(); !done) return stow_error(400, "bad_request", "malformed multipart body: " + done.error());
  if (s.parts.empty()) return stow_error(400, "bad_request", "the request holds no instance");
  std::vector<StowInstanceOutcome> outcomes;
  for (auto& part : s.parts) {
    // The exception boundary of one instance: it fails with 0xA700 (the client may retry it),
    // the others go on.
    try {
      outcomes.push_back(s.store(part));
    } catch (const std::exception& e) {
      s.intake.log_.error("stow", "instance-failed", std::string("internal error: ") + e.what(), {{"peer", s.request.client}});
      remove_quietly(part.path);  // gone already if the handler kept it
      outcomes.push_back({"", "", kOutOfResources});
    }
  }
  int stored = 0;
  for (const auto& o : outcomes) stored += o.failure_reason == 0;
  s.intake.log_.info("stow", "request-done", "STOW-RS request answered",
                     {{"peer", s.request.client}, {"stored", std::to_string(stored)}, {"failed", std::to_string(outcomes.size() - stored)}});
  return stow_response(outcomes, s.format);
}

}  // namespace evax::dicomweb
