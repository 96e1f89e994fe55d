// socket.h — Unix stream sockets (framed messages: protocol/frames.h).
//
// All sockets are SOCK_CLOEXEC; sends use MSG_NOSIGNAL so a dead peer never raises SIGPIPE.
// Filesystem paths only: abstract-namespace names are refused.
#ifndef TTMEM_BASE_SOCKET_H_
#define TTMEM_BASE_SOCKET_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/unique_fd.h"

namespace ttmem::base {

// Connects to the Unix socket at `path`. Returns an invalid fd and sets errno on failure.
UniqueFd ConnectUnix(const std::string& path, bool nonblocking);

// Binds and listens on `path` (the caller removes stale files first). Returns an invalid fd and
// sets errno on failure.
UniqueFd ListenUnix(const std::string& path, int backlog);

// Writes all of buf (blocking fd) or fails. Retries EINTR. Returns false on error.
bool WriteAll(int fd, const void* buf, size_t len);

struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};
bool GetPeerCred(int fd, PeerCred* out);

}  // namespace ttmem::base

#endif  // TTMEM_BASE_SOCKET_H_
