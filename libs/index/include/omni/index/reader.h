// Read access to a finished index.db. Not thread-safe: one per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "omni/index/calls.h"
#include "omni/index/chunk.h"
#include "omni/index/db.h"
#include "omni/index/execs.h"
#include "omni/index/maps.h"

namespace omni::index {

class RowCheck;

struct ObjectRow {
  int64_t id;
  std::string path;
  std::string build_id;
  uint64_t bias, start, end, time_loaded;
  std::optional<uint64_t> time_unloaded;
};

struct ChunkRow {
  uint32_t id;
  uint64_t time_first, time_last, events, raw_bytes;
};

struct ThreadRow {
  uint32_t tid;
  std::optional<uint32_t> lwp, parent;
  uint64_t time_created;
  std::optional<uint64_t> time_exited;
};

struct SyscallRow {
  uint64_t time;
  uint32_t tid;
  uint64_t nr;
  int64_t args[6];
  std::optional<int64_t> result;
  std::optional<uint64_t> gseq_enter, gseq_exit;  // its place among all processes' events
};

struct MapRow {
  uint64_t time;
  MapKind kind;
  uint64_t start, length;
  bool readable, writable, executable;
  bool shared;       // MAP_SHARED or SysV shared memory (stream.h, OMNI_PROT_SHARED)
  std::string path;  // empty: anonymous
  uint64_t offset;
};

struct OutputRow {
  uint64_t time;
  uint32_t tid;
  uint32_t fd;
  std::vector<uint8_t> data;
  std::optional<uint64_t> gseq;  // the writing call's place among all processes' events
};

struct SnapshotRow {
  uint32_t tid;
  uint64_t time;
  std::vector<uint8_t> state;   // VexGuestAMD64State bytes
  std::vector<uint8_t> values;  // varint time delta, varint size, bytes...
};

struct ExecChunkRow {
  uint32_t id;
  uint64_t time_first, time_last;
  std::optional<uint64_t> time_end;  // the first entry after the chunk; none: the recording ended
  uint64_t entries;
};

struct BlockRow {
  uint32_t id;
  uint64_t addr, time;      // guest entry address, time of translation
  std::vector<uint8_t> ir;  // stream.h's encoding
};

struct CallChunkRow {
  uint32_t id;
  uint64_t time_first, time_last, calls;
};

class IndexReader {
 public:
  // Opens <trace_dir>/index.db; throws an actionable Error when it is
  // missing, of another version, or not an omni index.
  explicit IndexReader(const std::string& trace_dir);

  const std::string& trace_dir() const { return trace_dir_; }
  std::optional<std::string> meta_text(const std::string& key);
  std::optional<int64_t> meta_int(const std::string& key);
  std::vector<std::string> args();
  std::vector<ObjectRow> objects();
  std::vector<ThreadRow> threads();
  // All chunks, in time order (time ranges and sizes, not the data).
  const std::vector<ChunkRow>& chunks();
  // How many chunks there are (ids 0 to chunk_count() - 1); one chunk by id
  // (an id past them is damage: an error), and the last one beginning at or
  // before `time` (nullopt: none): a lookup each, without reading the whole
  // list.
  uint32_t chunk_count();
  ChunkRow chunk(uint32_t id);
  std::optional<ChunkRow> chunk_at(uint64_t time);
  // Ids of the chunks that wrote any byte of [addr, addr + length), ascending.
  std::vector<uint32_t> chunks_writing(uint64_t addr, uint64_t length);
  // The same a segment of the address index at a time, oldest first (newest
  // first when `newest_first`, each segment's ids descending), until `f`
  // returns false: a question after the first or last few writes reads the
  // rows of the segments it reaches, not all of them.
  void chunks_writing(uint64_t addr, uint64_t length, bool newest_first, const std::function<bool(uint32_t)>& f);
  DecodedChunk load_chunk(uint32_t id);
  void load_chunk_into(uint32_t id, DecodedChunk& chunk, uint64_t until = UINT64_MAX);
  // Chunk `id`'s events at or before `until` that wrote any byte of
  // [addr, addr + length), in time order, and the bytes they wrote: the
  // chunk's other events are decoded, not kept.
  DecodedChunk load_chunk_writes(uint32_t id, uint64_t addr, uint64_t length, uint64_t until = UINT64_MAX);
  // A chunk's compressed frame (a copy) and what decoding it needs, so that
  // another thread can decode it (decode_chunk_writes) while this reader
  // goes on: the reader itself is used by one thread.
  struct ChunkFrame {
    uint64_t time_first;
    ChunkCoding coding;
    std::vector<uint8_t> blob;
  };
  ChunkFrame chunk_frame(uint32_t id);
  // What the granules chunk `id` wrote in page `page` (address >> 12) held
  // after it, encoded for find_final (empty: none).
  // `complete`: a byte missing from a granule's entry was not written since
  // its memory was mapped.
  std::vector<uint8_t> load_finals(uint32_t id, uint64_t page, bool* complete = nullptr);
  // The address index's row for one 4 KiB page (an address >> 12) at the
  // latest segment at or before `segment` (nullopt: the page was not written
  // by the end of that segment).
  struct RowGranule {
    uint32_t offset, count;  // where its chunk-id deltas start in the row
  };
  struct WriteRow {
    uint64_t page = 0;
    uint32_t segment = 0;
    // Every granule of the page written before the segment is in `carried`
    // (else only some are: an earlier row may name an older writer).
    bool carry_complete = false;
    std::vector<uint8_t> bytes;
    // By granule within the page, ascending (sorted arrays: a row is parsed
    // for a lookup or two, and hashing its 512 granules cost more).
    std::vector<std::pair<uint32_t, RowGranule>> lists;  // granules written in the segment
    std::vector<std::pair<uint32_t, uint32_t>> carried;  // last chunk to write each before the segment
    const RowGranule* list(uint64_t granule) const;      // null: not written in the segment
    std::optional<uint32_t> carried_writer(uint64_t granule) const;
    // The chunks of the segment that wrote `granule`, ascending.
    std::vector<uint32_t> chunks(RowGranule granule) const;
  };
  std::optional<WriteRow> write_row(uint64_t page, uint32_t segment);
  // The first and last place this process took in the recording's one
  // order across processes (its system calls' gseq numbers); nullopt when
  // it has none (a stream without SEQ records, or no system call).
  std::optional<std::pair<uint64_t, uint64_t>> gseq_span();
  // System calls in time order, optionally only those numbered `nr`.
  std::vector<SyscallRow> syscalls(std::optional<uint64_t> nr);
  // Output to stdout/stderr in time order; pieces of one write are joined.
  std::vector<OutputRow> output();
  // Address-space changes up to and including `time`, in order.
  std::vector<MapRow> maps(uint64_t time);
  // The initial contents (time 0) of the page at `page_addr`, if recorded.
  std::optional<std::vector<uint8_t>> initial_page(uint64_t page_addr);

