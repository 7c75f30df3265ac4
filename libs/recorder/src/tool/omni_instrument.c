/* omni tool: instrumentation. Valgrind hands each superblock to
 * omni_instrument before translating it; the IR added here writes the
 * block's records inline at run time and keeps the clock.
 *
 * Owns the clock and block state generated code keeps: g_icount (advanced
 * before every side exit and at each block's end), g_next_snap (a snapshot
 * is due; zeroed after any exit whose jump kind may change registers
 * outside the IR), g_cur_block (the running block, for a fault), the block
 * ids, and per translation the instruction counts a fault needs.
 *
 * Invariant: the sites a block's generated code writes are exactly, and in
 * the order of, the sites its BLOCK_DEF names (plan_sites, checked by
 * assertions while instrumenting); the decoder relies on it. Runs under
 * Valgrind's big lock; the generated code runs on the thread holding it.
 */

#include "omni_tool.h"
#include "omni/trace/replay_ops.h"

ULong g_icount = 0;
ULong g_next_snap = 0;
ULong g_cur_block = 0;
ULong g_last_block_time = 0;
UInt g_next_block_id = 1;

/* A fault stops a superblock mid-way, before generated code adds its
   instruction count: per translation, for each instruction, how many of the
   block's instructions before it are not yet in g_icount there. The block
   running is in g_cur_block (stored at every block entry). */
typedef struct {
   ULong addr;
   UInt uncounted;
} ImarkCount;
typedef struct {
   ImarkCount* imarks;
   UInt n;
} BlockCounts;
static BlockCounts* g_block_counts = NULL;  /* by block id */
static UInt g_block_counts_size = 0;

static void remember_block_counts(UInt id, const IRSB* sb)
{
   if (id >= g_block_counts_size) {
      UInt size = g_block_counts_size ? g_block_counts_size * 2 : 4096;
      while (size <= id) size *= 2;
      g_block_counts = VG_(realloc)("omni.block_counts", g_block_counts, size * sizeof(BlockCounts));
      VG_(memset)(g_block_counts + g_block_counts_size, 0,
                  (size - g_block_counts_size) * sizeof(BlockCounts));
      g_block_counts_size = size;
   }
   UInt n = 0;
   for (Int i = 0; i < sb->stmts_used; i++)
      if (sb->stmts[i]->tag == Ist_IMark) n++;
   BlockCounts* bc = &g_block_counts[id];
   bc->imarks = n ? VG_(malloc)("omni.imarks", n * sizeof(ImarkCount)) : NULL;
   bc->n = n;
   UInt k = 0, flushed = 0;
   for (Int i = 0; i < sb->stmts_used; i++) {
      const IRStmt* st = sb->stmts[i];
      if (st->tag == Ist_IMark) {
         bc->imarks[k].addr = st->Ist.IMark.addr;
         bc->imarks[k].uncounted = k - flushed;   /* instructions 1..k done, less those added */
         k++;
      } else if (st->tag == Ist_Exit) {
         flushed = k;
      }
   }
}

/* A fault at an instruction of the running block (thread tid stopped
   there): count the block's instructions before it, which generated code
   never got to add. */
void count_faulting_block(ThreadId tid)
{
   if (g_cur_block == 0 || g_cur_block >= g_block_counts_size || tid == VG_INVALID_THREADID)
      return;
   const BlockCounts* bc = &g_block_counts[g_cur_block];
   ULong ip = (ULong)VG_(get_IP)(tid);
   for (UInt i = 1; i < bc->n; i++)   /* not the first: a fault there added nothing */
      if (bc->imarks[i].addr == ip) {
         g_icount += bc->imarks[i].uncounted;
         break;
      }
   g_cur_block = 0;
}

void instrument_fork_restart(void)
{
   g_icount = 0;
   g_next_snap = 0;
   g_cur_block = 0;
   g_last_block_time = 0;
   g_next_block_id = 1;
   for (UInt i = 0; i < g_block_counts_size; i++) {
      if (g_block_counts[i].imarks)
         VG_(free)(g_block_counts[i].imarks);
      g_block_counts[i].imarks = NULL;
      g_block_counts[i].n = 0;
   }
   /* The whole user address space: Valgrind's own code is never translated. */
   VG_(discard_translations)(0, 0x800000000000ull, "omni-fork");
}

