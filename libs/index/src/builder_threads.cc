// Threads: threads (one row per recorder thread id, written at finish; the
// main thread, 1, exists from time 0) and thread_runs (each time a thread was
// scheduled, in stream order).
#include "builder_tables.h"
#include "integrity.h"

namespace omni::index {

ThreadsWriter::ThreadsWriter(Database& db) : db_(db), insert_run_(db, "INSERT INTO thread_runs VALUES (?,?,?)") {
  threads_[1].time_created = 0;
}

void ThreadsWriter::create(uint64_t time, uint32_t parent, uint32_t child) {
  Thread& thread = threads_[child];
  thread.parent = parent;
  thread.time_created = time;
}

void ThreadsWriter::run(uint64_t time, uint32_t tid, uint32_t lwp) {
  Thread& thread = threads_[tid];
  if (!thread.lwp) thread.lwp = lwp;
  insert_run_.bind(1, time).bind(2, tid)
      .bind(3, RowCheck().integer(static_cast<int64_t>(time)).integer(tid).value()).run();
}

void ThreadsWriter::exit(uint64_t time, uint32_t tid) { threads_[tid].time_exited = time; }

void ThreadsWriter::finish() {
  Statement thread(db_, "INSERT INTO threads VALUES (?,?,?,?,?)");
  for (const auto& [tid, t] : threads_) {
    thread.bind(1, tid);
    if (t.lwp) thread.bind(2, *t.lwp); else thread.bind_null(2);
    if (t.parent) thread.bind(3, *t.parent); else thread.bind_null(3);
    thread.bind(4, t.time_created);
    if (t.time_exited) thread.bind(5, *t.time_exited); else thread.bind_null(5);
    thread.run();
  }
}

}  // namespace omni::index
