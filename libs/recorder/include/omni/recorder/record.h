// Recording: runs a program under Valgrind with the omni tool, which fills
// shared-memory slots with raw events (trace/stream.h) and names each full
// one in an authenticated message on its connection to this process's
// Unix-domain socket, DIR/control.sock (tool/omni_channel.h); this process
// compresses the slots as they come (one compressor per core) into
// trace.omni and hands them back on the same connection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace omni::recorder {

// The tool's own default (OMNI_DEFAULT_SNAPSHOT_INTERVAL; record.cc checks
// they agree).
inline constexpr uint64_t kDefaultSnapshotInterval = 8192;

struct RecordOptions {
  std::vector<std::string> command;  // program and its arguments
  std::string output_dir;            // empty: a new directory under recordings_root()
  std::string valgrind_lib;          // empty: <dir of this executable>/valgrind
  int zstd_level = -1;
  // A register snapshot at least every N instructions: --registers replays
  // at most this many (smaller: faster queries, larger recordings).
  uint64_t snapshot_interval = kDefaultSnapshotInterval;
  bool quiet = false;                // no "omni: recording to ..." line on stderr
  // Record every forked child as a process of its own (DIR/processes/N);
  // false: they run instrumented but unrecorded (--no-children).
  bool follow_forks = true;
  // Record an exec'd program as a new image of its process (a process of
  // its own in DIR/processes/N); false: it runs natively (--no-exec).
  bool follow_exec = true;
  // Programs that run natively, unrecorded, when exec'd: a name (the exec'd
  // path's last component) or a pattern with * and ? matched against the
  // whole path (--skip).
  std::vector<std::string> skip;
  // A BLOCK word for every block entry, its time a delta from the last
  // (OMNI_STREAM_FLAG_EVERY_BLOCK): --executions answers for any code, and
  // the trace is smaller than without (--no-every-block: 0.63x on gzip).
  bool every_block = true;
};

struct RecordResult {
  std::string trace_dir;
  int exit_status;  // shell convention: the exit code, or 128 + signal
  uint64_t raw_bytes;
  uint64_t file_bytes;
  int signal = 0;   // the signal the program died of, 0 when it exited
  // Non-empty when other processes connected to the recorder's socket: they
  // were refused, and the recording is whole; says how many and their pids.
  std::string refused;
  size_t forked = 0;  // processes recorded besides the root
};

// Runs the recording to its end. The program's stdin, stdout and stderr are
// this process's. SIGINT/SIGQUIT from the terminal reach the program (same
// process group) and are not passed on, so the trace is always finished; sent
// to this process alone by another (kill), they are passed on, as are
// SIGTERM/SIGHUP. Valgrind and the program are killed if this process dies.
// Throws omni::Error when the recorder's channel fails its checks (something
// else, the program, wrote or read it): the recording is then cut there. The
// socket is removed when the recording ends; a connection to it from any
// process but Valgrind's (SO_PEERCRED) is closed unread.
RecordResult record(const RecordOptions& options);

}  // namespace omni::recorder
