#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace omni::test {

// ---- locations ------------------------------------------------------------

fs::path subject(std::string_view name) { return fs::path(OMNI_SUBJECT_DIR) / name; }
fs::path bin(std::string_view name) { return fs::path(OMNI_BIN_DIR) / name; }
fs::path source_dir() { return fs::path(OMNI_SOURCE_DIR); }

// ---- running commands -----------------------------------------------------

namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

void set_nonblock_cloexec(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
}

std::string quote_arg(const std::string& a) {
  if (!a.empty() && a.find_first_of(" \t\n'\"\\$`") == std::string::npos) return a;
  std::string q = "'";
  for (char c : a) {
    if (c == '\'')
      q += "'\\''";
    else
      q += c;
  }
  return q + "'";
}

}  // namespace

std::string RunResult::describe() const {
  std::ostringstream o;
  o << "status " << status;
  if (!exited) o << " (signal " << signal << ")";
  if (timed_out) o << " [TIMED OUT]";
  auto clip = [](const std::string& s) {
    return s.size() > 4000 ? s.substr(0, 2000) + "\n...[clipped]...\n" + s.substr(s.size() - 2000)
                           : s;
  };
  o << "\n--- stdout ---\n" << clip(out) << "\n--- stderr ---\n" << clip(err);
  return o.str();
}

RunResult run(const std::vector<std::string>& argv, const RunOptions& opts) {
  if (argv.empty()) throw std::runtime_error("run: empty argv");

  // Environment for the child, prepared before fork.
  std::map<std::string, std::string> envmap;
  for (char** e = environ; *e; ++e) {
    std::string kvs = *e;
    auto eq = kvs.find('=');
    if (eq == std::string::npos) continue;
    envmap[kvs.substr(0, eq)] = kvs.substr(eq + 1);
  }
  for (const auto& u : opts.unset_env) envmap.erase(u);
  for (const auto& [k, v] : opts.env) envmap[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : envmap) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& s : args) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  std::string cwd = opts.cwd ? opts.cwd->string() : std::string();

  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0 || pipe(in_pipe) != 0)
    throw std::runtime_error(errno_text("pipe"));

  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(errno_text("fork"));
  if (pid == 0) {
    setpgid(0, 0);  // own process group, so a timeout can kill the whole tree
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]})
      close(fd);
    signal(SIGPIPE, SIG_DFL);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) {
      std::fprintf(stderr, "omni-suite: chdir %s: %s\n", cwd.c_str(), std::strerror(errno));
      _exit(127);
    }
    execvpe(cargv[0], cargv.data(), envp.data());
    std::fprintf(stderr, "omni-suite: cannot execute %s: %s\n", cargv[0], std::strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent, to avoid a race with kill()
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  set_nonblock_cloexec(in_pipe[1]);
  set_nonblock_cloexec(out_pipe[0]);
  set_nonblock_cloexec(err_pipe[0]);

  // Writing to a child that exited must not kill the suite.
  struct sigaction ign {}, old_pipe {};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, &old_pipe);

  RunResult r;
  int fd_in = in_pipe[1], fd_out = out_pipe[0], fd_err = err_pipe[0];
  std::size_t in_off = 0;
  if (opts.stdin_data.empty()) {
    close(fd_in);
    fd_in = -1;
  }
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(
                                     std::chrono::duration<double>(opts.timeout_s));
  std::optional<clock::time_point> drain_deadline;  // set once the child has exited
  bool reaped = false;
  int wstatus = 0;

  auto kill_tree = [&] {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
  };

  while (true) {
    if (!reaped) {
      pid_t w = waitpid(pid, &wstatus, WNOHANG);
      if (w == pid) {
        reaped = true;
        drain_deadline = clock::now() + std::chrono::seconds(5);
      }
    }
    if (fd_out < 0 && fd_err < 0 && (reaped || fd_in < 0)) {
      if (reaped) break;
    }
    auto now = clock::now();
    if (!r.timed_out && now >= deadline) {
      r.timed_out = true;
      kill_tree();
    }
    if (drain_deadline && now >= *drain_deadline) break;  // a grandchild holds the pipes

    std::vector<pollfd> fds;
    if (fd_out >= 0) fds.push_back({fd_out, POLLIN, 0});
    if (fd_err >= 0) fds.push_back({fd_err, POLLIN, 0});
    if (fd_in >= 0) fds.push_back({fd_in, POLLOUT, 0});
    int pr = poll(fds.data(), fds.size(), 50);
    if (pr < 0 && errno != EINTR) throw std::runtime_error(errno_text("poll"));
    for (const auto& p : fds) {
      if (!p.revents) continue;
      if (p.fd == fd_in) {
        ssize_t n = write(fd_in, opts.stdin_data.data() + in_off, opts.stdin_data.size() - in_off);
        if (n > 0) in_off += static_cast<std::size_t>(n);
        if (n < 0 && errno != EAGAIN && errno != EINTR) in_off = opts.stdin_data.size();
        if (in_off >= opts.stdin_data.size()) {
          close(fd_in);
          fd_in = -1;
        }
        continue;
      }
      char buf[65536];
      ssize_t n = read(p.fd, buf, sizeof buf);
      if (n > 0) {
        (p.fd == fd_out ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(p.fd);
        (p.fd == fd_out ? fd_out : fd_err) = -1;
      }
    }
  }
  for (int fd : {fd_in, fd_out, fd_err})
    if (fd >= 0) close(fd);
  if (!reaped) {
    kill_tree();
    waitpid(pid, &wstatus, 0);
  }
  sigaction(SIGPIPE, &old_pipe, nullptr);

  if (WIFEXITED(wstatus)) {
    r.exited = true;
    r.status = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    r.signal = WTERMSIG(wstatus);
    r.status = 128 + r.signal;
  }
  if (r.timed_out) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + quote_arg(a);
    r.err += "\n[omni-suite: timed out after " + std::to_string(opts.timeout_s) + " s: " + cmd +
             "]\n";
  }
  return r;
}

