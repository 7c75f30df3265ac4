/* omni tool: the output buffer and how it leaves the tool.
 *
 * Owns the buffer (g_buf .. g_end, write pointer g_ptr) and the output:
 * with `omni record` (--omni-ctl), the tool connects to the recorder's
 * Unix-domain stream socket at startup; each full buffer is copied into a
 * free shared-memory slot (--omni-shm-fd), whose number comes in a RELEASE
 * message on that connection, and named in a SLOT message on it; HELLO and
 * FINAL messages bracket the stream. Every message in both directions
 * carries a sequence number (per connection) and a SipHash-2-4 MAC under
 * the key read from --omni-key-fd (omni_channel.h). With --omni-out alone
 * the buffer is written to that file.
 *
 * Invariants: the buffer is allocated once and never moves (translations
 * hold g_soft's value and g_ptr's address); after a flush it starts with a
 * TIME record; once g_disabled is set (an I/O error, a forked child) nothing
 * more is written and the buffer is simply reset. The tool holds one
 * descriptor of its own (the connection or the --omni-out file), in
 * Valgrind's reserved range: that range has room for about 8 (the core
 * keeps 12 and uses 4). Runs under Valgrind's big lock, like all of the tool.
 */

#include "omni_tool.h"
#include "omni_channel.h"

UChar* g_buf = NULL;
UChar* g_end = NULL;
UChar* g_soft = NULL;
UChar* g_ptr = NULL;

static Int g_fd = -1;          /* output: the connection or the --omni-out file; -1 until opened */
static Bool g_socket = False;  /* g_fd is the connection to omni record (RELEASEs come on it too) */
static UChar* g_shm = NULL;    /* the slots (shared-memory mode) */
static volatile ULong* g_seq = NULL; /* the sequence page's counter; NULL: none */
static omni_u8 g_key[OMNI_CHANNEL_KEY_BYTES];  /* the channel's key (shared-memory mode) */
static UInt g_sent_seq = 0;    /* sequence number of the next message to omni */
static UInt g_release_seq = 0; /* sequence number of the next free-slot message */
static Bool g_disabled = False;/* set after an I/O error, or in a forked child with --omni-out */
/* A recorded process whose recorder has gone must not go on unrecorded: the
   root's Valgrind dies with omni record (PR_SET_PDEATHSIG), a forked one
   when its channel fails. */
static Bool g_forked = False;
/* This process's pid, as the tool last learned it: in a forked child's
   atfork handler it is still the parent's (getppid() would name whoever
   adopted the child if the parent has exited already). */
static Int g_pid = 0;
/* The forked child's first free-slot message, read with the slots'
   descriptor (receive_slots); send_buffer takes it before reading more. */
static omni_u8 g_first_release[OMNI_RELEASE_BYTES];
static Bool g_have_first_release = False;

/* A system call that may wait flushes the buffer when the last flush is at
   least this old: if Valgrind is killed (SIGKILL of omni record's whole
   group, the OOM killer), what is lost is the buffer, and a program that
   mostly waits would otherwise lose its whole run since the buffer last
   filled. */
#define OMNI_FLUSH_INTERVAL_MS 200u
static UInt g_last_flush_ms = 0;

void buf_alloc(void)
{
   SizeT size = (SizeT)clo_buffer_kb * 1024;
   g_buf = VG_(malloc)("omni.buffer", size);
   g_end = g_buf + size;
   g_soft = g_end - OMNI_GUARD_BYTES;
   g_ptr = g_buf;
   __builtin_memcpy(g_ptr, OMNI_STREAM_MAGIC, 8);
   put_u32(g_ptr + 8, OMNI_STREAM_VERSION);
   put_u32(g_ptr + 12, clo_every_block ? OMNI_STREAM_FLAG_EVERY_BLOCK : 0);
   g_ptr += OMNI_STREAM_PREAMBLE_BYTES;
}

/* On the connection, send() with MSG_NOSIGNAL: if omni record has gone, a
   write must fail with EPIPE, not raise a SIGPIPE that Valgrind would hand
   to the program. */
static Int write_some(const UChar* p, Int n)
{
   if (!g_socket)
      return VG_(write)(g_fd, p, n);
   SysRes r = VG_(do_syscall)(__NR_sendto, (UWord)g_fd, (UWord)p, (UWord)n,
                              VKI_MSG_NOSIGNAL, 0, 0, 0, 0);
   return sr_isError(r) ? -1 : (Int)sr_Res(r);
}

