#include "omni/symbols/precomputed.h"

#include <algorithm>
#include <unordered_map>

#include "omni/base/error.h"

namespace omni::symbols {

namespace {

// Encoding (all integers LEB128 varints): version, the string table (count,
// then each string's length and bytes; string 0 is always ""), then the
// records, whose strings are indexes into the table. Names and files repeat
// across a page's addresses: the table keeps each once.
class Writer {
 public:
  Writer() { intern(""); }
  void varint(uint64_t value) {
    while (value >= 0x80) {
      body_.push_back(static_cast<char>(value | 0x80));
      value >>= 7;
    }
    body_.push_back(static_cast<char>(value));
  }
  void string(const std::string& s) { varint(intern(s)); }
  void location(const Location& l) {
    string(l.function);
    string(l.file);
    varint(static_cast<uint64_t>(std::max(l.line, 0)));
    varint(l.inlined ? 1 : 0);
  }
  void type(const TypeInfo& t) {
    varint(static_cast<uint64_t>(t.kind));
    varint(t.size);
    string(t.name);
    varint((t.chars ? 1 : 0) | (t.by_reference ? 2 : 0));
  }
  std::string finish() {
    std::string head;
    auto put = [&](uint64_t value) {
      while (value >= 0x80) {
        head.push_back(static_cast<char>(value | 0x80));
        value >>= 7;
      }
      head.push_back(static_cast<char>(value));
    };
    put(kPrecomputedVersion);
    put(strings_.size());
    for (const std::string& s : strings_) {
      put(s.size());
      head += s;
    }
    return head + body_;
  }

 private:
  uint64_t intern(const std::string& s) {
    auto [it, added] = ids_.emplace(s, strings_.size());
    if (added) strings_.push_back(s);
    return it->second;
  }
  std::vector<std::string> strings_;
  std::unordered_map<std::string, uint64_t> ids_;
  std::string body_;
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const char* what)
      : p_(data), end_(data + size), what_(what) {
    uint64_t version = varint();
    if (version != kPrecomputedVersion)
      corrupt("version " + std::to_string(version) + ", this omni reads " +
              std::to_string(kPrecomputedVersion));
    uint64_t count = varint();
    // Each string takes at least its length byte.
    if (count == 0 || count > remaining()) corrupt("string count");
    strings_.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t length = varint();
      if (length > remaining()) corrupt("string length");
      strings_.emplace_back(reinterpret_cast<const char*>(p_), length);
      p_ += length;
    }
  }
  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) corrupt("truncated");
      uint8_t byte = *p_++;
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    corrupt("bad varint");
  }
  // A count of records of at least `min_bytes` each, checked against what is left.
  uint64_t count(uint64_t min_bytes) {
    uint64_t n = varint();
    if (n > remaining() / min_bytes) corrupt("record count");
    return n;
  }
  const std::string& string() {
    uint64_t id = varint();
    if (id >= strings_.size()) corrupt("string index");
    return strings_[id];
  }
  int line() {
    uint64_t value = varint();
    if (value > INT32_MAX) corrupt("line");
    return static_cast<int>(value);
  }
  Location location() {
    Location l;
    l.function = string();
    l.file = string();
    l.line = line();
    l.inlined = varint() != 0;
    return l;
  }
  TypeInfo type() {
    TypeInfo t;
    uint64_t kind = varint();
    if (kind > static_cast<uint64_t>(TypeInfo::Kind::Other)) corrupt("type kind");
    t.kind = static_cast<TypeInfo::Kind>(kind);
    t.size = varint();
    t.name = string();
    uint64_t flags = varint();
    t.chars = flags & 1;
    t.by_reference = flags & 2;
    return t;
  }
  void done() {
    if (p_ != end_) corrupt("trailing bytes");
  }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  [[noreturn]] void corrupt(const std::string& why) const {
    fail("index is corrupt ({}: {}); run `omni index` again", what_, why);
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  const char* what_;
  std::vector<std::string> strings_;
};

}  // namespace

std::string encode_code_page(const std::vector<CodeAnswer>& answers) {
  Writer w;
  w.varint(answers.size());
  uint64_t previous = 0;
  for (const CodeAnswer& a : answers) {
    if (a.pc < previous || (a.pc == previous && &a != &answers.front()))
      fail("internal error: code answers out of order at {:#x}", a.pc);
    w.varint(a.pc - previous);
    previous = a.pc;
    w.varint(a.location ? 1 : 0);
    if (a.location) w.location(*a.location);
    w.varint(a.chain.size());
    for (const Location& l : a.chain) w.location(l);
  }
  return w.finish();
}

std::vector<CodeAnswer> decode_code_page(const uint8_t* data, size_t size) {
  Reader r(data, size, "precomputed symbols");
  std::vector<CodeAnswer> out(r.count(3));
  uint64_t pc = 0;
  for (CodeAnswer& a : out) {
    uint64_t delta = r.varint();
    if (delta == 0 && &a != &out.front()) r.corrupt("addresses out of order");
    pc += delta;
    a.pc = pc;
    if (r.varint() != 0) a.location = r.location();
    a.chain.resize(r.count(4));
    for (Location& l : a.chain) l = r.location();
  }
  r.done();
  return out;
}

std::string encode_functions(const std::vector<FunctionAnswer>& functions) {
  Writer w;
  w.varint(functions.size());
  for (const FunctionAnswer& f : functions) {
    w.varint(f.entry);
    w.varint(f.params.size());
    for (const Parameter& p : f.params) {
      w.string(p.name);
      w.type(p.type);
    }
    w.varint(f.return_type ? 1 : 0);
    if (f.return_type) w.type(*f.return_type);
    w.varint((f.returns_void ? 1 : 0) | (f.clone ? 2 : 0));
  }
  return w.finish();
}

std::vector<FunctionAnswer> decode_functions(const uint8_t* data, size_t size) {
  Reader r(data, size, "precomputed function symbols");
  std::vector<FunctionAnswer> out(r.count(4));
  for (FunctionAnswer& f : out) {
    f.entry = r.varint();
    f.params.resize(r.count(5));
    for (Parameter& p : f.params) {
      p.name = r.string();
      p.type = r.type();
    }
    if (r.varint() != 0) f.return_type = r.type();
    uint64_t flags = r.varint();
    f.returns_void = flags & 1;
    f.clone = flags & 2;
  }
  r.done();
  return out;
}

std::vector<FunctionAnswer> compute_function_answers(Symbolizer& symbolizer, int object,
                                                     const std::vector<uint64_t>& entries) {
  std::vector<FunctionAnswer> out;
  out.reserve(entries.size());
  for (uint64_t entry : entries)
    out.push_back({entry, symbolizer.parameters(object, entry),
                   symbolizer.return_type(object, entry), symbolizer.returns_void(object, entry),
                   symbolizer.is_clone(object, entry)});
  return out;
}

}  // namespace omni::symbols
