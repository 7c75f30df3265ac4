// Builds index.db from a recording's trace.omni, streaming: memory stays
// bounded by a few chunks, one segment of the address index and the
// compression queue, whatever the recording's length. The index is written
// to index.db.tmp and renamed into place only when complete.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "omni/index/format.h"

namespace omni::index {

struct IndexOptions {
  std::string trace_dir;
  int zstd_level = 3;
  uint32_t chunk_events = 1u << 16;
  // Pages whose granules' last writers the builder keeps for the address
  // index's carried writers (2 KiB each); past it, later rows' carries are
  // incomplete (answers stay the same; lookups read more rows).
  size_t carry_pages = size_t{1} << 15;
};

struct IndexProgress {
  uint64_t trace_bytes_read;
  uint64_t trace_bytes_total;
  uint64_t writes;
};

struct IndexStats {
  uint64_t writes = 0;
  uint64_t instructions = 0;
  uint64_t chunks = 0;
  uint64_t index_bytes = 0;
  bool stream_complete = false;
};

IndexStats build_index(const IndexOptions& options,
                       const std::function<void(const IndexProgress&)>& progress);

// The figures of DIR's index when it is current: complete, of this schema,
// built from DIR/trace.omni as it is now, and holding precomputed symbols
// when `with_symbols`; nullopt when it is missing, of another version or
// trace, damaged, or without them (build_index would then make it).
std::optional<IndexStats> current_index(const std::string& trace_dir, bool with_symbols);

// Once DIR's index is built from DIR/trace.omni, replaces the trace by its
// INFO and END frames alone (END marked trace::kStreamDroppedKey; meta
// trace_bytes and trace_stream_dropped updated): the index answers every
// question without the stream, but cannot be built again from it. Refuses a
// recording cut short (its END frame is how the process's ending is known).
// Crash-safe: the meta is updated before the stub replaces the trace, so an
// interruption leaves the full trace, which `omni index` indexes again.
// Returns the bytes freed (0 when the stream was already dropped).
uint64_t drop_trace_stream(const std::string& trace_dir);

// Precomputed symbols for an index (schema.sql, code_symbols and
// function_symbols), each `data` in libs/symbols/precomputed.h's encoding,
// which the index stores compressed without reading it.
struct SymbolRows {
  struct Code {
    int64_t object;  // ObjectRow::id
    uint64_t page;   // run-time address >> 12
    std::string data;
  };
  struct Functions {
    int64_t object;
    std::string data;
  };
  std::vector<Code> code;
  std::vector<Functions> functions;
};

// Replaces the precomputed symbols of the complete index in `trace_dir` in
// one transaction, keeping its integrity checksums current (meta "symbols"
// = 1 after). Takes the same lock as build_index.
void store_symbols(const std::string& trace_dir, const SymbolRows& rows, int zstd_level);

}  // namespace omni::index
