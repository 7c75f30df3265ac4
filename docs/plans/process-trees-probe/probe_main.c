/* ptprobe: a Valgrind tool that reports what it sees around fork and exec. */
#include "pub_tool_basics.h"
#include "pub_tool_tooliface.h"
#include "pub_tool_libcassert.h"
#include "pub_tool_libcbase.h"
#include "pub_tool_libcfile.h"
#include "pub_tool_libcprint.h"
#include "pub_tool_libcproc.h"
#include "pub_tool_mallocfree.h"
#include "pub_tool_options.h"
#include "pub_tool_aspacemgr.h"
#include "pub_tool_threadstate.h"
#include "pub_tool_vki.h"
#include "pub_tool_vkiscnums.h"
#include "pub_tool_xarray.h"
#include "pub_tool_transtab.h"
extern void VG_(discard_translations)(Addr start, ULong range, const HChar* who);
typedef struct { Int fd; Int type; HChar* fsname_expanded; } OutputSinkX;
extern OutputSinkX VG_(log_output_sink);
static Bool clo_logfix = False, clo_discard = False;
static ULong g_ninstr = 0;

extern Int VG_(safe_fd)(Int oldfd);
extern Int VG_(fcntl)(Int fd, Int cmd, Addr arg);
extern SysRes VG_(am_shared_mmap_file_float_valgrind)(SizeT length, UInt prot, Int fd, Off64T offset);
extern SysRes VG_(do_syscall)(UWord, RegWord, RegWord, RegWord, RegWord, RegWord, RegWord, RegWord, RegWord);
extern Bool VG_(clo_trace_children);
extern XArray* VG_(args_for_valgrind);
extern const HChar* VG_(name_of_launcher);
extern const HChar* VG_(libdir);

static const HChar* clo_shm = NULL;     /* a file to map MAP_SHARED (path) */
static Long clo_shm_fd = -1;            /* or an inherited fd */
static Long clo_gen = 0;                /* exec generation */
static Long clo_key_fd = -1;            /* a pipe to read 8 bytes from */
static Bool clo_untrace_setuid = False;
static const HChar* clo_ctl = NULL;     /* a SOCK_SEQPACKET control socket to connect to */
static Int g_ctl = -1;
static volatile ULong* g_ctl_page = NULL;

/* Connect to the control socket, say hello, receive a memfd (SCM_RIGHTS), map it. */
static void ctl_hello(const HChar* kind)
{
   if (clo_ctl == NULL) return;
   SysRes r = VG_(do_syscall)(__NR_socket, 1 /*AF_UNIX*/, 5 /*SOCK_SEQPACKET*/ | 0x80000 /*CLOEXEC*/, 0, 0, 0, 0, 0, 0);
   if (sr_isError(r)) { VG_(umsg)("PT socket failed %lu\n", sr_Err(r)); return; }
   Int s = VG_(safe_fd)((Int)sr_Res(r));
   struct vki_sockaddr_un a;
   VG_(memset)(&a, 0, sizeof a);
   a.sun_family = 1;
   VG_(strncpy)(a.sun_path, clo_ctl, sizeof a.sun_path - 1);
   r = VG_(do_syscall)(__NR_connect, s, (UWord)&a, sizeof a, 0, 0, 0, 0, 0);
   if (sr_isError(r)) { VG_(umsg)("PT connect failed %lu\n", sr_Err(r)); VG_(close)(s); return; }
   HChar msg[128];
   Int n = VG_(sprintf)(msg, "HELLO %s pid=%d ppid=%d", kind, VG_(getpid)(), VG_(getppid)());
   VG_(write)(s, msg, n);
   HChar buf[64];
   struct vki_iovec iov = { buf, sizeof buf };
   ULong cbuf[8];
   struct vki_msghdr mh;
   VG_(memset)(&mh, 0, sizeof mh);
   mh.msg_iov = &iov; mh.msg_iovlen = 1; mh.msg_control = cbuf; mh.msg_controllen = sizeof cbuf;
   r = VG_(do_syscall)(__NR_recvmsg, s, (UWord)&mh, 0x40000000 /*MSG_CMSG_CLOEXEC*/, 0, 0, 0, 0, 0);
   if (sr_isError(r)) { VG_(umsg)("PT recvmsg failed %lu\n", sr_Err(r)); return; }
   struct vki_cmsghdr* c = (struct vki_cmsghdr*)cbuf;
   Int fd = -1;
   if (mh.msg_controllen >= sizeof *c && c->cmsg_level == 1 && c->cmsg_type == 1 /*SCM_RIGHTS*/)
      fd = *(Int*)VKI_CMSG_DATA(c);
   VG_(umsg)("PT[%d] ctl %s: reply %ld bytes, got fd %d\n", VG_(getpid)(), kind, (Long)sr_Res(r), fd);
   if (fd >= 0) {
      SysRes m = VG_(am_shared_mmap_file_float_valgrind)(4096, VKI_PROT_READ | VKI_PROT_WRITE, fd, 0);
      VG_(close)(fd);
      if (!sr_isError(m)) {
         g_ctl_page = (volatile ULong*)sr_Res(m);
         VG_(umsg)("PT[%d] ctl page value after add: %llu\n", VG_(getpid)(), __atomic_add_fetch(g_ctl_page, 1, __ATOMIC_SEQ_CST));
      }
   }
   g_ctl = s;
}
static volatile ULong* g_counter = NULL;
static ULong g_icount = 0;
static ULong g_sb = 0;
static Int g_myfd = -1;
static Int g_keyr = -1;

