// The forensic snapshot from inside the failing process (ttmem.h, "Out of memory"): a query
// connection of its own to ttmemd, two requests (the summary as text, then the JSON), the JSON
// written to a file. Off the hot path entirely; kept C++17-compatible and dependency-free.
#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/clock.h"
#include "base/socket.h"
#include "client/client_internal.h"
#include "protocol/frames.h"
#include "protocol/paths.h"
#include "ttmem/ttmem.h"

namespace ttmem::client {
namespace {

// `s` as a JSON string: printable ASCII kept (quote and backslash escaped), anything else '?',
// cut at TTMEM_MAX_REASON bytes.
std::string JsonString(const char* s) {
  std::string out = "\"";
  for (size_t i = 0; s != nullptr && s[i] != '\0' && i < TTMEM_MAX_REASON; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') out += '\\';
    out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  }
  return out + "\"";
}

void Put(char* summary, size_t len, const std::string& text) {
  if (summary == nullptr || len == 0) return;
  const size_t n = text.size() < len - 1 ? text.size() : len - 1;
  std::memcpy(summary, text.data(), n);
  summary[n] = '\0';
}

// One request and its reply on `fd`. False with *error.
bool Ask(int fd, proto::FrameReader& reader, const std::string& request, std::string* reply,
         std::string* error) {
  if (!proto::SendFrame(fd, proto::FrameType::kQuery, request.data(),
                        static_cast<uint32_t>(request.size()))) {
    *error = std::string("cannot send to ttmemd: ") + std::strerror(errno);
    return false;
  }
  proto::Frame f;
  if (!proto::RecvFrame(fd, &reader, &f, error)) {
    *error = "no answer from ttmemd: " + *error;
    return false;
  }
  reply->assign(f.payload.begin(), f.payload.end());
  if (f.header.type != static_cast<uint16_t>(proto::FrameType::kQueryReply)) {
    *error = "ttmemd answered with an unexpected frame";
    return false;
  }
  return true;
}

// A file written for this user: created new (O_EXCL: never an existing file, nor one a link
// points at), never through a symbolic link (O_NOFOLLOW), never waiting on a FIFO (O_NONBLOCK),
// readable by the user only (0600). EEXIST is returned to the caller in errno.
bool WriteFile(const char* path, const std::string& text, std::string* error) {
  const int fd =
      ::open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  size_t done = 0;
  while (fd >= 0 && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (fd < 0 || done < text.size() || ::close(fd) != 0) {
    *error = std::string("cannot write ") + path + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return false;
  }
  return true;
}

int Snapshot(const char* reason, const char* path, std::string* summary) {
  if (!ttmem_enabled()) {
    *summary = "tracking is off (TT_ALLOC_TRACKING_ENABLED=1 turns it on)";
    return -1;
  }
  const std::string socket = proto::DefaultSocketPath();
  base::UniqueFd fd = base::ConnectUnix(socket, /*nonblocking=*/false);
  base::PeerCred cred;
  if (!fd) {
    *summary = "cannot reach ttmemd at " + socket + ": " + std::strerror(errno);
    return -1;
  }
  if (!base::GetPeerCred(fd.get(), &cred) || (cred.uid != 0 && cred.uid != ::geteuid())) {
    *summary = "the process serving " + socket + " is neither root nor this user";
    return -1;
  }
  timeval timeout{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  const std::string base = "{\"cmd\":\"snapshot\",\"pid\":" + std::to_string(::getpid()) +
                           (reason != nullptr ? ",\"reason\":" + JsonString(reason) : "");
  proto::FrameReader reader(proto::kMaxReplyPayload);
  std::string text, json, error;
  if (!Ask(fd.get(), reader, base + ",\"format\":\"text\"}", &text, &error) ||
      (path != nullptr && !Ask(fd.get(), reader, base + "}", &json, &error))) {
    *summary = error;
    return -1;
  }
  if (text.compare(0, 1, "{") == 0) {  // {"error": ...}: the text reply is never JSON
    *summary = "ttmemd: " + text;
    return -1;
  }
  *summary = text;
  if (path != nullptr && !WriteFile(path, json + "\n", &error)) {
    *summary = error;
    return -1;
  }
  return 0;
}

}  // namespace
}  // namespace ttmem::client

TTMEM_EXPORT int ttmem_snapshot(const char* reason, const char* path, char* summary,
                                size_t summary_len) {
  std::string text;
  const int rc = ttmem::client::Snapshot(reason, path, &text);
  ttmem::client::Put(summary, summary_len, text);
  return rc;
}

TTMEM_EXPORT int ttmem_is_out_of_memory(const char* message) {
  if (message == nullptr) return 0;
  return std::strstr(message, "Out of Memory: Not enough space") != nullptr ||
         (std::strstr(message, "Statically allocated circular buffers") != nullptr &&
          (std::strstr(message, "clash with L1 buffers") != nullptr ||
           std::strstr(message, "beyond max L1 size") != nullptr));
}

namespace ttmem::client {
namespace {

// Where this user's OOM snapshots go: $TTMEM_SNAPSHOT_DIR (the user's choice, as given), else
// the user's runtime directory: $XDG_RUNTIME_DIR, or /tmp/ttmem-UID (made 0700), either only if
// it is a directory (not a link) this user owns that nobody else may enter — as the socket's.
bool SnapshotDir(std::string* dir, std::string* error) {
  const char* chosen = std::getenv("TTMEM_SNAPSHOT_DIR");
  if (chosen != nullptr && chosen[0] != '\0') {
    *dir = chosen;
    return true;
  }
  const uid_t uid = ::geteuid();
  auto owned = [uid](const std::string& d) {
    struct stat st {};
    return ::lstat(d.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid &&
           (st.st_mode & 077) == 0;
  };
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && xdg[0] == '/' && owned(xdg)) {
    *dir = xdg;
    return true;
  }
  *dir = "/tmp/ttmem-" + std::to_string(uid);
  ::mkdir(dir->c_str(), 0700);
  if (owned(*dir)) return true;
  *error =
      *dir + " is not a directory of this user's that only it may enter (set TTMEM_SNAPSHOT_DIR)";
  return false;
}

// 8 hex digits nobody can predict (a planted file cannot wait at the name).
std::string RandomSuffix() {
  uint32_t r = 0;
  if (::getrandom(&r, sizeof(r), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(r)))
    r = static_cast<uint32_t>(base::MonotonicNs() ^ (static_cast<uint64_t>(::getpid()) << 20));
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", r);
  return buf;
}

}  // namespace
}  // namespace ttmem::client

TTMEM_EXPORT int ttmem_oom_snapshot(const char* message) {
  if (!ttmem_is_out_of_memory(message)) return 0;
  const char* off = std::getenv("TTMEM_OOM_SNAPSHOT");
  if (off != nullptr && std::strcmp(off, "0") == 0) return 0;
  std::string dir, text, path;
  if (!ttmem::client::SnapshotDir(&dir, &text)) {
    std::fprintf(stderr, "ttmem: out of memory, but no snapshot: %s\n", text.c_str());
    return -1;
  }
  // ttmem-oom-PID-UNIXMS-RANDOM.json, created new; a name already taken gets another suffix.
  int rc = -1;
  for (int attempt = 0; attempt < 4 && rc != 0; ++attempt) {
    path = dir + "/ttmem-oom-" + std::to_string(::getpid()) + "-" +
           std::to_string(ttmem::base::UnixMs()) + "-" + ttmem::client::RandomSuffix() + ".json";
    rc = ttmem::client::Snapshot(message, path.c_str(), &text);
    if (rc != 0 && errno != EEXIST) break;
  }
  if (rc != 0) {
    std::fprintf(stderr, "ttmem: out of memory, but no snapshot: %s\n", text.c_str());
    return -1;
  }
  std::fprintf(stderr,
               "ttmem: out of memory; what this process held:\n%sttmem: snapshot saved to %s\n",
               text.c_str(), path.c_str());
  return 1;
}