/* Whether the replayer computes this WrTmp right-hand side itself; every
   other one is logged as a VALUE site (see stream.h). */
static Bool replayable(const IRExpr* e)
{
   switch (e->tag) {
   case Iex_Qop: return omni_op_supported(e->Iex.Qop.details->op) != 0;
   case Iex_Triop: return omni_op_supported(e->Iex.Triop.details->op) != 0;
   case Iex_Binop: return omni_op_supported(e->Iex.Binop.op) != 0;
   case Iex_Unop: return omni_op_supported(e->Iex.Unop.op) != 0;
   case Iex_CCall: return omni_ccall_supported(e->Iex.CCall.cee->name) != 0;
   default: return True;
   }
}

/* Bytes a logged value of type ty takes (Ity_I1 as one byte). */
static UInt value_bytes(IRType ty)
{
   return ty == Ity_I1 ? 1 : (UInt)sizeofIRType(ty);
}

/* The guest-state pieces a dirty call's fxState writes, in VALUE order:
   calls f(offset, size) for each. */
#define FOR_EACH_FX_PIECE(d, BODY)                                          \
   for (Int fi_ = 0; fi_ < (d)->nFxState; fi_++) {                          \
      if ((d)->fxState[fi_].fx != Ifx_Write && (d)->fxState[fi_].fx != Ifx_Modify) \
         continue;                                                          \
      for (UInt r_ = 0; r_ <= (d)->fxState[fi_].nRepeats; r_++) {           \
         UInt off_ = (d)->fxState[fi_].offset + r_ * (d)->fxState[fi_].repeatLen; \
         UInt left_ = (d)->fxState[fi_].size;                               \
         while (left_ > 0) {                                                \
            UInt piece_ = left_ >= 8 ? 8 : left_ >= 4 ? 4 : left_ >= 2 ? 2 : 1; \
            { UInt offset = off_, size = piece_; BODY }                     \
            off_ += piece_;                                                 \
            left_ -= piece_;                                                \
         }                                                                  \
      }                                                                     \
   }

static IRType int_type(UInt size)
{
   switch (size) {
   case 1: return Ity_I8;
   case 2: return Ity_I16;
   case 4: return Ity_I32;
   default: return Ity_I64;
   }
}

static IRExpr* mk64(ULong v) { return IRExpr_Const(IRConst_U64(v)); }

static IRTemp load64(IRSB* sb, void* addr)
{
   IRTemp t = newIRTemp(sb->tyenv, Ity_I64);
   addStmtToIRSB(sb, IRStmt_WrTmp(t, IRExpr_Load(Iend_LE, Ity_I64,
                                                 mk64((ULong)(HWord)addr))));
   return t;
}

static IRTemp binop64(IRSB* sb, IROp op, IRExpr* a, IRExpr* b)
{
   IRTemp t = newIRTemp(sb->tyenv, Ity_I64);
   addStmtToIRSB(sb, IRStmt_WrTmp(t, IRExpr_Binop(op, a, b)));
   return t;
}

/* An atom holding e (flat IR wants atoms in stores). */
static IRExpr* atom(IRSB* sb, IRExpr* e, IRType ty)
{
   if (isIRAtom(e))
      return e;
   IRTemp t = newIRTemp(sb->tyenv, ty);
   addStmtToIRSB(sb, IRStmt_WrTmp(t, e));
   return IRExpr_RdTmp(t);
}

/* Appends a VALUE record of `value` (type ty) at *ptr (a temp holding g_ptr,
   reloaded when invalid) and advances g_ptr. */
