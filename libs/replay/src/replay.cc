#include "omni/replay/replay.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <cstddef>
#include <cstring>
#include <map>
#include <unordered_map>

#include "ir.h"
#include "omni/base/error.h"
#include "omni/replay/memory.h"
#include "omni/replay/ops.h"
extern "C" {
#include "libvex_guest_amd64.h"
}

namespace omni::replay {

const char* const kGprNames[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                   "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

size_t gpr_offset(int index) { return offsetof(VexGuestAMD64State, guest_RAX) + 8 * static_cast<size_t>(index); }
size_t xmm_offset(int index) { return offsetof(VexGuestAMD64State, guest_YMM0) + 32 * static_cast<size_t>(index); }
size_t fs_base_offset() { return offsetof(VexGuestAMD64State, guest_FS_CONST); }

std::optional<uint64_t> dwarf_register(const Registers& regs, int regno) {
  // DWARF numbers the first eight rax rdx rcx rbx rsi rdi rbp rsp, then r8-r15.
  static constexpr Gpr kDwarfGpr[8] = {Gpr::Rax, Gpr::Rdx, Gpr::Rcx, Gpr::Rbx, Gpr::Rsi, Gpr::Rdi, Gpr::Rbp, Gpr::Rsp};
  if (regno >= 0 && regno < 8) return regs.u64(gpr_offset(kDwarfGpr[regno]));
  if (regno >= 8 && regno < 16) return regs.u64(gpr_offset(regno));
  if (regno == 16) return regs.rip();
  if (regno >= 17 && regno < 33) return regs.u64(xmm_offset(regno - 17));
  return std::nullopt;
}

uint64_t Registers::u64(size_t offset) const {
  uint64_t v = 0;
  if (offset + 8 <= state.size()) std::memcpy(&v, state.data() + offset, 8);
  return v;
}
uint64_t Registers::rip() const { return u64(offsetof(VexGuestAMD64State, guest_RIP)); }
uint64_t Registers::rsp() const { return u64(offsetof(VexGuestAMD64State, guest_RSP)); }

uint64_t Registers::rflags() const {
  uint64_t thunk[4] = {u64(offsetof(VexGuestAMD64State, guest_CC_OP)),
                       u64(offsetof(VexGuestAMD64State, guest_CC_DEP1)),
                       u64(offsetof(VexGuestAMD64State, guest_CC_DEP2)),
                       u64(offsetof(VexGuestAMD64State, guest_CC_NDEP))};
  uint64_t flags = eval_ccall("amd64g_calculate_rflags_all", thunk, 4);
  if (u64(offsetof(VexGuestAMD64State, guest_DFLAG)) == ~uint64_t{0}) flags |= 1u << 10;
  if (u64(offsetof(VexGuestAMD64State, guest_IDFLAG)) & 1) flags |= 1u << 21;
  if (u64(offsetof(VexGuestAMD64State, guest_ACFLAG)) & 1) flags |= 1u << 18;
  return flags | 2;  // bit 1 always reads as one
}

namespace {

constexpr uint64_t kPage = 4096;
constexpr size_t kStateSize = sizeof(VexGuestAMD64State);

bool plain_jump(IRJumpKind jk) { return jk == Ijk_Boring || jk == Ijk_Call || jk == Ijk_Ret; }

// Memory as replay sees it: bytes fetched from the index when first loaded,
// then changed by the replayed stores. Within one stretch of a thread nothing
// else writes memory (Valgrind runs one thread at a time; kernel writes come
// at syscalls, which end a stretch), so a byte not yet touched is the same at
// any time of the stretch. It is fetched as of the instruction before the
// current one: the index already holds the current instruction's own stores,
// which a load earlier in that instruction must not see. Bytes a helper wrote
// are fetched again, including the current instruction (the helper's bytes).
// Only the bytes loaded are fetched: a whole page can need hundreds of old
// chunks (a hash table's entries were each last written at another time).
class Overlay {
 public:
  Overlay(MemoryReader& reader, const uint64_t& now) : reader_(reader), now_(now) {}

  void read(uint64_t addr, void* out, size_t n) {
    auto* dst = static_cast<uint8_t*>(out);
    for (size_t i = 0; i < n; ++i) {
      Page& p = page(addr + i);
      size_t off = (addr + i) & (kPage - 1);
      if (!p.known[off]) {
        size_t run = 1;  // the unknown bytes from here on
        while (i + run < n && !page(addr + i + run).known[(addr + i + run) & (kPage - 1)]) ++run;
        load(addr + i, run, now_ ? now_ - 1 : 0);
      }
      dst[i] = p.bytes[off];
    }
  }
  void write(uint64_t addr, const void* in, size_t n) {
    auto* src = static_cast<const uint8_t*>(in);
    for (size_t i = 0; i < n; ++i) {
      Page& p = page(addr + i);
      size_t off = (addr + i) & (kPage - 1);
      p.bytes[off] = src[i];
      p.known[off] = true;
    }
  }
  // Memory a helper wrote (its bytes are in the index as write events).
  void invalidate(uint64_t addr, size_t n) { load(addr, n, now_); }

 private:
  struct Page {
    std::array<uint8_t, kPage> bytes;
    std::bitset<kPage> known;
  };
  Page& page(uint64_t addr) {
    auto& p = pages_[addr & ~(kPage - 1)];
    if (!p) p.reset(new Page);  // bytes left uninitialized: `known` says which hold data
    return *p;
  }
  // Sets [addr, addr + n) to memory as of `time`.
  void load(uint64_t addr, size_t n, uint64_t time) {
    MemoryImage image = reader_.read(addr, n, time);
    for (size_t i = 0; i < image.unknown.size(); ++i)
      if (image.unknown[i])
        fail("replay reads {:#x} at time {}, which the recording does not hold (a shared mapping's bytes "
             "past what the recorder copied when it was mapped)",
             addr + i, time);
    for (size_t i = 0; i < n; ++i) {
      Page& p = page(addr + i);
      p.bytes[(addr + i) & (kPage - 1)] = image.bytes[i];
      p.known[(addr + i) & (kPage - 1)] = true;
    }
  }

  MemoryReader& reader_;
  const uint64_t& now_;
  std::unordered_map<uint64_t, std::unique_ptr<Page>> pages_;
};

// The recorded values a stretch of replay consumes, in order.
class Values {
 public:
  Values(const std::vector<uint8_t>& blob, uint64_t time) : p_(blob.data()), end_(blob.data() + blob.size()), time_(time) {}

  Value take(uint64_t now, size_t size) {
    uint64_t delta = varint(), n = varint();
    time_ += delta;
    if (time_ != now || n != size || static_cast<size_t>(end_ - p_) < n)
      fail("replay diverged from the recording at instruction {} (expected a {}-byte value there, the "
           "recording has {} bytes at {})",
           now, size, n, time_);
    Value v;
    std::memcpy(v.b, p_, std::min<size_t>(n, sizeof v.b));
    p_ += n;
    return v;
  }

 private:
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) fail("replay needs more recorded values than the index holds (index corrupt?)");
      uint8_t b = *p_++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("index is corrupt (replay values)");
  }
  const uint8_t* p_;
  const uint8_t* end_;
  uint64_t time_;
};

// Replay up to `limit` reads memory at or before it, for the scope's life
// (MemoryReader::set_horizon), however it ends.
class Horizon {
 public:
  Horizon(MemoryReader& memory, uint64_t limit) : memory_(memory) { memory_.set_horizon(limit); }
  ~Horizon() { memory_.set_horizon(0); }
  Horizon(const Horizon&) = delete;
  Horizon& operator=(const Horizon&) = delete;

