// DeliveryWorkers with real parts: a SQLite outbox, the storage SCU, and two evax-test-scp
// destinations on loopback, one an older archive that refuses the Comprehensive 3D SR and the
// Parametric Map SOP classes at negotiation and takes only SRs and maps (destinations[].outputs).
// The maps are synthetic objects of the Parametric Map class (the node does not make them yet).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "evax/pipeline/delivery_workers.h"
#include "evax/storage/storage_backend.h"
#include "process.h"

namespace evax::pipeline {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kComprehensiveSr = "1.2.840.10008.5.1.4.1.1.88.33";
constexpr const char* kComprehensive3dSr = "1.2.840.10008.5.1.4.1.1.88.34";
constexpr const char* kParametricMap = "1.2.840.10008.5.1.4.1.1.30";
constexpr const char* kSecondaryCapture = "1.2.840.10008.5.1.4.1.1.7";
constexpr const char* kStudy = "1.2.826.0.1.3680043.10.7.1";

std::string text_of(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  item.findAndGetOFStringArray(tag, value);
  return value.c_str();
}

bool accepts_connections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return open;
}

// evax-test-scp on its own port and folder.
struct TestScp {
  TestScp(const fs::path& parent, const std::string& name, const std::vector<std::string>& options)
      : port(testing::free_tcp_port()), dir(parent / name) {
    fs::create_directories(dir / "received");
    std::vector<std::string> argv{EVAX_TEST_SCP_BINARY, std::to_string(port), "ARCHIVE", (dir / "received").string(),
                                  (dir / "received.log").string()};
    argv.insert(argv.end(), options.begin(), options.end());
    process.start(argv, (dir / "scp.log").string());
    for (int i = 0; i < 200 && process.running() && !accepts_connections(port); ++i) std::this_thread::sleep_for(50ms);
  }
  ~TestScp() {
    process.signal(SIGKILL);
    process.wait(10s);
  }
  // SOP Instance UID -> SOP Class UID of what arrived.
  std::map<std::string, std::string> received() const {
    std::map<std::string, std::string> out;
    for (const auto& entry : fs::directory_iterator(dir / "received")) {
      DcmFileFormat file;
      if (file.loadFile(entry.path().c_str()).good())
        out[text_of(*file.getDataset(), DCM_SOPInstanceUID)] = text_of(*file.getDataset(), DCM_SOPClassUID);
    }
    return out;
  }
  config::Destination destination(const std::string& name, std::vector<std::string> outputs) const {
    return {.name = name, .ae_title = "ARCHIVE", .host = "127.0.0.1", .port = port, .outputs = std::move(outputs)};
  }

  int port;
  fs::path dir;
  testing::BackgroundProcess process;
};

