/* omni tool: a superblock's definition in the stream (BLOCK_DEF).
 *
 * Owns the site table of the superblock being instrumented (g_sites, which
 * the instrumenter fills with add_site in the order its generated code
 * writes them) and the IR encoder (stream.h's OMNI_IR encoding of the block
 * as Valgrind gave it, before instrumentation). Both are scratch for one
 * translation at a time: translations run under Valgrind's big lock, one
 * after another.
 */

#include "omni_tool.h"

SiteDef g_sites[OMNI_MAX_SITES];

/* IR serialization scratch (stream.h's OMNI_IR encoding). */
#define OMNI_IR_MAX (1u << 20)
static UChar* g_ir = NULL;
static SizeT g_ir_len = 0;

static void ir_byte(UInt b)
{
   if (g_ir_len >= OMNI_IR_MAX)
      VG_(tool_panic)("omni: a superblock's IR is larger than the encoder's buffer");
   g_ir[g_ir_len++] = (UChar)b;
}

static void ir_bytes(const void* p, SizeT n)
{
   for (SizeT i = 0; i < n; i++)
      ir_byte(((const UChar*)p)[i]);
}

static void ir_uleb(ULong v)
{
   do {
      UInt b = (UInt)(v & 0x7f);
      v >>= 7;
      ir_byte(v ? (b | 0x80) : b);
   } while (v);
}

static void ir_sleb(Long v)
{
   for (;;) {
      UInt b = (UInt)(v & 0x7f);
      v >>= 7;   /* arithmetic shift */
      if ((v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40))) {
         ir_byte(b);
         return;
      }
      ir_byte(b | 0x80);
   }
}

static void ir_str(const HChar* s)
{
   SizeT n = VG_(strlen)(s);
   ir_uleb(n);
   ir_bytes(s, n);
}

static void ir_type(IRType ty) { ir_byte((UInt)(ty - Ity_INVALID)); }

static void ir_const(const IRConst* c)
{
   ir_byte((UInt)(c->tag - Ico_U1));
   switch (c->tag) {
   case Ico_U1: ir_byte(c->Ico.U1 ? 1 : 0); break;
   case Ico_U8: ir_byte(c->Ico.U8); break;
   case Ico_U16: ir_bytes(&c->Ico.U16, 2); break;
   case Ico_U32: ir_bytes(&c->Ico.U32, 4); break;
   case Ico_U64: ir_bytes(&c->Ico.U64, 8); break;
   case Ico_U128: ir_bytes(&c->Ico.U128, 2); break;
   case Ico_F32: ir_bytes(&c->Ico.F32, 4); break;
   case Ico_F32i: ir_bytes(&c->Ico.F32i, 4); break;
   case Ico_F64: ir_bytes(&c->Ico.F64, 8); break;
   case Ico_F64i: ir_bytes(&c->Ico.F64i, 8); break;
   case Ico_V128: ir_bytes(&c->Ico.V128, 2); break;
   case Ico_V256: ir_bytes(&c->Ico.V256, 4); break;
   default: VG_(tool_panic)("omni: unhandled IRConst");
   }
}

static void ir_descr(const IRRegArray* d)
{
   ir_uleb((ULong)d->base);
   ir_type(d->elemTy);
   ir_uleb((ULong)d->nElems);
}