static Bool pt_opt(const HChar* arg)
{
   if VG_STR_CLO(arg, "--pt-shm", clo_shm) {}
   else if VG_BINT_CLO(arg, "--pt-shm-fd", clo_shm_fd, 0, 1 << 20) {}
   else if VG_BINT_CLO(arg, "--pt-gen", clo_gen, 0, 1000) {}
   else if VG_BINT_CLO(arg, "--pt-key-fd", clo_key_fd, 0, 1 << 20) {}
   else if VG_BOOL_CLO(arg, "--pt-untrace-setuid", clo_untrace_setuid) {}
   else if VG_STR_CLO(arg, "--pt-ctl", clo_ctl) {}
   else if VG_BOOL_CLO(arg, "--pt-logfix", clo_logfix) {}
   else if VG_BOOL_CLO(arg, "--pt-discard", clo_discard) {}
   else return False;
   return True;
}
static void pt_usage(void) {}
static void pt_dusage(void) {}

static ULong tick(void) { return g_counter ? __atomic_add_fetch(g_counter, 1, __ATOMIC_SEQ_CST) : 0; }

static void list_fds(const HChar* when)
{
   Int fd;
   VG_(umsg)("PT[%d] %s fds:", VG_(getpid)(), when);
   for (fd = 0; fd < 70000; fd++) {
      Int fl = VG_(fcntl)(fd, VKI_F_GETFD, 0);
      if (fl >= 0) VG_(umsg)(" %d%s", fd, (fl & VKI_FD_CLOEXEC) ? "c" : "");
   }
   VG_(umsg)("\n");
}

static void pt_atfork_pre(ThreadId tid)   { VG_(umsg)("PT[%d] atfork pre tid=%u seq=%llu icount=%llu\n", VG_(getpid)(), tid, tick(), g_icount); }
static void pt_atfork_parent(ThreadId tid){ VG_(umsg)("PT[%d] atfork parent tid=%u seq=%llu\n", VG_(getpid)(), tid, tick()); }
static void pt_atfork_child(ThreadId tid)
{
   VG_(umsg)("PT[%d] atfork child tid=%u ppid=%d seq=%llu icount(copied)=%llu myfd=%d still open: %s\n",
             VG_(getpid)(), tid, VG_(getppid)(), tick(), g_icount, g_myfd,
             VG_(fcntl)(g_myfd, VKI_F_GETFD, 0) >= 0 ? "yes" : "no");
   if (clo_discard) {
      ULong before = g_ninstr;
      VG_(discard_translations)((Addr)0, 0x7fffffffffffULL, "ptprobe-fork");
      VG_(umsg)("PT[%d] discarded all translations in the child (instrumented so far: %llu)\n", VG_(getpid)(), before);
   }
   if (g_ctl >= 0) VG_(close)(g_ctl);   /* the parent's connection */
   g_ctl = -1;
   ctl_hello("fork");
}

