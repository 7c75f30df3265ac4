#include "omni/query/query.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <deque>
#include <memory>

#include "omni/base/error.h"
#include "omni/query/json.h"

namespace omni::query {

RecordingSymbols::RecordingSymbols(index::IndexReader& reader) {
  for (index::ObjectRow& row : reader.objects()) {
    int handle = symbolizer_.add_object(row.path, row.bias);
    objects_.push_back({std::move(row), handle});
  }
}

std::optional<symbols::Location> RecordingSymbols::locate(uint64_t pc, uint64_t time) {
  for (const Object& o : objects_) {
    if (pc < o.row.start || pc >= o.row.end) continue;
    if (time < o.row.time_loaded || (o.row.time_unloaded && time >= *o.row.time_unloaded)) continue;
    return symbolizer_.locate(o.handle, pc);
  }
  return std::nullopt;
}

std::optional<symbols::Variable> RecordingSymbols::find_variable(std::string_view name) {
  for (const Object& o : objects_)
    if (auto variable = symbolizer_.find_variable(o.handle, name)) return variable;
  return std::nullopt;
}

std::optional<RecordingSymbols::Resolved> RecordingSymbols::resolve(std::string_view name,
                                                                    std::string_view accessors, int derefs,
                                                                    const symbols::PointerMemory* memory,
                                                                    std::string_view expression) {
  for (const Object& o : objects_) {
    auto variable = symbolizer_.find_variable(o.handle, name);
    if (!variable) continue;
    auto part = symbolizer_.resolve_expression(o.handle, name, accessors, derefs, memory, expression);
    if (part)
      return Resolved{part->address, part->size ? part->size : variable->size, part->type, part->pointer,
                      part->pointer_value};
    if (!accessors.empty() || derefs > 0)
      fail("no DWARF type information for '{}' in {} (it was built without -g: install its debug package or "
           "rebuild it with -g); or use ADDRESS:LENGTH",
           name, o.row.path);
    return Resolved{variable->address, variable->size, std::nullopt, {}, 0};
  }
  return std::nullopt;
}

void location_fields(JsonObject& o, const symbols::Location* where) {
  if (where && !where->function.empty()) o.field("function", where->function);
  else o.null("function");
  if (where && !where->file.empty()) o.field("file", where->file);
  else o.null("file");
  if (where && where->line > 0) o.field("line", where->line);
  else o.null("line");
}

std::vector<symbols::FunctionMatch> RecordingSymbols::find_functions(std::string_view name) {
  for (const Object& o : objects_)
    if (auto matches = symbolizer_.find_functions(o.handle, name); !matches.empty()) return matches;
  return {};
}

std::string RecordingSymbols::missing_symbols_hint() {
  // Programs (a recording that execs has several) and libraries without a
  // symbol table; Valgrind's own preload objects are no part of the program.
  std::vector<std::string> programs, libraries;
  for (const Object& o : objects_) {
    std::string file = o.row.path.substr(o.row.path.rfind('/') + 1);
    if (file.rfind("vgpreload_", 0) == 0 || symbolizer_.has_symbol_table(o.handle)) continue;
    auto& list = file.find(".so") == std::string::npos ? programs : libraries;
    if (std::find(list.begin(), list.end(), o.row.path) == list.end()) list.push_back(o.row.path);
  }
  auto join = [](const std::vector<std::string>& names, bool base_names) {
    std::string out;
    for (size_t i = 0; i < names.size() && i < 3; ++i)
      out += (i ? ", " : "") + (base_names ? names[i].substr(names[i].rfind('/') + 1) : names[i]);
    if (names.size() > 3) out += fmt::format(" and {} more", names.size() - 3);
    return out;
  };
  if (!programs.empty())
    return fmt::format("; the program {} has no symbol table (it was stripped), so the names it defines are "
                       "unknown: install its debug package (its -dbgsym or -dbg package) or rebuild it with -g",
                       join(programs, false));
  if (libraries.empty()) return {};
  return fmt::format(" (without a symbol table, only the exported names of {} are known: install their debug "
                     "packages for the others)",
                     join(libraries, true));
}

std::optional<int> RecordingSymbols::object_at(uint64_t pc, uint64_t time) {
  for (const Object& o : objects_) {
    if (pc < o.row.start || pc >= o.row.end) continue;
    if (time < o.row.time_loaded || (o.row.time_unloaded && time >= *o.row.time_unloaded)) continue;
    return o.handle;
  }
  return std::nullopt;
}

namespace {

std::optional<uint64_t> parse_number(std::string_view text) {
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
    base = 16;
  }
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool is_identifier_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}

}  // namespace

