// notices.h — the event stream's JSON notices as typed values (issue 27; docs/protocol.md,
// "events"): the daemon's event stream writes them through here, `ttmem record` reads them
// through here. Binary event records are proto::EventRecord, not here.
#ifndef TTMEM_MODEL_NOTICES_H_
#define TTMEM_MODEL_NOTICES_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json_fwd.hpp>

#include "protocol/mem_types.h"

namespace ttmem::model {

struct StartNotice {  // the first frame of a stream
  uint64_t time_ns = 0;
  int64_t daemon_pid = 0;
  int64_t protocol_version = 0;
  int64_t pid_filter = -1;  // -1: every process
};
struct DeviceNotice {  // a device's announced facts
  uint32_t device = 0;
  std::string arch;
  std::optional<uint64_t> unique_id;  // nullopt: not announced
  uint64_t num_cores = 0;
  std::array<uint64_t, proto::kNumMemTypes> capacity_bytes{}, bank_count{}, bank_base{};
};
struct ProcessStartNotice {
  pid_t pid = 0;
  uint64_t time_ns = 0;
  bool existing = false;  // already running when the stream began
  std::string name, cmdline, user;
  uint64_t uid = 0;
  uint64_t started_unix_ms = 0;
  std::optional<int64_t> ns_pid;
  std::optional<std::string> container;          // believed (not claimed by a user)
  std::optional<std::string> container_claimed;  // a user's delegated cgroup names it
};
struct ProcessEndNotice {
  pid_t pid = 0;
  uint64_t time_ns = 0;
  uint64_t reclaimed_bytes = 0;
};
struct OpNameNotice {  // a process named an op id
  pid_t pid = 0;
  uint64_t id = 0;
  std::string name;
};
struct LostNotice {  // what this subscriber lost since the last one
  uint64_t count = 0, total = 0, notices_total = 0;
  uint64_t time_ns = 0;
};
struct FlushedNotice {  // everything queued before the events_flush request has been sent
  uint64_t lost_total = 0, notices_lost_total = 0;
  uint64_t time_ns = 0;
};
struct UnknownNotice {  // an "event" this reader does not know (a newer daemon's): ignored
  std::string event;
};
using Notice = std::variant<StartNotice, DeviceNotice, ProcessStartNotice, ProcessEndNotice,
                            OpNameNotice, LostNotice, FlushedNotice, UnknownNotice>;

// As the daemon sends it (compact JSON, invalid UTF-8 replaced).
std::string ToJsonText(const Notice& n);
// A notice the daemon sent; what is missing or mistyped reads as 0 or empty (a reply that is not
// an object, or has no "event", is an UnknownNotice).
Notice ReadNotice(const nlohmann::json& doc);
Notice ParseNotice(std::string_view text);

}  // namespace ttmem::model

#endif  // TTMEM_MODEL_NOTICES_H_
