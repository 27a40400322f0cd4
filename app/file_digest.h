// SHA-256 of a file, in lowercase hex, to identify the exact checkpoint a result came from.
#pragma once

#include <expected>
#include <string>

namespace evax::app {

std::expected<std::string, std::string> sha256_of_file(const std::string& path);

}  // namespace evax::app
