#include "file_digest.h"

#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>

#include <fstream>
#include <vector>

namespace evax::app {

std::expected<std::string, std::string> sha256_of_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected("cannot open " + path);
  Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
  std::vector<char> buffer(1 << 20);
  while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0)
    engine.update(buffer.data(), static_cast<unsigned>(in.gcount()));
  if (in.bad()) return std::unexpected("cannot read " + path);
  return Poco::DigestEngine::digestToHex(engine.digest());
}

}  // namespace evax::app