 private:
  MemoryReader& memory_;
};

}  // namespace

struct Replayer::Impl {
  index::IndexReader& reader;
  MemoryReader memory_reader{reader};
  // Decoded blocks by entry address, each valid for [from, until): the
  // translation in use over that span of time.
  struct Version {
    uint64_t from, until;
    std::shared_ptr<Block> block;
  };
  std::unordered_map<uint64_t, std::vector<Version>> blocks;

  explicit Impl(index::IndexReader& r) : reader(r) {}

  // The last block found at each of a few thousand addresses, for the
  // lookup every executed block makes.
  struct Recent {
    uint64_t addr = 0, from = 0, until = 0;
    const Block* block = nullptr;
  };
  std::array<Recent, 4096> recent{};

  const Block* block_at(uint64_t addr, uint64_t time) {
    Recent& r = recent[(addr ^ (addr >> 12)) & (recent.size() - 1)];
    if (r.block && r.addr == addr && r.from <= time && time < r.until) return r.block;
    auto& versions = blocks[addr];
    for (const Version& v : versions)
      if (v.from <= time && time < v.until) {
        r = {addr, v.from, v.until, v.block.get()};
        return v.block.get();
      }
    auto ir = reader.block_ir(addr, time);
    if (!ir) fail("replay: no recorded code at {:#x} (instruction {})", addr, time);
    auto block = std::make_shared<Block>(decode_block(ir->ir.data(), ir->ir.size(), addr));
    versions.push_back({ir->time, ir->next_time, block});
    r = {addr, ir->time, ir->next_time, block.get()};
    return block.get();
  }

