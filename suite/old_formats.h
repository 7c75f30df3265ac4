// Rewrites an index as an older index format wrote it (docs/index-format.md),
// for the tests that check that this omni still reads those formats. A chunk
// row's raw_bytes keeps the size the builder wrote (its row check covers it;
// no reader uses it otherwise).
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "omni/index/chunk.h"
#include "omni/index/db.h"

namespace omni::test {

// The dictionaries of `table` (snapshot_dicts, block_dicts), each checked
// against its row's id.
inline std::vector<std::unique_ptr<index::ZstdDictionary>> stored_dictionaries(index::Database& db,
                                                                                const std::string& table) {
  std::vector<std::unique_ptr<index::ZstdDictionary>> out;
  index::Statement d(db, "SELECT id, dict FROM " + table);
  while (d.step()) {
    auto bytes = static_cast<const char*>(d.column_blob(1));
    out.push_back(
        std::make_unique<index::ZstdDictionary>(std::string(bytes, bytes + d.column_bytes(1)), 3, "dictionary"));
    CHECK(out.back()->id() == static_cast<uint32_t>(d.column_int(0)));
  }
  return out;
}

// Every chunk of the index (coded as this omni codes them) re-coded as
// `coding`; returns the chunks' compressed bytes before and after.
inline std::pair<size_t, size_t> recode_chunks(index::Database& db, index::ChunkCoding coding) {
  struct Row {
    int64_t id;
    std::string data;
  };
  std::vector<Row> rows;
  size_t before = 0, after = 0;
  {
    index::Statement q(db, "SELECT id, time_first, data FROM chunks ORDER BY id");
    index::DecodedChunk chunk;
    while (q.step()) {
      index::decode_chunk_into(q.column_blob(2), q.column_bytes(2), q.column_u64(1),
                               index::ChunkCoding::kSameInstruction, chunk);
      rows.push_back({q.column_int(0), index::compress_chunk(index::ChunkEncoder::encode(chunk, coding), 3)});
      before += static_cast<size_t>(q.column_bytes(2));
      after += rows.back().data.size();
    }
  }
  REQUIRE(!rows.empty());
  index::Statement u(db, "UPDATE chunks SET data = ? WHERE id = ?");
  for (const Row& r : rows) u.bind_blob(1, r.data.data(), r.data.size()).bind(2, r.id).run();
  return {before, after};
}

// The frames of `column` in `table` (rows named by the integer columns
// `keys`) that name the dictionary of `dict_table`, compressed alone; the
// dictionary table dropped. Returns how many were rewritten.
inline size_t undo_dictionary(index::Database& db, const std::string& table, const std::vector<std::string>& keys,
                              const std::string& column, const std::string& dict_table) {
  std::vector<std::unique_ptr<index::ZstdDictionary>> dictionaries = stored_dictionaries(db, dict_table);
  REQUIRE(dictionaries.size() <= 1);
  std::string key_list, where;
  for (const std::string& k : keys) {
    key_list += k + ", ";
    where += (where.empty() ? "" : " AND ") + k + " = ?";
  }
  std::vector<std::pair<std::vector<int64_t>, std::string>> rows;  // (key values, frame)
  {
    index::Statement q(db, "SELECT " + key_list + column + " FROM " + table);
    int n = static_cast<int>(keys.size());
    while (q.step()) {
      if (!index::frame_dictionary_id(q.column_blob(n), q.column_bytes(n))) continue;
      REQUIRE(dictionaries.size() == 1);
      std::vector<uint8_t> raw;
      dictionaries.front()->decompress(q.column_blob(n), q.column_bytes(n), "frame", raw);
      std::vector<int64_t> values;
      for (int i = 0; i < n; ++i) values.push_back(q.column_int(i));
      rows.emplace_back(values, index::compress_chunk(std::string(raw.begin(), raw.end()), 3));
    }
  }
  index::Statement u(db, "UPDATE " + table + " SET " + column + " = ? WHERE " + where);
  for (const auto& [values, frame] : rows) {
    u.bind_blob(1, frame.data(), frame.size());
    for (size_t i = 0; i < values.size(); ++i) u.bind(static_cast<int>(i) + 2, values[i]);
    u.run();
  }
  db.exec("DROP TABLE " + dict_table);
  return rows.size();
}

// The format version (user_version) of an index file.
inline int64_t index_format(const std::string& index_db) {
  index::Database db(index_db, index::Database::Mode::ReadOnly);
  index::Statement version(db, "PRAGMA user_version");
  REQUIRE(version.step());
  return version.column_int(0);
}

// The index at DIR rewritten as format `version` (13 or 14) wrote it:
// chunks coded kPreviousEvent, every block's IR a frame alone and no
// block_dicts (14); also every snapshot state alone and no snapshot_dicts
// (13). Returns the chunks' compressed bytes, as this omni and as rewritten.
inline std::pair<size_t, size_t> rewrite_as_format(index::Database& db, int version) {
  REQUIRE((version == 13 || version == 14));
  db.exec("BEGIN");
  std::pair<size_t, size_t> sizes = recode_chunks(db, index::ChunkCoding::kPreviousEvent);
  undo_dictionary(db, "blocks", {"id"}, "ir", "block_dicts");
  if (version == 13) undo_dictionary(db, "snapshots", {"tid", "time", "seq"}, "state", "snapshot_dicts");
  db.exec("PRAGMA user_version = " + std::to_string(version));
  db.exec("COMMIT");
  return sizes;
}

}  // namespace omni::test
