// process_meta.h — what the daemon knows of a reporting process besides its memory: its names
// and user (read from /proc by the daemon, made valid UTF-8 there), its tag and op names (sent by
// the client, untrusted), its pid namespace and container.
#ifndef TTMEM_DAEMON_PROCESS_META_H_
#define TTMEM_DAEMON_PROCESS_META_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/container.h"

namespace ttmem::daemon {

struct ProcessMeta {
  std::string name;     // /proc/PID/comm, read by the daemon
  std::string cmdline;  // /proc/PID/cmdline, spaces for NULs
  uid_t uid = 0;
  std::string user;
  std::string tag;  // set by the client (untrusted, shown as given)
  uint64_t started_unix_ms = 0;
  uint64_t version = 0;  // non-zero, and new on every change (the reply's memo is keyed by it)
  // Its scope names by id - 1 (kOpName; "" where none came). Not in the status document: a new
  // name does not change `version`.
  std::vector<std::string> op_names;
  // The name of op `id`: "" for 0, "op#ID" while its name has not come.
  std::string OpName(uint32_t id) const;
  std::optional<pid_t> ns_pid;               // its pid in its own pid namespace, if it differs
  std::optional<base::Container> container;  // from /proc/PID/cgroup
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_PROCESS_META_H_
