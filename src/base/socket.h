// socket.h — Unix stream sockets and framed messages (see protocol/wire.h).
//
// All sockets are SOCK_CLOEXEC; sends use MSG_NOSIGNAL so a dead peer never raises SIGPIPE.
// Filesystem paths only: abstract-namespace names are refused.
#ifndef TTMEM_BASE_SOCKET_H_
#define TTMEM_BASE_SOCKET_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"
#include "protocol/wire.h"

namespace ttmem::base {

// Connects to the Unix socket at `path`. Returns an invalid fd and sets errno on failure.
UniqueFd ConnectUnix(const std::string& path, bool nonblocking);

// Binds and listens on `path` (the caller removes stale files first). Returns an invalid fd and
// sets errno on failure.
UniqueFd ListenUnix(const std::string& path, int backlog);

// Writes all of buf (blocking fd) or fails. Retries EINTR. Returns false on error.
bool WriteAll(int fd, const void* buf, size_t len);

// Sends one frame; fds (at most kMaxFdsPerFrame; negative ones skipped) travel with the first
// byte (SCM_RIGHTS). Blocking fd.
inline constexpr size_t kMaxFdsPerFrame = 2;
[[nodiscard]] bool SendFrame(int fd, proto::FrameType type, const void* payload, uint32_t len,
                             int pass_fd = -1, int pass_fd2 = -1);

struct Frame {
  proto::FrameHeader header{};
  std::vector<uint8_t> payload;
  UniqueFd passed_fd;   // the first fd that came with the frame
  UniqueFd passed_fd2;  // the second, if any
};

enum class ReadResult { kFrame, kAgain, kClosed, kError, kMalformed };

// Accumulates bytes from a stream socket and cuts them into frames, refusing frames with a bad
// magic, a bad version or a payload larger than max_payload. Bounded memory.
class FrameReader {
 public:
  explicit FrameReader(uint32_t max_payload) : max_payload_(max_payload) {}
  // Reads what is available (non-blocking fds return kAgain when drained) and returns the next
  // complete frame in *out. Passed fds are attached to the frame whose bytes carried them.
  ReadResult Next(int fd, Frame* out);
  const std::string& error() const { return error_; }

 private:
  ReadResult TryCut(Frame* out);
  uint32_t max_payload_;
  std::vector<uint8_t> buf_;
  std::vector<UniqueFd> fds_;  // received, not yet attached to a frame
  std::string error_;
};

// Receives one whole frame from a blocking fd (helper for clients). Returns false on error.
bool RecvFrame(int fd, uint32_t max_payload, Frame* out, std::string* error);
// The same with a reader kept for the connection (its buffer is reused between frames).
bool RecvFrame(int fd, FrameReader* reader, Frame* out, std::string* error);

struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};
bool GetPeerCred(int fd, PeerCred* out);

}  // namespace ttmem::base

#endif  // TTMEM_BASE_SOCKET_H_
