// Op attribution (issue 17): each allocation carries its thread's innermost scope, through
// threads, nesting, refused names, fork, and into the daemon's per-op view — with the real
// libttmem in a real client process (tests/scope_client.cc) and the real daemon.
#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "tests/harness.h"

namespace ttmem::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
constexpr uint64_t kMiB = 1ull << 20;

// tests/scope_client.cc against `daemon`, once it has flushed everything (pid 0 when it did not).
struct ScopeClient {
  Child child;
  int pid = 0, child_pid = 0;
};
ScopeClient StartScopeClient(const Daemon& daemon) {
  ScopeClient sc;
  sc.child = Spawn({BinDir() + "/ttmem_scope_client"},
                   {{"TT_ALLOC_TRACKING_ENABLED", "1"}, {"TTMEM_SOCKET", daemon.socket()}},
                   /*pipe_stdin=*/true, /*pipe_stdout=*/true);
  std::istringstream line(ReadLine(sc.child.stdout_fd, 30s));
  std::string word;
  int pid = 0, child = 0;
  line >> word >> pid >> child;
  if (word == "ready") {
    sc.pid = pid;
    sc.child_pid = child;
  }
  return sc;
}

// id -> op (null when none) of every live buffer of `pid`.
std::map<uint64_t, json> OpsById(const std::string& socket, int pid) {
  json r = Query(socket, {{"cmd", "buffers"}, {"pid", pid}, {"limit", 1000}});
  std::map<uint64_t, json> out;
  for (const auto& b : r["buffers"]) out[b["id"].get<uint64_t>()] = b["op"];
  return out;
}

// A daemon and tests/scope_client.cc reporting to it, ready (its allocations flushed).
class OpsClient : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef TTMEM_TEST_UNDER_TSAN
    GTEST_SKIP() << "ThreadSanitizer cannot start threads after a multi-threaded fork";
#endif
    ASSERT_TRUE(daemon.Start()) << daemon.log();
    sc = StartScopeClient(daemon);
    ASSERT_GT(sc.pid, 0) << "the scope client did not say it was ready";
  }
  TempDir dir;
  Daemon daemon{dir};
  ScopeClient sc;
};

TEST_F(OpsClient, EachAllocationCarriesItsThreadsInnermostScope) {
  Child& c = sc.child;
  const int pid = sc.pid, child = sc.child_pid;
  auto ops = OpsById(daemon.socket(), pid);
  ASSERT_EQ(ops.size(), 8u);
  EXPECT_EQ(ops[1], "outer");
  EXPECT_EQ(ops[2], "inner");
  EXPECT_EQ(ops[3], "outer");
  EXPECT_EQ(ops[5], "outer");                // a refused push keeps the enclosing scope
  EXPECT_EQ(ops[4], std::string(127, 'x'));  // cut at TTMEM_MAX_SCOPE_NAME
  EXPECT_EQ(ops[10], "thread_a");
  EXPECT_TRUE(ops[11].is_null());  // another thread: in no scope
  EXPECT_TRUE(ops[30].is_null());  // after the last pop
  auto child_ops = OpsById(daemon.socket(), child);
  ASSERT_EQ(child_ops.size(), 2u);
  EXPECT_EQ(child_ops[20], "before_fork");  // the child is still inside its parent's scope
  EXPECT_EQ(child_ops[21], "child_op");
  // Live memory by op, largest first.
  json r = Query(daemon.socket(), {{"cmd", "buffers"}, {"pid", pid}});
  std::map<std::string, json> by_op;
  for (const auto& o : r["by_op"])
    by_op[o["op"].is_null() ? "(none)" : o["op"].get<std::string>()] = o;
  EXPECT_EQ(by_op["outer"]["bytes"], 4 * kMiB + 64 * 1024);
  EXPECT_EQ(by_op["outer"]["buffers"], 3);
  EXPECT_EQ(by_op["outer"]["by_type"]["l1"], 64 * 1024);
  EXPECT_EQ(by_op["(none)"]["bytes"], 13 * kMiB);  // ids 11 and 30
  EXPECT_EQ(r["by_op"][0]["bytes"], 13 * kMiB);
  ::close(c.stdin_fd);
  EXPECT_EQ(Wait(c.pid, 20s), 0);
}

