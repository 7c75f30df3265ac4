// gdb on a recording: a GDB remote protocol server whose target is the
// recording's index (timeline.h), so that continue and reverse-continue
// find the next or previous breakpoint hit without running anything. It
// answers the packets gdb needs to debug an amd64 Linux program read-only:
// registers (an amd64 target description with fs_base), memory, threads,
// software breakpoints, vCont/s/c and reverse bc/bs (ReverseContinue+,
// ReverseStep+), and `monitor when`. What would change the recording
// (register and memory writes) is refused.
#pragma once

#include <cstdint>
#include <string>

#include "omni/query/session.h"

namespace omni::gdbserver {

// A TCP socket listening for gdb. Owns the descriptor.
class Listener {
 public:
  // HOST: an IPv4 address; PORT 0: a free one.
  Listener(const std::string& host, uint16_t port);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  const std::string& address() const { return address_; }  // "HOST:PORT"
  // The next connection (blocks); -1 once close() was called.
  int accept_one();
  // Makes a blocked accept_one() return -1 (from another thread).
  void close();

 private:
  int fd_;
  std::string address_;
};

// Serves one gdb connection on `listener` about the recorded process of
// `session`, starting at moment `start` (Session::moment's), until gdb
// detaches, kills or closes it. Returns at once if the listener is closed
// before gdb connects. Uses `session` alone while it runs.
void serve(Listener& listener, query::Session& session, uint64_t start);

}  // namespace omni::gdbserver
