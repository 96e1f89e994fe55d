#include "protocol/frames.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/socket.h"

namespace ttmem::proto {

bool SendFrame(int fd, FrameType type, const void* payload, uint32_t len, int pass_fd,
               int pass_fd2) {
  FrameHeader h{kFrameMagic, kWireVersion, static_cast<uint16_t>(type), len, 0};
  int fds[kMaxFdsPerFrame];
  size_t nfds = 0;
  for (int f : {pass_fd, pass_fd2})
    if (f >= 0) fds[nfds++] = f;
  if (nfds == 0) {
    if (!base::WriteAll(fd, &h, sizeof(h))) return false;
    return len == 0 || base::WriteAll(fd, payload, len);
  }
  // The fd travels with the header bytes.
  iovec iov{&h, sizeof(h)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerFrame)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
  std::memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
  ssize_t n;
  do {
    n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  if (static_cast<size_t>(n) < sizeof(h) &&
      !base::WriteAll(fd, reinterpret_cast<char*>(&h) + n, sizeof(h) - static_cast<size_t>(n)))
    return false;
  return len == 0 || base::WriteAll(fd, payload, len);
}

ReadResult FrameReader::TryCut(Frame* out) {
  if (buf_.size() < sizeof(FrameHeader)) return ReadResult::kAgain;
  FrameHeader h;
  std::memcpy(&h, buf_.data(), sizeof(h));
  if (h.magic != kFrameMagic) {
    error_ = "bad frame magic";
    return ReadResult::kMalformed;
  }
  if (h.version != kWireVersion) {
    error_ = "unsupported wire version " + std::to_string(h.version);
    return ReadResult::kMalformed;
  }
  if (h.length > max_payload_) {
    error_ = "frame payload of " + std::to_string(h.length) + " bytes exceeds the limit of " +
             std::to_string(max_payload_);
    return ReadResult::kMalformed;
  }
  size_t total = sizeof(h) + h.length;
  if (buf_.size() < total) return ReadResult::kAgain;
  out->header = h;
  out->payload.assign(buf_.begin() + sizeof(h), buf_.begin() + static_cast<ptrdiff_t>(total));
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(total));
  // Fds travel with a frame's first bytes, and a read stops after the bytes that carried them, so
  // the fds received so far belong to the frame being cut (at most two; more were closed).
  out->passed_fd.reset();
  out->passed_fd2.reset();
  if (!fds_.empty()) out->passed_fd = std::move(fds_[0]);
  if (fds_.size() > 1) out->passed_fd2 = std::move(fds_[1]);
  fds_.clear();
  return ReadResult::kFrame;
}

ReadResult FrameReader::Next(int fd, Frame* out) {
  for (;;) {
    ReadResult r = TryCut(out);
    if (r != ReadResult::kAgain) return r;
    // Read 64 KiB, or at once the rest of a large frame whose (validated) header is here.
    size_t want = 64 * 1024;
    if (buf_.size() >= sizeof(FrameHeader)) {
      FrameHeader h;
      std::memcpy(&h, buf_.data(), sizeof(h));
      want = std::max(want, sizeof(h) + h.length - buf_.size());
    }
    size_t old = buf_.size();
    buf_.resize(old + want);
    iovec iov{buf_.data() + old, want};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      buf_.resize(old);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return ReadResult::kAgain;
      error_ = std::strerror(errno);
      return ReadResult::kError;
    }
    buf_.resize(old + static_cast<size_t>(n));
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
        size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int passed;
          std::memcpy(&passed, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
          UniqueFd owned(passed);
          // More fds than any frame may carry: hostile; they close here.
          if (fds_.size() < kMaxFdsPerFrame) fds_.push_back(std::move(owned));
        }
      }
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0) {
      error_ = "too many file descriptors passed";
      return ReadResult::kMalformed;
    }
    if (n == 0) {
      r = TryCut(out);
      return r == ReadResult::kAgain ? ReadResult::kClosed : r;
    }
  }
}

bool RecvFrame(int fd, uint32_t max_payload, Frame* out, std::string* error) {
  FrameReader reader(max_payload);
  return RecvFrame(fd, &reader, out, error);
}

bool RecvFrame(int fd, FrameReader* reader_ptr, Frame* out, std::string* error) {
  FrameReader& reader = *reader_ptr;
  for (;;) {
    ReadResult r = reader.Next(fd, out);
    switch (r) {
      case ReadResult::kFrame:
        return true;
      case ReadResult::kAgain: {
        // Blocking wait for more bytes.
        char probe;
        ssize_t n = ::recv(fd, &probe, 1, MSG_PEEK);
        if (n <= 0) {
          if (n < 0 && errno == EINTR) continue;
          if (error) *error = n == 0 ? "connection closed by the peer" : std::strerror(errno);
          return false;
        }
        continue;
      }
      case ReadResult::kClosed:
        if (error) *error = "connection closed by the peer";
        return false;
      default:
        if (error) *error = reader.error();
        return false;
    }
  }
}

}  // namespace ttmem::proto
