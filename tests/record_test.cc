// ttmem record / report end to end: the real ttmemd, real simulator processes, the recording read
// back with SQLite, and the report checked against what the recorded sequence implies.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "base/socket.h"
#include "protocol/frames.h"
#include "protocol/wire.h"
#include "tests/harness.h"
#include "tests/record_fixture.h"

namespace ttmem::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
constexpr uint64_t kMiB = 1024 * 1024, kKiB = 1024;

// Rows of a query against the recording, each row's columns as text.
// `quiet`: an error (no file or table yet, while polling) returns no rows instead of failing.
std::vector<std::vector<std::string>> Sql(const std::string& db, const std::string& sql,
                                          bool quiet = false) {
  sqlite3* h = nullptr;
  std::vector<std::vector<std::string>> rows;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    if (!quiet) ADD_FAILURE() << "cannot open " << db;
    sqlite3_close(h);
    return rows;
  }
  sqlite3_busy_timeout(h, 5000);  // the recorder may be writing (tests poll while it runs)
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(h, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
    if (!quiet) ADD_FAILURE() << sql << ": " << sqlite3_errmsg(h);
    sqlite3_close(h);
    return rows;
  }
  while (sqlite3_step(s) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int i = 0; i < sqlite3_column_count(s); ++i) {
      const unsigned char* t = sqlite3_column_text(s, i);
      row.push_back(t ? reinterpret_cast<const char*>(t) : "NULL");
    }
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(s);
  sqlite3_close(h);
  return rows;
}

int64_t SqlInt(const std::string& db, const std::string& sql, bool quiet = false) {
  auto rows = Sql(db, sql, quiet);
  return rows.empty() || rows[0].empty() ? -1 : std::stoll(rows[0][0]);
}

// Runs `ttmem-sim churn` flat out (2 threads, one device) against `socket` for `seconds`; true when
// it exits 0 and the daemon is back to empty.
bool RunChurnFlatOut(const std::string& socket, const TempDir& dir, const char* seconds) {
  std::map<std::string, std::string> env = {{"TT_ALLOC_TRACKING_ENABLED", "1"},
                                            {"TTMEM_SOCKET", socket}};
  Child churn = Spawn({BinDir() + "/ttmem-sim", "churn", "--threads", "2", "--seconds", seconds,
                       "--rate", "0", "--mesh", "1x1"},
                      env, false, false, dir.File("churn.err"));
  return Wait(churn.pid, 60s) == 0 && PollUntil(socket, 5s, AllDevicesEmpty).count() >= 0;
}

