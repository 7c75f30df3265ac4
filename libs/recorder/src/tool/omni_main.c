/* omni: the Valgrind recorder tool of the omni debugger.
 *
 * It writes the raw event stream defined in omni/trace/stream.h to a file or
 * FIFO named by --omni-out. Layout follows Valgrind's example tools:
 * command-line options (clo_*), pre_clo_init / post_clo_init / instrument /
 * fini, and an exhaustive switch over IR statement kinds.
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
 */

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
#include "pub_tool_vkiscnums.h"

#include "libvex_guest_amd64.h"

#include "omni/trace/stream.h"
#include "omni/trace/replay_ops.h"
#include "omni_channel.h"

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

/* pread on a descriptor (pub_core_libcfile.h; not in the pub_tool headers). */
extern SysRes VG_(pread)(Int fd, void* buf, Int count, OffT offset);

/*------------------------------------------------------------*/
/*--- Command-line options                                 ---*/
/*------------------------------------------------------------*/

static const HChar* clo_out = NULL;
static Long clo_buffer_kb = 4096;
static Bool clo_stats = False;
/* Shared-memory transport: the launcher passes a file of clo_slots slots of
   the buffer's size (--omni-shm-fd) and a pipe of free slot numbers
   (--omni-free-fd); --omni-out then carries only "slot N holds M bytes"
   messages, so the stream is copied once instead of through a pipe. Every
   message of both is authenticated (omni_channel.h). */
static Long clo_shm_fd = -1;
static Long clo_free_fd = -1;
static Long clo_slots = 16;
/* A pipe holding the channel's key (omni_channel.h): read and closed before
   the program runs. Required with the shared-memory transport. */
static Long clo_key_fd = -1;
/* The launcher's descriptor that Valgrind's --log-fd names: Valgrind copies
   it out of the client's range but leaves the original open, so the tool
   closes it before the program runs (its descriptors are then a native
   run's). */
static Long clo_log_fd = -1;
/* A register snapshot at least every this many instructions: replaying to
   any instruction re-executes at most this many. */
static Long clo_snapshot_interval = OMNI_DEFAULT_SNAPSHOT_INTERVAL;

static Bool omni_process_cmd_line_option(const HChar* arg)
{
   if VG_STR_CLO(arg, "--omni-out", clo_out) {}
   else if VG_BINT_CLO(arg, "--omni-buffer-kb", clo_buffer_kb, 256, 1024 * 1024) {}
   else if VG_BOOL_CLO(arg, "--omni-stats", clo_stats) {}
   else if VG_BINT_CLO(arg, "--omni-shm-fd", clo_shm_fd, 0, 1 << 20) {}
   else if VG_BINT_CLO(arg, "--omni-free-fd", clo_free_fd, 0, 1 << 20) {}
   else if VG_BINT_CLO(arg, "--omni-slots", clo_slots, 2, 4096) {}
   else if VG_BINT_CLO(arg, "--omni-key-fd", clo_key_fd, 0, 1 << 20) {}
   else if VG_BINT_CLO(arg, "--omni-log-fd", clo_log_fd, 0, 1 << 20) {}
   else if VG_BINT_CLO(arg, "--omni-snapshot-interval", clo_snapshot_interval, 1024, 1ll << 40) {}
   else
      return False;
   return True;
}

static void omni_print_usage(void)
{
   VG_(printf)(
"    --omni-out=PATH           write the raw event stream to PATH, a file or\n"
"                              FIFO (required)\n"
"    --omni-shm-fd=N --omni-free-fd=N [--omni-slots=16]\n"
"                              shared-memory transport: fill slots of the file\n"
"                              N (slots x buffer size), take free slot numbers\n"
"                              from the pipe N, and write only \"slot N holds M\n"
"                              bytes\" messages to --omni-out (both kinds of\n"
"                              message authenticated: omni_channel.h)\n"
"    --omni-key-fd=N           with --omni-shm-fd: a pipe holding the 16-byte\n"
"                              key that authenticates those messages\n"
"    --omni-log-fd=N           the descriptor --log-fd names: closed in the\n"
"                              client's range once Valgrind has its copy\n"
"    --omni-buffer-kb=N        output buffer size in KiB [4096], at least 256\n"
"    --omni-stats=yes|no       print recording statistics at exit [no]\n"
"    --omni-snapshot-interval=N  register snapshot at least every N\n"
"                              instructions [16384]\n"
   );
}

static void omni_print_debug_usage(void)
{
   VG_(printf)("    (none)\n");
}

/*------------------------------------------------------------*/
/*--- Output buffer                                        ---*/
/*------------------------------------------------------------*/

/* Bytes kept free past the soft limit. Generated code checks the soft limit
   once, at superblock entry, and then writes at most OMNI_INLINE_MAX bytes. */
#define OMNI_GUARD_BYTES (64u * 1024u)
#define OMNI_INLINE_MAX (32u * 1024u)

static UChar* g_buf = NULL;    /* start of the buffer */
static UChar* g_end = NULL;    /* hard end */
static UChar* g_soft = NULL;   /* g_end - OMNI_GUARD_BYTES */
static UChar* g_ptr = NULL;          /* current write pointer (read by IR) */
static ULong g_icount = 0;           /* guest instructions retired (IR updates it) */
/* Every block entry takes a register snapshot once g_icount reaches this;
   zero forces one at the next block (the guest state changed outside IR). */
static ULong g_next_snap = 0;
static ULong g_snapshots = 0;
static ULong g_value_sites = 0;
static ULong g_ir_bytes = 0;