  // One stretch of replay. It can be resumed towards a later limit: it
  // then computes exactly what a fresh run from the same snapshot would
  // (replay is deterministic), without re-executing what it already did.
  struct Run {
    Impl& impl;
    index::SnapshotRow snap;  // owns the values blob `values` reads
    std::vector<uint8_t> state;
    uint64_t now;
    uint64_t limit;
    Overlay memory;
    Values values;
    std::vector<Value> temps;
    const Block* block = nullptr;
    // Where a run stopped inside a block (its IMark statement), with `temps`
    // as they were: a block's entry is the only place its code is recorded
    // from, so a resumed run goes on in the middle of it.
    const Block* resume_block = nullptr;
    size_t resume_stmt = 0;
    std::string note;
    bool left_ir = false;  // the stretch ended at a syscall, client request...
    uint64_t pc = 0;       // the instruction being executed
    Stretch* writes = nullptr;  // where to record the writes made (the self-check)

    Run(Impl& i, index::SnapshotRow from, uint64_t lim)
        : impl(i), snap(std::move(from)), state(snap.state), now(snap.time), limit(lim),
          memory(i.memory_reader, now), values(snap.values, snap.time) {
      if (state.size() != kStateSize)
        fail("register snapshot of {} bytes, this omni expects {}; record again with this omni", state.size(),
             kStateSize);
    }

    uint64_t get64(size_t off) const {
      uint64_t v;
      std::memcpy(&v, state.data() + off, 8);
      return v;
    }
    void put(size_t off, const Value& v, size_t n) {
      if (off + n > state.size()) fail("replay: guest state offset {} out of range", off);
      std::memcpy(state.data() + off, v.b, n);
    }

    void record(uint64_t addr, const uint8_t* bytes, size_t n, bool by_helper) {
      writes->writes.push_back({now, pc, addr, static_cast<uint32_t>(n),
                                static_cast<uint32_t>(writes->data.size()), by_helper});
      writes->data.insert(writes->data.end(), bytes, bytes + n);
    }

    Value load(uint64_t addr, IRType ty) {
      Value v;
      memory.read(addr, v.b, type_bytes(ty));
      return v;
    }

    size_t array_offset(const RegArray& d, const Value& ix, int32_t bias) {
      int64_t i = static_cast<int32_t>(ix.u64() & 0xffffffff) + static_cast<int64_t>(bias);
      int64_t n = d.n;
      i = ((i % n) + n) % n;
      return d.base + static_cast<size_t>(i) * type_bytes(d.elem);
    }

