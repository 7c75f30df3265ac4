/* omni: the Valgrind recorder tool of the omni debugger. What its files
 * share: the tool's global state, the output buffer's inline writer, and
 * the functions one file calls in another.
 *
 * The tool writes the raw event stream defined in omni/trace/stream.h. With
 * `omni record` it fills shared-memory slots and names each full one in a
 * SipHash-authenticated message on its connection to the recorder's
 * Unix-domain socket --omni-ctl (omni_channel.h); --omni-out alone takes the
 * stream itself (for debugging).
 *
 * Files, by concern:
 *  - omni_main.c: options (clo_*), pre_clo_init / post_clo_init / fini.
 *  - omni_transport.c: the output buffer and how it leaves the tool (slots
 *    and messages on the recorder's connection, or plain writes), flushing,
 *    a forked child.
 *  - omni_serialize.c: a superblock's BLOCK_DEF record (its sites and its IR
 *    in stream.h's encoding).
 *  - omni_instrument.c: the instrumentation callback, the IR it adds, and
 *    the per-translation instruction counts a fault needs.
 *  - omni_events.c: the records of everything outside generated code:
 *    helper-logged writes, memory-map, thread, signal, syscall and output
 *    events, register snapshots, the program's exit.
 *
 * Design in short:
 *  - One output buffer, allocated once; g_ptr is the write pointer. Generated
 *    code appends inline STORE records without calling out; a superblock with
 *    inline store sites first calls flush (only when g_ptr is past the soft
 *    limit, which leaves a guard zone larger than the most inline bytes any
 *    superblock may write) and then writes its block marker.
 *  - g_icount counts guest instructions; generated code adds to it before
 *    every side exit and at the end of every superblock, so it is exact at
 *    every superblock boundary, syscall and helper call (helpers add the
 *    in-block offset themselves).
 *  - Stores the inline path does not cover (guarded stores, CAS, LL/SC,
 *    dirty helpers, superblocks with too many inline bytes) go through a C
 *    helper that copies the written bytes from client memory. Kernel writes
 *    come from the post_mem_write hook; address-space and thread events from
 *    the core's other hooks.
 *
 * Threads: Valgrind runs one thread at a time under its big lock, and the
 * tool's code (hooks, dirty helpers, instrumentation) runs only while that
 * lock is held, so the globals below need no locking and the stream has
 * one order. Generated code reads and writes g_ptr, g_icount, g_next_snap
 * and g_cur_block by their addresses, baked into each translation: they are
 * plain globals that never move.
 */
#ifndef OMNI_TOOL_H
#define OMNI_TOOL_H

#include "pub_tool_basics.h"
#include "pub_tool_debuginfo.h"
#include "pub_tool_tooliface.h"
#include "pub_tool_libcassert.h"
#include "pub_tool_libcbase.h"
#include "pub_tool_libcfile.h"
#include "pub_tool_libcprint.h"
#include "pub_tool_libcproc.h"
#include "pub_tool_machine.h"
#include "pub_tool_mallocfree.h"
#include "pub_tool_options.h"
#include "pub_tool_aspacemgr.h"
#include "pub_tool_threadstate.h"
#include "pub_tool_vki.h"
#include "pub_tool_xarray.h"
#include "pub_tool_vkiscnums.h"

#include "libvex_guest_amd64.h"

#include "omni/trace/stream.h"

/* VG_(safe_fd) moves a descriptor into Valgrind's reserved range (above the
   client's limit) and marks it close-on-exec, so the client can neither see
   nor close it. It is exported by the core (pub_core_libcfile.h) but is not
   declared in any pub_tool_*.h header, hence this declaration. */
extern Int VG_(safe_fd)(Int oldfd);

/* Maps a file shared with another process into Valgrind's own address space
   (the core's vgdb link uses it). Exported by the core (pub_core_aspacemgr.h)
   but not declared in pub_tool headers. */
extern SysRes VG_(am_shared_mmap_file_float_valgrind)(SizeT length, UInt prot,
                                                      Int fd, Off64T offset);

/* kill(2) (pub_core_libcsignal.h; not in the pub_tool headers). */
extern Int VG_(kill)(Int pid, Int signo);

/* A raw system call (pub_core_syscall.h; not in the pub_tool headers): the
   socket calls of the recorder's channel. */
