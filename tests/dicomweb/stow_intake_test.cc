// The STOW-RS intake with real files and the real inspection, in front of a StoreHandler that
// records what it is handed: what reaches the handler, what each instance's outcome is, and
// that a refused request or instance leaves no file behind.
#include "evax/dicomweb/stow_intake.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <unistd.h>

#include "synthetic_dicom.h"

namespace evax::dicomweb {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::SyntheticImage;

class RecordingHandler final : public dicom_node::StoreHandler {
 public:
  explicit RecordingHandler(fs::path dir) : dir_(std::move(dir)) {
    fs::create_directories(dir_ / "tmp");
    fs::create_directories(dir_ / "kept");
  }
  bool has_space() override { return space; }
  std::string new_temp_path() override { return (dir_ / "tmp" / (std::to_string(next_++) + ".part")).string(); }
  dicom_node::StoreStatus handle(const dicom_node::ReceivedFile& file) override {
    std::lock_guard lock(mutex_);
    handled.push_back(file);
    fs::rename(file.temp_path, dir_ / "kept" / (file.attributes.sop_instance_uid + ".dcm"));
    return answer;
  }
  bool space = true;
  dicom_node::StoreStatus answer = dicom_node::StoreStatus::success;
  std::vector<dicom_node::ReceivedFile> handled;

 private:
  fs::path dir_;
  std::mutex mutex_;
  int next_ = 0;
};

const std::string kBoundary = "stow-test-boundary";
const std::string kContentType = "multipart/related; type=\"application/dicom\"; boundary=" + kBoundary;

class StowIntakeTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(dir_); }
  void TearDown() override { fs::remove_all(dir_); }

  std::string dicom_bytes(const SyntheticImage& image) {
    const std::string path = (dir_ / "image.dcm").string();
    testing::write_synthetic_dicom(path, image);
    std::ifstream in(path, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
  }
  SyntheticImage image(const std::string& study = "1.2.826.0.1.3680043.10.7.1") {
    SyntheticImage s;
    s.study_uid = study;
    return s;
  }
  static std::string body_of(const std::vector<std::string>& parts, const std::string& part_type = "application/dicom") {
    std::string body;
    for (const auto& part : parts) body += "--" + kBoundary + "\r\nContent-Type: " + part_type + "\r\n\r\n" + part + "\r\n";
    return body + "--" + kBoundary + "--\r\n";
  }
  // The request through open/write/finish, the body in pieces of 1000 bytes.
  StowResponse post(const std::string& body, StowRequest request = {}) {
    if (request.content_type.empty()) request.content_type = kContentType;
    auto upload = intake_.open(request);
    if (!upload) return upload.error();
    for (std::size_t at = 0; at < body.size(); at += 1000)
      if (auto early = (*upload)->write(std::string_view(body).substr(at, 1000))) return *early;
    return (*upload)->finish();
  }
  bool temp_empty() const { return fs::is_empty(dir_ / "tmp"); }

  fs::path dir_ = fs::temp_directory_path() / ("evax-stow-intake-" + std::to_string(::getpid()));
  RecordingHandler handler_{dir_};
  config::StowSettings settings_{.max_body_bytes = 1 << 20, .max_instances = 3, .timeout_s = 10};
  logging::Logger log_{logging::Level::error, logging::Logger::Format::text, [](const std::string&) {}};
  StowIntake intake_{settings_, handler_, log_};
};

