/* The raw event stream a recorder emits: the one definition, shared by the
 * Valgrind tool (C, no libc) and the C++ decoder. Any change to the encoding
 * must bump OMNI_STREAM_VERSION and add the version's entry to kStreamVersions
 * (stream_versions.h: its records, what an older version lacks, the last omni
 * commit that reads the previous one); the decoder reads the previous version
 * where the change allows it and refuses the others, naming that commit.
 *
 * The stream is a byte sequence of records, little-endian, unaligned. Every
 * record begins with a 64-bit word W:
 *
 *   W bit 63 == 0   STORE: W is the address written by the next store site of
 *                   the current block; the stored value follows, `size` bytes
 *                   in memory order, where `size` comes from that site of the
 *                   block's definition. Sites appear in their static order; a
 *                   block left by a side exit simply has no records for the
 *                   sites after it, which the next tagged record makes clear.
 *                   User-space addresses are < 2^47, so bit 63 is free.
 *
 *   W bit 63 == 1, kind = bits 62..61:
 *     OMNI_KIND_BLOCK   entry into a block (a Valgrind superblock) that has
 *                       sites, or into any block when the preamble has
 *                       OMNI_STREAM_FLAG_EVERY_BLOCK. Bits 60..36 = block id, bits 35..0
 *                       = the low 36 bits of the instruction count retired
 *                       before the block's first instruction. The decoder
 *                       rebuilds the high bits: counts never decrease, and an
 *                       OMNI_EXT_TIME record with the full count starts every
 *                       buffer the recorder flushes.
 *     OMNI_KIND_EXT     an extended record: bits 55..48 = type (OMNI_EXT_*),
 *                       bits 31..0 = payload length in bytes; the payload
 *                       follows.
 *
 * Time: instruction i (1-based, one total order over all threads, because the
 * recorder runs one thread at a time) has time i. A store site's `offset` is
 * the 1-based ordinal of its instruction within the block, so its time is the
 * block-entry count + offset. A rep-prefixed instruction counts once per
 * iteration.
 *
 * Extended records may appear between the STORE records of a block (a buffer
 * flush or a helper-logged write); only a BLOCK record changes the current
 * block.
 *
 * OMNI_EXT_EXIT's exit code is the program's exit(2) argument, or -1 when it
 * died of a signal (the launcher records the real wait status). A program
 * that execs ends its stream without an OMNI_EXT_EXIT record.
 *
 * A second recorder (e.g. one replaying an rr trace) need not use blocks at
 * all: OMNI_EXT_WRITE carries time, pc, address and bytes explicitly.
 *
 * Sites. A block's sites come in static order; each has a kind:
 *   OMNI_SITE_STORE  the STORE record above.
 *   OMNI_SITE_VALUE  a value the replayer cannot compute from the block's IR
 *                    (an IR temporary made by an operation omni_op_supported()
 *                    rejects, a dirty helper's result or the guest state it
 *                    wrote): u64 word = size (bit 63 clear), then `size`
 *                    bytes.
 *   OMNI_SITE_CALL   the block ends in a call: u64 rsp after the call (it
 *                    points at the return address), u64 call target.
 *   OMNI_SITE_RET    the block ends in a return: u64 rsp after the return,
 *                    u64 return target.
 *   OMNI_SITE_ENTRY  the block starts at a function's first instruction (by
 *                    the recorder's symbol tables; ".cold" fragments are not
 *                    functions): u64 rsp at the block's entry. Always the
 *                    block's first site, offset 0 (its time is the block
 *                    entry's: the instruction that led there, a call or a
 *                    jump); the site's pc is the block's address. Reached
 *                    without a call (a jump: tail call, PLT stub, lazy
 *                    binding), it is how the index sees those calls.
 *   OMNI_SITE_JUMP   the block ends in a direct jump to a function's first
 *                    instruction (a tail call): u64 rsp after the jump, u64
 *                    target. Indirect jumps get no site: ENTRY sees them.
 *
 * Registers. Every superblock's IR (as Valgrind executed it, with every guest
 * register up to date at each instruction boundary) is in its BLOCK_DEF; a
 * SNAPSHOT of the whole guest state is taken at the entry of a block whenever
 * a thread starts running client code (after a syscall, a signal, a thread
 * switch) and at least every snapshot interval instructions. Registers at any
 * instruction come from re-executing the IR from the thread's latest
 * snapshot, with memory from the recorded writes and the VALUE sites' bytes
 * where the IR alone does not tell. */
