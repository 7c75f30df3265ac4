// Where recordings live, rr-style: $XDG_DATA_HOME/omni (or ~/.local/share/omni),
// one directory per recording, and a `latest-trace` link to the newest.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace omni {

// The directory holding recordings; created (0700) when `create` is set.
std::string recordings_root(bool create);

// Resolves a user-given trace directory, or the latest recording when empty.
// Throws Error if it does not exist or holds no recording.
std::string resolve_trace_dir(const std::string& given);

// The directory that holds the executable running now (/proc/self/exe).
std::string self_exe_dir();

// Creates `path` with mode 0700; parents must exist. Throws on failure, also
// when it already exists and is not an empty directory.
void make_private_dir(const std::string& path);

// Name of the trace container and of the index inside a trace directory.
inline constexpr const char* kTraceFile = "trace.omni";
inline constexpr const char* kIndexFile = "index.db";

// A recording of a process tree: the root process is the trace directory
// itself (process 1); every other recorded process has a trace directory of
// its own, <TRACE_DIR>/processes/<N>, N counting from 2 in the order the
// processes started (docs/design.md, "Process trees").
inline constexpr const char* kProcessesDir = "processes";
struct ProcessDir {
  uint32_t process;  // 1: the root
  std::string dir;
};
// The recording's processes in order, the root first; a name under
// processes/ that is not a number holding a trace file is not one.
std::vector<ProcessDir> process_dirs(const std::string& trace_dir);
// The recording that holds the forked or exec'd process whose trace
// directory is `dir` (<root>/processes/N): <root>; `dir` itself when it is
// not under a processes directory.
std::string recording_root(const std::string& dir);

}  // namespace omni
