// --calls: every call of a function, with its arguments and return value
// from the registers replayed at entry and after the return.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>

#include "omni/base/error.h"
#include "omni/query/query.h"

namespace omni::query {

namespace {

// The text a `char *` points to at `time` (up to 256 bytes, to its NUL).
std::optional<std::string> c_string(const symbols::TypeInfo& type, const std::vector<uint8_t>& bytes,
                                    replay::MemoryReader& memory, uint64_t time) {
  if (type.kind != symbols::TypeInfo::Kind::Pointer || bytes.size() < 8) return std::nullopt;
  if (type.name != "char *" && type.name != "const char *" && type.name != "unsigned char *") return std::nullopt;
  uint64_t addr;
  std::memcpy(&addr, bytes.data(), 8);
  if (addr == 0) return std::nullopt;
  replay::MemoryImage image = memory.read(addr, 256, time);
  std::string text;
  for (size_t i = 0; i < image.size && image.mapped[i] && image.bytes[i]; ++i) text += static_cast<char>(image.bytes[i]);
  if (!image.mapped[0]) return std::nullopt;
  return text;
}

// Argument values by the SysV x86-64 calling convention: integer-class
// scalars in rdi, rsi, rdx, rcx, r8, r9 then the stack; float/double in
// xmm0-7 then the stack; aggregates of more than 16 bytes by memory on the
// stack (reported by address); smaller aggregates in integer registers; a
// C++ class with a non-trivial copy constructor or destructor by a pointer
// to a copy (reported by that address). A function that returns an
// aggregate in memory takes the address for it in rdi first.
std::vector<CallArgument> call_arguments(const std::vector<symbols::Parameter>& params,
                                         const std::optional<symbols::TypeInfo>& ret, const replay::Registers& regs,
                                         replay::MemoryReader& memory, uint64_t time) {
  using Kind = symbols::TypeInfo::Kind;
  size_t gpr = 0, xmm = 0;
  if (ret && (ret->by_reference ||
              ((ret->kind == Kind::Struct || ret->kind == Kind::Union || ret->kind == Kind::Array) && ret->size > 16)))
    gpr = 1;
  uint64_t stack = regs.rsp() + 8;  // first stack argument, above the return address
  auto from_stack = [&](uint64_t size, std::vector<uint8_t>& bytes) {
    replay::MemoryImage image = memory.read(stack, std::max<uint64_t>(size, 1), time);
    bytes = image.bytes;
    stack += (size + 7) & ~uint64_t{7};
  };
  std::vector<CallArgument> out;
  for (const symbols::Parameter& p : params) {
    CallArgument& a = out.emplace_back();
    a.name = p.name;
    a.type = p.type.name;
    std::vector<uint8_t> bytes;
    bool aggregate = p.type.kind == Kind::Struct || p.type.kind == Kind::Union || p.type.kind == Kind::Array;
    if (p.type.by_reference) {
      uint64_t address = 0;
      if (gpr < std::size(replay::kIntegerArgumentRegisters)) {
        address = regs.u64(replay::gpr_offset(replay::kIntegerArgumentRegisters[gpr++]));
      } else {
        from_stack(8, bytes);
        std::memcpy(&address, bytes.data(), std::min<size_t>(8, bytes.size()));
      }
      a.address = address;
    } else if (aggregate && p.type.size > 16) {
      a.address = stack;
      stack += (p.type.size + 7) & ~uint64_t{7};
    } else if (p.type.kind == Kind::Float && (p.type.size == 4 || p.type.size == 8)) {
      if (xmm < replay::kFloatArgumentRegisters) {
        const uint8_t* x = regs.state.data() + replay::xmm_offset(static_cast<int>(xmm++));
        bytes.assign(x, x + p.type.size);
      } else {
        from_stack(p.type.size, bytes);
      }
      a.value = decode_scalar(p.type, bytes.data(), bytes.size());
    } else {
      uint64_t words = aggregate ? (p.type.size + 7) / 8 : 1;
      if (gpr + words <= std::size(replay::kIntegerArgumentRegisters)) {
        for (uint64_t w = 0; w < words; ++w) {
          uint64_t v = regs.u64(replay::gpr_offset(replay::kIntegerArgumentRegisters[gpr++]));
          bytes.insert(bytes.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 8);
        }
      } else {
        from_stack(words * 8, bytes);
      }
      if (aggregate) {
        bytes.resize(p.type.size);
        a.data = std::move(bytes);
      } else {
        a.value = decode_scalar(p.type, bytes.data(), bytes.size());
        a.text = c_string(p.type, bytes, memory, time);
      }
    }
  }
  return out;
}

// The return value of a non-void call from rax or xmm0 by the return type
// (rax as an unsigned integer without DWARF; None for aggregates).
Scalar return_value(const std::optional<symbols::TypeInfo>& type, const replay::Registers& after) {
  using Kind = symbols::TypeInfo::Kind;
  if (!type) return Scalar{.kind = Scalar::Kind::Unsigned, .u = after.u64(replay::gpr_offset(replay::kReturnRegister))};
  if (type->kind == Kind::Float) return decode_scalar(*type, after.state.data() + replay::xmm_offset(0), 16);
  if (type->kind == Kind::Struct || type->kind == Kind::Union || type->kind == Kind::Array || type->by_reference)
    return {};
  uint64_t rax = after.u64(replay::gpr_offset(replay::kReturnRegister));
  return decode_scalar(*type, reinterpret_cast<const uint8_t*>(&rax), 8);
}

}  // namespace

void calls(Session& session, const CallsQuery& query, Sink<CallRecord>& sink) {
  index::IndexReader& reader = session.reader();
  RecordingSymbols& symbols = session.symbols();
  // The functions asked about: an entry address, or every function the name
  // selects (all overloads of a C++ name), each named by its matched symbol.
  std::vector<symbols::FunctionMatch> targets;
  std::string_view name = query.function;
  if (name.size() > 2 && name[0] == '0' && (name[1] == 'x' || name[1] == 'X')) {
    uint64_t v = 0;
    auto [end, error] = std::from_chars(name.data() + 2, name.data() + name.size(), v, 16);
    if (error == std::errc() && end == name.data() + name.size()) targets.push_back({v, query.function});
  }
  const bool by_address = !targets.empty();
  if (targets.empty()) targets = symbols.find_functions(name);
  if (targets.empty()) {
    // A function whose every use was inlined has a name in DWARF (and in
    // --stack's inline frames) but no entry to call.
    if (std::string object = symbols.inlined_only(name); !object.empty())
      fail("'{}' is never called: every use of it in {} was inlined (no out-of-line copy exists); its inlined "
           "frames show in --stack",
           query.function, object);
    fail("no function named '{}' in the recorded program or its libraries{}", query.function,
         symbols.missing_symbols_hint());
  }
  uint64_t from = query.from.value_or(0), to = query.to.value_or(UINT64_MAX);
  if (from > to) fail("--from {} is after --to {}", from, to);

  // The calls stream chunk by chunk: call ids, and so chunks, follow entry
  // times. Only --last keeps rows: the last N, read from the end.
  std::map<uint64_t, size_t> target_of;  // entry -> index in targets
  for (size_t t = 0; t < targets.size(); ++t) target_of.emplace(targets[t].entry, t);
  std::vector<uint32_t> chunk_ids;
  for (const auto& target : targets)
    for (uint32_t chunk : reader.call_chunks_to(target.entry)) chunk_ids.push_back(chunk);
  std::sort(chunk_ids.begin(), chunk_ids.end());
  chunk_ids.erase(std::unique(chunk_ids.begin(), chunk_ids.end()), chunk_ids.end());
  using Row = std::pair<index::CallRow, size_t>;  // with its target
  auto rows_of = [&](uint32_t chunk) {
    std::vector<Row> rows;
    for (const index::CallRow& row : reader.load_calls(chunk))
      if (auto t = target_of.find(row.target); t != target_of.end() && row.time >= from && row.time <= to)
        rows.push_back({row, t->second});
    return rows;
  };
  std::vector<Row> last_rows;
  if (query.last) {
    for (auto it = chunk_ids.rbegin(); it != chunk_ids.rend() && last_rows.size() < *query.last; ++it) {
      std::vector<Row> rows = rows_of(*it);
      last_rows.insert(last_rows.begin(), rows.begin(), rows.end());
    }
    if (last_rows.size() > *query.last) last_rows.erase(last_rows.begin(), last_rows.end() - *query.last);
  }

  replay::Replayer& replayer = session.replayer();
  // One reader for every call's stack arguments and strings: it keeps the
  // address space, index rows and chunks between reads.
  replay::MemoryReader& memory = session.memory();
  // What DWARF says of each target, read when its first call is seen.
  struct Described {
    bool known = false;
    std::vector<symbols::Parameter> params;
    std::optional<symbols::TypeInfo> return_type;
    bool returns_void = false;
    std::string function_name;
    bool clone = false;
  };
  std::vector<Described> described(targets.size());
  auto describe = [&](size_t t, uint64_t time) -> const Described& {
    Described& d = described[t];
    if (d.known) return d;
    d.known = true;
    uint64_t entry = targets[t].entry;
    d.function_name = targets[t].name;
    if (auto object = symbols.object_at(entry, time)) {
      symbols::FunctionAnswer answer = symbols.function_answer(*object, entry);
      d.params = std::move(answer.params);
      d.return_type = std::move(answer.return_type);
      d.returns_void = answer.returns_void;
      if (answer.clone) {
        // Its registers do not follow the DWARF's parameters: no values
        // rather than wrong ones (and no replay for them).
        d.clone = true;
        d.params.clear();
        d.returns_void = true;
      }
      // An address names the function there.
      if (auto where = symbols.locate_in(*object, entry);
          by_address && where && !where->function.empty())
        d.function_name = where->function;
    }
    return d;
  };
  sink.begin();
  // A tail call reached by an indirect jump has no known jump
  // instruction: its caller is the function whose frame it replaced.
  auto replaced_function = [&](const index::CallRow& row) -> std::optional<symbols::Location> {
    std::optional<index::CallRow> replaced = reader.caller_of(row);
    if (!replaced) return std::nullopt;
    return symbols.locate(replaced->target, row.time);
  };
  std::map<std::pair<uint64_t, uint32_t>, replay::Registers> moments;  // of the batch being answered
  auto emit = [&](const index::CallRow& row, size_t t) {
    const auto& [known, params, return_type, returns_void, function_name, clone] = describe(t, row.time);
    const uint64_t* entry = &targets[t].entry;  // this row's function
    std::vector<CallArgument> args;
    if (!params.empty()) args = call_arguments(params, return_type, moments.at({row.time, row.tid}), memory, row.time);
    // Only a return leaves a return value (an unwound call's rax is noise),
    // and only a non-void function returns one.
    const replay::Registers* after = nullptr;
    if (row.ended == index::CallEnd::Returned && !returns_void) after = &moments.at({row.end_time, row.tid});
    std::optional<symbols::Location> caller;
    if (row.pc) caller = symbols.locate(row.pc, row.time);
    else if (row.kind == index::CallKind::Tail) caller = replaced_function(row);
    sink.put(CallRecord{row, function_name, *entry, std::move(caller), std::move(args),
                        after ? std::optional<Scalar>(return_value(return_type, *after)) : std::nullopt, clone});
  };
  // Registers at every moment a batch of calls needs, computed in time
  // order: the replayer then resumes one run per snapshot instead of
  // replaying from the snapshot for each moment. Batches are small so that
  // answers stream.
  constexpr size_t kBatch = 64;
  auto answer = [&](const std::vector<Row>& rows) {
    for (size_t first = 0; first < rows.size(); first += kBatch) {
      size_t last = std::min(rows.size(), first + kBatch);
      moments.clear();
      for (size_t i = first; i < last; ++i) {
        const auto& [row, t] = rows[i];
        const Described& d = describe(t, row.time);
        if (!d.params.empty()) moments.emplace(std::make_pair(row.time, row.tid), replay::Registers{});
        if (row.ended == index::CallEnd::Returned && !d.returns_void)
          moments.emplace(std::make_pair(row.end_time, row.tid), replay::Registers{});
      }
      for (auto& [moment, regs] : moments) regs = replayer.registers_at(moment.first, moment.second);
      for (size_t i = first; i < last; ++i) emit(rows[i].first, rows[i].second);
    }
  };
  if (query.last) {
    answer(last_rows);
  } else {
    uint64_t previous = 0;
    for (uint32_t chunk : chunk_ids) {
      std::vector<Row> rows = rows_of(chunk);
      for (const Row& row : rows) {
        if (row.first.time < previous)
          fail("index call chunk {} is corrupt (calls out of time order); run `omni index` again", chunk);
        previous = row.first.time;
      }
      answer(rows);
    }
  }
}

}  // namespace omni::query
