#include "tests/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "base/socket.h"
#include "protocol/frames.h"
#include "protocol/shm_abi.h"
#include "protocol/wire.h"

extern char** environ;

namespace ttmem::test {

std::string BinDir() {
  return TTMEM_TEST_BIN_DIR;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/ttmem-test-XXXXXX";
  char* p = ::mkdtemp(tmpl);
  path_ = p != nullptr ? p : "/tmp";
}

TempDir::~TempDir() {
  if (std::getenv("TTMEM_TEST_KEEP") != nullptr) return;  // keep logs for a post-mortem
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Child Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            bool pipe_stdin, bool pipe_stdout, const std::string& stderr_path) {
  Child c;
  int in[2] = {-1, -1}, out[2] = {-1, -1};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (pipe_stdin && ::pipe2(in, O_CLOEXEC) == 0) {
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  } else {
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  }
  if (pipe_stdout && ::pipe2(out, O_CLOEXEC) == 0) posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  if (!stderr_path.empty())
    posix_spawn_file_actions_addopen(&fa, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
  // Environment: ours (minus tracking settings), plus env.
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  merged.erase("TT_ALLOC_TRACKING_ENABLED");
  merged.erase("TTMEM_SOCKET");
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> envs;
  for (const auto& [k, v] : merged) envs.push_back(k + "=" + v);
  std::vector<char*> cenv, cargv;
  for (auto& s : envs) cenv.push_back(s.data());
  cenv.push_back(nullptr);
  std::vector<std::string> args = argv;
  for (auto& s : args) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  pid_t pid;
  int rc = ::posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  if (in[0] >= 0) ::close(in[0]);
  if (out[1] >= 0) ::close(out[1]);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << std::strerror(rc);
    return c;
  }
  c.pid = pid;
  c.stdin_fd = in[1];
  c.stdout_fd = out[0];
  return c;
}

std::string ReadLine(int fd, std::chrono::milliseconds timeout) {
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n <= 0) break;
    if (c == '\n') return line;
    line += c;
  }
  return line;
}