static void pt_pre_syscall(ThreadId tid, UInt no, UWord* args, UInt n)
{
   if (no == __NR_clone || no == __NR_fork || no == __NR_vfork || no == __NR_clone3)
      VG_(umsg)("PT[%d] pre  %s flags=%#lx seq=%llu\n", VG_(getpid)(),
                no == __NR_clone ? "clone" : no == __NR_fork ? "fork" : no == __NR_vfork ? "vfork" : "clone3",
                args[0], tick());
   if (no == __NR_execve) {
      const HChar* path = (const HChar*)args[0];
      VG_(umsg)("PT[%d] pre  execve %s seq=%llu trace_children=%d launcher=%s libdir=%s\n",
                VG_(getpid)(), path, tick(), VG_(clo_trace_children), VG_(name_of_launcher), VG_(libdir));
      list_fds("before exec");
      if (clo_untrace_setuid) {
         struct vg_stat st;
         if (!sr_isError(VG_(stat)(path, &st)) && (st.mode & (VKI_S_ISUID | VKI_S_ISGID))) {
            VG_(umsg)("PT[%d] setuid target: run it natively\n", VG_(getpid)());
            VG_(clo_trace_children) = False;
         }
      }
      /* Rewrite our own args for the next image: --pt-gen=N+1 and a fresh key pipe. */
      Word i, na = VG_(sizeXA)(VG_(args_for_valgrind));
      Int p[2];
      if (VG_(pipe)(p) == 0) {
         Int r = VG_(safe_fd)(p[0]);       /* high, CLOEXEC */
         VG_(fcntl)(r, VKI_F_SETFD, 0);     /* survives exec */
         g_keyr = r;
         VG_(write)(p[1], "KEYKEYKE", 8);
         VG_(close)(p[1]);
         for (i = 0; i < na; i++) {
            HChar** a = (HChar**)VG_(indexXA)(VG_(args_for_valgrind), i);
            if (VG_(strncmp)(*a, "--pt-gen=", 9) == 0) {
               HChar* s = VG_(malloc)("pt", 32);
               VG_(sprintf)(s, "--pt-gen=%lld", clo_gen + 1);
               *a = s;
            } else if (clo_logfix && VG_(strncmp)(*a, "--log-fd=", 9) == 0) {
               Int lfd = VG_(log_output_sink).fd;
               VG_(fcntl)(lfd, VKI_F_SETFD, 0);
               HChar* s2 = VG_(malloc)("pt", 32);
               VG_(sprintf)(s2, "--log-fd=%d", lfd);
               *a = s2;
            } else if (VG_(strncmp)(*a, "--pt-key-fd=", 12) == 0) {
               HChar* s = VG_(malloc)("pt", 32);
               VG_(sprintf)(s, "--pt-key-fd=%d", r);
               *a = s;
            }
         }
      }
   }
}

static void pt_post_syscall(ThreadId tid, UInt no, UWord* args, UInt n, SysRes res)
{
   if (no == __NR_clone || no == __NR_fork || no == __NR_vfork || no == __NR_execve || no == __NR_clone3)
      VG_(umsg)("PT[%d] post %s -> %s%ld seq=%llu\n", VG_(getpid)(),
                no == __NR_clone ? "clone" : no == __NR_fork ? "fork" : no == __NR_vfork ? "vfork" : no == __NR_execve ? "execve" : "clone3",
                sr_isError(res) ? "err " : "", sr_isError(res) ? (Long)sr_Err(res) : (Long)sr_Res(res), tick());
   if (no == __NR_execve) { VG_(clo_trace_children) = True; if (g_keyr >= 0) VG_(close)(g_keyr); g_keyr = -1; }
}