  // Register replay. The IR (stream.h encoding) of the latest translation of
  // the block entered at `addr`, made at or before `time`.
  // Also says when that translation was made, and when the next translation
  // of the same address was (UINT64_MAX: none).
  struct BlockIr {
    uint64_t time, next_time;
    std::vector<uint8_t> ir;
  };
  std::optional<BlockIr> block_ir(uint64_t addr, uint64_t time);
  // Thread `tid`'s latest register snapshot at or before `time`.
  std::optional<SnapshotRow> snapshot_before(uint32_t tid, uint64_t time);
  // The index format version of the file (kSchemaVersion, or an older one
  // this reader also reads, from kOldestSchemaVersion).
  int schema_version() const { return schema_version_; }
  // How its write chunks are coded.
  ChunkCoding chunk_coding() const {
    return schema_version_ >= 15 ? ChunkCoding::kSameInstruction : ChunkCoding::kPreviousEvent;
  }
  // Its time only (nothing decompressed).
  std::optional<uint64_t> snapshot_time_before(uint32_t tid, uint64_t time);
  // Thread `tid`'s first (lowest seq) or last snapshot at exactly `time`:
  // several are taken at one time when the registers changed outside the IR
  // before the thread's next instruction (a signal at a faulting one).
  std::optional<SnapshotRow> snapshot_at(uint32_t tid, uint64_t time, bool first);
  // Every snapshot as (tid, time), in time order.
  std::vector<std::pair<uint32_t, uint64_t>> snapshot_list();
  // The thread running at `time` (the last one to start at or before it).
  std::optional<uint32_t> thread_at(uint64_t time);
  // The thread a question about `time` is about: `tid` when given (an
  // error naming the recording's threads when it has no such thread), else
  // the one running then. The one place that default is chosen.
  uint32_t thread_for(std::optional<uint32_t> tid, uint64_t time);
  // When `tid`, running at `time`, next stopped for another thread (none: it
  // ran on to the end).
  std::optional<uint64_t> run_end(uint32_t tid, uint64_t time);
  // When `tid` next starts to run after `time` (forwards: the first of its
  // runs starting later) or last started at or before it (backwards: the
  // latest starting there or earlier); none when it does not.
  std::optional<uint64_t> run_start(uint32_t tid, uint64_t time, bool forward);

  // Calls. All call chunks by id (time ranges only).
  const std::vector<CallChunkRow>& call_chunks();
  std::vector<CallRow> load_calls(uint32_t chunk);
  // The same, kept: the last few chunks read (--stack walks parent links
  // into the same chunks again and again).
  std::shared_ptr<const std::vector<CallRow>> calls_of_chunk(uint32_t chunk);
  // The call with ordinal `id` (CallRow::id); an error when the index has
  // none (a parent link into nothing is damage).
  CallRow call(uint64_t id);
  // The call whose frame made `row` (CallRow::parent), or nullopt for an
  // outermost one.
  std::optional<CallRow> caller_of(const CallRow& row);
  // Ids of the call chunks holding calls to `target`, ascending.
  std::vector<uint32_t> call_chunks_to(uint64_t target);
  // Every address the recording called, ascending.
  std::vector<uint64_t> call_targets();

