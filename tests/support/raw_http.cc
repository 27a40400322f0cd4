#include "raw_http.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>

namespace evax::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Splits the first answer in `answer.bytes`; true once it is whole (by Content-Length).
bool split_first_answer(RawAnswer& answer) {
  const std::size_t head_end = answer.bytes.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  const std::size_t line_end = answer.bytes.find("\r\n");
  answer.status_line = answer.bytes.substr(0, line_end);
  const std::size_t space = answer.status_line.find(' ');
  answer.status = space == std::string::npos ? 0 : std::atoi(answer.status_line.c_str() + space + 1);
  answer.headers.clear();
  for (std::size_t at = line_end + 2; at < head_end;) {
    const std::size_t end = answer.bytes.find("\r\n", at);
    const std::string line = answer.bytes.substr(at, end - at);
    const std::size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    answer.headers[name] = value;
    at = end + 2;
  }
  const std::string rest = answer.bytes.substr(head_end + 4);
  if (answer.headers.count("content-length")) {
    const std::size_t length = std::stoul(answer.headers["content-length"]);
    answer.body = rest.substr(0, length);
    return rest.size() >= length;
  }
  answer.body = rest;
  return false;
}

}  // namespace

int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

RawAnswer raw_http(int port, const std::string& request, const RawOptions& options) {
  RawAnswer answer;
  const auto start = Clock::now();
  const int fd = connect_loopback(port);
  if (fd < 0) return answer;
  answer.connected = true;
  for (std::size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early (e.g. 413 before the body)
    sent += static_cast<std::size_t>(n);
  }
  if (options.shut_write) ::shutdown(fd, SHUT_WR);
  const auto deadline = start + options.deadline;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char chunk[16384];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      answer.closed = true;
      break;
    }
    answer.bytes.append(chunk, static_cast<std::size_t>(n));
    if (split_first_answer(answer) && options.stop_after_first_answer) break;
  }
  split_first_answer(answer);
  answer.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  ::close(fd);
  return answer;
}

}  // namespace evax::testing
