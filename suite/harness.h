// Test helpers for omni's suite. Independent of omni's own libraries: they use
// only the standard library, POSIX and external tools (gdb, nm, addr2line).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#ifndef OMNI_SUBJECT_DIR
#error "OMNI_SUBJECT_DIR must be defined (directory of the built test subjects)"
#endif
#ifndef OMNI_BIN_DIR
#error "OMNI_BIN_DIR must be defined (directory of omni's executables)"
#endif
#ifndef OMNI_SOURCE_DIR
#error "OMNI_SOURCE_DIR must be defined (source root)"
#endif

namespace omni::test {

namespace fs = std::filesystem;

// ---- locations ------------------------------------------------------------

fs::path subject(std::string_view name);  // <build>/subjects/<name>
fs::path bin(std::string_view name);      // <build>/bin/<name>
fs::path source_dir();                    // source root

// ---- running commands -----------------------------------------------------

struct RunOptions {
  std::map<std::string, std::string> env;  // added to / replacing the environment
  std::vector<std::string> unset_env;      // removed from the environment
  std::optional<fs::path> cwd;
  std::string stdin_data;  // written to the child's stdin, which is then closed
  double timeout_s = 180;
};

struct RunResult {
  int status = -1;  // exit code, or 128 + signal when killed by a signal
  bool exited = false;
  int signal = 0;  // the terminating signal, 0 when it exited
  bool timed_out = false;
  std::string out;
  std::string err;
  std::string describe() const;  // for failure messages: status, stdout and stderr
};

// fork/exec argv[0] (searched in PATH when it has no '/'), no shell involved.
// Throws std::runtime_error if the program cannot be started at all (then the
// child exits 127 and its stderr says why; this function reports it as status 127).
RunResult run(const std::vector<std::string>& argv, const RunOptions& opts = {});

// ---- temporary directories ------------------------------------------------

// A fresh private (0700) directory, removed with its contents on destruction
// unless the environment variable OMNI_SUITE_KEEP is set.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  const fs::path& path() const { return path_; }
  fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

// ---- JSON -----------------------------------------------------------------

struct Value {
  enum class Kind { Null, Bool, Int, Double, String, Array, Object };
  Kind kind = Kind::Null;
  bool b = false;
  std::int64_t i = 0;   // Int (integers that fit in int64; larger ones become Double)
  double d = 0;         // Double
  std::string s;        // String
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object;

  bool is_null() const { return kind == Kind::Null; }
  bool is_bool() const { return kind == Kind::Bool; }
  bool is_int() const { return kind == Kind::Int; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Double; }
  bool is_string() const { return kind == Kind::String; }
  std::string repr() const;  // compact JSON text, for messages
};

using Object = std::map<std::string, Value>;

// Parses one JSON value that must be an object (whitespace around it allowed).
// Throws std::runtime_error on malformed input or a duplicate key.
Object parse_json_object(std::string_view text);
// One object per non-empty line.
std::vector<Object> parse_json_lines(std::string_view text);

// One zstd frame of `raw` with a checksum and its content size, as omni
// writes them: for tests that rebuild a trace file.
std::string zstd_frame(const std::string& raw);

// A little-endian integer of `bytes` bytes at `at` of a file's bytes (the
// trace and index formats are little-endian), read and written in place.
inline std::uint64_t load_le(const std::string& b, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int k = bytes - 1; k >= 0; --k) v = v << 8 | static_cast<std::uint8_t>(b[at + k]);
  return v;
}
inline void store_le(std::string& b, std::size_t at, std::uint64_t v, int bytes) {
  for (int k = 0; k < bytes; ++k) b[at + k] = static_cast<char>(v >> (8 * k));
}

// ---- hex / numbers --------------------------------------------------------

std::vector<std::uint8_t> from_hex(std::string_view hex);  // throws on odd length / bad digit
std::string to_hex(const std::vector<std::uint8_t>& bytes);
std::uint64_t parse_address(std::string_view s);  // "0x..." (required prefix); throws
std::string hex_address(std::uint64_t a);         // "0x..." lower case
// Little-endian value of up to 8 bytes, sign-extended from the top byte.
std::int64_t le_signed(const std::vector<std::uint8_t>& bytes);

// ---- symbol truth from binutils -------------------------------------------

struct Symbol {
  std::uint64_t addr = 0;
  std::uint64_t size = 0;  // 0 when nm gives none
  char type = '?';
};
// `nm -S --defined-only PROG`.
std::map<std::string, Symbol> nm_symbols(const fs::path& prog);
Symbol nm_symbol(const fs::path& prog, const std::string& name);  // throws if absent

struct SourceLoc {
  std::string function;  // "??" when unknown
  std::string file;      // as addr2line gives it, "??" when unknown
  long line = 0;         // 0 when unknown
};
// `addr2line -f -e PROG ADDR...`, one result per address, in order.
std::vector<SourceLoc> addr2line(const fs::path& prog, const std::vector<std::uint64_t>& addrs);

// ---- gdb oracle -----------------------------------------------------------

struct WatchHit {
  std::string value;     // gdb's `output EXPR` after the change
  std::string function;  // function holding the pc at the stop (from `info symbol $pc`)
};

struct WatchResult {
  std::vector<WatchHit> hits;
  bool hardware = false;  // gdb said "Hardware watchpoint"
  // A hardware watchpoint was set but never fired (some VMs): these hits come
  // from a second run with software watchpoints.
  bool hardware_never_fired = false;
  RunResult raw;             // gdb's run (its own output only)
  std::string inferior_out;  // the program's stdout and stderr under gdb
};

// Runs `gdb -batch -nx` on PROG with a watchpoint `watch -l EXPR`; at each stop
// it records the new value and the function, then continues. gdb reports only
// stops where the watched value changed. Where hardware watchpoints never fire,
// it runs again with `set can-use-hw-watchpoints 0`.
WatchResult gdb_watch(const fs::path& prog, const std::vector<std::string>& args,
                      const std::string& expr);

// ---- omni output ----------------------------------------------------------

// One line of `omni query --where-written` output, checked for the contract's
// key set and types.
struct Write {
  std::uint64_t time = 0;
  std::int64_t tid = 0;
  std::uint64_t pc = 0;
  std::optional<std::string> function;
  std::optional<std::string> file;
  std::optional<long> line;
  std::uint64_t addr = 0;
  std::uint64_t size = 0;
  std::vector<std::uint8_t> data;
};

// Throws std::runtime_error (naming the line) when a line is not a valid write.
std::vector<Write> parse_writes(std::string_view query_stdout);

// Applies the writes in order to an image of [base, base+len) that starts as
// `initial` (or zero bytes); bytes of a write outside the range are ignored.
std::vector<std::uint8_t> apply_writes(const std::vector<Write>& writes, std::uint64_t base,
                                       std::size_t len,
                                       std::vector<std::uint8_t> initial = {});

// ---- misc -----------------------------------------------------------------

std::string read_file(const fs::path& p);
void write_file(const fs::path& p, std::string_view bytes);
std::vector<std::string> split_lines(std::string_view text);  // no empty trailing line
// Value of `key=` in whitespace-separated "key=value" tokens of `text`; the
// first occurrence, or nullopt.
std::optional<std::string> kv(std::string_view text, std::string_view key);
// All values of `key=`, in order of appearance.
std::vector<std::string> kv_all(std::string_view text, std::string_view key);

}  // namespace omni::test