static Int g_fd = -1;          /* output descriptor, -1 until opened */
static Int g_free_fd = -1;     /* free slot numbers (shared-memory mode) */
static UChar* g_shm = NULL;    /* the slots (shared-memory mode) */
static omni_u8 g_key[OMNI_CHANNEL_KEY_BYTES];  /* the channel's key (shared-memory mode) */
static UInt g_sent_seq = 0;    /* sequence number of the next message to omni */
static UInt g_release_seq = 0; /* sequence number of the next free-slot message */
static Bool g_disabled = False;/* set in a forked child or after an I/O error */
static ULong g_bytes_out = 0;  /* bytes handed to the descriptor */
static ULong g_flushes = 0;
static UInt g_next_block_id = 1;
static ULong g_sites_defined = 0;
static ULong g_helper_sites = 0;
static ThreadId g_last_tid = VG_INVALID_THREADID;
/* Valgrind's core always passes 0 to fini, so the exit status is taken from
   the exit_group / exit syscall instead; -1 when none was seen (the program
   died of a signal). */
static Int g_exitcode = -1;

static inline void put_u64(UChar* p, ULong v) { __builtin_memcpy(p, &v, 8); }
static inline void put_u32(UChar* p, UInt v) { __builtin_memcpy(p, &v, 4); }

static void buf_alloc(void)
{
   SizeT size = (SizeT)clo_buffer_kb * 1024;
   g_buf = VG_(malloc)("omni.buffer", size);
   g_end = g_buf + size;
   g_soft = g_end - OMNI_GUARD_BYTES;
   g_ptr = g_buf;
   __builtin_memcpy(g_ptr, OMNI_STREAM_MAGIC, 8);
   put_u32(g_ptr + 8, OMNI_STREAM_VERSION);
   put_u32(g_ptr + 12, 0);
   g_ptr += OMNI_STREAM_PREAMBLE_BYTES;
}

static void write_all(const UChar* p, SizeT n)
{
   while (n > 0) {
      Int chunk = n > (1u << 30) ? (1 << 30) : (Int)n;
      Int r = VG_(write)(g_fd, p, chunk);
      if (r <= 0) {
         VG_(umsg)("omni: writing to %s failed; recording stopped\n",
                   clo_out ? clo_out : "(null)");
         VG_(close)(g_fd);
         g_fd = -1;
         g_disabled = True;
         return;
      }
      p += r;
      n -= r;
      g_bytes_out += r;
   }
}

/* One authenticated message to omni record (omni_channel.h). */
static void send_message(UInt kind, UInt slot, UInt bytes)
{
   omni_u8 message[OMNI_MSG_BYTES];
   omni_encode_message(message, g_key, kind, slot, bytes, g_sent_seq++);
   write_all(message, sizeof message);
}

/* Hands [g_buf, g_ptr) to the reader: through a shared-memory slot, or
   written to the output descriptor. Leaves g_ptr alone. */
static void send_buffer(void)
{
   if (g_shm == NULL) {
      write_all(g_buf, g_ptr - g_buf);
      return;
   }
   /* Take a free slot (blocks while the launcher is behind), fill it, and
      say so. A free-slot message that fails its check was forged, or one of
      omni's was taken, by something else holding the pipe (the program):
      the recording cannot be trusted past this point, so it stops here and
      the program with it (fini would send a final message). */
   omni_u8 release[OMNI_RELEASE_BYTES];
   UInt slot = 0;
   Int got = VG_(read)(g_free_fd, release, sizeof release);
   if (got <= 0) {
      VG_(umsg)("omni: the recorder's reader went away; recording stopped\n");
      VG_(close)(g_fd);
      g_fd = -1;
      g_disabled = True;
      return;
   }
   if (got != (Int)sizeof release || !omni_check_release(release, g_key, g_release_seq, &slot)
       || slot >= (UInt)clo_slots) {
      VG_(fmsg)("omni: " OMNI_TAMPERED_TEXT " (free-slot message %u failed its check)\n",
                g_release_seq);
      /* Killed as omni record kills Valgrind when it finds a forged message
         itself: the recording then ends the same way, by SIGKILL. */
      VG_(kill)(VG_(getpid)(), VKI_SIGKILL);
      VG_(exit)(1);
   }
   g_release_seq++;
   SizeT n = g_ptr - g_buf;
   VG_(memcpy)(g_shm + (SizeT)slot * (SizeT)(g_end - g_buf), g_buf, n);
   send_message(OMNI_MSG_SLOT, slot, (UInt)n);
}

/* A system call that may wait flushes the buffer when the last flush is at
   least this old: if Valgrind is killed (SIGKILL of omni record's whole
   group, the OOM killer), what is lost is the buffer, and a program that
   mostly waits would otherwise lose its whole run since the buffer last
   filled. */
#define OMNI_FLUSH_INTERVAL_MS 200u
static UInt g_last_flush_ms = 0;

/* Write [g_buf, g_ptr) out and start a new buffer with a TIME record. Called
   from generated code (as a dirty helper) and from C helpers. */
static void omni_flush(void)
{
   if (g_disabled) {
      g_ptr = g_buf;
      return;
   }
   if (g_fd < 0)
      return;   /* not open yet: keep buffering */
   g_flushes++;
   g_last_flush_ms = VG_(read_millisecond_timer)();
   send_buffer();
   g_ptr = g_buf;
   if (g_disabled)
      return;
   put_u64(g_ptr, OMNI_EXT_WORD(OMNI_EXT_TIME, 8));
   put_u64(g_ptr + 8, g_icount);
   g_ptr += 16;
}

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
/*--- Record writers                                       ---*/
/*------------------------------------------------------------*/

/* OMNI_EXT_WRITE / OMNI_EXT_SYSCALL_WRITE for [addr, addr+size), split into
   records of at most OMNI_MAX_WRITE_BYTES. */
static void emit_write(UInt type, ULong time, ULong pc, Addr addr, SizeT size)
{
   while (size > 0) {
      UInt n = size > OMNI_MAX_WRITE_BYTES ? OMNI_MAX_WRITE_BYTES : (UInt)size;
      UChar* p = ensure(OMNI_WORD_BYTES + OMNI_WRITE_FIXED_BYTES + n);
      put_u64(p, OMNI_EXT_WORD(type, OMNI_WRITE_FIXED_BYTES + n));
      put_u64(p + 8, time);
      put_u64(p + 16, pc);
      put_u64(p + 24, addr);
      VG_(memcpy)(p + 32, (const void*)addr, n);
      g_ptr = p + 32 + n;
      addr += n;
      size -= n;
   }
}