#ifndef OMNI_TRACE_STREAM_H
#define OMNI_TRACE_STREAM_H

#define OMNI_STREAM_VERSION 7u

/* The stream opens with a 16-byte preamble: these 8 bytes, then u32
   OMNI_STREAM_VERSION, then u32 flags (OMNI_STREAM_FLAG_*; zero before
   version 7). */
#define OMNI_STREAM_MAGIC "OMNIRAW1"
#define OMNI_STREAM_PREAMBLE_BYTES 16u
/* A BLOCK word for every block entry, not only for blocks with sites
   (omni record --every-block; version 7 on). Its bits 35..0 are then the
   instructions retired since the previous BLOCK word's time or TIME
   record's count (0 at the stream's start), not the count's low bits. */
#define OMNI_STREAM_FLAG_EVERY_BLOCK 1u
#define OMNI_STREAM_FLAGS_KNOWN OMNI_STREAM_FLAG_EVERY_BLOCK

#define OMNI_TAG_BIT (1ull << 63)
#define OMNI_KIND_SHIFT 61
#define OMNI_KIND_MASK 3ull
#define OMNI_KIND_BLOCK 0ull
#define OMNI_KIND_EXT 1ull

#define OMNI_BLOCK_ID_SHIFT 36
#define OMNI_BLOCK_ID_BITS 25
#define OMNI_BLOCK_ID_MAX ((1u << OMNI_BLOCK_ID_BITS) - 1u)
#define OMNI_BLOCK_TIME_BITS 36
#define OMNI_BLOCK_TIME_MASK ((1ull << OMNI_BLOCK_TIME_BITS) - 1ull)

#define OMNI_EXT_TYPE_SHIFT 48
#define OMNI_EXT_LEN_MASK 0xffffffffull

/* Header word of an extended record. */
#define OMNI_EXT_WORD(type, len)                                               \
  (OMNI_TAG_BIT | (OMNI_KIND_EXT << OMNI_KIND_SHIFT) |                         \
   ((unsigned long long)(type) << OMNI_EXT_TYPE_SHIFT) |                       \
   ((unsigned long long)(len)&OMNI_EXT_LEN_MASK))