// ---- temporary directories ------------------------------------------------

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/omni-suite-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error(errno_text("mkdtemp"));
  path_ = tmpl;  // mkdtemp creates it 0700
}

TempDir::~TempDir() {
  if (path_.empty() || std::getenv("OMNI_SUITE_KEEP")) return;
  std::error_code ec;
  // Make everything writable first, in case a test created read-only entries.
  for (auto it = fs::recursive_directory_iterator(
           path_, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec))
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
  }
  fs::remove_all(path_, ec);
}

// ---- JSON -----------------------------------------------------------------

namespace {

struct JsonParser {
  std::string_view t;
  std::size_t p = 0;

  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error("JSON: " + why + " at offset " + std::to_string(p) + " in: " +
                             std::string(t.substr(0, 300)));
  }
  void ws() {
    while (p < t.size() && (t[p] == ' ' || t[p] == '\t' || t[p] == '\n' || t[p] == '\r')) ++p;
  }
  bool eat(char c) {
    ws();
    if (p < t.size() && t[p] == c) {
      ++p;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  static void put_utf8(std::string& s, unsigned cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  unsigned hex4() {
    if (p + 4 > t.size()) fail("short \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = t[p++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<unsigned>(c - 'A' + 10);
      else
        fail("bad \\u escape");
    }
    return v;
  }
  std::string string() {
    ws();
    if (p >= t.size() || t[p] != '"') fail("expected string");
    ++p;
    std::string s;
    while (true) {
      if (p >= t.size()) fail("unterminated string");
      char c = t[p++];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        s += c;
        continue;
      }
      if (p >= t.size()) fail("unterminated escape");
      char e = t[p++];
      switch (e) {
        case '"': s += '"'; break;
        case '\\': s += '\\'; break;
        case '/': s += '/'; break;
        case 'b': s += '\b'; break;
        case 'f': s += '\f'; break;
        case 'n': s += '\n'; break;
        case 'r': s += '\r'; break;
        case 't': s += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && p + 1 < t.size() && t[p] == '\\' && t[p + 1] == 'u') {
            p += 2;
            unsigned lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          put_utf8(s, cp);
          break;
        }
        default: fail("bad escape");
      }
    }
    return s;
  }
  Value number() {
    std::size_t start = p;
    if (p < t.size() && t[p] == '-') ++p;
    if (p >= t.size() || !(t[p] >= '0' && t[p] <= '9')) fail("bad number");
    if (t[p] == '0' && p + 1 < t.size() && t[p + 1] >= '0' && t[p + 1] <= '9')
      fail("leading zero");
    bool integral = true;
    while (p < t.size() && t[p] >= '0' && t[p] <= '9') ++p;
    if (p < t.size() && t[p] == '.') {
      integral = false;
      ++p;
      if (p >= t.size() || !(t[p] >= '0' && t[p] <= '9')) fail("bad fraction");
      while (p < t.size() && t[p] >= '0' && t[p] <= '9') ++p;
    }
    if (p < t.size() && (t[p] == 'e' || t[p] == 'E')) {
      integral = false;
      ++p;
      if (p < t.size() && (t[p] == '+' || t[p] == '-')) ++p;
      if (p >= t.size() || !(t[p] >= '0' && t[p] <= '9')) fail("bad exponent");
      while (p < t.size() && t[p] >= '0' && t[p] <= '9') ++p;
    }
    std::string text(t.substr(start, p - start));
    Value v;
    if (integral) {
      errno = 0;
      char* end = nullptr;
      long long ll = std::strtoll(text.c_str(), &end, 10);
      if (errno == 0 && end && *end == '\0') {
        v.kind = Value::Kind::Int;
        v.i = ll;
        v.d = static_cast<double>(ll);
        return v;
      }
    }
    v.kind = Value::Kind::Double;
    v.d = std::strtod(text.c_str(), nullptr);
    return v;
  }
  bool literal(std::string_view word) {
    if (t.substr(p, word.size()) == word) {
      p += word.size();
      return true;
    }
    return false;
  }
  Value value(int depth = 0) {
    if (depth > 64) fail("nesting too deep");
    ws();
    if (p >= t.size()) fail("unexpected end");
    Value v;
    char c = t[p];
    if (c == '"') {
      v.kind = Value::Kind::String;
      v.s = string();
    } else if (c == '{') {
      ++p;
      v.kind = Value::Kind::Object;
      if (!eat('}')) {
        do {
          std::string k = string();
          expect(':');
          v.object.emplace_back(std::move(k), value(depth + 1));
        } while (eat(','));
        expect('}');
      }
    } else if (c == '[') {
      ++p;
      v.kind = Value::Kind::Array;
      if (!eat(']')) {
        do v.array.push_back(value(depth + 1));
        while (eat(','));
        expect(']');
      }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v = number();
    } else if (literal("true")) {
      v.kind = Value::Kind::Bool;
      v.b = true;
    } else if (literal("false")) {
      v.kind = Value::Kind::Bool;
      v.b = false;
    } else if (literal("null")) {
      v.kind = Value::Kind::Null;
    } else {
      fail("unexpected character");
    }
    return v;
  }
};

void repr_string(std::string& o, const std::string& s) {
  o += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned char>(c));
      o += b;
    } else {
      o += c;
    }
  }
  o += '"';
}

}  // namespace

