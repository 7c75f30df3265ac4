// A full disk (issue 8, item 12): `omni index` and `omni record` on a
// filesystem that fills up say so in one line, leave no half-built index
// behind (so that later errors do not blame an interrupted index), and keep
// the frames a recording had written. The full disk is real: a small tmpfs
// mounted in a private mount namespace (`unshare -m`); where this machine
// does not allow that (no privileges), the test says so and checks nothing.
#include <doctest/doctest.h>

#include <fstream>

#include "omni_fixture.h"

namespace omni::test {

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs `script` (sh) in a private mount namespace where `mount` is a tmpfs
// of `kib` KiB; false when namespaces or tmpfs mounts are not allowed here.
bool run_on_small_disk(const fs::path& mount, uint64_t kib, const std::string& script, RunResult& out) {
  fs::create_directories(mount);
  std::string body = "mount -t tmpfs -o size=" + std::to_string(kib) + "k,mode=0700 tmpfs '" + mount.string() +
                     "' 2>/dev/null || exit 77\n" + script;
  out = run({"unshare", "-m", "sh", "-c", body});
  if (out.status == 77 || (out.status != 0 && out.err.find("unshare") != std::string::npos)) {
    MESSAGE("skipped: this machine does not allow a private tmpfs mount (unshare -m): " << out.err);
    return false;
  }
  return true;
}

bool one_line_error(const std::string& err) {
  return err.rfind("omni: error: ", 0) == 0 && err.find('\n') == err.size() - 1;
}

}  // namespace

TEST_CASE("full disk: omni index fails in one line, leaves no index.db.tmp, and later errors say there is no index") {
  Recording r = record("hot_calls", {"20000"}, 0, false);
  TempDir tmp;
  fs::path mount = tmp / "small";
  uint64_t trace_kib = fs::file_size(r.dir / "trace.omni") / 1024;
  // Room for the trace and a few pages of index, not for the whole index.
  std::string omni = bin("omni").string(), t = (mount / "t").string(), report = tmp.path().string();
  std::string script = "cp -a '" + r.dir.string() + "' '" + t + "' || exit 3\n'" + omni + "' index '" + t + "' 2>'" +
                       report + "/index.err'; echo $? > '" + report + "/index.rc'\nls -a '" + t + "' > '" + report +
                       "/ls'\n'" + omni + "' query '" + t + "' --output 2>'" + report + "/query.err' >/dev/null\ntrue\n";
  RunResult ns;
  if (!run_on_small_disk(mount, trace_kib + 96, script, ns)) return;
  INFO("namespace: ", ns.describe());
  REQUIRE(ns.status == 0);
  std::string err = slurp(tmp / "index.err");
  INFO("omni index: ", err);
  CHECK(slurp(tmp / "index.rc") == "1\n");
  CHECK(one_line_error(err));
  CHECK(err.find("full") != std::string::npos);
  std::string listing = slurp(tmp / "ls");
  CHECK(listing.find("index.db") == std::string::npos);  // neither index.db nor index.db.tmp
  CHECK(listing.find("trace.omni") != std::string::npos);
  std::string later = slurp(tmp / "query.err");
  INFO("later query: ", later);
  CHECK(one_line_error(later));
  CHECK(later.find("has no index yet") != std::string::npos);
  CHECK(later.find("interrupted") == std::string::npos);
}

TEST_CASE("full disk: omni record fails in one line and keeps the frames written, which index as cut short") {
  TempDir tmp;
  fs::path mount = tmp / "small";
  std::string omni = bin("omni").string(), t = (mount / "t").string(), report = tmp.path().string();
  // ~2 M calls: far more stream than 256 KiB holds.
  std::string script = "'" + omni + "' record -o '" + t + "' '" + subject("hot_calls").string() + "' 2000000 >/dev/null 2>'" +
                       report + "/record.err'; echo $? > '" + report + "/record.rc'\ncp '" + t + "/trace.omni' '" +
                       report + "/trace.omni'\n'" + omni + "' dump '" + t + "' > '" + report + "/dump' 2>&1\ntrue\n";
  RunResult ns;
  if (!run_on_small_disk(mount, 256, script, ns)) return;
  INFO("namespace: ", ns.describe());
  REQUIRE(ns.status == 0);
  std::string err = slurp(tmp / "record.err");
  INFO("omni record: ", err);
  CHECK(slurp(tmp / "record.rc") == "1\n");
  CHECK(one_line_error(err));
  CHECK(err.find("No space left on device") != std::string::npos);
  CHECK(slurp(tmp / "dump").find("INCOMPLETE") != std::string::npos);
  // What was written indexes, as a recording cut short.
  fs::path copy = tmp / "copy";
  fs::create_directories(copy);
  fs::permissions(copy, fs::perms::owner_all, fs::perm_options::replace);
  fs::copy_file(tmp / "trace.omni", copy / "trace.omni");
  RunResult ix = run_omni({"index", copy.string()});
  INFO("omni index of the kept frames: ", ix.describe());
  CHECK(ix.status == 0);
  CHECK(ix.err.find("cut short") != std::string::npos);
}

}  // namespace omni::test