/* Dirty helper: a store the inline path does not log. Runs after the store,
   so client memory holds the written bytes. */
static void omni_log_write(ULong time, ULong pc, ULong addr, ULong size)
{
   emit_write(OMNI_EXT_WRITE, time, pc, (Addr)addr, (SizeT)size);
}

static void emit_map_prot(UInt event, Addr a, SizeT len, UInt prot, Bool with_file);

static void emit_map(UInt event, Addr a, SizeT len, Bool rr, Bool ww, Bool xx,
                     Bool with_file)
{
   emit_map_prot(event, a, len, (rr ? 1u : 0u) | (ww ? 2u : 0u) | (xx ? 4u : 0u), with_file);
}

/* prot: bits 0-2 rwx, OMNI_PROT_SHARED. */
static void emit_map_prot(UInt event, Addr a, SizeT len, UInt prot, Bool with_file)
{
   const HChar* path = "";
   ULong foff = 0;
   if (with_file) {
      NSegment const* seg = VG_(am_find_nsegment)(a);
      if (seg && (seg->kind == SkFileC || seg->kind == SkFileV)) {
         const HChar* name = VG_(am_get_filename)(seg);
         if (name) {
            path = name;
            foff = (ULong)seg->offset + (a - seg->start);
         }
      }
   }
   UInt plen = VG_(strlen)(path);
   UChar* p = ensure(OMNI_WORD_BYTES + OMNI_MAP_FIXED_BYTES + plen);
   put_u64(p, OMNI_EXT_WORD(OMNI_EXT_MAP, OMNI_MAP_FIXED_BYTES + plen));
   put_u64(p + 8, g_icount);
   put_u64(p + 16, a);
   put_u64(p + 24, len);
   put_u32(p + 32, prot);
   put_u32(p + 36, event);
   put_u64(p + 40, foff);
   VG_(memcpy)(p + 48, path, plen);
   g_ptr = p + 48 + plen;
}

static void emit_two_u32_time(UInt type, UInt a, UInt b, ULong time)
{
   UChar* p = ensure(OMNI_WORD_BYTES + 16);
   put_u64(p, OMNI_EXT_WORD(type, 16));
   put_u32(p + 8, a);
   put_u32(p + 12, b);
   put_u64(p + 16, time);
   g_ptr = p + 24;
}

/*------------------------------------------------------------*/
/*--- Core event hooks                                     ---*/
/*------------------------------------------------------------*/

/* Reading client memory safely. The tool must never fault on what it reads:
   a page of a file mapping wholly past the file's end raises SIGBUS, a
   PROT_NONE page SIGSEGV. Reads of memory nothing just wrote (startup
   contents, moved or shared mappings) go through /proc/self/mem, where such
   a page is a failed read instead of a signal. */
static Int g_mem_fd = -1;   /* /proc/self/mem, opened at the first use; -1 if unavailable */
static Bool g_mem_fd_tried = False;

/* Copies up to n bytes at client address a into out; returns how many could
   be read (fewer when a page cannot be: past a file's end, unmapped). */
static SizeT safe_read(UChar* out, Addr a, SizeT n)
{
   if (!g_mem_fd_tried) {
      g_mem_fd_tried = True;
      SysRes mem = VG_(open)("/proc/self/mem", VKI_O_RDONLY, 0);
      if (!sr_isError(mem))
         g_mem_fd = VG_(safe_fd)((Int)sr_Res(mem));
   }
   if (g_mem_fd < 0) {
      /* Without /proc/self/mem only anonymous memory is read directly: it
         cannot lie past a file's end. */
      NSegment const* seg = VG_(am_find_nsegment)(a);
      if (seg == NULL || seg->kind != SkAnonC || a + n - 1 > seg->end ||
          !VG_(am_is_valid_for_client)(a, n, VKI_PROT_READ))
         return 0;
      VG_(memcpy)(out, (const void*)a, n);
      return n;
   }
   SizeT done = 0;
   while (done < n) {
      SysRes r = VG_(pread)(g_mem_fd, out + done, (Int)(n - done), (OffT)(a + done));
      if (sr_isError(r) || sr_Res(r) == 0)
         break;
      done += (SizeT)sr_Res(r);
   }
   return done;
}

static Bool all_zero(const UChar* p, SizeT n)
{
   for (SizeT i = 0; i < n; i++)
      if (p[i] != 0)
         return False;
   return True;
}

/* Records what [a, a + len) holds now, page by page, as `type` records
   (OMNI_EXT_INITIAL, or OMNI_EXT_SYSCALL_WRITE at the current time with the
   running thread's pc), read safely; pages of zeros are left out when
   skip_zero_pages. Stops at the first page that cannot be read (the rest of
   a file mapping past its end). */
static void emit_contents(UInt type, Addr a, SizeT len, Bool skip_zero_pages)
{
   const SizeT page = 4096;
   ThreadId tid = VG_(get_running_tid)();
   ULong pc = tid != VG_INVALID_THREADID ? (ULong)VG_(get_IP)(tid) : 0;
   Addr p = type == OMNI_EXT_INITIAL ? (a & ~(Addr)(page - 1)) : a;
   while (p < a + len) {
      SizeT n = type == OMNI_EXT_INITIAL ? page : (a + len - p < page ? a + len - p : page);
      UInt fixed = type == OMNI_EXT_INITIAL ? 8 : OMNI_WRITE_FIXED_BYTES;
      UChar* out = ensure(OMNI_WORD_BYTES + fixed + n);
      UChar* bytes = out + OMNI_WORD_BYTES + fixed;
      SizeT got = safe_read(bytes, p, n);
      if (type == OMNI_EXT_INITIAL && got < n) {
         p += page;   /* startup memory: an unreadable page is simply left out */
         continue;
      }
      if (got > 0 && !(skip_zero_pages && all_zero(bytes, got))) {
         put_u64(out, OMNI_EXT_WORD(type, fixed + got));
         if (type == OMNI_EXT_INITIAL) {
            put_u64(out + 8, p);
         } else {
            put_u64(out + 8, g_icount);
            put_u64(out + 16, pc);
            put_u64(out + 24, p);
         }
         g_ptr = bytes + got;
      }
      if (got < n)
         return;
      p += n;
   }
}

