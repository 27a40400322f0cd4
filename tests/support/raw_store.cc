#include "raw_store.h"

#include "process.h"

namespace evax::testing {

std::string raw_store(int port, const RawStore& store, std::chrono::seconds timeout) {
  std::string command = std::string(EVAX_RAW_STORE_BINARY) + " EVAX " + std::to_string(port) + " " + store.sop_class_uid + " " +
                        store.sop_instance_uid + " " + store.transfer_syntax_uid + " " + store.file;
  if (store.stall_seconds > 0) command += " --stall-seconds " + std::to_string(store.stall_seconds);
  if (!store.context.empty()) command += " --context " + store.context;
  return run_command(command, timeout).output;
}

}  // namespace evax::testing
