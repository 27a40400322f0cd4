// The multipart reader: parts found whatever the pieces the body arrives in, and each way a
// body can break the grammar refused with a reason.
#include "evax/dicomweb/multipart_reader.h"

#include <gtest/gtest.h>

#include <vector>

namespace evax::dicomweb {
namespace {

struct Recorder final : PartSink {
  std::vector<std::map<std::string, std::string>> heads;
  std::vector<std::string> bodies;
  int ended = 0;
  std::size_t largest_piece = 0;
  std::expected<void, std::string> begin_part(const std::map<std::string, std::string>& headers) override {
    heads.push_back(headers);
    bodies.emplace_back();
    return {};
  }
  std::expected<void, std::string> part_bytes(std::string_view bytes) override {
    bodies.back() += bytes;
    largest_piece = std::max(largest_piece, bytes.size());
    return {};
  }
  std::expected<void, std::string> end_part() override {
    ++ended;
    return {};
  }
};

// Two parts; the second holds CRLFs, dashes and most of the boundary, as pixel data may.
const std::string kBoundary = "evax-b0undary";
const std::string kFirst = std::string("DICM\0\x01\x02", 7) + "first";
const std::string kSecond = "a\r\n--evax-b0undar\r\n-\r\n--evax-b0undarX tail";
const std::string kBody = "preamble to ignore\r\n--" + kBoundary + "\r\nContent-Type: application/dicom\r\n\r\n" + kFirst + "\r\n--" + kBoundary +
                          "  \r\nContent-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\ncontent-id: <x>\r\n\r\n" + kSecond +
                          "\r\n--" + kBoundary + "--\r\nepilogue to ignore";

TEST(MultipartReader, FindsEveryPartWhateverThePiecesTheBodyArrivesIn) {
  for (std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, std::size_t{16}, kBody.size()}) {
    Recorder sink;
    MultipartReader reader(kBoundary, sink);
    for (std::size_t at = 0; at < kBody.size(); at += piece) ASSERT_TRUE(reader.feed(std::string_view(kBody).substr(at, piece))) << piece;
    ASSERT_TRUE(reader.finish()) << piece;
    ASSERT_EQ(sink.bodies.size(), 2u) << piece;
    EXPECT_EQ(sink.bodies[0], kFirst) << piece;
    EXPECT_EQ(sink.bodies[1], kSecond) << piece;
    EXPECT_EQ(sink.ended, 2);
    EXPECT_EQ(reader.parts(), 2);
    EXPECT_EQ(sink.heads[0].at("content-type"), "application/dicom");
    EXPECT_EQ(sink.heads[1].at("content-id"), "<x>");  // names lower-cased
  }
}

TEST(MultipartReader, ABodyStartingWithItsDelimiterAndAPartWithoutHeadersAreFine) {
  Recorder sink;
  MultipartReader reader("b", sink);
  ASSERT_TRUE(reader.feed("--b\r\n\r\nxyz\r\n--b--"));
  ASSERT_TRUE(reader.finish());
  ASSERT_EQ(sink.bodies.size(), 1u);
  EXPECT_EQ(sink.bodies[0], "xyz");
  EXPECT_TRUE(sink.heads[0].empty());
}

TEST(MultipartReader, BuffersNoMoreThanAPieceAndADelimiter) {
  Recorder sink;
  MultipartReader reader(kBoundary, sink);
  ASSERT_TRUE(reader.feed("--" + kBoundary + "\r\n\r\n"));
  const std::string piece(65536, 'x');
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(reader.feed(piece));  // a 4 MiB part
  ASSERT_TRUE(reader.feed("\r\n--" + kBoundary + "--"));
  ASSERT_TRUE(reader.finish());
  EXPECT_EQ(sink.bodies[0].size(), 64u * 65536u);
  EXPECT_LE(sink.largest_piece, piece.size() + kBoundary.size() + 4);
}

TEST(MultipartReader, EachBrokenBodyIsRefusedWithAReason) {
  const std::string d = "--" + kBoundary;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"no delimiter at all", "just some bytes"},
      {"other boundary", "--other\r\n\r\nx\r\n--other--"},
      {"no closing delimiter", d + "\r\n\r\nxyz"},
      {"cut inside a part's head", d + "\r\nContent-Type: appl"},
      {"header without a colon", d + "\r\nContent-Type application/dicom\r\n\r\nx\r\n" + d + "--"},
      {"folded header", d + "\r\nContent-Type: application/dicom\r\n  continued\r\n\r\nx\r\n" + d + "--"},
      {"delimiter run on", d + "xyz\r\n\r\nx\r\n" + d + "--"},
      {"head over the limit", d + "\r\nX-Long: " + std::string(kMaxPartHeadBytes + 10, 'a') + "\r\n\r\nx\r\n" + d + "--"},
      {"preamble over the limit", std::string(kMaxPreambleBytes + 100, 'p') + "\r\n" + d + "\r\n\r\nx\r\n" + d + "--"},
  };
  for (const auto& [name, body] : cases) {
    Recorder sink;
    MultipartReader reader(kBoundary, sink);
    auto fed = reader.feed(body);
    if (fed) fed = reader.finish();
    ASSERT_FALSE(fed) << name;
    EXPECT_FALSE(fed.error().empty()) << name;
    EXPECT_FALSE(reader.feed("more")) << name << ": an error stays";
  }
}

TEST(MultipartReader, ASinkErrorStopsTheReader) {
  struct Refusing final : PartSink {
    std::expected<void, std::string> begin_part(const std::map<std::string, std::string>&) override { return std::unexpected("no thanks"); }
    std::expected<void, std::string> part_bytes(std::string_view) override { return {}; }
    std::expected<void, std::string> end_part() override { return {}; }
  } sink;
  MultipartReader reader(kBoundary, sink);
  const auto fed = reader.feed(kBody);
  ASSERT_FALSE(fed);
  EXPECT_EQ(fed.error(), "no thanks");
}

TEST(MediaType, ParsesTypeAndParametersQuotedOrNot) {
  const auto m = parse_media_type(R"(Multipart/Related; type="application/dicom"; boundary=abc-123 ;  start="<a;b>")");
  ASSERT_TRUE(m) << m.error();
  EXPECT_EQ(m->type, "multipart/related");
  EXPECT_EQ(m->params.at("type"), "application/dicom");
  EXPECT_EQ(m->params.at("boundary"), "abc-123");
  EXPECT_EQ(m->params.at("start"), "<a;b>");
  for (const char* bad : {"", "multipart", "multipart/", "a/b; x", "a/b; x=\"open", "a/b; =y", "a b/c"})
    EXPECT_FALSE(parse_media_type(bad)) << bad;
}

}  // namespace
}  // namespace evax::dicomweb
