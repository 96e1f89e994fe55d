#include "cli/query.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "base/socket.h"
#include "model/requests.h"
#include "protocol/frames.h"
#include "protocol/wire.h"

namespace ttmem::cli {

bool QueryClient::Request(const std::string& request, std::string* payload, std::string* error) {
  return RequestRaw(request, payload, error) && model::CheckReply(*payload, error);
}

bool QueryClient::Connect(std::string* error) {
  if (fd_) return true;
  reader_ = proto::FrameReader(proto::kMaxReplyPayload);
  fd_ = base::ConnectUnix(path_, /*nonblocking=*/false);
  if (!fd_) {
    *error = fmt::format(
        "no ttmemd answering on {} ({}): start it with 'ttmemd --socket {}' or point "
        "--socket / TTMEM_SOCKET at the running daemon",
        path_, std::strerror(errno), path_);
    return false;
  }
  // Only root or this user may answer as ttmemd (as libttmem requires): a socket another user
  // squats on (a /tmp/ttmem-UID they made first) must not feed made-up figures.
  base::PeerCred cred;
  if (!base::GetPeerCred(fd_.get(), &cred) || (cred.uid != 0 && cred.uid != ::geteuid())) {
    fd_.reset();
    *error = fmt::format(
        "the process serving {} is neither root nor this user (uid {}): not trusted as ttmemd; "
        "point --socket / TTMEM_SOCKET at your daemon's socket",
        path_, cred.uid);
    return false;
  }
  timeval tv{5, 0};
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return true;
}

bool QueryClient::RequestRaw(const std::string& req, std::string* payload, std::string* error) {
  if (!Connect(error)) return false;
  std::string err;
  if (!proto::SendFrame(fd_.get(), proto::FrameType::kQuery, req.data(),
                        static_cast<uint32_t>(req.size())) ||
      !proto::RecvFrame(fd_.get(), &reader_, &frame_, &err)) {
    fd_.reset();
    *error = fmt::format("lost the connection to ttmemd on {} ({}): is the daemon still running?",
                         path_, err.empty() ? std::strerror(errno) : err);
    return false;
  }
  payload->assign(frame_.payload.begin(), frame_.payload.end());
  return true;
}

bool QueryClient::Send(const std::string& req, std::string* error) {
  if (!Connect(error)) return false;
  if (!proto::SendFrame(fd_.get(), proto::FrameType::kQuery, req.data(),
                        static_cast<uint32_t>(req.size()))) {
    fd_.reset();
    *error =
        fmt::format("lost the connection to ttmemd on {}: is the daemon still running?", path_);
    return false;
  }
  return true;
}

int QueryClient::Poll(std::string* out, int timeout_ms, std::string* error) {
  const proto::Frame* f = nullptr;
  int r = PollFrame(&f, timeout_ms, error);
  if (r != 1) return r;
  out->assign(f->payload.begin(), f->payload.end());
  return 1;
}

int QueryClient::PollFrame(const proto::Frame** out, int timeout_ms, std::string* error) {
  if (!fd_) {
    *error = "not connected to ttmemd";
    return -1;
  }
  auto lost = [&](const std::string& why) {
    fd_.reset();
    *error = fmt::format("lost the connection to ttmemd on {} ({})", path_, why);
    return -1;
  };
  for (;;) {
    proto::ReadResult r = reader_.Next(fd_.get(), &frame_);  // reads with MSG_DONTWAIT
    if (r == proto::ReadResult::kFrame) {
      *out = &frame_;
      return 1;
    }
    if (r == proto::ReadResult::kClosed) return lost("closed by the daemon");
    if (r != proto::ReadResult::kAgain) return lost(reader_.error());
    pollfd p{fd_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, timeout_ms);
    if (n == 0) return 0;
    if (n < 0 && errno != EINTR) return lost(std::strerror(errno));
    if (n < 0) return 0;  // a signal: let the caller look at its flags
    timeout_ms = 0;       // bytes arrived: read them, then return what is complete
  }
}

}  // namespace ttmem::cli