/* Extended record types and their payloads (u32/u64 little-endian). */
enum {
  /* A superblock was translated: u32 block id, u32 site count, u64 guest
     address (the one the guest's RIP holds on entry), u64 time of the
     translation, u32 IR bytes, u32 zero, then per site: u64 pc, u32 offset,
     u32 (size | kind << 24), then the IR (OMNI_IR_* encoding below). */
  OMNI_EXT_BLOCK_DEF = 1,
  /* A write not covered by inline sites (CAS, guarded store, dirty helper).
     u64 time, u64 pc, u64 addr, then the bytes written. */
  OMNI_EXT_WRITE = 2,
  /* Memory the kernel wrote for the program during a syscall.
     u64 time, u64 pc (of the syscall), u64 addr, then the bytes written. */
  OMNI_EXT_SYSCALL_WRITE = 3,
  /* The running thread changed. u32 tid, u32 lwp (kernel thread id), u64 time */
  OMNI_EXT_THREAD_RUN = 4,
  /* u32 parent tid, u32 child tid, u64 time */
  OMNI_EXT_THREAD_CREATE = 5,
  /* u32 tid, u32 zero, u64 time */
  OMNI_EXT_THREAD_EXIT = 6,
  /* Address-space change. u64 time, u64 start, u64 length, u32 prot
     (bit 0 read, 1 write, 2 exec, 3 OMNI_PROT_SHARED), u32 event
     (OMNI_MAP_*), u64 file offset, then the backing file's path (no NUL;
     empty for anonymous memory). */
  OMNI_EXT_MAP = 7,
  /* u64 full instruction count retired so far. */
  OMNI_EXT_TIME = 8,
  /* The program finished: u64 final instruction count, i32 exit code, u32 zero */
  OMNI_EXT_EXIT = 9,
  /* A system call, written when it returns (or, for exit, exit_group and
     execve, when it is made: then flagged NO_RESULT; an execve that fails
     returns, and a second record, flagged LATE_RESULT, gives the result of
     the thread's last NO_RESULT call). u64 time (of the syscall instruction), u64 number,
     6 x u64 arguments, i64 result (-errno on failure), u64 flags
     (OMNI_SYSCALL_*). The thread is the current one when the call was made:
     the record carries it as u64 tid after the flags. */
  OMNI_EXT_SYSCALL = 10,
  /* Bytes the program wrote to stdout or stderr (write, writev, pwrite64 to
     fd 1 or 2; as many as the kernel accepted; since omni record passes
     --omni-output-files, only while that fd is omni record's own stdout or
     stderr, not a pipe or file the program redirected it to). u64 time, u32 fd, u32 tid,
     then the bytes. Output longer than OMNI_MAX_OUTPUT_BYTES comes as several
     records with the same time. */
  OMNI_EXT_OUTPUT = 11,
  /* Contents of writable memory present before the first instruction (the
     stack with argv, environment and auxv; .data and .bss as loaded), one
     page at most per record, pages of zeros left out. u64 addr, then the
     bytes. Not a write: memory at time 0 is these bytes, else the mapped
     file's, else zero. */
  OMNI_EXT_INITIAL = 12,
  /* A thread's whole guest state at a block entry: u64 time (instructions
     retired before the block), u32 tid, u32 size, then `size` bytes of
     Valgrind's VexGuestAMD64State (guest_RIP set to the block's address). */
  OMNI_EXT_SNAPSHOT = 13,
  /* A signal handler was invoked: u64 time (instructions retired before the
     delivery), u32 tid, u32 signal number, u64 pc and u64 rsp where the
     thread was interrupted (the next instruction it would have run), u64
     handler address and u64 rsp at the handler's entry (pointing at its
     return address, the signal trampoline). Written once the handler's
     frame is built, before its first instruction. */
  OMNI_EXT_SIGNAL = 14,
  /* Where the SYSCALL record that follows it stands among the events of
     every recorded process: u64 seq_enter (taken when the call was made),
     u64 seq_exit (when it returned; 0 for a call without a result in that
     record). The numbers come from one counter that all of a recording's
     processes share (omni record's sequence page), so a call that reaches
     another process through the kernel (a pipe's bytes, a signal, an exit
     seen by wait) has a seq_enter below the receiving call's seq_exit. */
  OMNI_EXT_SEQ = 15
};

#define OMNI_SEQ_BYTES 16u

#define OMNI_SIGNAL_BYTES 48u

#define OMNI_BLOCK_DEF_FIXED_BYTES 32u
#define OMNI_SNAPSHOT_FIXED_BYTES 16u

enum {
  OMNI_SITE_STORE = 0,
  OMNI_SITE_VALUE = 1,
  OMNI_SITE_CALL = 2,
  OMNI_SITE_RET = 3,
  OMNI_SITE_ENTRY = 4,
  OMNI_SITE_JUMP = 5
};
#define OMNI_SITE_KIND_SHIFT 24
#define OMNI_SITE_SIZE_MASK 0xffffffu

