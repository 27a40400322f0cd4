// The admin server's request parsing: request lines, heads, framing and targets, each refusal
// with its status and JSON code.
#include <gtest/gtest.h>

#include "http_request_parser.h"

namespace evax::admin {
namespace {

int status_of_line(const std::string& line) {
  const auto parsed = parse_request_line(line);
  return parsed ? 0 : parsed.error().status;
}

TEST(HttpRequestParser, RequestLines) {
  const auto line = parse_request_line("GET /a?b=c HTTP/1.0");
  ASSERT_TRUE(line);
  EXPECT_EQ(line->method, "GET");
  EXPECT_EQ(line->target, "/a?b=c");
  EXPECT_EQ(line->minor_version, 0);
  EXPECT_EQ(status_of_line("GET /"), 400);                  // HTTP/0.9
  EXPECT_EQ(status_of_line("GET / garbage"), 400);
  EXPECT_EQ(status_of_line("GET / HTTP/1.10"), 400);
  EXPECT_EQ(status_of_line("GET / http/1.1"), 400);
  EXPECT_EQ(status_of_line("GET  / HTTP/1.1"), 400);
  EXPECT_EQ(status_of_line("G(T / HTTP/1.1"), 400);
  EXPECT_EQ(status_of_line("GET /\x01 HTTP/1.1"), 400);
  EXPECT_EQ(status_of_line("GET / HTTP/2.0"), 505);
  EXPECT_EQ(status_of_line("GET / HTTP/0.9"), 505);
  EXPECT_EQ(status_of_line(std::string(40, 'G') + " / HTTP/1.1"), 400);
}

TEST(HttpRequestParser, TheScannerRefusesOversizeHeadsWhileTheyGrow) {
  RequestHeadScanner scanner;
  EXPECT_EQ(scanner.scan("GET / HTTP/1.1\r\nHost: x\r\n").value(), std::nullopt);
  EXPECT_EQ(scanner.scan("GET / HTTP/1.1\r\nHost: x\r\n\r\nrest").value(), std::optional<std::size_t>(27));
  RequestHeadScanner long_line;
  EXPECT_EQ(long_line.scan("GET /" + std::string(kMaxRequestLineBytes, 'a')).error().status, 414);
  RequestHeadScanner not_http;
  EXPECT_EQ(not_http.scan(std::string(kMaxRequestLineBytes + 10, 'z')).error().status, 400);
  RequestHeadScanner long_field;
  EXPECT_EQ(long_field.scan("GET / HTTP/1.1\r\nX: " + std::string(kMaxHeaderLineBytes, 'v')).error().status, 431);
  std::string many = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 0; i <= kMaxHeaderFields; ++i) many += "X: v\r\n";
  RequestHeadScanner too_many;
  EXPECT_EQ(too_many.scan(many).error().status, 431);
  RequestHeadScanner bad_line;
  EXPECT_EQ(bad_line.scan("GET / HTTP/7.1\r\n").error().status, 505);  // refused as soon as the line is in
}

std::expected<RequestFraming, ProtocolError> framing_of(const std::string& fields, const std::string& version = "HTTP/1.1") {
  const auto head = parse_request_head("POST /x " + version + "\r\n" + fields + "\r\n");
  if (!head) return std::unexpected(head.error());
  return request_framing(*head, 65536);
}

TEST(HttpRequestParser, Framing) {
  EXPECT_EQ(framing_of("Host: x\r\nContent-Length: 10\r\n")->content_length, 10);
  EXPECT_EQ(framing_of("Host: x\r\nContent-Length: 65536\r\n")->content_length, 65536);
  EXPECT_EQ(framing_of("Host: x\r\nContent-Length: 65537\r\n").error().status, 413);
  EXPECT_EQ(framing_of("Host: x\r\nContent-Length: 99999999999999999999999999\r\n").error().status, 413);
  EXPECT_EQ(framing_of("Host: x\r\nContent-Length: abc\r\n").error().status, 400);
  EXPECT_EQ(framing_of("Host: x\r\nContent-Length: -1\r\n").error().status, 400);
  EXPECT_EQ(framing_of("Host: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n").error().status, 400);
  EXPECT_EQ(framing_of("Host: x\r\nTransfer-Encoding: chunked\r\n").error().status, 411);
  EXPECT_EQ(framing_of("Host: x\r\nTransfer-Encoding: gzip\r\n").error().status, 400);
  EXPECT_EQ(framing_of("Host: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n").error().status, 400);
  EXPECT_EQ(framing_of("").error().status, 400);                         // HTTP/1.1 without Host
  EXPECT_TRUE(framing_of("", "HTTP/1.0"));                                 // 1.0 needs none
  EXPECT_FALSE(framing_of("", "HTTP/1.0")->keep_alive);
  EXPECT_FALSE(framing_of("Host: x\r\nConnection: keep-alive, Close\r\n")->keep_alive);
  EXPECT_EQ(framing_of("Host: x\r\nExpect: something\r\n").error().status, 417);
  EXPECT_EQ(framing_of("Host: x\r\n folded\r\n").error().status, 400);
  EXPECT_EQ(framing_of("Host: x\r\nBad Name: v\r\n").error().status, 400);
  EXPECT_EQ(framing_of("Host: x\r\nX: a\x01z\r\n").error().status, 400);
  EXPECT_EQ(framing_of("Host: x\r\nAuthorization: a\r\nAuthorization: b\r\n").error().status, 400);
}

TEST(HttpRequestParser, Targets) {
  const auto target = parse_request_target("/api/v1/jobs?limit=1&since=2026-11-28T12:00:00%2B02:00&&x");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->path, "/api/v1/jobs");
  using Query = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(target->query, (Query{{"limit", "1"}, {"since", "2026-11-28T12:00:00+02:00"}, {"x", ""}}));
  EXPECT_EQ(parse_request_target("http://host:1/healthz?a=b")->path, "/healthz");
  EXPECT_EQ(parse_request_target("/a%2Fb")->path, "/a/b");
  for (const char* bad : {"*", "healthz", "/a%zz", "/a%0", "/a%00", "/a#f", "http://host?x"})
    EXPECT_FALSE(parse_request_target(bad)) << bad;
}

}  // namespace
}  // namespace evax::admin
