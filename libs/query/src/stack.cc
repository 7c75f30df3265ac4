// --stack: a thread's call stack after an instruction.
#include "omni/query/query.h"

namespace omni::query {

void stack(Session& session, const StackQuery& query, Sink<StackRecord>& sink) {
  uint64_t time = session.moment(query.at);
  uint32_t tid = session.thread(query.tid, time);
  StackRecord record{time, tid, session.describe(session.stack(time, tid), time)};
  sink.begin();
  sink.put(record);
}

}  // namespace omni::query
