#include "omni/gdbserver/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "omni/base/error.h"
#include "omni/gdbserver/connection.h"
#include "omni/gdbserver/timeline.h"
#include "omni/query/session.h"

namespace omni::gdbserver {

namespace {

// The registers gdb is told of (target.xml), in its numbering: what each
// is in VEX's guest state, or unavailable (reported as 'x's).
enum class Source { Gpr, Rip, Eflags, Xmm, YmmHigh, FsBase, None };
struct Reg {
  const char* name;
  int bits;
  const char* type;
  const char* feature;
  Source source;
  int index;  // Gpr or xmm number
};

// gdb's amd64 order (64bit-core.xml, 64bit-sse.xml, 64bit-linux.xml,
// 64bit-segments.xml, 64bit-avx.xml).
const std::vector<Reg>& registers() {
  static const std::vector<Reg> regs = [] {
    using replay::Gpr;
    std::vector<Reg> r;
    const char* core = "org.gnu.gdb.i386.core";
    const std::pair<const char*, Gpr> gprs[] = {
        {"rax", Gpr::Rax}, {"rbx", Gpr::Rbx}, {"rcx", Gpr::Rcx}, {"rdx", Gpr::Rdx}, {"rsi", Gpr::Rsi},
        {"rdi", Gpr::Rdi}, {"rbp", Gpr::Rbp}, {"rsp", Gpr::Rsp}, {"r8", Gpr::R8},   {"r9", Gpr::R9},
        {"r10", Gpr::R10}, {"r11", Gpr::R11}, {"r12", Gpr::R12}, {"r13", Gpr::R13}, {"r14", Gpr::R14},
        {"r15", Gpr::R15}};
    for (const auto& [name, gpr] : gprs) {
      bool ptr = gpr == Gpr::Rbp || gpr == Gpr::Rsp;
      r.push_back({name, 64, ptr ? "data_ptr" : "int64", core, Source::Gpr, int(gpr)});
    }
    r.push_back({"rip", 64, "code_ptr", core, Source::Rip, 0});
    r.push_back({"eflags", 32, "int32", core, Source::Eflags, 0});
    for (const char* s : {"cs", "ss", "ds", "es", "fs", "gs"}) r.push_back({s, 32, "int32", core, Source::None, 0});
    static const char* const st[] = {"st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7"};
    for (const char* s : st) r.push_back({s, 80, "i387_ext", core, Source::None, 0});
    for (const char* s : {"fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"})
      r.push_back({s, 32, "int", core, Source::None, 0});
    static const char* const xmm[] = {"xmm0", "xmm1", "xmm2",  "xmm3",  "xmm4",  "xmm5",  "xmm6",  "xmm7",
                                      "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"};
    for (int i = 0; i < 16; ++i) r.push_back({xmm[i], 128, "vec128", "org.gnu.gdb.i386.sse", Source::Xmm, i});
    r.push_back({"mxcsr", 32, "int", "org.gnu.gdb.i386.sse", Source::None, 0});
    r.push_back({"orig_rax", 64, "int", "org.gnu.gdb.i386.linux", Source::None, 0});
    r.push_back({"fs_base", 64, "int", "org.gnu.gdb.i386.segments", Source::FsBase, 0});
    r.push_back({"gs_base", 64, "int", "org.gnu.gdb.i386.segments", Source::None, 0});
    // The upper halves of ymm0-15 (gdb shows $ymm0 as xmm0 and ymm0h).
    static const char* const ymmh[] = {"ymm0h", "ymm1h", "ymm2h",  "ymm3h",  "ymm4h",  "ymm5h",  "ymm6h",  "ymm7h",
                                       "ymm8h", "ymm9h", "ymm10h", "ymm11h", "ymm12h", "ymm13h", "ymm14h", "ymm15h"};
    for (int i = 0; i < 16; ++i) r.push_back({ymmh[i], 128, "uint128", "org.gnu.gdb.i386.avx", Source::YmmHigh, i});
    return r;
  }();
  return regs;
}

std::string target_xml() {
  std::string xml =
      "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\"><target version=\"1.0\">"
      "<architecture>i386:x86-64</architecture><osabi>GNU/Linux</osabi>";
  std::string feature;
  for (const Reg& r : registers()) {
    if (feature != r.feature) {
      if (!feature.empty()) xml += "</feature>";
      feature = r.feature;
      xml += fmt::format("<feature name=\"{}\">", feature);
      if (feature == "org.gnu.gdb.i386.sse")
        xml +=
            "<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/><vector id=\"v2d\" type=\"ieee_double\" "
            "count=\"2\"/><vector id=\"v16i8\" type=\"int8\" count=\"16\"/><vector id=\"v8i16\" type=\"int16\" "
            "count=\"8\"/><vector id=\"v4i32\" type=\"int32\" count=\"4\"/><vector id=\"v2i64\" type=\"int64\" "
            "count=\"2\"/><union id=\"vec128\"><field name=\"v4_float\" type=\"v4f\"/><field name=\"v2_double\" "
            "type=\"v2d\"/><field name=\"v16_int8\" type=\"v16i8\"/><field name=\"v8_int16\" type=\"v8i16\"/>"
            "<field name=\"v4_int32\" type=\"v4i32\"/><field name=\"v2_int64\" type=\"v2i64\"/><field "
            "name=\"uint128\" type=\"uint128\"/></union>";
    }
    xml += fmt::format("<reg name=\"{}\" bitsize=\"{}\" type=\"{}\"/>", r.name, r.bits, r.type);
  }
  xml += "</feature></target>";
  return xml;
}

std::string hex_bytes(const uint8_t* p, size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) out += fmt::format("{:02x}", p[i]);
  return out;
}

std::string hex_text(const std::string& s) { return hex_bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

std::string register_hex(const Reg& r, const replay::Registers& regs) {
  size_t bytes = size_t(r.bits) / 8;
  uint64_t v = 0;
  switch (r.source) {
    case Source::Gpr: v = regs.u64(replay::gpr_offset(r.index)); break;
    case Source::Rip: v = regs.rip(); break;
    case Source::Eflags: v = regs.rflags(); break;
    case Source::FsBase: v = regs.u64(replay::fs_base_offset()); break;
    case Source::Xmm: return hex_bytes(regs.state.data() + replay::xmm_offset(r.index), 16);
    case Source::YmmHigh: return hex_bytes(regs.state.data() + replay::xmm_offset(r.index) + 16, 16);
    case Source::None: return std::string(2 * bytes, 'x');
  }
  return hex_bytes(reinterpret_cast<const uint8_t*>(&v), bytes);
}

std::optional<uint64_t> parse_hex(std::string_view s) {
  uint64_t v = 0;
  auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (s.empty() || error != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// "A,B" in hex, as `m`, `Z2` and `qXfer` carry an address (offset) and a
// length; nullopt unless both are there.
std::optional<std::pair<uint64_t, uint64_t>> parse_hex_pair(std::string_view s) {
  size_t comma = s.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  auto a = parse_hex(s.substr(0, comma)), b = parse_hex(s.substr(comma + 1));
  if (!a || !b) return std::nullopt;
  return std::make_pair(*a, *b);
}

// A `qXfer:...:read:ANNEX:OFFSET,LENGTH` answer: "m" + a piece, or "l" + the last.
std::string xfer(const std::string& data, std::string_view range) {
  auto r = parse_hex_pair(range);
  if (!r) return "E01";
  auto [offset, length] = *r;
  if (offset >= data.size()) return "l";
  std::string piece = data.substr(size_t(offset), size_t(length));
  return (offset + piece.size() >= data.size() ? "l" : "m") + piece;
}

constexpr const char* kNoSignals = "E.omni: a recording cannot be sent a signal (it would change what was recorded)";

class Server {
 public:
  Server(Connection& conn, query::Session& session, uint64_t start) : conn_(conn), session_(session), timeline_(session) {
    timeline_.seek(start);
  }

  void run() {
    while (std::optional<std::string> packet = conn_.read_packet()) {
      if (*packet == "\x03") continue;  // nothing runs: every stop is immediate
      std::string reply;
      bool done = false;
      try {
        reply = dispatch(*packet, done);
      } catch (const Error& e) {
        // gdb shows an E.errtext reply's text as the command's error.
        reply = "E." + std::string(e.what());
      } catch (const std::exception& e) {
        // A packet this server could not take (gdb's input is untrusted):
        // an error reply, not the end of the session.
        reply = "E.omni: cannot answer this packet: " + std::string(e.what());
      }
      conn_.send(reply);
      if (packet->rfind("QStartNoAckMode", 0) == 0) conn_.stop_acks();
      if (done) return;
    }
  }

 private:
  uint32_t selected() {
    if (selected_ && *selected_ > 0) return *selected_;
    return timeline_.tid();
  }

  std::string stop_reply(const Stop& stop) {
    std::string why;
    if (stop.why == Stop::Why::Breakpoint) why = "swbreak:;";
    else if (stop.why == Stop::Why::Watch) why = fmt::format("watch:{:x};", stop.watch_addr);
    else if (stop.why == Stop::Why::Begin) why = "replaylog:begin;";
    else if (stop.why == Stop::Why::End) why = "replaylog:end;";
    selected_.reset();
    return fmt::format("T05thread:{:x};{}", stop.tid, why);
  }

  std::string resume(bool forward, bool step, std::optional<uint32_t> tid = std::nullopt) {
    Stop stop = timeline_.resume(forward, step, tid);
    if (stop.why == Stop::Why::End) {
      // gdb says "No more reverse-execution history."; how the program ended
      // is omni's to say (the recording stays open for reverse execution).
      index::IndexReader& reader = session_.reader();
      std::string how = reader.meta_int("signal")      ? fmt::format("was killed by signal {}", *reader.meta_int("signal"))
                        : reader.meta_int("exit_code") ? fmt::format("exited with code {}", *reader.meta_int("exit_code"))
                                                       : std::string("was still running when the recording ended");
      say(fmt::format("omni: the end of the recording: the program {}\n", how));
    } else if (stop.why == Stop::Why::Begin) {
      say("omni: the start of the recording\n");
    }
    return stop_reply(stop);
  }

  std::string read_memory(std::string_view args) {
    auto r = parse_hex_pair(args);
    if (!r || r->second > 65536) return "E01";
    auto [addr, len] = *r;
    replay::MemoryImage image = timeline_.memory(addr, len);
    if (!image.file_missing.empty()) return "E05";
    size_t n = 0;
    while (n < image.bytes.size() && image.mapped[n] && (image.unknown.empty() || !image.unknown[n])) ++n;
    if (n == 0 && len > 0) return "E0e";  // EFAULT: unmapped, or not known at this time
    return hex_bytes(image.bytes.data(), n);
  }

  // The auxiliary vector the program started with, from its initial stack
  // at time 0 (after argc, argv and the environment): gdb relocates a PIE
  // and finds the dynamic linker's list of libraries by it.
  std::string auxv() {
    if (auxv_) return *auxv_;
    const replay::Registers& regs = session_.replayer().registers_at(0, std::nullopt);
    replay::MemoryReader& memory = session_.memory();
    auto word = [&](uint64_t addr) {
      replay::MemoryImage m = memory.read(addr, 8, 0);
      for (size_t i = 0; i < 8; ++i)
        if (!m.mapped[i] || (!m.unknown.empty() && m.unknown[i]))
          fail("the program's initial stack is not in the recording at {:#x}", addr);
      uint64_t v;
      std::memcpy(&v, m.bytes.data(), 8);
      return v;
    };
    uint64_t at = regs.rsp();
    uint64_t argc = word(at);
    if (argc > (1u << 20)) fail("the program's initial stack is not one (argc {})", argc);
    at += 8 * (argc + 2);                            // argc, argv[], NULL
    for (int n = 0; word(at) != 0; ++n, at += 8)     // envp[]
      if (n > (1 << 20)) fail("the program's environment has no end");
    at += 8;
    std::string out;
    for (int n = 0;; ++n, at += 16) {
      uint64_t type = word(at), value = word(at + 8);
      out.append(reinterpret_cast<const char*>(&type), 8).append(reinterpret_cast<const char*>(&value), 8);
      if (type == 0) break;
      if (n > 512) fail("the program's auxiliary vector has no end");
    }
    auxv_ = out;
    return out;
  }

  // gdb prints each "O" packet's text as the command's output.
  void say(const std::string& text) { conn_.send("O" + hex_text(text)); }

  std::string monitor(const std::string& command) {
    if (command == "when") {
      say(fmt::format("time {} (instructions retired), thread {}, of {}\n", timeline_.time(), timeline_.tid(),
                      timeline_.end()));
      return "OK";
    }
    if (command.rfind("goto ", 0) == 0) {
      // gdb does not know that the target moved: its registers and frames
      // must be read again.
      timeline_.seek(session_.moment(command.substr(5)));
      selected_.reset();
      say(fmt::format("time {}, thread {}; now run `maintenance flush register-cache` and `sharedlibrary` so that "
                      "gdb reads the new state and libraries\n",
                      timeline_.time(), timeline_.tid()));
      return "OK";
    }
    if (command == "output") {
      // What the program had written to stdout/stderr by now.
      std::string text;
      for (const index::OutputRow& row : session_.reader().output())
        if (row.time <= timeline_.time()) text.append(row.data.begin(), row.data.end());
      say(text.empty() ? std::string("(no output yet)\n") : text);
      return "OK";
    }
    say(fmt::format("omni: unknown monitor command '{}'; known: when, goto WHEN (a time, end, output:N, "
                    "output~TEXT), output\n",
                    command));
    return "OK";
  }

  std::string dispatch(const std::string& p, bool& done) {
    if (p.rfind("qSupported", 0) == 0)
      return "PacketSize=20000;QStartNoAckMode+;qXfer:features:read+;qXfer:exec-file:read+;qXfer:auxv:read+;"
             "ReverseContinue+;"
             "ReverseStep+;swbreak+;vContSupported+";
    if (p == "QStartNoAckMode") return "OK";
    if (p == "vMustReplyEmpty") return "";
    if (p.rfind("qXfer:features:read:target.xml:", 0) == 0)
      return xfer(target_xml(), std::string_view(p).substr(strlen("qXfer:features:read:target.xml:")));
    if (p.rfind("qXfer:exec-file:read:", 0) == 0) {
      std::string_view rest = std::string_view(p).substr(strlen("qXfer:exec-file:read:"));
      std::vector<index::ObjectRow> objects = session_.reader().objects();
      if (objects.empty()) return "E01";
      return xfer(objects.front().path, rest.substr(rest.find(':') + 1));
    }
    if (p.rfind("qXfer:auxv:read::", 0) == 0) return xfer(auxv(), std::string_view(p).substr(strlen("qXfer:auxv:read::")));
    if (p == "?") return stop_reply({Stop::Why::Step, timeline_.time(), timeline_.tid()});
    if (p == "qAttached") return "1";
    if (p == "qC") return fmt::format("QC{:x}", timeline_.tid());
    if (p == "qfThreadInfo") {
      std::string out = "m";
      for (uint32_t tid : timeline_.threads()) out += fmt::format("{}{:x}", out.size() > 1 ? "," : "", tid);
      return out;
    }
    if (p == "qsThreadInfo") return "l";
    if (p.rfind("qSymbol", 0) == 0) return "OK";
    if (p.rfind("Hg", 0) == 0 || p.rfind("Hc", 0) == 0) {
      std::string_view id = std::string_view(p).substr(2);
      std::optional<uint32_t> which;
      if (id != "0" && id != "-1") {
        auto t = parse_hex(id);
        if (!t) return "E01";
        which = uint32_t(*t);
      }
      if (p[1] == 'g') selected_ = which;
      else step_thread_ = which;
      return "OK";
    }
    if (p[0] == 'T') {
      auto t = parse_hex(std::string_view(p).substr(1));
      std::vector<uint32_t> alive = timeline_.threads();
      return t && std::find(alive.begin(), alive.end(), uint32_t(*t)) != alive.end() ? "OK" : "E01";
    }
    if (p == "g") {
      const replay::Registers& regs = timeline_.registers(selected());
      std::string out;
      for (const Reg& r : registers()) out += register_hex(r, regs);
      return out;
    }
    if (p[0] == 'p') {
      auto n = parse_hex(std::string_view(p).substr(1));
      if (!n || *n >= registers().size()) return "E01";
      return register_hex(registers()[*n], timeline_.registers(selected()));
    }
    if (p[0] == 'm') return read_memory(std::string_view(p).substr(1));
    if (p[0] == 'G' || p[0] == 'P' || p[0] == 'M' || p[0] == 'X')
      return "E.omni: a recording cannot be changed (registers and memory are read-only)";
    if (p.rfind("Z0,", 0) == 0 || p.rfind("Z1,", 0) == 0 || p.rfind("z0,", 0) == 0 || p.rfind("z1,", 0) == 0) {
      std::string_view rest = std::string_view(p).substr(3);
      auto addr = parse_hex(rest.substr(0, rest.find(',')));
      if (!addr) return "E01";
      if (p[0] == 'Z') timeline_.insert_breakpoint(*addr);
      else timeline_.remove_breakpoint(*addr);
      return "OK";
    }
    if (p.rfind("Z2,", 0) == 0 || p.rfind("z2,", 0) == 0) {
      auto r = parse_hex_pair(std::string_view(p).substr(3));
      if (!r) return "E01";
      if (p[0] == 'Z') timeline_.insert_watchpoint(r->first, r->second);
      else timeline_.remove_watchpoint(r->first, r->second);
      return "OK";
    }
    if (p == "vCont?") return "vCont;c;C;s;S";
    if (p.rfind("vCont;", 0) == 0) {
      // A step of one thread wins over a continue of the others ("vCont;s:2;c").
      std::string_view actions = std::string_view(p).substr(6);
      std::optional<uint32_t> step_tid;
      bool step = false;
      for (size_t at = 0; at < actions.size();) {
        size_t semi = actions.find(';', at);
        std::string_view action = actions.substr(at, semi == std::string_view::npos ? actions.npos : semi - at);
        // A signal to deliver (gdb's `signal SIG`, `queue-signal`) would
        // change what the recording holds.
        if (!action.empty() && (action[0] == 'C' || action[0] == 'S') && action.substr(1, 2) != "00")
          return kNoSignals;
        if (!action.empty() && (action[0] == 's' || action[0] == 'S')) {
          step = true;
          size_t colon = action.find(':');
          if (colon != std::string_view::npos)
            if (auto t = parse_hex(action.substr(colon + 1)); t && *t > 0) step_tid = uint32_t(*t);
        } else if (action.empty() || (action[0] != 'c' && action[0] != 'C')) {
          return "E01";
        }
        if (semi == std::string_view::npos) break;
        at = semi + 1;
      }
      return resume(true, step, step_tid);
    }
    if ((p[0] == 'C' || p[0] == 'S') && p.substr(1, 2) != "00") return kNoSignals;
    if (p[0] == 'c' || p[0] == 'C') return resume(true, false);
    if (p[0] == 's' || p[0] == 'S') return resume(true, true, step_thread_);
    if (p == "bc") return resume(false, false);
    if (p == "bs") return resume(false, true, step_thread_);
    if (p.rfind("qRcmd,", 0) == 0) {
      std::string hex = p.substr(6), command;
      for (size_t i = 0; i + 1 < hex.size(); i += 2) {
        auto b = parse_hex(std::string_view(hex).substr(i, 2));
        if (!b) return "E01";
        command += char(*b);
      }
      return monitor(command);
    }
    if (p == "k" || p.rfind("vKill", 0) == 0 || p[0] == 'D') {
      done = true;
      return "OK";
    }
    return "";  // not supported: gdb does without
  }

  Connection& conn_;
  query::Session& session_;
  Timeline timeline_;
  std::optional<uint32_t> selected_;  // Hg's thread, until the next stop
  std::optional<uint32_t> step_thread_;  // Hc's: the thread s and bs step
  std::optional<std::string> auxv_;
};

}  // namespace

Listener::Listener(const std::string& host, uint16_t port) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail_errno("cannot create a socket");
  int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    ::close(fd_);
    fail("'{}' is not an IPv4 address (give HOST:PORT, e.g. 127.0.0.1:2345)", host);
  }
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 1) != 0) {
    int err = errno;
    ::close(fd_);
    errno = err;
    fail_errno(fmt::format("cannot listen on {}:{}", host, port));
  }
  socklen_t len = sizeof addr;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  address_ = fmt::format("{}:{}", host, ntohs(addr.sin_port));
}

Listener::~Listener() { ::close(fd_); }

void Listener::close() { shutdown(fd_, SHUT_RDWR); }

int Listener::accept_one() {
  int fd;
  do fd = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0 && (errno == EINVAL || errno == EBADF)) return -1;  // closed
  if (fd < 0) fail_errno("accepting gdb's connection");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void serve(Listener& listener, query::Session& session, uint64_t start) {
  int fd = listener.accept_one();
  if (fd < 0) return;
  Connection conn(fd);
  Server server(conn, session, start);
  server.run();
}

}  // namespace omni::gdbserver
