// The GDB remote serial protocol's framing on one connected socket:
// `$payload#cs` packets, '+'/'-' acknowledgements until QStartNoAckMode,
// '}' escapes and the interrupt byte (0x03). What the packets mean is
// server.h's. Owns the descriptor; not thread-safe.
#pragma once

#include <optional>
#include <string>

namespace omni::gdbserver {

class Connection {
 public:
  explicit Connection(int fd);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The next packet's payload, unescaped, its checksum checked (a bad one
  // is answered '-' and read again); "\x03" for an interrupt; nullopt when
  // gdb closed the connection.
  std::optional<std::string> read_packet();
  // Sends one packet (escaping what must be) and, while acknowledgements
  // are on, waits for gdb's '+' (resending on '-').
  void send(const std::string& payload);
  // After QStartNoAckMode's OK: no more '+'/'-'.
  void stop_acks() { acks_ = false; }

 private:
  int read_byte();  // -1 at end of stream
  void write_all(const std::string& bytes);

  int fd_;
  bool acks_ = true;
  std::string in_;  // bytes read but not yet consumed
  size_t in_at_ = 0;
};

}  // namespace omni::gdbserver
