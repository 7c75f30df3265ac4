// Every raw event stream version omni has written (stream.h), in one table:
// which records, site kinds and flags each may hold, what an older one cannot
// say that the current one can, and the last omni commit that reads it as
// its own. The decoder reads the current version, and an older one where the
// change allows it: its encoding is a subset of the current one's (only
// additive changes since), and what it lacks is something its reader can
// state as unknown (StreamDecoder's `accepted` gaps) rather than answer
// wrongly. A stream bump is one new entry here (docs/index-format.md,
// "Older streams").
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <string>

#include "omni/trace/stream.h"

namespace omni::trace {

// What a stream of an older (readable) version cannot say that the current
// version can: each bit names information the current recorder writes and
// the older one did not, so a reader either states it as unknown or refuses
// the stream.
enum StreamGap : uint32_t {
  // No LATE_RESULT SYSCALL records: a failed execve's result is unknown (its
  // row has no result, like a call that did not return).
  kGapLateResults = 1u << 0,
  // No ENTRY or JUMP sites: calls through PLT stubs and lazy binding are
  // seen only as calls of the stub, tail calls not at all.
  kGapFunctionEntries = 1u << 1,
  // No SIGNAL records: a signal handler's invocation is no frame of its own.
  kGapSignals = 1u << 2,
  // No OMNI_PROT_SHARED and no copy of a shared mapping's bytes: a
  // MAP_SHARED or SysV mapping looks private, read from the file when asked.
  kGapSharedMappings = 1u << 3,
  // No SEQ records: the process's system calls and output have no place in
  // one order with other processes' (a lone process needs none).
  kGapOrder = 1u << 4,
};

struct StreamVersion {
  uint32_t version;
  // Whether this omni decodes it. An unreadable one changed the meaning of
  // records the current version still has (not an additive change).
  bool readable;
  // The last omni commit that wrote this version and reads it as its own
  // (null for the current version).
  const char* last_reader;
  // Why an unreadable version cannot be read; for a readable older one,
  // empty (its gaps say what it lacks).
  const char* unreadable_because;
  uint32_t ext_types;   // bit 1 << OMNI_EXT_* for every record type it may hold
  uint32_t site_kinds;  // bit 1 << OMNI_SITE_* for every site kind
  uint64_t syscall_flags;  // OMNI_SYSCALL_* flags a SYSCALL record may carry
  uint32_t map_prot;    // MAP prot bits
  uint32_t gaps;        // StreamGap bits: what it cannot say (0 for the current version)
};

namespace stream_bits {
constexpr uint32_t ext(std::initializer_list<int> types) {
  uint32_t mask = 0;
  for (int t : types) mask |= 1u << t;
  return mask;
}
constexpr uint32_t kExtV4 = ext({OMNI_EXT_BLOCK_DEF, OMNI_EXT_WRITE, OMNI_EXT_SYSCALL_WRITE, OMNI_EXT_THREAD_RUN,
                                 OMNI_EXT_THREAD_CREATE, OMNI_EXT_THREAD_EXIT, OMNI_EXT_MAP, OMNI_EXT_TIME,
                                 OMNI_EXT_EXIT, OMNI_EXT_SYSCALL, OMNI_EXT_OUTPUT, OMNI_EXT_INITIAL,
                                 OMNI_EXT_SNAPSHOT});
constexpr uint32_t kSitesV4 = ext({OMNI_SITE_STORE, OMNI_SITE_VALUE, OMNI_SITE_CALL, OMNI_SITE_RET});
}  // namespace stream_bits

// Oldest first; the last entry is OMNI_STREAM_VERSION.
inline constexpr StreamVersion kStreamVersions[] = {
    // Blocks carried no IR and sites no kinds; no SYSCALL, OUTPUT, INITIAL.
    {1, false, "9b94974", "its BLOCK_DEF records carry no IR", 0, 0, 0, 0, 0},
    // SYSCALL and OUTPUT added; BLOCK_DEF still without IR.
    {2, false, "18bb500", "its BLOCK_DEF records carry no IR", 0, 0, 0, 0, 0},
    // BLOCK_DEF with IR, VALUE sites and SNAPSHOT; but which values are VALUE
    // sites follows replay_ops.h (part of the format), which version 4
    // extended (RCL/RCR, pext/pdep, crc32, mxcsr and fpucw helpers), and
    // the kernel's CLONE_CHILD_CLEARTID write was not recorded.
    {3, false, "6abe7e2",
     "its VALUE sites follow an older list of the operations replay evaluates (replay_ops.h)", 0, 0, 0, 0, 0},
    // Version 5 added, without changing any version-4 record: ENTRY and JUMP
    // sites and SIGNAL records (calls through PLT stubs, tail calls, signal
    // handlers), OMNI_PROT_SHARED with the bytes of shared mappings, and the
    // LATE_RESULT flag (a failed execve's result). So the decoder reads it;
    // a reader must accept its gaps.
    {4, true, "e28eccc", "", stream_bits::kExtV4, stream_bits::kSitesV4, OMNI_SYSCALL_NO_RESULT, 7u,
     kGapLateResults | kGapFunctionEntries | kGapSignals | kGapSharedMappings | kGapOrder},
    // Version 6 added SEQ records (one order across processes), changing
    // no version-5 record.
    {5, true, "a4865d9", "", stream_bits::kExtV4 | stream_bits::ext({OMNI_EXT_SIGNAL}),
     stream_bits::kSitesV4 | stream_bits::ext({OMNI_SITE_ENTRY, OMNI_SITE_JUMP}),
     OMNI_SYSCALL_NO_RESULT | OMNI_SYSCALL_LATE_RESULT, 7u | OMNI_PROT_SHARED, kGapOrder},
    // Version 7 gave the preamble's second word its flags (a BLOCK word for
    // every block entry), changing no version-6 record: a version-6 stream
    // reads as a version-7 one without flags.
    {6, true, "1bca071", "", stream_bits::kExtV4 | stream_bits::ext({OMNI_EXT_SIGNAL, OMNI_EXT_SEQ}),
     stream_bits::kSitesV4 | stream_bits::ext({OMNI_SITE_ENTRY, OMNI_SITE_JUMP}),
     OMNI_SYSCALL_NO_RESULT | OMNI_SYSCALL_LATE_RESULT, 7u | OMNI_PROT_SHARED, 0},
    {7, true, nullptr, "", stream_bits::kExtV4 | stream_bits::ext({OMNI_EXT_SIGNAL, OMNI_EXT_SEQ}),
     stream_bits::kSitesV4 | stream_bits::ext({OMNI_SITE_ENTRY, OMNI_SITE_JUMP}),
     OMNI_SYSCALL_NO_RESULT | OMNI_SYSCALL_LATE_RESULT, 7u | OMNI_PROT_SHARED, 0},
};

static_assert(std::size(kStreamVersions) == OMNI_STREAM_VERSION &&
                  kStreamVersions[OMNI_STREAM_VERSION - 1].version == OMNI_STREAM_VERSION &&
                  kStreamVersions[OMNI_STREAM_VERSION - 1].gaps == 0,
              "a new stream version is one more entry in kStreamVersions, the current one last; the previous "
              "entry names the last omni commit that reads it");

// The entry of `version`, or null for one no omni has written (or damage).
const StreamVersion* find_stream_version(uint32_t version);

// "a failed execve's result, ..." for the bits of `gaps`.
std::string describe_stream_gaps(uint32_t gaps);

}  // namespace omni::trace
