// docs/conformance-statement.md against the node itself: the SOP classes and transfer syntaxes
// its Storage SCP accepts (found by proposing every one DCMTK knows), and the attributes of every
// object it creates (found by letting it analyse the example study with every output on). A
// change to either without the document fails here, with the difference spelled out.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmnet/scu.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "destination.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kStatement = std::string(EVAX_SOURCE_DIR) + "/docs/conformance-statement.md";
const std::string kChest = std::string(EVAX_SOURCE_DIR) + "/examples/synthetic_chest_pa.dcm";

// The rows of the table that follows `<!-- conformance:NAME -->` in the statement, as cells.
std::vector<std::vector<std::string>> table(const std::string& name) {
  std::ifstream in(kStatement);
  EXPECT_TRUE(in) << kStatement << " is missing";
  std::vector<std::vector<std::string>> rows;
  bool inside = false, seen = false;
  for (std::string line; std::getline(in, line);) {
    if (line.find("<!-- conformance:" + name + " -->") != std::string::npos) {
      inside = seen = true;
      continue;
    }
    if (!inside) continue;
    if (line.rfind("|", 0) != 0) {
      if (!rows.empty()) break;  // the table ended
      continue;
    }
    if (line.find("---") != std::string::npos) continue;  // the header rule
    std::vector<std::string> cells;
    std::stringstream cells_in(line.substr(1));
    for (std::string cell; std::getline(cells_in, cell, '|');) {
      const auto first = cell.find_first_not_of(' '), last = cell.find_last_not_of(' ');
      cells.push_back(first == std::string::npos ? "" : cell.substr(first, last - first + 1));
    }
    rows.push_back(std::move(cells));
  }
  EXPECT_TRUE(seen) << "no table marked conformance:" << name << " in " << kStatement;
  if (!rows.empty()) rows.erase(rows.begin());  // the header
  return rows;
}

// Every `1.2.840...` UID written in backticks in the table's rows.
std::set<std::string> uids_in(const std::vector<std::vector<std::string>>& rows) {
  static const std::regex uid("`([0-9]+(\\.[0-9]+)+)`");
  std::set<std::string> found;
  for (const auto& row : rows)
    for (const auto& cell : row)
      for (std::sregex_iterator it(cell.begin(), cell.end(), uid), end; it != end; ++it) found.insert((*it)[1]);
  return found;
}

std::string describe(const std::set<std::string>& uids) {
  std::string out;
  for (const auto& uid : uids) {
    const char* name = dcmFindNameOfUID(uid.c_str(), nullptr);
    out += "  " + uid + " (" + (name ? name : "?") + ")\n";
  }
  return out;
}

std::string difference(const std::set<std::string>& actual, const std::set<std::string>& documented) {
  std::set<std::string> missing, extra;
  for (const auto& uid : actual)
    if (!documented.count(uid)) missing.insert(uid);
  for (const auto& uid : documented)
    if (!actual.count(uid)) extra.insert(uid);
  return "not in the statement:\n" + describe(missing) + "in the statement only:\n" + describe(extra);
}

// Proposes `contexts` (abstract syntax, one transfer syntax each) to the node in associations of
// at most 100 contexts; the pairs it accepted.
std::set<std::pair<std::string, std::string>> accepted_by_node(int port,
                                                               const std::vector<std::pair<std::string, std::string>>& contexts) {
  std::set<std::pair<std::string, std::string>> accepted;
  for (std::size_t begin = 0; begin < contexts.size(); begin += 100) {
    DcmSCU scu;
    scu.setAETitle("CONFORMANCE");
    scu.setPeerAETitle("EVAX");
    scu.setPeerHostName("127.0.0.1");
    scu.setPeerPort(static_cast<Uint16>(port));
    scu.setConnectionTimeout(10);
    scu.setACSETimeout(10);
    const std::size_t end = std::min(contexts.size(), begin + 100);
    for (std::size_t i = begin; i < end; ++i)
      scu.addPresentationContext(contexts[i].first.c_str(), OFList<OFString>{contexts[i].second.c_str()});
    EXPECT_TRUE(scu.initNetwork().good());
    const OFCondition negotiated = scu.negotiateAssociation();
    if (negotiated == NET_EC_NoAcceptablePresentationContexts) continue;  // an answer too: none of these
    EXPECT_TRUE(negotiated.good()) << negotiated.text();
    if (negotiated.bad()) continue;
    for (std::size_t i = begin; i < end; ++i)
      if (scu.findPresentationContextID(contexts[i].first.c_str(), contexts[i].second.c_str()) != 0)
        accepted.insert(contexts[i]);
    scu.releaseAssociation();
  }
  return accepted;
}

