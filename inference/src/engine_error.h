// The inference module's exception boundary: its public functions return error values, and
// this is where LibTorch's and the loader's exceptions become those values.
#pragma once

#include <c10/util/Exception.h>

#include <expected>
#include <stdexcept>
#include <string>

namespace evax::inference {

// What the module throws internally for a failure the caller should read: a refused pickle,
// a damaged file, a mismatched checkpoint, an option that cannot work.
struct EngineError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class Body>
auto error_boundary(Body&& body) -> std::expected<typename decltype(body())::value_type, std::string> {
  try {
    return body();
  } catch (const c10::Error& e) {
    return std::unexpected("LibTorch: " + std::string(e.what_without_backtrace()));
  } catch (const std::exception& e) {  // EngineError and the standard library's
    return std::unexpected(std::string(e.what()));
  }
}

}  // namespace evax::inference