/* Writable memory at startup may differ from its file (the loader zeroes
   .bss tails; the stack holds argv, environment and auxv): its non-zero pages
   go into the stream. Read-only memory is the file's. */
static void emit_initial_contents(Addr a, SizeT len)
{
   emit_contents(OMNI_EXT_INITIAL, a, len, True);
}

/* Whether the kernel says the mapping holding `a` is shared (the 's' of
   /proc/self/maps). Valgrind's segments do not say; this is read only when
   mremap moves or grows a mapping, which is rare. */
static Bool kernel_map_is_shared(Addr a)
{
   SysRes sr = VG_(open)("/proc/self/maps", VKI_O_RDONLY, 0);
   if (sr_isError(sr))
      return False;
   Int fd = (Int)sr_Res(sr);
   static HChar buf[4096 + 256];
   SizeT have = 0;
   Bool shared = False, found = False;
   for (;;) {
      Int r = VG_(read)(fd, buf + have, (Int)(sizeof buf - 1 - have));
      if (r <= 0)
         break;
      have += (SizeT)r;
      buf[have] = 0;
      HChar* line = buf;
      HChar* nl;
      while ((nl = VG_(strchr)(line, '\n')) != NULL) {
         *nl = 0;
         HChar* q = line;
         ULong lo = VG_(strtoull16)(q, &q);
         ULong hi = (*q == '-') ? VG_(strtoull16)(q + 1, &q) : 0;
         if (lo <= a && a < hi) {
            /* " rw-s" */
            shared = q[0] == ' ' && VG_(strlen)(q) >= 5 && q[4] == 's';
            found = True;
            break;
         }
         line = nl + 1;
      }
      if (found)
         break;
      have = (SizeT)(buf + have - line);
      VG_(memmove)(buf, line, have);
      if (have >= sizeof buf - 1)
         have = 0;   /* a line longer than the buffer: drop it */
   }
   VG_(close)(fd);
   return shared;
}

/* The syscall being made (set in pre_syscall, cleared in post): the
   mmap/mremap/shmat hooks run inside it, the lock held throughout. */
static Int g_sys_nr = -1;
static UWord g_sys_flags = 0;   /* mmap's flags */

static Bool is_shared_content(NSegment const* seg)
{
   return seg && (seg->kind == SkFileC || seg->kind == SkShmC);
}

/* How many of a mapping's `len` bytes to copy: OMNI_SHARED_COPY_MAX per
   mapping, OMNI_SHARED_COPY_TOTAL over the recording (an index costs about
   half a byte per byte copied). */
static ULong g_shared_copied = 0;
static SizeT copy_budget(SizeT len)
{
   ULong n = len < OMNI_SHARED_COPY_MAX ? len : OMNI_SHARED_COPY_MAX;
   ULong left = OMNI_SHARED_COPY_TOTAL - g_shared_copied;
   if (n > left)
      n = left;
   g_shared_copied += n;
   return (SizeT)n;
}

/* mremap moved [from, from + len) to `to`: the new range is a mapping whose
   contents came from elsewhere, which no store and no map hook describes.
   It is recorded as mapped (with the moved segment's protection, file and
   sharing) and its bytes as kernel writes, so memory there reads right:
   every page that can be read of a file or SysV shm mapping (whose
   unwritten bytes are otherwise taken from the file, or unknown), within
   copy_budget(); the non-zero pages of anonymous memory (which
   otherwise reads as zeros). */
static void omni_copy_mem_remap(Addr from, Addr to, SizeT len)
{
   NSegment const* seg = VG_(am_find_nsegment)(to);
   Bool rr = seg ? seg->hasR : True, ww = seg ? seg->hasW : True, xx = seg ? seg->hasX : False;
   Bool shared = (seg && seg->kind == SkShmC) || kernel_map_is_shared(to);
   UInt prot = (rr ? 1u : 0u) | (ww ? 2u : 0u) | (xx ? 4u : 0u) | (shared ? OMNI_PROT_SHARED : 0u);
   emit_map_prot(OMNI_MAP_MMAP, to, len, prot, True);
   Bool backed = seg && (seg->kind == SkFileC || seg->kind == SkFileV || seg->kind == SkShmC);
   emit_contents(OMNI_EXT_SYSCALL_WRITE, to, backed ? copy_budget(len) : len, !backed);
}

static void omni_new_mem_startup(Addr a, SizeT len, Bool rr, Bool ww, Bool xx,
                                 ULong di_handle)
{
   emit_map(OMNI_MAP_STARTUP, a, len, rr, ww, xx, True);
   if (ww)
      emit_initial_contents(a, len);
   /* The main stack grows down into a reservation below it (no tool hook
      reports that growth): record the reservation as mapped zeros. */
   NSegment const* below = ww && a > 0 ? VG_(am_find_nsegment)(a - 1) : NULL;
   if (below && below->kind == SkResvn && below->end + 1 == a)
      emit_map(OMNI_MAP_STARTUP, below->start, a - below->start, True, True, False, False);
}

/* A shared mapping of a file or of SysV shm: what it holds when it appears
   goes into the stream (stream.h, OMNI_PROT_SHARED), since the file may
   change afterwards. */
static void omni_new_mem_mmap(Addr a, SizeT len, Bool rr, Bool ww, Bool xx,
                              ULong di_handle)
{
   NSegment const* seg = VG_(am_find_nsegment)(a);
   Bool shared = (seg && seg->kind == SkShmC) || g_sys_nr == __NR_shmat ||
                 (g_sys_nr == __NR_mmap && (g_sys_flags & VKI_MAP_SHARED)) ||
                 (g_sys_nr == __NR_mremap && kernel_map_is_shared(a));
   UInt prot = (rr ? 1u : 0u) | (ww ? 2u : 0u) | (xx ? 4u : 0u) | (shared ? OMNI_PROT_SHARED : 0u);
   emit_map_prot(OMNI_MAP_MMAP, a, len, prot, True);
   if (shared && is_shared_content(seg))
      emit_contents(OMNI_EXT_SYSCALL_WRITE, a, copy_budget(len), False);
}