static void log_value(IRSB* sb, IRTemp* ptr, IRExpr* value, IRType ty)
{
   UInt size = value_bytes(ty);
   if (*ptr == IRTemp_INVALID)
      *ptr = load64(sb, &g_ptr);
   IRExpr* p = IRExpr_RdTmp(*ptr);
   addStmtToIRSB(sb, IRStmt_Store(Iend_LE, p, mk64(size)));
   IRTemp pd = binop64(sb, Iop_Add64, p, mk64(8));
   value = atom(sb, value, ty);
   if (ty == Ity_I1) {
      IRExpr* b = atom(sb, IRExpr_Unop(Iop_1Uto8, value), Ity_I8);
      addStmtToIRSB(sb, IRStmt_Store(Iend_LE, IRExpr_RdTmp(pd), b));
   } else if (ty == Ity_I128) {
      IRExpr* lo = atom(sb, IRExpr_Unop(Iop_128to64, value), Ity_I64);
      IRExpr* hi = atom(sb, IRExpr_Unop(Iop_128HIto64, value), Ity_I64);
      addStmtToIRSB(sb, IRStmt_Store(Iend_LE, IRExpr_RdTmp(pd), lo));
      IRTemp ph = binop64(sb, Iop_Add64, p, mk64(16));
      addStmtToIRSB(sb, IRStmt_Store(Iend_LE, IRExpr_RdTmp(ph), hi));
   } else {
      addStmtToIRSB(sb, IRStmt_Store(Iend_LE, IRExpr_RdTmp(pd), value));
   }
   *ptr = binop64(sb, Iop_Add64, p, mk64(8 + size));
   addStmtToIRSB(sb, IRStmt_Store(Iend_LE, mk64((ULong)(HWord)&g_ptr),
                                  IRExpr_RdTmp(*ptr)));
   g_stats.value_sites++;
}

/* Appends one word (an ENTRY site's rsp). */
static void log_word(IRSB* sb, IRTemp* ptr, IRExpr* a)
{
   if (*ptr == IRTemp_INVALID)
      *ptr = load64(sb, &g_ptr);
   IRExpr* p = IRExpr_RdTmp(*ptr);
   addStmtToIRSB(sb, IRStmt_Store(Iend_LE, p, atom(sb, a, Ity_I64)));
   *ptr = binop64(sb, Iop_Add64, p, mk64(8));
   addStmtToIRSB(sb, IRStmt_Store(Iend_LE, mk64((ULong)(HWord)&g_ptr),
                                  IRExpr_RdTmp(*ptr)));
}

/* Appends two words (a CALL, RET or JUMP site's rsp and target). */
static void log_two_words(IRSB* sb, IRTemp* ptr, IRExpr* a, IRExpr* b)
{
   if (*ptr == IRTemp_INVALID)
      *ptr = load64(sb, &g_ptr);
   IRExpr* p = IRExpr_RdTmp(*ptr);
   addStmtToIRSB(sb, IRStmt_Store(Iend_LE, p, atom(sb, a, Ity_I64)));
   IRTemp p8 = binop64(sb, Iop_Add64, p, mk64(8));
   addStmtToIRSB(sb, IRStmt_Store(Iend_LE, IRExpr_RdTmp(p8), atom(sb, b, Ity_I64)));
   *ptr = binop64(sb, Iop_Add64, p, mk64(16));
   addStmtToIRSB(sb, IRStmt_Store(Iend_LE, mk64((ULong)(HWord)&g_ptr),
                                  IRExpr_RdTmp(*ptr)));
}

/* g_icount += n */
static void add_icount(IRSB* sb, UInt n)
{
   if (n == 0)
      return;
   IRTemp old = load64(sb, &g_icount);
   IRTemp sum = binop64(sb, Iop_Add64, IRExpr_RdTmp(old), mk64(n));
   addStmtToIRSB(sb, IRStmt_Store(Iend_LE, mk64((ULong)(HWord)&g_icount),
                                  IRExpr_RdTmp(sum)));
}

