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
#include "model/snapshot.h"

namespace ttmem::cli {
namespace {

using nlohmann::json;

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

}  // namespace

int RunSnapshot(const SnapshotOptions& o) {
  json req = {{"cmd", "snapshot"}, {"pid", o.pid}};
  if (o.device >= 0) req["device"] = o.device;
  QueryClient q(o.socket);
  std::string payload, error;
  if (!q.RequestRaw(req.dump(), &payload, &error)) {
    PrintError(error);
    return kExitUsage;
  }
  json reply = json::parse(payload, nullptr, false);
  if (!reply.is_object()) {
    PrintError("ttmemd's snapshot reply is not JSON (is ttmemd older than this ttmem?)");
    return kExitFailure;
  }
  const model::Snapshot snapshot = model::ReadSnapshot(reply);
  if (snapshot.error) {
    PrintError(fmt::format("snapshot of pid {}: {} ('ttmem status' lists the pids that report)",
                           o.pid, *snapshot.error));
    return kExitFailure;
  }
  const std::string text = reply.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  if (!o.output.empty()) {
    // Never through a symbolic link (another user may have planted one at the name), never into
    // a FIFO or a device: a regular file, created 0600 or truncated.
    const int fd =
        ::open(o.output.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    struct stat st {};
    if (fd < 0 && errno == ELOOP) {
      PrintError(
          fmt::format("{} is a symbolic link: not followed (give the path of the file it "
                      "points to, or another name)",
                      o.output));
      return kExitFailure;
    }
    if (fd >= 0 && (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
      ::close(fd);
      PrintError(
          fmt::format("{} is not a regular file: not written (give another name)", o.output));
      return kExitFailure;
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
    if (!ok) {
      PrintError(fmt::format("cannot write {}: {} (check the directory exists and is writable)",
                             o.output, std::strerror(errno)));
      return kExitFailure;
    }
  }
  const std::string out =
      o.json ? text : SafeLines(snapshot.summary.empty() ? "(no summary)\n" : snapshot.summary);
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (!o.json && o.output.empty())
    std::fputs("(-o FILE saves every buffer as JSON; --json prints it)\n", stdout);
  return kExitOk;
}

}  // namespace ttmem::cli
