// `ttmem snapshot --pid PID [-d DEV] [-o FILE] [--json]`: what one process holds at this moment
// and why (each buffer's op), with the state of the devices it uses; a short summary on stdout.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "base/text.h"
#include "cli/commands.h"
#include "cli/query.h"
#include "model/requests.h"
#include "model/snapshot.h"

namespace ttmem::cli {
namespace {

// The daemon's summary, each line made terminal-safe again (it came over a socket).
std::string SafeLines(const std::string& text) {
  std::string out;
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    out += base::TerminalSafe(std::string_view(text).substr(at, nl - at)) + "\n";
    at = nl + 1;
  }
  return out;
}

// Never through a symbolic link (another user may have planted one at the name), never into a
// FIFO or a device: a regular file, created 0600 or truncated. False once it has said why not.
bool SaveSnapshot(const std::string& path, const std::string& text) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  struct stat st {};
  if (fd < 0 && errno == ELOOP) {
    PrintError(fmt::format(
        "{} is a symbolic link: not followed (give the path of the file it points to, or another "
        "name)",
        path));
    return false;
  }
  if (fd >= 0 && (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
    ::close(fd);
    PrintError(fmt::format("{} is not a regular file: not written (give another name)", path));
    return false;
  }
  size_t done = 0;
  const bool ok = fd >= 0 && ::ftruncate(fd, 0) == 0 && [&] {
    while (done < text.size()) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }();
  if (fd >= 0) ::close(fd);
  if (!ok)
    PrintError(fmt::format("cannot write {}: {} (check the directory exists and is writable)", path,
                           std::strerror(errno)));
  return ok;
}

}  // namespace

int RunSnapshot(const SnapshotOptions& o) {
  model::Request req("snapshot");
  req.Int("pid", o.pid);
  if (o.device >= 0) req.Int("device", o.device);
  QueryClient q(o.socket);
  std::string payload, error;
  if (!q.RequestRaw(req.Text(), &payload, &error)) {
    PrintError(error);
    return kExitUsage;
  }
  const model::Snapshot snapshot = model::ParseSnapshot(payload);
  if (snapshot.error == model::kSnapshotNotAnObject) {
    PrintError("ttmemd's snapshot reply is not JSON (is ttmemd older than this ttmem?)");
    return kExitFailure;
  }
  if (snapshot.error) {
    PrintError(fmt::format("snapshot of pid {}: {} ('ttmem status' lists the pids that report)",
                           o.pid, *snapshot.error));
    return kExitFailure;
  }
  const std::string text = model::Pretty(payload);
  if (!o.output.empty() && !SaveSnapshot(o.output, text)) return kExitFailure;
  const std::string out =
      o.json ? text : SafeLines(snapshot.summary.empty() ? "(no summary)\n" : snapshot.summary);
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (!o.json && o.output.empty())
    std::fputs("(-o FILE saves every buffer as JSON; --json prints it)\n", stdout);
  return kExitOk;
}

}  // namespace ttmem::cli