/* log_write(g_icount + delta, pc, addr, size) if guard (NULL: always). */
static void add_log_write(IRSB* sb, UInt delta, ULong pc, IRExpr* addr,
                          UInt size, IRExpr* guard)
{
   IRTemp ic = load64(sb, &g_icount);
   IRExpr* time = IRExpr_RdTmp(ic);
   if (delta != 0)
      time = IRExpr_RdTmp(binop64(sb, Iop_Add64, time, mk64(delta)));
   IRDirty* d = unsafeIRDirty_0_N(
      0, "omni_log_write", VG_(fnptr_to_fnentry)(&omni_log_write),
      mkIRExprVec_4(time, mk64(pc), addr, mk64(size)));
   if (guard)
      d->guard = guard;
   addStmtToIRSB(sb, IRStmt_Dirty(d));
}

/* An I1 atom: the CAS succeeded (old == expected). */
static IRExpr* cas_success(IRSB* sb, const IRCAS* cas, IRType ty)
{
   IROp op;
   switch (ty) {
   case Ity_I8: op = Iop_CasCmpEQ8; break;
   case Ity_I16: op = Iop_CasCmpEQ16; break;
   case Ity_I32: op = Iop_CasCmpEQ32; break;
   case Ity_I64: op = Iop_CasCmpEQ64; break;
   default: VG_(tool_panic)("omni: CAS of unexpected type");
   }
   IRTemp lo = newIRTemp(sb->tyenv, Ity_I1);
   addStmtToIRSB(sb, IRStmt_WrTmp(lo, IRExpr_Binop(op, IRExpr_RdTmp(cas->oldLo),
                                                   cas->expdLo)));
   if (cas->dataHi == NULL)
      return IRExpr_RdTmp(lo);
   IRTemp hi = newIRTemp(sb->tyenv, Ity_I1);
   addStmtToIRSB(sb, IRStmt_WrTmp(hi, IRExpr_Binop(op, IRExpr_RdTmp(cas->oldHi),
                                                   cas->expdHi)));
   IRTemp both = newIRTemp(sb->tyenv, Ity_I1);
   addStmtToIRSB(sb, IRStmt_WrTmp(both, IRExpr_Binop(Iop_And1, IRExpr_RdTmp(lo),
                                                     IRExpr_RdTmp(hi))));
   return IRExpr_RdTmp(both);
}

/* Whether a is a function's first instruction, by the symbol tables
   Valgrind read. A ".cold" fragment (code GCC moved out of its function)
   is not a function: jumps into it are not calls. */
static Bool function_entry(Addr a)
{
   const HChar* name = NULL;
   if (!VG_(get_fnname_if_entry)(VG_(current_DiEpoch)(), a, &name) || name == NULL)
      return False;
   return VG_(strstr)(name, ".cold") == NULL;
}

/* The block ends in a jump (not a call or return) to a function's entry
   whose address it knows: a tail call. */
static Bool ends_in_jump_to_entry(const IRSB* sbIn)
{
   return sbIn->jumpkind == Ijk_Boring && sbIn->next->tag == Iex_Const &&
          sbIn->next->Iex.Const.con->tag == Ico_U64 &&
          function_entry((Addr)sbIn->next->Iex.Const.con->Ico.U64);
}

/* The sites of sbIn, in static order (stream.h). Stores beyond the inline
   byte budget get no site (a helper logs them); VALUE, ENTRY, CALL, RET and
   JUMP sites must always be inline, so their bytes are reserved first. */
