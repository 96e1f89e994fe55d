// frames.h — framed messages over a Unix stream socket (the layout: protocol/wire.h), with file
// descriptors passed alongside (SCM_RIGHTS). Sends use MSG_NOSIGNAL: a dead peer never raises
// SIGPIPE.
#ifndef TTMEM_PROTOCOL_FRAMES_H_
#define TTMEM_PROTOCOL_FRAMES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "protocol/wire.h"

namespace ttmem::proto {

using base::UniqueFd;

// Sends one frame; fds (at most kMaxFdsPerFrame; negative ones skipped) travel with the first
// byte (SCM_RIGHTS). Blocking fd.
inline constexpr size_t kMaxFdsPerFrame = 2;
[[nodiscard]] bool SendFrame(int fd, FrameType type, const void* payload, uint32_t len,
                             int pass_fd = -1, int pass_fd2 = -1);

struct Frame {
  FrameHeader header{};
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
[[nodiscard]] bool RecvFrame(int fd, uint32_t max_payload, Frame* out, std::string* error);
// The same with a reader kept for the connection (its buffer is reused between frames).
[[nodiscard]] bool RecvFrame(int fd, FrameReader* reader, Frame* out, std::string* error);

}  // namespace ttmem::proto

#endif  // TTMEM_PROTOCOL_FRAMES_H_
