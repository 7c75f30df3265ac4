// Registers at any instruction: the thread's latest register snapshot, then
// the recorded superblocks' IR re-executed up to the moment asked for, with
// memory from the index and the recorded values the IR alone cannot tell.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "omni/index/reader.h"
#include "omni/replay/memory.h"

namespace omni::replay {

struct Registers {
  uint64_t time;      // the moment asked for
  uint32_t tid;
  uint64_t snapshot;  // time of the snapshot replay started from
  uint64_t replayed;  // instructions re-executed from it
  // Why the thread's state stops short of `time`: it was blocked in a
  // syscall, or not running. Empty when it is exactly the state at `time`.
  std::string note;
  std::vector<uint8_t> state;  // Valgrind's VexGuestAMD64State

  uint64_t u64(size_t offset) const;
  uint64_t rip() const;
  uint64_t rsp() const;
  // rflags as the CPU would show it (from VEX's lazy flags thunk).
  uint64_t rflags() const;
};

// The amd64 registers as omni knows them, in one place: VEX's guest state
// layout (the offsets) and the System V ABI's and DWARF's numberings.
// The 16 general-purpose registers, in hardware encoding order.
enum class Gpr : int { Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi, R8, R9, R10, R11, R12, R13, R14, R15 };
extern const char* const kGprNames[16];  // "rax", ... in Gpr order
size_t gpr_offset(int index);            // of Gpr(index) in the guest state
inline size_t gpr_offset(Gpr r) { return gpr_offset(static_cast<int>(r)); }
size_t xmm_offset(int index);  // 32-byte YMM slot; the XMM register is its low half
size_t fs_base_offset();
// System V x86-64: integer-class arguments in these, in order; floating
// point ones in xmm0-7; the return value in rax (and rdx) or xmm0.
inline constexpr Gpr kIntegerArgumentRegisters[6] = {Gpr::Rdi, Gpr::Rsi, Gpr::Rdx, Gpr::Rcx, Gpr::R8, Gpr::R9};
inline constexpr int kFloatArgumentRegisters = 8;
inline constexpr Gpr kReturnRegister = Gpr::Rax;
// A DWARF x86-64 register number (0-16 general-purpose and the return
// address column, 17-32 xmm0-15): its value, or nullopt for others.
struct Registers;
std::optional<uint64_t> dwarf_register(const Registers& regs, int regno);

// A memory write of replayed code, in the order made: a store, a successful
// compare-and-swap (both halves as one write), or what a helper call wrote
// (`by_helper`: replay takes those bytes from the recording).
struct ReplayedWrite {
  uint64_t time, pc, addr;
  uint32_t size;
  uint32_t data_offset;  // into Stretch::data
  bool by_helper;
};

// One thread re-executed from a snapshot up to a limit.
struct Stretch {
  uint64_t time = 0;           // the last instruction executed
  uint64_t pc = 0;             // its address (the snapshot's rip before any)
  std::vector<uint8_t> state;  // guest state after it
  // It stopped before the limit where the registers change outside the IR
  // (a syscall, client request, emulation warning...).
  bool left_ir = false;
  // Replay could not go on at `time` (a recorded value missing or of another
  // size, no recorded code...): the exception's message. Empty: none.
  std::string error;
  std::vector<ReplayedWrite> writes;
  std::vector<uint8_t> data;
};

class Replayer {
 public:
  explicit Replayer(index::IndexReader& reader);
  ~Replayer();

  // Thread tid's registers after instruction `time` (default: the thread
  // running then). Throws Error when the recording cannot tell.
  Registers registers_at(uint64_t time, std::optional<uint32_t> tid = std::nullopt);

  // Re-executes `from`'s thread from that snapshot until instruction `limit`
  // (or until it leaves the IR), recording every memory write it makes; the
  // self-check (verify.h). An Error is returned in Stretch::error.
  Stretch replay_stretch(index::SnapshotRow from, uint64_t limit);

  // The memory reader replay loads through (its caches are the largest part
  // of a question's memory): a question that also reads memory shares it.
  MemoryReader& memory();

  // Instructions re-executed so far by this replayer, all questions
  // together: what keeping runs between questions saves is measured by it.
  uint64_t executed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace omni::replay
