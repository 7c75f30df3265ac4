#include "omni/trace/stream_versions.h"

namespace omni::trace {

const StreamVersion* find_stream_version(uint32_t version) {
  for (const StreamVersion& entry : kStreamVersions)
    if (entry.version == version) return &entry;
  return nullptr;
}

std::string describe_stream_gaps(uint32_t gaps) {
  static constexpr std::pair<uint32_t, const char*> kWhat[] = {
      {kGapLateResults, "failed execve results (LATE_RESULT records)"},
      {kGapFunctionEntries, "function entries and tail-call jumps (calls through PLT stubs, tail calls)"},
      {kGapSignals, "signal handler invocations (SIGNAL records)"},
      {kGapSharedMappings, "shared mappings (OMNI_PROT_SHARED, their bytes when mapped)"},
      {kGapOrder, "the order of its system calls and output among other processes' (SEQ records)"},
  };
  std::string text;
  for (const auto& [bit, what] : kWhat) {
    if (!(gaps & bit)) continue;
    if (!text.empty()) text += ", ";
    text += what;
  }
  return text;
}

}  // namespace omni::trace
