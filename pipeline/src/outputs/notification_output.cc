// "hl7:<name>" / "fhir:<name>": the RIS notification of one configured target (notifications[]),
// an output like the DICOM ones: written to the result store with the job's other outputs in
// the same commit, queued for that target only, sent by the outbox. The message names its
// target's urgent findings, so each target gets its own file. Runs after every DICOM kind.
#include <chrono>
#include <cstdio>
#include <ctime>

#include "evax/pipeline/output_builders.h"
#include "evax/reporting/study_notification.h"

namespace evax::pipeline {
namespace {

// The message's control id (MSH-10, at most 20 characters) and the FHIR report's identifier:
// the job and the build time in milliseconds, base 36. A resend repeats it (the RIS can
// discard a duplicate); a re-analysis makes a new one.
std::string control_id(std::int64_t job_id, std::chrono::system_clock::time_point now) {
  auto ms = static_cast<unsigned long long>(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  std::string stamp;
  do {
    stamp.insert(stamp.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[ms % 36]);
    ms /= 36;
  } while (ms);
  return "E" + std::to_string(job_id) + "." + stamp;
}

std::string utc(std::chrono::system_clock::time_point now, const char* format) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm parts{};
  ::gmtime_r(&t, &parts);
  char text[40];
  std::strftime(text, sizeof text, format, &parts);
  return text;
}

class NotificationOutput final : public OutputBuilder {
 public:
  NotificationOutput(config::Notification target, const ResultSettings& settings)
      : target_(std::move(target)), kind_(notification_output_kind(target_)), settings_(settings) {}
  std::string_view kind() const override { return kind_; }

  std::expected<std::vector<BuiltObject>, std::string> build(const OutputInput& input) const override {
    std::vector<BuiltObject> out;
    if (input.images.empty()) return out;
    auto ids = reporting::read_study_identifiers(input.images.front().source_path);
    if (!ids) return std::unexpected("notification " + target_.name + ": " + ids.error());
    std::vector<std::vector<reporting::FindingResult>> images;
    for (const auto& image : input.images) {
      auto& findings = images.emplace_back();
      for (const auto& f : image.result->analysis->findings)
        findings.push_back({f.label, f.probability, settings_.operating_point(f.label), std::nullopt});
    }
    const int unanalysed = static_cast<int>(input.study.images.size() - input.images.size());
    const auto summary = reporting::summarise_study(*ids, settings_.algorithm, images, unanalysed, target_.urgent_findings);
    if (summary.findings.empty()) return out;  // nothing to tell (a features model)
    const auto now = std::chrono::system_clock::now();
    const std::string id = control_id(input.study.job_id, now);
    const std::string text =
        target_.kind == "hl7"
            ? reporting::build_oru_r01(summary,
                                       {target_.sending_application, target_.sending_facility, target_.receiving_application,
                                        target_.receiving_facility},
                                       id, utc(now, "%Y%m%d%H%M%S+0000"))
            : reporting::build_fhir_bundle(summary, id, utc(now, "%Y-%m-%dT%H:%M:%SZ"));
    // The outbox keys an output by its SOP Instance UID (unique across outputs): one derived from
    // the target, the job and the control id, so two targets' files of one job never collide.
    const std::string uid = reporting::uid_from_key("notification|" + target_.name + "|" + std::to_string(input.study.job_id) + "|" + id);
    reporting::DicomObject object{kind_, {ids->study_instance_uid, "", "", uid}, {text.begin(), text.end()}};
    out.push_back({std::move(object), std::nullopt});
    return out;
  }

 private:
  const config::Notification target_;
  const std::string kind_;
  const ResultSettings settings_;
};

}  // namespace

std::string notification_output_kind(const config::Notification& target) { return target.kind + ":" + target.name; }

std::vector<std::unique_ptr<OutputBuilder>> make_notification_outputs(const std::vector<config::Notification>& targets,
                                                                      const ResultSettings& settings) {
  std::vector<std::unique_ptr<OutputBuilder>> out;
  for (const auto& target : targets) out.push_back(std::make_unique<NotificationOutput>(target, settings));
  return out;
}

}  // namespace evax::pipeline
