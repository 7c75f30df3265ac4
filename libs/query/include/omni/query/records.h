// What questions answer, as typed records, and where they go: each question
// puts its records into a Sink of its record kind; a Printer renders them as
// JSON Lines or a table (render.cc, one function per record kind and format,
// in the order docs/json.md describes them). A debugger front end takes the
// same records through a Sink of its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "omni/index/reader.h"
#include "omni/query/session.h"
#include "omni/replay/memory.h"
#include "omni/replay/replay.h"
#include "omni/symbols/symbols.h"

namespace omni::query {

enum class Format { Json, Table };

// A scalar decoded by its DWARF type. None: an aggregate, a type omni does
// not decode, or bytes the recording cannot tell.
struct Scalar {
  enum class Kind { None, Signed, Unsigned, Bool, Pointer, Float, Double } kind = Kind::None;
  int64_t s = 0;   // Signed (and Enum)
  uint64_t u = 0;  // Unsigned, Bool, Pointer
  double d = 0;    // Float (a float's value, widened), Double
};
Scalar decode_scalar(const symbols::TypeInfo& type, const uint8_t* bytes, size_t size);

// --where-written: one write that touched the target.
struct WriteRecord {
  index::Event event;
  std::vector<uint8_t> data;  // the bytes written, all of them
  std::optional<symbols::Location> where;  // of event.pc
  std::optional<std::vector<FrameRecord>> stack;  // with --stack: the writer's call stack
};

// --syscalls: one system call.
// In an answer about every process of a recording (--output and
// --syscalls without --process): which process a record is from.
struct ProcessOf {
  uint32_t process;
  int64_t pid;
};

struct SyscallRecord {
  index::SyscallRow row;
  std::string name;  // syscall_name(row.nr)
  std::optional<ProcessOf> process;
};

// --output: one write to stdout or stderr.
struct OutputRecord {
  index::OutputRow row;
  std::optional<ProcessOf> process;
};

// --read: memory (or a local's value) at a moment.
struct MemoryRecord {
  uint64_t time;
  replay::MemoryImage image;
  bool in_register = false;  // a local held in registers or computed: no address
  std::string variable;      // the expression, for a variable or local:NAME
  std::optional<symbols::TypeInfo> type;
  Scalar value;                     // a scalar's value when every byte of it is known
  std::optional<std::string> text;  // a char array's text, when every byte is known
  std::optional<uint32_t> frame;    // for a local: its --frame and function
  std::string function;
};

// --registers: a thread's registers after an instruction.
struct RegistersRecord {
  replay::Registers regs;  // regs.time: the moment
  std::optional<symbols::Location> where;  // of rip
};

// --stack: a thread's call stack after an instruction.
struct StackRecord {
  uint64_t time;
  uint32_t tid;
  std::vector<FrameRecord> frames;
};

// One argument of a call, as passed.
struct CallArgument {
  std::string name, type;
  std::optional<uint64_t> address;  // where it is: passed by reference, or in memory (a big aggregate)
  std::optional<std::vector<uint8_t>> data;  // a small aggregate's bytes (passed in registers)
  Scalar value;                     // a scalar's value; None for the above
  std::optional<std::string> text;  // what a char pointer points to
};

// --calls: one call of a function.
struct CallRecord {
  index::CallRow row;
  std::string function;  // the name asked for (or found at an address)
  uint64_t entry;
  std::optional<symbols::Location> caller;  // of the call (or of the frame a tail call replaced)
  std::vector<CallArgument> args;
  std::optional<Scalar> returned;  // set for a return from a non-void function
  // A compiler clone whose signature differs from its DWARF's (is_clone):
  // its arguments and return value are unknown, not decoded.
  bool clone = false;
};

// --executions: one execution of a breakpoint location (the thread is at
// pc, about to run it).
struct ExecutionRecord {
  uint64_t time;  // instructions retired before it
  uint32_t tid;
  uint64_t pc;
  std::optional<symbols::Location> where;
  size_t location;  // 1-based: which of the breakpoint's locations
};

// Where a question's records go. begin() comes once the question is
// understood (after its errors about the question itself), before any record.
template <typename Record>
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void begin() {}
  virtual void put(const Record& record) = 0;
};

// One renderer per record kind and format; a table's header, for the kinds
// whose table has one.
void render_json(const WriteRecord& r, std::string& out);
void render_table(const WriteRecord& r, std::string& out);
void render_table_header(const WriteRecord*, std::string& out);
void render_json(const SyscallRecord& r, std::string& out);
void render_table(const SyscallRecord& r, std::string& out);
void render_table_header(const SyscallRecord*, std::string& out);
void render_json(const OutputRecord& r, std::string& out);
void render_table(const OutputRecord& r, std::string& out);
inline void render_table_header(const OutputRecord*, std::string&) {}
void render_json(const MemoryRecord& r, std::string& out);
void render_table(const MemoryRecord& r, std::string& out);
inline void render_table_header(const MemoryRecord*, std::string&) {}
void render_json(const RegistersRecord& r, std::string& out);
void render_table(const RegistersRecord& r, std::string& out);
inline void render_table_header(const RegistersRecord*, std::string&) {}
void render_json(const StackRecord& r, std::string& out);
void render_table(const StackRecord& r, std::string& out);
inline void render_table_header(const StackRecord*, std::string&) {}
void render_json(const CallRecord& r, std::string& out);
void render_table(const CallRecord& r, std::string& out);
void render_table_header(const CallRecord*, std::string& out);
void render_json(const ExecutionRecord& r, std::string& out);
void render_table(const ExecutionRecord& r, std::string& out);
void render_table_header(const ExecutionRecord*, std::string& out);

// Pieces of answers other answers share (omni verify's divergences).
class JsonObject;
// The "function", "file" and "line" keys of an answer, each null when
// unknown (also all three when `where` is null).
void location_fields(JsonObject& o, const symbols::Location* where);
// As JSON: a number, true/false, "0x..." for a pointer, "nan"/"inf"/"-inf"
// strings (JSON has no such numbers), null for None.
std::string scalar_json(const Scalar& value);

// Renders each record as it comes, one line (or table rows) at a time.
template <typename Record>
class Printer final : public Sink<Record> {
 public:
  // `header_prefix`: columns the rows of this answer have before the
  // record's own (the process of an answer about every process).
  Printer(Format format, std::ostream& out, std::string header_prefix = {})
      : format_(format), out_(out), header_prefix_(std::move(header_prefix)) {}
  void begin() override {
    if (format_ != Format::Table) return;
    line_.clear();
    render_table_header(static_cast<const Record*>(nullptr), line_);
    if (!line_.empty()) out_ << header_prefix_;
    out_ << line_;
  }
  void put(const Record& record) override {
    line_.clear();
    if (format_ == Format::Json) render_json(record, line_);
    else render_table(record, line_);
    out_ << line_;
    // Answers stream: the first as soon as it is known, then at least every
    // 100 ms (a pipe's buffer would otherwise hold them until it fills).
    auto now = std::chrono::steady_clock::now();
    if (count_++ == 0 || now - flushed_ >= std::chrono::milliseconds(100)) {
      out_.flush();
      flushed_ = now;
    }
  }
  uint64_t count() const { return count_; }

 private:
  Format format_;
  std::ostream& out_;
  std::string header_prefix_;
  std::string line_;
  uint64_t count_ = 0;
  std::chrono::steady_clock::time_point flushed_{};
};

}  // namespace omni::query
