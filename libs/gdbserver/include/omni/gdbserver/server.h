// gdb on a recording: a GDB remote protocol server whose target is the
// recording's index (timeline.h), so that continue and reverse-continue
// find the next or previous breakpoint hit without running anything. It
// answers the packets gdb needs to debug an amd64 Linux program read-only:
// registers (an amd64 target description with fs_base), memory, threads,
// software breakpoints, vCont/s/c and reverse bc/bs (ReverseContinue+,
// ReverseStep+), and `monitor when`. What would change the recording
// (register and memory writes) is refused.
#pragma once

#include <functional>
#include <string>

namespace omni::gdbserver {

struct ServeOptions {
  std::string trace_dir;  // one recorded process's directory
  std::string host = "127.0.0.1";
  uint16_t port = 0;      // 0: a free one
};

// Listens, calls `listening(address)` ("HOST:PORT") once gdb can connect,
// serves one connection until gdb detaches, kills or closes it.
void serve(const ServeOptions& options, const std::function<void(const std::string&)>& listening);

}  // namespace omni::gdbserver
