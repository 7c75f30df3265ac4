#include "omni/gdbserver/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "omni/base/error.h"

namespace omni::gdbserver {

namespace {

uint8_t checksum(const std::string& s) {
  uint8_t sum = 0;
  for (char c : s) sum = uint8_t(sum + uint8_t(c));
  return sum;
}

int hex_digit(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Connection::Connection(int fd) : fd_(fd) {}

Connection::~Connection() {
  if (fd_ >= 0) close(fd_);
}

int Connection::read_byte() {
  if (in_at_ == in_.size()) {
    char buf[4096];
    ssize_t n;
    do n = ::recv(fd_, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) fail_errno("reading from gdb");
    if (n == 0) return -1;
    in_.assign(buf, size_t(n));
    in_at_ = 0;
  }
  return uint8_t(in_[in_at_++]);
}

void Connection::write_all(const std::string& bytes) {
  size_t at = 0;
  while (at < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("writing to gdb");
    at += size_t(n);
  }
}

std::optional<std::string> Connection::read_packet() {
  for (;;) {
    int c = read_byte();
    if (c < 0) return std::nullopt;
    if (c == 0x03) return std::string("\x03");
    if (c != '$') continue;  // acks, noise between packets
    std::string payload;
    // A packet longer than any gdb sends is not one (bounded memory).
    constexpr size_t kMaxPacket = 1 << 20;
    for (;;) {
      c = read_byte();
      if (c < 0) return std::nullopt;
      if (c == '#') break;
      if (payload.size() >= kMaxPacket) fail("gdb sent a packet longer than {} bytes", kMaxPacket);
      payload += char(c);
    }
    int hi = hex_digit(read_byte()), lo = hex_digit(read_byte());
    std::string unescaped;
    unescaped.reserve(payload.size());
    for (size_t i = 0; i < payload.size(); ++i) {
      if (payload[i] == '}' && i + 1 < payload.size()) unescaped += char(payload[++i] ^ 0x20);
      else unescaped += payload[i];
    }
    if (acks_) {
      if (hi < 0 || lo < 0 || uint8_t(hi << 4 | lo) != checksum(payload)) {
        write_all("-");
        continue;
      }
      write_all("+");
    }
    return unescaped;
  }
}

void Connection::send(const std::string& payload) {
  std::string escaped;
  escaped.reserve(payload.size() + 4);
  for (char c : payload) {
    if (c == '$' || c == '#' || c == '}' || c == '*') {
      escaped += '}';
      escaped += char(c ^ 0x20);
    } else {
      escaped += c;
    }
  }
  std::string packet = fmt::format("${}#{:02x}", escaped, checksum(escaped));
  for (int tries = 0;; ++tries) {
    write_all(packet);
    if (!acks_) return;
    int c;
    do c = read_byte();
    while (c >= 0 && c != '+' && c != '-');
    if (c < 0) fail("gdb closed the connection");
    if (c == '+') return;
    if (tries > 10) fail("gdb refused a packet 10 times");
  }
}

}  // namespace omni::gdbserver
