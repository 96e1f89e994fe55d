#include "daemon/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "base/socket.h"
#include "daemon/log.h"

namespace ttmem::daemon {
namespace {

// File descriptors kept for the daemon itself (epoll, timers, log, metrics, /proc and shm reads),
// and per connection at most (socket, pidfd, region memfd, state table).
constexpr uint64_t kReservedFds = 64;
constexpr uint64_t kFdsPerConnection = 4;

// systemd socket activation: the listening socket arrives as fd 3 (LISTEN_FDS=1 for our pid).

// The socket's directory: created if missing (0700 for a per-user one, 0755 for /run/ttmem); an
// existing one must be ours (or root's) and writable by nobody else, unless sticky like /tmp:
// whoever controls the directory controls the socket in it.
bool CheckSocketDirectory(const std::string& path, std::string* error) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return true;
  std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (::mkdir(dir.c_str(), dir.rfind("/run/", 0) == 0 ? 0755 : 0700) != 0 ||
        ::lstat(dir.c_str(), &st) != 0) {
      *error = fmt::format("cannot create directory {}: {} (choose another --socket)", dir,
                           std::strerror(errno));
      return false;
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    *error = fmt::format(
        "{} is not a directory (a symbolic link or another file): refusing to put the socket "
        "there; remove it or choose another --socket",
        dir);
    return false;
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    *error = fmt::format(
        "directory {} belongs to uid {}, not to this daemon's uid {} or root: its owner could "
        "replace the socket; remove it or choose another --socket",
        dir, st.st_uid, ::geteuid());
    return false;
  }
  if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0) {
    *error = fmt::format(
        "directory {} is writable by other users (mode {:04o}) and not sticky: they could "
        "replace the socket; chmod go-w it or choose another --socket",
        dir, st.st_mode & 07777);
    return false;
  }
  return true;
}

}  // namespace

base::UniqueFd InheritedListener() {
  const char* fds = std::getenv("LISTEN_FDS");
  const char* pid = std::getenv("LISTEN_PID");
  if (fds == nullptr || pid == nullptr || std::strcmp(fds, "1") != 0 ||
      std::strtol(pid, nullptr, 10) != ::getpid())
    return base::UniqueFd();
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDNAMES");
  int type = 0;
  socklen_t len = sizeof(type);
  if (::getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
    return base::UniqueFd();
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  ::fcntl(3, F_SETFL, ::fcntl(3, F_GETFL) | O_NONBLOCK);
  return base::UniqueFd(3);
}

base::UniqueFd BindSocket(const std::string& path, uint32_t mode, std::string* error) {
  if (path.empty()) {
    *error =
        "--socket is empty; give the path of the socket to create, like /run/ttmem/ttmemd.sock";
    return {};
  }
  if (!CheckSocketDirectory(path, error)) return {};
  // One daemon per socket: a live one answers connect; a stale file from a crash does not.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *error =
          fmt::format("{} exists and is not a socket; remove it or choose another --socket", path);
      return {};
    }
    base::UniqueFd probe = base::ConnectUnix(path, /*nonblocking=*/false);
    if (probe) {
      *error = fmt::format(
          "another ttmemd is already serving {}; stop it first or choose "
          "another --socket",
          path);
      return {};
    }
    LogInfo("removing stale socket {} (no daemon answers on it)", path);
    ::unlink(path.c_str());
  }
  base::UniqueFd fd = base::ListenUnix(path, 128);
  if (!fd) {
    *error = fmt::format(
        "cannot listen on {}: {} (check the directory's permissions or choose "
        "another --socket)",
        path,
        errno == ENAMETOOLONG ? "the path is longer than a socket address holds (107 bytes)"
                              : std::strerror(errno));
    return {};
  }
  if (mode == 0) mode = path.rfind("/run/ttmem/", 0) == 0 ? 0666 : 0600;
  if (::chmod(path.c_str(), mode) != 0) {
    *error = fmt::format("cannot chmod {} to {:04o}: {}", path, mode, std::strerror(errno));
    ::unlink(path.c_str());
    return {};
  }
  return fd;
}

FdBudget SizeToFds(uint32_t flag) {
  FdBudget b;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      const rlim_t old = rl.rlim_cur;
      rl.rlim_cur = rl.rlim_max;
      if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = old;
    }
    b.fd_limit = rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : rl.rlim_cur;
  } else {
    b.fd_limit = 1024;
  }
  const uint64_t conns = b.fd_limit > kReservedFds + kFdsPerConnection
                             ? (b.fd_limit - kReservedFds) / kFdsPerConnection
                             : 1;
  b.connections = static_cast<uint32_t>(std::min<uint64_t>(conns, 1u << 30));
  // One uid gets at most half of them, so another user can always connect.
  b.per_uid = std::max<uint32_t>(1, std::min(flag, b.connections / 2));
  if (b.per_uid < flag)
    LogInfo(
        "open-file limit {}: at most {} connections ({} fds each, {} reserved), {} per uid "
        "(--max-connections-per-uid {} lowered to fit)",
        b.fd_limit, b.connections, kFdsPerConnection, kReservedFds, b.per_uid, flag);
  return b;
}

}  // namespace ttmem::daemon