static UInt plan_sites(const IRSB* sbIn, Addr entry, Bool is_entry, Bool jump_to_entry)
{
   UInt reserved = OMNI_WORD_BYTES;   /* the block marker */
   if (is_entry)
      reserved += 8;
   for (Int i = 0; i < sbIn->stmts_used; i++) {
      const IRStmt* st = sbIn->stmts[i];
      if (st->tag == Ist_WrTmp && !replayable(st->Ist.WrTmp.data))
         reserved += 8 + value_bytes(typeOfIRTemp(sbIn->tyenv, st->Ist.WrTmp.tmp));
      else if (st->tag == Ist_LLSC)
         reserved += 8 + value_bytes(typeOfIRTemp(sbIn->tyenv, st->Ist.LLSC.result));
      else if (st->tag == Ist_Dirty) {
         const IRDirty* d = st->Ist.Dirty.details;
         if (d->tmp != IRTemp_INVALID)
            reserved += 8 + value_bytes(typeOfIRTemp(sbIn->tyenv, d->tmp));
         FOR_EACH_FX_PIECE(d, { (void)offset; reserved += 8 + size; })
      }
   }
   if (sbIn->jumpkind == Ijk_Call || sbIn->jumpkind == Ijk_Ret || jump_to_entry)
      reserved += 16;
   if (reserved > OMNI_INLINE_MAX)
      VG_(tool_panic)("omni: a superblock logs more values than the inline budget");

   UInt nsites = 0, k = 0, inline_bytes = reserved;
   Bool budget_full = False;
   ULong pc = 0;
   if (is_entry)
      add_site(&nsites, entry, 0, 8, OMNI_SITE_ENTRY);
   for (Int i = 0; i < sbIn->stmts_used; i++) {
      const IRStmt* st = sbIn->stmts[i];
      switch (st->tag) {
      case Ist_IMark:
         k++;
         pc = st->Ist.IMark.addr;
         break;
      case Ist_WrTmp:
         if (!replayable(st->Ist.WrTmp.data))
            add_site(&nsites, pc, k, value_bytes(typeOfIRTemp(sbIn->tyenv, st->Ist.WrTmp.tmp)),
                     OMNI_SITE_VALUE);
         break;
      case Ist_LLSC:
         add_site(&nsites, pc, k, value_bytes(typeOfIRTemp(sbIn->tyenv, st->Ist.LLSC.result)),
                  OMNI_SITE_VALUE);
         break;
      case Ist_Dirty: {
         const IRDirty* d = st->Ist.Dirty.details;
         if (d->tmp != IRTemp_INVALID)
            add_site(&nsites, pc, k, value_bytes(typeOfIRTemp(sbIn->tyenv, d->tmp)),
                     OMNI_SITE_VALUE);
         FOR_EACH_FX_PIECE(d, { (void)offset; add_site(&nsites, pc, k, size, OMNI_SITE_VALUE); })
         break;
      }
      case Ist_Store: {
         if (budget_full)
            break;
         UInt size = sizeofIRType(typeOfIRExpr(sbIn->tyenv, st->Ist.Store.data));
         if (inline_bytes + 8 + size > OMNI_INLINE_MAX) {
            budget_full = True;
            break;
         }
         inline_bytes += 8 + size;
         add_site(&nsites, pc, k, size, OMNI_SITE_STORE);
         break;
      }
      default:
         break;
      }
   }
   if (sbIn->jumpkind == Ijk_Call)
      add_site(&nsites, pc, k, 16, OMNI_SITE_CALL);
   else if (sbIn->jumpkind == Ijk_Ret)
      add_site(&nsites, pc, k, 16, OMNI_SITE_RET);
   else if (jump_to_entry)
      add_site(&nsites, pc, k, 16, OMNI_SITE_JUMP);
   return nsites;
}

/* Jumps after which the guest registers are exactly what the IR left. */
static Bool plain_jump(IRJumpKind jk)
{
   return jk == Ijk_Boring || jk == Ijk_Call || jk == Ijk_Ret;
}