TEST_F(Record, KnownSequenceIsRecordedExactlyAndTheReportFindsPeakAndLeaks) {
  for (uint32_t steps : {1u, 3u}) {
    const std::string db = dir_.File("leak" + std::to_string(steps) + ".sqlite");
    CliResult r = RecordRun(db, SimCmd({"leak", "--repeat", std::to_string(steps)}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("events from 1 process"), std::string::npos) << r.err;
    // Exactly the sequence: weights, then per step an activation, a scratch and a cache buffer;
    // the activation and scratch freed each step, the weights at the end; the caches reclaimed
    // by the daemon when the process exited.
    EXPECT_EQ(SqlInt(db, "SELECT COUNT(*) FROM events WHERE kind = 1"), 1 + 3 * steps);
    EXPECT_EQ(SqlInt(db, "SELECT COUNT(*) FROM events WHERE kind = 2"), 1 + 2 * steps);
    EXPECT_EQ(SqlInt(db, "SELECT COUNT(*) FROM events WHERE kind = 4"), steps);
    EXPECT_EQ(SqlInt(db, "SELECT COUNT(*) FROM events WHERE kind = 3"), 0);
    // Issue 17: a mark before each step ("iteration"), and every allocation named by its op.
    EXPECT_EQ(SqlInt(db, "SELECT COUNT(*) FROM events WHERE kind = 5"), steps);
    EXPECT_EQ(SqlInt(db, "SELECT COUNT(*) FROM events WHERE kind != 5"), 2 + 6 * steps);
    EXPECT_EQ(SqlInt(db,
                     "SELECT COUNT(*) FROM events e JOIN op_names o ON o.process = e.process "
                     "AND o.id = e.op WHERE e.kind = 4 AND o.name = 'ttnn::concat'"),
              steps);  // the leaked caches: all made by the op that leaks
    EXPECT_EQ(SqlInt(db,
                     "SELECT COUNT(*) FROM events e JOIN op_names o ON o.process = e.process "
                     "AND o.id = e.op WHERE e.kind = 1 AND o.name = 'ttnn::linear'"),
              2 * steps);
    EXPECT_EQ(SqlInt(db,
                     "SELECT COUNT(*) FROM events e JOIN op_names o ON o.process = e.process "
                     "AND o.id = e.buffer_id WHERE e.kind = 5 AND o.name = 'iteration'"),
              steps);
    EXPECT_EQ(SqlInt(db, "SELECT COUNT(DISTINCT pid) FROM events"), 1);
    EXPECT_EQ(SqlInt(db, "SELECT SUM(size) FROM events WHERE kind = 1 AND type = 0"),
              static_cast<int64_t>((4 + steps * 9) * kMiB));
    EXPECT_EQ(SqlInt(db, "SELECT SUM(size) FROM events WHERE kind = 4"),
              static_cast<int64_t>(steps * kMiB));
    // Every free names a buffer allocated before it, with the same size.
    EXPECT_EQ(SqlInt(db,
                     "SELECT COUNT(*) FROM events f WHERE f.kind IN (2, 4) AND NOT EXISTS "
                     "(SELECT 1 FROM events a WHERE a.kind = 1 AND a.buffer_id = f.buffer_id AND "
                     "a.size = f.size AND a.seq < f.seq)"),
              0);
    auto proc = Sql(db, "SELECT name, ended_ns IS NOT NULL, reclaimed_bytes FROM processes");
    ASSERT_EQ(proc.size(), 1u);
    EXPECT_EQ(proc[0][0], "ttmem-sim");
    EXPECT_EQ(proc[0][1], "1");
    EXPECT_EQ(proc[0][2], std::to_string(steps * kMiB));
    EXPECT_EQ(Sql(db, "SELECT arch FROM devices WHERE id = 0").at(0).at(0), "wormhole_b0");
    EXPECT_GT(SqlInt(db, "SELECT capacity_bytes FROM capacities WHERE device = 0 AND type = 0"), 0);
    EXPECT_EQ(SqlInt(db, "SELECT value FROM meta WHERE key = 'events_lost'"), 0);
    EXPECT_EQ(SqlInt(db,
                     "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name LIKE "
                     "'events_by_%'"),
              2);

    json rep = Report(db, {"--top", "3"});
    ASSERT_TRUE(rep.is_object());
    EXPECT_EQ(rep["recording"]["complete"], true);
    const json* dram = FindType(rep, 0, "dram");
    ASSERT_NE(dram, nullptr) << rep.dump(1);
    EXPECT_EQ((*dram)["peak_bytes"], (4 + 8 + steps) * kMiB);
    EXPECT_EQ((*dram)["buffers_at_peak"], 2 + steps);  // weights, activation, the caches so far
    EXPECT_EQ((*dram)["bytes_at_peak"], (4 + 8 + steps) * kMiB);
    EXPECT_EQ((*dram)["final_bytes"], 0u);
    ASSERT_EQ((*dram)["top_buffers"].size(), std::min<size_t>(3, 2 + steps));
    EXPECT_EQ((*dram)["top_buffers"][0]["size"], 8 * kMiB);  // largest first
    EXPECT_EQ((*dram)["top_buffers"][1]["size"], 4 * kMiB);
    const json* l1 = FindType(rep, 0, "l1");
    ASSERT_NE(l1, nullptr);
    EXPECT_EQ((*l1)["peak_bytes"], 256 * kKiB);
    ASSERT_EQ(rep["leaks"].size(), steps);
    for (const auto& l : rep["leaks"]) {
      EXPECT_EQ(l["type"], "dram");
      EXPECT_EQ(l["size"], kMiB);
      EXPECT_EQ(l["name"], "ttmem-sim");
    }
    EXPECT_EQ(rep["leaked_bytes"], steps * kMiB);
    ASSERT_EQ(rep["processes"].size(), 1u);
    EXPECT_EQ(rep["processes"][0]["allocs"], 1 + 3 * steps);
    EXPECT_EQ(rep["processes"][0]["leaked_buffers"], steps);
    EXPECT_FALSE(rep["processes"][0]["ended_ns"].is_null());

    // The text form says the same.
    CliResult text = RunCli({"report", db});
    EXPECT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find(fmt::format("{} buffers, {}.0 MiB", steps, steps)), std::string::npos)
        << text.out;
  }
}