// Every transfer syntax DCMTK knows, by UID.
std::vector<std::string> known_transfer_syntaxes() {
  std::set<std::string> uids;
  for (int i = 0; i < 200; ++i) {
    const DcmXfer xfer(static_cast<E_TransferSyntax>(i));
    if (xfer.getXfer() != EXS_Unknown && xfer.getXferID() && *xfer.getXferID()) uids.insert(xfer.getXferID());
  }
  return {uids.begin(), uids.end()};
}

TEST(ConformanceStatement, TheScpAcceptsExactlyTheDocumentedSopClasses) {
  NodeHarness node;
  node.config()["dicom"]["ae_title"] = "EVAX";
  node.start();
  std::vector<std::pair<std::string, std::string>> contexts{{UID_VerificationSOPClass, UID_LittleEndianImplicitTransferSyntax}};
  for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i)
    contexts.emplace_back(dcmAllStorageSOPClassUIDs[i], UID_LittleEndianExplicitTransferSyntax);
  ASSERT_GT(contexts.size(), 100u);  // DCMTK's list, so the probe covers far more than the node takes

  std::set<std::string> accepted;
  for (const auto& [sop_class, syntax] : accepted_by_node(node.port(), contexts)) accepted.insert(sop_class);
  ASSERT_FALSE(accepted.empty());
  const std::set<std::string> documented = uids_in(table("scp-sop-classes"));
  EXPECT_EQ(accepted, documented) << difference(accepted, documented);
}

TEST(ConformanceStatement, TheScpAcceptsExactlyTheDocumentedTransferSyntaxes) {
  NodeHarness node;
  node.config()["dicom"]["ae_title"] = "EVAX";
  node.start();
  const auto syntaxes = known_transfer_syntaxes();
  ASSERT_GT(syntaxes.size(), 20u);
  std::vector<std::pair<std::string, std::string>> contexts;
  for (const auto& syntax : syntaxes) contexts.emplace_back(UID_DigitalXRayImageStorageForPresentation, syntax);

  std::set<std::string> accepted;
  for (const auto& [sop_class, syntax] : accepted_by_node(node.port(), contexts)) accepted.insert(syntax);
  ASSERT_FALSE(accepted.empty());
  const std::set<std::string> documented = uids_in(table("scp-transfer-syntaxes"));
  EXPECT_EQ(accepted, documented) << difference(accepted, documented);
}

// The top-level attributes of a DICOM file's dataset (without the file meta information).
std::set<std::string> top_level_tags(const std::filesystem::path& file) {
  DcmFileFormat format;
  EXPECT_TRUE(format.loadFile(file.c_str()).good()) << file;
  std::set<std::string> tags;
  DcmDataset* dataset = format.getDataset();
  for (unsigned long i = 0; i < dataset->card(); ++i) {
    const DcmTag& tag = dataset->getElement(i)->getTag();
    char text[16];
    std::snprintf(text, sizeof text, "(%04X,%04X)", tag.getGTag(), tag.getETag());
    tags.insert(text);
  }
  return tags;
}

std::string tag_list(const std::set<std::string>& tags) {
  std::string out;
  for (const auto& text : tags) {
    unsigned int group = 0, element = 0;
    std::sscanf(text.c_str(), "(%x,%x)", &group, &element);
    DcmTag tag(static_cast<Uint16>(group), static_cast<Uint16>(element));
    out += "  | " + std::string(tag.getTagName()) + " | " + text + " |\n";
  }
  return out;
}