class DeliverySubstitution : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-delivery-substitution-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    fs::create_directories(dir_ / "made");
    files_ = std::make_unique<storage::FileStore>((dir_ / "data").string());
    backend_ = storage::make_storage_backend(storage::BackendSettings{}, *files_);
  }
  void TearDown() override {
    backend_.reset();
    files_.reset();
    fs::remove_all(dir_);
  }

  // A result object of `sop_class` under made/: an SR with a small content tree, else a header.
  storage::Output make_output(const std::string& kind, const std::string& sop_class, const std::string& uid) {
    DcmFileFormat file;
    DcmDataset& d = *file.getDataset();
    d.putAndInsertString(DCM_SOPClassUID, sop_class.c_str());
    d.putAndInsertString(DCM_SOPInstanceUID, uid.c_str());
    d.putAndInsertString(DCM_StudyInstanceUID, kStudy);
    d.putAndInsertString(DCM_SeriesInstanceUID, (uid + ".1").c_str());
    if (kind == "sr") {
      d.putAndInsertString(DCM_ValueType, "CONTAINER");
      DcmItem* item = nullptr;
      d.findOrCreateSequenceItem(DCM_ContentSequence, item, -2);
      item->putAndInsertString(DCM_ValueType, "TEXT");
      item->putAndInsertString(DCM_TextValue, "Effusion: present");
    }
    const fs::path path = dir_ / "made" / (uid + ".dcm");
    EXPECT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
    storage::Output o;
    o.kind = kind;
    o.sop_class_uid = sop_class;
    o.sop_instance_uid = uid;
    o.series_instance_uid = uid + ".1";
    o.study_instance_uid = kStudy;
    o.file_path = path.string();
    o.size_bytes = static_cast<std::int64_t>(fs::file_size(path));
    return o;
  }

  // A done job of one image with `kinds` of outputs, queued as `destinations` say.
  std::int64_t finish_job(const std::vector<std::string>& kinds, const std::vector<config::Destination>& destinations) {
    auto index = backend_->open_instance_index();
    storage::StoreRequest request;
    request.attributes.sop_class_uid = "1.2.840.10008.5.1.4.1.1.1.1";
    request.attributes.sop_instance_uid = std::string(kStudy) + ".9";
    request.attributes.study_instance_uid = kStudy;
    request.attributes.modality = "DX";
    request.temp_path = files_->new_temp_path();
    std::ofstream(request.temp_path) << "DICM-ish";
    const auto stored = index->store(request);
    auto jobs = backend_->open_job_queue();
    const std::int64_t job_id = jobs->enqueue(jobs->studies_awaiting_analysis().at(0));
    jobs->claim_next({});
    const std::map<std::string, std::string> classes{{"sr", kComprehensive3dSr}, {"sc", kSecondaryCapture}, {"pmap", kParametricMap}};
    std::vector<storage::Output> outputs;
    for (const auto& kind : kinds) {
      outputs.push_back(make_output(kind, classes.at(kind), std::string(kStudy) + ".2." + std::to_string(outputs.size() + 1)));
      if (kind != "sr") outputs.back().source_instance_id = stored.instance_id;
    }
    std::vector<storage::DeliveryRoute> routes;
    for (const auto& d : destinations) routes.push_back({d.name, d.outputs});
    jobs->finish_with_outputs(job_id, {{job_id, {stored.instance_id, request.attributes.sop_instance_uid, "analysed", "", "", results::ImageAnalysis{}}}},
                              outputs, routes);
    return job_id;
  }

  // Runs the senders until every delivery of `job_id` is final (or 30 s): its deliveries by destination and kind.
  std::map<std::pair<std::string, std::string>, storage::Delivery> deliver(std::int64_t job_id,
                                                                           const std::vector<config::Destination>& destinations) {
    DeliverySettings settings;
    settings.retry.retry_initial_s = 1;
    settings.retry.retry_max_s = 1;
    settings.destinations = destinations;
    settings.scu = {"EVAX", 5, 5, 65536};
    DeliveryWorkers workers(*backend_, settings, clock_, log_);
    workers.start();
    auto read = backend_->open_read_model();
    std::vector<storage::Delivery> deliveries;
    for (const auto give_up = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < give_up;) {
      deliveries = read->deliveries_of_job(job_id);
      if (std::all_of(deliveries.begin(), deliveries.end(), [](const storage::Delivery& d) {
            return d.state == storage::DeliveryState::delivered || d.state == storage::DeliveryState::dead;
          }))
        break;
      std::this_thread::sleep_for(100ms);
    }
    workers.stop();
    std::map<std::pair<std::string, std::string>, storage::Delivery> out;
    for (const auto& d : read->deliveries_of_job(job_id)) out[{d.destination, d.output.kind}] = d;
    return out;
  }

  std::vector<std::string> log_lines() {
    std::lock_guard lock(lines_mutex_);
    return lines_;
  }

  fs::path dir_;
  std::unique_ptr<storage::FileStore> files_;
  std::unique_ptr<storage::StorageBackend> backend_;
  SteadyClock clock_;
  std::mutex lines_mutex_;
  std::vector<std::string> lines_;
  logging::Logger log_{logging::Level::debug, logging::Logger::Format::text, [this](const std::string& line) {
                         std::lock_guard lock(lines_mutex_);
                         lines_.push_back(line);
                       }};
};

