// How a delivery's last_status reads, the same in every backend: "0xA700 C-STORE answered ...".
// Internal to the storage module.
#pragma once

#include <optional>
#include <string>

namespace evax::storage {

std::string attempt_status_text(std::optional<int> dimse_status, const std::string& detail);

}  // namespace evax::storage