static void ir_expr(const IRExpr* e)
{
   ir_byte((UInt)(e->tag - Iex_Binder));
   switch (e->tag) {
   case Iex_Get:
      ir_uleb((ULong)e->Iex.Get.offset);
      ir_type(e->Iex.Get.ty);
      break;
   case Iex_GetI:
      ir_descr(e->Iex.GetI.descr);
      ir_expr(e->Iex.GetI.ix);
      ir_sleb(e->Iex.GetI.bias);
      break;
   case Iex_RdTmp:
      ir_uleb(e->Iex.RdTmp.tmp);
      break;
   case Iex_Qop:
      ir_uleb((ULong)(e->Iex.Qop.details->op - Iop_INVALID));
      ir_expr(e->Iex.Qop.details->arg1);
      ir_expr(e->Iex.Qop.details->arg2);
      ir_expr(e->Iex.Qop.details->arg3);
      ir_expr(e->Iex.Qop.details->arg4);
      break;
   case Iex_Triop:
      ir_uleb((ULong)(e->Iex.Triop.details->op - Iop_INVALID));
      ir_expr(e->Iex.Triop.details->arg1);
      ir_expr(e->Iex.Triop.details->arg2);
      ir_expr(e->Iex.Triop.details->arg3);
      break;
   case Iex_Binop:
      ir_uleb((ULong)(e->Iex.Binop.op - Iop_INVALID));
      ir_expr(e->Iex.Binop.arg1);
      ir_expr(e->Iex.Binop.arg2);
      break;
   case Iex_Unop:
      ir_uleb((ULong)(e->Iex.Unop.op - Iop_INVALID));
      ir_expr(e->Iex.Unop.arg);
      break;
   case Iex_Load:
      ir_byte((UInt)(e->Iex.Load.end - Iend_LE));
      ir_type(e->Iex.Load.ty);
      ir_expr(e->Iex.Load.addr);
      break;
   case Iex_Const:
      ir_const(e->Iex.Const.con);
      break;
   case Iex_ITE:
      ir_expr(e->Iex.ITE.cond);
      ir_expr(e->Iex.ITE.iftrue);
      ir_expr(e->Iex.ITE.iffalse);
      break;
   case Iex_CCall: {
      UInt n = 0;
      while (e->Iex.CCall.args[n]) n++;
      ir_str(e->Iex.CCall.cee->name);
      ir_type(e->Iex.CCall.retty);
      ir_uleb(n);
      for (UInt i = 0; i < n; i++)
         ir_expr(e->Iex.CCall.args[i]);
      break;
   }
   case Iex_VECRET:
   case Iex_GSPTR:
      break;
   default:
      ppIRExpr(e);
      VG_(tool_panic)("omni: unhandled IRExpr");
   }
}

static void ir_stmt(const IRStmt* st)
{
   ir_byte((UInt)(st->tag - Ist_NoOp));
   switch (st->tag) {
   case Ist_NoOp:
      break;
   case Ist_IMark:
      ir_bytes(&st->Ist.IMark.addr, 8);
      ir_uleb(st->Ist.IMark.len);
      ir_byte(st->Ist.IMark.delta);
      break;
   case Ist_AbiHint:
      ir_expr(st->Ist.AbiHint.base);
      ir_sleb(st->Ist.AbiHint.len);
      ir_expr(st->Ist.AbiHint.nia);
      break;
   case Ist_Put:
      ir_uleb((ULong)st->Ist.Put.offset);
      ir_expr(st->Ist.Put.data);
      break;
   case Ist_PutI:
      ir_descr(st->Ist.PutI.details->descr);
      ir_expr(st->Ist.PutI.details->ix);
      ir_sleb(st->Ist.PutI.details->bias);
      ir_expr(st->Ist.PutI.details->data);
      break;
   case Ist_WrTmp:
      ir_uleb(st->Ist.WrTmp.tmp);
      ir_expr(st->Ist.WrTmp.data);
      break;
   case Ist_Store:
      ir_byte((UInt)(st->Ist.Store.end - Iend_LE));
      ir_expr(st->Ist.Store.addr);
      ir_expr(st->Ist.Store.data);
      break;
   case Ist_StoreG: {
      const IRStoreG* sg = st->Ist.StoreG.details;
      ir_byte((UInt)(sg->end - Iend_LE));
      ir_expr(sg->addr);
      ir_expr(sg->data);
      ir_expr(sg->guard);
      break;
   }
   case Ist_LoadG: {
      const IRLoadG* lg = st->Ist.LoadG.details;
      ir_byte((UInt)(lg->end - Iend_LE));
      ir_byte((UInt)(lg->cvt - ILGop_INVALID));
      ir_uleb(lg->dst);
      ir_expr(lg->addr);
      ir_expr(lg->alt);
      ir_expr(lg->guard);
      break;
   }
   case Ist_CAS: {
      const IRCAS* c = st->Ist.CAS.details;
      ir_uleb(c->oldHi == IRTemp_INVALID ? 0 : (ULong)c->oldHi + 1);
      ir_uleb(c->oldLo);
      ir_byte((UInt)(c->end - Iend_LE));
      ir_expr(c->addr);
      ir_byte(c->dataHi ? 1 : 0);
      if (c->dataHi) ir_expr(c->expdHi);
      ir_expr(c->expdLo);
      if (c->dataHi) ir_expr(c->dataHi);
      ir_expr(c->dataLo);
      break;
   }
   case Ist_LLSC:
      ir_byte((UInt)(st->Ist.LLSC.end - Iend_LE));
      ir_uleb(st->Ist.LLSC.result);
      ir_expr(st->Ist.LLSC.addr);
      ir_byte(st->Ist.LLSC.storedata ? 1 : 0);
      if (st->Ist.LLSC.storedata) ir_expr(st->Ist.LLSC.storedata);
      break;
   case Ist_Dirty: {
      const IRDirty* d = st->Ist.Dirty.details;
      UInt n = 0;
      while (d->args[n]) n++;
      ir_expr(d->guard);
      ir_str(d->cee->name);
      ir_uleb(n);
      for (UInt i = 0; i < n; i++)
         ir_expr(d->args[i]);
      ir_uleb(d->tmp == IRTemp_INVALID ? 0 : (ULong)d->tmp + 1);
      ir_byte((UInt)(d->mFx - Ifx_None));
      if (d->mFx != Ifx_None) {
         ir_expr(d->mAddr);
         ir_uleb((ULong)d->mSize);
      }
      ir_uleb((ULong)d->nFxState);
      for (Int i = 0; i < d->nFxState; i++) {
         ir_byte((UInt)(d->fxState[i].fx - Ifx_None));
         ir_uleb(d->fxState[i].offset);
         ir_uleb(d->fxState[i].size);
         ir_uleb(d->fxState[i].nRepeats);
         ir_uleb(d->fxState[i].repeatLen);
      }
      break;
   }
   case Ist_MBE:
      ir_byte((UInt)(st->Ist.MBE.event - Imbe_Fence));
      break;
   case Ist_Exit:
      ir_expr(st->Ist.Exit.guard);
      ir_const(st->Ist.Exit.dst);
      ir_byte((UInt)(st->Ist.Exit.jk - Ijk_INVALID));
      ir_uleb((ULong)st->Ist.Exit.offsIP);
      break;
   default:
      ppIRStmt(st);
      VG_(tool_panic)("omni: unhandled IRStmt");
   }
}

