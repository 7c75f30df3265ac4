/* omni tool: the records of what happens outside generated code.
 *
 * Owns: writes logged by the omni_log_write helper and by the kernel
 * (post_mem_write); the address space (mmap, munmap, mprotect, brk, mremap,
 * startup memory, and the contents of memory nothing just wrote, read
 * without ever faulting); threads (switches, creation, exit, the kernel's
 * CLEARTID write); signal deliveries; system calls and their output to fd 1
 * and 2; register snapshots; the EXIT record.
 *
 * Every record carries the thread implicitly (the last THREAD_RUN) and a
 * time from g_icount. Hooks run on the kernel thread of the Valgrind thread
 * they name, under Valgrind's big lock: per-thread state is arrays indexed
 * by ThreadId (VG_N_THREADS entries, allocated by events_init), the rest is
 * plain globals.
 */

#include "omni_tool.h"

static ThreadId g_last_tid = VG_INVALID_THREADID;   /* the last THREAD_RUN's thread */
/* Valgrind's core always passes 0 to fini, so the exit status is taken from
   the exit_group / exit syscall instead; -1 when none was seen (the program
   died of a signal). */
static Int g_exitcode = -1;

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
void omni_log_write(ULong time, ULong pc, ULong addr, ULong size)
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
void omni_copy_mem_remap(Addr from, Addr to, SizeT len)
{
   NSegment const* seg = VG_(am_find_nsegment)(to);
   Bool rr = seg ? seg->hasR : True, ww = seg ? seg->hasW : True, xx = seg ? seg->hasX : False;
   Bool shared = (seg && seg->kind == SkShmC) || kernel_map_is_shared(to);
   UInt prot = (rr ? 1u : 0u) | (ww ? 2u : 0u) | (xx ? 4u : 0u) | (shared ? OMNI_PROT_SHARED : 0u);
   emit_map_prot(OMNI_MAP_MMAP, to, len, prot, True);
   Bool backed = seg && (seg->kind == SkFileC || seg->kind == SkFileV || seg->kind == SkShmC);
   emit_contents(OMNI_EXT_SYSCALL_WRITE, to, backed ? copy_budget(len) : len, !backed);
}