extern SysRes VG_(do_syscall)(UWord sysno, RegWord a1, RegWord a2, RegWord a3,
                              RegWord a4, RegWord a5, RegWord a6, RegWord a7,
                              RegWord a8);

/* pread on a descriptor (pub_core_libcfile.h; not in the pub_tool headers). */
extern SysRes VG_(pread)(Int fd, void* buf, Int count, OffT offset);

/* Discards the translations of [start, start + range) (pub_core_transtab.h).
   The tool interface's VG_(discard_translations_safely) asserts that it is
   called from a client request; a forked child drops all of its inherited
   translations from the atfork handler, inside the fork's syscall wrapper,
   where the core itself discards (as munmap's wrapper does). */
extern void VG_(discard_translations)(Addr start, ULong range, const HChar* who);

/* fcntl(2) (pub_core_libcfile.h). */
extern Int VG_(fcntl)(Int fd, Int cmd, Addr arg);

/* What an exec'd image gets (m_syswrap's execve wrapper, Valgrind 3.19):
   the launcher is run with VG_(args_for_valgrind) (an XArray of HChar*,
   read at the exec) when VG_(clo_trace_children) is set; Valgrind's log
   goes to VG_(log_output_sink).fd (the first member of the core's
   OutputSink, the only one read here). pub_core_options.h,
   pub_core_libcprint.h. */
extern XArray* VG_(args_for_valgrind);
/* The core's own decision for an exec (--trace-children, its -skip
   patterns; pub_core_options.h). */
extern Bool VG_(should_we_trace_this_child)(const HChar* child_exe_name, const HChar** child_argv);
extern Bool VG_(clo_trace_children);
typedef struct { Int fd; } OmniLogSinkHead;
extern OmniLogSinkHead VG_(log_output_sink);

/* Unmaps Valgrind's own mapping (pub_core_aspacemgr.h): a forked child's
   copy of its parent's slots. */
extern SysRes VG_(am_munmap_valgrind)(Addr start, SizeT length);

/*------------------------------------------------------------*/
/*--- Options (omni_main.c; set before post_clo_init)     ---*/
/*------------------------------------------------------------*/

/* --omni-out: a file that takes the raw stream itself (debugging). */
extern const HChar* clo_out;
extern Long clo_buffer_kb;
extern Bool clo_stats;
/* The recorder's transport: the tool connects to the Unix-domain stream
   socket --omni-ctl, and the launcher passes a file of clo_slots slots of
   the buffer's size (--omni-shm-fd); the connection then carries only
   "slot N holds M bytes" messages one way and free slot numbers the other,
   so the stream is copied once instead of through a pipe. Every message is
   authenticated (omni_channel.h). */
extern const HChar* clo_ctl;
extern Long clo_shm_fd;
extern Long clo_slots;
/* A pipe holding the channel's key (omni_channel.h): read and closed before
   the program runs. Required with --omni-ctl. */
extern Long clo_key_fd;
/* The sequence page (transport_next_seq), inherited by the root image. */
extern Long clo_seq_fd;
/* The launcher's descriptor that Valgrind's --log-fd names: Valgrind copies
   it out of the client's range but leaves the original open, so the tool
   closes it before the program runs (its descriptors are then a native
   run's). */
extern Long clo_log_fd;
/* A register snapshot at least every this many instructions: replaying to
   any instruction re-executes at most this many. */
extern Long clo_snapshot_interval;
/* Whether a forked child is recorded (on a connection of its own) or runs
   unrecorded. */
extern Bool clo_follow_forks;
/* Whether an exec'd program is recorded as a new image (Valgrind runs with
   --trace-children=yes; the tool rewrites the next image's options). */
extern Bool clo_follow_exec;
/* Set in an image that a recorded image exec'd: it says HELLO_EXEC and
   gets its slots on its connection. */
extern Bool clo_exec_image;
/* The open files (DEV:INO, comma-separated, or "none") that count as the
   recording's terminal: a write to fd 1 or 2 is an OUTPUT record only while
   that descriptor is one of them, so that what a pipeline's first program
   writes into its pipe is not output. NULL: every write to fd 1 or 2. */
extern const HChar* clo_output_files;
/* A BLOCK word for every block entry (OMNI_STREAM_FLAG_EVERY_BLOCK), so
   that when any code ran is known (--executions, breakpoints), each word's
   time a delta from the previous one's (which zstd compresses far better
   than absolute counts: a smaller trace than without). */