std::string Value::repr() const {
  std::string o;
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Bool: return b ? "true" : "false";
    case Kind::Int: return std::to_string(i);
    case Kind::Double: {
      std::ostringstream s;
      s << d;
      return s.str();
    }
    case Kind::String: repr_string(o, s); return o;
    case Kind::Array:
      o = "[";
      for (std::size_t k = 0; k < array.size(); ++k) o += (k ? "," : "") + array[k].repr();
      return o + "]";
    case Kind::Object:
      o = "{";
      for (std::size_t k = 0; k < object.size(); ++k) {
        if (k) o += ",";
        repr_string(o, object[k].first);
        o += ":" + object[k].second.repr();
      }
      return o + "}";
  }
  return o;
}

Object parse_json_object(std::string_view text) {
  JsonParser jp{text};
  Value v = jp.value();
  jp.ws();
  if (jp.p != text.size()) jp.fail("trailing characters");
  if (v.kind != Value::Kind::Object) jp.fail("not an object");
  Object m;
  for (auto& [k, val] : v.object)
    if (!m.emplace(k, std::move(val)).second) jp.fail("duplicate key \"" + k + "\"");
  return m;
}

std::vector<Object> parse_json_lines(std::string_view text) {
  std::vector<Object> out;
  for (const auto& line : split_lines(text)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    out.push_back(parse_json_object(line));
  }
  return out;
}

