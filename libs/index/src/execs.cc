#include "omni/index/execs.h"

#include "omni/base/error.h"
#include "omni/index/chunk.h"
#include "varint.h"

namespace omni::index {

// varint count, three varint column lengths, then the columns: time deltas
// (the first from time_first), block ids, (tid, run length) pairs. Written
// through raw pointers into buffers sized for the longest varints: this
// runs on the builder's thread for every block entry (2.2x10^8 on 10^9
// instructions of gzip), where appends to strings took a quarter of it.
std::string encode_execs(const std::vector<ExecEntry>& entries) {
  thread_local std::vector<uint8_t> times, blocks, tids;
  size_t most = entries.size() * 10 + 20;
  for (auto* column : {&times, &blocks, &tids})
    if (column->size() < most) column->resize(most);
  uint8_t *t = times.data(), *b = blocks.data(), *r = tids.data();
  uint64_t time = entries.empty() ? 0 : entries.front().time;
  uint32_t tid = 0, run = 0;
  for (const ExecEntry& e : entries) {
    t = put_varint_at(t, e.time - time);
    time = e.time;
    b = put_varint_at(b, e.block);
    if (run && e.tid == tid) {
      ++run;
    } else {
      if (run) {
        r = put_varint_at(r, tid);
        r = put_varint_at(r, run);
      }
      tid = e.tid;
      run = 1;
    }
  }
  if (run) {
    r = put_varint_at(r, tid);
    r = put_varint_at(r, run);
  }
  size_t lengths[3] = {static_cast<size_t>(t - times.data()), static_cast<size_t>(b - blocks.data()),
                       static_cast<size_t>(r - tids.data())};
  std::string out;
  put_varint(out, entries.size());
  for (size_t length : lengths) put_varint(out, length);
  out.reserve(out.size() + lengths[0] + lengths[1] + lengths[2]);
  out.append(reinterpret_cast<const char*>(times.data()), lengths[0]);
  out.append(reinterpret_cast<const char*>(blocks.data()), lengths[1]);
  out.append(reinterpret_cast<const char*>(tids.data()), lengths[2]);
  return out;
}

std::vector<ExecEntry> decode_execs(const void* blob, size_t size, uint64_t time_first) {
  std::vector<uint8_t> raw;
  decompress_frame(blob, size, "exec chunk", raw, size_t{64} << 20);
  auto corrupt = [](const char* what) -> void {
    fail("index exec chunk is corrupt ({}); run `omni index` again", what);
  };
  VarintReader head{raw.data(), raw.data() + raw.size(), "exec chunk"};
  uint64_t count = head.varint();
  if (count > kExecsPerChunk) corrupt("count");
  uint64_t lengths[3];
  uint64_t total = 0;
  for (uint64_t& length : lengths) {
    length = head.varint();
    total += length;
    if (length > raw.size()) corrupt("column length");
  }
  if (total != static_cast<uint64_t>(head.end - head.p)) corrupt("column lengths");
  const uint8_t* p = head.p;
  VarintReader times{p, p + lengths[0], "exec chunk times"};
  VarintReader blocks{p + lengths[0], p + lengths[0] + lengths[1], "exec chunk blocks"};
  VarintReader tids{p + lengths[0] + lengths[1], head.end, "exec chunk threads"};
  std::vector<ExecEntry> out(count);
  uint64_t time = time_first;
  uint64_t tid = 0, run = 0;
  for (ExecEntry& e : out) {
    time += times.varint();
    e.time = time;
    uint64_t block = blocks.varint();
    if (block > UINT32_MAX) corrupt("block id");
    e.block = static_cast<uint32_t>(block);
    if (run == 0) {
      tid = tids.varint();
      run = tids.varint();
      if (run == 0 || tid == 0 || tid > UINT32_MAX) corrupt("thread run");
    }
    e.tid = static_cast<uint32_t>(tid);
    --run;
  }
  if (run != 0 || times.p != times.end || blocks.p != blocks.end || tids.p != tids.end) corrupt("trailing bytes");
  return out;
}

}  // namespace omni::index