void ir_block(const IRSB* sb)
{
   g_ir_len = 0;
   ir_uleb((ULong)sb->tyenv->types_used);
   for (Int i = 0; i < sb->tyenv->types_used; i++)
      ir_type(sb->tyenv->types[i]);
   ir_uleb((ULong)sb->stmts_used);
   for (Int i = 0; i < sb->stmts_used; i++)
      ir_stmt(sb->stmts[i]);
   ir_expr(sb->next);
   ir_byte((UInt)(sb->jumpkind - Ijk_INVALID));
   ir_uleb((ULong)sb->offsIP);
}

void emit_block_def(UInt id, UInt nsites, ULong guest_addr)
{
   SizeT n = OMNI_WORD_BYTES + OMNI_BLOCK_DEF_FIXED_BYTES +
             (SizeT)nsites * OMNI_SITE_DEF_BYTES + g_ir_len;
   UChar* p = ensure(n);
   put_u64(p, OMNI_EXT_WORD(OMNI_EXT_BLOCK_DEF, n - OMNI_WORD_BYTES));
   put_u32(p + 8, id);
   put_u32(p + 12, nsites);
   put_u64(p + 16, guest_addr);
   put_u64(p + 24, g_icount);
   put_u32(p + 32, (UInt)g_ir_len);
   put_u32(p + 36, 0);
   p += OMNI_WORD_BYTES + OMNI_BLOCK_DEF_FIXED_BYTES;
   for (UInt i = 0; i < nsites; i++, p += OMNI_SITE_DEF_BYTES) {
      put_u64(p, g_sites[i].pc);
      put_u32(p + 8, g_sites[i].offset);
      put_u32(p + 12, g_sites[i].size | (g_sites[i].kind << OMNI_SITE_KIND_SHIFT));
   }
   VG_(memcpy)(p, g_ir, g_ir_len);
   g_ptr = p + g_ir_len;
   g_stats.ir_bytes += g_ir_len;
}

void add_site(UInt* nsites, ULong pc, UInt offset, UInt size, UInt kind)
{
   tl_assert(*nsites < OMNI_MAX_SITES);
   g_sites[*nsites].pc = pc;
   g_sites[*nsites].offset = offset;
   g_sites[*nsites].size = size;
   g_sites[*nsites].kind = kind;
   (*nsites)++;
}

void serialize_init(void)
{
   g_ir = VG_(malloc)("omni.ir", OMNI_IR_MAX);
}
