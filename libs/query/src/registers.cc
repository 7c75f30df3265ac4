// --registers: a thread's registers after an instruction, replayed.
#include "omni/query/query.h"

namespace omni::query {

void registers(Session& session, const RegistersQuery& query, Sink<RegistersRecord>& sink) {
  uint64_t time = session.moment(query.at);
  RegistersRecord record{session.replayer().registers_at(time, query.tid), std::nullopt};
  record.where = session.symbols().locate(record.regs.rip(), time);
  sink.begin();
  sink.put(record);
}

}  // namespace omni::query
