#include <fmt/format.h>

#include <chrono>
#include <ostream>

#include "commands.h"
#include "omni/base/error.h"
#include "omni/base/paths.h"
#include "omni/index/reader.h"
#include "omni/query/json.h"
#include "omni/query/query.h"
#include "omni/replay/verify.h"

namespace omni::cli {

namespace {

struct VerifyArgs {
  std::string trace_dir;
  uint64_t sample = 0;
  bool json = false;
};

// 56789012 -> "56,789,012"
std::string grouped(uint64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

const char* kind_name(replay::Divergence::Kind k) {
  switch (k) {
    case replay::Divergence::Kind::Register: return "register";
    case replay::Divergence::Kind::Write: return "write";
    case replay::Divergence::Kind::Missing: return "missing-write";
    case replay::Divergence::Kind::Extra: return "extra-write";
    case replay::Divergence::Kind::Replay: return "replay";
  }
  return "?";
}

std::string describe(const replay::Divergence& d) {
  switch (d.kind) {
    case replay::Divergence::Kind::Register:
    case replay::Divergence::Kind::Write: return fmt::format("{} expected {} got {}", d.what, d.expected, d.got);
    case replay::Divergence::Kind::Missing:
      return fmt::format("the recording has a {} of {} that replay did not make", d.what, d.expected);
    case replay::Divergence::Kind::Extra:
      return fmt::format("replay made a {} of {} that the recording does not have", d.what, d.got);
    case replay::Divergence::Kind::Replay: return "replay could not go on: " + d.what;
  }
  return d.what;
}

}  // namespace

int run_verify(const std::string& trace_dir, uint64_t sample, bool json, Io& io) {
  replay::VerifyOptions options;
  options.trace_dir = trace_dir;
  options.sample = sample;
  bool shown = false;
  auto progress = [&](const replay::VerifyProgress& p) {
    if (!io.err_is_terminal || !p.intervals_total) return;
    shown = true;
    io.err << fmt::format("\romni: verifying {:5.1f}%  {}/{} intervals, {} instructions",
                          100.0 * p.intervals_done / p.intervals_total, p.intervals_done, p.intervals_total,
                          grouped(p.instructions))
           << std::flush;
  };
  replay::VerifyResult r = replay::verify(options, progress);
  if (shown) io.err << '\n';

  std::optional<symbols::Location> where;
  if (r.divergence) {
    index::IndexReader reader(trace_dir);
    query::RecordingSymbols symbols(reader);
    where = symbols.locate(r.divergence->pc, r.divergence->time);
  }
  if (json) {
    std::string line;
    query::JsonObject o(line);
    o.field("verified", !r.divergence).field("intervals", r.intervals).field("intervals_total", r.intervals_total);
    o.field("states", r.states).field("signal_states", r.signal_states).field("instructions", r.instructions).field("writes", r.writes).field("helper_writes", r.helper_writes);
    o.field("threads", r.threads).field("workers", r.workers);
    if (!r.divergence) {
      o.null("divergence");
    } else {
      const replay::Divergence& d = *r.divergence;
      std::string div;
      query::JsonObject j(div);
      j.field("kind", kind_name(d.kind)).field("time", d.time).field("tid", d.tid).field("pc", query::hex_address(d.pc));
      query::location_fields(j, where ? &*where : nullptr);
      j.field("from", d.from).field("what", d.what).field("expected", d.expected).field("got", d.got);
      j.field("message", describe(d));
      j.close();
      o.raw("divergence", div);
    }
    o.close();
    io.out << line << '\n';
  }
  if (r.divergence) {
    const replay::Divergence& d = *r.divergence;
    std::string at;
    if (where && !where->function.empty()) {
      at = " (" + where->function;
      if (!where->file.empty()) at += fmt::format(" {}:{}", where->file, where->line);
      at += ")";
    }
    fail("divergence at time {}, thread {}, pc {:#x}{}: {} (replayed from the snapshot at {})", d.time, d.tid, d.pc,
         at, describe(d), d.from);
  }
  auto count = [](uint64_t n, const char* one, const char* many) {
    return fmt::format("{} {}", grouped(n), n == 1 ? one : many);
  };
  std::string what = r.intervals == r.intervals_total
                         ? count(r.intervals, "interval", "intervals")
                         : fmt::format("{} of {}", grouped(r.intervals), count(r.intervals_total, "interval", "intervals"));
  io.err << fmt::format("omni: verified {} ({}, {}, {}; {}, {}): replay matches the recording\n", what,
                        count(r.instructions, "instruction", "instructions"),
                        count(r.states, "register state", "register states"), count(r.writes, "write", "writes") +
                            (r.helper_writes ? fmt::format(" (and {} by helpers, taken from the recording)", grouped(r.helper_writes)) : ""),
                        count(r.threads, "thread", "threads"), count(r.workers, "worker", "workers"));
  return 0;
}

Action register_verify(CLI::App& app) {
  auto args = std::make_shared<VerifyArgs>();
  app.description(
      "Self-check: re-execute the recording from every register snapshot to the thread's next one and\n"
      "compare the guest state reached, and every memory write made on the way, with the recording.\n"
      "Reports the first divergence and exits 1; exits 0 when everything agrees.");
  app.add_option("trace_dir", args->trace_dir, "Trace directory (default: the latest recording)");
  app.add_option("--sample", args->sample, "Check only N snapshot intervals, evenly spread")
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", args->json, "One JSON object on stdout (also on a divergence)");
  return [args](Io& io) { return run_verify(resolve_trace_dir(args->trace_dir), args->sample, args->json, io); };
}

}  // namespace omni::cli