void omni_new_mem_startup(Addr a, SizeT len, Bool rr, Bool ww, Bool xx,
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
void omni_new_mem_mmap(Addr a, SizeT len, Bool rr, Bool ww, Bool xx,
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

void omni_die_mem_munmap(Addr a, SizeT len)
{
   emit_map(OMNI_MAP_MUNMAP, a, len, False, False, False, False);
}

void omni_change_mem_mprotect(Addr a, SizeT len, Bool rr, Bool ww,
                                     Bool xx)
{
   emit_map(OMNI_MAP_MPROTECT, a, len, rr, ww, xx, True);
}

void omni_new_mem_brk(Addr a, SizeT len, ThreadId tid)
{
   emit_map(OMNI_MAP_BRK_GROW, a, len, True, True, False, False);
}

void omni_die_mem_brk(Addr a, SizeT len)
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
void omni_post_mem_write(CorePart part, ThreadId tid, Addr a, SizeT len)
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
void omni_start_client_code(ThreadId tid, ULong blocks_dispatched)
{
   note_thread(tid);
   emit_pending_signal(tid);
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
static PendingSignal* g_pending_signal;  /* VG_N_THREADS entries, from events_init */

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
void omni_pre_deliver_signal(ThreadId tid, Int sigNo, Bool alt_stack)
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
void omni_snapshot(ULong block_addr)
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
   g_stats.snapshots++;
}

/* CLONE_CHILD_CLEARTID / set_tid_address: when a thread exits, the kernel
   zeroes a word of its (pthread_join waits on it) without any hook telling
   the tool. Per Valgrind thread id: that word's address, 0 for none. */
static Addr* g_clear_tid;      /* VG_N_THREADS entries, from events_init */
static Addr* g_pending_ctid;   /* a clone's child_tid, by the parent */

void omni_pre_thread_ll_create(ThreadId parent, ThreadId child)
{
   emit_two_u32_time(OMNI_EXT_THREAD_CREATE, parent, child, g_icount);
   if (parent < VG_N_THREADS && child < VG_N_THREADS) {
      g_clear_tid[child] = g_pending_ctid[parent];
      g_pending_ctid[parent] = 0;
      g_pending_signal[child].signal = 0;   /* not one for the thread that had this id */
   }
}

void omni_pre_thread_ll_exit(ThreadId tid)
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

/* The time each thread made its current syscall: other threads may run
   while it blocks, so the count at its return is not its time. */
static ULong* g_syscall_time;  /* VG_N_THREADS entries, from events_init */

/* Whether a system call may wait for something outside the program (time,
   another process, a terminal, a pipe, the network). Only asked when a
   flush is overdue (transport_flush_overdue): it may cost an fstat. */
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

/* Per thread, the sequence number its current call took when it was made
   (transport_next_seq; 0: none). */
static ULong* g_seq_enter;  /* VG_N_THREADS entries, from events_init */

/* The SYSCALL record, preceded by its SEQ record when the call has a place
   in the recording's one order (seq_enter != 0): both in one piece of the
   buffer, so nothing comes between them. */
static void emit_syscall(ThreadId tid, ULong time, UInt syscallno, UWord* args,
                         UInt nArgs, Long result, ULong flags, ULong seq_enter, ULong seq_exit)
{
   SizeT seq_bytes = seq_enter ? OMNI_WORD_BYTES + OMNI_SEQ_BYTES : 0;
   UChar* p = ensure(seq_bytes + OMNI_WORD_BYTES + OMNI_SYSCALL_BYTES);
   if (seq_enter) {
      put_u64(p, OMNI_EXT_WORD(OMNI_EXT_SEQ, OMNI_SEQ_BYTES));
      put_u64(p + 8, seq_enter);
      put_u64(p + 16, seq_exit);
      p += seq_bytes;
   }
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

/* The files that count as output (--omni-output-files), parsed once in
   events_init; constant afterwards. */
#define OMNI_MAX_OUTPUT_FILES 2
static Bool g_output_filtered;
static UInt g_output_file_count;
static struct { ULong dev, ino; } g_output_files[OMNI_MAX_OUTPUT_FILES];

static void parse_output_files(void)
{
   if (clo_output_files == NULL)
      return;
   g_output_filtered = True;
   if (VG_(strcmp)(clo_output_files, "none") == 0)
      return;
   const HChar* p = clo_output_files;
   for (;;) {
      HChar* end;
      ULong dev = VG_(strtoull10)(p, &end);
      if (end == p || *end != ':' || g_output_file_count == OMNI_MAX_OUTPUT_FILES)
         omni_config_error("bad --omni-output-files (DEV:INO[,DEV:INO] or none)", clo_output_files);
      p = end + 1;
      ULong ino = VG_(strtoull10)(p, &end);
      if (end == p || (*end != ',' && *end != '\0'))
         omni_config_error("bad --omni-output-files (DEV:INO[,DEV:INO] or none)", clo_output_files);
      g_output_files[g_output_file_count].dev = dev;
      g_output_files[g_output_file_count].ino = ino;
      g_output_file_count++;
      if (*end == '\0')
         return;
      p = end + 1;
   }
}

/* Whether a write to fd (1 or 2) reached the recording's terminal. */
static Bool is_output_file(UInt fd)
{
   if (!g_output_filtered)
      return True;
   struct vg_stat st;
   if (VG_(fstat)((Int)fd, &st) != 0)
      return False;
   for (UInt i = 0; i < g_output_file_count; i++)
      if (g_output_files[i].dev == st.dev && g_output_files[i].ino == st.ino)
         return True;
   return False;
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
void omni_pre_syscall(ThreadId tid, UInt syscallno, UWord* args,
                             UInt nArgs)
{
   g_syscall_time[tid] = g_icount;
   g_seq_enter[tid] = transport_next_seq();
   g_sys_nr = (Int)syscallno;
   g_sys_flags = nArgs > 3 ? args[3] : 0;
   if (syscallno == __NR_clone && nArgs >= 4 && tid < VG_N_THREADS) {
      g_pending_ctid[tid] = (args[0] & VKI_CLONE_CHILD_CLEARTID) ? (Addr)args[3] : 0;
   } else if (syscallno == __NR_set_tid_address && nArgs >= 1 && tid < VG_N_THREADS) {
      g_clear_tid[tid] = (Addr)args[0];
   }
   if (syscallno == __NR_execve || syscallno == __NR_execveat) {
      emit_syscall(tid, g_icount, syscallno, args, nArgs, 0,
                   OMNI_SYSCALL_NO_RESULT, g_seq_enter[tid], 0);
      omni_flush();
      transport_before_exec(syscallno, args, nArgs);
      return;
   }
   if (transport_flush_overdue() && may_wait(syscallno, args, nArgs))
      omni_flush();
   if (syscallno == __NR_exit_group) {
      /* Not exit(2): that ends one thread, not the process. */
      g_exitcode = (Int)args[0];
   }
}

void omni_post_syscall(ThreadId tid, UInt syscallno, UWord* args,
                              UInt nArgs, SysRes res)
{
   ULong time = g_syscall_time[tid];
   Long result = sr_isError(res) ? -(Long)sr_Err(res) : (Long)sr_Res(res);
   g_sys_nr = -1;
   if (syscallno == __NR_execve || syscallno == __NR_execveat) {
      /* It failed; its record went out before the call. */
      transport_exec_failed();
      emit_syscall(tid, time, syscallno, args, nArgs, result, OMNI_SYSCALL_LATE_RESULT, g_seq_enter[tid],
                   g_seq_enter[tid] ? transport_next_seq() : 0);
      return;
   }
   emit_syscall(tid, time, syscallno, args, nArgs, result, 0, g_seq_enter[tid],
                g_seq_enter[tid] ? transport_next_seq() : 0);
   if (result <= 0 || nArgs < 3 || (args[0] != 1 && args[0] != 2) || !is_output_file((UInt)args[0]))
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

void emit_exit(void)
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
}

/* The pages of a read-only private file mapping that no longer hold the
   file's bytes: written before the mapping became read-only (the loader's
   relocations in a RELRO segment, then mprotect). /proc/self/pagemap says
   which pages are anonymous copies (bit 61 clear: not a file page) while
   present or swapped (bits 63, 62); those are recorded as startup memory,
   the rest reads from the file. Without pagemap every readable page is
   recorded. */
static void emit_private_pages(Addr a, SizeT len)
{
   const SizeT page = 4096;
   SysRes sr = VG_(open)("/proc/self/pagemap", VKI_O_RDONLY, 0);
   if (sr_isError(sr)) {
      emit_contents(OMNI_EXT_INITIAL, a, len, True);
      return;
   }
   Int fd = (Int)sr_Res(sr);
   ULong entries[512];
   for (Addr p = a; p < a + len;) {
      SizeT pages = (a + len - p) / page;
      if (pages > 512)
         pages = 512;
      if (pages == 0)
         break;
      SysRes r = VG_(pread)(fd, entries, (Int)(pages * 8), (OffT)((p / page) * 8));
      SizeT got = sr_isError(r) ? 0 : (SizeT)sr_Res(r) / 8;
      if (got == 0) {
         emit_contents(OMNI_EXT_INITIAL, p, a + len - p, True);
         break;
      }
      for (SizeT i = 0; i < got; i++) {
         ULong e = entries[i];
         Bool in_memory = (e >> 63) & 1 || (e >> 62) & 1;
         Bool file_page = (e >> 61) & 1;
         if (in_memory && !file_page)
            emit_contents(OMNI_EXT_INITIAL, p + i * page, page, True);
      }
      p += got * page;
   }
   VG_(close)(fd);
}

void events_fork_start(ThreadId tid)
{
   /* The parent's /proc/self/mem reads the parent's memory, which goes on
      changing: the child opens its own. */
   if (g_mem_fd >= 0)
      VG_(close)(g_mem_fd);
   g_mem_fd = -1;
   g_mem_fd_tried = False;
   for (ThreadId t = 0; t < VG_N_THREADS; t++) {
      if (t == tid)
         continue;
      g_syscall_time[t] = 0;
      g_seq_enter[t] = 0;
      g_clear_tid[t] = 0;
      g_pending_ctid[t] = 0;
      g_pending_signal[t].signal = 0;
   }
   /* The fork itself is the child's time 0; the kernel clears the word
      CLONE_CHILD_CLEARTID named when the child exits. */
   g_syscall_time[tid] = 0;
   if (g_pending_ctid[tid] != 0)
      g_clear_tid[tid] = g_pending_ctid[tid];
   g_pending_ctid[tid] = 0;
   g_pending_signal[tid].signal = 0;
   g_last_tid = VG_INVALID_THREADID;
   g_exitcode = -1;

   /* Every client mapping, as at a program's startup: the child's memory is
      its parent's at the fork, and this stream must answer for it alone. */
   Int room = 512, got;
   Addr* starts = VG_(malloc)("omni.fork_segments", room * sizeof(Addr));
   while ((got = VG_(am_get_segment_starts)(SkFileC | SkAnonC | SkShmC, starts, room)) < 0) {
      room = -got + 16;
      starts = VG_(realloc)("omni.fork_segments", starts, room * sizeof(Addr));
   }
   for (Int i = 0; i < got; i++) {
      NSegment const* seg = VG_(am_find_nsegment)(starts[i]);
      if (seg == NULL || seg->start != starts[i])
         continue;
      omni_new_mem_startup(seg->start, seg->end - seg->start + 1, seg->hasR, seg->hasW, seg->hasX, 0);
      if (!seg->hasW && seg->hasR && seg->kind == SkFileC)
         emit_private_pages(seg->start, seg->end - seg->start + 1);
   }
   VG_(free)(starts);

   /* The decoder knows thread 1 without a THREAD_CREATE; a fork from
      another thread leaves that one alone in the child. */
   if (tid != 1)
      emit_two_u32_time(OMNI_EXT_THREAD_CREATE, 0, tid, 0);
   note_thread(tid);
}

void events_init(void)
{
   g_syscall_time = VG_(calloc)("omni.syscall_time", VG_N_THREADS, sizeof(ULong));
   g_seq_enter = VG_(calloc)("omni.seq_enter", VG_N_THREADS, sizeof(ULong));
   g_clear_tid = VG_(calloc)("omni.clear_tid", VG_N_THREADS, sizeof(Addr));
   g_pending_ctid = VG_(calloc)("omni.pending_ctid", VG_N_THREADS, sizeof(Addr));
   g_pending_signal = VG_(calloc)("omni.pending_signal", VG_N_THREADS, sizeof(PendingSignal));
   parse_output_files();
}
