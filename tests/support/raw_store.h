// One C-STORE of a file's bytes through evax-test-raw-store (raw_store_main.cc), which puts them
// on the wire unparsed, so that tests can send truncated and hostile datasets.
#pragma once

#include <chrono>
#include <string>

namespace evax::testing {

struct RawStore {
  std::string sop_class_uid;        // the command's Affected SOP Class
  std::string sop_instance_uid;     // the command's Affected SOP Instance
  std::string transfer_syntax_uid;  // the dataset's, proposed on the presentation context
  std::string file;                 // the dataset's bytes, sent as they are
  std::string context;              // "": a context of sop_class_uid; else of this abstract syntax
  int stall_seconds = 0;            // the sender stops this long after its first data PDV
};

// The sender's report: "status 0xnnnn", "aborted: ..." or "rejected: ..." (AE title EVAX on
// 127.0.0.1:port).
std::string raw_store(int port, const RawStore& store, std::chrono::seconds timeout = std::chrono::seconds(60));

}  // namespace evax::testing