static void pt_thread_create(ThreadId p, ThreadId c) { VG_(umsg)("PT[%d] thread create %u -> %u\n", VG_(getpid)(), p, c); }
static void pt_thread_exit(ThreadId t) { VG_(umsg)("PT[%d] thread exit %u\n", VG_(getpid)(), t); }

static void count_sb(void) { g_sb++; }
static IRSB* pt_instrument(VgCallbackClosure* c, IRSB* sb, const VexGuestLayout* l,
                           const VexGuestExtents* e, const VexArchInfo* a, IRType gw, IRType hw)
{
   g_ninstr++;
   return sb;
}

static void pt_post_clo_init(void)
{
   VG_(umsg)("PT[%d] post_clo_init gen=%lld ppid=%d\n", VG_(getpid)(), clo_gen, VG_(getppid)());
   if (clo_key_fd >= 0) {
      HChar k[9] = {0};
      Int got = VG_(read)((Int)clo_key_fd, k, 8);
      VG_(umsg)("PT[%d] key fd %lld read %d bytes '%s'\n", VG_(getpid)(), clo_key_fd, got, k);
      VG_(close)((Int)clo_key_fd);
   }
   Int fd = -1;
   if (clo_shm_fd >= 0) fd = (Int)clo_shm_fd;
   else if (clo_shm) {
      SysRes r = VG_(open)(clo_shm, VKI_O_RDWR, 0);
      if (!sr_isError(r)) fd = (Int)sr_Res(r);
   }
   if (fd >= 0) {
      SysRes m = VG_(am_shared_mmap_file_float_valgrind)(4096, VKI_PROT_READ | VKI_PROT_WRITE, fd, 0);
      if (!sr_isError(m)) g_counter = (volatile ULong*)sr_Res(m);
      VG_(umsg)("PT[%d] mapped shared page from fd %d: %s at %p value %llu\n", VG_(getpid)(), fd,
                sr_isError(m) ? "FAILED" : "ok", g_counter, g_counter ? *g_counter : 0);
      if (clo_shm_fd < 0) VG_(close)(fd);
   }
   /* a descriptor of our own, moved high (CLOEXEC), to watch across fork/exec */
   SysRes r = VG_(open)("/dev/null", VKI_O_RDONLY, 0);
   g_myfd = VG_(safe_fd)((Int)sr_Res(r));
   VG_(atfork)(pt_atfork_pre, pt_atfork_parent, pt_atfork_child);
   ctl_hello(clo_gen ? "exec" : "root");
   list_fds("at post_clo_init");
}

static void pt_fini(Int code)
{
   VG_(umsg)("PT[%d] fini gen=%lld seq=%llu superblocks instrumented=%llu\n", VG_(getpid)(), clo_gen, tick(), g_ninstr);
}

static void pt_pre_clo_init(void)
{
   VG_(details_name)("ptprobe");
   VG_(details_version)(NULL);
   VG_(details_description)("fork/exec probe");
   VG_(details_copyright_author)("scratch");
   VG_(details_bug_reports_to)("none");
   VG_(basic_tool_funcs)(pt_post_clo_init, pt_instrument, pt_fini);
   VG_(needs_command_line_options)(pt_opt, pt_usage, pt_dusage);
   VG_(needs_syscall_wrapper)(pt_pre_syscall, pt_post_syscall);
   VG_(track_pre_thread_ll_create)(pt_thread_create);
   VG_(track_pre_thread_ll_exit)(pt_thread_exit);
}

VG_DETERMINE_INTERFACE_VERSION(pt_pre_clo_init)