TEST_F(Record, ScaleChangesThePeakAsTheSequenceImplies) {
  const std::string db = dir_.File("scaled.sqlite");
  ASSERT_EQ(RecordRun(db, SimCmd({"leak", "--repeat", "2", "--scale", "0.5"})).exit_code, 0);
  json rep = Report(db);
  const json* dram = FindType(rep, 0, "dram");
  ASSERT_NE(dram, nullptr);
  EXPECT_EQ((*dram)["peak_bytes"], (4 + 8 + 2) * kMiB / 2);
  EXPECT_EQ(rep["leaked_bytes"], kMiB);
}

// A program cache: the recording has one CB layout per device, not one per cached program, and the
// report's CB peak is one program's layout (8 CBs of 4 tiles on the 64-core grid), for 1 or 50
// cached programs; re-dispatches cost no events.
TEST_F(Record, ProgramCachePeakIsOneResidentLayout) {
  std::map<int, int64_t> events;
  for (int n : {1, 50}) {
    const std::string db = dir_.File("cache" + std::to_string(n) + ".sqlite");
    ASSERT_EQ(
        RecordRun(db, SimCmd({"program_cache", "--programs", std::to_string(n), "--mesh", "1x2"}))
            .exit_code,
        0);
    json rep = Report(db);
    const json* cb = FindType(rep, 1, "cb");
    ASSERT_NE(cb, nullptr);
    EXPECT_EQ((*cb)["peak_bytes"], 8u * 4 * 2048 * 64);
    events[n] = SqlInt(db, "SELECT COUNT(*) FROM events WHERE type IN (5, 6)");
  }
  EXPECT_EQ(events[1], events[50]);  // 3 rounds x 50 dispatches made no more events than 1
}

