// A superblock's IR decoded from stream.h's OMNI_IR encoding into a flat,
// index-linked form the replayer walks. Private to libs/replay.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "omni/replay/ops.h"

extern "C" {
#include "libvex_ir.h"
}

namespace omni::replay {

// Bytes of a value of type ty (Ity_I1 counts as 1).
unsigned type_bytes(IRType ty);

struct RegArray {
  uint32_t base = 0;
  IRType elem = Ity_INVALID;
  uint32_t n = 0;
};

// Expressions live in Block::exprs and refer to each other by index.
struct Expr {
  IRExprTag tag = Iex_Binder;
  IRType ty = Ity_INVALID;  // Get, Load, CCall (return type), Const
  uint32_t offset = 0;      // Get: guest-state offset; RdTmp: temp
  IROp op = Iop_INVALID;
  uint32_t args = 0;   // first of nargs entries in Block::arg_list
  uint32_t nargs = 0;
  RegArray descr;      // GetI
  int32_t bias = 0;    // GetI
  Value con;           // Const
  std::string name;    // CCall
  bool supported = true;  // Unop..Qop / CCall: the replayer evaluates it
};

struct Stmt {
  IRStmtTag tag = Ist_NoOp;
  uint64_t addr = 0;    // IMark
  uint32_t len = 0;     // IMark
  uint32_t offset = 0;  // Put; Exit offsIP
  uint32_t tmp = 0;     // WrTmp, LoadG dst, CAS oldLo, LLSC result, Dirty tmp+1 (0 none)
  uint32_t tmp_hi = 0;  // CAS oldHi + 1 (0 none)
  int32_t e[6] = {-1, -1, -1, -1, -1, -1};  // expression operands, by kind
  RegArray descr;       // PutI
  int32_t bias = 0;     // PutI
  IRLoadGOp cvt = ILGop_INVALID;
  IRJumpKind jk = Ijk_INVALID;  // Exit
  Value dst;                    // Exit target (U64)
  IREffect mfx = Ifx_None;      // Dirty
  uint32_t msize = 0;
  std::string name;             // Dirty callee
  // Dirty: guest-state pieces the call writes, in VALUE order (offset, size).
  std::vector<std::pair<uint32_t, uint32_t>> fx_pieces;
};

struct Block {
  uint64_t addr = 0;
  std::vector<IRType> temps;
  std::vector<Expr> exprs;
  std::vector<uint32_t> arg_list;
  std::vector<Stmt> stmts;
  int32_t next = -1;
  IRJumpKind jumpkind = Ijk_Boring;
  uint32_t offs_ip = 0;
};

// Throws Error on a malformed encoding.
Block decode_block(const uint8_t* data, size_t size, uint64_t addr);

}  // namespace omni::replay