static void omni_die_mem_munmap(Addr a, SizeT len)
{
   emit_map(OMNI_MAP_MUNMAP, a, len, False, False, False, False);
}

static void omni_change_mem_mprotect(Addr a, SizeT len, Bool rr, Bool ww,
                                     Bool xx)
{
   emit_map(OMNI_MAP_MPROTECT, a, len, rr, ww, xx, True);
}

static void omni_new_mem_brk(Addr a, SizeT len, ThreadId tid)
{
   emit_map(OMNI_MAP_BRK_GROW, a, len, True, True, False, False);
}

static void omni_die_mem_brk(Addr a, SizeT len)
{
   emit_map(OMNI_MAP_BRK_SHRINK, a, len, False, False, False, False);
}

/* Records carry the thread implicitly (the last THREAD_RUN): announce `tid`
   when it is not the one that ran last. Callers run on tid's kernel thread. */
static void note_thread(ThreadId tid)
{
   if (tid == g_last_tid || tid == VG_INVALID_THREADID)
      return;
   g_last_tid = tid;
   g_next_snap = 0;
   emit_two_u32_time(OMNI_EXT_THREAD_RUN, tid, (UInt)VG_(gettid)(), g_icount);
}

/* A blocking syscall's thread returns (and its kernel writes arrive) before
   it runs client code again, so it is announced here too. */
static void omni_post_mem_write(CorePart part, ThreadId tid, Addr a, SizeT len)
{
   ULong pc = (tid != VG_INVALID_THREADID && tid < VG_N_THREADS) ? (ULong)VG_(get_IP)(tid) : 0;
   note_thread(tid);
   emit_write(OMNI_EXT_SYSCALL_WRITE, g_icount, pc, a, len);
}

/* The guest registers change outside the IR at a syscall, a client
   request, an emulation warning and the like (every superblock exit whose
   jump kind is not Boring, Call or Ret sets g_next_snap to 0 in generated
   code), at a signal delivery and when another thread ran: the next block
   entry takes a snapshot. Returns to the scheduler for other reasons (a
   translation miss, the end of a time slice) leave the registers alone. */
static void emit_pending_signal(ThreadId tid);
static void omni_start_client_code(ThreadId tid, ULong blocks_dispatched)
{
   note_thread(tid);
   emit_pending_signal(tid);
}

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
static ULong g_cur_block = 0;   /* 0 between blocks */

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
static void count_faulting_block(ThreadId tid)
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

/* A handler's invocation is logged (OMNI_EXT_SIGNAL) once its frame is
   built: the core builds it after pre_deliver_signal, and the thread's next
   start_client_code (or a second delivery first, which interrupts the first
   handler at its entry) sees the handler's pc and rsp. Per Valgrind thread
   id; signal 0: none pending. */
typedef struct {
   ULong time, pc, rsp;
   Int signal;
} PendingSignal;
static PendingSignal* g_pending_signal;  /* VG_N_THREADS entries, from post_clo_init */

static void emit_pending_signal(ThreadId tid)
{
   if (tid == VG_INVALID_THREADID || tid >= VG_N_THREADS || g_pending_signal[tid].signal == 0)
      return;
   const PendingSignal* s = &g_pending_signal[tid];
   UChar* p = ensure(OMNI_WORD_BYTES + OMNI_SIGNAL_BYTES);
   put_u64(p, OMNI_EXT_WORD(OMNI_EXT_SIGNAL, OMNI_SIGNAL_BYTES));
   put_u64(p + 8, s->time);
   put_u32(p + 16, tid);
   put_u32(p + 20, (UInt)s->signal);
   put_u64(p + 24, s->pc);
   put_u64(p + 32, s->rsp);
   put_u64(p + 40, (ULong)VG_(get_IP)(tid));
   put_u64(p + 48, (ULong)VG_(get_SP)(tid));
   g_ptr = p + OMNI_WORD_BYTES + OMNI_SIGNAL_BYTES;
   g_pending_signal[tid].signal = 0;
}

/* A signal the program handles. (A fatal one never comes here: fini counts
   that fault.) */
static void omni_pre_deliver_signal(ThreadId tid, Int sigNo, Bool alt_stack)
{
   g_next_snap = 0;
   if (sigNo == VKI_SIGSEGV || sigNo == VKI_SIGBUS || sigNo == VKI_SIGFPE || sigNo == VKI_SIGILL ||
       sigNo == VKI_SIGTRAP)
      count_faulting_block(tid);
   if (tid == VG_INVALID_THREADID || tid >= VG_N_THREADS)
      return;
   emit_pending_signal(tid);
   g_pending_signal[tid].time = g_icount;
   g_pending_signal[tid].pc = (ULong)VG_(get_IP)(tid);
   g_pending_signal[tid].rsp = (ULong)VG_(get_SP)(tid);
   g_pending_signal[tid].signal = sigNo;
}

/* Dirty helper at a block entry: the running thread's whole guest state. */
static void omni_snapshot(ULong block_addr)
{
   ThreadId tid = VG_(get_running_tid)();
   const SizeT size = sizeof(VexGuestAMD64State);
   UChar* p = ensure(OMNI_WORD_BYTES + OMNI_SNAPSHOT_FIXED_BYTES + size);
   put_u64(p, OMNI_EXT_WORD(OMNI_EXT_SNAPSHOT, OMNI_SNAPSHOT_FIXED_BYTES + size));
   put_u64(p + 8, g_icount);
   put_u32(p + 16, tid);
   put_u32(p + 20, (UInt)size);
   VG_(get_shadow_regs_area)(tid, p + 24, 0, 0, size);
   put_u64(p + 24 + __builtin_offsetof(VexGuestAMD64State, guest_RIP), block_addr);
   g_ptr = p + 24 + size;
   g_next_snap = g_icount + (ULong)clo_snapshot_interval;
   g_snapshots++;
}

