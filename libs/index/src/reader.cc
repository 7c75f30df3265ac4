#include "omni/index/reader.h"

#include <unistd.h>

#include <algorithm>

#include "omni/base/error.h"
#include "omni/base/paths.h"
#include "omni/index/builder.h"
#include "omni/index/format.h"
#include "integrity.h"
#include "omni/trace/container.h"
#include "varint.h"

namespace omni::index {

IndexReader::IndexReader(const std::string& trace_dir) : trace_dir_(trace_dir) {
  std::string path = trace_dir + "/" + kIndexFile;
  if (access(path.c_str(), F_OK) != 0) {
    if (access((path + ".tmp").c_str(), F_OK) == 0)
      fail("the index of {} is incomplete (indexing was interrupted); run `omni index {}`",
           trace_dir, trace_dir);
    fail("{} has no index yet; run `omni index {}`", trace_dir, trace_dir);
  }
  if (access(path.c_str(), R_OK) != 0) fail_errno("cannot read " + path);
  db_ = std::make_unique<Database>(path, Database::Mode::ReadOnly);
  // One read transaction for the reader's life: every statement sees the
  // same file, and the many small ones a question runs do not each lock
  // the file, look for a journal and revalidate SQLite's page cache.
  db_->exec("BEGIN");
  schema_version_ = check_schema(*db_, true);
  meta_ = std::make_unique<Statement>(*db_, "SELECT value FROM meta WHERE key = ?");
  if (meta_int("complete").value_or(0) != 1)
    fail("the index of {} is incomplete; run `omni index {}`", trace_dir, trace_dir);
  check_integrity();
  check_trace_identity();
  chunk_data_ = std::make_unique<Statement>(
      *db_, "SELECT id, time_first, time_last, events, raw_bytes, crc, data FROM chunks WHERE id = ?");
}

// Damage made with SQL (rows deleted, meta edited) would otherwise change
// answers silently; these checks cost one COUNT(*) per table.
void IndexReader::check_integrity() {
  std::string path = trace_dir_ + "/" + kIndexFile;
  auto damaged = [&](const std::string& what) {
    fail("{} is damaged ({}); run `omni index {}` again", path, what, trace_dir_);
  };
  std::optional<std::string> stored = meta_text("meta_hash");
  if (!stored) damaged("its meta table has no checksum");
  if (*stored != meta_checksum(*db_)) damaged("its meta table was changed");
  if (!meta_int("stream_complete")) damaged("meta has no stream_complete");
}

// A table's row count against the builder's (meta rows.<table>), once per
// reader, before its first read: a question refuses rows deleted or added in
// the tables it reads, and one that reads none of them costs no count (a
// count walks the table: ~10 ms for exec_blocks at 10^10 instructions).
void IndexReader::check_count(const char* name) {
  for (size_t i = 0; i < std::size(kCountedTables); ++i) {
    if (std::string_view(kCountedTables[i]) != name) continue;
    if (counted_tables_ & (1u << i)) return;
    std::optional<int64_t> expected = meta_int(std::string("rows.") + name);
    if (!expected)
      fail("{}/{} is damaged (meta has no row count of table {}); run `omni index {}` again", trace_dir_, kIndexFile,
           name, trace_dir_);
    Statement count(*db_, std::string("SELECT COUNT(*) FROM ") + name);
    count.step();
    int64_t rows = count.column_int(0);
    if (rows != *expected)
      fail("{}/{} is damaged (table {} has {} rows, the index recorded {}); run `omni index {}` again", trace_dir_,
           kIndexFile, name, rows, *expected, trace_dir_);
    counted_tables_ |= 1u << i;
    return;
  }
  fail("internal error: no row count is kept of table {}", name);
}

// A table's content against its checksum in meta, once per reader. Meta
// itself was checked at open (meta_hash), so the stored checksum is the
// builder's.
void IndexReader::verify_table(const char* name) {
  for (size_t i = 0; i < kHashedTableCount; ++i) {
    const HashedTable& table = kHashedTables[i];
    if (std::string_view(table.name) != name) continue;
    if (verified_tables_ & (1u << i)) return;
    std::optional<std::string> stored = meta_text(std::string("hash.") + name);
    if (!stored)
      fail("{}/{} is damaged (meta has no checksum of table {}); run `omni index {}` again", trace_dir_,
           kIndexFile, name, trace_dir_);
    if (*stored != table_checksum(*db_, table))
      fail("{}/{} is damaged (its {} table was changed); run `omni index {}` again", trace_dir_, kIndexFile,
           name, trace_dir_);
    verified_tables_ |= 1u << i;
    return;
  }
  fail("internal error: no checksum is kept of table {}", name);
}

// A row read from a table with a `crc` column whose value is not its
// contents' check.
void IndexReader::check_row(const char* table, int64_t stored, const RowCheck& computed) const {
  check_row(table, stored, computed.value());
}

void IndexReader::check_row(const char* table, int64_t stored, int64_t computed) const {
  if (stored != computed)
    fail("{}/{} is damaged (a row of its {} table was changed); run `omni index {}` again", trace_dir_,
         kIndexFile, table, trace_dir_);
}

// The index answers about the trace it was built from and no other: the
// trace's recording id (INFO "recording_id"), or for a trace recorded
// without one, its size and INFO text, must be the index's.
void IndexReader::check_trace_identity() {
  std::string index_path = trace_dir_ + "/" + kIndexFile;
  trace::TraceReader trace(trace_dir_ + "/" + kTraceFile);
  auto other = [&](const std::string& why) {
    fail("{} was built from another recording ({}); run `omni index {}` again", index_path, why, trace_dir_);
  };
  std::string id = trace.info_value("recording_id");
  std::string indexed_id = meta_text("recording_id").value_or("");
  if (id != indexed_id)
    other(fmt::format("its recording id is {}, {}'s is {}", indexed_id.empty() ? "none" : indexed_id,
                      kTraceFile, id.empty() ? "none" : id));
  uint64_t indexed_bytes = static_cast<uint64_t>(meta_int("trace_bytes").value_or(-1));
  if (indexed_bytes != trace.file_bytes())
    other(fmt::format("its {} had {} bytes, this one has {}", kTraceFile, indexed_bytes, trace.file_bytes()));
  std::vector<std::string> trace_args;
  for (const auto& [key, value] : trace.info()) {
    if (key == "arg") {
      trace_args.push_back(value);
      continue;
    }
    if (meta_text(key).value_or("") != value)
      other(fmt::format("its {} differs from {}'s", key, kTraceFile));
  }
  if (trace_args != args()) other(fmt::format("its arguments differ from {}'s", kTraceFile));
}

std::optional<std::string> IndexReader::meta_text(const std::string& key) {
  meta_->bind(1, std::string_view(key));
  std::optional<std::string> value;
  if (meta_->step() && !meta_->column_is_null(0)) value = meta_->column_text(0);
  meta_->reset();
  return value;
}

std::optional<int64_t> IndexReader::meta_int(const std::string& key) {
  meta_->bind(1, std::string_view(key));
  std::optional<int64_t> value;
  if (meta_->step() && !meta_->column_is_null(0)) value = meta_->column_int(0);
  meta_->reset();
  return value;
}

std::vector<std::string> IndexReader::args() {
  verify_table("args");
  Statement q(*db_, "SELECT arg FROM args ORDER BY idx");
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.column_text(0));
  return out;
}

