/* omni: the Valgrind recorder tool of the omni debugger (omni_tool.h says
 * how its files divide the work). This file: the command-line options
 * (clo_*, read once while Valgrind parses options, constant afterwards),
 * pre_clo_init (the tool's details, needs and hooks), post_clo_init (the
 * output, per-thread state, VEX settings), and fini (the EXIT record, the
 * stream's end, statistics). Layout follows Valgrind's example tools.
 */

#include "omni_tool.h"
#include "omni_channel.h"

OmniStats g_stats;

/*------------------------------------------------------------*/
/*--- Command-line options                                 ---*/
/*------------------------------------------------------------*/

const HChar* clo_out = NULL;
Long clo_buffer_kb = 4096;
Bool clo_stats = False;
const HChar* clo_ctl = NULL;
Long clo_shm_fd = -1;
Long clo_slots = 16;
Long clo_key_fd = -1;
Long clo_seq_fd = -1;
Long clo_log_fd = -1;
Long clo_snapshot_interval = OMNI_DEFAULT_SNAPSHOT_INTERVAL;
Bool clo_follow_forks = True;
Bool clo_follow_exec = False;
Bool clo_exec_image = False;
const HChar* clo_output_files = NULL;
Bool clo_every_block = False;

static Bool omni_process_cmd_line_option(const HChar* arg)
{
   if VG_STR_CLO(arg, "--omni-out", clo_out) {}
   else if VG_STR_CLO(arg, "--omni-ctl", clo_ctl) {}
   else if VG_BINT_CLO(arg, "--omni-buffer-kb", clo_buffer_kb, 256, 1024 * 1024) {}
   else if VG_BOOL_CLO(arg, "--omni-stats", clo_stats) {}
   else if VG_BOOL_CLO(arg, "--omni-follow-forks", clo_follow_forks) {}
   else if VG_BOOL_CLO(arg, "--omni-follow-exec", clo_follow_exec) {}
   else if VG_BOOL_CLO(arg, "--omni-exec-image", clo_exec_image) {}
   else if VG_STR_CLO(arg, "--omni-output-files", clo_output_files) {}
   else if VG_BOOL_CLO(arg, "--omni-every-block", clo_every_block) {}
   else if VG_BINT_CLO(arg, "--omni-shm-fd", clo_shm_fd, 0, 1 << 20) {}
   else if VG_BINT_CLO(arg, "--omni-slots", clo_slots, 2, 4096) {}
   else if VG_BINT_CLO(arg, "--omni-key-fd", clo_key_fd, 0, 1 << 20) {}
   else if VG_BINT_CLO(arg, "--omni-seq-fd", clo_seq_fd, 0, 1 << 20) {}
   else if VG_BINT_CLO(arg, "--omni-log-fd", clo_log_fd, 0, 1 << 20) {}
   else if VG_BINT_CLO(arg, "--omni-snapshot-interval", clo_snapshot_interval, 1024, 1ll << 40) {}
   else
      return False;
   return True;
}

static void omni_print_usage(void)
{
   VG_(printf)(
"    --omni-ctl=SOCKET --omni-shm-fd=N --omni-key-fd=N [--omni-slots=16]\n"
"                              omni record's transport: connect to the Unix\n"
"                              socket SOCKET, fill slots of the file N (slots x\n"
"                              buffer size), take free slot numbers from the\n"
"                              connection and send only \"slot N holds M bytes\"\n"
"                              messages on it, all authenticated with the\n"
"                              16-byte key read from the pipe --omni-key-fd\n"
"                              (omni_channel.h)\n"
"    --omni-seq-fd=N           the page of the recording's one order across\n"
"                              processes (a counter every process shares)\n"
"    --omni-out=PATH           instead: write the raw event stream to PATH\n"
"    --omni-log-fd=N           the descriptor --log-fd names: closed in the\n"
"                              client's range once Valgrind has its copy\n"
"    --omni-buffer-kb=N        output buffer size in KiB [4096], at least 256\n"
"    --omni-stats=yes|no       print recording statistics at exit [no]\n"
"    --omni-follow-forks=yes|no  record a forked child on a connection of its\n"
"                              own (with --omni-ctl) [yes]\n"
"    --omni-follow-exec=yes|no   record an exec'd program as a new image (with\n"
"                              --trace-children=yes) [no]\n"
"    --omni-exec-image=yes     (set by the tool for the image it exec'd)\n"
"    --omni-output-files=DEV:INO[,DEV:INO]|none  record as output only the\n"
"                              writes to fd 1 or 2 while it is one of these\n"
"                              open files (omni record's stdout and stderr);\n"
"                              without it, every write to fd 1 or 2\n"
"    --omni-every-block=yes|no   a BLOCK word for every block entry (its time\n"
"                              a delta), not only for blocks that write,\n"
"                              call or return [no; omni record: yes]\n"
"    --omni-snapshot-interval=N  register snapshot at least every N\n"
"                              instructions [16384]\n"
   );
}

static void omni_print_debug_usage(void)
{
   VG_(printf)("    (none)\n");
}

/*------------------------------------------------------------*/
/*--- Setup and finalisation                               ---*/
/*------------------------------------------------------------*/

/* Report a bad configuration and stop. (VG_(fmsg_bad_option) only exits
   while options are being parsed, not from post_clo_init.) */
void omni_config_error(const HChar* what, const HChar* path)
{
   VG_(fmsg)("omni: %s%s%s\n", what, path ? ": " : "", path ? path : "");
   VG_(fmsg)("Use --help for more information.\n");
   VG_(exit)(1);
}

static void omni_post_clo_init(void)
{
   transport_open();
   events_init();
   serialize_init();
   /* Replay needs every guest register exact at each instruction boundary
      (no Put dropped because a later one overwrites it), and one call or
      return per superblock end (no chasing into call targets). */
   VG_(clo_vex_control).iropt_register_updates_default = VexRegUpdAllregsAtEachInsn;
   VG_(clo_px_file_backed) = VexRegUpdAllregsAtEachInsn;
   VG_(clo_vex_control).guest_chase = False;
   VG_(atfork)(NULL, NULL, omni_atfork_child);
   if (clo_log_fd >= 0)
      VG_(close)((Int)clo_log_fd);
   transport_hello();
}

static void omni_fini(Int exitcode)
{
   emit_exit();
   transport_finish();
   if (clo_stats) {
      VG_(umsg)("omni: %llu guest instructions, %u blocks defined "
                "(%llu inline sites, %llu helper sites)\n",
                g_icount, g_next_block_id - 1, g_stats.sites_defined,
                g_stats.helper_sites);
      VG_(umsg)("omni: %llu bytes written in %llu flushes\n",
                g_stats.bytes_out, g_stats.flushes);
      VG_(umsg)("omni: %llu register snapshots, %llu value sites, %llu IR bytes\n",
                g_stats.snapshots, g_stats.value_sites, g_stats.ir_bytes);
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
