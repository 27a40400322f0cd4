// evax-test-scp: a DICOM storage destination whose answers a test chooses, for the faults a
// real PACS produces only now and then: a C-STORE status sequence (0xA700, 0xC000, ...), a
// slow answer (past the sender's DIMSE timeout), refusing every association, or refusing some
// SOP classes at negotiation (an older archive that does not know them). Every C-STORE
// it receives is appended to a log as "<SOP Instance UID> <status in hex>" and the accepted
// ones are written to the output directory, so a test can count what arrived and how often.
//   evax-test-scp PORT AE_TITLE OUT_DIR LOG [--statuses 0xA700,0x0000] [--delay-ms N] [--refuse]
//                 [--refuse-classes UID,UID]
// The last status of the sequence repeats. Serves associations one at a time until killed.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/scp.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Behaviour {
  std::vector<Uint16> statuses{0x0000};
  int delay_ms = 0;
  bool refuse = false;
  std::set<std::string> refused_classes;
  std::string out_dir;
  std::string log_path;
};

class TestScp : public DcmSCP {
 public:
  explicit TestScp(Behaviour behaviour) : behaviour_(std::move(behaviour)) {}

 protected:
  void notifyAssociationRequest(const T_ASC_Parameters& params, DcmSCPActionType& action) override {
    DcmSCP::notifyAssociationRequest(params, action);
    if (behaviour_.refuse) action = DCMSCP_ACTION_REFUSE_ASSOCIATION;
  }

  OFCondition handleIncomingCommand(T_DIMSE_Message* message, const DcmPresentationContextInfo& context) override {
    if (message->CommandField != DIMSE_C_STORE_RQ) return DcmSCP::handleIncomingCommand(message, context);
    T_DIMSE_C_StoreRQ& request = message->msg.CStoreRQ;
    DcmDataset* dataset = nullptr;
    OFCondition status = receiveSTORERequest(request, context.presentationContextID, dataset);
    if (status.bad()) return status;
    const Uint16 answer = behaviour_.statuses[std::min(count_, behaviour_.statuses.size() - 1)];
    ++count_;
    {
      std::ofstream log(behaviour_.log_path, std::ios::app);
      char hex[8];
      std::snprintf(hex, sizeof hex, "%04X", answer);
      log << request.AffectedSOPInstanceUID << " " << hex << "\n";
    }
    if (answer == 0x0000 || (answer & 0xF000) == 0xB000) {
      DcmFileFormat file(dataset);
      file.saveFile((behaviour_.out_dir + "/" + std::to_string(count_) + ".dcm").c_str(), EXS_LittleEndianExplicit);
    }
    delete dataset;
    if (behaviour_.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(behaviour_.delay_ms));
    return sendSTOREResponse(context.presentationContextID, request, answer);
  }

 private:
  Behaviour behaviour_;
  std::size_t count_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: evax-test-scp PORT AE_TITLE OUT_DIR LOG [--statuses A,B] [--delay-ms N] [--refuse] "
                 "[--refuse-classes UID,UID]\n";
    return 2;
  }
  Behaviour behaviour;
  behaviour.out_dir = argv[3];
  behaviour.log_path = argv[4];
  for (int i = 5; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--statuses" && i + 1 < argc) {
      behaviour.statuses.clear();
      std::stringstream list(argv[++i]);
      for (std::string item; std::getline(list, item, ',');)
        behaviour.statuses.push_back(static_cast<Uint16>(std::stoul(item, nullptr, 16)));
    } else if (arg == "--delay-ms" && i + 1 < argc) {
      behaviour.delay_ms = std::stoi(argv[++i]);
    } else if (arg == "--refuse-classes" && i + 1 < argc) {
      std::stringstream list(argv[++i]);
      for (std::string item; std::getline(list, item, ',');) behaviour.refused_classes.insert(item);
    } else if (arg == "--refuse") {
      behaviour.refuse = true;
    } else {
      std::cerr << "unknown argument " << arg << "\n";
      return 2;
    }
  }
  OFLog::configure(OFLogger::WARN_LOG_LEVEL);
  const std::set<std::string> refused_classes = behaviour.refused_classes;
  TestScp scp(behaviour);
  scp.setPort(static_cast<Uint16>(std::stoi(argv[1])));
  scp.setAETitle(argv[2]);
  scp.setACSETimeout(30);
  scp.setDIMSETimeout(30);
  const OFList<OFString> syntaxes{UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax};
  scp.setEnableVerification();
  for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i)
    if (!refused_classes.count(dcmAllStorageSOPClassUIDs[i]))
      scp.addPresentationContext(dcmAllStorageSOPClassUIDs[i], syntaxes);
  std::cout << "listening" << std::endl;
  const OFCondition status = scp.listen();
  std::cerr << "evax-test-scp: " << status.text() << "\n";
  return status.good() ? 0 : 1;
}