TEST_F(DeliverySubstitution, AnOlderArchiveGetsComprehensiveSrAndTheScInsteadOfTheMap) {
  TestScp old_archive(dir_, "old", {"--refuse-classes", std::string(kComprehensive3dSr) + "," + kParametricMap});
  TestScp new_archive(dir_, "new", {});
  const std::vector<config::Destination> destinations{old_archive.destination("old", {"sr", "pmap"}),
                                                      new_archive.destination("new", {})};
  const std::int64_t job_id = finish_job({"sr", "sc", "pmap"}, destinations);
  // The old archive takes no SCs: none is queued for it until a map is refused.
  EXPECT_EQ(backend_->open_read_model()->deliveries_of_job(job_id).size(), 5u);

  const auto deliveries = deliver(job_id, destinations);
  ASSERT_EQ(deliveries.size(), 6u);
  for (const auto& [key, d] : deliveries)
    EXPECT_EQ(d.state, storage::DeliveryState::delivered) << key.first << " " << key.second << ": " << d.last_status;

  // The old archive: the SR as Comprehensive SR, the SC for the map, never the map.
  const auto& sr = deliveries.at({"old", "sr"});
  EXPECT_NE(sr.substitution.find("sent as Comprehensive SR"), std::string::npos) << sr.substitution;
  EXPECT_NE(sr.substitution.find("refused Comprehensive 3D SR"), std::string::npos) << sr.substitution;
  const auto& map = deliveries.at({"old", "pmap"});
  EXPECT_NE(map.substitution.find("the Secondary Capture carries the heatmap"), std::string::npos) << map.substitution;
  EXPECT_NE(map.substitution.find("refused SOP class Parametric Map"), std::string::npos) << map.substitution;
  EXPECT_EQ(deliveries.at({"old", "sc"}).substitution, "");
  const auto old_received = old_archive.received();
  ASSERT_EQ(old_received.size(), 2u);
  std::multiset<std::string> old_classes;
  for (const auto& [uid, sop_class] : old_received) old_classes.insert(sop_class);
  EXPECT_EQ(old_classes, (std::multiset<std::string>{kComprehensiveSr, kSecondaryCapture}));
  EXPECT_FALSE(old_received.count(sr.output.sop_instance_uid));  // a new UID for the new class
  EXPECT_TRUE(old_received.count(deliveries.at({"old", "sc"}).output.sop_instance_uid));

  // The archive that accepts everything: unchanged.
  std::map<std::string, std::string> expected;
  for (const char* kind : {"sr", "sc", "pmap"}) {
    const auto& d = deliveries.at({"new", kind});
    EXPECT_EQ(d.substitution, "") << kind;
    expected[d.output.sop_instance_uid] = d.output.sop_class_uid;
  }
  EXPECT_EQ(new_archive.received(), expected);
  EXPECT_FALSE(backend_->open_read_model()->job(job_id)->times.delivered.empty());

  // Each substitution is logged, without patient identifiers.
  int substituted = 0;
  for (const auto& line : log_lines())
    if (line.find(" delivery substituted: ") != std::string::npos) {
      ++substituted;
      EXPECT_EQ(line.find("PatientID"), std::string::npos) << line;
    }
  EXPECT_EQ(substituted, 2);
}

TEST_F(DeliverySubstitution, ARefusedMapWithoutAnScIsDeadLetteredWithTheReason) {
  TestScp old_archive(dir_, "old", {"--refuse-classes", kParametricMap});
  const std::vector<config::Destination> destinations{old_archive.destination("old", {})};
  const std::int64_t job_id = finish_job({"sr", "pmap"}, destinations);
  const auto deliveries = deliver(job_id, destinations);
  ASSERT_EQ(deliveries.size(), 2u);
  EXPECT_EQ(deliveries.at({"old", "sr"}).state, storage::DeliveryState::delivered);
  EXPECT_EQ(deliveries.at({"old", "sr"}).substitution, "");  // 3D SR accepted: sent as made
  const auto& map = deliveries.at({"old", "pmap"});
  EXPECT_EQ(map.state, storage::DeliveryState::dead);
  EXPECT_EQ(map.attempts, 1);
  EXPECT_EQ(map.substitution, "");
  EXPECT_NE(map.last_status.find("the destination refused SOP class Parametric Map (1.2.840.10008.5.1.4.1.1.30) at association negotiation"),
            std::string::npos)
      << map.last_status;
}

}  // namespace
}  // namespace evax::pipeline
