/* Which VEX IR operations and clean helper calls omni's replayer evaluates
 * itself. The recorder logs the value of every IR temporary computed by any
 * other operation (or helper), so this list is part of the stream format:
 * changing it must bump OMNI_STREAM_VERSION. Plain C: the Valgrind tool
 * includes it too. Include libvex_ir.h first.
 *
 * Everything listed here is evaluated bit-exactly as Valgrind 3.19's amd64
 * back end computes it (libs/replay/src/ops.cc). Left out on purpose:
 * operations whose result depends on the CPU model (reciprocal estimates,
 * x87 transcendentals), VEX's software fused multiply-add, half-precision
 * conversions, and anything the amd64 back end cannot compile anyway. */
#ifndef OMNI_TRACE_REPLAY_OPS_H
#define OMNI_TRACE_REPLAY_OPS_H

static inline int omni_op_supported(IROp op)
{
   switch (op) {
   /* ---- integer arithmetic and logic ---- */
   case Iop_Add8: case Iop_Add16: case Iop_Add32: case Iop_Add64:
   case Iop_Sub8: case Iop_Sub16: case Iop_Sub32: case Iop_Sub64:
   case Iop_Mul8: case Iop_Mul16: case Iop_Mul32: case Iop_Mul64:
   case Iop_Or8: case Iop_Or16: case Iop_Or32: case Iop_Or64:
   case Iop_And8: case Iop_And16: case Iop_And32: case Iop_And64:
   case Iop_Xor8: case Iop_Xor16: case Iop_Xor32: case Iop_Xor64:
   case Iop_Shl8: case Iop_Shl16: case Iop_Shl32: case Iop_Shl64:
   case Iop_Shr8: case Iop_Shr16: case Iop_Shr32: case Iop_Shr64:
   case Iop_Sar8: case Iop_Sar16: case Iop_Sar32: case Iop_Sar64:
   case Iop_CmpEQ8: case Iop_CmpEQ16: case Iop_CmpEQ32: case Iop_CmpEQ64:
   case Iop_CmpNE8: case Iop_CmpNE16: case Iop_CmpNE32: case Iop_CmpNE64:
   case Iop_Not8: case Iop_Not16: case Iop_Not32: case Iop_Not64:
   case Iop_CasCmpEQ8: case Iop_CasCmpEQ16:
   case Iop_CasCmpEQ32: case Iop_CasCmpEQ64:
   case Iop_CasCmpNE8: case Iop_CasCmpNE16:
   case Iop_CasCmpNE32: case Iop_CasCmpNE64:
   case Iop_ExpCmpNE8: case Iop_ExpCmpNE16:
   case Iop_ExpCmpNE32: case Iop_ExpCmpNE64:
   case Iop_MullS8: case Iop_MullS16: case Iop_MullS32: case Iop_MullS64:
   case Iop_MullU8: case Iop_MullU16: case Iop_MullU32: case Iop_MullU64:
   case Iop_Clz64: case Iop_Clz32: case Iop_Ctz64: case Iop_Ctz32:
   case Iop_ClzNat64: case Iop_ClzNat32: case Iop_CtzNat64: case Iop_CtzNat32:
   case Iop_PopCount64: case Iop_PopCount32:
   case Iop_CmpLT32S: case Iop_CmpLT64S: case Iop_CmpLE32S: case Iop_CmpLE64S:
   case Iop_CmpLT32U: case Iop_CmpLT64U: case Iop_CmpLE32U: case Iop_CmpLE64U:
   case Iop_CmpNEZ8: case Iop_CmpNEZ16: case Iop_CmpNEZ32: case Iop_CmpNEZ64:
   case Iop_CmpwNEZ32: case Iop_CmpwNEZ64:
   case Iop_Left8: case Iop_Left16: case Iop_Left32: case Iop_Left64:
   case Iop_Max32U:
   case Iop_CmpORD32U: case Iop_CmpORD64U:
   case Iop_CmpORD32S: case Iop_CmpORD64S:
   case Iop_DivU32: case Iop_DivS32: case Iop_DivU64: case Iop_DivS64:
   case Iop_DivModU64to32: case Iop_DivModS64to32:
   case Iop_DivModU128to64: case Iop_DivModS128to64:
   case Iop_DivModU64to64: case Iop_DivModS64to64:
   case Iop_DivModU32to32: case Iop_DivModS32to32:
   /* ---- integer conversions ---- */
   case Iop_8Uto16: case Iop_8Uto32: case Iop_8Uto64:
   case Iop_16Uto32: case Iop_16Uto64: case Iop_32Uto64:
   case Iop_8Sto16: case Iop_8Sto32: case Iop_8Sto64:
   case Iop_16Sto32: case Iop_16Sto64: case Iop_32Sto64:
   case Iop_64to8: case Iop_32to8: case Iop_64to16:
   case Iop_16to8: case Iop_16HIto8: case Iop_8HLto16:
   case Iop_32to16: case Iop_32HIto16: case Iop_16HLto32:
   case Iop_64to32: case Iop_64HIto32: case Iop_32HLto64:
   case Iop_128to64: case Iop_128HIto64: case Iop_64HLto128:
   case Iop_Not1: case Iop_And1: case Iop_Or1:
   case Iop_32to1: case Iop_64to1:
   case Iop_1Uto8: case Iop_1Uto32: case Iop_1Uto64:
   case Iop_1Sto8: case Iop_1Sto16: case Iop_1Sto32: case Iop_1Sto64:
   case Iop_Reverse8sIn32_x1: case Iop_Reverse8sIn64_x1:
   case Iop_Reverse8sIn16_x4: case Iop_Reverse8sIn32_x2:
   case Iop_Reverse16sIn32_x2: case Iop_Reverse16sIn64_x1:
   case Iop_Reverse32sIn64_x1:
   /* ---- scalar floating point ---- */
   case Iop_AddF64: case Iop_SubF64: case Iop_MulF64: case Iop_DivF64:
   case Iop_AddF32: case Iop_SubF32: case Iop_MulF32: case Iop_DivF32:
   case Iop_SqrtF64: case Iop_SqrtF32:
   case Iop_NegF64: case Iop_AbsF64: case Iop_NegF32: case Iop_AbsF32:
   case Iop_CmpF64: case Iop_CmpF32:
   case Iop_F64toI32S: case Iop_F64toI64S:
   case Iop_I32StoF64: case Iop_I64StoF64:
   case Iop_I32StoF32: case Iop_I64StoF32:
   case Iop_F32toF64: case Iop_F64toF32:
   case Iop_RoundF64toInt: case Iop_RoundF32toInt:
   case Iop_ReinterpF64asI64: case Iop_ReinterpI64asF64:
   case Iop_ReinterpF32asI32: case Iop_ReinterpI32asF32:
   case Iop_ReinterpV128asI128: case Iop_ReinterpI128asV128:
   /* ---- 64-bit SIMD (MMX) ---- */
   case Iop_Add8x8: case Iop_Add16x4: case Iop_Add32x2:
   case Iop_Sub8x8: case Iop_Sub16x4: case Iop_Sub32x2:
   case Iop_QAdd8Ux8: case Iop_QAdd16Ux4: case Iop_QAdd8Sx8: case Iop_QAdd16Sx4:
   case Iop_QSub8Ux8: case Iop_QSub16Ux4: case Iop_QSub8Sx8: case Iop_QSub16Sx4:
   case Iop_Mul16x4: case Iop_Mul32x2: case Iop_MulHi16Ux4: case Iop_MulHi16Sx4:
   case Iop_Avg8Ux8: case Iop_Avg16Ux4:
   case Iop_Max8Ux8: case Iop_Min8Ux8: case Iop_Max16Sx4: case Iop_Min16Sx4:
   case Iop_CmpEQ8x8: case Iop_CmpEQ16x4: case Iop_CmpEQ32x2:
   case Iop_CmpGT8Sx8: case Iop_CmpGT16Sx4: case Iop_CmpGT32Sx2:
   case Iop_CmpNEZ8x8: case Iop_CmpNEZ16x4: case Iop_CmpNEZ32x2:
   case Iop_ShlN16x4: case Iop_ShlN32x2: case Iop_ShrN16x4: case Iop_ShrN32x2:
   case Iop_SarN8x8: case Iop_SarN16x4: case Iop_SarN32x2:
   case Iop_InterleaveHI8x8: case Iop_InterleaveHI16x4: case Iop_InterleaveHI32x2:
   case Iop_InterleaveLO8x8: case Iop_InterleaveLO16x4: case Iop_InterleaveLO32x2:
   case Iop_CatOddLanes16x4: case Iop_CatEvenLanes16x4:
   case Iop_QNarrowBin16Sto8Ux8: case Iop_QNarrowBin16Sto8Sx8:
   case Iop_QNarrowBin32Sto16Sx4:
   case Iop_NarrowBin16to8x8: case Iop_NarrowBin32to16x4:
   case Iop_PermOrZero8x8: case Iop_GetMSBs8x8:
   /* ---- 128-bit SIMD integer ---- */
   case Iop_V128to64: case Iop_V128HIto64: case Iop_64HLtoV128:
   case Iop_64UtoV128: case Iop_SetV128lo64:
   case Iop_ZeroHI64ofV128: case Iop_ZeroHI96ofV128:
   case Iop_ZeroHI112ofV128: case Iop_ZeroHI120ofV128:
   case Iop_32UtoV128: case Iop_V128to32: case Iop_SetV128lo32:
   case Iop_NotV128: case Iop_AndV128: case Iop_OrV128: case Iop_XorV128:
   case Iop_CmpNEZ8x16: case Iop_CmpNEZ16x8: case Iop_CmpNEZ32x4:
   case Iop_CmpNEZ64x2:
   case Iop_Add8x16: case Iop_Add16x8: case Iop_Add32x4: case Iop_Add64x2:
   case Iop_Sub8x16: case Iop_Sub16x8: case Iop_Sub32x4: case Iop_Sub64x2:
   case Iop_QAdd8Ux16: case Iop_QAdd16Ux8: case Iop_QAdd8Sx16: case Iop_QAdd16Sx8:
   case Iop_QSub8Ux16: case Iop_QSub16Ux8: case Iop_QSub8Sx16: case Iop_QSub16Sx8:
   case Iop_Mul16x8: case Iop_Mul32x4:
   case Iop_MulHi16Ux8: case Iop_MulHi16Sx8:
   case Iop_Avg8Ux16: case Iop_Avg16Ux8:
   case Iop_Max8Sx16: case Iop_Max16Sx8: case Iop_Max32Sx4:
   case Iop_Max8Ux16: case Iop_Max16Ux8: case Iop_Max32Ux4:
   case Iop_Min8Sx16: case Iop_Min16Sx8: case Iop_Min32Sx4:
   case Iop_Min8Ux16: case Iop_Min16Ux8: case Iop_Min32Ux4:
   case Iop_CmpEQ8x16: case Iop_CmpEQ16x8: case Iop_CmpEQ32x4: case Iop_CmpEQ64x2:
   case Iop_CmpGT8Sx16: case Iop_CmpGT16Sx8: case Iop_CmpGT32Sx4:
   case Iop_CmpGT64Sx2:
   case Iop_ShlN16x8: case Iop_ShlN32x4: case Iop_ShlN64x2:
   case Iop_ShrN16x8: case Iop_ShrN32x4: case Iop_ShrN64x2:
   case Iop_SarN8x16: case Iop_SarN16x8: case Iop_SarN32x4: case Iop_SarN64x2:
   case Iop_QNarrowBin16Sto8Ux16: case Iop_QNarrowBin32Sto16Ux8:
   case Iop_QNarrowBin16Sto8Sx16: case Iop_QNarrowBin32Sto16Sx8:
   case Iop_NarrowBin16to8x16: case Iop_NarrowBin32to16x8:
   case Iop_InterleaveHI8x16: case Iop_InterleaveHI16x8:
   case Iop_InterleaveHI32x4: case Iop_InterleaveHI64x2:
   case Iop_InterleaveLO8x16: case Iop_InterleaveLO16x8:
   case Iop_InterleaveLO32x4: case Iop_InterleaveLO64x2:
   case Iop_PermOrZero8x16: case Iop_Perm32x4:
   case Iop_PwExtUSMulQAdd8x16:
   case Iop_GetMSBs8x16:
   /* ---- 128-bit SIMD floating point ---- */
   case Iop_Add32Fx4: case Iop_Sub32Fx4: case Iop_Mul32Fx4: case Iop_Div32Fx4:
   case Iop_Max32Fx4: case Iop_Min32Fx4:
   case Iop_CmpEQ32Fx4: case Iop_CmpLT32Fx4: case Iop_CmpLE32Fx4:
   case Iop_CmpUN32Fx4:
   case Iop_Sqrt32Fx4:
   case Iop_I32StoF32x4: case Iop_F32toI32Sx4:
   case Iop_Add32F0x4: case Iop_Sub32F0x4: case Iop_Mul32F0x4: case Iop_Div32F0x4:
   case Iop_Max32F0x4: case Iop_Min32F0x4:
   case Iop_CmpEQ32F0x4: case Iop_CmpLT32F0x4: case Iop_CmpLE32F0x4:
   case Iop_CmpUN32F0x4:
   case Iop_Sqrt32F0x4:
   case Iop_Add64Fx2: case Iop_Sub64Fx2: case Iop_Mul64Fx2: case Iop_Div64Fx2:
   case Iop_Max64Fx2: case Iop_Min64Fx2:
   case Iop_CmpEQ64Fx2: case Iop_CmpLT64Fx2: case Iop_CmpLE64Fx2:
   case Iop_CmpUN64Fx2:
   case Iop_Sqrt64Fx2:
   case Iop_Add64F0x2: case Iop_Sub64F0x2: case Iop_Mul64F0x2: case Iop_Div64F0x2:
   case Iop_Max64F0x2: case Iop_Min64F0x2:
   case Iop_CmpEQ64F0x2: case Iop_CmpLT64F0x2: case Iop_CmpLE64F0x2:
   case Iop_CmpUN64F0x2:
   case Iop_Sqrt64F0x2:
   /* ---- 256-bit SIMD ---- */
   case Iop_V256to64_0: case Iop_V256to64_1:
   case Iop_V256to64_2: case Iop_V256to64_3:
   case Iop_64x4toV256: case Iop_V256toV128_0: case Iop_V256toV128_1:
   case Iop_V128HLtoV256:
   case Iop_AndV256: case Iop_OrV256: case Iop_XorV256: case Iop_NotV256:
   case Iop_CmpNEZ8x32: case Iop_CmpNEZ16x16: case Iop_CmpNEZ32x8:
   case Iop_CmpNEZ64x4:
   case Iop_Add8x32: case Iop_Add16x16: case Iop_Add32x8: case Iop_Add64x4:
   case Iop_Sub8x32: case Iop_Sub16x16: case Iop_Sub32x8: case Iop_Sub64x4:
   case Iop_CmpEQ8x32: case Iop_CmpEQ16x16: case Iop_CmpEQ32x8: case Iop_CmpEQ64x4:
   case Iop_CmpGT8Sx32: case Iop_CmpGT16Sx16: case Iop_CmpGT32Sx8:
   case Iop_CmpGT64Sx4:
   case Iop_ShlN16x16: case Iop_ShlN32x8: case Iop_ShlN64x4:
   case Iop_ShrN16x16: case Iop_ShrN32x8: case Iop_ShrN64x4:
   case Iop_SarN16x16: case Iop_SarN32x8:
   case Iop_Max8Sx32: case Iop_Max16Sx16: case Iop_Max32Sx8:
   case Iop_Max8Ux32: case Iop_Max16Ux16: case Iop_Max32Ux8:
   case Iop_Min8Sx32: case Iop_Min16Sx16: case Iop_Min32Sx8:
   case Iop_Min8Ux32: case Iop_Min16Ux16: case Iop_Min32Ux8:
   case Iop_Mul16x16: case Iop_Mul32x8:
   case Iop_MulHi16Ux16: case Iop_MulHi16Sx16:
   case Iop_QAdd8Ux32: case Iop_QAdd16Ux16: case Iop_QAdd8Sx32: case Iop_QAdd16Sx16:
   case Iop_QSub8Ux32: case Iop_QSub16Ux16: case Iop_QSub8Sx32: case Iop_QSub16Sx16:
   case Iop_Avg8Ux32: case Iop_Avg16Ux16:
   case Iop_Perm32x8:
   case Iop_Add64Fx4: case Iop_Sub64Fx4: case Iop_Mul64Fx4: case Iop_Div64Fx4:
   case Iop_Add32Fx8: case Iop_Sub32Fx8: case Iop_Mul32Fx8: case Iop_Div32Fx8:
   case Iop_Max32Fx8: case Iop_Min32Fx8: case Iop_Max64Fx4: case Iop_Min64Fx4:
   case Iop_Sqrt32Fx8: case Iop_Sqrt64Fx4:
   case Iop_I32StoF32x8: case Iop_F32toI32Sx8:
      return 1;
   default:
      return 0;
   }
}

