// StowClient's reading of STOW-RS answers (statuses and DICOM JSON / XML bodies) and the
// multipart body it sends, checked against Python's email parser (the tools venv).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "evax/dicomweb/multipart_writer.h"
#include "evax/dicomweb/stow_client.h"
#include "process.h"

namespace evax::dicomweb {
namespace {

const std::vector<StowInstance> kTwo{{"a.dcm", "1.2.840.10008.5.1.4.1.1.7", "1.2.3.1"},
                                     {"b.dcm", "1.2.840.10008.5.1.4.1.1.88.34", "1.2.3.2"}};

std::string json_body(const std::vector<std::string>& referenced, const std::vector<std::pair<std::string, int>>& failed) {
  std::string body = "{";
  if (!referenced.empty()) {
    body += R"("00081199": {"vr": "SQ", "Value": [)";
    for (std::size_t i = 0; i < referenced.size(); ++i)
      body += (i ? "," : "") + std::string(R"({"00081155": {"vr": "UI", "Value": [")") + referenced[i] + "\"]}}";
    body += "]}";
  }
  if (!failed.empty()) {
    body += std::string(referenced.empty() ? "" : ",") + R"("00081198": {"vr": "SQ", "Value": [)";
    for (std::size_t i = 0; i < failed.size(); ++i)
      body += (i ? "," : "") + std::string(R"({"00081155": {"vr": "UI", "Value": [")") + failed[i].first +
              R"("]}, "00081197": {"vr": "US", "Value": [)" + std::to_string(failed[i].second) + "]}}";
    body += "]}";
  }
  return body + "}";
}

TEST(StowResponse, HttpStatusesAloneDecideRetryOrDeadLetter) {
  for (const int status : {408, 429, 500, 502, 503, 504}) {
    const auto results = interpret_stow_response(status, "x", "text/plain", "", kTwo);
    ASSERT_EQ(results.size(), 2u);
    for (const auto& r : results) EXPECT_EQ(r.outcome, StowOutcome::retryable) << status;
    EXPECT_NE(results[0].detail.find("HTTP " + std::to_string(status)), std::string::npos);
  }
  for (const int status : {400, 401, 403, 404, 405, 413, 415, 301}) {
    const auto results = interpret_stow_response(status, "x", "text/plain", "", kTwo);
    for (const auto& r : results) EXPECT_EQ(r.outcome, StowOutcome::permanent) << status;
  }
  EXPECT_NE(interpret_stow_response(401, "Unauthorized", "", "", kTwo)[0].detail.find("auth"), std::string::npos);
}

TEST(StowResponse, JsonBodyDecidesPerInstance) {
  // 202: one stored, one failed out of resources (retryable).
  auto results = interpret_stow_response(202, "Accepted", "application/dicom+json", json_body({"1.2.3.1"}, {{"1.2.3.2", 0xA700}}), kTwo);
  EXPECT_EQ(results[0].outcome, StowOutcome::stored);
  EXPECT_EQ(results[1].outcome, StowOutcome::retryable);
  EXPECT_EQ(results[1].failure_reason, 0xA700);
  EXPECT_NE(results[1].detail.find("0xA700"), std::string::npos) << results[1].detail;
  // 409 with 0xC122 and 0xA900: permanent, reasons kept.
  results = interpret_stow_response(409, "Conflict", "application/dicom+json", json_body({}, {{"1.2.3.1", 0xC122}, {"1.2.3.2", 0xA900}}), kTwo);
  EXPECT_EQ(results[0].outcome, StowOutcome::permanent);
  EXPECT_EQ(results[0].failure_reason, 0xC122);
  EXPECT_EQ(results[1].outcome, StowOutcome::permanent);
  // 200 with a 0xC122 failure for one instance (a lenient server): that one is dead-lettered.
  results = interpret_stow_response(200, "OK", "application/dicom+json", json_body({"1.2.3.1"}, {{"1.2.3.2", 0xC122}}), kTwo);
  EXPECT_EQ(results[0].outcome, StowOutcome::stored);
  EXPECT_EQ(results[1].outcome, StowOutcome::permanent);
  // 202 that does not mention an instance: retried, not assumed stored.
  results = interpret_stow_response(202, "Accepted", "application/dicom+json", json_body({"1.2.3.1"}, {}), kTwo);
  EXPECT_EQ(results[1].outcome, StowOutcome::retryable);
  // 409 without a body: nothing stored, permanent.
  results = interpret_stow_response(409, "Conflict", "", "", kTwo);
  EXPECT_EQ(results[0].outcome, StowOutcome::permanent);
  // 200 with a body that is not JSON: 200 says all stored; the detail says the body was unreadable.
  results = interpret_stow_response(200, "OK", "application/dicom+json", "{not json", kTwo);
  EXPECT_EQ(results[0].outcome, StowOutcome::stored);
  EXPECT_NE(results[0].detail.find("unreadable"), std::string::npos);
}

