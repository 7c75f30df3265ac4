// --executions: every time the code at a breakpoint ran (a breakpoint's
// hits, without running the program), from the index's block entries
// (replay::Executions). The breakpoint's addresses are where gdb would put
// it (symbols::Symbolizer::breakpoint_address, line_breakpoints).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cctype>
#include <deque>

#include "omni/base/error.h"
#include "omni/query/query.h"
#include "omni/replay/executions.h"

namespace omni::query {

namespace {

std::optional<uint64_t> parse_hex(std::string_view text) {
  if (text.size() < 3 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X')) return std::nullopt;
  uint64_t v = 0;
  auto [end, error] = std::from_chars(text.data() + 2, text.data() + text.size(), v, 16);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// FILE:LINE: a line number after the last colon (a C++ name's "::" is not one).
std::optional<std::pair<std::string_view, int>> parse_file_line(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size() || text[colon - 1] == ':')
    return std::nullopt;
  std::string_view digits = text.substr(colon + 1);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return std::nullopt;
  int line = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), line);
  if (error != std::errc() || line <= 0) fail("no line {} (line numbers start at 1)", digits);
  return std::make_pair(text.substr(0, colon), line);
}

// The implementations an indirect function's resolver chose in the
// recording: rax after each of its calls that returned (ld.so calls it once
// per relocation naming it).
std::vector<uint64_t> ifunc_targets(Session& session, uint64_t resolver) {
  index::IndexReader& reader = session.reader();
  std::vector<uint64_t> out;
  for (uint32_t chunk : reader.call_chunks_to(resolver))
    for (const index::CallRow& row : reader.load_calls(chunk)) {
      if (row.target != resolver || row.ended != index::CallEnd::Returned) continue;
      replay::Registers after = session.replayer().registers_at(row.end_time, row.tid);
      out.push_back(after.u64(replay::gpr_offset(replay::kReturnRegister)));
    }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The breakpoint's addresses, ascending.
std::vector<uint64_t> breakpoint_addresses(Session& session, const std::string& target) {
  RecordingSymbols& symbols = session.symbols();
  if (std::optional<uint64_t> pc = parse_hex(target)) return {*pc};
  if (auto file_line = parse_file_line(target)) {
    auto [file, line] = *file_line;
    bool file_seen = false;
    std::optional<int> later;
    std::vector<uint64_t> pcs = symbols.line_breakpoints(file, line, &file_seen, &later);
    if (pcs.empty()) {
      if (!file_seen)
        fail("no source file '{}' in the line tables of the recorded program or its libraries{}", file,
             symbols.missing_symbols_hint());
      if (later) fail("no code at {}:{} (the next line with code is {}:{})", file, line, file, *later);
      fail("no code at {}:{} (no later line of {} has code)", file, line, file);
    }
    return pcs;
  }
  // Every object's functions of that name, as gdb's `break NAME` has a
  // location in each (ld.so's own strlen beside libc's).
  std::vector<std::pair<symbols::FunctionMatch, int>> functions = symbols.find_functions_everywhere(target);
  if (functions.empty()) {
    if (std::string object = symbols.inlined_only(target); !object.empty())
      fail("'{}' never runs as a function of its own: every use of it in {} was inlined; ask for a line of it "
           "(FILE:LINE) instead",
           target, object);
    fail("no function named '{}' in the recorded program or its libraries{}", target,
         symbols.missing_symbols_hint());
  }
  std::vector<uint64_t> pcs;
  for (const auto& [f, object] : functions) {
    std::vector<uint64_t> entries = {f.entry};
    // An indirect function runs as the implementation its resolver chose
    // (gdb 13 puts the breakpoint on the resolver instead, which runs once,
    // at startup; docs/json.md). Natively the choice may differ: AVX-512
    // variants are hidden under Valgrind.
    if (symbols.symbolizer().is_ifunc(object, f.entry)) entries = ifunc_targets(session, f.entry);
    for (uint64_t entry : entries) {
      std::optional<int> holder = symbols.object_holding(entry);
      pcs.push_back(holder ? symbols.symbolizer().breakpoint_address(*holder, entry) : entry);
    }
  }
  std::sort(pcs.begin(), pcs.end());
  pcs.erase(std::unique(pcs.begin(), pcs.end()), pcs.end());
  return pcs;
}

}  // namespace

void executions(Session& session, const ExecutionsQuery& query, Sink<ExecutionRecord>& sink) {
  uint64_t from = query.from.value_or(0), to = query.to.value_or(UINT64_MAX);
  if (from > to) fail("--from {} is after --to {}", from, to);
  std::vector<uint64_t> pcs = breakpoint_addresses(session, query.target);
  replay::Executions executions(session.reader(), pcs);
  RecordingSymbols& symbols = session.symbols();
  auto record = [&](const replay::Execution& x) {
    return ExecutionRecord{x.time, x.tid, x.pc, symbols.locate(x.pc, x.time), x.location + 1};
  };
  if (query.last) {
    // The newest N, read from the end, printed oldest first.
    std::deque<replay::Execution> found;
    executions.backward(from, to, std::nullopt, [&](const replay::Execution& x) {
      found.push_front(x);
      return found.size() < *query.last;
    });
    sink.begin();
    for (const replay::Execution& x : found) sink.put(record(x));
    return;
  }
  sink.begin();
  executions.forward(from, to, std::nullopt, [&](const replay::Execution& x) {
    sink.put(record(x));
    return true;
  });
}

}  // namespace omni::query
