// evax-test-raw-store: sends the bytes of FILE as the dataset of one C-STORE, unparsed, so that
// tests can put truncated and hostile datasets on the wire (storescu refuses to send them).
// Prints "status 0xNNNN" when a response arrives, "aborted: ..." when the peer ended the
// association, "rejected: ..." when it refused it. Exit 0 in all those cases (the test
// judges), 2 on bad usage, 3 when it could not connect.
//
// With --stall-seconds N it stops for N seconds after its first data PDV (a stalled peer).
// With --context UID it proposes, and sends on, a presentation context of that abstract syntax
// instead of SOP_CLASS_UID's (a command whose SOP class is not its context's).
//
// usage: evax-test-raw-store CALLED_AE PORT SOP_CLASS_UID SOP_INSTANCE_UID TRANSFER_SYNTAX_UID FILE
//                            [--stall-seconds N] [--context ABSTRACT_SYNTAX_UID]
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>
#include <dcmtk/dcmnet/dul.h>
#include <dcmtk/oflog/oflog.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <utility>
#include <string>
#include <thread>

namespace {

int stall_seconds = 0;

void stall_once(void*, unsigned long) {
  if (stall_seconds > 0) std::this_thread::sleep_for(std::chrono::seconds(std::exchange(stall_seconds, 0)));
}

}  // namespace

int main(int argc, char** argv) {
  std::string context_syntax = argc > 3 ? argv[3] : "";
  while (argc >= 9) {
    const std::string option = argv[argc - 2];
    if (option == "--stall-seconds") stall_seconds = std::stoi(argv[argc - 1]);
    else if (option == "--context") context_syntax = argv[argc - 1];
    else break;
    argc -= 2;
  }
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s CALLED_AE PORT SOP_CLASS_UID SOP_INSTANCE_UID TRANSFER_SYNTAX_UID FILE\n", argv[0]);
    return 2;
  }
  OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
  const std::string peer = std::string("127.0.0.1:") + argv[2];
  T_ASC_Network* network = nullptr;
  T_ASC_Parameters* params = nullptr;
  T_ASC_Association* assoc = nullptr;
  ASC_initializeNetwork(NET_REQUESTOR, 0, 10, &network);
  ASC_createAssociationParameters(&params, ASC_DEFAULTMAXPDU);
  ASC_setAPTitles(params, "RAWSCU", argv[1], nullptr);
  ASC_setPresentationAddresses(params, "localhost", peer.c_str());
  const char* syntaxes[] = {argv[5]};
  ASC_addPresentationContext(params, 1, context_syntax.c_str(), syntaxes, 1);
  OFCondition cond = ASC_requestAssociation(network, params, &assoc);
  if (cond == DUL_ASSOCIATIONREJECTED) {
    std::printf("rejected: %s\n", cond.text());
    return 0;
  }
  if (cond.bad()) {
    std::printf("cannot connect: %s\n", cond.text());
    return 3;
  }
  const T_ASC_PresentationContextID pres_id = ASC_findAcceptedPresentationContextID(assoc, context_syntax.c_str());
  if (pres_id == 0) {
    std::printf("rejected: presentation context not accepted\n");
    ASC_releaseAssociation(assoc);
    return 0;
  }
  // The command set, encoded by hand in implicit VR little endian (DCMTK's own senders would
  // parse and re-encode the dataset, and refuse a broken one).
  auto element = [](std::uint16_t element_number, const std::string& value) {
    std::string out;
    const std::uint16_t group = 0;
    out.append(reinterpret_cast<const char*>(&group), 2);
    out.append(reinterpret_cast<const char*>(&element_number), 2);
    const std::uint32_t length = static_cast<std::uint32_t>(value.size());
    out.append(reinterpret_cast<const char*>(&length), 4);
    return out + value;
  };
  auto uid = [](std::string value) {
    if (value.size() % 2) value += '\0';
    return value;
  };
  auto us = [](std::uint16_t v) { return std::string(reinterpret_cast<const char*>(&v), 2); };
  std::string body = element(0x0002, uid(argv[3])) + element(0x0100, us(0x0001)) + element(0x0110, us(1)) +
                     element(0x0700, us(0)) + element(0x0800, us(0x0000)) + element(0x1000, uid(argv[4]));
  const std::uint32_t group_length = static_cast<std::uint32_t>(body.size());
  const std::string command = element(0x0000, std::string(reinterpret_cast<const char*>(&group_length), 4)) + body;

  auto write_pdv = [&](const char* data, std::size_t size, DUL_DATAPDV type, bool last) {
    DUL_PDV pdv{};
    pdv.fragmentLength = static_cast<unsigned long>(size);
    pdv.presentationContextID = pres_id;
    pdv.pdvType = type;
    pdv.lastPDV = last ? OFTrue : OFFalse;
    pdv.data = const_cast<char*>(data);
    DUL_PDVLIST list{};
    list.count = 1;
    list.pdv = &pdv;
    return DUL_WritePDVs(&assoc->DULassociation, &list);
  };
  cond = write_pdv(command.data(), command.size(), DUL_COMMANDPDV, true);
  std::ifstream in(argv[6], std::ios::binary);
  const std::string dataset((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr std::size_t kChunk = 16000;
  for (std::size_t at = 0; cond.good() && (at < dataset.size() || at == 0); at += kChunk) {
    const std::size_t size = std::min(kChunk, dataset.size() - at);
    cond = write_pdv(dataset.data() + at, size, DUL_DATASETPDV, at + size >= dataset.size());
    stall_once(nullptr, 0);
    if (dataset.empty()) break;
  }
  if (cond.bad()) {
    std::printf("aborted: sending failed: %s\n", cond.text());
    return 0;
  }
  T_DIMSE_Message response{};
  T_ASC_PresentationContextID response_pres = 0;
  cond = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, 30, &response_pres, &response, nullptr);
  if (cond.bad() || response.CommandField != DIMSE_C_STORE_RSP) {
    std::printf("aborted: %s\n", cond.bad() ? cond.text() : "unexpected response");
    ASC_abortAssociation(assoc);
    return 0;
  }
  std::printf("status 0x%04x\n", response.msg.CStoreRSP.DimseStatus);
  if (ASC_releaseAssociation(assoc).bad()) ASC_abortAssociation(assoc);
  ASC_destroyAssociation(&assoc);
  ASC_dropNetwork(&network);
  return 0;
}
