// Register snapshot states (index format 14) and blocks' IR (15) compressed
// with a dictionary: the index holds the dictionary their frames name, they
// are smaller than frames alone, replay from every snapshot through that IR
// arrives at the next (omni verify), and an index of format 13 (no
// dictionary) is still read, with the same answers, but not kept by
// `omni index --drop-trace`.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "omni/index/chunk.h"
#include "omni/index/db.h"
#include "old_formats.h"
#include "omni_fixture.h"

namespace omni::test {

namespace {

struct States {
  int64_t total = 0, with_dictionary = 0;
  size_t stored_bytes = 0, alone_bytes = 0;  // as stored; each compressed alone
  size_t dictionaries = 0;                   // rows of the dictionary table
};

// The frames of `column` in `table`, and the dictionaries of `dict_table`.
States read_states(const fs::path& index_db, const std::string& table = "snapshots",
                   const std::string& column = "state", const std::string& dict_table = "snapshot_dicts") {
  States s;
  index::Database db(index_db.string(), index::Database::Mode::ReadOnly);
  std::vector<std::unique_ptr<index::ZstdDictionary>> dictionaries = stored_dictionaries(db, dict_table);
  s.dictionaries = dictionaries.size();
  const index::ZstdDictionary* dict = dictionaries.empty() ? nullptr : dictionaries.back().get();
  index::Statement q(db, "SELECT " + column + " FROM " + table);
  while (q.step()) {
    ++s.total;
    const void* blob = q.column_blob(0);
    size_t size = static_cast<size_t>(q.column_bytes(0));
    std::vector<uint8_t> raw;
    if (uint32_t id = index::frame_dictionary_id(blob, size)) {
      REQUIRE(dict);
      REQUIRE(id == dict->id());
      ++s.with_dictionary;
      dict->decompress(blob, size, "snapshot", raw);
    } else {
      index::decompress_frame(blob, size, "snapshot", raw);
    }
    s.stored_bytes += size;
    s.alone_bytes += index::compress_chunk(std::string(raw.begin(), raw.end()), 3).size();
  }
  return s;
}

}  // namespace

TEST_CASE("snapshot dictionary: states and block IR compress with the dictionaries the index holds, replay matches, format 13 still reads") {
  TempDir t;
  fs::path dir = record_gzip_of_text(t.path(), 2000, {"--snapshot-interval", "1024"});

  States s = read_states(dir / "index.db");
  MESSAGE(s.total << " snapshots, " << s.with_dictionary << " with the dictionary: " << s.stored_bytes
                  << " bytes stored, " << s.alone_bytes << " compressed alone");
  REQUIRE(s.dictionaries == 1);
  // All but the states it was trained on (the first 512 taken, less those
  // written before training) name it.
  CHECK(s.with_dictionary > 0);
  CHECK(s.total - s.with_dictionary <= 512);
  CHECK(s.total > 1024);
  CHECK(s.stored_bytes < s.alone_bytes);
  // Blocks' IR: all but the first 1,024 translations name theirs.
  States ir = read_states(dir / "index.db", "blocks", "ir", "block_dicts");
  MESSAGE(ir.total << " blocks, " << ir.with_dictionary << " with the dictionary: " << ir.stored_bytes
                    << " bytes stored, " << ir.alone_bytes << " compressed alone");
  REQUIRE(ir.dictionaries == 1);
  CHECK(ir.total > 1024);
  CHECK(ir.total - ir.with_dictionary == 1024);
  CHECK(ir.stored_bytes < ir.alone_bytes);

  RunResult v = run_omni({"verify", dir.string()});
  INFO("omni verify: ", v.describe());
  CHECK(v.status == 0);

  // The same recording with its index as format 13 wrote it.
  fs::path old = t / "old";
  fs::copy(dir, old, fs::copy_options::recursive);
  {
    index::Database db((old / "index.db").string(), index::Database::Mode::Create);
    rewrite_as_format(db, 13);
  }
  RunResult dump = run_omni({"dump", dir.string(), "--json"});
  REQUIRE(dump.status == 0);
  int64_t instructions = parse_json_object(dump.out)["instructions"].i;
  REQUIRE(instructions > 8);
  for (int64_t k = 1; k <= 7; ++k) {
    std::string at = std::to_string(instructions * k / 8);
    for (const char* question : {"--registers", "--stack"}) {
      CAPTURE(question);
      CAPTURE(at);
      RunResult a = run_omni({"query", dir.string(), question, "--at", at});
      RunResult b = run_omni({"query", old.string(), question, "--at", at});
      REQUIRE(a.status == 0);
      CHECK(b.status == 0);
      CHECK(a.out == b.out);
    }
  }
  RunResult v13 = run_omni({"verify", old.string()});
  INFO("omni verify of format 13: ", v13.describe());
  CHECK(v13.status == 0);
  // Read, not kept: --drop-trace builds the current format before dropping the stream.
  RunResult drop = run_omni({"index", "-q", "--drop-trace", old.string()});
  INFO("omni index --drop-trace: ", drop.describe());
  REQUIRE(drop.status == 0);
  CHECK(index_format((old / "index.db").string()) == index::kSchemaVersion);
}

}  // namespace omni::test