static void write_all(const UChar* p, SizeT n)
{
   while (n > 0) {
      Int chunk = n > (1u << 30) ? (1 << 30) : (Int)n;
      Int r = write_some(p, chunk);
      if (r <= 0) {
         VG_(umsg)("omni: writing to %s failed; recording stopped\n",
                   g_socket ? clo_ctl : clo_out ? clo_out : "(null)");
         if (g_forked) {
            VG_(kill)(VG_(getpid)(), VKI_SIGKILL);
            VG_(exit)(1);
         }
         VG_(close)(g_fd);
         g_fd = -1;
         g_disabled = True;
         return;
      }
      p += r;
      n -= r;
      g_stats.bytes_out += r;
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
      say so. A free-slot message that fails its check was forged, or part
      of omni's was taken, by something else using the connection's
      descriptor (the program can recv() on it by number: Valgrind checks
      read() against its reserved range, not the socket calls): the
      recording cannot be trusted past this point, so it stops here and the
      program with it (fini would send a final message). A stream may hand a
      message over in parts: read until it is whole. */
   omni_u8 release[OMNI_RELEASE_BYTES];
   UInt slot = 0;
   Int got = 0;
   if (g_have_first_release) {
      VG_(memcpy)(release, g_first_release, sizeof release);
      got = (Int)sizeof release;
      g_have_first_release = False;
   }
   while (got < (Int)sizeof release) {
      Int r = VG_(read)(g_fd, release + got, (Int)sizeof release - got);
      if (r <= 0)
         break;
      got += r;
   }
   if (got < (Int)sizeof release) {
      VG_(umsg)("omni: the recorder's reader went away; recording stopped\n");
      if (g_forked) {
         VG_(kill)(VG_(getpid)(), VKI_SIGKILL);
         VG_(exit)(1);
      }
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

/* Write [g_buf, g_ptr) out and start a new buffer with a TIME record. Called
   from generated code (as a dirty helper) and from C helpers. */
void omni_flush(void)
{
   if (g_disabled) {
      g_ptr = g_buf;
      return;
   }
   if (g_fd < 0)
      return;   /* not open yet: keep buffering */
   g_stats.flushes++;
   g_last_flush_ms = VG_(read_millisecond_timer)();
   send_buffer();
   g_ptr = g_buf;
   if (g_disabled)
      return;
   put_u64(g_ptr, OMNI_EXT_WORD(OMNI_EXT_TIME, 8));
   put_u64(g_ptr + 8, g_icount);
   g_last_block_time = g_icount;
   g_ptr += 16;
}

#define OMNI_SOCK_CLOEXEC 02000000 /* SOCK_CLOEXEC (O_CLOEXEC on amd64); not in vki */
#define OMNI_MSG_CMSG_CLOEXEC 0x40000000 /* MSG_CMSG_CLOEXEC; not in vki */

/* Connects to omni record's socket (raw syscalls: the tool has no libc).
   The recorder learns this process's pid from the kernel (SO_PEERCRED), so
   the connection is made here, in Valgrind's process, before the program
   runs. */
static Int connect_ctl(const HChar* path)
{
   struct vki_sockaddr_un addr;
   SizeT len = VG_(strlen)(path);
   if (len == 0 || len >= sizeof addr.sun_path)
      omni_config_error("the --omni-ctl path is empty or too long", path);
   VG_(memset)(&addr, 0, sizeof addr);
   addr.sun_family = VKI_AF_UNIX;
   VG_(memcpy)(addr.sun_path, path, len);
   SysRes sr = VG_(do_syscall)(__NR_socket, VKI_AF_UNIX,
                               VKI_SOCK_STREAM | OMNI_SOCK_CLOEXEC, 0, 0, 0, 0, 0, 0);
   if (sr_isError(sr))
      omni_config_error("cannot create a socket for the recorder's channel", path);
   Int s = (Int)sr_Res(sr);
   sr = VG_(do_syscall)(__NR_connect, (UWord)s, (UWord)&addr, sizeof addr, 0, 0, 0, 0, 0);
   if (sr_isError(sr)) {
      VG_(close)(s);
      omni_config_error("cannot connect to the recorder's socket", path);
   }
   Int fd = VG_(safe_fd)(s);
   if (fd < 0)
      omni_config_error("cannot move the recorder's connection out of the "
                        "client's range", path);
   return fd;
}

static Bool receive_slots(void);

/* Maps the sequence page from `fd` (closed here) unless one is mapped. */
static void map_seq(Int fd)
{
   if (fd < 0)
      return;
   if (g_seq == NULL) {
      SysRes map = VG_(am_shared_mmap_file_float_valgrind)(4096, VKI_PROT_READ | VKI_PROT_WRITE, fd, 0);
      if (!sr_isError(map))
         g_seq = (volatile ULong*)sr_Res(map);
   }
   VG_(close)(fd);
}

ULong transport_next_seq(void)
{
   if (g_seq == NULL)
      return 0;
   /* One counter for every recorded process: an atomic add on shared
      memory, no system call. */
   return __atomic_add_fetch(g_seq, 1, __ATOMIC_SEQ_CST);
}

void transport_open(void)
{
   g_pid = VG_(getpid)();
   Bool have_ctl = clo_ctl != NULL && clo_ctl[0] != 0;
   Bool have_out = clo_out != NULL && clo_out[0] != 0;
   if (have_ctl == have_out)
      omni_config_error("give one of --omni-ctl=SOCKET and --omni-out=PATH", NULL);
   if (have_ctl && ((clo_shm_fd < 0 && !clo_exec_image) || clo_key_fd < 0))
      omni_config_error("--omni-ctl needs --omni-shm-fd and --omni-key-fd", NULL);
   if (!have_ctl && clo_shm_fd >= 0)
      omni_config_error("--omni-shm-fd goes with --omni-ctl", NULL);
   if (g_buf == NULL)
      buf_alloc();
   if (have_out) {
      /* Standalone (debugging): a private file. */
      SysRes sr = VG_(open)(clo_out, VKI_O_WRONLY | VKI_O_CREAT | VKI_O_TRUNC,
                            0600);
      if (sr_isError(sr))
         omni_config_error("cannot open the --omni-out file for writing", clo_out);
      Int fd = VG_(safe_fd)((Int)sr_Res(sr));
      if (fd < 0)
         omni_config_error("cannot move the output descriptor out of the "
                           "client's range", clo_out);
      g_fd = fd;
      return;
   }
   /* The key first: it is what makes the connection's messages the tool's. */
   if (VG_(read)((Int)clo_key_fd, g_key, sizeof g_key) != (Int)sizeof g_key)
      omni_config_error("cannot read the channel key from --omni-key-fd", NULL);
   VG_(close)((Int)clo_key_fd);
   if (clo_exec_image) {
      /* An image a recorded one exec'd: its slots come on the connection. */
      g_fd = connect_ctl(clo_ctl);
      g_socket = True;
      g_forked = True;
      omni_u8 hello[OMNI_MSG_BYTES];
      omni_encode_message(hello, g_key, OMNI_MSG_HELLO_EXEC, 0, 0, g_sent_seq++);
      write_all(hello, sizeof hello);
      if (g_disabled || !receive_slots())
         omni_config_error("the recorder did not take the exec'd image", clo_ctl);
      return;
   }
   {
      SizeT bytes = (SizeT)clo_slots * (SizeT)(g_end - g_buf);
      SysRes map = VG_(am_shared_mmap_file_float_valgrind)(
         bytes, VKI_PROT_READ | VKI_PROT_WRITE, (Int)clo_shm_fd, 0);
      if (sr_isError(map))
         omni_config_error("cannot map the --omni-shm-fd slots", NULL);
      g_shm = (UChar*)sr_Res(map);
      /* The mapping stays; the descriptor is not needed any more. */
      VG_(close)((Int)clo_shm_fd);
   }
   map_seq((Int)clo_seq_fd);
   g_fd = connect_ctl(clo_ctl);
   g_socket = True;
}

void transport_hello(void)
{
   /* The first message tells the launcher that the tool runs: from here on
      a failure is the recorder's, and the stream so far is kept. (An exec'd
      image said HELLO_EXEC already.) */
   if (g_shm != NULL && !clo_exec_image)
      send_message(OMNI_MSG_HELLO, 0, 0);
}

/* What transport_before_exec handed the next image, taken back if the exec
   fails: the key pipe's read end (-1: none), the log descriptor made
   inheritable, and whether tracing was turned off for a setuid program. */
static Int g_exec_key_fd = -1;
static Int g_exec_log_fd = -1;
static Bool g_exec_untraced = False;

/* Sets NAME=VALUE among the options the next image's Valgrind gets
   (replacing an option of that name, else appending it). */
static void set_next_option(const HChar* name, const HChar* value)
{
   XArray* xa = VG_(args_for_valgrind);
   SizeT nlen = VG_(strlen)(name);
   HChar* text = VG_(malloc)("omni.exec_option", nlen + VG_(strlen)(value) + 2);
   VG_(sprintf)(text, "%s=%s", name, value);
   for (Word i = 0; i < VG_(sizeXA)(xa); i++) {
      HChar** arg = (HChar**)VG_(indexXA)(xa, i);
      if (VG_(strncmp)(*arg, name, nlen) == 0 && (*arg)[nlen] == '=') {
         *arg = text;   /* the old text may be the core's: not freed */
         return;
      }
   }
   VG_(addToXA)(xa, &text);
}

/* Removes NAME=... from the next image's options. */
static void drop_next_option(const HChar* name)
{
   XArray* xa = VG_(args_for_valgrind);
   SizeT nlen = VG_(strlen)(name);
   for (Word i = 0; i < VG_(sizeXA)(xa); i++) {
      HChar* arg = *(HChar**)VG_(indexXA)(xa, i);
      if (VG_(strncmp)(arg, name, nlen) == 0 && arg[nlen] == '=') {
         VG_(removeIndexXA)(xa, i);
         return;
      }
   }
}

void transport_before_exec(UInt syscallno, UWord* args, UInt nArgs)
{
   g_exec_key_fd = g_exec_log_fd = -1;
   g_exec_untraced = False;
   if (!VG_(clo_trace_children))
      return;
   if (!clo_follow_exec || !g_socket || g_disabled || g_fd < 0) {
      /* Not recorded (--omni-out, a process not followed): the next image
         would get options naming descriptors that are gone. */
      VG_(clo_trace_children) = False;
      g_exec_untraced = True;
      return;
   }
   /* Valgrind refuses to run a setuid or setgid program (the exec would
      fail with EACCES): it runs natively, unrecorded. So does execveat,
      whose path is relative to a descriptor the tool does not resolve. */
   struct vg_stat st;
   Bool untraced = syscallno != __NR_execve;
   if (!untraced && nArgs >= 1 && args[0] != 0 && !sr_isError(VG_(stat)((const HChar*)args[0], &st)))
      untraced = (st.mode & (VKI_S_ISUID | VKI_S_ISGID)) != 0;
   if (untraced) {
      VG_(clo_trace_children) = False;
      g_exec_untraced = True;
      return;
   }
   /* A program the core will not trace (omni record --skip: its
      --trace-children-skip patterns) runs natively: it must get nothing of
      the tool's (no key pipe, no inheritable log descriptor). */
   if (nArgs >= 2 && !VG_(should_we_trace_this_child)((const HChar*)args[0], (const HChar**)args[1]))
      return;
   /* The key, through a pipe whose read end survives the exec (the new
      image reads and closes it before its program runs). */
   Int fds[2];
   if (VG_(pipe)(fds) != 0)
      return;
   Int wrote = VG_(write)(fds[1], g_key, sizeof g_key);
   VG_(close)(fds[1]);
   Int keep = wrote == (Int)sizeof g_key ? VG_(safe_fd)(fds[0]) : -1;
   if (keep < 0) {
      VG_(close)(fds[0]);
      VG_(clo_trace_children) = False;
      g_exec_untraced = True;
      return;
   }
   VG_(fcntl)(keep, VKI_F_SETFD, 0);
   g_exec_key_fd = keep;
   HChar number[32];
   VG_(sprintf)(number, "%d", keep);
   set_next_option("--omni-key-fd", number);
   /* Valgrind's log: the descriptor it writes now, kept open across the
      exec; the new image's Valgrind copies it and its tool closes it
      (--omni-log-fd), as the first image's does. */
   Int log = VG_(log_output_sink).fd;
   if (log >= 0) {
      VG_(fcntl)(log, VKI_F_SETFD, 0);
      g_exec_log_fd = log;
      VG_(sprintf)(number, "%d", log);
      set_next_option("--log-fd", number);
      set_next_option("--omni-log-fd", number);
   }
   drop_next_option("--omni-shm-fd");
   drop_next_option("--omni-seq-fd");
   set_next_option("--omni-exec-image", "yes");
}

void transport_exec_failed(void)
{
   if (g_exec_untraced)
      VG_(clo_trace_children) = True;
   if (g_exec_key_fd >= 0)
      VG_(close)(g_exec_key_fd);
   if (g_exec_log_fd >= 0)
      VG_(fcntl)(g_exec_log_fd, VKI_F_SETFD, VKI_FD_CLOEXEC);
   g_exec_key_fd = g_exec_log_fd = -1;
   g_exec_untraced = False;
}

Bool transport_flush_overdue(void)
{
   /* More than the TIME record that starts every buffer, and the call may
      wait: hand it over (see OMNI_FLUSH_INTERVAL_MS). */
   return g_ptr > g_buf + 16 && g_fd >= 0
          && VG_(read_millisecond_timer)() - g_last_flush_ms >= OMNI_FLUSH_INTERVAL_MS;
}

void transport_finish(void)
{
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
}

/* Reads the first free-slot message on the connection, which carries this
   image's slots file as an SCM_RIGHTS descriptor (omni_channel.h), and maps
   the slots. Blocks: the program does not run meanwhile. */
static Bool receive_slots(void)
{
   struct vki_msghdr msg;
   struct vki_iovec iov;
   union {
      struct vki_cmsghdr align;
      UChar bytes[64];
   } control;
   Int got = 0;
   Int fd = -1;
   while (got < (Int)OMNI_RELEASE_BYTES) {
      VG_(memset)(&msg, 0, sizeof msg);
      VG_(memset)(&control, 0, sizeof control);
      iov.iov_base = g_first_release + got;
      iov.iov_len = OMNI_RELEASE_BYTES - got;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = &control;
      msg.msg_controllen = sizeof control;
      SysRes r = VG_(do_syscall)(__NR_recvmsg, (UWord)g_fd, (UWord)&msg, OMNI_MSG_CMSG_CLOEXEC,
                                 0, 0, 0, 0, 0);
      if (sr_isError(r) && sr_Err(r) == VKI_EINTR)
         continue;
      if (sr_isError(r) || sr_Res(r) == 0)
         break;
      struct vki_cmsghdr* c = VKI_CMSG_FIRSTHDR(&msg);
      if (c != NULL && c->cmsg_level == VKI_SOL_SOCKET && c->cmsg_type == VKI_SCM_RIGHTS
          && c->cmsg_len >= sizeof(struct vki_cmsghdr) + sizeof(Int) && fd < 0) {
         VG_(memcpy)(&fd, VKI_CMSG_DATA(c), sizeof(Int));
         /* The second descriptor: the sequence page. */
         if (c->cmsg_len >= sizeof(struct vki_cmsghdr) + 2 * sizeof(Int)) {
            Int seq_fd;
            VG_(memcpy)(&seq_fd, (UChar*)VKI_CMSG_DATA(c) + sizeof(Int), sizeof(Int));
            map_seq(seq_fd);
         }
      }
      got += (Int)sr_Res(r);
   }
   if (got < (Int)OMNI_RELEASE_BYTES || fd < 0) {
      if (fd >= 0)
         VG_(close)(fd);
      return False;
   }
   SizeT bytes = (SizeT)clo_slots * (SizeT)(g_end - g_buf);
   SysRes map = VG_(am_shared_mmap_file_float_valgrind)(bytes, VKI_PROT_READ | VKI_PROT_WRITE, fd, 0);
   VG_(close)(fd);
   if (sr_isError(map))
      return False;
   g_shm = (UChar*)sr_Res(map);
   g_have_first_release = True;
   return True;
}

void omni_atfork_child(ThreadId tid)
{
   if (g_fd >= 0)
      VG_(close)(g_fd);
   g_fd = -1;
   g_ptr = g_buf;
   if (!g_socket || g_disabled || !clo_follow_forks) {
      g_disabled = True;
      return;
   }
   g_forked = True;
   if (g_shm != NULL)
      VG_(am_munmap_valgrind)((Addr)g_shm, (SizeT)clo_slots * (SizeT)(g_end - g_buf));
   g_shm = NULL;
   g_have_first_release = False;
   g_sent_seq = 0;
   g_release_seq = 0;
   g_last_flush_ms = VG_(read_millisecond_timer)();
   g_stats = (OmniStats){0};
   /* A new stream: its preamble, then what the child's memory holds. */
   __builtin_memcpy(g_ptr, OMNI_STREAM_MAGIC, 8);
   put_u32(g_ptr + 8, OMNI_STREAM_VERSION);
   put_u32(g_ptr + 12, clo_every_block ? OMNI_STREAM_FLAG_EVERY_BLOCK : 0);
   g_ptr += OMNI_STREAM_PREAMBLE_BYTES;
   instrument_fork_restart();

   Int parent = g_pid;
   g_pid = VG_(getpid)();
   g_fd = connect_ctl(clo_ctl);
   omni_u8 hello[OMNI_MSG_BYTES];
   omni_encode_message(hello, g_key, OMNI_MSG_HELLO_FORK, (UInt)parent, 0, g_sent_seq++);
   write_all(hello, sizeof hello);
   if (g_disabled || !receive_slots()) {
      VG_(umsg)("omni: the recorder did not take the forked process %d; it stops\n",
                VG_(getpid)());
      VG_(kill)(VG_(getpid)(), VKI_SIGKILL);
      VG_(exit)(1);
   }
   events_fork_start(tid);
}