// ---- hex / numbers --------------------------------------------------------

namespace {
int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::vector<std::uint8_t> from_hex(std::string_view hex) {
  if (hex.size() % 2) throw std::runtime_error("odd-length hex string: " + std::string(hex));
  std::vector<std::uint8_t> out(hex.size() / 2);
  for (std::size_t k = 0; k < out.size(); ++k) {
    int hi = hex_digit(hex[2 * k]), lo = hex_digit(hex[2 * k + 1]);
    if (hi < 0 || lo < 0) throw std::runtime_error("bad hex string: " + std::string(hex));
    out[k] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

std::string to_hex(const std::vector<std::uint8_t>& bytes) {
  static const char* d = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    s += d[b >> 4];
    s += d[b & 15];
  }
  return s;
}

std::uint64_t parse_address(std::string_view s) {
  if (s.size() < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || s.size() > 18)
    throw std::runtime_error("not a 0x address: " + std::string(s));
  std::uint64_t v = 0;
  for (std::size_t k = 2; k < s.size(); ++k) {
    int h = hex_digit(s[k]);
    if (h < 0) throw std::runtime_error("not a 0x address: " + std::string(s));
    v = v * 16 + static_cast<std::uint64_t>(h);
  }
  return v;
}

std::string hex_address(std::uint64_t a) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(a));
  return b;
}

std::int64_t le_signed(const std::vector<std::uint8_t>& bytes) {
  if (bytes.empty() || bytes.size() > 8)
    throw std::runtime_error("le_signed: need 1..8 bytes, got " + std::to_string(bytes.size()));
  std::uint64_t v = 0;
  for (std::size_t k = 0; k < bytes.size(); ++k) v |= static_cast<std::uint64_t>(bytes[k]) << (8 * k);
  if (bytes.size() < 8 && (bytes.back() & 0x80)) v |= ~0ULL << (8 * bytes.size());
  return static_cast<std::int64_t>(v);
}

// ---- binutils -------------------------------------------------------------

namespace {
RunOptions timeout(double s) {
  RunOptions o;
  o.timeout_s = s;
  return o;
}
}  // namespace

std::map<std::string, Symbol> nm_symbols(const fs::path& prog) {
  RunResult r = run({"nm", "-S", "--defined-only", prog.string()}, timeout(60));
  if (r.status != 0) throw std::runtime_error("nm failed: " + r.describe());
  std::map<std::string, Symbol> syms;
  for (const auto& line : split_lines(r.out)) {
    std::istringstream in(line);
    std::vector<std::string> f;
    for (std::string w; in >> w;) f.push_back(w);
    Symbol s;
    std::string name;
    if (f.size() == 4) {  // addr size type name
      s.addr = std::stoull(f[0], nullptr, 16);
      s.size = std::stoull(f[1], nullptr, 16);
      s.type = f[2][0];
      name = f[3];
    } else if (f.size() == 3) {  // addr type name
      s.addr = std::stoull(f[0], nullptr, 16);
      s.type = f[1][0];
      name = f[2];
    } else {
      continue;
    }
    syms.emplace(name, s);  // the first definition wins
  }
  return syms;
}

Symbol nm_symbol(const fs::path& prog, const std::string& name) {
  auto syms = nm_symbols(prog);
  auto it = syms.find(name);
  if (it == syms.end()) throw std::runtime_error("nm: no symbol " + name + " in " + prog.string());
  return it->second;
}

std::vector<SourceLoc> addr2line(const fs::path& prog, const std::vector<std::uint64_t>& addrs) {
  std::vector<SourceLoc> out;
  if (addrs.empty()) return out;
  std::vector<std::string> argv = {"addr2line", "-f", "-e", prog.string()};
  for (auto a : addrs) argv.push_back(hex_address(a));
  RunResult r = run(argv, timeout(60));
  if (r.status != 0) throw std::runtime_error("addr2line failed: " + r.describe());
  auto lines = split_lines(r.out);
  if (lines.size() != 2 * addrs.size())
    throw std::runtime_error("addr2line: unexpected output: " + r.out);
  for (std::size_t k = 0; k < addrs.size(); ++k) {
    SourceLoc loc;
    loc.function = lines[2 * k];
    std::string fl = lines[2 * k + 1];
    if (auto sp = fl.find(" ("); sp != std::string::npos) fl.resize(sp);  // "(discriminator N)"
    auto colon = fl.rfind(':');
    loc.file = colon == std::string::npos ? fl : fl.substr(0, colon);
    if (colon != std::string::npos) {
      try {
        loc.line = std::stol(fl.substr(colon + 1));
      } catch (...) {
        loc.line = 0;  // "?"
      }
    }
    out.push_back(loc);
  }
  return out;
}

