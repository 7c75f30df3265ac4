// Copies of the recorded ELF objects in the recording directory
// (<trace_dir>/files/), as rr keeps the files a recording mapped: replay
// reads code and read-only data from the objects' files, and symbols read
// their symbol tables and DWARF, so a recording moved to another machine,
// or outliving an upgrade of its libraries, needs them to answer the same.
// A copy is named <build-id>-<file name>.zst, or <file name>-<hash of its
// path>.zst for an object without a build-id: one zstd frame of the file
// (copies made before 2026-11-30 are the file itself, without .zst, and are
// still read); it is private (0600, in a 0700 directory), and made only from
// a file that still has the recorded build-id.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "omni/index/reader.h"

namespace omni::index {

struct FileCopies {
  uint64_t files = 0;    // copies in files/ (made now or before)
  uint64_t bytes = 0;    // their size
  uint64_t missing = 0;  // objects whose file is gone or no longer the recorded one
};

// Copies every object of `objects` into <trace_dir>/files/ that has no copy
// yet. `made` (build-id or path -> a copy made earlier, for the other
// processes of one recording) lets the same file be hard-linked, not
// copied again; it is updated.
FileCopies copy_recorded_files(const std::string& trace_dir, const std::vector<ObjectRow>& objects,
                               std::map<std::string, std::string>& made);

// The copy's path for a recorded object without its .zst (whether or not
// it exists).
std::string copy_path(const std::string& trace_dir, const std::string& path,
                      const std::string& build_id);

// The file that holds the recorded object `path` with `build_id`: `path`
// itself while it has that build-id (any file, for an object recorded
// without one), else its copy when there is one (a compressed copy
// decompressed into memory, once per process, named by a /proc/self/fd
// path; an error when it is damaged); nullopt when neither.
std::optional<std::string> recorded_file(const std::string& trace_dir, const std::string& path,
                                         const std::string& build_id);

}  // namespace omni::index
