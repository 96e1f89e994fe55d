// status_json.h — the `status` snapshot as JSON (the query protocol's reply; docs/protocol.md).
#ifndef TTMEM_DAEMON_STATUS_JSON_H_
#define TTMEM_DAEMON_STATUS_JSON_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "ledger/ledger.h"

namespace ttmem::daemon {

struct ProcessMeta {
  std::string name;     // /proc/PID/comm, read by the daemon
  std::string cmdline;  // /proc/PID/cmdline, spaces for NULs
  uid_t uid = 0;
  std::string user;
  std::string tag;  // set by the client (untrusted, shown as given)
  uint64_t started_unix_ms = 0;
};

struct DaemonMeta {
  pid_t pid = 0;
  std::string socket;
  uint64_t uptime_ms = 0;
  uint64_t events_applied = 0;
  uint64_t clients_disconnected_for_errors = 0;
};

// Appends the status document (docs/protocol.md §3), serialised, to *out.
void BuildStatus(const ledger::Ledger& ledger, const std::map<pid_t, ProcessMeta>& meta,
                 const DaemonMeta& daemon, std::string* out);

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_STATUS_JSON_H_
