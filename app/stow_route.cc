#include "stow_route.h"

namespace evax::app {
namespace {

admin::UploadAnswer answer_of(dicomweb::StowResponse response) {
  return {response.status, std::move(response.content_type), std::move(response.body)};
}

class StowReceiver final : public admin::UploadReceiver {
 public:
  explicit StowReceiver(std::unique_ptr<dicomweb::StowUpload> upload) : upload_(std::move(upload)) {}
  std::optional<admin::UploadAnswer> write(std::string_view bytes) override {
    auto early = upload_->write(bytes);
    if (!early) return std::nullopt;
    return answer_of(std::move(*early));
  }
  admin::UploadAnswer finish() override { return answer_of(upload_->finish()); }

 private:
  std::unique_ptr<dicomweb::StowUpload> upload_;
};

}  // namespace

admin::UploadRoute stow_upload_route(dicomweb::StowIntake& intake) {
  admin::UploadRoute route;
  route.max_body_bytes = intake.settings().max_body_bytes;
  route.timeout_s = intake.settings().timeout_s;
  route.open = [&intake](const admin::UploadHead& head)
      -> std::expected<std::unique_ptr<admin::UploadReceiver>, admin::UploadAnswer> {
    auto upload = intake.open({head.study_instance_uid, head.content_type, head.accept, head.client, head.caller});
    if (!upload) return std::unexpected(answer_of(std::move(upload.error())));
    return std::make_unique<StowReceiver>(std::move(*upload));
  };
  return route;
}

}  // namespace evax::app