Range parse_range(const std::string& spec, RecordingSymbols& symbols, index::IndexReader* reader,
                  std::optional<uint64_t> time, std::string_view moment) {
  std::string_view base = spec;
  std::optional<uint64_t> length;
  // ":LENGTH" at the end; "::" belongs to a C++ name.
  if (size_t colon = spec.rfind(':');
      colon != std::string::npos && (colon == 0 || spec[colon - 1] != ':') && spec.find(']', colon) == std::string::npos) {
    base = std::string_view(spec).substr(0, colon);
    length = parse_number(std::string_view(spec).substr(colon + 1));
    if (!length || *length == 0)
      fail("malformed length in '{}': expected ADDRESS[:LENGTH] with LENGTH > 0", spec);
  }
  if (!base.empty() && std::isdigit(static_cast<unsigned char>(base[0]))) {
    auto addr = parse_number(base);
    if (!addr) fail("malformed address '{}': expected hex (0x4c2040), decimal, or a variable name", base);
    return Range{*addr, length.value_or(1), {}, std::nullopt};
  }
  // The expression, as gdb takes it: leading '*'s, a (C++-qualified) name,
  // then .FIELD, ->FIELD and [N]; spaces are ignored.
  std::string text;
  for (char c : base)
    if (!std::isspace(static_cast<unsigned char>(c))) text += c;
  int derefs = 0;
  while (static_cast<size_t>(derefs) < text.size() && text[derefs] == '*') ++derefs;
  size_t name_end = derefs;
  while (name_end < text.size() &&
         (is_identifier_char(text[name_end]) || (text.compare(name_end, 2, "::") == 0 && name_end + 2 < text.size())))
    name_end += text.compare(name_end, 2, "::") == 0 ? 2 : 1;
  std::string_view expr = text;
  std::string_view name = expr.substr(derefs, name_end - derefs), accessors = expr.substr(name_end);
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])) ||
      (!accessors.empty() && accessors[0] != '.' && accessors[0] != '[' && accessors.substr(0, 2) != "->"))
    fail("malformed address '{}': expected hex (0x4c2040), decimal, or a variable (g_x, g_s.field, g_a[3], "
         "g_p->next, *g_p, ns::g_x)",
         base);

  // Pointers read at `time`, through one MemoryReader.
  std::unique_ptr<replay::MemoryReader> memory_reader;
  symbols::PointerMemory memory;
  if (reader != nullptr && time) {
    memory.moment = moment.empty() ? fmt::format("at time {}", *time) : std::string(moment);
    memory.read = [&, when = *time](uint64_t addr) -> std::optional<uint64_t> {
      if (!memory_reader) memory_reader = std::make_unique<replay::MemoryReader>(*reader);
      replay::MemoryImage image = memory_reader->read(addr, 8, when);
      if (image.bytes.size() < 8 || std::find(image.mapped.begin(), image.mapped.end(), false) != image.mapped.end())
        return std::nullopt;
      // Bytes the recording does not hold (a shared mapping past what was
      // copied) are no pointer to follow.
      if (std::find(image.unknown.begin(), image.unknown.end(), true) != image.unknown.end())
        fail("'{}': the pointer at {:#x} lies in memory the recording does not hold (a shared mapping "
             "beyond what was copied) {}",
             expr, addr, memory.moment);
      uint64_t value = 0;
      for (int i = 7; i >= 0; --i) value = (value << 8) | image.bytes[static_cast<size_t>(i)];
      return value;
    };
  }
  auto variable = symbols.resolve(name, accessors, derefs, &memory, expr);
  if (!variable)
    fail("unknown symbol '{}': no global or static variable of that name in the recording{}", name,
         symbols.missing_symbols_hint());
  if (!variable->pointer.empty()) {
    // What a pointer points to must have been there then.
    replay::MemoryImage first = replay::MemoryReader(*reader).read(variable->address, 1, *time);
    if (first.mapped.empty() || !first.mapped[0])
      fail("'{}': {} points to {:#x}, which was not mapped {}", expr, variable->pointer, variable->pointer_value,
           memory.moment);
  }
  if (!length && variable->size == 0)
    fail("the size of '{}' is unknown (its symbol has no size and no debug information gives its type); "
         "give one: '{}:LENGTH'",
         expr, expr);
  Range range{variable->address, length.value_or(variable->size), std::string(expr), variable->type};
  return range;
}