TEST_F(StowIntakeTest, ValidInstancesReachTheHandlerAndTheOthersAreListedAsFailed) {
  SyntheticImage ct = image();
  ct.sop_class_uid = UID_CTImageStorage;
  SyntheticImage hostile = image();
  hostile.sop_uid = "../../../../tmp/evax-stow-escape";
  const auto response = post(body_of({dicom_bytes(image()), dicom_bytes(ct), dicom_bytes(image()), "not DICOM at all"}),
                             {.accept = "application/dicom+json"});
  EXPECT_EQ(response.status, 413) << response.body;  // 4 parts, 3 allowed
  EXPECT_TRUE(handler_.handled.empty());
  EXPECT_TRUE(temp_empty());

  const auto mixed = post(body_of({dicom_bytes(image()), dicom_bytes(ct), dicom_bytes(hostile)}));
  ASSERT_EQ(mixed.status, 202) << mixed.body;
  ASSERT_EQ(handler_.handled.size(), 1u);
  EXPECT_EQ(handler_.handled[0].from.calling_ae_title, "STOW-RS");
  EXPECT_EQ(handler_.handled[0].attributes.study_instance_uid, "1.2.826.0.1.3680043.10.7.1");
  const json body = json::parse(mixed.body);
  EXPECT_EQ(body["00081199"]["Value"][0]["00081155"]["Value"][0], handler_.handled[0].attributes.sop_instance_uid);
  ASSERT_EQ(body["00081198"]["Value"].size(), 2u);
  EXPECT_EQ(body["00081198"]["Value"][0]["00081197"]["Value"][0], 0x0122);
  EXPECT_EQ(body["00081198"]["Value"][0]["00081150"]["Value"][0], UID_CTImageStorage);
  EXPECT_EQ(body["00081198"]["Value"][1]["00081197"]["Value"][0], 0xC000);
  EXPECT_EQ(mixed.body.find("evax-stow-escape"), std::string::npos);  // a hostile UID is not echoed
  EXPECT_TRUE(temp_empty());
  EXPECT_FALSE(fs::exists("/tmp/evax-stow-escape"));
}

TEST_F(StowIntakeTest, AMalformedBodyStoresNothing) {
  const std::string whole = body_of({dicom_bytes(image()), dicom_bytes(image())});
  for (const std::string& broken : {whole.substr(0, whole.size() - 10), whole.substr(0, whole.size() / 2), std::string("no multipart"),
                                    whole.substr(0, 20)}) {
    const auto response = post(broken);
    EXPECT_EQ(response.status, 400) << response.body;
    EXPECT_EQ(json::parse(response.body)["error"]["code"], "bad_request");
  }
  EXPECT_EQ(post("--" + kBoundary + "--").status, 400);  // no instance at all
  EXPECT_TRUE(handler_.handled.empty());
  EXPECT_TRUE(temp_empty());
}

TEST_F(StowIntakeTest, TheRequestHeadIsCheckedBeforeAnyBody) {
  const std::string body = body_of({dicom_bytes(image())});
  EXPECT_EQ(post(body, {.content_type = "application/dicom"}).status, 415);
  EXPECT_EQ(post(body, {.content_type = "multipart/related; type=\"application/dicom+json\"; boundary=" + kBoundary}).status, 415);
  EXPECT_EQ(post(body, {.content_type = "multipart/related; type=\"application/dicom\""}).status, 400);  // no boundary
  EXPECT_EQ(post(body, {.content_type = "text/plain; boundary=" + kBoundary}).status, 415);
  EXPECT_EQ(post(body, {.study_instance_uid = "1.2/../3"}).status, 400);
  EXPECT_EQ(post(body, {.accept = "text/html"}).status, 406);
  EXPECT_EQ(post(body_of({dicom_bytes(image())}, "application/dicom+json")).status, 415);  // a part of another type
  handler_.space = false;
  EXPECT_EQ(post(body).status, 503);
  EXPECT_TRUE(handler_.handled.empty());
  EXPECT_TRUE(temp_empty());
}

TEST_F(StowIntakeTest, AnInstanceOfAnotherStudyThanThePathNamesFails) {
  const auto response = post(body_of({dicom_bytes(image("1.2.826.0.1.3680043.10.7.2")), dicom_bytes(image())}),
                             {.study_instance_uid = "1.2.826.0.1.3680043.10.7.1", .accept = "application/dicom+xml"});
  ASSERT_EQ(response.status, 202) << response.body;
  EXPECT_EQ(response.content_type, "application/dicom+xml");
  EXPECT_NE(response.body.find("<Value number=\"1\">43264</Value>"), std::string::npos) << response.body;  // 0xA900
  EXPECT_EQ(handler_.handled.size(), 1u);
}

TEST_F(StowIntakeTest, TheHandlersRefusalIsTheInstancesFailureReason) {
  handler_.answer = dicom_node::StoreStatus::out_of_resources;
  const auto response = post(body_of({dicom_bytes(image())}));
  EXPECT_EQ(response.status, 409);
  EXPECT_EQ(json::parse(response.body)["00081198"]["Value"][0]["00081197"]["Value"][0], 0xA700);
}

}  // namespace
}  // namespace evax::dicomweb