TEST(StowResponse, XmlBodyIsReadToo) {
  const std::string xml =
      R"(<?xml version="1.0" encoding="UTF-8"?><NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">)"
      R"(<DicomAttribute tag="00081199" vr="SQ"><Item number="1"><DicomAttribute tag="00081155" vr="UI"><Value number="1">1.2.3.1</Value>)"
      R"(</DicomAttribute></Item></DicomAttribute><DicomAttribute tag="00081198" vr="SQ"><Item number="1"><DicomAttribute tag="00081155" vr="UI">)"
      R"(<Value number="1">1.2.3.2</Value></DicomAttribute><DicomAttribute tag="00081197" vr="US"><Value number="1">42752</Value>)"
      R"(</DicomAttribute></Item></DicomAttribute></NativeDicomModel>)";
  const auto results = interpret_stow_response(202, "Accepted", "application/dicom+xml; charset=utf-8", xml, kTwo);
  EXPECT_EQ(results[0].outcome, StowOutcome::stored);
  EXPECT_EQ(results[1].outcome, StowOutcome::retryable);
  EXPECT_EQ(results[1].failure_reason, 0xA700);  // 42752
}

TEST(StowResponse, UrlsLoseTheirCredentialsInLogs) {
  EXPECT_EQ(redacted_url("https://user:secret@pacs:8443/dicom-web?token=abc"), "https://pacs:8443/dicom-web");
}

TEST(MultipartWriter, BodyParsesAsMultipartRelatedWithEveryFileIntact) {
  const auto dir = std::filesystem::temp_directory_path() / ("stow-mp-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::vector<std::string> paths;
  for (int i = 0; i < 3; ++i) {
    paths.push_back((dir / ("f" + std::to_string(i))).string());
    std::ofstream out(paths.back(), std::ios::binary);
    std::string bytes(1000 * (i + 1), '\0');
    for (std::size_t k = 0; k < bytes.size(); ++k) bytes[k] = static_cast<char>((k * 7 + i) % 256);
    bytes += "\r\n--not-the-boundary\r\n";
    out << bytes;
  }
  auto writer = MultipartWriter::open(paths);
  ASSERT_TRUE(writer.has_value()) << writer.error();
  std::ostringstream body;
  ASSERT_TRUE(writer->write(body));
  EXPECT_EQ(static_cast<std::int64_t>(body.str().size()), writer->content_length());
  EXPECT_NE(writer->content_type().find("type=\"application/dicom\""), std::string::npos);
  std::ofstream(dir / "body", std::ios::binary) << body.str();
  std::ofstream(dir / "ct") << writer->content_type();
  // Python's email package splits it back; each part must equal its file.
  const std::string script =
      "import email.parser,email.policy,sys;d=sys.argv[1];ct=open(d+'/ct').read();b=open(d+'/body','rb').read();"
      "m=email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(b'Content-Type: '+ct.encode()+b'\\r\\n\\r\\n'+b);"
      "ps=list(m.iter_parts());assert len(ps)==3,len(ps);"
      "[print(p.get_content_type(), p.get_payload(decode=True)==open(d+'/f'+str(i),'rb').read()) for i,p in enumerate(ps)]";
  const auto checked = testing::run_command(std::string(EVAX_TOOLS_PYTHON) + " -c \"" + script + "\" " + dir.string() + " 2>&1");
  EXPECT_EQ(checked.status, 0) << checked.output;
  EXPECT_EQ(checked.output, "application/dicom True\napplication/dicom True\napplication/dicom True\n");
  EXPECT_FALSE(MultipartWriter::open({(dir / "missing").string()}).has_value());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace evax::dicomweb