/* The IR encoding of a BLOCK_DEF (VEX's IRSB, Valgrind 3.19's enums).
 * Integers are unsigned LEB128 ("uleb") unless sized; enum values are written
 * as their offset from the first enumerator (IRType - Ity_INVALID, IROp -
 * Iop_INVALID, IRExprTag - Iex_Binder, IRStmtTag - Ist_NoOp, IRConstTag -
 * Ico_U1, IRJumpKind - Ijk_INVALID, IREffect - Ifx_None, IREndness -
 * Iend_LE, IRLoadGOp - ILGop_INVALID, IRMBusEvent - Imbe_Fence).
 *   block := uleb ntemps, u8 type[ntemps], uleb nstmts, stmt[nstmts],
 *            expr next, u8 jumpkind, uleb offsIP
 *   expr  := u8 tag, then by tag: Get uleb offset, u8 type | GetI descr,
 *            expr ix, sleb bias | RdTmp uleb tmp | Qop/Triop/Binop/Unop
 *            uleb op, 4/3/2/1 expr | Load u8 end, u8 type, expr addr |
 *            Const const | ITE expr cond, expr iftrue, expr iffalse |
 *            CCall str name, u8 retty, uleb nargs, expr args | VECRET, GSPTR
 *   const := u8 tag, then its value: U1/U8 1 byte, U16 2, U32/F32/F32i 4,
 *            U64/F64/F64i 8, U128 2, V128 2, V256 4 (little-endian;
 *            U128/V128/V256 hold one bit per byte, as in VEX)
 *   descr := uleb base, u8 elemTy, uleb nElems
 *   str   := uleb length, bytes
 *   stmt  := u8 tag, then by tag: NoOp | IMark u64 addr, uleb len, u8 delta |
 *            AbiHint expr base, sleb len, expr nia | Put uleb offset, expr |
 *            PutI descr, expr ix, sleb bias, expr data | WrTmp uleb tmp,
 *            expr | Store u8 end, expr addr, expr data | StoreG u8 end,
 *            expr addr, expr data, expr guard | LoadG u8 end, u8 cvt,
 *            uleb dst, expr addr, expr alt, expr guard | CAS uleb oldHi+1
 *            (0: none), uleb oldLo, u8 end, expr addr, u8 double, [expr
 *            expdHi], expr expdLo, [expr dataHi], expr dataLo | LLSC u8 end,
 *            uleb result, expr addr, u8 store, [expr storedata] | Dirty expr
 *            guard, str name, uleb nargs, expr args, uleb tmp+1 (0: none),
 *            u8 mFx, [expr mAddr, uleb mSize when mFx is not None], uleb
 *            nFxState, each: u8 fx, uleb offset, uleb size, uleb nRepeats,
 *            uleb repeatLen | MBE u8 event | Exit expr guard, const dst,
 *            u8 jumpkind, uleb offsIP
 * VALUE sites, in the order the IR makes them: each WrTmp whose expression is
 * a Unop/Binop/Triop/Qop with an op omni_op_supported() rejects, or a CCall
 * omni_ccall_supported() rejects; an LLSC's result; each Dirty's result temp,
 * then, for every fxState entry it writes or modifies, every repeat, the
 * guest-state bytes [offset + r * repeatLen, + size) after the call, in
 * pieces of 8, then 4, 2, 1 bytes. */

#define OMNI_SYSCALL_BYTES 88u
#define OMNI_SYSCALL_NO_RESULT 1ull /* the call did not return (exit, exit_group, execve) */
#define OMNI_SYSCALL_LATE_RESULT 2ull /* the result of the thread's last NO_RESULT call */
#define OMNI_OUTPUT_FIXED_BYTES 16u
#define OMNI_MAX_OUTPUT_BYTES 65536u

enum {
  OMNI_MAP_STARTUP = 1,  /* present before the first instruction */
  OMNI_MAP_MMAP = 2,
  OMNI_MAP_MUNMAP = 3,
  OMNI_MAP_MPROTECT = 4,
  OMNI_MAP_BRK_GROW = 5,
  OMNI_MAP_BRK_SHRINK = 6
};

/* MAP prot bit: the mapping is shared (MAP_SHARED, SysV shm), so other
   processes may change it without the recording seeing it. A shared mapping
   of a file or of SysV shm is followed, at the same time, by
   OMNI_EXT_SYSCALL_WRITE records of the bytes it held when it appeared (read
   through /proc/self/mem, never by touching the mapping): at most
   OMNI_SHARED_COPY_MAX bytes from its start, and OMNI_SHARED_COPY_TOTAL over
   the whole recording, and only as far as they could be read (pages wholly
   past the file's end cannot). Its bytes those records do
   not cover, and no later write does, are unknown: never the file's bytes as
   they are when queried. A shared anonymous mapping starts as zeros.
   (A mapping mremap moves is recorded the same way: a MAP at its new place,
   then its bytes as SYSCALL_WRITE records; zero pages of anonymous memory are
   left out.) */
#define OMNI_PROT_SHARED 8u
#define OMNI_SHARED_COPY_MAX (16ull << 20)
#define OMNI_SHARED_COPY_TOTAL (256ull << 20)

/* The transport between the tool and omni record (shared-memory slots, a
   FIFO and a pipe of authenticated messages) is not the stream: it lives in
   libs/recorder/src/tool/omni_channel.h. */

/* Size of the header word, and of the fixed part of the payloads above. */
#define OMNI_WORD_BYTES 8u
#define OMNI_SITE_DEF_BYTES 16u
#define OMNI_WRITE_FIXED_BYTES 24u
#define OMNI_MAP_FIXED_BYTES 40u

/* Largest payload of one OMNI_EXT_WRITE / OMNI_EXT_SYSCALL_WRITE record:
   recorders split larger writes, so an event never exceeds a page. */
#define OMNI_MAX_WRITE_BYTES 4096u

#endif
