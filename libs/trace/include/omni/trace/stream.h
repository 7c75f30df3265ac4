/* The raw event stream a recorder emits: the one definition, shared by the
 * Valgrind tool (C, no libc) and the C++ decoder. Any change to the encoding
 * must bump OMNI_STREAM_VERSION; the decoder refuses other versions.
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
 *                       inline store sites. Bits 60..36 = block id, bits 35..0
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
 * all: OMNI_EXT_WRITE carries time, pc, address and bytes explicitly. */
#ifndef OMNI_TRACE_STREAM_H
#define OMNI_TRACE_STREAM_H

#define OMNI_STREAM_VERSION 2u

/* The stream opens with a 16-byte preamble: these 8 bytes, then u32
   OMNI_STREAM_VERSION, then u32 zero. */
#define OMNI_STREAM_MAGIC "OMNIRAW1"
#define OMNI_STREAM_PREAMBLE_BYTES 16u

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
  /* u32 block id, u32 site count, then per site: u64 pc, u32 offset, u32 size */
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
     (bit 0 read, 1 write, 2 exec), u32 event (OMNI_MAP_*), u64 file offset,
     then the backing file's path (no NUL; empty for anonymous memory). */
  OMNI_EXT_MAP = 7,
  /* u64 full instruction count retired so far. */
  OMNI_EXT_TIME = 8,
  /* The program finished: u64 final instruction count, i32 exit code, u32 zero */
  OMNI_EXT_EXIT = 9,
  /* A system call, written when it returns (or, for exit and exit_group,
     when it is made). u64 time (of the syscall instruction), u64 number,
     6 x u64 arguments, i64 result (-errno on failure), u64 flags
     (OMNI_SYSCALL_*). The thread is the current one when the call was made:
     the record carries it as u64 tid after the flags. */
  OMNI_EXT_SYSCALL = 10,
  /* Bytes the program wrote to stdout or stderr (write, writev, pwrite64 to
     fd 1 or 2; as many as the kernel accepted). u64 time, u32 fd, u32 tid,
     then the bytes. Output longer than OMNI_MAX_OUTPUT_BYTES comes as several
     records with the same time. */
  OMNI_EXT_OUTPUT = 11,
  /* Contents of writable memory present before the first instruction (the
     stack with argv, environment and auxv; .data and .bss as loaded), one
     page at most per record, pages of zeros left out. u64 addr, then the
     bytes. Not a write: memory at time 0 is these bytes, else the mapped
     file's, else zero. */
  OMNI_EXT_INITIAL = 12
};

#define OMNI_SYSCALL_BYTES 88u
#define OMNI_SYSCALL_NO_RESULT 1ull /* the call did not return (exit, exit_group) */
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

/* Size of the header word, and of the fixed part of the payloads above. */
#define OMNI_WORD_BYTES 8u
#define OMNI_SITE_DEF_BYTES 16u
#define OMNI_WRITE_FIXED_BYTES 24u
#define OMNI_MAP_FIXED_BYTES 40u

/* Largest payload of one OMNI_EXT_WRITE / OMNI_EXT_SYSCALL_WRITE record:
   recorders split larger writes, so an event never exceeds a page. */
#define OMNI_MAX_WRITE_BYTES 4096u

#endif