  // Block entries. Every exec chunk by id (time ranges only).
  const std::vector<ExecChunkRow>& exec_chunks();
  std::vector<ExecEntry> load_execs(uint32_t chunk);
  // Ids of the exec chunks holding entries of block `block`, ascending;
  // `unlogged`: the stream holds none of its entries (a block without sites).
  struct BlockChunks {
    bool unlogged = false;
    std::vector<uint32_t> chunks;
  };
  BlockChunks exec_chunks_of(uint32_t block);
  // Every translation whose entry address is in [lo, hi], with its IR.
  std::vector<BlockRow> blocks_between(uint64_t lo, uint64_t hi);
  // Every translation's entry address and IR, in address order, until `f`
  // returns false; one row in memory at a time.
  void for_each_block(const std::function<bool(const BlockRow&)>& f);

  // Precomputed symbols (store_symbols; libs/symbols/precomputed.h's
  // encodings, decompressed and checked here, decoded there). Whether any
  // were stored; the page of object `object` (ObjectRow::id) holding
  // addresses page << 12 on; the object's function answers. nullopt: none.
  bool has_symbols();
  std::optional<std::vector<uint8_t>> code_symbols(int64_t object, uint64_t page);
  std::optional<std::vector<uint8_t>> function_symbols(int64_t object);
  // Their stored (compressed) bytes.
  uint64_t symbol_bytes();

 private:
  // Chunk `id`'s row (an error when it is missing or damaged): `f` gets its
  // first time and its compressed data, valid during the call.
  void with_chunk_data(uint32_t id,
                       const std::function<void(uint64_t time_first, const void* blob, size_t size)>& f);
  // The chunk ids that wrote granules [first, last] (of at most two pages),
  // a segment at a time newest first, each segment's ascending, to `f`
  // until it returns false (then false), found by hops from each page's
  // latest row to the segments of its carried writers.
  bool hop_segments(uint64_t first_granule, uint64_t last_granule,
                    const std::function<bool(const std::vector<uint32_t>&)>& f);
  // Oldest first, the hops run before the first answer: past this many
  // segments, the rows are walked in order instead.
  static constexpr size_t kOldestFirstHops = 8;
  // Refuse an index damaged after it was built, or built from another trace.
  void check_integrity();
  void check_trace_identity();

  std::string trace_dir_;
  std::unique_ptr<Database> db_;
  int schema_version_ = 0;  // kOldestSchemaVersion to kSchemaVersion
  // The dictionary a snapshot state's frame (snapshot_dicts) or a block
  // IR's (block_dicts) names; null: none. Loaded and checked on first use.
  enum class Dictionary { kStates, kBlocks };
  const ZstdDictionary* dictionary(Dictionary kind, const void* frame, size_t size);
  std::unique_ptr<ZstdDictionary> dictionaries_[2];
  std::unique_ptr<Statement> chunk_data_, meta_;
  std::vector<ChunkRow> chunks_;
  std::optional<uint32_t> chunk_count_;
  std::unordered_map<uint32_t, ChunkRow> chunk_cache_;  // chunk() without chunks_ loaded
  std::unique_ptr<Statement> chunk_meta_;
  ChunkRow chunk_row(Statement& q);  // from columns id, time_first, time_last, events, raw_bytes, crc
  [[noreturn]] void chunks_changed();
  std::vector<uint32_t> thread_ids_;  // loaded by thread_for
  std::map<uint32_t, std::shared_ptr<const std::vector<CallRow>>> call_cache_;  // calls_of_chunk
  bool chunks_loaded_ = false;
  std::unique_ptr<Statement> code_symbols_;
  std::unique_ptr<Statement> write_row_, finals_, block_ir_, block_next_, snapshot_, snapshot_time_, snapshot_first_, snapshot_last_, thread_at_, run_end_, run_next_, run_prev_, call_data_;
  std::vector<CallChunkRow> call_chunks_;
  std::vector<ExecChunkRow> exec_chunks_;
  bool exec_chunks_loaded_ = false;
  std::unique_ptr<Statement> exec_data_;
  bool call_chunks_loaded_ = false;
  // Tables whose content checksum was checked (kHashedTables order): each on
  // its first use, so that a question pays only for the tables it reads.
  uint32_t verified_tables_ = 0;
  uint32_t counted_tables_ = 0;  // bit i: kCountedTables[i] was counted
  void verify_table(const char* name);
  void check_count(const char* name);
  void check_row(const char* table, int64_t stored, const RowCheck& computed) const;
  void check_row(const char* table, int64_t stored, int64_t computed) const;  // a crc already computed
};

}  // namespace omni::index
