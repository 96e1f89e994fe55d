// harness.h — real processes for the integration tests: the ttmemd binary, the ttmem CLI and
// client programs, started with posix_spawn and talked to over pipes and the real socket.
#ifndef TTMEM_TESTS_HARNESS_H_
#define TTMEM_TESTS_HARNESS_H_

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <functional>

#include <nlohmann/json.hpp>

#include "base/unique_fd.h"

namespace ttmem::test {

std::string BinDir();  // where ttmemd, ttmem, ttmem-sim and the test clients are

// A fresh directory under /tmp, removed with its contents at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct Child {
  pid_t pid = -1;
  int stdin_fd = -1;   // write end of the child's stdin, or -1
  int stdout_fd = -1;  // read end of the child's stdout, or -1
};

// Spawns argv[0] (a path) with extra environment variables. Pipes stdin/stdout when asked;
// stderr goes to `stderr_path` when given, else is inherited.
Child Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            bool pipe_stdin, bool pipe_stdout, const std::string& stderr_path = "");
// Reads one line from the child's stdout (blocking up to timeout). Empty on EOF/timeout.
std::string ReadLine(int fd, std::chrono::milliseconds timeout);
// Waits for the child; returns its exit status (128+signal when killed), or -1 on timeout.
int Wait(pid_t pid, std::chrono::milliseconds timeout);

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs the ttmem CLI with args to completion.
CliResult RunCli(const std::vector<std::string>& args);

// GET http://127.0.0.1:port/metrics: the body ("" when it could not be had).
std::string Scrape(int port);
// Scrapes until the body contains `want` (every 100 ms, up to 10 s); the last body.
std::string ScrapeUntil(int port, const std::string& want);
class Daemon;
// The port a daemon started with --metrics-listen ADDR:0 says it listens on (-1 when none).
int ListeningPort(const Daemon& d);

// A ttmemd on a private socket.
class Daemon {
 public:
  explicit Daemon(const TempDir& dir, const std::string& name = "ttmemd.sock");
  ~Daemon();
  bool Start();                         // spawns and waits until it answers (5 s)
  std::vector<std::string> extra_args;  // appended to the command line by Start()
  void Kill(int sig = 9);               // sends sig and reaps
  int Stop();                           // SIGTERM; returns exit status
  const std::string& socket() const { return socket_; }
  const std::string& shm_dir() const { return shm_dir_; }
  void SetShmDir(const std::string& dir) { shm_dir_ = dir; }  // before Start()
  std::string log() const;                                    // its stderr so far
  pid_t pid() const { return pid_; }

 private:
  std::string socket_;
  std::string log_path_;
  std::string shm_dir_;  // where it reads tt-metal's statistics (TempDir/shm)
  pid_t pid_ = -1;
};

// `ttmem status --json` against the socket; fails the current test on error.
nlohmann::json Status(const std::string& socket);
// One request over the query protocol (docs/protocol.md §3), the reply parsed.
nlohmann::json Query(const std::string& socket, const nlohmann::json& request);

// A ttmem_stress_client started with --hold (tests/stress_client.cc): it writes its ground truth
// to truth_path and prints "ready"; each line sent to its stdin runs another batch.
struct Client {
  Child child;
  std::string truth_path;
};
// `env` entries override the defaults (tracking on, the socket, a 1 s full-ring wait so that the
// tests that are not about overflow never overflow on a loaded 2-core machine).
Client StartClient(const TempDir& dir, const std::string& socket, const std::string& name,
                   std::vector<std::string> extra, std::map<std::string, std::string> env = {});
nlohmann::json ReadTruth(const Client& c);
const nlohmann::json* FindProcess(const nlohmann::json& status, int pid);
uint64_t TruthValue(const nlohmann::json& truth, uint32_t device, const char* type,
                    const char* field);