/* CLONE_CHILD_CLEARTID / set_tid_address: when a thread exits, the kernel
   zeroes a word of its (pthread_join waits on it) without any hook telling
   the tool. Per Valgrind thread id: that word's address, 0 for none. */
static Addr* g_clear_tid;      /* VG_N_THREADS entries, from post_clo_init */
static Addr* g_pending_ctid;   /* a clone's child_tid, by the parent */

static void omni_pre_thread_ll_create(ThreadId parent, ThreadId child)
{
   emit_two_u32_time(OMNI_EXT_THREAD_CREATE, parent, child, g_icount);
   if (parent < VG_N_THREADS && child < VG_N_THREADS) {
      g_clear_tid[child] = g_pending_ctid[parent];
      g_pending_ctid[parent] = 0;
      g_pending_signal[child].signal = 0;   /* not one for the thread that had this id */
   }
}

static void omni_pre_thread_ll_exit(ThreadId tid)
{
   emit_two_u32_time(OMNI_EXT_THREAD_EXIT, tid, 0, g_icount);
   if (tid < VG_N_THREADS && g_clear_tid[tid] != 0) {
      /* The word is not zero yet: write the record's bytes directly. */
      UChar* p = ensure(OMNI_WORD_BYTES + OMNI_WRITE_FIXED_BYTES + 4);
      put_u64(p, OMNI_EXT_WORD(OMNI_EXT_SYSCALL_WRITE, OMNI_WRITE_FIXED_BYTES + 4));
      put_u64(p + 8, g_icount);
      put_u64(p + 16, (ULong)VG_(get_IP)(tid));
      put_u64(p + 24, g_clear_tid[tid]);
      put_u32(p + 32, 0);
      g_ptr = p + 36;
      g_clear_tid[tid] = 0;
   }
}

/* A successful execve replaces the process without running fini: hand out
   what is buffered first. (The stream then ends without OMNI_EXT_EXIT.)
   exit_group / exit carry the exit status fini is not told. */
/* The time each thread made its current syscall: other threads may run
   while it blocks, so the count at its return is not its time. */
static ULong* g_syscall_time;  /* VG_N_THREADS entries, from post_clo_init */

/* Whether a system call may wait for something outside the program (time,
   another process, a terminal, a pipe, the network). Only asked when the
   last flush is OMNI_FLUSH_INTERVAL_MS old. */
static Bool may_wait(UInt syscallno, UWord* args, UInt nArgs)
{
   switch (syscallno) {
   case __NR_nanosleep: case __NR_clock_nanosleep: case __NR_pause:
   case __NR_poll: case __NR_ppoll: case __NR_select: case __NR_pselect6:
   case __NR_epoll_wait: case __NR_epoll_pwait: case __NR_futex:
   case __NR_wait4: case __NR_waitid: case __NR_rt_sigsuspend: case __NR_rt_sigtimedwait:
   case __NR_accept: case __NR_accept4: case __NR_connect:
   case __NR_recvfrom: case __NR_recvmsg: case __NR_recvmmsg:
   case __NR_msgrcv: case __NR_semop: case __NR_semtimedop:
      return True;
   case __NR_read: case __NR_readv: {
      /* The dynamic loader and most programs read files, which do not
         wait: only a terminal, pipe or socket may. */
      struct vg_stat st;
      return nArgs >= 1 && VG_(fstat)((Int)args[0], &st) == 0
             && !VKI_S_ISREG(st.mode) && !VKI_S_ISBLK(st.mode);
   }
   default:
      return False;
   }
}

static void emit_syscall(ThreadId tid, ULong time, UInt syscallno, UWord* args,
                         UInt nArgs, Long result, ULong flags)
{
   UChar* p = ensure(OMNI_WORD_BYTES + OMNI_SYSCALL_BYTES);
   put_u64(p, OMNI_EXT_WORD(OMNI_EXT_SYSCALL, OMNI_SYSCALL_BYTES));
   put_u64(p + 8, time);
   put_u64(p + 16, syscallno);
   for (UInt i = 0; i < 6; i++)
      put_u64(p + 24 + 8 * i, i < nArgs ? (ULong)args[i] : 0);
   put_u64(p + 72, (ULong)result);
   put_u64(p + 80, flags);
   put_u64(p + 88, tid);
   g_ptr = p + OMNI_WORD_BYTES + OMNI_SYSCALL_BYTES;
}

static void emit_output(ThreadId tid, ULong time, UInt fd, const UChar* bytes,
                        SizeT size)
{
   while (size > 0) {
      SizeT n = size > OMNI_MAX_OUTPUT_BYTES ? OMNI_MAX_OUTPUT_BYTES : size;
      UChar* p = ensure(OMNI_WORD_BYTES + OMNI_OUTPUT_FIXED_BYTES + n);
      put_u64(p, OMNI_EXT_WORD(OMNI_EXT_OUTPUT, OMNI_OUTPUT_FIXED_BYTES + n));
      put_u64(p + 8, time);
      put_u32(p + 16, fd);
      put_u32(p + 20, tid);
      VG_(memcpy)(p + 24, bytes, n);
      g_ptr = p + OMNI_WORD_BYTES + OMNI_OUTPUT_FIXED_BYTES + n;
      bytes += n;
      size -= n;
   }
}

/* A successful execve replaces the process without running fini or the post
   hook: its record (without a result) and what is buffered go out first.
   (The stream then ends without OMNI_EXT_EXIT.) A failed one returns: the
   post hook sends its result as a LATE_RESULT record. exit_group / exit carry the
   exit status fini is not told; Valgrind still runs the post hook for them. */
