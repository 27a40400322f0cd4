// evax-test-store-load: one association, C-STOREs of the given files one after another, and the
// time from each request to its response. Prints "latency_ms <ms> status 0x<hex>" per file and
// exits 0 when the association could be used (the caller judges the statuses), 3 when it was
// refused or could not be opened ("refused: ...").
//
// usage: evax-test-store-load CALLED_AE PORT FILE...
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/scu.h>
#include <dcmtk/oflog/oflog.h>

#include <chrono>
#include <cstdio>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s CALLED_AE PORT FILE...\n", argv[0]);
    return 2;
  }
  OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
  DcmSCU scu;
  scu.setAETitle("LOADSCU");
  scu.setPeerAETitle(argv[1]);
  scu.setPeerHostName("127.0.0.1");
  scu.setPeerPort(static_cast<Uint16>(std::atoi(argv[2])));
  scu.setACSETimeout(30);
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  scu.setDIMSETimeout(60);
  OFList<OFString> syntaxes;
  syntaxes.push_back(UID_LittleEndianExplicitTransferSyntax);
  scu.addPresentationContext(UID_DigitalXRayImageStorageForPresentation, syntaxes);
  if (scu.initNetwork().bad()) return 3;
  if (OFCondition cond = scu.negotiateAssociation(); cond.bad()) {
    std::printf("refused: %s\n", cond.text());
    return 3;
  }
  const T_ASC_PresentationContextID pres_id =
      scu.findPresentationContextID(UID_DigitalXRayImageStorageForPresentation, UID_LittleEndianExplicitTransferSyntax);
  for (int i = 3; i < argc; ++i) {
    Uint16 status = 0xFFFF;
    const auto start = std::chrono::steady_clock::now();
    const OFCondition cond = scu.sendSTORERequest(pres_id, argv[i], nullptr, status);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (cond.bad()) {
      std::printf("failed: %s\n", cond.text());
      return 0;
    }
    std::printf("latency_ms %.3f status 0x%04x\n", ms, status);
  }
  scu.releaseAssociation();
  return 0;
}