extern Bool clo_every_block;

/* Reports a bad configuration and stops (omni_main.c). */
void omni_config_error(const HChar* what, const HChar* path);

/*------------------------------------------------------------*/
/*--- Output buffer (omni_transport.c)                     ---*/
/*------------------------------------------------------------*/

/* Bytes kept free past the soft limit. Generated code checks the soft limit
   once, at superblock entry, and then writes at most OMNI_INLINE_MAX bytes. */
#define OMNI_GUARD_BYTES (64u * 1024u)
#define OMNI_INLINE_MAX (32u * 1024u)

/* Allocated once (buf_alloc) and never moved: g_soft's value is baked into
   every translation. [g_buf, g_ptr) is what has not been handed out yet. */
extern UChar* g_buf;    /* start of the buffer */
extern UChar* g_end;    /* hard end */
extern UChar* g_soft;   /* g_end - OMNI_GUARD_BYTES */
extern UChar* g_ptr;    /* current write pointer (read and advanced by IR) */

void buf_alloc(void);
/* Hands [g_buf, g_ptr) out and starts a new buffer with a TIME record.
   Called from generated code (as a dirty helper) and from C helpers. */
void omni_flush(void);

/* With --omni-ctl: reads the channel's key, maps the slots and connects to
   omni record; or opens --omni-out. Exits on a bad configuration. */
void transport_open(void);
/* The first message: the tool runs (shared-memory mode only). */
void transport_hello(void);
/* The next number of the recording's one order across processes (the
   sequence page omni record shares with every recorded process: inherited
   by the root, received with the slots by any other image, kept across
   fork); 0 without one. */
ULong transport_next_seq(void);
/* Whether the buffer holds more than its TIME record, output is open and
   the last flush is old enough that a call that may wait should flush. */
Bool transport_flush_overdue(void);
/* Hands out the buffer without a TIME record after it, says the stream is
   whole (FINAL) and closes the output. */
void transport_finish(void);
/* Before a recorded execve/execveat (its record flushed): hands the next
   image what it needs (a pipe holding the key, Valgrind's log descriptor;
   omni_transport.c) by rewriting VG_(args_for_valgrind), or runs a setuid
   or setgid program unrecorded (Valgrind cannot run those). */
void transport_before_exec(UInt syscallno, UWord* args, UInt nArgs);
/* After an exec that failed: takes back what transport_before_exec
   handed out. */
void transport_exec_failed(void);
/* In a forked child (atfork child handler, on the forking thread `tid`):
   the inherited connection, slots and stream are the parent's. With
   omni record the child becomes an image of its own: it drops them, starts
   a new stream (time 0, block ids from 1, translations discarded), opens
   its own connection (omni_channel.h, HELLO_FORK) and records what its
   memory holds, as a program's startup does (events_fork_start). With
   --omni-out the child is not recorded. */
void omni_atfork_child(ThreadId tid);

static inline void put_u64(UChar* p, ULong v) { __builtin_memcpy(p, &v, 8); }
static inline void put_u32(UChar* p, UInt v) { __builtin_memcpy(p, &v, 4); }

/* Make room for n bytes below the soft limit. */
static inline UChar* ensure(SizeT n)
{
   if (UNLIKELY(g_buf == NULL))
      buf_alloc();
   if (UNLIKELY(g_ptr + n > g_soft)) {
      omni_flush();
      if (g_ptr + n > g_end)
         VG_(tool_panic)("omni: output buffer overflow (output not open yet,"
                         " or a record larger than the buffer)");
   }
   return g_ptr;
}

/*------------------------------------------------------------*/
/*--- Time and blocks (omni_instrument.c)                  ---*/
/*------------------------------------------------------------*/

extern ULong g_icount;        /* guest instructions retired (IR updates it) */
/* Every block entry takes a register snapshot once g_icount reaches this;
   zero forces one at the next block (the guest state changed outside IR). */
extern ULong g_next_snap;
extern ULong g_cur_block;     /* the running block's id (IR stores it); 0 between blocks */
/* With --omni-every-block: the count of the last BLOCK word or TIME record
   written, from which a BLOCK word's time is a delta (stream.h). */
extern ULong g_last_block_time;
extern UInt g_next_block_id;  /* ids start at 1 */