IRSB* omni_instrument(VgCallbackClosure* closure, IRSB* sbIn,
                      const VexGuestLayout* layout,
                      const VexGuestExtents* vge,
                      const VexArchInfo* archinfo_host,
                      IRType gWordTy, IRType hWordTy)
{
   if (gWordTy != Ity_I64 || hWordTy != Ity_I64)
      VG_(tool_panic)("omni: only amd64 guests and hosts are supported");

   Bool is_entry = function_entry((Addr)closure->nraddr);
   Bool jump_to_entry = ends_in_jump_to_entry(sbIn);
   UInt nsites = plan_sites(sbIn, (Addr)closure->nraddr, is_entry, jump_to_entry);
   if (g_next_block_id > OMNI_BLOCK_ID_MAX)
      VG_(tool_panic)("omni: out of block ids (more than 2^25 superblocks "
                      "were translated); the stream format cannot name more");
   UInt block_id = g_next_block_id++;
   g_stats.sites_defined += nsites;
   remember_block_counts(block_id, sbIn);
   ir_block(sbIn);
   emit_block_def(block_id, nsites, (ULong)closure->nraddr);

   IRSB* sbOut = deepCopyIRSBExceptStmts(sbIn);

   UInt k = 0;          /* ordinal of the current instruction */
   UInt flushed = 0;    /* instructions already added to g_icount */
   ULong pc = 0;        /* address of the current instruction */
   UInt site = 0;       /* sites seen so far */
   /* A temp holding the current value of g_ptr, or IRTemp_INVALID when it
      must be reloaded (after any dirty call, which may flush). */
   IRTemp ptr = IRTemp_INVALID;

   for (Int i = 0; i < sbIn->stmts_used; i++) {
      IRStmt* st = sbIn->stmts[i];
      switch (st->tag) {
      case Ist_NoOp:
      case Ist_AbiHint:
      case Ist_Put:
      case Ist_PutI:
      case Ist_LoadG:
      case Ist_MBE:
         addStmtToIRSB(sbOut, st);
         break;

      case Ist_WrTmp:
         addStmtToIRSB(sbOut, st);
         if (!replayable(st->Ist.WrTmp.data)) {
            tl_assert(site < nsites && g_sites[site].kind == OMNI_SITE_VALUE);
            site++;
            log_value(sbOut, &ptr, IRExpr_RdTmp(st->Ist.WrTmp.tmp),
                      typeOfIRTemp(sbIn->tyenv, st->Ist.WrTmp.tmp));
         }
         break;

      case Ist_IMark:
         k++;
         pc = st->Ist.IMark.addr;
         addStmtToIRSB(sbOut, st);
         if (k == 1) {
            addStmtToIRSB(sbOut, IRStmt_Store(Iend_LE, mk64((ULong)(HWord)&g_cur_block),
                                              mk64(block_id)));
            /* (a) a register snapshot when due; it reads the whole guest
               state, which is in memory at a block entry */
            IRTemp ic = load64(sbOut, &g_icount);
            IRTemp due = load64(sbOut, &g_next_snap);
            IRTemp take = newIRTemp(sbOut->tyenv, Ity_I1);
            addStmtToIRSB(sbOut, IRStmt_WrTmp(take, IRExpr_Binop(
               Iop_CmpLE64U, IRExpr_RdTmp(due), IRExpr_RdTmp(ic))));
            IRDirty* snap = unsafeIRDirty_0_N(
               1, "omni_snapshot", VG_(fnptr_to_fnentry)(&omni_snapshot),
               mkIRExprVec_1(mk64((ULong)closure->nraddr)));
            snap->guard = IRExpr_RdTmp(take);
            snap->nFxState = 1;
            snap->fxState[0].fx = Ifx_Read;
            snap->fxState[0].offset = 0;
            snap->fxState[0].size = sizeof(VexGuestAMD64State);
            snap->fxState[0].nRepeats = 0;
            snap->fxState[0].repeatLen = 0;
            addStmtToIRSB(sbOut, IRStmt_Dirty(snap));
         }
         if (k == 1 && (nsites > 0 || clo_every_block)) {
            /* (b) flush if past the soft limit */
            IRTemp p0 = load64(sbOut, &g_ptr);
            IRTemp over = newIRTemp(sbOut->tyenv, Ity_I1);
            addStmtToIRSB(sbOut, IRStmt_WrTmp(over, IRExpr_Binop(
               Iop_CmpLT64U, mk64((ULong)(HWord)g_soft), IRExpr_RdTmp(p0))));
            IRDirty* d = unsafeIRDirty_0_N(
               0, "omni_flush", VG_(fnptr_to_fnentry)(&omni_flush),
               mkIRExprVec_0());
            d->guard = IRExpr_RdTmp(over);
            addStmtToIRSB(sbOut, IRStmt_Dirty(d));
            /* (c) block marker; g_icount is still the count at entry.
               Every-block streams carry the time since the last BLOCK
               word or TIME record: a loop's words then repeat, which zstd
               keeps small (absolute low bits never repeat). */
            IRTemp ic = load64(sbOut, &g_icount);
            IRTemp low;
            if (clo_every_block) {
               IRTemp last = load64(sbOut, &g_last_block_time);
               IRTemp delta = binop64(sbOut, Iop_Sub64, IRExpr_RdTmp(ic), IRExpr_RdTmp(last));
               low = binop64(sbOut, Iop_And64, IRExpr_RdTmp(delta), mk64(OMNI_BLOCK_TIME_MASK));
               addStmtToIRSB(sbOut, IRStmt_Store(Iend_LE, mk64((ULong)(HWord)&g_last_block_time),
                                                 IRExpr_RdTmp(ic)));
            } else {
               low = binop64(sbOut, Iop_And64, IRExpr_RdTmp(ic), mk64(OMNI_BLOCK_TIME_MASK));
            }
            IRTemp word = binop64(
               sbOut, Iop_Or64, IRExpr_RdTmp(low),
               mk64(OMNI_TAG_BIT | (OMNI_KIND_BLOCK << OMNI_KIND_SHIFT) |
                    ((ULong)block_id << OMNI_BLOCK_ID_SHIFT)));
            IRTemp p = load64(sbOut, &g_ptr);
            addStmtToIRSB(sbOut, IRStmt_Store(Iend_LE, IRExpr_RdTmp(p),
                                              IRExpr_RdTmp(word)));
            ptr = binop64(sbOut, Iop_Add64, IRExpr_RdTmp(p), mk64(8));
            addStmtToIRSB(sbOut, IRStmt_Store(Iend_LE,
                                              mk64((ULong)(HWord)&g_ptr),
                                              IRExpr_RdTmp(ptr)));
            /* (d) a function's entry: rsp before its first instruction */
            if (is_entry) {
               tl_assert(site < nsites && g_sites[site].kind == OMNI_SITE_ENTRY);
               site++;
               log_word(sbOut, &ptr,
                        IRExpr_Get(__builtin_offsetof(VexGuestAMD64State, guest_RSP), Ity_I64));
            }
         }
         break;

      case Ist_Store: {
         addStmtToIRSB(sbOut, st);
         IRExpr* addr = st->Ist.Store.addr;
         IRExpr* data = st->Ist.Store.data;
         UInt size = sizeofIRType(typeOfIRExpr(sbIn->tyenv, data));
         if (site < nsites && g_sites[site].kind == OMNI_SITE_STORE &&
             g_sites[site].offset == k) {
            tl_assert(g_sites[site].size == size);
            site++;
            if (ptr == IRTemp_INVALID)
               ptr = load64(sbOut, &g_ptr);
            addStmtToIRSB(sbOut, IRStmt_Store(Iend_LE, IRExpr_RdTmp(ptr), addr));
            IRTemp pd = binop64(sbOut, Iop_Add64, IRExpr_RdTmp(ptr), mk64(8));
            addStmtToIRSB(sbOut, IRStmt_Store(Iend_LE, IRExpr_RdTmp(pd), data));
            ptr = binop64(sbOut, Iop_Add64, IRExpr_RdTmp(ptr), mk64(8 + size));
            addStmtToIRSB(sbOut, IRStmt_Store(Iend_LE,
                                              mk64((ULong)(HWord)&g_ptr),
                                              IRExpr_RdTmp(ptr)));
         } else {
            g_stats.helper_sites++;
            add_log_write(sbOut, k - flushed, pc, addr, size, NULL);
            ptr = IRTemp_INVALID;
         }
         break;
      }

      case Ist_StoreG: {
         const IRStoreG* sg = st->Ist.StoreG.details;
         addStmtToIRSB(sbOut, st);
         UInt size = sizeofIRType(typeOfIRExpr(sbIn->tyenv, sg->data));
         add_log_write(sbOut, k - flushed, pc, sg->addr, size, sg->guard);
         ptr = IRTemp_INVALID;
         break;
      }

      case Ist_CAS: {
         const IRCAS* cas = st->Ist.CAS.details;
         addStmtToIRSB(sbOut, st);
         IRType ty = typeOfIRExpr(sbIn->tyenv, cas->dataLo);
         UInt size = sizeofIRType(ty) * (cas->dataHi ? 2 : 1);
         IRExpr* ok = cas_success(sbOut, cas, ty);
         add_log_write(sbOut, k - flushed, pc, cas->addr, size, ok);
         ptr = IRTemp_INVALID;
         break;
      }

      case Ist_LLSC:
         addStmtToIRSB(sbOut, st);
         tl_assert(site < nsites && g_sites[site].kind == OMNI_SITE_VALUE);
         site++;
         log_value(sbOut, &ptr, IRExpr_RdTmp(st->Ist.LLSC.result),
                   typeOfIRTemp(sbIn->tyenv, st->Ist.LLSC.result));
         if (st->Ist.LLSC.storedata != NULL) {
            UInt size = sizeofIRType(typeOfIRExpr(sbIn->tyenv,
                                                  st->Ist.LLSC.storedata));
            add_log_write(sbOut, k - flushed, pc, st->Ist.LLSC.addr, size,
                          IRExpr_RdTmp(st->Ist.LLSC.result));
            ptr = IRTemp_INVALID;
         }
         break;

      case Ist_Dirty: {
         const IRDirty* d = st->Ist.Dirty.details;
         addStmtToIRSB(sbOut, st);
         ptr = IRTemp_INVALID;   /* the helper may have flushed */
         if (d->tmp != IRTemp_INVALID) {
            tl_assert(site < nsites && g_sites[site].kind == OMNI_SITE_VALUE);
            site++;
            log_value(sbOut, &ptr, IRExpr_RdTmp(d->tmp), typeOfIRTemp(sbIn->tyenv, d->tmp));
         }
         FOR_EACH_FX_PIECE(d, {
            tl_assert(site < nsites && g_sites[site].kind == OMNI_SITE_VALUE);
            site++;
            log_value(sbOut, &ptr, IRExpr_Get((Int)offset, int_type(size)), int_type(size));
         })
         if ((d->mFx == Ifx_Write || d->mFx == Ifx_Modify) && d->mSize > 0) {
            add_log_write(sbOut, k - flushed, pc, d->mAddr, d->mSize, d->guard);
            ptr = IRTemp_INVALID;
         }
         break;
      }

      case Ist_Exit:
         add_icount(sbOut, k - flushed);
         flushed = k;
         /* Leaving the block: no fault can be in it any more. */
         addStmtToIRSB(sbOut, IRStmt_StoreG(Iend_LE, mk64((ULong)(HWord)&g_cur_block), mk64(0),
                                            st->Ist.Exit.guard));
         if (!plain_jump(st->Ist.Exit.jk))
            addStmtToIRSB(sbOut, IRStmt_StoreG(Iend_LE, mk64((ULong)(HWord)&g_next_snap),
                                               mk64(0), st->Ist.Exit.guard));
         addStmtToIRSB(sbOut, st);
         break;

      default:
         ppIRStmt(st);
         VG_(tool_panic)("omni: unhandled IRStmt");
      }
   }
   if (sbIn->jumpkind == Ijk_Call || sbIn->jumpkind == Ijk_Ret || jump_to_entry) {
      tl_assert(site < nsites && (g_sites[site].kind == OMNI_SITE_CALL ||
                                  g_sites[site].kind == OMNI_SITE_RET ||
                                  g_sites[site].kind == OMNI_SITE_JUMP));
      site++;
      log_two_words(sbOut, &ptr,
                    IRExpr_Get(__builtin_offsetof(VexGuestAMD64State, guest_RSP), Ity_I64),
                    sbIn->next);
   }
   tl_assert(site == nsites);
   add_icount(sbOut, k - flushed);
   addStmtToIRSB(sbOut, IRStmt_Store(Iend_LE, mk64((ULong)(HWord)&g_cur_block), mk64(0)));
   if (!plain_jump(sbIn->jumpkind))
      addStmtToIRSB(sbOut, IRStmt_Store(Iend_LE, mk64((ULong)(HWord)&g_next_snap), mk64(0)));
   return sbOut;
}