// Differences between a client's truth and the daemon's view of it (empty: exact).
std::vector<std::string> ProcessDiff(const nlohmann::json& status, const nlohmann::json& truth);
// Fails the current test for every difference.
void ExpectProcessMatches(const nlohmann::json& status, const nlohmann::json& truth);

// The JSON keys of the memory types, in ttmem_mem_type order.
extern const char* const kTypeKeys[7];

// True when no device holds anything and no process is listed.
bool AllDevicesEmpty(const nlohmann::json& status);

// Polls status until pred holds or the timeout passes; returns the elapsed time, or -1 ms.
template <typename Pred>
std::chrono::milliseconds PollUntil(const std::string& socket, std::chrono::milliseconds timeout,
                                    Pred pred) {
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < timeout) {
    if (pred(Status(socket)))
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::chrono::milliseconds(-1);
}

// A hostile reporting client: a real hello with a valid, sealed region of `rings` x `capacity`
// records that the test then writes into at will (docs/protocol.md), bypassing libttmem. The
// hello ack has been read when Forge returns (`accepted` says whether it was kOk).
struct Forger {
  base::UniqueFd sock;
  base::UniqueFd memfd;
  void* base = nullptr;
  uint64_t size = 0;
  uint32_t rings = 0, capacity = 0;
  bool accepted = false;
  ~Forger();
  Forger() = default;
  Forger(Forger&& o) noexcept;
  Forger& operator=(Forger&&) = delete;
};
// `expect`: fail the test when no ack comes (false where a refusal is the point).
Forger Forge(const std::string& socket, uint32_t rings, uint32_t capacity, int state_fd = -1,
             bool expect = true);

// A field of /proc/PID/FILE ("status", "VmHWM:"), as a number (kB for the Vm fields).
uint64_t ProcField(pid_t pid, const std::string& file, const std::string& key);
size_t CountFds(pid_t pid);

// Runs `body` in a forked child as `uid` (setgid/setuid first); its return value is the child's
// exit status. Only root can do this: tests call RunningAsRoot() first and skip otherwise.
bool RunningAsRoot();
// Whether the daemon hung up on `fd` (end of stream) within `timeout_ms`.
bool HungUp(int fd, int timeout_ms = 3000);
pid_t ForkAs(uid_t uid, const std::function<int()>& body);
inline constexpr uid_t kNobody = 65534;

// `ttmem top` (or anything) in a private tmux server: one session named "top".
class Tmux {
 public:
  explicit Tmux(const TempDir& dir) : server_("ttmem-test-" + std::to_string(::getpid())) {
    (void)dir;
  }
  ~Tmux() { Run({"kill-server"}); }
  int Run(const std::vector<std::string>& args, std::string* out = nullptr) {
    std::vector<std::string> argv = {TTMEM_TEST_TMUX, "-L", server_};
    argv.insert(argv.end(), args.begin(), args.end());
    Child c = Spawn(argv, {{"TERM", "xterm-256color"}}, false, out != nullptr);
    if (out != nullptr) {
      out->clear();
      char buf[4096];
      for (ssize_t n; (n = ::read(c.stdout_fd, buf, sizeof(buf))) > 0;)
        out->append(buf, static_cast<size_t>(n));
      ::close(c.stdout_fd);
    }
    return Wait(c.pid, std::chrono::seconds(10));
  }
  std::string Capture() {
    std::string out;
    Run({"capture-pane", "-p", "-t", "top"}, &out);
    return out;
  }
  // Presses q; true once the session (the monitor) is gone, within 2 s.
  bool Quit() {
    Run({"send-keys", "-t", "top", "q"});
    for (int i = 0; i < 100; ++i) {
      if (Run({"has-session", "-t", "top"}) != 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // Waits until the screen contains `text`.
  bool WaitFor(const std::string& text,
               std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (Capture().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

 private:
  std::string server_;
};

}  // namespace ttmem::test

#endif  // TTMEM_TESTS_HARNESS_H_