int Wait(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r < 0 || std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

CliResult RunCli(const std::vector<std::string>& args) {
  TempDir dir;
  std::string err_path = dir.File("stderr");
  std::vector<std::string> argv = {BinDir() + "/ttmem"};
  argv.insert(argv.end(), args.begin(), args.end());
  Child c = Spawn(argv, {}, false, true, err_path);
  CliResult r;
  if (c.pid < 0) return r;
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(c.stdout_fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(c.stdout_fd);
  r.exit_code = Wait(c.pid, std::chrono::seconds(30));
  r.out = out;
  r.err = Slurp(err_path);
  return r;
}

Daemon::Daemon(const TempDir& dir, const std::string& name)
    : socket_(dir.File(name)), log_path_(dir.File(name + ".log")), shm_dir_(dir.File("shm")) {}

Daemon::~Daemon() {
  if (pid_ > 0) Kill(SIGKILL);
}

bool Daemon::Start() {
  // A private directory for tt-metal's statistics: the host's /dev/shm stays out of the tests.
  std::vector<std::string> argv = {BinDir() + "/ttmemd", "--socket", socket_, "--shm-dir",
                                   shm_dir_};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  Child c = Spawn(argv, {}, false, false, log_path_);
  pid_ = c.pid;
  if (pid_ < 0) return false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (RunCli({"status", "--json", "--socket", socket_}).exit_code == 0) return true;
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void Daemon::Kill(int sig) {
  if (pid_ <= 0) return;
  ::kill(pid_, sig);
  Wait(pid_, std::chrono::seconds(10));
  pid_ = -1;
}

int Daemon::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int rc = Wait(pid_, std::chrono::seconds(10));
  pid_ = -1;
  return rc;
}

std::string Daemon::log() const {
  return Slurp(log_path_);
}

nlohmann::json Status(const std::string& socket) {
  CliResult r = RunCli({"status", "--json", "--socket", socket});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j;
}

nlohmann::json Query(const std::string& socket, const nlohmann::json& request) {
  base::UniqueFd fd = base::ConnectUnix(socket, false);
  EXPECT_TRUE(fd) << "connect " << socket;
  if (!fd) return nullptr;
  const std::string req = request.dump();
  proto::Frame f;
  std::string err;
  EXPECT_TRUE(proto::SendFrame(fd.get(), proto::FrameType::kQuery, req.data(),
                               static_cast<uint32_t>(req.size())));
  EXPECT_TRUE(proto::RecvFrame(fd.get(), proto::kMaxReplyPayload, &f, &err)) << err;
  return nlohmann::json::parse(f.payload.begin(), f.payload.end(), nullptr, false);
}

const char* const kTypeKeys[7] = {"dram",  "l1", "system_memory", "l1_small",
                                  "trace", "cb", "kernel"};

bool AllDevicesEmpty(const nlohmann::json& s) {
  for (const auto& d : s["devices"]) {
    for (const char* t : kTypeKeys) {
      if (d["memory"][t]["buffers"] != 0 || d["memory"][t]["used_bytes"] != 0) return false;
      if (d.contains("capture_estimate") && d["capture_estimate"][t]["buffers"] != 0) return false;
    }
  }
  return s["processes"].empty();
}

Client StartClient(const TempDir& dir, const std::string& socket, const std::string& name,
                   std::vector<std::string> extra, std::map<std::string, std::string> env) {
  Client c;
  c.truth_path = dir.File(name + ".truth.json");
  std::vector<std::string> argv = {BinDir() + "/ttmem_stress_client", "--truth", c.truth_path,
                                   "--hold"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::map<std::string, std::string> all = {{"TT_ALLOC_TRACKING_ENABLED", "1"},
                                            {"TTMEM_SOCKET", socket},
                                            {"TTMEM_FULL_WAIT_US", "1000000"}};
  for (const auto& [k, v] : env) all[k] = v;
  c.child = Spawn(argv, all, true, true, dir.File(name + ".stderr"));
  return c;
}

nlohmann::json ReadTruth(const Client& c) {
  std::ifstream f(c.truth_path);
  return nlohmann::json::parse(f, nullptr, false);
}

const nlohmann::json* FindProcess(const nlohmann::json& status, int pid) {
  for (const auto& p : status["processes"])
    if (p["pid"] == pid) return &p;
  return nullptr;
}

uint64_t TruthValue(const nlohmann::json& truth, uint32_t device, const char* type,
                    const char* field) {
  auto d = truth["devices"].find(std::to_string(device));
  if (d == truth["devices"].end()) return 0;
  auto t = d->find(type);
  if (t == d->end()) return 0;
  return (*t)[field].get<uint64_t>();
}

std::vector<std::string> ProcessDiff(const nlohmann::json& status, const nlohmann::json& truth) {
  std::vector<std::string> out;
  int pid = truth["pid"];
  const nlohmann::json* p = FindProcess(status, pid);
  if (p == nullptr) return {"pid " + std::to_string(pid) + " missing from status"};
  uint64_t total_bytes[7] = {}, total_buffers[7] = {};
  auto check = [&](uint64_t got, uint64_t want, const std::string& what) {
    if (got != want)
      out.push_back("pid " + std::to_string(pid) + " " + what + ": daemon " + std::to_string(got) +
                    ", truth " + std::to_string(want));
  };
  for (const auto& d : status["devices"]) {
    uint32_t id = d["id"];
    const nlohmann::json* mine = nullptr;
    for (const auto& dp : d["processes"])
      if (dp["pid"] == pid) mine = &dp;
    for (int t = 0; t < 7; ++t) {
      uint64_t want_b = TruthValue(truth, id, kTypeKeys[t], "used_bytes");
      uint64_t want_n = TruthValue(truth, id, kTypeKeys[t], "buffers");
      std::string where = "device " + std::to_string(id) + " " + kTypeKeys[t];
      check(mine ? (*mine)["memory"][kTypeKeys[t]]["used_bytes"].get<uint64_t>() : 0, want_b,
            where + " bytes");
      check(mine ? (*mine)["memory"][kTypeKeys[t]]["buffers"].get<uint64_t>() : 0, want_n,
            where + " buffers");
      total_bytes[t] += want_b;
      total_buffers[t] += want_n;
    }
  }
  // A device the truth holds memory on but the status does not list at all is a difference too.
  for (const auto& [id, dev] : truth["devices"].items()) {
    bool listed = false;
    for (const auto& d : status["devices"])
      listed = listed || std::to_string(d["id"].get<uint32_t>()) == id;
    if (listed) continue;
    for (int t = 0; t < 7; ++t) {
      const uint64_t want_b =
          TruthValue(truth, static_cast<uint32_t>(std::stoul(id)), kTypeKeys[t], "used_bytes");
      check(0, want_b, "device " + id + " (not listed) " + kTypeKeys[t] + " bytes");
      total_bytes[t] += want_b;
      total_buffers[t] +=
          TruthValue(truth, static_cast<uint32_t>(std::stoul(id)), kTypeKeys[t], "buffers");
    }
  }
  for (int t = 0; t < 7; ++t) {
    check((*p)["memory"][kTypeKeys[t]]["used_bytes"].get<uint64_t>(), total_bytes[t],
          std::string("total ") + kTypeKeys[t] + " bytes");
    check((*p)["memory"][kTypeKeys[t]]["buffers"].get<uint64_t>(), total_buffers[t],
          std::string("total ") + kTypeKeys[t] + " buffers");
  }
  return out;
}

void ExpectProcessMatches(const nlohmann::json& status, const nlohmann::json& truth) {
  for (const auto& d : ProcessDiff(status, truth)) ADD_FAILURE() << d;
}

Forger::~Forger() {
  if (base != nullptr) ::munmap(base, size);
}

Forger::Forger(Forger&& o) noexcept
    : sock(std::move(o.sock)),
      memfd(std::move(o.memfd)),
      base(o.base),
      size(o.size),
      rings(o.rings),
      capacity(o.capacity),
      accepted(o.accepted) {
  o.base = nullptr;
}

Forger Forge(const std::string& socket, uint32_t rings, uint32_t capacity, int state_fd,
             bool expect) {
  Forger f;
  f.rings = rings;
  f.capacity = capacity;
  f.size = proto::RegionSize(rings, capacity);
  f.memfd.reset(::memfd_create("forger", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  bool ok = f.memfd && ::ftruncate(f.memfd.get(), static_cast<off_t>(f.size)) == 0 &&
            ::fcntl(f.memfd.get(), F_ADD_SEALS, F_SEAL_SHRINK) == 0;
  if (ok) {
    f.base = ::mmap(nullptr, f.size, PROT_READ | PROT_WRITE, MAP_SHARED, f.memfd.get(), 0);
    ok = f.base != MAP_FAILED;
    if (!ok) f.base = nullptr;
  }
  if (ok) {
    auto* h = static_cast<proto::RegionHeader*>(f.base);
    proto::InitRegionHeader(h, rings, capacity);
    h->rings_used = rings;
    f.sock = base::ConnectUnix(socket, false);
    proto::HelloBody hello{};
    hello.protocol_version = proto::kProtocolVersion;
    hello.region_size = f.size;
    proto::Frame ack;
    std::string err;
    ok = f.sock &&
         proto::SendFrame(f.sock.get(), proto::FrameType::kHello, &hello, sizeof(hello),
                          f.memfd.get(), state_fd) &&
         proto::RecvFrame(f.sock.get(), 4096, &ack, &err);
    proto::HelloAckBody body{};
    if (ok && ack.payload.size() == sizeof(body))
      std::memcpy(&body, ack.payload.data(), sizeof(body));
    f.accepted = ok && body.status == static_cast<uint32_t>(proto::HelloStatus::kOk);
  }
  if (expect) {
    EXPECT_TRUE(ok) << "forger: no hello ack from " << socket;
  }
  return f;
}

uint64_t ProcField(pid_t pid, const std::string& file, const std::string& key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/" + file);
  for (std::string line; std::getline(f, line);)
    if (line.rfind(key, 0) == 0) return std::stoull(line.substr(key.size()));
  return 0;
}

size_t CountFds(pid_t pid) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    ++n;
  return n;
}

bool HungUp(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  char c;
  return ::recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

bool RunningAsRoot() {
  return ::geteuid() == 0;
}

pid_t ForkAs(uid_t uid, const std::function<int()>& body) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  if (::setgid(uid) != 0 || ::setuid(uid) != 0) ::_exit(126);
  ::_exit(body());
}

std::string Scrape(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[65536];
      for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;)
        out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  const auto body = out.find("\r\n\r\n");
  return body == std::string::npos ? "" : out.substr(body + 4);
}

std::string ScrapeUntil(int port, const std::string& want) {
  std::string text;
  for (int i = 0; i < 100 && text.find(want) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    text = Scrape(port);
  }
  return text;
}

int ListeningPort(const Daemon& d) {
  const std::string log = d.log();
  const auto at = log.find("(port ");
  return at == std::string::npos ? -1 : std::stoi(log.substr(at + 6));
}

}  // namespace ttmem::test