// ---- gdb oracle -----------------------------------------------------------

namespace {

// One gdb run with `watch -l EXPR`; SOFTWARE makes gdb single-step instead of
// using debug registers.
WatchResult gdb_watch_once(const fs::path& prog, const std::vector<std::string>& args,
                           const std::string& expr, bool software) {
  TempDir tmp;
  const std::string script =
      "set pagination off\n"
      "set confirm off\n"
      "set width 0\n"
      "set print thread-events off\n" +
      std::string(software ? "set can-use-hw-watchpoints 0\n" : "") +
      "watch -l " + expr + "\n"
      "commands\n"
      "silent\n"
      "printf \"OMNI_WATCH_VALUE \"\n"
      "output " + expr + "\n"
      "printf \"\\n\"\n"
      "printf \"OMNI_WATCH_WHERE \"\n"
      "info symbol $pc\n"
      "continue\n"
      "end\n"
      // The program's own output goes to a file: on gdb's stdout it could
      // interleave with (and break) the marker lines above.
      "run > " + (tmp / "inferior.out").string() + " 2>&1\n";
  write_file(tmp / "watch.gdb", script);
  std::vector<std::string> argv = {"gdb", "-batch", "-nx", "-x", (tmp / "watch.gdb").string(),
                                   "--args", prog.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  WatchResult w;
  // Software watchpoints single-step the whole program: give them more room.
  w.raw = run(argv, timeout(software ? 600 : 120));
  if (w.raw.status != 0) throw std::runtime_error("gdb failed: " + w.raw.describe());
  w.inferior_out = read_file(tmp / "inferior.out");
  w.hardware = w.raw.out.find("Hardware watchpoint") != std::string::npos;
  std::optional<std::string> pending;  // a value waiting for its location line
  for (const auto& line : split_lines(w.raw.out)) {
    static const std::string kv_ = "OMNI_WATCH_VALUE ", kw = "OMNI_WATCH_WHERE ";
    if (auto at = line.find(kv_); at != std::string::npos) {
      if (pending) throw std::runtime_error("gdb oracle: value without location:\n" + w.raw.out);
      pending = line.substr(at + kv_.size());
    } else if (auto at2 = line.find(kw); at2 != std::string::npos) {
      if (!pending) throw std::runtime_error("gdb oracle: location without value:\n" + w.raw.out);
      std::string where = line.substr(at2 + kw.size());
      // "accumulate + 130 in section .text [of /path]" or "main in section .text"
      if (auto s = where.find(" in section "); s != std::string::npos) where.resize(s);
      if (auto plus = where.find(" + "); plus != std::string::npos) where.resize(plus);
      if (where.rfind("No symbol matches", 0) == 0) where = "??";
      w.hits.push_back({*pending, where});
      pending.reset();
    }
  }
  if (pending) throw std::runtime_error("gdb oracle: dangling value:\n" + w.raw.out);
  return w;
}

}  // namespace

WatchResult gdb_watch(const fs::path& prog, const std::vector<std::string>& args,
                      const std::string& expr) {
  WatchResult w = gdb_watch_once(prog, args, expr, /*software=*/false);
  // On some machines (AMD-based VMs) gdb sets a hardware watchpoint that never
  // fires: the program runs to its end without a single stop. Software
  // watchpoints have the same value-change semantics, so ask again with them.
  if (w.hardware && w.hits.empty()) {
    w = gdb_watch_once(prog, args, expr, /*software=*/true);
    w.hardware_never_fired = true;
  }
  return w;
}

// ---- omni output ----------------------------------------------------------

std::vector<Write> parse_writes(std::string_view query_stdout) {
  std::vector<Write> out;
  std::size_t lineno = 0;
  for (const auto& line : split_lines(query_stdout)) {
    ++lineno;
    auto bad = [&](const std::string& why) {
      throw std::runtime_error("query output line " + std::to_string(lineno) + ": " + why +
                               ": " + line.substr(0, 400));
    };
    Object o;
    try {
      o = parse_json_object(line);
    } catch (const std::exception& e) {
      bad(e.what());
    }
    static const char* keys[] = {"time", "tid", "pc", "function", "file",
                                 "line", "addr", "size", "data"};
    for (const char* k : keys)
      if (!o.count(k)) bad(std::string("missing key \"") + k + "\"");
    Write w;
    if (!o["time"].is_int() || o["time"].i < 0) bad("time is not a non-negative integer");
    w.time = static_cast<std::uint64_t>(o["time"].i);
    if (!o["tid"].is_int()) bad("tid is not an integer");
    w.tid = o["tid"].i;
    try {
      if (!o["pc"].is_string()) bad("pc is not a string");
      w.pc = parse_address(o["pc"].s);
      if (!o["addr"].is_string()) bad("addr is not a string");
      w.addr = parse_address(o["addr"].s);
    } catch (const std::runtime_error& e) {
      if (std::string(e.what()).rfind("query output", 0) == 0) throw;
      bad(e.what());
    }
    for (const char* k : {"function", "file"}) {
      const Value& v = o[k];
      if (!v.is_null() && !v.is_string()) bad(std::string(k) + " is neither string nor null");
    }
    if (o["function"].is_string()) w.function = o["function"].s;
    if (o["file"].is_string()) w.file = o["file"].s;
    if (!o["line"].is_null() && !o["line"].is_int()) bad("line is neither integer nor null");
    if (o["line"].is_int()) w.line = static_cast<long>(o["line"].i);
    if (!o["size"].is_int() || o["size"].i <= 0) bad("size is not a positive integer");
    w.size = static_cast<std::uint64_t>(o["size"].i);
    if (!o["data"].is_string()) bad("data is not a string");
    try {
      w.data = from_hex(o["data"].s);
    } catch (const std::exception& e) {
      bad(e.what());
    }
    if (w.data.size() != w.size) bad("data has " + std::to_string(w.data.size()) +
                                     " bytes but size is " + std::to_string(w.size));
    out.push_back(std::move(w));
  }
  return out;
}

std::vector<std::uint8_t> apply_writes(const std::vector<Write>& writes, std::uint64_t base,
                                       std::size_t len, std::vector<std::uint8_t> initial) {
  std::vector<std::uint8_t> img = initial.empty() ? std::vector<std::uint8_t>(len, 0) : initial;
  img.resize(len, 0);
  for (const auto& w : writes) {
    for (std::size_t k = 0; k < w.data.size(); ++k) {
      std::uint64_t a = w.addr + k;
      if (a >= base && a < base + len) img[a - base] = w.data[k];
    }
  }
  return img;
}

// ---- misc -----------------------------------------------------------------

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + p.string());
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("write failed: " + p.string());
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      lines.emplace_back(text.substr(start));
      break;
    }
    lines.emplace_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::vector<std::string> kv_all(std::string_view text, std::string_view key) {
  std::vector<std::string> vals;
  std::string k = std::string(key) + "=";
  std::size_t p = 0;
  while ((p = text.find(k, p)) != std::string_view::npos) {
    bool at_token_start = p == 0 || text[p - 1] == ' ' || text[p - 1] == '\n' || text[p - 1] == '\t';
    std::size_t v = p + k.size();
    if (at_token_start) {
      std::size_t e = text.find_first_of(" \t\n", v);
      vals.emplace_back(text.substr(v, e == std::string_view::npos ? std::string_view::npos : e - v));
    }
    p = v;
  }
  return vals;
}

std::optional<std::string> kv(std::string_view text, std::string_view key) {
  auto all = kv_all(text, key);
  if (all.empty()) return std::nullopt;
  return all.front();
}

std::string zstd_frame(const std::string& raw) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  std::size_t n = ZSTD_compress2(cctx, out.data(), out.size(), raw.data(), raw.size());
  ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(n)) throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

}  // namespace omni::test
