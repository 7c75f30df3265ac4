// The session: what every question shares for the life of one command.
#include "omni/query/session.h"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "omni/base/error.h"
#include "omni/base/paths.h"
#include "omni/index/files.h"
#include "omni/query/json.h"
#include "omni/query/records.h"

namespace omni::query {

RecordingSymbols::RecordingSymbols(index::IndexReader& reader)
    : reader_(reader), has_precomputed_(reader.has_symbols()) {
  for (index::ObjectRow& row : reader.objects()) {
    // The file itself while it is the recorded one, else its copy in the recording.
    int handle = symbolizer_.add_object(row.path, row.bias, [dir = reader.trace_dir(), path = row.path,
                                                             build_id = row.build_id] {
      return index::recorded_file(dir, path, build_id).value_or(path);
    });
    objects_.push_back({std::move(row), handle});
  }
}

const RecordingSymbols::Object* RecordingSymbols::row_of(int handle, uint64_t pc) const {
  for (const Object& o : objects_)
    if (o.handle == handle && pc >= o.row.start && pc < o.row.end) return &o;
  return nullptr;
}

const symbols::CodeAnswer* RecordingSymbols::precomputed(int handle, uint64_t pc) {
  const Object* o = has_precomputed_ ? row_of(handle, pc) : nullptr;
  if (o == nullptr) return nullptr;
  auto key = std::make_pair(o->row.id, pc >> 12);
  auto page = pages_.find(key);
  if (page == pages_.end()) {
    std::vector<symbols::CodeAnswer> answers;
    if (auto raw = reader_.code_symbols(o->row.id, pc >> 12))
      answers = symbols::decode_code_page(raw->data(), raw->size());
    page = pages_.emplace(key, std::move(answers)).first;
  }
  auto it = std::lower_bound(page->second.begin(), page->second.end(), pc,
                             [](const symbols::CodeAnswer& a, uint64_t p) { return a.pc < p; });
  if (it != page->second.end() && it->pc == pc) return &*it;
  return nullptr;
}

std::optional<symbols::Location> RecordingSymbols::locate_in(int object, uint64_t pc) {
  if (const symbols::CodeAnswer* answer = precomputed(object, pc)) return answer->location;
  return symbolizer_.locate(object, pc);
}

std::vector<symbols::Location> RecordingSymbols::inline_chain(int object, uint64_t pc) {
  if (const symbols::CodeAnswer* answer = precomputed(object, pc)) return answer->chain;
  return symbolizer_.inline_chain(object, pc);
}

symbols::FunctionAnswer RecordingSymbols::function_answer(int object, uint64_t entry) {
  if (const Object* o = has_precomputed_ ? row_of(object, entry) : nullptr) {
    auto found = functions_.find(o->row.id);
    if (found == functions_.end()) {
      std::vector<symbols::FunctionAnswer> answers;
      if (auto raw = reader_.function_symbols(o->row.id))
        answers = symbols::decode_functions(raw->data(), raw->size());
      std::sort(answers.begin(), answers.end(),
                [](const symbols::FunctionAnswer& a, const symbols::FunctionAnswer& b) { return a.entry < b.entry; });
      found = functions_.emplace(o->row.id, std::move(answers)).first;
    }
    auto it = std::lower_bound(found->second.begin(), found->second.end(), entry,
                               [](const symbols::FunctionAnswer& a, uint64_t e) { return a.entry < e; });
    if (it != found->second.end() && it->entry == entry) return *it;
  }
  return symbols::compute_function_answers(symbolizer_, object, {entry}).front();
}

std::optional<symbols::Location> RecordingSymbols::locate(uint64_t pc, uint64_t time) {
  if (auto object = object_at(pc, time)) return locate_in(*object, pc);
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

std::vector<symbols::FunctionMatch> RecordingSymbols::find_functions(std::string_view name) {
  for (const Object& o : objects_)
    if (auto matches = symbolizer_.find_functions(o.handle, name); !matches.empty()) return matches;
  return {};
}

std::vector<std::pair<symbols::FunctionMatch, int>> RecordingSymbols::find_functions_everywhere(std::string_view name) {
  std::vector<std::pair<symbols::FunctionMatch, int>> out;
  for (const Object& o : objects_)
    for (symbols::FunctionMatch& match : symbolizer_.find_functions(o.handle, name)) {
      bool seen = std::any_of(out.begin(), out.end(), [&](const auto& m) { return m.first.entry == match.entry; });
      if (!seen) out.emplace_back(std::move(match), o.handle);
    }
  return out;
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

std::string RecordingSymbols::inlined_only(std::string_view name) {
  for (const Object& o : objects_)
    if (symbolizer_.inlined_only(o.handle, name)) return o.row.path;
  return {};
}

std::optional<int> RecordingSymbols::object_at(uint64_t pc, uint64_t time) {
  for (const Object& o : objects_) {
    if (pc < o.row.start || pc >= o.row.end) continue;
    if (time < o.row.time_loaded || (o.row.time_unloaded && time >= *o.row.time_unloaded)) continue;
    return o.handle;
  }
  return std::nullopt;
}

std::optional<int> RecordingSymbols::object_holding(uint64_t pc) {
  for (const Object& o : objects_)
    if (pc >= o.row.start && pc < o.row.end) return o.handle;
  return std::nullopt;
}

std::vector<uint64_t> RecordingSymbols::line_breakpoints(std::string_view file, int line, bool* file_seen,
                                                         std::optional<int>* later_line) {
  std::vector<uint64_t> out;
  for (const Object& o : objects_)
    for (uint64_t pc : symbolizer_.line_breakpoints(o.handle, file, line, file_seen, later_line)) out.push_back(pc);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<symbols::Location> RecordingSymbols::functions_at(uint64_t pc, uint64_t time) {
  std::vector<symbols::Location> chain;
  if (auto object = object_at(pc, time)) chain = inline_chain(*object, pc);
  if (chain.empty()) {
    if (auto where = locate(pc, time)) chain.push_back(*where);
  }
  return chain;
}

Session::Session(const std::string& trace_dir) : reader_(std::make_unique<index::IndexReader>(trace_dir)) {}

Session::~Session() = default;

RecordingSymbols& Session::symbols() {
  if (!symbols_) symbols_ = std::make_unique<RecordingSymbols>(*reader_);
  return *symbols_;
}

replay::Replayer& Session::replayer() {
  if (!replayer_) replayer_ = std::make_unique<replay::Replayer>(*reader_);
  return *replayer_;
}

replay::MemoryReader& Session::memory() { return replayer().memory(); }

uint32_t Session::thread(std::optional<uint32_t> tid, uint64_t time) { return reader_->thread_for(tid, time); }

std::vector<replay::StackFrame> Session::stack(uint64_t time, uint32_t tid, std::optional<uint64_t> pc0) {
  tid = thread(tid, time);
  std::vector<replay::StackFrame> frames = replay::stack_at(*reader_, time, tid, pc0 ? nullptr : &replayer(), pc0);
  const std::vector<replay::StackFrame>& inherited = frames_before_fork();
  if (inherited.empty() || frames.empty() || frames.back().since || frames.back().signal) return frames;
  // The outermost recorded frame was entered before the fork: it is the
  // innermost frame of the parent's stack at the fork that is still active,
  // the first whose CFA lies above this frame's stack pointer (the stack
  // pointer at its innermost call, or the thread's now).
  uint64_t sp;
  if (frames.size() >= 2 && frames[frames.size() - 2].cfa) sp = *frames[frames.size() - 2].cfa;
  else sp = replayer().registers_at(time, tid).rsp();
  size_t same = inherited.size();
  for (size_t k = 0; k < inherited.size(); ++k)
    if (inherited[k].cfa && *inherited[k].cfa > sp) {
      same = k;
      break;
    }
  if (same == inherited.size()) return frames;
  frames.back().cfa = inherited[same].cfa;
  for (size_t k = same + 1; k < inherited.size(); ++k) {
    replay::StackFrame frame = inherited[k];
    frame.since.reset();
    frames.push_back(frame);
  }
  return frames;
}

const std::vector<replay::StackFrame>& Session::frames_before_fork() {
  if (before_fork_) return *before_fork_;
  before_fork_.emplace();
  if (reader_->meta_text("origin").value_or("") != "fork") return *before_fork_;
  std::optional<std::string> parent = reader_->meta_text("parent_process");
  std::optional<std::string> pid = reader_->meta_text("pid");
  std::string root = recording_root(reader_->trace_dir());
  if (!parent || !pid || root == reader_->trace_dir()) return *before_fork_;
  std::string parent_dir;
  for (const ProcessDir& p : process_dirs(root))
    if (std::to_string(p.process) == *parent) parent_dir = p.dir;
  if (parent_dir.empty() || access((parent_dir + "/" + kIndexFile).c_str(), F_OK) != 0)
    fail("the stack of this forked process goes on in its parent's recording ({}), which has no index: run `omni "
         "index` on the recording",
         parent_dir.empty() ? "process " + *parent : parent_dir);
  Session up(parent_dir);
  // The parent's fork-like call that returned this process's pid.
  constexpr uint64_t kClone = 56, kFork = 57, kVfork = 58;
  for (const index::SyscallRow& call : up.reader().syscalls(std::nullopt)) {
    if ((call.nr != kClone && call.nr != kFork && call.nr != kVfork) || !call.result ||
        std::to_string(*call.result) != *pid)
      continue;
    *before_fork_ = up.stack(call.time, call.tid);
    break;
  }
  return *before_fork_;
}

std::vector<FrameRecord> Session::describe(const std::vector<replay::StackFrame>& frames, uint64_t time) {
  std::vector<FrameRecord> out;
  out.reserve(frames.size());
  for (const replay::StackFrame& frame : frames) {
    FrameRecord& r = out.emplace_back();
    r.frame = frame;
    if (frame.signal) continue;
    r.functions = symbols().functions_at(frame.pc, time);
    if (r.functions.empty() && frame.function_entry) {
      // Where it jumped from is unknown: only which function it was.
      if (auto where = symbols().locate(*frame.function_entry, time)) r.functions.push_back({where->function, "", 0, false});
    }
    if (r.functions.empty()) r.functions.emplace_back();
    r.where = symbols().locate(frame.pc ? frame.pc : frame.function_entry.value_or(0), time);
  }
  return out;
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

Range Session::target(const std::string& spec, uint64_t time, std::string_view moment) {
  RecordingSymbols& symbols = this->symbols();
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

  // Pointers are read at `time`.
  symbols::PointerMemory memory;
  {
    memory.moment = moment.empty() ? fmt::format("at time {}", time) : std::string(moment);
    memory.read = [&](uint64_t addr) -> std::optional<uint64_t> {
      replay::MemoryImage image = this->memory().read(addr, 8, time);
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
    replay::MemoryImage first = this->memory().read(variable->address, 1, time);
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

uint64_t Session::moment(const std::string& at) {
  index::IndexReader& reader = *reader_;
  if (at == "end") return reader.meta_int("instructions").value_or(0);
  if (at.rfind("output:", 0) == 0 || at.rfind("output~", 0) == 0) {
    auto rows = reader.output();
    if (at[6] == ':') {
      size_t k = 0;
      auto [end, error] = std::from_chars(at.data() + 7, at.data() + at.size(), k);
      if (at.size() == 7 || error != std::errc() || end != at.data() + at.size())
        fail("malformed --at '{}': expected output:N (the Nth output write, from 1)", at);
      if (k == 0 || k > rows.size())
        fail("--at {}: the recording has {} output writes", at, rows.size());
      return rows[k - 1].time;
    }
    std::string needle = at.substr(7);
    for (const auto& row : rows)
      if (std::string_view(reinterpret_cast<const char*>(row.data.data()), row.data.size()).find(needle) !=
          std::string_view::npos)
        return row.time;
    fail("--at {}: no output write contains '{}'", at, needle);
  }
  uint64_t value = 0;
  auto [end, error] = std::from_chars(at.data(), at.data() + at.size(), value);
  if (at.empty() || error != std::errc() || end != at.data() + at.size())
    fail("malformed --at '{}': expected a time, end, output:N or output~TEXT", at);
  // Past the last instruction nothing happened: an answer there would be
  // the end's, passed off as another moment's.
  uint64_t last = reader.meta_int("instructions").value_or(0);
  if (value > last) fail("--at {} is past the end of the recording (last instruction {})", at, last);
  return value;
}

}  // namespace omni::query