    IRType type_of(int32_t e) const { return block->exprs[e].ty; }

    Value eval(int32_t index) {
      const Expr& e = block->exprs[index];
      const uint32_t* args = block->arg_list.data() + e.args;
      switch (e.tag) {
        case Iex_Get: {
          Value v;
          size_t n = type_bytes(e.ty);
          if (e.offset + n > state.size()) fail("replay: guest state offset {} out of range", e.offset);
          std::memcpy(v.b, state.data() + e.offset, n);
          if (e.ty == Ity_I1) v.b[0] &= 1;
          return v;
        }
        case Iex_GetI: {
          size_t off = array_offset(e.descr, eval(args[0]), e.bias);
          Value v;
          std::memcpy(v.b, state.data() + off, type_bytes(e.descr.elem));
          return v;
        }
        case Iex_RdTmp: return temps[e.offset];
        case Iex_Const: return e.con;
        case Iex_Load: return load(eval(args[0]).u64(), e.ty);
        case Iex_ITE: return (eval(args[0]).b[0] & 1) ? eval(args[1]) : eval(args[2]);
        case Iex_Qop:
        case Iex_Triop:
        case Iex_Binop:
        case Iex_Unop: {
          Value in[4];
          for (uint32_t i = 0; i < e.nargs; ++i) in[i] = eval(args[i]);
          return eval_op(e.op, in, e.nargs);
        }
        case Iex_CCall: {
          uint64_t in[16];
          for (uint32_t i = 0; i < e.nargs; ++i) in[i] = eval(args[i]).u64();
          Value v = Value::of(eval_ccall(e.name.c_str(), in, e.nargs));
          return v;
        }
        default: fail("replay: cannot evaluate expression tag {:#x}", static_cast<unsigned>(e.tag));
      }
    }