static void omni_pre_syscall(ThreadId tid, UInt syscallno, UWord* args,
                             UInt nArgs)
{
   g_syscall_time[tid] = g_icount;
   g_sys_nr = (Int)syscallno;
   g_sys_flags = nArgs > 3 ? args[3] : 0;
   if (syscallno == __NR_clone && nArgs >= 4 && tid < VG_N_THREADS) {
      g_pending_ctid[tid] = (args[0] & VKI_CLONE_CHILD_CLEARTID) ? (Addr)args[3] : 0;
   } else if (syscallno == __NR_set_tid_address && nArgs >= 1 && tid < VG_N_THREADS) {
      g_clear_tid[tid] = (Addr)args[0];
   }
   if (syscallno == __NR_execve || syscallno == __NR_execveat) {
      emit_syscall(tid, g_icount, syscallno, args, nArgs, 0,
                   OMNI_SYSCALL_NO_RESULT);
      omni_flush();
      return;
   }
   /* More than the TIME record that starts every buffer, and the call may
      wait: hand it over (see OMNI_FLUSH_INTERVAL_MS). */
   if (g_ptr > g_buf + 16 && g_fd >= 0
       && VG_(read_millisecond_timer)() - g_last_flush_ms >= OMNI_FLUSH_INTERVAL_MS
       && may_wait(syscallno, args, nArgs))
      omni_flush();
   if (syscallno == __NR_exit_group) {
      /* Not exit(2): that ends one thread, not the process. */
      g_exitcode = (Int)args[0];
   }
}

static void omni_post_syscall(ThreadId tid, UInt syscallno, UWord* args,
                              UInt nArgs, SysRes res)
{
   ULong time = g_syscall_time[tid];
   Long result = sr_isError(res) ? -(Long)sr_Err(res) : (Long)sr_Res(res);
   g_sys_nr = -1;
   if (syscallno == __NR_execve || syscallno == __NR_execveat) {
      /* It failed; its record went out before the call. */
      emit_syscall(tid, time, syscallno, args, nArgs, result, OMNI_SYSCALL_LATE_RESULT);
      return;
   }
   emit_syscall(tid, time, syscallno, args, nArgs, result, 0);
   if (result <= 0 || nArgs < 3 || (args[0] != 1 && args[0] != 2))
      return;
   /* What reached stdout/stderr: the first `result` bytes of the buffers. */
   SizeT left = (SizeT)result;
   if (syscallno == __NR_write || syscallno == __NR_pwrite64) {
      emit_output(tid, time, (UInt)args[0], (const UChar*)args[1], left);
   } else if (syscallno == __NR_writev || syscallno == __NR_pwritev) {
      const struct vki_iovec* iov = (const struct vki_iovec*)args[1];
      for (UWord i = 0; i < args[2] && left > 0; i++) {
         SizeT n = iov[i].iov_len < left ? iov[i].iov_len : left;
         emit_output(tid, time, (UInt)args[0], (const UChar*)iov[i].iov_base, n);
         left -= n;
      }
   }
}

/* In a forked child the inherited buffer and descriptor belong to the
   parent's stream: stop output there. */
static void omni_atfork_child(ThreadId tid)
{
   if (g_fd >= 0)
      VG_(close)(g_fd);
   if (g_free_fd >= 0)
      VG_(close)(g_free_fd);
   g_fd = -1;
   g_free_fd = -1;
   g_disabled = True;
   g_ptr = g_buf;
}

/*------------------------------------------------------------*/
/*--- Instrumentation                                      ---*/
/*------------------------------------------------------------*/

typedef struct {
   ULong pc;
   UInt offset;
   UInt size;
   UInt kind;   /* OMNI_SITE_* */
} SiteDef;

/* Inline sites of the superblock being instrumented. The inline byte budget
   bounds their number: each takes at least 9 bytes. */
#define OMNI_MAX_SITES (OMNI_INLINE_MAX / 9 + 1)
static SiteDef g_sites[OMNI_MAX_SITES];

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

static void ir_block(const IRSB* sb)
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
   g_value_sites++;
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

static void emit_block_def(UInt id, UInt nsites, ULong guest_addr)
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
   g_ir_bytes += g_ir_len;
}