std::vector<ObjectRow> IndexReader::objects() {
  verify_table("objects");
  Statement q(*db_, "SELECT id, path, build_id, bias, start, end, time_loaded, time_unloaded FROM objects ORDER BY id");
  std::vector<ObjectRow> out;
  while (q.step()) {
    ObjectRow row{q.column_int(0), q.column_text(1), q.column_text(2), q.column_u64(3),
                  q.column_u64(4), q.column_u64(5), q.column_u64(6), std::nullopt};
    if (!q.column_is_null(7)) row.time_unloaded = q.column_u64(7);
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<ThreadRow> IndexReader::threads() {
  verify_table("threads");
  Statement q(*db_, "SELECT tid, lwp, parent, time_created, time_exited FROM threads ORDER BY tid");
  std::vector<ThreadRow> out;
  while (q.step()) {
    ThreadRow row{static_cast<uint32_t>(q.column_int(0)), {}, {}, q.column_u64(3), {}};
    if (!q.column_is_null(1)) row.lwp = static_cast<uint32_t>(q.column_int(1));
    if (!q.column_is_null(2)) row.parent = static_cast<uint32_t>(q.column_int(2));
    if (!q.column_is_null(4)) row.time_exited = q.column_u64(4);
    out.push_back(row);
  }
  return out;
}

// Chunks are checked row by row (chunk_row_crc) and by their ids, dense from
// 0 to meta "chunks": a question that reads a few of them (a memory read)
// does not read the others, and a deleted or added row is a gap or a row too
// many where it is looked for.
uint32_t IndexReader::chunk_count() {
  if (!chunk_count_) {
    int64_t n = meta_int("chunks").value_or(-1);
    if (n < 0 || n > UINT32_MAX)
      fail("{}/{} is damaged (meta has no chunk count); run `omni index {}` again", trace_dir_, kIndexFile,
           trace_dir_);
    chunk_count_ = static_cast<uint32_t>(n);
  }
  return *chunk_count_;
}

ChunkRow IndexReader::chunk_row(Statement& q) {
  int64_t id = q.column_int(0), time_first = q.column_int(1), time_last = q.column_int(2), events = q.column_int(3),
          raw_bytes = q.column_int(4);
  check_row("chunks", q.column_int(5), chunk_row_crc(id, time_first, time_last, events, raw_bytes));
  return {static_cast<uint32_t>(id), static_cast<uint64_t>(time_first), static_cast<uint64_t>(time_last),
          static_cast<uint64_t>(events), static_cast<uint64_t>(raw_bytes)};
}

void IndexReader::chunks_changed() {
  fail("{}/{} is damaged (its chunks table was changed); run `omni index {}` again", trace_dir_, kIndexFile,
       trace_dir_);
}

const std::vector<ChunkRow>& IndexReader::chunks() {
  if (!chunks_loaded_) {
    // Through the covering index: the table's rows hold the chunks' data,
    // whose pages a scan of the table would read.
    Statement q(*db_,
                "SELECT id, time_first, time_last, events, raw_bytes, crc FROM chunks INDEXED BY chunks_meta "
                "ORDER BY id");
    chunks_.clear();
    while (q.step()) {
      chunks_.push_back(chunk_row(q));
      if (chunks_.back().id != chunks_.size() - 1 || chunks_.size() > chunk_count()) chunks_changed();
    }
    if (chunks_.size() != chunk_count()) chunks_changed();
    chunks_loaded_ = true;
  }
  return chunks_;
}

ChunkRow IndexReader::chunk(uint32_t id) {
  if (id >= chunk_count()) fail("index is corrupt: chunk {} is missing; run `omni index` again", id);
  if (chunks_loaded_) return chunks_[id];
  auto cached = chunk_cache_.find(id);
  if (cached != chunk_cache_.end()) return cached->second;
  if (!chunk_meta_)
    chunk_meta_ = std::make_unique<Statement>(
        *db_, "SELECT id, time_first, time_last, events, raw_bytes, crc FROM chunks WHERE id = ?");
  chunk_meta_->bind(1, id);
  if (!chunk_meta_->step()) {
    chunk_meta_->reset();
    chunks_changed();
  }
  ChunkRow row = chunk_row(*chunk_meta_);
  chunk_meta_->reset();
  if (chunk_cache_.size() >= 65536) chunk_cache_.clear();
  chunk_cache_.emplace(id, row);
  return row;
}

std::optional<ChunkRow> IndexReader::chunk_at(uint64_t time) {
  // The last chunk beginning at or before `time`: time_first ascends with id.
  uint32_t lo = 0, hi = chunk_count();  // the answer is below hi
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (chunk(mid).time_first <= time) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return std::nullopt;
  return chunk(lo - 1);
}

namespace {

constexpr uint64_t kGranulesPerPage = uint64_t{1} << (kPageShift - kGranuleShift);

// Reads a write_index row's header and granule lists (the carried writers
// follow them), calling `list(granule, count, reader)` with the reader at the
// granule's first chunk-id delta; `list` consumes exactly `count` varints.
template <typename List>
VarintReader read_write_lists(const uint8_t* blob, size_t size, uint64_t page, bool* carry_complete, List&& list) {
  if (size == 0 || (blob[0] & ~kWriteRowCarryComplete) != 0)
    fail("index is corrupt (address index row of page {:#x}); run `omni index` again", page << kPageShift);
  if (carry_complete) *carry_complete = (blob[0] & kWriteRowCarryComplete) != 0;
  VarintReader r{blob + 1, blob + size, "address index entry"};
  uint64_t granules = r.varint();
  if (granules > kGranulesPerPage) fail("index is corrupt (address index entry); run `omni index` again");
  for (uint64_t k = 0; k < granules; ++k) {
    uint64_t in_page = r.varint();
    uint64_t count = r.varint();
    if (in_page >= kGranulesPerPage || count == 0 || count > kWriteChunksPerSegment)
      fail("index is corrupt (address index entry); run `omni index` again");
    list((page << (kPageShift - kGranuleShift)) | in_page, count, r);
  }
  return r;
}

// The k-th chunk id of a granule's list in the segment starting at chunk
// `base`, `previous` the (k-1)-th (base for the first): ids ascend within
// the segment.
uint64_t next_chunk_id(VarintReader& r, uint64_t k, uint64_t previous, uint64_t base) {
  uint64_t delta = r.varint();
  if (delta >= kWriteChunksPerSegment || (k > 0 && delta == 0) || previous + delta >= base + kWriteChunksPerSegment)
    fail("index is corrupt (address index entry); run `omni index` again");
  return previous + delta;
}

}  // namespace

std::vector<uint32_t> IndexReader::chunks_writing(uint64_t addr, uint64_t length) {
  // Segments in order, each's ids ascending: the whole list ascends.
  std::vector<uint32_t> out;
  chunks_writing(addr, length, false, [&](uint32_t id) {
    out.push_back(id);
    return true;
  });
  return out;
}

void IndexReader::chunks_writing(uint64_t addr, uint64_t length, bool newest_first,
                                 const std::function<bool(uint32_t)>& f) {
  check_count("write_index");
  if (length == 0) return;
  uint64_t last_byte = addr + length - 1 < addr ? UINT64_MAX : addr + length - 1;
  uint64_t first_granule = addr >> kGranuleShift;
  uint64_t last_granule = last_byte >> kGranuleShift;
  const unsigned granules_per_page_shift = kPageShift - kGranuleShift;
  // A range of a page or two: its writers' segments by hops along the
  // carried writers (a row per segment that wrote the range), when they are
  // few; oldest first needs them all before the first, so past a few it
  // walks the page's rows instead.
  if ((last_granule >> granules_per_page_shift) - (first_granule >> granules_per_page_shift) < 2) {
    if (newest_first) {
      hop_segments(first_granule, last_granule, [&](const std::vector<uint32_t>& ids) {
        for (auto it = ids.rbegin(); it != ids.rend(); ++it)
          if (!f(*it)) return false;
        return true;
      });
      return;
    }
    std::vector<std::vector<uint32_t>> segments;  // newest first
    if (hop_segments(first_granule, last_granule, [&](const std::vector<uint32_t>& ids) {
          segments.push_back(ids);
          return segments.size() <= kOldestFirstHops;
        })) {
      for (auto seg = segments.rbegin(); seg != segments.rend(); ++seg)
        for (uint32_t id : *seg)
          if (!f(id)) return;
      return;
    }
  }
  // The rows' keys first, from the key index alone (a few bytes each), in
  // segment order; then each segment's rows.
  struct Key {
    int64_t segment, page, id;
  };
  std::vector<Key> keys;
  {
    Statement q(*db_, "SELECT segment, page, id FROM write_index INDEXED BY write_index_key WHERE page BETWEEN ? AND ?");
    q.bind(1, first_granule >> granules_per_page_shift).bind(2, last_granule >> granules_per_page_shift);
    while (q.step()) keys.push_back({q.column_int(0), q.column_int(1), q.column_int(2)});
  }
  std::sort(keys.begin(), keys.end(), [&](const Key& a, const Key& b) {
    return newest_first ? a.segment > b.segment : a.segment < b.segment;
  });
  Statement row(*db_, "SELECT page, segment, granules, crc FROM write_index WHERE id = ?");
  std::vector<uint32_t> ids;
  for (size_t i = 0; i < keys.size();) {
    size_t j = i;
    ids.clear();
    for (; j < keys.size() && keys[j].segment == keys[i].segment; ++j) {
      row.bind(1, keys[j].id);
      if (!row.step()) fail("{}/{} is damaged (its write_index table was changed); run `omni index {}` again",
                            trace_dir_, kIndexFile, trace_dir_);
      uint64_t page = row.column_u64(0);
      int64_t segment = row.column_int(1);
      auto blob = static_cast<const uint8_t*>(row.column_blob(2));
      const size_t size = row.column_bytes(2);
      check_row("write_index", row.column_int(3),
                RowCheck().integer(row.column_int(0)).integer(segment).blob(blob, size));
      if (segment != keys[i].segment || row.column_int(0) != keys[j].page || segment < 0 ||
          segment > UINT32_MAX / kWriteChunksPerSegment)
        fail("{}/{} is damaged (its write_index table was changed); run `omni index {}` again", trace_dir_,
             kIndexFile, trace_dir_);
      uint64_t base = static_cast<uint64_t>(segment) * kWriteChunksPerSegment;
      read_write_lists(blob, size, page, nullptr, [&](uint64_t granule, uint64_t count, VarintReader& r) {
        bool wanted = granule >= first_granule && granule <= last_granule;
        uint64_t chunk = base;
        for (uint64_t k = 0; k < count; ++k) {
          chunk = next_chunk_id(r, k, chunk, base);
          if (wanted) ids.push_back(static_cast<uint32_t>(chunk));
        }
      });
      row.reset();
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (newest_first) std::reverse(ids.begin(), ids.end());
    for (uint32_t id : ids)
      if (!f(id)) return;
    i = j;
  }
}

bool IndexReader::hop_segments(uint64_t first_granule, uint64_t last_granule,
                               const std::function<bool(const std::vector<uint32_t>&)>& f) {
  const unsigned granules_per_page_shift = kPageShift - kGranuleShift;
  const uint32_t max_segment = UINT32_MAX / kWriteChunksPerSegment;
  // A granule waiting for the row of an older segment: exactly that one
  // when a carried writer sent it there (it must list the granule), else
  // the latest at or before it (a row whose carries are incomplete).
  struct Wait {
    uint64_t granule;
    bool exact;
  };
  struct Hop {
    std::vector<Wait> granules;  // one entry per granule: each has one hop pending at a time
    std::optional<WriteRow> row;
  };
  // By (segment, page), newest first. A lookup "at or before" resolves to a
  // row whose segment may be older than its key: it is queued again there,
  // so that segments come out in order across pages.
  std::map<std::pair<uint32_t, uint64_t>, Hop, std::greater<>> queue;
  for (uint64_t page = first_granule >> granules_per_page_shift; page <= last_granule >> granules_per_page_shift;
       ++page) {
    Hop& hop = queue[{max_segment, page}];
    for (uint64_t g = std::max(first_granule, page << granules_per_page_shift);
         g <= std::min(last_granule, ((page + 1) << granules_per_page_shift) - 1); ++g)
      hop.granules.push_back({g, false});
  }
  auto corrupt = [&](uint64_t page) {
    fail("index is corrupt (address index row of page {:#x}); run `omni index` again", page << kPageShift);
  };
  std::optional<uint32_t> current;  // the segment whose ids `ids` holds
  std::vector<uint32_t> ids;
  auto flush = [&] {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    bool more = f(ids);
    ids.clear();
    return more;
  };
  while (!queue.empty()) {
    auto node = queue.extract(queue.begin());
    auto [segment, page] = node.key();
    Hop& hop = node.mapped();
    bool exact = std::any_of(hop.granules.begin(), hop.granules.end(), [](const Wait& w) { return w.exact; });
    if (!hop.row) {
      hop.row = write_row(page, segment);
      if (!hop.row || hop.row->segment != segment) {
        if (exact) corrupt(page);
        if (!hop.row) continue;
        Hop& again = queue[{hop.row->segment, page}];
        again.granules.insert(again.granules.end(), hop.granules.begin(), hop.granules.end());
        if (!again.row) again.row = std::move(hop.row);
        continue;
      }
    }
    const WriteRow& row = *hop.row;
    if (current != row.segment) {
      if (current && !flush()) return false;
      current = row.segment;
    }
    for (const Wait& w : hop.granules) {
      if (const RowGranule* list = row.list(w.granule)) {
        std::vector<uint32_t> chunks = row.chunks(*list);
        ids.insert(ids.end(), chunks.begin(), chunks.end());
      } else if (w.exact) {
        corrupt(page);  // its carried writer's row does not list it
      }
      if (std::optional<uint32_t> carried = row.carried_writer(w.granule))
        queue[{write_segment_of_chunk(*carried), page}].granules.push_back({w.granule, true});
      else if (!row.carry_complete && row.segment > 0)
        queue[{row.segment - 1, page}].granules.push_back({w.granule, false});
    }
  }
  return !current || flush();
}

std::optional<IndexReader::WriteRow> IndexReader::write_row(uint64_t page, uint32_t segment) {
  check_count("write_index");
  if (!write_row_)
    write_row_ = std::make_unique<Statement>(
        *db_,
        "SELECT segment, granules, crc FROM write_index WHERE page = ? AND segment <= ? ORDER BY segment DESC LIMIT 1");
  write_row_->bind(1, page).bind(2, segment);
  std::optional<WriteRow> out;
  if (write_row_->step()) {
    out.emplace();
    WriteRow& row = *out;
    row.page = page;
    int64_t seg = write_row_->column_int(0);
    auto blob = static_cast<const uint8_t*>(write_row_->column_blob(1));
    row.bytes.assign(blob, blob + write_row_->column_bytes(1));
    check_row("write_index", write_row_->column_int(2),
              RowCheck().integer(static_cast<int64_t>(page)).integer(seg).blob(row.bytes.data(), row.bytes.size()));
    if (seg < 0 || seg > segment) fail("index is corrupt (address index row of page {:#x}); run `omni index` again", page << kPageShift);
    row.segment = static_cast<uint32_t>(seg);
    const uint8_t* data = row.bytes.data();
    VarintReader r = read_write_lists(data, row.bytes.size(), page, &row.carry_complete,
                                      [&](uint64_t granule, uint64_t count, VarintReader& lr) {
                                        uint32_t in_page = static_cast<uint32_t>(granule & (kGranulesPerPage - 1));
                                        if (!row.lists.empty() && row.lists.back().first >= in_page)
                                          fail("index is corrupt (address index entry); run `omni index` again");
                                        row.lists.push_back({in_page, {static_cast<uint32_t>(lr.p - data),
                                                                       static_cast<uint32_t>(count)}});
                                        for (uint64_t k = 0; k < count; ++k) lr.varint();
                                      });
    uint64_t base = uint64_t{row.segment} * kWriteChunksPerSegment;
    uint64_t carried = r.varint();
    if (carried > kGranulesPerPage) fail("index is corrupt (address index entry); run `omni index` again");
    uint64_t in_page = 0;
    for (uint64_t k = 0; k < carried; ++k) {
      uint64_t delta = r.varint();
      uint64_t back = r.varint();
      in_page += delta;
      if (delta >= kGranulesPerPage || (k > 0 && delta == 0) || in_page >= kGranulesPerPage || back == 0 ||
          back > base)
        fail("index is corrupt (address index entry); run `omni index` again");
      row.carried.push_back({static_cast<uint32_t>(in_page), static_cast<uint32_t>(base - back)});
    }
    if (r.p != r.end) fail("index is corrupt (address index entry); run `omni index` again");
  }
  write_row_->reset();
  return out;
}

const IndexReader::RowGranule* IndexReader::WriteRow::list(uint64_t granule) const {
  if ((granule >> (kPageShift - kGranuleShift)) != page) return nullptr;
  uint32_t in_page = static_cast<uint32_t>(granule & (kGranulesPerPage - 1));
  auto it = std::lower_bound(lists.begin(), lists.end(), in_page,
                             [](const auto& entry, uint32_t g) { return entry.first < g; });
  return it != lists.end() && it->first == in_page ? &it->second : nullptr;
}

std::optional<uint32_t> IndexReader::WriteRow::carried_writer(uint64_t granule) const {
  if ((granule >> (kPageShift - kGranuleShift)) != page) return std::nullopt;
  uint32_t in_page = static_cast<uint32_t>(granule & (kGranulesPerPage - 1));
  auto it = std::lower_bound(carried.begin(), carried.end(), in_page,
                             [](const auto& entry, uint32_t g) { return entry.first < g; });
  if (it != carried.end() && it->first == in_page) return it->second;
  return std::nullopt;
}

std::vector<uint32_t> IndexReader::WriteRow::chunks(RowGranule granule) const {
  if (granule.offset > bytes.size()) fail("index is corrupt (address index entry); run `omni index` again");
  VarintReader r{bytes.data() + granule.offset, bytes.data() + bytes.size(), "address index entry"};
  std::vector<uint32_t> out;
  out.reserve(granule.count);
  const uint64_t base = uint64_t{segment} * kWriteChunksPerSegment;
  uint64_t chunk = base;
  for (uint32_t k = 0; k < granule.count; ++k) {
    chunk = next_chunk_id(r, k, chunk, base);
    out.push_back(static_cast<uint32_t>(chunk));
  }
  return out;
}

std::optional<std::pair<uint64_t, uint64_t>> IndexReader::gseq_span() {
  verify_table("syscalls");
  Statement q(*db_, "SELECT min(gseq_enter), max(coalesce(gseq_exit, gseq_enter)) FROM syscalls");
  if (!q.step() || q.column_is_null(0) || q.column_is_null(1)) return std::nullopt;
  return std::make_pair(q.column_u64(0), q.column_u64(1));
}

std::vector<SyscallRow> IndexReader::syscalls(std::optional<uint64_t> nr) {
  verify_table("syscalls");
  Statement q(*db_, nr ? "SELECT time,tid,nr,a0,a1,a2,a3,a4,a5,result,gseq_enter,gseq_exit FROM syscalls WHERE nr = ? "
                         "ORDER BY time, seq"
                       : "SELECT time,tid,nr,a0,a1,a2,a3,a4,a5,result,gseq_enter,gseq_exit FROM syscalls ORDER BY "
                         "time, seq");
  if (nr) q.bind(1, *nr);
  std::vector<SyscallRow> out;
  while (q.step()) {
    SyscallRow row{q.column_u64(0), static_cast<uint32_t>(q.column_int(1)), q.column_u64(2), {}, {}, {}, {}};
    for (int i = 0; i < 6; ++i) row.args[i] = q.column_int(3 + i);
    if (!q.column_is_null(9)) row.result = q.column_int(9);
    if (!q.column_is_null(10)) row.gseq_enter = q.column_u64(10);
    if (!q.column_is_null(11)) row.gseq_exit = q.column_u64(11);
    out.push_back(row);
  }
  return out;
}

std::vector<OutputRow> IndexReader::output() {
  verify_table("output");
  Statement q(*db_, "SELECT time, tid, fd, data, gseq FROM output ORDER BY time, seq");
  std::vector<OutputRow> out;
  uint64_t hash = kChecksumSeed;
  while (q.step()) {
    auto data = static_cast<const uint8_t*>(q.column_blob(3));
    size_t size = q.column_bytes(3);
    uint64_t time = q.column_u64(0);
    uint32_t tid = static_cast<uint32_t>(q.column_int(1)), fd = static_cast<uint32_t>(q.column_int(2));
    hash = output_checksum_step(hash, time, tid, fd,
                                std::string_view(reinterpret_cast<const char*>(data), size));
    if (!out.empty() && out.back().time == time && out.back().tid == tid && out.back().fd == fd) {
      out.back().data.insert(out.back().data.end(), data, data + size);
      continue;
    }
    std::optional<uint64_t> gseq;
    if (!q.column_is_null(4)) gseq = q.column_u64(4);
    out.push_back({time, tid, fd, std::vector<uint8_t>(data, data + size), gseq});
  }
  if (meta_text("output_hash") != checksum_text(hash))
    fail("{}/{} is damaged (its output table was changed); run `omni index {}` again", trace_dir_,
         kIndexFile, trace_dir_);
  return out;
}

std::vector<MapRow> IndexReader::maps(uint64_t time) {
  verify_table("maps");
  Statement q(*db_, "SELECT time, event, start, length, prot, path, offset FROM maps WHERE time <= ? ORDER BY seq");
  q.bind(1, time);
  std::vector<MapRow> out;
  while (q.step()) {
    std::string event = q.column_text(1), prot = q.column_text(4);
    std::optional<MapKind> kind = map_kind_from_name(event);
    // Written by the builder as "rwx" with '-' for a missing right, then
    // 's' for a shared mapping.
    bool prot_ok = prot.size() == 3 || (prot.size() == 4 && prot[3] == 's');
    for (size_t i = 0; prot_ok && i < 3; ++i) prot_ok = prot[i] == "rwx"[i] || prot[i] == '-';
    if (!kind || !prot_ok)
      fail("index is corrupt (a map row of kind '{}', protection '{}'); run `omni index` again", event, prot);
    out.push_back({q.column_u64(0), *kind, q.column_u64(2), q.column_u64(3), prot[0] == 'r', prot[1] == 'w',
                   prot[2] == 'x', prot.size() == 4, q.column_text(5), q.column_u64(6)});
  }
  return out;
}

std::optional<std::vector<uint8_t>> IndexReader::initial_page(uint64_t page_addr) {
  check_count("initial_memory");
  Statement q(*db_, "SELECT data, crc FROM initial_memory WHERE addr = ?");
  q.bind(1, page_addr);
  if (!q.step()) return std::nullopt;
  auto data = static_cast<const uint8_t*>(q.column_blob(0));
  std::vector<uint8_t> page(data, data + q.column_bytes(0));
  check_row("initial_memory", q.column_int(1),
            RowCheck().integer(static_cast<int64_t>(page_addr)).blob(page.data(), page.size()));
  return page;
}

DecodedChunk IndexReader::load_chunk(uint32_t id) {
  DecodedChunk chunk;
  load_chunk_into(id, chunk);
  return chunk;
}

std::vector<uint8_t> IndexReader::load_finals(uint32_t id, uint64_t page, bool* complete) {
  if (!finals_)
    finals_ = std::make_unique<Statement>(*db_, "SELECT data, crc FROM chunk_finals WHERE chunk = ? AND page = ?");
  finals_->bind(1, id).bind(2, page);
  std::vector<uint8_t> out;
  if (complete) *complete = false;
  if (!finals_->step()) {
    // The builder writes a row for every page a chunk wrote, and the address
    // index is what names this chunk for this page: a missing row is a row
    // deleted (or its key changed), and skipping the chunk would answer with
    // an older value.
    finals_->reset();
    fail("{}/{} is damaged (its chunk_finals table has no row for chunk {} and page {:#x}); run `omni "
         "index {}` again",
         trace_dir_, kIndexFile, id, page << kPageShift, trace_dir_);
  }
  check_row("chunk_finals", finals_->column_int(1), RowCheck().integer(id).integer(static_cast<int64_t>(page)));
  out = finals_page_body(finals_->column_blob(0), finals_->column_bytes(0), complete);
  finals_->reset();
  return out;
}

void IndexReader::with_chunk_data(uint32_t id,
                                  const std::function<void(uint64_t time_first, const void* blob, size_t size)>& f) {
  // Reset however `f` ends: a statement left stepped refuses the next bind
  // (the gdb server goes on after a failed question).
  struct Reset {
    Statement& q;
    ~Reset() { q.reset(); }
  } reset{*chunk_data_};
  chunk_data_->bind(1, id);
  if (id >= chunk_count() || !chunk_data_->step())
    fail("index is corrupt: chunk {} is missing; run `omni index` again", id);
  uint64_t time_first = chunk_row(*chunk_data_).time_first;
  f(time_first, chunk_data_->column_blob(6), chunk_data_->column_bytes(6));
}

void IndexReader::load_chunk_into(uint32_t id, DecodedChunk& chunk, uint64_t until) {
  with_chunk_data(id, [&](uint64_t time_first, const void* blob, size_t size) {
    decode_chunk_into(blob, size, time_first, chunk_coding(), chunk, until);
  });
}

IndexReader::ChunkFrame IndexReader::chunk_frame(uint32_t id) {
  ChunkFrame frame{0, chunk_coding(), {}};
  with_chunk_data(id, [&](uint64_t time_first, const void* blob, size_t size) {
    frame.time_first = time_first;
    auto bytes = static_cast<const uint8_t*>(blob);
    frame.blob.assign(bytes, bytes + size);
  });
  return frame;
}

DecodedChunk IndexReader::load_chunk_writes(uint32_t id, uint64_t addr, uint64_t length, uint64_t until) {
  DecodedChunk out;
  with_chunk_data(id, [&](uint64_t time_first, const void* blob, size_t size) {
    decode_chunk_writes(blob, size, time_first, chunk_coding(), addr, length, until, out);
  });
  return out;
}

namespace {

std::vector<uint8_t> unzstd(const void* blob, size_t size, const char* what) {
  std::vector<uint8_t> raw;
  decompress_frame(blob, size, what, raw);
  return raw;
}

// A frame alone, or one compressed with the dictionary it names (snapshot
// states from schema 14, block IR from 15).
std::vector<uint8_t> unzstd_with(const void* blob, size_t size, const ZstdDictionary* dictionary, const char* what) {
  if (!dictionary) return unzstd(blob, size, what);
  std::vector<uint8_t> raw;
  dictionary->decompress(blob, size, what, raw);
  return raw;
}
std::vector<uint8_t> unzstd_state(const void* blob, size_t size, const ZstdDictionary* dictionary) {
  return unzstd_with(blob, size, dictionary, "register snapshot");
}

}  // namespace

std::optional<IndexReader::BlockIr> IndexReader::block_ir(uint64_t addr, uint64_t time) {
  check_count("blocks");
  if (!block_ir_) {
    block_ir_ = std::make_unique<Statement>(
        *db_, "SELECT time, ir, id, crc FROM blocks WHERE addr = ? AND time <= ? ORDER BY time DESC, id DESC LIMIT 1");
    // The first later translation (its row, not min(time), so that its crc is checked).
    block_next_ = std::make_unique<Statement>(
        *db_, "SELECT time, id, crc FROM blocks WHERE addr = ? AND time > ? ORDER BY time, id LIMIT 1");
  }
  block_ir_->bind(1, addr).bind(2, time);
  std::optional<BlockIr> out;
  if (block_ir_->step()) {
    check_row("blocks", block_ir_->column_int(3),
              block_row_crc(block_ir_->column_int(2), static_cast<int64_t>(addr), block_ir_->column_int(0)));
    out = BlockIr{block_ir_->column_u64(0), UINT64_MAX,
                  unzstd_with(block_ir_->column_blob(1), block_ir_->column_bytes(1),
                              dictionary(Dictionary::kBlocks, block_ir_->column_blob(1), block_ir_->column_bytes(1)),
                              "block IR")};
  }
  block_ir_->reset();
  if (out) {
    block_next_->bind(1, addr).bind(2, time);
    if (block_next_->step()) {
      check_row("blocks", block_next_->column_int(2),
                block_row_crc(block_next_->column_int(1), static_cast<int64_t>(addr), block_next_->column_int(0)));
      out->next_time = block_next_->column_u64(0);
    }
    block_next_->reset();
  }
  return out;
}

const ZstdDictionary* IndexReader::dictionary(Dictionary kind, const void* frame, size_t size) {
  uint32_t id = frame_dictionary_id(frame, size);
  if (id == 0) return nullptr;
  std::unique_ptr<ZstdDictionary>& loaded = dictionaries_[static_cast<int>(kind)];
  if (loaded && loaded->id() == id) return loaded.get();
  bool states = kind == Dictionary::kStates;
  const char* table = states ? "snapshot_dicts" : "block_dicts";
  if (schema_version_ < (states ? 14 : 15))
    fail("{}/{} is damaged (a {} names a dictionary, which index format {} has not); run `omni index {}` again",
         trace_dir_, kIndexFile, states ? "register snapshot" : "block's IR", schema_version_, trace_dir_);
  Statement q(*db_, std::string("SELECT dict, crc FROM ") + table + " WHERE id = ?");
  q.bind(1, static_cast<int64_t>(id));
  if (!q.step())
    fail("{}/{} is damaged (its {} table lacks dictionary {}); run `omni index {}` again", trace_dir_, kIndexFile,
         table, id, trace_dir_);
  auto dict = static_cast<const char*>(q.column_blob(0));
  std::string bytes(dict, dict + q.column_bytes(0));
  check_row(table, q.column_int(1), dictionary_row_crc(id, bytes.data(), bytes.size()));
  loaded = std::make_unique<ZstdDictionary>(std::move(bytes), 3, states ? "snapshot dictionary" : "block IR dictionary");
  if (loaded->id() != id)
    fail("{}/{} is damaged (a row of its {} table was changed); run `omni index {}` again", trace_dir_, kIndexFile,
         table, trace_dir_);
  return loaded.get();
}

std::optional<SnapshotRow> IndexReader::snapshot_before(uint32_t tid, uint64_t time) {
  if (!snapshot_)
    snapshot_ = std::make_unique<Statement>(
        *db_,
        "SELECT time, state, vals, seq, crc FROM snapshots WHERE tid = ? AND time <= ? ORDER BY time DESC, seq DESC "
        "LIMIT 1");
  snapshot_->bind(1, tid).bind(2, time);
  std::optional<SnapshotRow> out;
  if (snapshot_->step()) {
    check_row("snapshots", snapshot_->column_int(4),
              snapshot_row_crc(tid, snapshot_->column_int(0), snapshot_->column_int(3)));
    SnapshotRow row{tid, snapshot_->column_u64(0), {}, {}};
    row.state = unzstd_state(snapshot_->column_blob(1), snapshot_->column_bytes(1),
                             dictionary(Dictionary::kStates, snapshot_->column_blob(1), snapshot_->column_bytes(1)));
    if (!snapshot_->column_is_null(2))
      row.values = unzstd(snapshot_->column_blob(2), snapshot_->column_bytes(2), "replay values");
    out = std::move(row);
  }
  snapshot_->reset();
  return out;
}

std::optional<uint64_t> IndexReader::snapshot_time_before(uint32_t tid, uint64_t time) {
  if (!snapshot_time_)
    snapshot_time_ = std::make_unique<Statement>(
        *db_, "SELECT time, seq, crc FROM snapshots WHERE tid = ? AND time <= ? ORDER BY time DESC, seq DESC LIMIT 1");
  snapshot_time_->bind(1, tid).bind(2, time);
  std::optional<uint64_t> out;
  if (snapshot_time_->step()) {
    check_row("snapshots", snapshot_time_->column_int(2),
              snapshot_row_crc(tid, snapshot_time_->column_int(0), snapshot_time_->column_int(1)));
    out = snapshot_time_->column_u64(0);
  }
  snapshot_time_->reset();
  return out;
}


std::optional<SnapshotRow> IndexReader::snapshot_at(uint32_t tid, uint64_t time, bool first) {
  auto& q = first ? snapshot_first_ : snapshot_last_;
  if (!q)
    q = std::make_unique<Statement>(*db_, first ? "SELECT state, vals, seq, crc FROM snapshots WHERE tid = ? AND time = ? "
                                                  "ORDER BY seq LIMIT 1"
                                                : "SELECT state, vals, seq, crc FROM snapshots WHERE tid = ? AND time = ? "
                                                  "ORDER BY seq DESC LIMIT 1");
  q->bind(1, tid).bind(2, time);
  std::optional<SnapshotRow> out;
  if (q->step()) {
    check_row("snapshots", q->column_int(3), snapshot_row_crc(tid, static_cast<int64_t>(time), q->column_int(2)));
    SnapshotRow row{tid, time, {}, {}};
    row.state = unzstd_state(q->column_blob(0), q->column_bytes(0),
                             dictionary(Dictionary::kStates, q->column_blob(0), q->column_bytes(0)));
    if (!q->column_is_null(1)) row.values = unzstd(q->column_blob(1), q->column_bytes(1), "replay values");
    out = std::move(row);
  }
  q->reset();
  return out;
}

std::vector<std::pair<uint32_t, uint64_t>> IndexReader::snapshot_list() {
  Statement q(*db_, "SELECT tid, time, seq, crc FROM snapshots ORDER BY time, tid, seq");
  std::vector<std::pair<uint32_t, uint64_t>> out;
  while (q.step()) {
    check_row("snapshots", q.column_int(3), snapshot_row_crc(q.column_int(0), q.column_int(1), q.column_int(2)));
    out.emplace_back(static_cast<uint32_t>(q.column_int(0)), q.column_u64(1));
  }
  return out;
}

std::optional<uint32_t> IndexReader::thread_at(uint64_t time) {
  check_count("thread_runs");
  if (!thread_at_)
    thread_at_ = std::make_unique<Statement>(
        *db_, "SELECT tid, time, crc FROM thread_runs WHERE time <= ? ORDER BY time DESC, rowid DESC LIMIT 1");
  thread_at_->bind(1, time);
  std::optional<uint32_t> out;
  if (thread_at_->step()) {
    check_row("thread_runs", thread_at_->column_int(2),
              RowCheck().integer(thread_at_->column_int(1)).integer(thread_at_->column_int(0)));
    out = static_cast<uint32_t>(thread_at_->column_int(0));
  }
  thread_at_->reset();
  return out;
}

uint32_t IndexReader::thread_for(std::optional<uint32_t> tid, uint64_t time) {
  if (!tid) {
    tid = thread_at(time);
    // Every recording's first thread run starts at time 0.
    if (!tid) fail("index is corrupt: no thread runs at instruction {}; run `omni index` again", time);
    return *tid;
  }
  if (thread_ids_.empty())
    for (const ThreadRow& t : threads()) thread_ids_.push_back(t.tid);
  if (std::find(thread_ids_.begin(), thread_ids_.end(), *tid) != thread_ids_.end()) return *tid;
  std::string known;
  for (uint32_t t : thread_ids_) known += (known.empty() ? "" : ", ") + std::to_string(t);
  fail("no thread {} in this recording (its threads: {})", *tid, known.empty() ? "none" : known);
}

std::optional<uint64_t> IndexReader::run_start(uint32_t tid, uint64_t time, bool forward) {
  check_count("thread_runs");
  std::unique_ptr<Statement>& q = forward ? run_next_ : run_prev_;
  if (!q)
    q = std::make_unique<Statement>(
        *db_, forward ? "SELECT time, tid, crc FROM thread_runs WHERE time > ? AND tid = ? ORDER BY time LIMIT 1"
                      : "SELECT time, tid, crc FROM thread_runs WHERE time <= ? AND tid = ? ORDER BY time DESC LIMIT 1");
  q->bind(1, time).bind(2, tid);
  std::optional<uint64_t> out;
  if (q->step()) {
    check_row("thread_runs", q->column_int(2), RowCheck().integer(q->column_int(0)).integer(q->column_int(1)));
    out = q->column_u64(0);
  }
  q->reset();
  return out;
}

std::optional<uint64_t> IndexReader::run_end(uint32_t tid, uint64_t time) {
  check_count("thread_runs");
  if (!run_end_)
    // The first later run of another thread (its row, not min(time), so that its crc is checked).
    run_end_ = std::make_unique<Statement>(
        *db_, "SELECT time, tid, crc FROM thread_runs WHERE time > ? AND tid != ? ORDER BY time LIMIT 1");
  run_end_->bind(1, time).bind(2, tid);
  std::optional<uint64_t> out;
  if (run_end_->step()) {
    check_row("thread_runs", run_end_->column_int(2),
              RowCheck().integer(run_end_->column_int(0)).integer(run_end_->column_int(1)));
    out = run_end_->column_u64(0);
  }
  run_end_->reset();
  return out;
}

const std::vector<CallChunkRow>& IndexReader::call_chunks() {
  verify_table("call_chunks");
  if (!call_chunks_loaded_) {
    Statement q(*db_, "SELECT id, time_first, time_last, calls FROM call_chunks INDEXED BY call_chunks_meta ORDER BY id");
    while (q.step())
      call_chunks_.push_back({static_cast<uint32_t>(q.column_int(0)), q.column_u64(1), q.column_u64(2),
                              q.column_u64(3)});
    call_chunks_loaded_ = true;
  }
  return call_chunks_;
}

std::vector<CallRow> IndexReader::load_calls(uint32_t chunk) {
  verify_table("call_chunks");
  if (!call_data_) call_data_ = std::make_unique<Statement>(*db_, "SELECT data FROM call_chunks WHERE id = ?");
  call_data_->bind(1, chunk);
  if (!call_data_->step()) {
    call_data_->reset();
    fail("index is corrupt: call chunk {} is missing; run `omni index` again", chunk);
  }
  auto rows = decode_calls(call_data_->column_blob(0), call_data_->column_bytes(0),
                           uint64_t{chunk} * kCallsPerChunk);
  call_data_->reset();
  return rows;
}

std::shared_ptr<const std::vector<CallRow>> IndexReader::calls_of_chunk(uint32_t chunk) {
  auto it = call_cache_.find(chunk);
  if (it != call_cache_.end()) return it->second;
  if (call_cache_.size() >= 64) call_cache_.clear();
  auto rows = std::make_shared<const std::vector<CallRow>>(load_calls(chunk));
  call_cache_.emplace(chunk, rows);
  return rows;
}

CallRow IndexReader::call(uint64_t id) {
  uint32_t chunk = static_cast<uint32_t>(id / kCallsPerChunk);
  auto rows = calls_of_chunk(chunk);
  uint64_t i = id - uint64_t{chunk} * kCallsPerChunk;
  if (i >= rows->size()) fail("index call chunk {} is corrupt (no call {}); run `omni index` again", chunk, id);
  return (*rows)[i];
}

std::optional<CallRow> IndexReader::caller_of(const CallRow& row) {
  if (row.parent == 0) return std::nullopt;
  return call(row.parent - 1);
}

std::vector<uint32_t> IndexReader::call_chunks_to(uint64_t target) {
  check_count("call_targets");
  Statement q(*db_, "SELECT chunk, crc FROM call_targets WHERE target = ? ORDER BY chunk");
  q.bind(1, target);
  std::vector<uint32_t> out;
  while (q.step()) {
    check_row("call_targets", q.column_int(1), RowCheck().integer(static_cast<int64_t>(target)).integer(q.column_int(0)));
    out.push_back(static_cast<uint32_t>(q.column_int(0)));
  }
  return out;
}

std::vector<uint64_t> IndexReader::call_targets() {
  check_count("call_targets");
  // A target's rows are adjacent (the primary key leads with it); only the
  // first of each is read and checked.
  Statement q(*db_, "SELECT target, min(chunk), crc FROM call_targets GROUP BY target ORDER BY target");
  std::vector<uint64_t> out;
  while (q.step()) {
    check_row("call_targets", q.column_int(2), RowCheck().integer(q.column_int(0)).integer(q.column_int(1)));
    out.push_back(q.column_u64(0));
  }
  return out;
}

const std::vector<ExecChunkRow>& IndexReader::exec_chunks() {
  verify_table("exec_chunks");
  if (!exec_chunks_loaded_) {
    Statement q(*db_, "SELECT id, time_first, time_last, time_end, entries FROM exec_chunks INDEXED BY exec_chunks_meta ORDER BY id");
    while (q.step()) {
      ExecChunkRow row{static_cast<uint32_t>(q.column_int(0)), q.column_u64(1), q.column_u64(2), std::nullopt,
                       q.column_u64(4)};
      if (!q.column_is_null(3)) row.time_end = q.column_u64(3);
      if (row.id != exec_chunks_.size() || row.time_last < row.time_first ||
          (row.time_end && *row.time_end < row.time_last) ||
          (!exec_chunks_.empty() && row.time_first < exec_chunks_.back().time_last))
        fail("{}/{} is damaged (its exec_chunks table is out of order); run `omni index {}` again", trace_dir_,
             kIndexFile, trace_dir_);
      exec_chunks_.push_back(row);
    }
    exec_chunks_loaded_ = true;
  }
  return exec_chunks_;
}

std::vector<ExecEntry> IndexReader::load_execs(uint32_t chunk) {
  const auto& chunks = exec_chunks();
  if (chunk >= chunks.size()) fail("index is corrupt: exec chunk {} is missing; run `omni index` again", chunk);
  if (!exec_data_) exec_data_ = std::make_unique<Statement>(*db_, "SELECT data FROM exec_chunks WHERE id = ?");
  exec_data_->bind(1, chunk);
  if (!exec_data_->step()) {
    exec_data_->reset();
    fail("index is corrupt: exec chunk {} is missing; run `omni index` again", chunk);
  }
  std::vector<ExecEntry> entries =
      decode_execs(exec_data_->column_blob(0), exec_data_->column_bytes(0), chunks[chunk].time_first);
  exec_data_->reset();
  if (entries.size() != chunks[chunk].entries || entries.empty() || entries.back().time != chunks[chunk].time_last)
    fail("index exec chunk {} is corrupt (its entries disagree with its row); run `omni index` again", chunk);
  return entries;
}

IndexReader::BlockChunks IndexReader::exec_chunks_of(uint32_t block) {
  check_count("exec_blocks");
  Statement q(*db_, "SELECT segment, chunks, crc FROM exec_blocks WHERE block = ? ORDER BY segment");
  q.bind(1, block);
  BlockChunks out;
  auto damaged = [&] {
    fail("{}/{} is damaged (a row of its exec_blocks table was changed); run `omni index {}` again", trace_dir_,
         kIndexFile, trace_dir_);
  };
  while (q.step()) {
    int64_t segment = q.column_int(0);
    const auto* blob = static_cast<const uint8_t*>(q.column_blob(1));
    size_t size = static_cast<size_t>(q.column_bytes(1));
    check_row("exec_blocks", q.column_int(2), exec_block_row_crc(block, segment, blob, size));
    if (segment == kUnloggedBlock) {
      out.unlogged = true;
      continue;
    }
    if (segment < 0 || segment > UINT32_MAX / kChunksPerSegment) damaged();
    VarintReader in{blob, blob + size, "exec_blocks row"};
    uint64_t count = in.varint();
    if (count > kChunksPerSegment) damaged();
    uint64_t chunk = static_cast<uint64_t>(segment) * kChunksPerSegment;
    for (uint64_t k = 0; k < count; ++k) {
      uint64_t delta = in.varint();
      if (k > 0 && delta == 0) damaged();
      chunk += delta;
      if (chunk >= static_cast<uint64_t>(segment + 1) * kChunksPerSegment) damaged();
      out.chunks.push_back(static_cast<uint32_t>(chunk));
    }
    if (in.p != in.end) damaged();
  }
  return out;
}

std::vector<BlockRow> IndexReader::blocks_between(uint64_t lo, uint64_t hi) {
  check_count("blocks");
  Statement q(*db_, "SELECT id, addr, time, ir, crc FROM blocks WHERE addr BETWEEN ? AND ? ORDER BY addr, time, id");
  q.bind(1, lo).bind(2, hi);
  std::vector<BlockRow> out;
  while (q.step()) {
    check_row("blocks", q.column_int(4), block_row_crc(q.column_int(0), q.column_int(1), q.column_int(2)));
    out.push_back({static_cast<uint32_t>(q.column_int(0)), q.column_u64(1), q.column_u64(2),
                   unzstd_with(q.column_blob(3), q.column_bytes(3),
                               dictionary(Dictionary::kBlocks, q.column_blob(3), q.column_bytes(3)), "block IR")});
  }
  return out;
}

void IndexReader::for_each_block(const std::function<bool(const BlockRow&)>& f) {
  check_count("blocks");
  Statement q(*db_, "SELECT id, addr, time, ir, crc FROM blocks ORDER BY addr, time, id");
  while (q.step()) {
    check_row("blocks", q.column_int(4), block_row_crc(q.column_int(0), q.column_int(1), q.column_int(2)));
    BlockRow row{static_cast<uint32_t>(q.column_int(0)), q.column_u64(1), q.column_u64(2),
                 unzstd_with(q.column_blob(3), q.column_bytes(3),
                             dictionary(Dictionary::kBlocks, q.column_blob(3), q.column_bytes(3)), "block IR")};
    if (!f(row)) return;
  }
}

bool IndexReader::has_symbols() { return meta_int("symbols").value_or(0) == 1; }

std::optional<std::vector<uint8_t>> IndexReader::code_symbols(int64_t object, uint64_t page) {
  check_count("code_symbols");
  if (!code_symbols_)
    code_symbols_ = std::make_unique<Statement>(*db_, "SELECT data, crc FROM code_symbols WHERE object = ? AND page = ?");
  code_symbols_->bind(1, object).bind(2, page);
  std::optional<std::vector<uint8_t>> out;
  if (code_symbols_->step()) {
    check_row("code_symbols", code_symbols_->column_int(1), symbols_row_crc(object, static_cast<int64_t>(page)));
    out = unzstd(code_symbols_->column_blob(0), code_symbols_->column_bytes(0), "precomputed symbols");
  }
  code_symbols_->reset();
  return out;
}

uint64_t IndexReader::symbol_bytes() {
  check_count("code_symbols");
  check_count("function_symbols");
  Statement q(*db_,
              "SELECT (SELECT coalesce(sum(length(data)), 0) FROM code_symbols) + "
              "(SELECT coalesce(sum(length(data)), 0) FROM function_symbols)");
  q.step();
  return q.column_u64(0);
}

std::optional<std::vector<uint8_t>> IndexReader::function_symbols(int64_t object) {
  check_count("function_symbols");
  Statement q(*db_, "SELECT data, crc FROM function_symbols WHERE object = ?");
  q.bind(1, object);
  if (!q.step()) return std::nullopt;
  check_row("function_symbols", q.column_int(1), symbols_row_crc(object, -1));
  return unzstd(q.column_blob(0), q.column_bytes(0), "precomputed function symbols");
}

}  // namespace omni::index