namespace {

struct Match {
  index::Event event;
  std::string hex;
};

void print_json(const index::Event& e, const std::string& hex, RecordingSymbols& symbols, std::string& line,
                const std::string* stack) {
  auto location = symbols.locate(e.pc, e.time);
  JsonObject object(line);
  object.field("time", e.time).field("tid", e.tid).field("pc", hex_address(e.pc));
  location_fields(object, location ? &*location : nullptr);
  object.field("addr", hex_address(e.addr)).field("size", e.size).field("data", hex);
  object.field("origin", e.by_kernel ? "kernel" : "cpu");
  if (stack) object.raw("stack", *stack);
  object.close();
  line += '\n';
}

void print_table_row(const index::Event& e, const std::string& hex, RecordingSymbols& symbols, std::string& line) {
  auto location = symbols.locate(e.pc, e.time);
  std::string where = location && !location->function.empty() ? location->function : "?";
  if (location && !location->file.empty()) {
    std::string file = location->file.substr(location->file.rfind('/') + 1);
    where += fmt::format(" ({}:{})", file, location->line);
  }
  if (e.by_kernel) where += " [kernel]";
  std::string data = hex.size() > 32 ? hex.substr(0, 32) + "..." : hex;
  line += fmt::format("{:>12} {:>4} {:>14} {:>14} {:>5} {:<34} {}\n", e.time, e.tid,
                      hex_address(e.pc), hex_address(e.addr), e.size, data, where);
}

}  // namespace

uint64_t where_written(index::IndexReader& reader, const WhereWrittenQuery& query, std::ostream& out) {
  RecordingSymbols symbols(reader);
  // Pointers in the target are followed at --at, else at the end.
  uint64_t follow_at = resolve_time(reader, query.at.value_or("end"));
  Range range = parse_range(query.target, symbols, &reader, follow_at,
                            query.at ? "" : fmt::format("at time {} (the end of the recording; --at picks another moment)",
                                                        follow_at));
  uint64_t from = query.from.value_or(0);
  uint64_t to = query.to.value_or(UINT64_MAX);
  if (from > to) fail("--from {} is after --to {}", from, to);

  std::vector<uint32_t> ids = reader.chunks_writing(range.addr, range.length);
  const auto& chunks = reader.chunks();
  std::erase_if(ids, [&](uint32_t id) {
    return id >= chunks.size() || chunks[id].time_last < from || chunks[id].time_first > to;
  });

  auto matches_in = [&](uint32_t id, std::vector<Match>& found) {
    index::DecodedChunk chunk = reader.load_chunk(id);
    for (const index::Event& e : chunk.events) {
      if (e.time < from || e.time > to) continue;
      if (e.addr > range.last() || e.addr + e.size <= range.addr) continue;
      found.push_back({e, hex_bytes(chunk.data.data() + e.data_offset, e.size)});
    }
  };

  std::vector<Match> matches;
  if (query.last) {
    // Walk back from the newest chunk until enough matches are found.
    std::deque<Match> tail;
    for (auto it = ids.rbegin(); it != ids.rend() && tail.size() < *query.last; ++it) {
      std::vector<Match> found;
      matches_in(*it, found);
      tail.insert(tail.begin(), found.begin(), found.end());
    }
    while (tail.size() > *query.last) tail.pop_front();
    matches.assign(tail.begin(), tail.end());
  }

  std::string line;
  uint64_t printed = 0;
  if (query.format == Format::Table)
    out << fmt::format("{:>12} {:>4} {:>14} {:>14} {:>5} {:<34} {}\n", "time", "tid", "pc", "addr",
                       "size", "data", "where");
  auto emit = [&](const Match& m) {
    line.clear();
    // A kernel write happened in a syscall: the stack is the caller's.
    std::vector<StackFrame> frames;
    if (query.stack) frames = stack_at(reader, m.event.time, m.event.tid, nullptr, m.event.pc);
    if (query.format == Format::Json) {
      std::string stack = query.stack ? frames_json(frames, symbols, m.event.time) : "";
      print_json(m.event, m.hex, symbols, line, query.stack ? &stack : nullptr);
    } else {
      print_table_row(m.event, m.hex, symbols, line);
      if (query.stack) {
        for (const StackFrame& f : frames) {
          if (f.signal) {
            line += fmt::format("{:>20} {}\n", "", kSignalFrameName);
            continue;
          }
          auto where = symbols.locate(f.pc ? f.pc : f.function_entry.value_or(0), m.event.time);
          line += fmt::format("{:>20} {:#x} {}\n", "", f.pc, where && !where->function.empty() ? where->function : "??");
        }
      }
    }
    out << line;
    ++printed;
  };
  if (query.last) {
    for (const Match& m : matches) emit(m);
  } else {
    for (uint32_t id : ids) {
      std::vector<Match> found;
      matches_in(id, found);
      for (const Match& m : found) emit(m);
    }
  }
  out.flush();
  return printed;
}

}  // namespace omni::query