static void add_site(UInt* nsites, ULong pc, UInt offset, UInt size, UInt kind)
{
   tl_assert(*nsites < OMNI_MAX_SITES);
   g_sites[*nsites].pc = pc;
   g_sites[*nsites].offset = offset;
   g_sites[*nsites].size = size;
   g_sites[*nsites].kind = kind;
   (*nsites)++;
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

static IRSB* omni_instrument(VgCallbackClosure* closure, IRSB* sbIn,
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
   g_sites_defined += nsites;
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
         if (k == 1 && nsites > 0) {
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
            /* (c) block marker; g_icount is still the count at entry */
            IRTemp ic = load64(sbOut, &g_icount);
            IRTemp low = binop64(sbOut, Iop_And64, IRExpr_RdTmp(ic),
                                 mk64(OMNI_BLOCK_TIME_MASK));
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
            g_helper_sites++;
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

/*------------------------------------------------------------*/
/*--- Setup and finalisation                               ---*/
/*------------------------------------------------------------*/

/* Report a bad configuration and stop. (VG_(fmsg_bad_option) only exits
   while options are being parsed, not from post_clo_init.) */
static void omni_config_error(const HChar* what, const HChar* path)
{
   VG_(fmsg)("omni: %s%s%s\n", what, path ? ": " : "", path ? path : "");
   VG_(fmsg)("Use --help for more information.\n");
   VG_(exit)(1);
}

static void omni_post_clo_init(void)
{
   if (clo_out == NULL || clo_out[0] == 0)
      omni_config_error("--omni-out=PATH is required", NULL);
   if (g_buf == NULL)
      buf_alloc();
   SysRes sr = VG_(open)(clo_out, VKI_O_WRONLY | VKI_O_CREAT | VKI_O_TRUNC,
                         0644);
   if (sr_isError(sr))
      omni_config_error("cannot open the --omni-out file for writing", clo_out);
   Int fd = VG_(safe_fd)((Int)sr_Res(sr));
   if (fd < 0)
      omni_config_error("cannot move the output descriptor out of the "
                        "client's range", clo_out);
   g_fd = fd;
   if (clo_shm_fd >= 0 || clo_free_fd >= 0) {
      if (clo_shm_fd < 0 || clo_free_fd < 0)
         omni_config_error("--omni-shm-fd and --omni-free-fd go together", NULL);
      SizeT bytes = (SizeT)clo_slots * (SizeT)(g_end - g_buf);
      SysRes map = VG_(am_shared_mmap_file_float_valgrind)(
         bytes, VKI_PROT_READ | VKI_PROT_WRITE, (Int)clo_shm_fd, 0);
      if (sr_isError(map))
         omni_config_error("cannot map the --omni-shm-fd slots", NULL);
      g_shm = (UChar*)sr_Res(map);
      /* The mapping stays; the descriptors move out of the client's reach. */
      VG_(close)((Int)clo_shm_fd);
      g_free_fd = VG_(safe_fd)((Int)clo_free_fd);
      if (g_free_fd < 0)
         omni_config_error("cannot move --omni-free-fd out of the client's range", NULL);
      if (clo_key_fd < 0)
         omni_config_error("--omni-shm-fd needs --omni-key-fd", NULL);
      if (VG_(read)((Int)clo_key_fd, g_key, sizeof g_key) != (Int)sizeof g_key)
         omni_config_error("cannot read the channel key from --omni-key-fd", NULL);
      VG_(close)((Int)clo_key_fd);
   }
   g_syscall_time = VG_(calloc)("omni.syscall_time", VG_N_THREADS, sizeof(ULong));
   g_ir = VG_(malloc)("omni.ir", OMNI_IR_MAX);
   g_clear_tid = VG_(calloc)("omni.clear_tid", VG_N_THREADS, sizeof(Addr));
   g_pending_ctid = VG_(calloc)("omni.pending_ctid", VG_N_THREADS, sizeof(Addr));
   g_pending_signal = VG_(calloc)("omni.pending_signal", VG_N_THREADS, sizeof(PendingSignal));
   /* Replay needs every guest register exact at each instruction boundary
      (no Put dropped because a later one overwrites it), and one call or
      return per superblock end (no chasing into call targets). */
   VG_(clo_vex_control).iropt_register_updates_default = VexRegUpdAllregsAtEachInsn;
   VG_(clo_px_file_backed) = VexRegUpdAllregsAtEachInsn;
   VG_(clo_vex_control).guest_chase = False;
   VG_(atfork)(NULL, NULL, omni_atfork_child);
   if (clo_log_fd >= 0)
      VG_(close)((Int)clo_log_fd);
   /* The first message tells the launcher that the tool runs: from here on
      a failure is the recorder's, and the stream so far is kept. */
   if (g_shm != NULL)
      send_message(OMNI_MSG_HELLO, 0, 0);
}

static void omni_fini(Int exitcode)
{
   /* No exit_group: the program died of a signal, most likely a fault in
      the block that ran last. */
   if (g_exitcode == -1)
      count_faulting_block(g_last_tid);
   UChar* p = ensure(OMNI_WORD_BYTES + 16);
   put_u64(p, OMNI_EXT_WORD(OMNI_EXT_EXIT, 16));
   put_u64(p + 8, g_icount);
   put_u32(p + 16, (UInt)g_exitcode);   /* exitcode is always 0 */
   put_u32(p + 20, 0);
   g_ptr = p + 24;
   if (!g_disabled && g_fd >= 0) {
      /* send without appending a TIME record */
      send_buffer();
      g_ptr = g_buf;
      /* The stream is whole: nothing after this message is the tool's. */
      if (g_shm != NULL && g_fd >= 0)
         send_message(OMNI_MSG_FINAL, 0, 0);
      if (g_fd >= 0)
         VG_(close)(g_fd);
      g_fd = -1;
   }
   if (clo_stats) {
      VG_(umsg)("omni: %llu guest instructions, %u blocks defined "
                "(%llu inline sites, %llu helper sites)\n",
                g_icount, g_next_block_id - 1, g_sites_defined,
                g_helper_sites);
      VG_(umsg)("omni: %llu bytes written in %llu flushes\n",
                g_bytes_out, g_flushes);
      VG_(umsg)("omni: %llu register snapshots, %llu value sites, %llu IR bytes\n",
                g_snapshots, g_value_sites, g_ir_bytes);
   }
}

static void omni_pre_clo_init(void)
{
   VG_(details_name)("omni");
   VG_(details_version)(NULL);
   VG_(details_description)("the omni recorder");
   VG_(details_copyright_author)("Copyright (C) the omni authors.");
   VG_(details_bug_reports_to)(VG_BUGS_TO);
   VG_(details_avg_translation_sizeB)(400);

   VG_(basic_tool_funcs)(omni_post_clo_init, omni_instrument, omni_fini);

   VG_(needs_command_line_options)(omni_process_cmd_line_option,
                                   omni_print_usage, omni_print_debug_usage);
   VG_(needs_syscall_wrapper)(omni_pre_syscall, omni_post_syscall);

   VG_(track_new_mem_startup)(omni_new_mem_startup);
   VG_(track_new_mem_mmap)(omni_new_mem_mmap);
   VG_(track_copy_mem_remap)(omni_copy_mem_remap);
   VG_(track_die_mem_munmap)(omni_die_mem_munmap);
   VG_(track_change_mem_mprotect)(omni_change_mem_mprotect);
   VG_(track_new_mem_brk)(omni_new_mem_brk);
   VG_(track_die_mem_brk)(omni_die_mem_brk);
   VG_(track_post_mem_write)(omni_post_mem_write);
   VG_(track_start_client_code)(omni_start_client_code);
   VG_(track_pre_deliver_signal)(omni_pre_deliver_signal);
   VG_(track_pre_thread_ll_create)(omni_pre_thread_ll_create);
   VG_(track_pre_thread_ll_exit)(omni_pre_thread_ll_exit);
}

VG_DETERMINE_INTERFACE_VERSION(omni_pre_clo_init)