TEST_F(Record, HtmlReportHasTheChartsPeakAndAddressMap) {
  const std::string db = dir_.File("h.sqlite");
  ASSERT_EQ(RecordRun(db, SimCmd({"leak", "--repeat", "2", "--hold-ms", "50"})).exit_code, 0);
  const std::string html = dir_.File("r.html");
  CliResult r = RunCli({"report", db, "--html", html});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(html);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string h = ss.str();
  EXPECT_EQ(h.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(h.find("Usage over time, by memory type"), std::string::npos);
  EXPECT_NE(h.find("dram by process"), std::string::npos);
  EXPECT_NE(h.find("class=\"peak\""), std::string::npos);
  EXPECT_NE(h.find("dram address space at the peak"), std::string::npos);
  EXPECT_NE(h.find("<polygon"), std::string::npos);
  EXPECT_NE(h.find("<h2 id=\"leaks\">Leaks</h2>"), std::string::npos);
  // Self-contained: nothing fetched from elsewhere.
  EXPECT_EQ(h.find("<script"), std::string::npos);
  EXPECT_EQ(h.find("src="), std::string::npos);
  EXPECT_EQ(h.find("href="), std::string::npos);
  EXPECT_EQ(h.find("@import"), std::string::npos);
}

TEST_F(Record, ExitsWithTheCommandsStatus) {
  const std::string db = dir_.File("x.sqlite");
  CliResult r = RecordRun(db, {"/bin/sh", "-c", "exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(SqlInt(db, "SELECT COUNT(*) FROM events"), 0);
  CliResult missing = RecordRun(dir_.File("y.sqlite"), {"/nonexistent/program"});
  EXPECT_EQ(missing.exit_code, 127) << missing.err;
  EXPECT_NE(missing.err.find("cannot run /nonexistent/program"), std::string::npos);
}

TEST_F(Record, PidFilterAndCtrlCWithProcessesAlreadyRunning) {
  // Two simulators already holding memory; a recording of one of them, stopped with SIGINT.
  std::map<std::string, std::string> env = {{"TT_ALLOC_TRACKING_ENABLED", "1"},
                                            {"TTMEM_SOCKET", daemon_.socket()}};
  Child a = Spawn({BinDir() + "/ttmem-sim", "leak", "--repeat", "2", "--hold-ms", "1500"}, env,
                  false, false);
  Child b = Spawn({BinDir() + "/ttmem-sim", "leak", "--repeat", "2", "--hold-ms", "1500"}, env,
                  false, false);
  ASSERT_GE(PollUntil(daemon_.socket(), 5s,
                      [&](const json& s) {
                        return FindProcess(s, a.pid) != nullptr && FindProcess(s, b.pid) != nullptr;
                      })
                .count(),
            0);
  const std::string db = dir_.File("pid.sqlite");
  Child rec = Spawn({BinDir() + "/ttmem", "record", "--socket", daemon_.socket(), "-o", db, "--pid",
                     std::to_string(a.pid)},
                    {}, false, false, dir_.File("rec.err"));
  EXPECT_EQ(Wait(a.pid, 20s), 0);
  EXPECT_EQ(Wait(b.pid, 20s), 0);
  std::this_thread::sleep_for(300ms);
  ::kill(rec.pid, SIGINT);
  EXPECT_EQ(Wait(rec.pid, 10s), 0);
  EXPECT_EQ(SqlInt(db, "SELECT COUNT(*) FROM events WHERE pid != " + std::to_string(a.pid)), 0);
  // What it held when the recording began came as "live" events; the rest as they happened.
  EXPECT_GE(SqlInt(db, "SELECT COUNT(*) FROM events WHERE kind = 3"), 1);
  EXPECT_EQ(SqlInt(db, "SELECT COUNT(*) FROM events WHERE kind = 4"), 2);
  EXPECT_EQ(SqlInt(db, "SELECT existing FROM processes WHERE pid = " + std::to_string(a.pid)), 1);
  json rep = Report(db);
  EXPECT_EQ(rep["recording"]["complete"], true);
  EXPECT_EQ(rep["leaked_bytes"], 2 * kMiB);
  const json* dram = FindType(rep, 0, "dram");
  ASSERT_NE(dram, nullptr);
  EXPECT_EQ((*dram)["final_bytes"], 0u);
}

TEST_F(Record, LostEventsAreCountedNotHidden) {
  // A recorder that stops reading (SIGSTOP) while a producer runs flat out: the daemon drops
  // what would grow its backlog past the limit and says so; recorded + lost = what it applied.
  const std::string db = dir_.File("lost.sqlite");
  json before = Status(daemon_.socket());
  Child rec = Spawn({BinDir() + "/ttmem", "record", "--socket", daemon_.socket(), "-o", db}, {},
                    false, false, dir_.File("rec.err"));
  ASSERT_GE(
      PollUntil(daemon_.socket(), 5s,
                [&](const json&) { return SqlInt(db, "SELECT COUNT(*) FROM meta", true) > 0; })
          .count(),
      0);
  std::this_thread::sleep_for(300ms);
  ::kill(rec.pid, SIGSTOP);
  ASSERT_TRUE(RunChurnFlatOut(daemon_.socket(), dir_, "4"));
  json after = Status(daemon_.socket());
  ::kill(rec.pid, SIGCONT);
  std::this_thread::sleep_for(2s);  // let it catch up
  ::kill(rec.pid, SIGINT);
  EXPECT_EQ(Wait(rec.pid, 60s), 0);
  const int64_t applied = after["counters"]["events_applied"].get<int64_t>() -
                          before["counters"]["events_applied"].get<int64_t>();
  const int64_t recorded = SqlInt(db, "SELECT COUNT(*) FROM events WHERE kind IN (1, 2)");
  const int64_t reclaimed = SqlInt(db, "SELECT COUNT(*) FROM events WHERE kind = 4");
  const int64_t lost = SqlInt(db, "SELECT value FROM meta WHERE key = 'events_lost'");
  EXPECT_GT(applied, 0);
  EXPECT_EQ(SqlInt(db, "SELECT value FROM meta WHERE key = 'complete'"), 1);
  // churn frees all it allocates: no reclaims; every applied event is recorded or counted lost.
  EXPECT_EQ(reclaimed, 0);
  EXPECT_EQ(recorded + lost, applied) << "recorded " << recorded << " reclaimed " << reclaimed
                                      << " lost " << lost << " applied " << applied;
  std::ifstream err(dir_.File("rec.err"));
  std::stringstream es;
  es << err.rdbuf();
  if (lost > 0) {
    EXPECT_NE(es.str().find("LOST"), std::string::npos) << es.str();
  }
  std::printf("[ recorder ] applied %lld, recorded %lld, lost %lld\n",
              static_cast<long long>(applied), static_cast<long long>(recorded),
              static_cast<long long>(lost));
}

TEST_F(Record, AKilledRecorderLeavesAReadableRecordingMarkedIncomplete) {
  const std::string db = dir_.File("killed.sqlite");
  Child rec = Spawn({BinDir() + "/ttmem", "record", "--socket", daemon_.socket(), "-o", db, "-q"},
                    {}, false, false, dir_.File("rec.err"));
  ASSERT_GE(
      PollUntil(daemon_.socket(), 5s,
                [&](const json&) { return SqlInt(db, "SELECT COUNT(*) FROM meta", true) > 0; })
          .count(),
      0);
  std::map<std::string, std::string> env = {{"TT_ALLOC_TRACKING_ENABLED", "1"},
                                            {"TTMEM_SOCKET", daemon_.socket()}};
  Child sim = Spawn({BinDir() + "/ttmem-sim", "leak", "--repeat", "2"}, env, false, false);
  EXPECT_EQ(Wait(sim.pid, 20s), 0);
  std::this_thread::sleep_for(700ms);  // past the recorder's next commit
  ::kill(rec.pid, SIGKILL);
  Wait(rec.pid, 10s);
  json rep = Report(db);
  ASSERT_TRUE(rep.is_object());
  EXPECT_EQ(rep["recording"]["complete"], false);
  EXPECT_EQ(rep["leaked_bytes"], 2 * kMiB);
  CliResult text = RunCli({"report", db});
  EXPECT_NE(text.out.find("did not end cleanly"), std::string::npos) << text.out;
}

TEST_F(Record, BadInputGetsClearErrors) {
  const std::string db = dir_.File("exists.sqlite");
  ASSERT_EQ(RecordRun(db, {"/bin/true"}).exit_code, 0);
  CliResult again = RecordRun(db, {"/bin/true"});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  EXPECT_EQ(RecordRun(db, {"/bin/true"}, {"--force"}).exit_code, 0);

  CliResult nodaemon =
      RunCli({"record", "--socket", dir_.File("none.sock"), "-o", dir_.File("n.sqlite")});
  EXPECT_EQ(nodaemon.exit_code, 2);
  EXPECT_NE(nodaemon.err.find("ttmemd"), std::string::npos) << nodaemon.err;

  CliResult nofile = RunCli({"report", dir_.File("missing.sqlite")});
  EXPECT_EQ(nofile.exit_code, 2);
  EXPECT_NE(nofile.err.find("does not exist"), std::string::npos) << nofile.err;
  const std::string junk = dir_.File("junk.sqlite");
  std::ofstream(junk) << "not a database";
  CliResult notdb = RunCli({"report", junk});
  EXPECT_EQ(notdb.exit_code, 2);
  EXPECT_NE(notdb.err.find("not a ttmem recording"), std::string::npos) << notdb.err;
}

}  // namespace
}  // namespace ttmem::test

namespace ttmem::test {
namespace {

TEST(EventStream, AUserGetsAFewStreamsAndANonReaderCannotStallTheDaemon) {
  TempDir dir;
  Daemon d(dir);
  ASSERT_TRUE(d.Start()) << d.log();
  std::vector<base::UniqueFd> streams;
  const std::string req = R"({"cmd": "events"})";
  for (int i = 0; i < 9; ++i) {
    base::UniqueFd fd = base::ConnectUnix(d.socket(), false);
    ASSERT_TRUE(fd);
    ASSERT_TRUE(proto::SendFrame(fd.get(), proto::FrameType::kQuery, req.data(),
                                 static_cast<uint32_t>(req.size())));
    proto::Frame f;
    std::string error;
    ASSERT_TRUE(proto::RecvFrame(fd.get(), proto::kMaxReplyPayload, &f, &error)) << error;
    json first = json::parse(f.payload.begin(), f.payload.end(), nullptr, false);
    if (i < 8) {
      EXPECT_EQ(first["event"], "start") << first.dump();
    } else {
      EXPECT_NE(first.value("error", "").find("event streams"), std::string::npos) << first.dump();
    }
    streams.push_back(std::move(fd));  // never read again
  }
  // None of them reads: a busy client still gets through and the daemon still answers.
  EXPECT_TRUE(RunChurnFlatOut(d.socket(), dir, "2"));
  EXPECT_TRUE(Status(d.socket()).is_object());
}

TEST(Metrics, ScrapeMatchesStatus) {
  TempDir dir;
  Daemon d(dir);
  d.extra_args = {"--metrics-listen", "127.0.0.1:0"};
  ASSERT_TRUE(d.Start()) << d.log();
  const int port = ListeningPort(d);
  ASSERT_GT(port, 0) << d.log();
  std::map<std::string, std::string> env = {{"TT_ALLOC_TRACKING_ENABLED", "1"},
                                            {"TTMEM_SOCKET", d.socket()}};
  Child sim = Spawn({BinDir() + "/ttmem-sim", "leak", "--repeat", "2", "--hold-ms", "4000"}, env,
                    false, false, dir.File("sim.err"));
  // The sim's first step holds weights + activation + cache: 13 MiB of DRAM on device 0.
  const std::string want = "ttmem_device_memory_used_bytes{device=\"0\",type=\"dram\"} 13631488";
  const std::string text = ScrapeUntil(port, want);
  EXPECT_NE(text.find(want), std::string::npos) << text;
  json s = Status(d.socket());
  const json* p = FindProcess(s, sim.pid);
  ASSERT_NE(p, nullptr);
  EXPECT_NE(
      text.find(fmt::format("ttmem_process_memory_used_bytes{{device=\"0\",type=\"dram\","
                            "pid=\"{}\",comm=\"ttmem-sim\",user=\"{}\",container=\"\"}} 13631488",
                            sim.pid, (*p)["user"].get<std::string>())),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("ttmem_device_memory_total_bytes{device=\"0\",type=\"dram\"}"),
            std::string::npos);
  EXPECT_NE(text.find("ttmem_device_largest_free_block_bytes{device=\"0\",type=\"dram\"}"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE ttmem_events_total counter"), std::string::npos);
  ::kill(sim.pid, SIGKILL);
  Wait(sim.pid, 10s);
}

TEST(Metrics, BadListenAddressIsAClearError) {
  TempDir dir;
  for (const char* bad : {"127.0.0.1", "localhost:http", "127.0.0.1:"}) {
    Daemon d(dir);
    d.extra_args = {"--metrics-listen", bad};
    EXPECT_FALSE(d.Start()) << bad;
    EXPECT_NE(d.log().find("expected ADDR:PORT"), std::string::npos) << d.log();
  }
  // A port already taken.
  Daemon first(dir, "first.sock");
  first.extra_args = {"--metrics-listen", "127.0.0.1:0"};
  ASSERT_TRUE(first.Start()) << first.log();
  const int port = ListeningPort(first);
  ASSERT_GT(port, 0) << first.log();
  Daemon second(dir, "second.sock");
  second.extra_args = {"--metrics-listen", "127.0.0.1:" + std::to_string(port)};
  EXPECT_FALSE(second.Start());
  EXPECT_NE(second.log().find("cannot listen there"), std::string::npos) << second.log();
}

}  // namespace
}  // namespace ttmem::test
