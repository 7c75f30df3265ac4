// Rewrites an index's write chunks as an older index format coded them
// (docs/index-format.md), for the tests that check that this omni still reads
// those formats. A chunk row's raw_bytes keeps the size the builder wrote
// (its row check covers it; no reader uses it otherwise).
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "omni/index/chunk.h"
#include "omni/index/db.h"

namespace omni::test {

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

}  // namespace omni::test
