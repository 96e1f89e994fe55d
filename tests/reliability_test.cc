// Reliability: a daemon that starts late, dies (kill -9) and comes back, or falls behind; in
// every case the totals become exact again, without restarting any client, and what bypassed the
// rings is counted.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/harness.h"

namespace ttmem::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

bool Go(Client& c) {
  return ::write(c.child.stdin_fd, "go\n", 3) == 3;
}

// Polls until every client's truth matches the daemon; returns the time it took (-1 ms: never).
std::chrono::milliseconds Converge(const std::string& socket, const std::vector<json>& truths,
                                   std::chrono::milliseconds timeout) {
  return PollUntil(socket, timeout, [&](const json& s) {
    for (const auto& t : truths)
      if (!ProcessDiff(s, t).empty()) return false;
    return true;
  });
}

TEST(Reliability, LateDaemonGetsTheFullStateEvenBeyondTheRings) {
  TempDir dir;
  Daemon daemon(dir);
  // 4 threads x 5000 operations with rings of 64 records: far more than the rings hold.
  Client c = StartClient(dir, daemon.socket(), "early",
                         {"--threads", "4", "--ids", "200", "--ops", "5000", "--flush-ms", "30000"},
                         {{"TTMEM_RING_RECORDS", "64"}});
  std::this_thread::sleep_for(400ms);
  ASSERT_TRUE(daemon.Start()) << daemon.log();
  ASSERT_EQ(ReadLine(c.child.stdout_fd, 40s), "ready");
  json truth = ReadTruth(c);
  ASSERT_EQ(truth["flush_rc"], 0);
  json status = Status(daemon.socket());
  ExpectProcessMatches(status, truth);
  // Nothing was dropped: before any daemon, events wait in the client's log by design.
  EXPECT_EQ(truth["events_dropped"], 0);
  EXPECT_EQ(status["counters"]["dropped_events"], 0);
  EXPECT_EQ(status["counters"]["unknown_frees"], 0);
  ::close(c.child.stdin_fd);
  EXPECT_EQ(Wait(c.child.pid, 10s), 0);
}

TEST(Reliability, KillNineAndRestartWithLiveMultiThreadedClients) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_TRUE(daemon.Start()) << daemon.log();
  std::vector<Client> clients;
  for (int i = 0; i < 3; ++i)
    clients.push_back(StartClient(dir, daemon.socket(), "c" + std::to_string(i),
                                  {"--threads", "3", "--ids", "64", "--ops", "3000", "--seed",
                                   std::to_string(i + 1), "--announce", "--flush-ms", "30000"}));
  std::vector<json> truths;
  for (auto& c : clients) {
    ASSERT_EQ(ReadLine(c.child.stdout_fd, 60s), "ready");
    truths.push_back(ReadTruth(c));
  }
  ASSERT_GE(Converge(daemon.socket(), truths, 2s).count(), 0);

  // 1. Killed while the clients are idle: the restarted daemon has everything within 2 s.
  daemon.Kill(SIGKILL);
  ASSERT_TRUE(daemon.Start()) << daemon.log();
  auto took = Converge(daemon.socket(), truths, 2s);
  EXPECT_GE(took.count(), 0) << "state not exact 2 s after the restart";
  std::fprintf(stderr, "[ measure ] converged %lld ms after the restart\n",
               static_cast<long long>(took.count()));

  // 2. Killed in the middle of a burst, restarted while the clients still report.
  for (auto& c : clients) ASSERT_TRUE(Go(c));
  std::this_thread::sleep_for(5ms);
  daemon.Kill(SIGKILL);
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(daemon.Start()) << daemon.log();
  truths.clear();
  for (auto& c : clients) {
    ASSERT_EQ(ReadLine(c.child.stdout_fd, 60s), "ready");
    truths.push_back(ReadTruth(c));
    EXPECT_EQ(truths.back()["flush_rc"], 0);
  }
  EXPECT_GE(Converge(daemon.socket(), truths, 2s).count(), 0);
  json status = Status(daemon.socket());
  for (const auto& t : truths) ExpectProcessMatches(status, t);
  EXPECT_EQ(status["counters"]["unknown_frees"], 0);
  EXPECT_EQ(status["counters"]["duplicate_allocs"], 0);
  for (const auto& d : status["devices"]) EXPECT_EQ(d["arch"], "test_arch");  // re-announced
  EXPECT_NE(daemon.log().find("restored"), std::string::npos) << daemon.log();
  for (auto& c : clients) {
    ::close(c.child.stdin_fd);
    EXPECT_EQ(Wait(c.child.pid, 10s), 0);
  }
  EXPECT_GE(PollUntil(daemon.socket(), 2s, AllDevicesEmpty).count(), 0);
}

TEST(Reliability, OverflowIsCountedAndResyncedToExactTotals) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_TRUE(daemon.Start()) << daemon.log();
  Client c =
      StartClient(dir, daemon.socket(), "burst",
                  {"--threads", "2", "--ids", "500", "--ops", "20000", "--flush-ms", "30000"},
                  {{"TTMEM_RING_RECORDS", "64"}, {"TTMEM_FULL_WAIT_US", "200"}});
  ASSERT_EQ(ReadLine(c.child.stdout_fd, 60s), "ready");
  json before = ReadTruth(c);
  // The daemon stops draining (SIGSTOP) while the client bursts: its rings overflow.
  ::kill(daemon.pid(), SIGSTOP);
  ASSERT_TRUE(Go(c));
  std::this_thread::sleep_for(300ms);
  ::kill(daemon.pid(), SIGCONT);
  ASSERT_EQ(ReadLine(c.child.stdout_fd, 60s), "ready");
  json truth = ReadTruth(c);
  ASSERT_EQ(truth["flush_rc"], 0);
  json status = Status(daemon.socket());
  ExpectProcessMatches(status, truth);
  uint64_t dropped = truth["events_dropped"];
  EXPECT_GT(dropped, before["events_dropped"].get<uint64_t>()) << "the rings never overflowed";
  const json* p = FindProcess(status, truth["pid"]);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ((*p)["counters"]["dropped_events"].get<uint64_t>(), dropped);
  EXPECT_EQ(status["counters"]["dropped_events"].get<uint64_t>(), dropped) << daemon.log();
  EXPECT_EQ(status["counters"]["unknown_frees"], 0) << status["processes"].dump();
  EXPECT_NE(RunCli({"status", "--socket", daemon.socket()})
                .out.find("dropped events " + std::to_string(dropped)),
            std::string::npos);
  ::close(c.child.stdin_fd);
  EXPECT_EQ(Wait(c.child.pid, 10s), 0);
}

}  // namespace
}  // namespace ttmem::test
