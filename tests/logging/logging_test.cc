// The node log and the audit log carry text from peers (AE titles, DICOM values, reasons built
// from them). Whatever bytes a peer sends, each line stays one well-formed record, JSON lines
// stay valid JSON, and nothing reaches a terminal as a control sequence.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "evax/logging/audit_log.h"
#include "evax/logging/logger.h"

namespace evax::logging {
namespace {

// An AE title as the fuzz run sent it (a no-break space in Latin-1), a terminal escape, a cut
// UTF-8 sequence, an overlong '/', a valid 'é' and a quote.
const std::string kHostile = std::string("EVAX\xA0 \x1B[31mred\x7F \xE2\x82 \xC0\xAF caf\xC3\xA9 \"q\"");

std::string logged(Logger::Format format) {
  std::string out;
  Logger log(Level::info, format, [&out](const std::string& line) { out += line; });
  log.warn("scp", "association-refused", "called AE title '" + kHostile + "'", {{"calling_ae", kHostile}});
  return out;
}

TEST(Logging, PeerBytesKeepAJsonLineValidAndShowEachBadByteByItsValue) {
  const std::string line = logged(Logger::Format::json);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  const nlohmann::json record = nlohmann::json::parse(line);  // throws on invalid UTF-8 or escapes
  const std::string expected = "EVAX\\xA0 \x1B[31mred\x7F \\xE2\\x82 \\xC0\\xAF caf\xC3\xA9 \"q\"";
  EXPECT_EQ(record["calling_ae"], expected);
  EXPECT_EQ(record["message"], "called AE title '" + expected + "'");
  EXPECT_EQ(line.find('\x1B'), std::string::npos) << "a raw escape reached the line";
}

TEST(Logging, PeerBytesInATextLineCannotReachTheTerminalRaw) {
  const std::string line = logged(Logger::Format::text);
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  for (char raw : {'\x1B', '\x7F', '\xA0', '\xC0'}) EXPECT_EQ(line.find(raw), std::string::npos) << static_cast<int>(raw);
  EXPECT_NE(line.find("called AE title 'EVAX\\xA0 \\x1B[31mred\\x7F \\xE2\\x82 \\xC0\\xAF caf\xC3\xA9"), std::string::npos) << line;
  EXPECT_NE(line.find("calling_ae=\"EVAX\\\\xA0"), std::string::npos) << line;  // quoted: it had to be escaped
  // Plain values stay unquoted.
  std::string plain;
  Logger log(Level::info, Logger::Format::text, [&plain](const std::string& l) { plain += l; });
  log.info("scp", "listening", "ok", {{"port", "11112"}, {"ae_title", "EVAX"}});
  EXPECT_NE(plain.find(" port=11112 ae_title=EVAX"), std::string::npos) << plain;
}

TEST(Logging, AnAuditLineWithPeerBytesIsValidJson) {
  const auto path = std::filesystem::temp_directory_path() / ("evax_audit_" + std::to_string(::getpid()) + ".log");
  {
    AuditLog audit(path.string());
    audit.record("association", kHostile + "@127.0.0.1", "refused", {{"reason", "called AE title '" + kHostile + "'"}});
  }
  std::ifstream in(path);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  std::filesystem::remove(path);
  const nlohmann::json record = nlohmann::json::parse(line);
  EXPECT_EQ(record["peer"], "EVAX\\xA0 \x1B[31mred\x7F \\xE2\\x82 \\xC0\\xAF caf\xC3\xA9 \"q\"@127.0.0.1");
  EXPECT_EQ(record["outcome"], "refused");
}

}  // namespace
}  // namespace evax::logging
