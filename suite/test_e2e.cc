// End-to-end tests: record a subject with omni, index it, query it, and compare
// with an independent truth (gdb watchpoints, nm, addr2line, file bytes, the
// subject's own output).
#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "omni_fixture.h"

using namespace omni::test;

namespace {

// Value of a little-endian integer variable of `len` bytes after each write in
// `ws`, starting from `initial`; only the writes that change it are kept,
// paired with the writer's function ("?" when omni gives null).
std::vector<std::pair<std::int64_t, std::string>> value_changes(const std::vector<Write>& ws,
                                                                std::uint64_t base,
                                                                std::size_t len,
                                                                std::vector<std::uint8_t> image) {
  std::vector<std::pair<std::int64_t, std::string>> out;
  for (const auto& w : ws) {
    auto next = apply_writes({w}, base, len, image);
    if (next != image) out.emplace_back(le_signed(next), w.function.value_or("?"));
    image = std::move(next);
  }
  return out;
}

std::vector<std::uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("e2e globals: value changes of g_counter equal the gdb watchpoint sequence") {
  auto rec = record("globals");
  auto prog = rec.prog;

  // Program output passes through the recorder.
  RunResult native = run({prog.string()});
  REQUIRE(native.status == 0);
  CHECK(kv(rec.rec.out, "g_counter") == kv(native.out, "g_counter"));
  CHECK(kv(rec.rec.out, "g_point.x") == kv(native.out, "g_point.x"));

  Symbol sym = nm_symbol(prog, "g_counter");
  REQUIRE(sym.size == 8);
  REQUIRE(sym.type == 'B');  // in .bss, so it starts as zero

  auto ws = where_written(rec.dir, "g_counter");
  REQUIRE_FALSE(ws.empty());
  check_touches(ws, sym.addr, 8);
  for (const auto& w : ws) {
    CHECK(w.addr == sym.addr);
    CHECK(w.size == 8);
  }

  auto omni_changes = value_changes(ws, sym.addr, 8, std::vector<std::uint8_t>(8, 0));
  // The subject also stores unchanged values; omni records every store.
  CHECK(ws.size() > omni_changes.size());

  WatchResult gdb = gdb_watch(prog, {}, "g_counter");
  REQUIRE_FALSE(gdb.hits.empty());
  std::vector<std::string> gdb_values, omni_values, gdb_funcs, omni_funcs;
  for (const auto& h : gdb.hits) {
    gdb_values.push_back(h.value);
    gdb_funcs.push_back(h.function);
  }
  for (const auto& [v, f] : omni_changes) {
    omni_values.push_back(std::to_string(v));
    omni_funcs.push_back(f);
  }
  CHECK(omni_values == gdb_values);
  CHECK(omni_funcs == gdb_funcs);
  // And the last one is what the recorded program printed.
  REQUIRE_FALSE(omni_values.empty());
  CHECK(omni_values.back() == kv(rec.rec.out, "g_counter").value_or("<none>"));

  // Every write is attributed to a thread, and (single-threaded) the same one.
  std::set<std::int64_t> tids;
  for (const auto& w : ws) tids.insert(w.tid);
  CHECK(tids.size() == 1);
}

TEST_CASE("e2e globals: pc function file and line agree with addr2line") {
  auto rec = record("globals");
  auto ws = where_written(rec.dir, "g_counter");
  auto more = where_written(rec.dir, "g_point");
  ws.insert(ws.end(), more.begin(), more.end());
  REQUIRE_FALSE(ws.empty());
  std::vector<std::uint64_t> pcs;
  for (const auto& w : ws) pcs.push_back(w.pc);
  auto locs = addr2line(rec.prog, pcs);
  REQUIRE(locs.size() == ws.size());
  for (std::size_t k = 0; k < ws.size(); ++k) {
    INFO("write ", k, " pc ", hex_address(ws[k].pc), ": addr2line says ", locs[k].function, " ",
         locs[k].file, ":", locs[k].line);
    REQUIRE(ws[k].function.has_value());
    CHECK(*ws[k].function == locs[k].function);
    REQUIRE(ws[k].file.has_value());
    CHECK(base_name(*ws[k].file) == base_name(locs[k].file));
    REQUIRE(ws[k].line.has_value());
    CHECK(*ws[k].line == locs[k].line);
  }
}

TEST_CASE("e2e globals: g_point is written field by field") {
  auto rec = record("globals");
  std::uint64_t base = addr_of(rec.prog, "g_point");
  auto x = kv(rec.rec.out, "g_point.x"), y = kv(rec.rec.out, "g_point.y"),
       z = kv(rec.rec.out, "g_point.z");
  REQUIRE((x && y && z));

  auto ws = where_written(rec.dir, "g_point");
  check_touches(ws, base, 16);
  REQUIRE(ws.size() == 3);
  CHECK(ws[0].addr == base + 0);
  CHECK(ws[0].size == 4);
  CHECK(ws[1].addr == base + 4);
  CHECK(ws[1].size == 4);
  CHECK(ws[2].addr == base + 8);
  CHECK(ws[2].size == 8);
  CHECK(ws[0].time < ws[1].time);
  CHECK(ws[1].time < ws[2].time);
  CHECK(std::to_string(le_signed(ws[0].data)) == *x);
  CHECK(std::to_string(le_signed(ws[1].data)) == *y);
  CHECK(std::to_string(le_signed(ws[2].data)) == *z);
  for (const auto& w : ws) CHECK(w.function.value_or("") == "set_point");

  // The same writes by address range, and partial ranges select by overlap.
  auto by_addr = where_written(rec.dir, hex_address(base) + ":16");
  CHECK(times_of(by_addr) == times_of(ws));
  auto xy = where_written(rec.dir, hex_address(base + 2) + ":4");  // bytes 2..5: x and y
  CHECK(times_of(xy) == std::vector<std::uint64_t>{ws[0].time, ws[1].time});
  auto only_y = where_written(rec.dir, hex_address(base + 4));  // one byte when no :LEN
  CHECK(times_of(only_y) == std::vector<std::uint64_t>{ws[1].time});
  auto only_z = where_written(rec.dir, hex_address(base + 15) + ":1");
  CHECK(times_of(only_z) == std::vector<std::uint64_t>{ws[2].time});
  // Every field's write happened after all of g_counter's.
  auto counter = where_written(rec.dir, "g_counter");
  REQUIRE_FALSE(counter.empty());
  CHECK(counter.back().time < ws.front().time);
}

TEST_CASE("e2e globals: heap block writes") {
  auto rec = record("globals");
  auto heap = kv(rec.rec.out, "heap");
  auto len_s = kv(rec.rec.out, "len");
  auto expect_hex = kv(rec.rec.out, "heap_bytes");
  REQUIRE((heap && len_s && expect_hex));
  std::uint64_t addr = parse_address(*heap);
  std::size_t len = std::stoul(*len_s);

  auto ws = where_written(rec.dir, *heap + ":" + *len_s);
  REQUIRE_FALSE(ws.empty());
  check_touches(ws, addr, len);
  // Replaying the writes in order gives the bytes the program printed.
  CHECK(to_hex(apply_writes(ws, addr, len)) == *expect_hex);
  // Every byte was written by fill_heap, last.
  std::vector<std::string> last_writer(len);
  for (const auto& w : ws)
    for (std::size_t k = 0; k < w.size; ++k)
      if (w.addr + k >= addr && w.addr + k < addr + len)
        last_writer[w.addr + k - addr] = w.function.value_or("?");
  for (std::size_t k = 0; k < len; ++k) {
    INFO("heap byte ", k);
    CHECK(last_writer[k] == "fill_heap");
  }
}

TEST_CASE("e2e globals: record directory - index file - dump") {
  auto rec = record("globals");
  CHECK(file_mode(rec.dir) == 0700);
  std::string db = read_file(rec.dir / "index.db");
  REQUIRE(db.size() >= 16);
  CHECK(std::memcmp(db.data(), "SQLite format 3\0", 16) == 0);

  RunResult d = run_omni({"dump", rec.dir.string(), "--json"});
  INFO(d.describe());
  REQUIRE(d.status == 0);
  auto objs = parse_json_lines(d.out);
  REQUIRE(objs.size() == 1);
  auto& o = objs[0];
  REQUIRE(o.count("program"));
  REQUIRE(o["program"].is_string());
  CHECK(o["program"].s.find("globals") != std::string::npos);
  CHECK((o.count("exit_code") || o.count("signal")));
  if (o.count("exit_code")) CHECK((o["exit_code"].is_int() && o["exit_code"].i == 0));
  if (o.count("signal")) CHECK((o["signal"].is_null() || (o["signal"].is_int() && o["signal"].i == 0)));
  REQUIRE(o.count("complete"));
  CHECK((o["complete"].is_bool() && o["complete"].b));
  REQUIRE(o.count("events"));
  REQUIRE(o["events"].is_int());
  // At least every write the queries below can see.
  std::size_t seen = where_written(rec.dir, "g_counter").size() +
                     where_written(rec.dir, "g_point").size() +
                     where_written(rec.dir, kv(rec.rec.out, "heap").value_or("0x0") + ":64").size();
  CHECK(static_cast<std::size_t>(o["events"].i) >= seen);

  // Plain (non-JSON) dump works too.
  RunResult plain = run_omni({"dump", rec.dir.string()});
  CHECK(plain.status == 0);
  CHECK_FALSE(plain.out.empty());
}

TEST_CASE("e2e bigcopy: memset and memcpy of 1 MiB then g_done") {
  auto rec = record("bigcopy");
  auto src_s = kv(rec.rec.out, "src"), dst_s = kv(rec.rec.out, "dst"), len_s = kv(rec.rec.out, "len");
  REQUIRE((src_s && dst_s && len_s));
  std::uint64_t src = parse_address(*src_s), dst = parse_address(*dst_s);
  std::uint64_t len = std::stoull(*len_s);

  auto byte_write = [&](std::uint64_t a) {
    auto ws = where_written(rec.dir, hex_address(a) + ":1");
    check_touches(ws, a, 1);
    REQUIRE_FALSE(ws.empty());
    const Write& w = ws.back();
    CHECK(w.data.at(a - w.addr) == 0xAB);
    return w;
  };
  Write s = byte_write(src + len / 2 + 3);
  Write d = byte_write(dst + len / 2 + 3);
  Write d0 = byte_write(dst);
  Write dlast = byte_write(dst + len - 1);
  CHECK(s.time < d.time);  // memset before memcpy

  auto done = where_written(rec.dir, "g_done");
  REQUIRE(done.size() == 1);
  CHECK(le_signed(done[0].data) == 1);
  CHECK(done[0].time > std::max({d.time, d0.time, dlast.time}));
  CHECK(done[0].function.value_or("") == "main");

  // The whole destination, newest write only.
  auto last = where_written(rec.dir, *dst_s + ":" + *len_s, {"--last", "1"});
  REQUIRE(last.size() == 1);
  CHECK(last[0].time < done[0].time);
  check_touches(last, dst, len);
}

TEST_CASE("e2e simd: 16- and 32-byte stores into g_vec") {
  auto rec = record("simd");
  Symbol g = nm_symbol(rec.prog, "g_vec");
  REQUIRE(g.size == 64);
  auto expect = kv(rec.rec.out, "g_vec");
  auto avx2 = kv(rec.rec.out, "avx2");
  REQUIRE((expect && avx2));

  auto ws = where_written(rec.dir, "g_vec");
  check_touches(ws, g.addr, g.size);
  CHECK(to_hex(apply_writes(ws, g.addr, g.size)) == *expect);

  // Vector stores are single writes of their full width.
  auto has = [&](std::uint64_t off, std::uint64_t size) {
    return std::any_of(ws.begin(), ws.end(),
                       [&](const Write& w) { return w.addr == g.addr + off && w.size == size; });
  };
  CHECK(has(0, 16));
  CHECK(has(48, 16));
  if (*avx2 == "1") CHECK(has(16, 32));
  for (const auto& w : ws) {
    INFO("write at +", w.addr - g.addr, " size ", w.size);
    CHECK((w.size == 16 || w.size == 32));
  }
}

TEST_CASE("e2e atomics: g_atomic writes equal the printed values and a failed CAS writes nothing") {
  auto rec = record("atomics");
  std::uint64_t a = addr_of(rec.prog, "g_atomic");
  auto printed = kv_all(rec.rec.out, "g_atomic");
  REQUIRE(printed.size() >= 3);
  REQUIRE(kv_all(rec.rec.out, "cas_ok") == std::vector<std::string>{"1", "0"});

  auto ws = where_written(rec.dir, "g_atomic");
  check_touches(ws, a, 8);
  std::vector<std::string> values;
  for (const auto& w : ws) {
    CHECK(w.addr == a);
    REQUIRE(w.size == 8);
    values.push_back(std::to_string(le_signed(w.data)));
  }
  CHECK(values == printed);
}

TEST_CASE("e2e threads: each slot written 1000 times by its own thread") {
  auto rec = record("threads");
  Symbol slots = nm_symbol(rec.prog, "g_slots");
  REQUIRE(slots.size == 32);
  auto marker = where_written(rec.dir, "g_main_marker");
  REQUIRE(marker.size() == 1);
  std::int64_t main_tid = marker[0].tid;

  auto ws = where_written(rec.dir, "g_slots");
  check_touches(ws, slots.addr, slots.size);
  std::map<std::uint64_t, std::vector<Write>> by_slot;
  for (const auto& w : ws) {
    REQUIRE(w.size == 8);
    REQUIRE((w.addr - slots.addr) % 8 == 0);
    by_slot[(w.addr - slots.addr) / 8].push_back(w);
  }
  REQUIRE(by_slot.size() == 4);
  std::set<std::int64_t> tids;
  for (auto& [i, list] : by_slot) {
    INFO("slot ", i);
    CHECK(list.size() == 1000);
    std::set<std::int64_t> slot_tids;
    for (const auto& w : list) slot_tids.insert(w.tid);
    CHECK(slot_tids.size() == 1);
    tids.insert(list.front().tid);
    CHECK(list.front().tid != main_tid);
    // In order, the values (i+1)*1000000 + j.
    bool seq_ok = true;
    for (std::size_t j = 0; j < list.size(); ++j)
      seq_ok = seq_ok && le_signed(list[j].data) == static_cast<std::int64_t>((i + 1) * 1000000 + j);
    CHECK(seq_ok);
    CHECK(std::to_string(le_signed(list.back().data)) ==
          kv(rec.rec.out, "g_slots[" + std::to_string(i) + "]").value_or("<none>"));
    CHECK(list.back().function.value_or("") == "worker");
  }
  CHECK(tids.size() == 4);
}

TEST_CASE("e2e readfile: read() into g_buf - output and exit status pass through") {
  auto src = source_dir() / "suite/subjects/readfile.c";
  std::string content = read_file(src);
  REQUIRE_FALSE(content.empty());
  auto rec = record("readfile", {src.string(), "7"}, 7);
  RunResult native = run({subject("readfile").string(), src.string(), "7"});
  REQUIRE(native.status == 7);
  CHECK(rec.rec.out == native.out);
  CHECK(rec.rec.err == native.err);
  CHECK(kv(rec.rec.out, "read") == std::to_string(content.size()));

  std::uint64_t buf = addr_of(rec.prog, "g_buf");  // static: from nm, not by name
  std::size_t n = content.size();
  auto ws = where_written(rec.dir, hex_address(buf) + ":" + std::to_string(n));
  REQUIRE_FALSE(ws.empty());
  check_touches(ws, buf, n);
  CHECK(apply_writes(ws, buf, n) == bytes_of(content));
}

TEST_CASE("e2e readfile: a 64 KiB read() of a larger file") {
  TempDir t;
  std::string content(100000, '\0');
  std::uint32_t x = 12345;
  for (auto& c : content) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  write_file(t / "input.bin", content);
  auto rec = record("readfile", {(t / "input.bin").string()});
  CHECK(kv(rec.rec.out, "read") == "65536");
  std::uint64_t buf = addr_of(rec.prog, "g_buf");
  auto ws = where_written(rec.dir, hex_address(buf) + ":65536");
  REQUIRE_FALSE(ws.empty());
  CHECK(apply_writes(ws, buf, 65536) == bytes_of(std::string_view(content).substr(0, 65536)));
  // A range inside the buffer finds the same write(s) that cover it.
  auto mid = where_written(rec.dir, hex_address(buf + 40000) + ":8");
  REQUIRE_FALSE(mid.empty());
  check_touches(mid, buf + 40000, 8);
  CHECK(to_hex(apply_writes(mid, buf + 40000, 8)) ==
        to_hex(bytes_of(std::string_view(content).substr(40000, 8))));
}

TEST_CASE("e2e crash: SIGSEGV gives 139 and the recording still indexes") {
  auto rec = record("crash", {}, 139);
  CHECK(rec.rec.out == "g_before=42\n");
  std::uint64_t a = addr_of(rec.prog, "g_before");
  auto ws = where_written(rec.dir, "g_before");
  REQUIRE(ws.size() == 1);
  CHECK(ws[0].addr == a);
  CHECK(ws[0].size == 4);
  CHECK(to_hex(ws[0].data) == "2a000000");
  auto other = where_written(rec.dir, "g_other");
  REQUIRE(other.size() == 1);
  CHECK(le_signed(other[0].data) == 0x1234);
  CHECK(other[0].time > ws[0].time);

  RunResult d = run_omni({"dump", rec.dir.string(), "--json"});
  INFO(d.describe());
  REQUIRE(d.status == 0);
  auto objs = parse_json_lines(d.out);
  REQUIRE(objs.size() == 1);
  auto& o = objs[0];
  bool signal_says = o.count("signal") && o["signal"].is_int() && o["signal"].i == 11;
  bool exit_says = o.count("exit_code") && o["exit_code"].is_int() && o["exit_code"].i == 139;
  CHECK((signal_says || exit_says));
  REQUIRE(o.count("events"));
  CHECK((o["events"].is_int() && o["events"].i >= 2));
}

TEST_CASE("e2e filters: --from --to --last agree with the unfiltered result") {
  auto rec = record("globals");
  auto all = where_written(rec.dir, "g_counter");
  REQUIRE(all.size() >= 40);
  auto t = times_of(all);
  auto q = [&](std::vector<std::string> extra) {
    return times_of(where_written(rec.dir, "g_counter", extra));
  };
  auto expect = [&](auto pred) {
    std::vector<std::uint64_t> e;
    for (auto x : t)
      if (pred(x)) e.push_back(x);
    return e;
  };
  // Bounds strictly between two writes, so inclusive/exclusive cannot matter.
  // from: in (t[9], t[10]], to: in [t[30], t[31]), strictly inside when there is room.
  std::uint64_t from = t[10] - t[9] >= 2 ? t[9] + 1 : t[10];
  std::uint64_t to = t[31] - t[30] >= 2 ? t[30] + 1 : t[30];
  CHECK(q({"--from", std::to_string(from)}) == expect([&](auto x) { return x >= from; }));
  CHECK(q({"--to", std::to_string(to)}) == expect([&](auto x) { return x <= to; }));
  CHECK(q({"--from", std::to_string(from), "--to", std::to_string(to)}) ==
        expect([&](auto x) { return x >= from && x <= to; }));
  CHECK(q({"--last", "5"}) == std::vector<std::uint64_t>(t.end() - 5, t.end()));
  CHECK(q({"--last", "1"}) == std::vector<std::uint64_t>{t.back()});
  CHECK(q({"--last", std::to_string(t.size() + 100)}) == t);
  auto from_list = expect([&](auto x) { return x >= from; });
  CHECK(q({"--from", std::to_string(from), "--last", "3"}) ==
        std::vector<std::uint64_t>(from_list.end() - 3, from_list.end()));
  auto to_list = expect([&](auto x) { return x <= to; });
  CHECK(q({"--to", std::to_string(to), "--last", "2"}) ==
        std::vector<std::uint64_t>(to_list.end() - 2, to_list.end()));
  // An empty window: exit 0, no output.
  std::string raw;
  CHECK(where_written(rec.dir, "g_counter", {"--from", std::to_string(t.back() + 1)}, &raw).empty());
  CHECK(raw.empty());
  // Explicit --format json is the default.
  std::string raw_default, raw_json;
  where_written(rec.dir, "g_counter", {}, &raw_default);
  where_written(rec.dir, "g_counter", {"--format", "json"}, &raw_json);
  CHECK(raw_default == raw_json);
}

TEST_CASE("e2e filters: --from and --to are inclusive") {
  auto rec = record("globals");
  auto all = where_written(rec.dir, "g_counter");
  REQUIRE(all.size() >= 40);
  auto t = times_of(all);
  auto q = [&](std::vector<std::string> extra) {
    return times_of(where_written(rec.dir, "g_counter", extra));
  };
  CHECK(q({"--from", std::to_string(t[10])}) == std::vector<std::uint64_t>(t.begin() + 10, t.end()));
  CHECK(q({"--to", std::to_string(t[30])}) == std::vector<std::uint64_t>(t.begin(), t.begin() + 31));
  CHECK(q({"--from", std::to_string(t[20]), "--to", std::to_string(t[20])}) ==
        std::vector<std::uint64_t>{t[20]});
}

TEST_CASE("e2e query: no match is exit 0 with no output - table format") {
  auto rec = record("globals");
  // Memory nobody writes: the subject's code bytes, and the unmapped page 0.
  std::uint64_t text = addr_of(rec.prog, "accumulate");
  std::string raw = "unset";
  CHECK(where_written(rec.dir, hex_address(text) + ":16", {}, &raw).empty());
  CHECK(raw.empty());
  raw = "unset";
  CHECK(where_written(rec.dir, "0x10:16", {}, &raw).empty());
  CHECK(raw.empty());

  auto ws = where_written(rec.dir, "g_point");
  REQUIRE(ws.size() == 3);
  RunResult table = run_omni({"query", rec.dir.string(), "--where-written", "g_point", "--format", "table"});
  INFO(table.describe());
  CHECK(table.status == 0);
  CHECK(split_lines(table.out).size() >= 3);
  for (const auto& w : ws) CHECK(table.out.find(std::to_string(w.time)) != std::string::npos);
  CHECK_THROWS(parse_json_lines(table.out));  // it is not JSON lines
}

TEST_CASE("e2e record: default location under XDG_DATA_HOME with latest-trace") {
  TempDir t;
  fs::path data = t / "data";
  RunOptions env;
  env.env["XDG_DATA_HOME"] = data.string();
  auto prog = subject("globals").string();
  auto list = [&] {
    std::set<std::string> names;
    if (fs::is_directory(data / "omni"))
      for (const auto& e : fs::directory_iterator(data / "omni"))
        if (e.path().filename().string().rfind("globals-", 0) == 0 && e.is_directory() &&
            !e.is_symlink())
          names.insert(e.path().filename().string());
    return names;
  };

  RunResult r1 = run_omni({"record", "--", prog}, env);
  INFO(r1.describe());
  REQUIRE(r1.status == 0);
  auto first = list();
  REQUIRE(first.size() == 1);
  RunResult r2 = run_omni({"record", "--", prog}, env);
  INFO(r2.describe());
  REQUIRE(r2.status == 0);
  auto second = list();
  REQUIRE(second.size() == 2);
  std::string newer;
  for (const auto& n : second)
    if (!first.count(n)) newer = n;
  REQUIRE_FALSE(newer.empty());
  for (const auto& n : second) {
    INFO(n);
    auto suffix = n.substr(std::string("globals-").size());
    CHECK_FALSE(suffix.empty());
    CHECK(std::all_of(suffix.begin(), suffix.end(), [](char c) { return c >= '0' && c <= '9'; }));
    CHECK(file_mode(data / "omni" / n) == 0700);
  }
  fs::path latest = data / "omni" / "latest-trace";
  REQUIRE(fs::is_symlink(latest));
  CHECK(fs::canonical(latest) == fs::canonical(data / "omni" / newer));

  // index and query without DIR use the latest recording.
  RunResult ix = run_omni({"index"}, env);
  INFO(ix.describe());
  REQUIRE(ix.status == 0);
  CHECK(fs::is_regular_file(data / "omni" / newer / "index.db"));
  CHECK_FALSE(fs::exists(data / "omni" / *first.begin() / "index.db"));
  RunResult q_implicit = run_omni({"query", "--where-written", "g_counter"}, env);
  RunResult q_explicit =
      run_omni({"query", (data / "omni" / newer).string(), "--where-written", "g_counter"}, env);
  INFO(q_implicit.describe());
  CHECK(q_implicit.status == 0);
  CHECK(q_explicit.status == 0);
  CHECK_FALSE(q_explicit.out.empty());
  CHECK(q_implicit.out == q_explicit.out);
  RunResult dump = run_omni({"dump", "--json"}, env);
  CHECK(dump.status == 0);
}

TEST_CASE("e2e stubs: omni-record omni-index omni-query omni-dump behave as omni subcommands") {
  TempDir t;
  auto prog = subject("globals").string();
  fs::path dir = t / "trace";
  RunResult rec = run_omni({"-o", dir.string(), "--", prog}, {}, "omni-record");
  INFO(rec.describe());
  REQUIRE(rec.status == 0);
  CHECK(kv(rec.out, "g_counter").has_value());
  RunResult ix = run_omni({dir.string()}, {}, "omni-index");
  INFO(ix.describe());
  REQUIRE(ix.status == 0);

  RunResult via_stub = run_omni({dir.string(), "--where-written", "g_counter"}, {}, "omni-query");
  RunResult via_omni = run_omni({"query", dir.string(), "--where-written", "g_counter"});
  CHECK(via_stub.status == 0);
  CHECK(via_omni.status == 0);
  CHECK_FALSE(via_omni.out.empty());
  CHECK(via_stub.out == via_omni.out);
  CHECK(via_stub.err == via_omni.err);

  RunResult dump_stub = run_omni({dir.string(), "--json"}, {}, "omni-dump");
  RunResult dump_omni = run_omni({"dump", dir.string(), "--json"});
  CHECK(dump_stub.status == 0);
  CHECK(dump_stub.out == dump_omni.out);

  // Errors come through the stubs unchanged too.
  RunResult bad = run_omni({dir.string(), "--where-written", "no_such_var"}, {}, "omni-query");
  check_error(bad);
}