    // Executes `b` from its entry. Returns false when the stop time came
    // first (the state is then exactly that of time `limit`).
    bool exec(const Block& b, IRJumpKind& jk, size_t first = 0) {
      block = &b;
      if (first == 0) temps.assign(b.temps.size(), Value{});
      for (size_t index = first; index < b.stmts.size(); ++index) {
        const Stmt& s = b.stmts[index];
        switch (s.tag) {
          case Ist_NoOp:
          case Ist_AbiHint:
          case Ist_MBE: break;
          case Ist_IMark:
            if (now >= limit) {
              Value rip = Value::of(s.addr);
              put(offsetof(VexGuestAMD64State, guest_RIP), rip, 8);
              resume_block = &b;
              resume_stmt = index;
              return false;
            }
            ++now;
            ++impl.executed;
            pc = s.addr;
            break;
          case Ist_Put: {
            Value v = eval(s.e[0]);
            put(s.offset, v, type_bytes(type_of(s.e[0])));
            break;
          }
          case Ist_PutI: {
            size_t off = array_offset(s.descr, eval(s.e[0]), s.bias);
            put(off, eval(s.e[1]), type_bytes(s.descr.elem));
            break;
          }
          case Ist_WrTmp: {
            const Expr& e = b.exprs[s.e[0]];
            IRType ty = b.temps[s.tmp];
            if (!e.supported)
              temps[s.tmp] = values.take(now, type_bytes(ty));
            else
              temps[s.tmp] = eval(s.e[0]);
            break;
          }
          case Ist_Store: {
            uint64_t addr = eval(s.e[0]).u64();
            Value v = eval(s.e[1]);
            memory.write(addr, v.b, type_bytes(type_of(s.e[1])));
            if (writes) record(addr, v.b, type_bytes(type_of(s.e[1])), false);
            break;
          }
          case Ist_StoreG:
            if (eval(s.e[2]).b[0] & 1) {
              uint64_t addr = eval(s.e[0]).u64();
              Value v = eval(s.e[1]);
              memory.write(addr, v.b, type_bytes(type_of(s.e[1])));
              if (writes) record(addr, v.b, type_bytes(type_of(s.e[1])), false);
            }
            break;
          case Ist_LoadG: {
            if (!(eval(s.e[2]).b[0] & 1)) {
              temps[s.tmp] = eval(s.e[1]);
              break;
            }
            uint64_t addr = eval(s.e[0]).u64();
            Value v;
            switch (s.cvt) {
              case ILGop_IdentV128: memory.read(addr, v.b, 16); break;
              case ILGop_Ident64: memory.read(addr, v.b, 8); break;
              case ILGop_Ident32: memory.read(addr, v.b, 4); break;
              case ILGop_16Uto32: memory.read(addr, v.b, 2); break;
              case ILGop_8Uto32: memory.read(addr, v.b, 1); break;
              case ILGop_16Sto32: {
                int16_t x;
                memory.read(addr, &x, 2);
                v = Value::of(static_cast<uint32_t>(static_cast<int32_t>(x)));
                break;
              }
              case ILGop_8Sto32: {
                int8_t x;
                memory.read(addr, &x, 1);
                v = Value::of(static_cast<uint32_t>(static_cast<int32_t>(x)));
                break;
              }
              default: fail("replay: guarded load conversion {:#x}", static_cast<unsigned>(s.cvt));
            }
            temps[s.tmp] = v;
            break;
          }
          case Ist_CAS: {
            uint64_t addr = eval(s.e[0]).u64();
            IRType ty = type_of(s.e[4]);
            size_t n = type_bytes(ty);
            Value old_lo = load(addr, ty), old_hi;
            bool hi = s.tmp_hi != 0;
            if (hi) old_hi = load(addr + n, ty);
            temps[s.tmp] = old_lo;
            if (hi) temps[s.tmp_hi - 1] = old_hi;
            bool equal = std::memcmp(old_lo.b, eval(s.e[2]).b, n) == 0;
            if (hi) equal = equal && std::memcmp(old_hi.b, eval(s.e[1]).b, n) == 0;
            if (equal) {
              Value lo = eval(s.e[4]);
              memory.write(addr, lo.b, n);
              Value hi_data;
              if (hi) memory.write(addr + n, (hi_data = eval(s.e[3])).b, n);
              if (writes) {  // the recording has both halves as one write
                uint8_t both[64];
                std::memcpy(both, lo.b, n);
                if (hi) std::memcpy(both + n, hi_data.b, n);
                record(addr, both, hi ? 2 * n : n, false);
              }
            }
            break;
          }
          case Ist_LLSC: temps[s.tmp] = values.take(now, type_bytes(b.temps[s.tmp])); break;
          case Ist_Dirty: {
            if (s.tmp) temps[s.tmp - 1] = values.take(now, type_bytes(b.temps[s.tmp - 1]));
            for (auto [off, size] : s.fx_pieces) put(off, values.take(now, size), size);
            if ((s.mfx == Ifx_Write || s.mfx == Ifx_Modify) && s.msize > 0) {
              uint64_t addr = eval(s.e[1]).u64();
              memory.invalidate(addr, s.msize);
              // The recorder logs the helper's bytes only when its guard held.
              if (writes && (s.e[0] < 0 || (eval(s.e[0]).b[0] & 1))) {
                std::vector<uint8_t> bytes(s.msize);
                memory.read(addr, bytes.data(), bytes.size());
                record(addr, bytes.data(), bytes.size(), true);
              }
            }
            break;
          }
          case Ist_Exit:
            if (eval(s.e[0]).b[0] & 1) {
              put(s.offset, s.dst, 8);
              jk = s.jk;
              return true;
            }
            break;
          default: fail("replay: cannot execute statement tag {:#x}", static_cast<unsigned>(s.tag));
        }
      }
      put(b.offs_ip, eval(b.next), 8);
      jk = b.jumpkind;
      return true;
    }