/* s is a NUL-terminated string; lit the literal it is compared with. */
static inline int omni_name_is_(const char* s, const char* lit)
{
   while (*lit != '\0' && *s == *lit) {
      ++s;
      ++lit;
   }
   return *s == '\0' && *lit == '\0';
}

/* Clean helpers (IRCallee names) evaluated by the replayer. */
static inline int omni_ccall_supported(const char* name)
{
   return omni_name_is_(name, "amd64g_calculate_condition")
       || omni_name_is_(name, "amd64g_calculate_rflags_all")
       || omni_name_is_(name, "amd64g_calculate_rflags_c")
       || omni_name_is_(name, "amd64g_calculate_RCL")
       || omni_name_is_(name, "amd64g_calculate_RCR")
       || omni_name_is_(name, "amd64g_calculate_pext")
       || omni_name_is_(name, "amd64g_calculate_pdep")
       || omni_name_is_(name, "amd64g_calc_crc32b")
       || omni_name_is_(name, "amd64g_calc_crc32w")
       || omni_name_is_(name, "amd64g_calc_crc32l")
       || omni_name_is_(name, "amd64g_calc_crc32q")
       || omni_name_is_(name, "amd64g_create_mxcsr")
       || omni_name_is_(name, "amd64g_check_ldmxcsr")
       || omni_name_is_(name, "amd64g_create_fpucw")
       || omni_name_is_(name, "amd64g_check_fldcw");
}

#endif
