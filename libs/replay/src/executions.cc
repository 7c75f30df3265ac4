#include "omni/replay/executions.h"

#include <algorithm>

#include "ir.h"
#include "omni/base/error.h"

namespace omni::replay {

namespace {

// A superblock spans at most VEX's limit of guest instructions (100, however
// Valgrind is configured) of at most 15 bytes each: a translation holding
// address A was entered at most this far before it.
constexpr uint64_t kMaxBlockBytes = 100 * 15;

// An exit that raises a signal is a fault: the thread stops at that
// instruction, and the signal's delivery (or the exit) ends the entry then,
// which the next entry's time shows. Any other exit leaves the block for
// code that may not be logged.
bool faults(IRJumpKind jk) {
  switch (jk) {
    case Ijk_SigILL:
    case Ijk_SigTRAP:
    case Ijk_SigSEGV:
    case Ijk_SigBUS:
    case Ijk_SigFPE:
    case Ijk_SigFPE_IntDiv:
    case Ijk_SigFPE_IntOvf:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::vector<uint64_t> translated_instructions(index::IndexReader& reader) {
  std::vector<uint64_t> out;
  reader.for_each_block([&](const index::BlockRow& row) {
    Block block;
    try {
      block = decode_block(row.ir.data(), row.ir.size(), row.addr);
    } catch (const Error&) {
      // Damage that replay reports when it reaches the block; its
      // addresses are only missing here.
      return true;
    }
    for (const Stmt& st : block.stmts)
      if (st.tag == Ist_IMark) out.push_back(st.addr);
    return true;
  });
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Executions::Executions(index::IndexReader& reader, std::vector<uint64_t> pcs)
    : reader_(reader), pcs_(std::move(pcs)), every_entry_(reader.meta_int("every_block_entry").value_or(0) == 1) {
  for (size_t location = 0; location < pcs_.size(); ++location) {
    uint64_t pc = pcs_[location];
    uint64_t lo = pc >= kMaxBlockBytes ? pc - kMaxBlockBytes : 0;
    for (const index::BlockRow& row : reader_.blocks_between(lo, pc)) {
      Block block = decode_block(row.ir.data(), row.ir.size(), row.addr);
      uint32_t ordinal = 0;
      bool exit_before = false, found = false;
      for (const Stmt& st : block.stmts) {
        if (st.tag == Ist_IMark) {
          if (st.addr == pc) {
            found = true;
            break;
          }
          ++ordinal;
        } else if (st.tag == Ist_Exit && ordinal > 0 && !faults(st.jk)) {
          exit_before = true;
        }
      }
      if (!found) continue;
      ++translations_;
      hits_[row.id].push_back({ordinal + 1, exit_before, pc, location});
      index::IndexReader::BlockChunks chunks = reader_.exec_chunks_of(row.id);
      if (chunks.unlogged && (!unknown_from_ || row.time < *unknown_from_)) {
        unknown_from_ = row.time;
        unknown_block_addr_ = row.addr;
      }
      chunks_.insert(chunks_.end(), chunks.chunks.begin(), chunks.chunks.end());
    }
  }
  for (auto& [block, hits] : hits_)
    std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) { return a.ordinal < b.ordinal; });
  std::sort(chunks_.begin(), chunks_.end());
  chunks_.erase(std::unique(chunks_.begin(), chunks_.end()), chunks_.end());
}

void Executions::unknown_error(uint64_t time) const {
  fail("from time {} on, the recording may lack executions of this code: the superblock at {:#x} that holds it, "
       "translated then, writes no memory and makes no call, and the recorder does not log entries into such "
       "blocks in a recording made with `omni record --no-every-block` or before omni's stream version 7; the "
       "answers before time {} are complete",
       time, unknown_block_addr_, time);
}

void Executions::entry_hits(const index::ExecEntry& entry, std::optional<uint64_t> next,
                            std::optional<uint32_t> next_block, std::vector<Execution>& out) {
  auto it = hits_.find(entry.block);
  if (it == hits_.end()) return;
  for (const Hit& hit : it->second) {
    // The block's first instruction is reached by its entry; the others if
    // the time the block had allows the instructions before them and no
    // side exit may have left before.
    if (hit.ordinal > 1) {
      if (next && *next - entry.time < hit.ordinal - 1) break;
      if (!next)
        fail("cannot tell whether thread {} reached {:#x} in the block it entered at time {}: the recording ends "
             "there",
             entry.tid, hit.pc, entry.time);
      if (hit.exit_before) {
        // With every block entry logged, a side exit shows: the next entry
        // (another block's) comes before the hit's instruction ran. Having
        // run it, the thread reached it; having stopped just before it for a
        // boundary (a signal, the exit), it may have been there.
        uint64_t ran = *next - entry.time;
        if (every_entry_ && ran >= hit.ordinal) {
          // reached
        } else if (every_entry_ && next_block && *next_block != index::kExecBoundary) {
          break;
        } else {
          fail("cannot tell whether thread {} reached {:#x} in the block it entered at time {}: a side exit before "
               "it could have left the block {}",
               entry.tid, hit.pc, entry.time,
               every_entry_ ? "just before it, where the thread stopped"
                            : "for code whose entries the recording does not log");
        }
      }
    }
    out.push_back({entry.time + hit.ordinal - 1, entry.tid, hit.pc, hit.location});
  }
}

std::vector<Execution> Executions::chunk_hits(uint32_t chunk, uint64_t from, uint64_t to, std::optional<uint32_t> tid) {
  const auto& rows = reader_.exec_chunks();
  std::vector<index::ExecEntry> entries = reader_.load_execs(chunk);
  std::vector<Execution> all, out;
  for (size_t i = 0; i < entries.size(); ++i) {
    const index::ExecEntry& e = entries[i];
    if (tid && e.tid != *tid) continue;
    if (e.time > to) break;
    if (hits_.find(e.block) == hits_.end()) continue;
    std::optional<uint64_t> next = i + 1 < entries.size() ? std::optional<uint64_t>(entries[i + 1].time)
                                                          : rows[chunk].time_end;
    std::optional<uint32_t> next_block =
        i + 1 < entries.size() ? std::optional<uint32_t>(entries[i + 1].block) : std::nullopt;
    if (next && *next < from) continue;
    all.clear();
    entry_hits(e, next, next_block, all);
    for (const Execution& x : all)
      if (x.time >= from && x.time <= to) out.push_back(x);
  }
  return out;
}

void Executions::forward(uint64_t from, uint64_t to, std::optional<uint32_t> tid,
                         const std::function<bool(const Execution&)>& f) {
  const auto& rows = reader_.exec_chunks();
  for (uint32_t chunk : chunks_) {
    if (chunk >= rows.size()) fail("index is corrupt: exec chunk {} is missing; run `omni index` again", chunk);
    const index::ExecChunkRow& row = rows[chunk];
    if (row.time_first > to) break;
    if (row.time_end && *row.time_end < from) continue;
    if (unknown_from_ && row.time_first >= *unknown_from_) break;
    for (const Execution& x : chunk_hits(chunk, from, to, tid)) {
      if (unknown_from_ && x.time >= *unknown_from_) unknown_error(*unknown_from_);
      if (!f(x)) return;
    }
  }
  if (unknown_from_ && to >= *unknown_from_) unknown_error(*unknown_from_);
}

void Executions::backward(uint64_t from, uint64_t to, std::optional<uint32_t> tid,
                          const std::function<bool(const Execution&)>& f) {
  if (unknown_from_ && to >= *unknown_from_) unknown_error(*unknown_from_);
  const auto& rows = reader_.exec_chunks();
  for (auto it = chunks_.rbegin(); it != chunks_.rend(); ++it) {
    if (*it >= rows.size()) fail("index is corrupt: exec chunk {} is missing; run `omni index` again", *it);
    const index::ExecChunkRow& row = rows[*it];
    if (row.time_end && *row.time_end < from) break;
    if (row.time_first > to) continue;
    std::vector<Execution> hits = chunk_hits(*it, from, to, tid);
    for (auto x = hits.rbegin(); x != hits.rend(); ++x)
      if (!f(*x)) return;
  }
}

std::optional<Execution> Executions::next(uint64_t time, std::optional<uint32_t> tid) {
  std::optional<Execution> out;
  forward(time, UINT64_MAX, tid, [&](const Execution& x) {
    out = x;
    return false;
  });
  return out;
}

std::optional<Execution> Executions::previous(uint64_t time, std::optional<uint32_t> tid) {
  if (time == 0) return std::nullopt;
  std::optional<Execution> out;
  backward(0, time - 1, tid, [&](const Execution& x) {
    out = x;
    return false;
  });
  return out;
}

}  // namespace omni::replay