// The event stream carries each allocation's op and the names, and the mark in order.
TEST(Ops, TheEventStreamCarriesOpsNamesAndMarks) {
#ifdef TTMEM_TEST_UNDER_TSAN
  GTEST_SKIP() << "ThreadSanitizer cannot start threads after a multi-threaded fork";
#endif
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_TRUE(daemon.Start()) << daemon.log();
  const std::string db = dir.File("ops.sqlite");
  CliResult rec = RunCli({"record", "--socket", daemon.socket(), "-o", db, "-q", "--", "sh", "-c",
                          "echo | " + BinDir() + "/ttmem_scope_client > /dev/null"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  CliResult q = RunCli({"report", db, "--json"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  // Straight from the recording: allocations by op name.
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(h,
                               "SELECT o.name, COUNT(*) FROM events e JOIN op_names o ON "
                               "o.process = e.process AND o.id = e.op WHERE e.kind = 1 GROUP BY "
                               "o.name",
                               -1, &st, nullptr),
            SQLITE_OK);
  std::map<std::string, int64_t> allocs;
  while (sqlite3_step(st) == SQLITE_ROW)
    allocs[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))] = sqlite3_column_int64(st, 1);
  sqlite3_finalize(st);
  ASSERT_EQ(sqlite3_prepare_v2(h,
                               "SELECT COUNT(*) FROM events e JOIN op_names o ON o.process = "
                               "e.process AND o.id = e.buffer_id WHERE e.kind = 5 AND o.name = "
                               "'phase1'",
                               -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(st, 0), 1);  // the mark
  sqlite3_finalize(st);
  sqlite3_close(h);
  EXPECT_EQ(allocs["outer"], 3);
  EXPECT_EQ(allocs["inner"], 1);
  EXPECT_EQ(allocs["thread_a"], 1);
  EXPECT_EQ(allocs["before_fork"], 1);  // in the child
  EXPECT_EQ(allocs["child_op"], 1);
  EXPECT_EQ(allocs[std::string(127, 'x')], 1);
}

// `ttmem snapshot`: every buffer the process holds with its op (JSON), and a summary that names
// the ops holding each type.
TEST_F(OpsClient, SnapshotListsEveryBufferWithItsOpAndSaysWhoHoldsWhat) {
  Child& c = sc.child;
  const int pid = sc.pid;
  const std::string file = dir.File("snap.json");
  CliResult r =
      RunCli({"snapshot", "--socket", daemon.socket(), "--pid", std::to_string(pid), "-o", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(file);
  json snap = json::parse(in);
  ASSERT_EQ(snap["buffers"].size(), 8u) << snap.dump(1);
  uint64_t outer = 0;
  for (const auto& b : snap["buffers"]) {
    EXPECT_EQ(b["pid"], pid);
    for (const char* k : {"device", "type", "address", "size", "op"}) EXPECT_TRUE(b.contains(k));
    if (b["op"] == "outer") outer += b["size"].get<uint64_t>();
  }
  EXPECT_EQ(outer, 4 * kMiB + 64 * 1024);
  // Device 0's DRAM: 1 + 2 + 3 + 8 MiB; the largest op there is "(no op)" (id 30, 8 MiB).
  EXPECT_NE(r.out.find("DRAM on device 0: pid " + std::to_string(pid) + " holds 14.0 MiB"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(no op) 8.0 MiB (57 %), outer 4.0 MiB (29 %), inner 2.0 MiB (14 %)"),
            std::string::npos)
      << r.out;
  // One device only.
  r = RunCli(
      {"snapshot", "--socket", daemon.socket(), "--pid", std::to_string(pid), "-d", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["buffers"].size(), 2u);
  // A pid that does not report: a clear error.
  r = RunCli({"snapshot", "--socket", daemon.socket(), "--pid", "999999"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("ttmem status"), std::string::npos) << r.err;
  ::close(c.stdin_fd);
  EXPECT_EQ(Wait(c.pid, 20s), 0);
}

// The one snapshot file `ttmem sim oom` left in `dir` (null when there is not exactly one).
json OomSnapshotIn(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().rfind("ttmem-oom-", 0) == 0) files.push_back(e.path());
  if (files.size() != 1) return json();
  std::ifstream in(files[0]);
  return json::parse(in, nullptr, false);
}

std::string FileText(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// The simulator raises tt-metal's out-of-memory and CB-clash errors; the integration catches
// them while the model's tensors are held and saves the snapshot, which names the holders
// exactly (sim/scenarios.cc, "oom": Wormhole B0, 1,364,992 B of L1 per bank, 1 MiB held).
TEST(Ops, OutOfMemorySavesASnapshotNamingWhatHeldTheMemory) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_TRUE(daemon.Start()) << daemon.log();
  const std::map<std::string, std::string> kOom = {
      {"l1",
       "device 0: Out of Memory: Not enough space to allocate 33554432 B L1 buffer across 64 "
       "banks, where each bank needs to store 524288 B, but bank size is 1364992 B (allocated: "
       "1048576 B, free: 316416 B, largest free block: 316416 B)"},
      {"cb",
       "device 0: Statically allocated circular buffers in program 1 clash with L1 buffers on "
       "core range [(x=0,y=0) - (x=7,y=7)]. L1 buffer allocated at 450560 and static circular "
       "buffer region ends at 543744"},
      {"uncaught", ""}};
  for (const auto& [failure, wording] : kOom) {
    SCOPED_TRACE(failure);
    const std::string out = dir.File("snap-" + failure);
    std::filesystem::create_directory(out);
    const std::string err = dir.File(failure + ".stderr");
    Child c = Spawn(
        {BinDir() + "/ttmem", "sim", "oom", "--socket", daemon.socket(), "--failure", failure},
        {{"TTMEM_SNAPSHOT_DIR", out}}, false, false, err);
    const int status = Wait(c.pid, 60s);
    const std::string text = FileText(err);
    EXPECT_EQ(status, failure == "uncaught" ? 128 + SIGABRT : 2) << text;
    if (!wording.empty()) {
      EXPECT_NE(text.find(wording), std::string::npos) << text;
    }
    const json snap = OomSnapshotIn(out);
    ASSERT_TRUE(snap.is_object()) << "no single snapshot file in " << out << "\n" << text;
    const int pid = snap["pid"].get<int>();
    EXPECT_NE(snap["reason"].get<std::string>().find(failure == "cb" ? "clash with L1 buffers"
                                                                     : "Out of Memory"),
              std::string::npos);
    // Every buffer, with its op: nothing else, nothing missing.
    std::multiset<std::tuple<std::string, uint64_t, std::string>> buffers;
    for (const auto& b : snap["buffers"]) {
      EXPECT_EQ(b["pid"], pid);
      EXPECT_EQ(b["device"], 0);
      EXPECT_TRUE(b["age_s"].is_number_unsigned()) << b.dump();  // made moments ago
      EXPECT_LT(b["age_s"].get<uint64_t>(), 60u);
      buffers.insert(
          {b["type"].get<std::string>(), b["size"].get<uint64_t>(), b["op"].get<std::string>()});
    }
    EXPECT_EQ(buffers, (std::multiset<std::tuple<std::string, uint64_t, std::string>>{
                           {"dram", 4 * kMiB, "ttnn::from_torch"},
                           {"l1", 48 * kMiB, "ttnn::conv2d"},
                           {"l1_small", 1 * kMiB, "ttnn::conv2d"},
                           {"l1", 16 * kMiB, "ttnn::max_pool2d"}}));
    // L1: who holds it, its free space per bank (1,364,992 - 1,048,576 = 316,416 B, one block).
    const json* l1 = nullptr;
    for (const auto& t : snap["types"])
      if (t["type"] == "l1") l1 = &t;
    ASSERT_NE(l1, nullptr);
    EXPECT_EQ((*l1)["process_bytes"], 64 * kMiB);
    EXPECT_EQ((*l1)["used_bytes"], 64 * kMiB);
    EXPECT_EQ((*l1)["holders"], json::parse(R"([{"pid":)" + std::to_string(pid) +
                                            R"(,"name":"ttmem-sim","bytes":67108864}])"));
    EXPECT_EQ((*l1)["largest_free_block_bytes"], 316416);
    EXPECT_EQ((*l1)["free_block_histogram"],
              json::parse(R"([{"min_bytes":262144,"blocks":1,"bytes":316416}])"));
    // The summary on stderr, the failing type first.
    const std::string l1_line = "L1 on device 0: pid " + std::to_string(pid) +
                                " holds 64.0 MiB = 100 % of the 64.0 MiB in use (77 % of 83.3 "
                                "MiB): ttnn::conv2d 48.0 MiB (75 %), ttnn::max_pool2d 16.0 MiB "
                                "(25 %); largest free block 309.0 KiB per bank";
    EXPECT_NE(text.find(l1_line), std::string::npos) << text;
    EXPECT_LT(text.find(l1_line), text.find("DRAM on device 0")) << text;
    EXPECT_NE(text.find("ttnn::from_torch 4.0 MiB (100 %)"), std::string::npos) << text;
    EXPECT_NE(text.find("ttmem: snapshot saved to " + out + "/ttmem-oom-" + std::to_string(pid)),
              std::string::npos)
        << text;
  }
  // Without TTMEM_SNAPSHOT_DIR: the user's runtime directory (XDG_RUNTIME_DIR when it is this
  // user's, closed to others), never the current directory; the file is new, 0600, its name
  // ends in 8 random hex digits (issue 26: planted links and FIFOs at a predictable name).
  {
    const std::string runtime = dir.File("runtime");
    ASSERT_EQ(::mkdir(runtime.c_str(), 0700), 0);
    const std::string cwd = dir.File("cwd");
    std::filesystem::create_directory(cwd);
    Child c = Spawn({"/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", cwd, BinDir() + "/ttmem", "sim",
                     "oom", "--socket", daemon.socket()},
                    {{"XDG_RUNTIME_DIR", runtime}}, false, false, dir.File("xdg.stderr"));
    EXPECT_EQ(Wait(c.pid, 60s), 2);
    EXPECT_TRUE(std::filesystem::is_empty(cwd));
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(runtime)) files.push_back(e.path());
    ASSERT_EQ(files.size(), 1u) << FileText(dir.File("xdg.stderr"));
    const std::string name = files[0].filename().string();
    // ttmem-oom-PID-UNIXMS-XXXXXXXX.json: digits, digits, 8 lowercase hex digits.
    auto shape_ok = [](const std::string& n) {
      const std::string head = "ttmem-oom-", tail = ".json";
      if (n.rfind(head, 0) != 0 || n.size() < head.size() + tail.size() + 12 ||
          n.compare(n.size() - tail.size(), tail.size(), tail) != 0)
        return false;
      const std::string mid = n.substr(head.size(), n.size() - head.size() - tail.size());
      const size_t a = mid.find('-'), b = mid.find('-', a + 1);
      if (a == std::string::npos || b == std::string::npos || mid.size() - b - 1 != 8) return false;
      auto all = [&](size_t from, size_t to, const char* set) {
        return from < to && mid.find_first_not_of(set, from) >= to;
      };
      return all(0, a, "0123456789") && all(a + 1, b, "0123456789") &&
             all(b + 1, mid.size(), "0123456789abcdef");
    };
    EXPECT_TRUE(shape_ok(name)) << name;
    struct stat st {};
    ASSERT_EQ(::stat(files[0].c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  // TTMEM_OOM_SNAPSHOT=0: the error alone.
  const std::string none = dir.File("snap-off");
  std::filesystem::create_directory(none);
  Child c = Spawn({BinDir() + "/ttmem", "sim", "oom", "--socket", daemon.socket()},
                  {{"TTMEM_SNAPSHOT_DIR", none}, {"TTMEM_OOM_SNAPSHOT", "0"}}, false, false,
                  dir.File("off.stderr"));
  EXPECT_EQ(Wait(c.pid, 60s), 2);
  EXPECT_TRUE(std::filesystem::is_empty(none));
}

// The snapshot query: another user's process is refused; a bad reason or format is an error.
TEST(Ops, SnapshotRequestsAreChecked) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_TRUE(daemon.Start()) << daemon.log();
  for (const json& req : {json{{"cmd", "snapshot"}, {"pid", 1}, {"reason", std::string(4097, 'x')}},
                          json{{"cmd", "snapshot"}, {"pid", 1}, {"reason", 7}},
                          json{{"cmd", "snapshot"}, {"pid", 1}, {"format", "xml"}},
                          json{{"cmd", "snapshot"}, {"pid", 1}, {"format", 5}},
                          json{{"cmd", "snapshot"}, {"pid", 1}, {"format", nullptr}},
                          json{{"cmd", "snapshot"}, {"pid", 1}}}) {
    json r = Query(daemon.socket(), req);
    EXPECT_TRUE(r.contains("error")) << req.dump() << " -> " << r.dump();
  }
  // Still answering: no request above took the daemon down.
  EXPECT_TRUE(Query(daemon.socket(), {{"cmd", "ping"}}).is_object());
}

}  // namespace
}  // namespace ttmem::test
