// Reliability: a daemon that starts late, dies (kill -9) and comes back, or falls behind; in
// every case the totals become exact again, without restarting any client, and what bypassed the
// rings is counted.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/socket.h"
#include "protocol/frames.h"
#include "protocol/shm_abi.h"
#include "protocol/wire.h"
#include "tests/harness.h"

extern "C" char** environ;

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

namespace ttmem::test {
namespace {

TEST(Reliability, ForgedSharedMemoryDisconnectsOnlyTheForger) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_TRUE(daemon.Start());
  Client honest = StartClient(dir, daemon.socket(), "honest", {"--threads", "2", "--ops", "2000"});
  ASSERT_EQ(ReadLine(honest.child.stdout_fd, 30s), "ready");
  json truth = ReadTruth(honest);

  // 1. A head far beyond the ring's capacity.
  Forger a = Forge(daemon.socket(), 2, 64);
  proto::RingAt(a.base, 0)->head.store(1000000);
  EXPECT_TRUE(HungUp(a.sock.get()));
  // 2. Records of an unknown kind, a device out of range, a type out of range.
  for (auto [kind, device, type] : {std::tuple{99, 0, 0}, {1, 5000, 0}, {1, 0, 9}}) {
    Forger f = Forge(daemon.socket(), 2, 64);
    proto::Record* r = proto::RecordsOf(f.base, 2, 64, 1);
    *r = proto::Record{};
    r->kind = static_cast<uint8_t>(kind);
    r->device = static_cast<uint32_t>(device);
    r->type = static_cast<uint8_t>(type);
    proto::RingAt(f.base, 1)->head.store(1);
    EXPECT_TRUE(HungUp(f.sock.get())) << kind << " " << device << " " << type;
  }
  // 3. A resync round the region never announced.
  {
    Forger f = Forge(daemon.socket(), 2, 64);
    proto::SyncBeginBody b{42, 0};
    ASSERT_TRUE(proto::SendFrame(f.sock.get(), proto::FrameType::kSyncBegin, &b, sizeof(b)));
    EXPECT_TRUE(HungUp(f.sock.get()));
  }
  // 4. A "state table" that is random bytes: discarded, the client is served afresh.
  {
    base::UniqueFd junk(::memfd_create("junk", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    ASSERT_EQ(::ftruncate(junk.get(), 4096 + 64), 0);
    ASSERT_EQ(::fcntl(junk.get(), F_ADD_SEALS, F_SEAL_SHRINK), 0);
    Forger f = Forge(daemon.socket(), 2, 64, junk.get());
    EXPECT_FALSE(HungUp(f.sock.get(), 300));
  }
  json status = Status(daemon.socket());
  ExpectProcessMatches(status, truth);
  EXPECT_GE(status["counters"]["clients_disconnected_for_errors"].get<int>(), 5);
  std::string log = daemon.log();
  for (const char* want : {"is impossible", "unknown kind", "device id 5000", "memory type 9",
                           "sync begin for round 42", "discarded the handed-back table"})
    EXPECT_NE(log.find(want), std::string::npos) << want << "\n" << log;
  ::close(honest.child.stdin_fd);
  EXPECT_EQ(Wait(honest.child.pid, 10s), 0);
}

// The daemon's open fds once it has let go of the last query peer (the `ttmem status` that just
// exited may still be closing): the smallest count seen over 300 ms.
size_t OpenFds(pid_t pid) {
  size_t least = CountFds(pid);
  for (int i = 0; i < 30; ++i) {
    std::this_thread::sleep_for(10ms);
    least = std::min(least, CountFds(pid));
  }
  return least;
}

TEST(Reliability, ChurnOfHundredsOfClientsLeavesNoFdOrMemoryBehind) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_TRUE(daemon.Start());
  auto run_batch = [&](int first, int count) {
    std::vector<Client> batch;
    for (int i = 0; i < count; ++i)
      batch.push_back(StartClient(
          dir, daemon.socket(), "churn" + std::to_string(first + i),
          {"--threads", "2", "--ops", "300", "--ids", "40", "--seed", std::to_string(first + i)}));
    for (size_t i = 0; i < batch.size(); ++i) {
      ASSERT_EQ(ReadLine(batch[i].child.stdout_fd, 30s), "ready");
      if (i % 2 == 0) {
        ::kill(batch[i].child.pid, SIGKILL);  // half die holding memory
      } else {
        ::close(batch[i].child.stdin_fd);  // half exit cleanly
      }
    }
    for (auto& c : batch) {
      Wait(c.child.pid, 10s);
      ::close(c.child.stdout_fd);
      if (c.child.stdin_fd >= 0) ::close(c.child.stdin_fd);
    }
  };
  run_batch(0, 20);  // warm up allocator pools before measuring
  ASSERT_GE(PollUntil(daemon.socket(), 5s, AllDevicesEmpty).count(), 0);
  size_t fds_before = OpenFds(daemon.pid());
  uint64_t rss_before = ProcField(daemon.pid(), "status", "VmRSS:");
  for (int b = 0; b < 10; ++b) run_batch(100 + b * 20, 20);
  ASSERT_GE(PollUntil(daemon.socket(), 5s, AllDevicesEmpty).count(), 0);
  size_t fds_after = OpenFds(daemon.pid());
  uint64_t rss_after = ProcField(daemon.pid(), "status", "VmRSS:");
  std::fprintf(stderr, "[ measure ] 200 clients: daemon fds %zu -> %zu, RSS %llu -> %llu KiB\n",
               fds_before, fds_after, static_cast<unsigned long long>(rss_before),
               static_cast<unsigned long long>(rss_after));
  EXPECT_EQ(fds_after, fds_before);
#ifndef TTMEM_TEST_UNDER_SANITIZER  // sanitizers keep freed memory in quarantine
  EXPECT_LT(rss_after, rss_before + 8 * 1024) << "daemon grew by more than 8 MiB";
#endif
  json s = Status(daemon.socket());
  EXPECT_EQ(s["counters"]["live_buffers"], 0);
  EXPECT_EQ(s["counters"]["unknown_frees"], 0);
}

TEST(Reliability, PerUidConnectionLimit) {
  TempDir dir;
  Daemon daemon(dir);
  daemon.extra_args = {"--max-connections-per-uid", "3"};
  ASSERT_TRUE(daemon.Start());
  std::vector<base::UniqueFd> held;
  for (int i = 0; i < 3; ++i) held.push_back(base::ConnectUnix(daemon.socket(), false));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(RunCli({"status", "--socket", daemon.socket()}).exit_code, 2);
  held.pop_back();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(RunCli({"status", "--socket", daemon.socket()}).exit_code, 0);
  EXPECT_NE(daemon.log().find("--max-connections-per-uid"), std::string::npos) << daemon.log();
}

TEST(Reliability, PerUidLiveBufferLimitDisconnectsTheHog) {
  TempDir dir;
  Daemon daemon(dir);
  daemon.extra_args = {"--max-live-buffers-per-uid", "50"};
  ASSERT_TRUE(daemon.Start());
  Client hog = StartClient(
      dir, daemon.socket(), "hog",
      {"--threads", "1", "--ops", "100", "--duplicate-allocs", "100", "--flush-ms", "500"});
  ASSERT_EQ(ReadLine(hog.child.stdout_fd, 30s), "ready");
  EXPECT_NE(daemon.log().find("over --max-live-buffers-per-uid 50"), std::string::npos)
      << daemon.log();
  EXPECT_EQ(RunCli({"status", "--socket", daemon.socket()}).exit_code, 0);  // daemon fine
  ::close(hog.child.stdin_fd);
  Wait(hog.child.pid, 10s);
}

TEST(Reliability, SighupReopensTheLogFile) {
  TempDir dir;
  Daemon daemon(dir);
  std::string log = dir.File("ttmemd.log");
  daemon.extra_args = {"--log", log};
  ASSERT_TRUE(daemon.Start());
  ASSERT_EQ(::rename(log.c_str(), (log + ".1").c_str()), 0);  // what logrotate does
  ::kill(daemon.pid(), SIGHUP);
  std::string text;
  for (int i = 0; i < 100 && text.find("reopened") == std::string::npos; ++i) {
    std::this_thread::sleep_for(20ms);
    std::ifstream f(log);
    text.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  EXPECT_NE(text.find("SIGHUP: reopened"), std::string::npos) << text;
  std::ifstream old(log + ".1");
  std::string old_text((std::istreambuf_iterator<char>(old)), std::istreambuf_iterator<char>());
  EXPECT_NE(old_text.find("listening on"), std::string::npos) << old_text;
  EXPECT_EQ(daemon.Stop(), 0);
}

TEST(Reliability, ExecEndsTheSessionAndReclaimsWhileThePidLives) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_TRUE(daemon.Start());
  Client c = StartClient(dir, daemon.socket(), "execer", {"--threads", "2", "--ops", "500"});
  ASSERT_EQ(ReadLine(c.child.stdout_fd, 30s), "ready");
  json truth = ReadTruth(c);
  ExpectProcessMatches(Status(daemon.socket()), truth);
  ASSERT_EQ(::write(c.child.stdin_fd, "exec\n", 5), 5);
  // The new image has no libttmem: the socket closed on exec (CLOEXEC), so the old image's
  // memory is reclaimed although the pid is still running.
  EXPECT_GE(PollUntil(daemon.socket(), 2s, AllDevicesEmpty).count(), 0);
  EXPECT_EQ(::kill(c.child.pid, 0), 0) << "the exec'd process should still run";
  ::kill(c.child.pid, SIGKILL);
  Wait(c.child.pid, 10s);
}

TEST(Reliability, SystemdSocketActivation) {
  TempDir dir;
  std::string path = dir.File("activated.sock");
  base::UniqueFd listener = base::ListenUnix(path, 16);
  ASSERT_TRUE(listener);
  // What systemd does: the socket as fd 3, LISTEN_FDS=1 and LISTEN_PID = the daemon's pid.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, listener.get(), 3);
  std::string log = dir.File("activated.log");
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::string script = "LISTEN_FDS=1 LISTEN_PID=$$ exec '" + BinDir() + "/ttmemd' --socket '" +
                       path + "' --shm-dir '" + dir.File("shm") +
                       "'";  // not the host's /dev/shm: its regions are not ours
  const char* argv[] = {"/bin/sh", "-c", script.c_str(), nullptr};
  pid_t pid;
  ASSERT_EQ(::posix_spawn(&pid, "/bin/sh", &fa, nullptr, const_cast<char**>(argv), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  listener.reset();  // the daemon holds it now
  Client c = StartClient(dir, path, "activated", {"--ops", "300"});
  ASSERT_EQ(ReadLine(c.child.stdout_fd, 30s), "ready");
  ExpectProcessMatches(Status(path), ReadTruth(c));
  std::ifstream f(log);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("socket activation"), std::string::npos) << text;
  ::close(c.child.stdin_fd);
  Wait(c.child.pid, 10s);
  ::kill(pid, SIGTERM);
  EXPECT_EQ(Wait(pid, 10s), 0);
}

}  // namespace
}  // namespace ttmem::test