// Every job final and every delivery of its outputs ended (delivered or dead).
bool all_sent(const json& status) {
  if (!all_jobs_final(status, 1)) return false;
  for (const auto& job : status["jobs"]) {
    if (job["outputs"].empty() && job["state"] == "done") return false;  // outputs not listed yet
    for (const auto& output : job["outputs"])
      for (const auto& d : output["deliveries"])
        if (d["state"] != "delivered" && d["state"] != "dead") return false;
  }
  return true;
}

TEST(ConformanceStatement, EveryCreatedObjectHasExactlyTheDocumentedAttributes) {
  NodeHarness node;
  Destination pacs(node.dir());
  pacs.start_storescp();
  node.config()["destinations"] = json::array({pacs.config_entry()});
  node.config()["model"]["segmenter"] = {{"checkpoint", "demo"}, {"threshold", 0.93}};  // the example's lungs are accepted
  node.config().erase("reporting");  // the default: every kind
  node.start();
  const CommandResult sent = node.storescu({kChest});
  ASSERT_EQ(store_successes(sent.output), 1) << sent.output;
  const json status = node.wait_for([](const json& s) { return all_sent(s); }, 300s);
  ASSERT_EQ(status["jobs"].size(), 1u) << status.dump(2);
  ASSERT_EQ(status["jobs"][0]["state"], "done") << status.dump(2);

  // Every SOP class the node sent is one the statement lists for its SCU, and each has its table.
  std::map<std::string, std::filesystem::path> sample;
  for (const auto& file : pacs.received_files()) sample.emplace(element(file, DCM_SOPClassUID), file);
  // EVAX_CONFORMANCE_KEEP=DIR keeps one object of each class there, to write the tables from.
  if (const char* keep = std::getenv("EVAX_CONFORMANCE_KEEP"))
    for (const auto& [sop_class, file] : sample) std::filesystem::copy_file(file, std::filesystem::path(keep) / (sop_class + ".dcm"), std::filesystem::copy_options::overwrite_existing);
  ASSERT_EQ(sample.size(), 5u);  // SR, SC, SEG, Parametric Map and KOS
  std::set<std::string> sent_classes;
  for (const auto& [sop_class, file] : sample) sent_classes.insert(sop_class);
  const std::set<std::string> scu_classes = uids_in(table("scu-sop-classes"));
  for (const auto& sop_class : sent_classes)
    EXPECT_TRUE(scu_classes.count(sop_class)) << "the node sent " << sop_class << " (" << dcmFindNameOfUID(sop_class.c_str(), "?")
                                              << "), which the statement's SCU table does not list";

  for (const auto& [sop_class, file] : sample) {
    SCOPED_TRACE(sop_class);
    // Rows: | Module | Attribute | Tag | Presence | ...; Presence "always" must appear in every
    // object, "conditional" may.
    const auto rows = table("iod:" + sop_class);
    std::set<std::string> always, documented;
    static const std::regex tag_pattern("\\([0-9A-F]{4},[0-9A-F]{4}\\)");
    for (const auto& row : rows) {
      ASSERT_GE(row.size(), 4u);
      ASSERT_TRUE(std::regex_match(row[2], tag_pattern)) << "not a tag: " << row[2];
      documented.insert(row[2]);
      if (row[3] == "always") always.insert(row[2]);
    }
    const std::set<std::string> written = top_level_tags(file);
    std::set<std::string> undocumented, absent;
    for (const auto& tag : written)
      if (!documented.count(tag)) undocumented.insert(tag);
    for (const auto& tag : always)
      if (!written.count(tag)) absent.insert(tag);
    EXPECT_TRUE(undocumented.empty()) << "written by the node, not in the statement's table iod:" << sop_class << ":\n"
                                      << tag_list(undocumented);
    EXPECT_TRUE(absent.empty()) << "documented as always written, absent from " << file << ":\n" << tag_list(absent);
  }
}

}  // namespace
}  // namespace evax::testing
