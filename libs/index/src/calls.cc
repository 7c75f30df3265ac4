#include "omni/index/calls.h"
#include "omni/index/chunk.h"

#include "omni/base/error.h"
#include "varint.h"

namespace omni::index {

namespace {

uint64_t zigzag(int64_t value) { return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63); }
int64_t unzigzag(uint64_t value) { return static_cast<int64_t>(value >> 1) ^ -static_cast<int64_t>(value & 1); }

}  // namespace

// Per row: time delta, end - time + 1 (0: none), tid, depth, pc / target /
// rsp as zigzag deltas from the previous row, id - parent + 1 (0: none),
// kind | ended << 2 | signal << 4.
std::string encode_calls(const std::vector<CallRow>& rows) {
  std::string out;
  put_varint(out, rows.size());
  uint64_t time = 0, pc = 0, target = 0, rsp = 0;
  for (const CallRow& r : rows) {
    put_varint(out, r.time - time);
    put_varint(out, r.end_time ? r.end_time - r.time + 1 : 0);
    put_varint(out, r.tid);
    put_varint(out, r.depth);
    put_varint(out, zigzag(static_cast<int64_t>(r.pc - pc)));
    put_varint(out, zigzag(static_cast<int64_t>(r.target - target)));
    put_varint(out, zigzag(static_cast<int64_t>(r.rsp - rsp)));
    put_varint(out, r.parent ? r.id - (r.parent - 1) : 0);
    put_varint(out, static_cast<uint64_t>(r.kind) | static_cast<uint64_t>(r.ended) << 2 | uint64_t{r.signal} << 4);
    time = r.time;
    pc = r.pc;
    target = r.target;
    rsp = r.rsp;
  }
  return out;
}

std::vector<CallRow> decode_calls(const void* blob, size_t size, uint64_t first_id) {
  std::vector<uint8_t> raw;
  decompress_frame(blob, size, "call chunk", raw);
  VarintReader in{raw.data(), raw.data() + raw.size(), "call chunk"};
  uint64_t count = in.varint();
  if (count > kCallsPerChunk) fail("index call chunk is corrupt (count); run `omni index` again");
  std::vector<CallRow> rows(count);
  uint64_t time = 0, pc = 0, target = 0, rsp = 0;
  for (uint64_t i = 0; i < count; ++i) {
    CallRow& r = rows[i];
    r.id = first_id + i;
    time += in.varint();
    r.time = time;
    uint64_t end = in.varint();
    r.end_time = end ? time + end - 1 : 0;
    r.tid = static_cast<uint32_t>(in.varint());
    r.depth = static_cast<uint32_t>(in.varint());
    pc += static_cast<uint64_t>(unzigzag(in.varint()));
    target += static_cast<uint64_t>(unzigzag(in.varint()));
    rsp += static_cast<uint64_t>(unzigzag(in.varint()));
    r.pc = pc;
    r.target = target;
    r.rsp = rsp;
    uint64_t back = in.varint();
    r.parent = back ? r.id - back + 1 : 0;
    uint64_t flags = in.varint();
    if ((flags & 3) > static_cast<uint64_t>(CallKind::Signal))
      fail("index call chunk is corrupt (kind); run `omni index` again");
    r.kind = static_cast<CallKind>(flags & 3);
    r.ended = static_cast<CallEnd>((flags >> 2) & 3);
    r.signal = static_cast<uint32_t>(flags >> 4);
  }
  return rows;
}

}  // namespace omni::index