    void go() {
      while (now < limit) {
        const Block* b = resume_block;
        size_t first = resume_stmt;
        resume_block = nullptr;
        resume_stmt = 0;
        if (!b) b = impl.block_at(get64(offsetof(VexGuestAMD64State, guest_RIP)), now);
        IRJumpKind jk = Ijk_Boring;
        if (!exec(*b, jk, first)) return;
        if (!plain_jump(jk)) {
          left_ir = true;
          if (now < limit)
            note = jk == Ijk_Sys_syscall ? "the thread is in a system call"
                                         : "the thread left recorded code (signal, client request or fault)";
          return;
        }
      }
    }
  };

  // Runs kept between questions, so that many moments asked in time order
  // (every call of a function: its entry, then its return) replay each
  // snapshot's stretch once instead of once per moment. A run is reused only
  // from its own snapshot, which a fresh run would start from too.
  struct Kept {
    std::unique_ptr<Run> run;     // its snapshot (run->snap) names the thread and time
    std::optional<uint64_t> end;  // run_end of the snapshot
    uint64_t used;
  };
  static constexpr size_t kKeptRuns = 4;
  uint64_t executed = 0;
  std::vector<Kept> kept;
  uint64_t uses = 0;

  Registers replay(uint32_t tid, uint64_t time) {
    std::optional<uint64_t> snap_time = reader.snapshot_time_before(tid, time);
    if (!snap_time) fail("thread {} has no register snapshot at or before instruction {}", tid, time);
    Kept* k = nullptr;
    for (Kept& c : kept)
      if (c.run->snap.tid == tid && c.run->snap.time == *snap_time && !c.run->left_ir && c.run->now <= time) k = &c;
    if (!k) {
      auto snap = reader.snapshot_before(tid, time);
      if (!snap || snap->time != *snap_time) fail("index is corrupt: thread {}'s snapshots changed while read", tid);
      std::optional<uint64_t> end = reader.run_end(tid, snap->time);
      if (kept.size() >= kKeptRuns)
        kept.erase(std::min_element(kept.begin(), kept.end(),
                                    [](const Kept& a, const Kept& b) { return a.used < b.used; }));
      kept.push_back({std::make_unique<Run>(*this, std::move(*snap), time), end, 0});
      k = &kept.back();
    }
    k->used = ++uses;
    Run& run = *k->run;
    run.limit = k->end ? std::min(time, *k->end) : time;
    try {
      Horizon horizon(memory_reader, run.limit);
      run.go();
    } catch (...) {
      kept.erase(kept.begin() + (k - kept.data()));  // stopped part-way: not a state to resume
      throw;
    }
    Registers out{time, tid, run.snap.time, run.now - run.snap.time, run.note, run.state};
    if (out.note.empty() && run.now < time) out.note = "the thread was not running (another thread was)";
    return out;
  }
};

Replayer::Replayer(index::IndexReader& reader) : impl_(std::make_unique<Impl>(reader)) {}
Replayer::~Replayer() = default;

Registers Replayer::registers_at(uint64_t time, std::optional<uint32_t> tid) {
  return impl_->replay(impl_->reader.thread_for(tid, time), time);
}

uint64_t Replayer::executed() const { return impl_->executed; }

MemoryReader& Replayer::memory() { return impl_->memory_reader; }

Stretch Replayer::replay_stretch(index::SnapshotRow from, uint64_t limit) {
  Stretch out;
  Impl::Run run(*impl_, std::move(from), limit);
  run.writes = &out;
  run.pc = run.get64(offsetof(VexGuestAMD64State, guest_RIP));
  try {
    Horizon horizon(impl_->memory_reader, limit);
    run.go();
  } catch (const Error& e) {
    out.error = e.what();
  }
  out.time = run.now;
  out.pc = run.pc;
  out.left_ir = run.left_ir;
  out.state = std::move(run.state);
  return out;
}

}  // namespace omni::replay
