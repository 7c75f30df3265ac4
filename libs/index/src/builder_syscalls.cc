// What the program asked of the kernel and wrote to its descriptors:
// syscalls (one row per call, in stream order; a call recorded without its
// result gets it later, LATE_RESULT) and output.
#include "builder_tables.h"
#include "omni/base/error.h"

namespace omni::index {

SyscallsWriter::SyscallsWriter(Database& db)
    : db_(db),
      insert_syscall_(db,
                      "INSERT INTO syscalls (time,tid,nr,a0,a1,a2,a3,a4,a5,result,gseq_enter,gseq_exit) VALUES "
                      "(?,?,?,?,?,?,?,?,?,?,?,?)"),
      update_syscall_result_(db, "UPDATE syscalls SET result = ?, gseq_exit = ? WHERE seq = ?"),
      insert_output_(db, "INSERT INTO output (time,tid,fd,data,gseq) VALUES (?,?,?,?,?)") {}

void SyscallsWriter::syscall(const trace::SyscallEvent& event) {
  auto open = unfinished_syscalls_.find(event.tid);
  if (event.late_result) {
    // The result of the thread's open call (a failed execve): without one
    // it is damage, not a call of its own.
    if (open == unfinished_syscalls_.end() || open->second.nr != event.nr)
      fail("trace file is corrupt: a late syscall result (nr {}) of thread {} at time {} has no call "
           "waiting for it",
           event.nr, event.tid, event.time);
    update_syscall_result_.bind(1, event.result);
    if (event.seq_exit) update_syscall_result_.bind(2, event.seq_exit);
    else update_syscall_result_.bind_null(2);
    update_syscall_result_.bind(3, open->second.row).run();
    unfinished_syscalls_.erase(open);
    return;
  }
  insert_syscall_.bind(1, event.time).bind(2, event.tid).bind(3, event.nr);
  for (int i = 0; i < 6; ++i) insert_syscall_.bind(4 + i, static_cast<int64_t>(event.args[i]));
  if (event.has_result) insert_syscall_.bind(10, event.result);
  else insert_syscall_.bind_null(10);
  if (event.seq_enter) insert_syscall_.bind(11, event.seq_enter);
  else insert_syscall_.bind_null(11);
  if (event.seq_exit) insert_syscall_.bind(12, event.seq_exit);
  else insert_syscall_.bind_null(12);
  insert_syscall_.run();
  last_gseq_ = event.seq_enter;
  if (event.has_result) unfinished_syscalls_.erase(event.tid);
  else unfinished_syscalls_[event.tid] = {sqlite3_last_insert_rowid(db_.handle()), event.nr};
}

void SyscallsWriter::output(uint64_t time, uint32_t tid, uint32_t fd, const uint8_t* data, size_t size) {
  insert_output_.bind(1, time).bind(2, tid).bind(3, fd).bind_blob(4, data, size);
  if (last_gseq_) insert_output_.bind(5, last_gseq_);
  else insert_output_.bind_null(5);
  insert_output_.run();
}

}  // namespace omni::index
