// listener.h — the daemon's listening socket and the connections its file descriptors allow.
#ifndef TTMEM_DAEMON_LISTENER_H_
#define TTMEM_DAEMON_LISTENER_H_

#include <cstdint>
#include <string>

#include "base/unique_fd.h"

namespace ttmem::daemon {

// The socket systemd passed (socket activation: LISTEN_FDS=1 for our pid, fd 3), or none.
base::UniqueFd InheritedListener();

// Listens on `path`: its directory created if missing and refused when another uid (not root)
// owns it or others may write it without the sticky bit (whoever controls the directory controls
// the socket); refused when another daemon answers there; a stale socket file removed. `mode` 0:
// 0666 under /run/ttmem, else 0600. None, with *error saying what to do, when it cannot.
base::UniqueFd BindSocket(const std::string& path, uint32_t mode, std::string* error);

// The connection limits that fit the open-file limit (RLIMIT_NOFILE, raised to its hard limit):
// a few fds per connection, some kept for the daemon; one uid gets at most half, so that another
// user can always connect (`flag`, --max-connections-per-uid, is lowered to fit, and logged).
struct FdBudget {
  uint64_t fd_limit = 0;
  uint32_t connections = 0;  // all uids together
  uint32_t per_uid = 0;
};
FdBudget SizeToFds(uint32_t flag);

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_LISTENER_H_