IRSB* omni_instrument(VgCallbackClosure* closure, IRSB* sbIn,
                      const VexGuestLayout* layout,
                      const VexGuestExtents* vge,
                      const VexArchInfo* archinfo_host,
                      IRType gWordTy, IRType hWordTy);
/* A forked child's new stream: time 0, block ids from 1, and every
   translation discarded (generated code holds the parent's block ids). */
void instrument_fork_restart(void);
/* A fault at an instruction of the running block (thread tid stopped
   there): count the block's instructions before it, which generated code
   never got to add. */
void count_faulting_block(ThreadId tid);

/*------------------------------------------------------------*/
/*--- Block definitions (omni_serialize.c)                 ---*/
/*------------------------------------------------------------*/

typedef struct {
   ULong pc;
   UInt offset;
   UInt size;
   UInt kind;   /* OMNI_SITE_* */
} SiteDef;

/* Inline sites of the superblock being instrumented (filled by add_site,
   in stream order). The inline byte budget bounds their number: each takes
   at least 9 bytes. */
#define OMNI_MAX_SITES (OMNI_INLINE_MAX / 9 + 1)
extern SiteDef g_sites[OMNI_MAX_SITES];

void serialize_init(void);
void add_site(UInt* nsites, ULong pc, UInt offset, UInt size, UInt kind);
/* Encodes sb's IR (stream.h's OMNI_IR encoding) for the next emit_block_def. */
void ir_block(const IRSB* sb);
/* The BLOCK_DEF record: id, the nsites sites of g_sites, the encoded IR. */
void emit_block_def(UInt id, UInt nsites, ULong guest_addr);

/*------------------------------------------------------------*/
/*--- Events (omni_events.c)                               ---*/
/*------------------------------------------------------------*/

void events_init(void);
/* A forked child's new stream, once its output is open: per-thread state
   of the threads the fork left behind cleared, then every client mapping
   and the non-zero pages of writable memory recorded as startup memory (so
   the child's stream stands alone), and its one thread, `tid`. */
void events_fork_start(ThreadId tid);
/* Dirty helpers called from generated code. */
void omni_log_write(ULong time, ULong pc, ULong addr, ULong size);
void omni_snapshot(ULong block_addr);
/* The EXIT record, counting a fatal fault's block first. */
void emit_exit(void);

/* The core's hooks (registered in pre_clo_init). */
void omni_new_mem_startup(Addr a, SizeT len, Bool rr, Bool ww, Bool xx, ULong di_handle);
void omni_new_mem_mmap(Addr a, SizeT len, Bool rr, Bool ww, Bool xx, ULong di_handle);
void omni_copy_mem_remap(Addr from, Addr to, SizeT len);
void omni_die_mem_munmap(Addr a, SizeT len);
void omni_change_mem_mprotect(Addr a, SizeT len, Bool rr, Bool ww, Bool xx);
void omni_new_mem_brk(Addr a, SizeT len, ThreadId tid);
void omni_die_mem_brk(Addr a, SizeT len);
void omni_post_mem_write(CorePart part, ThreadId tid, Addr a, SizeT len);
void omni_start_client_code(ThreadId tid, ULong blocks_dispatched);
void omni_pre_deliver_signal(ThreadId tid, Int sigNo, Bool alt_stack);
void omni_pre_thread_ll_create(ThreadId parent, ThreadId child);
void omni_pre_thread_ll_exit(ThreadId tid);
void omni_pre_syscall(ThreadId tid, UInt syscallno, UWord* args, UInt nArgs);
void omni_post_syscall(ThreadId tid, UInt syscallno, UWord* args, UInt nArgs, SysRes res);

/*------------------------------------------------------------*/
/*--- Statistics (--omni-stats; each file counts its own)  ---*/
/*------------------------------------------------------------*/

typedef struct {
   ULong bytes_out;      /* bytes handed to the output descriptor (transport) */
   ULong flushes;        /* (transport) */
   ULong snapshots;      /* register snapshots taken (events) */
   ULong sites_defined;  /* inline sites in BLOCK_DEFs (instrument) */
   ULong helper_sites;   /* stores logged by omni_log_write instead (instrument) */
   ULong value_sites;    /* VALUE sites generated (instrument) */
   ULong ir_bytes;       /* encoded IR in BLOCK_DEFs (serialize) */
} OmniStats;
extern OmniStats g_stats;

#endif
