// `ttmem status --source shm`: tt-metal's own shared-memory statistics, read without a daemon and
// shaped like the daemon's status document (docs/tt-metal.md), marked "source": "tt-metal-shm".
#include <pwd.h>
#include <sys/stat.h>

#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "protocol/mem_types.h"
#include "ttshm/tt_shm.h"

namespace ttmem::cli {
namespace {

using nlohmann::json;

std::string UserOf(uid_t uid) {
  passwd pw, *res = nullptr;
  char buf[1024];
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != nullptr) return pw.pw_name;
  return std::to_string(uid);
}

// All seven ttmem types; tt-metal counts five (no SYSTEM_MEMORY, no KERNEL): those are null.
json Memory(const std::array<uint64_t, ttshm::kNumTypes>& used) {
  json m = json::object();
  for (auto key : proto::kMemTypeKeys)
    m[std::string(key)] = {{"used_bytes", nullptr}, {"buffers", nullptr}, {"total_bytes", nullptr}};
  for (int t = 0; t < ttshm::kNumTypes; ++t)
    m[std::string(ttshm::FigureKey(t))]["used_bytes"] = used[t];
  return m;
}

}  // namespace

json ShmStatus(const std::string& dir, const std::string& proc_root,
               std::vector<std::string>* problems) {
  std::vector<ttshm::Region> regions = ttshm::Discover(dir, problems);
  json devices = json::array();
  std::map<pid_t, json> processes;
  for (ttshm::Region& r : regions) {
    ttshm::CheckLiveness(&r);
    json d;
    d["id"] = r.device_id;
    d["unique_id"] = r.chip_id;
    d["arch"] = nullptr;
    d["num_cores"] = nullptr;
    d["layout_version"] = r.version;
    d["region"] = r.path;
    d["memory"] = Memory(r.totals);
    json procs = json::array();
    std::vector<pid_t> slots;
    for (const ttshm::Process& p : r.processes) {
      slots.push_back(p.pid);
      procs.push_back({{"pid", p.pid},
                       {"name", p.name},
                       {"stale", !p.alive},
                       {"unverified", p.alive && !p.verified},
                       {"memory", Memory(p.used)}});
      json& e = processes[p.pid];
      if (e.is_null()) {
        e = {{"pid", p.pid},
             {"name", p.name},
             {"cmdline", ""},
             {"uid", nullptr},
             {"user", ""},
             {"tag", nullptr},
             {"devices", json::array()},
             {"stale", !p.alive},
             {"stale_reason", p.alive ? json(nullptr) : json(p.stale_reason)},
             {"unverified", p.alive && !p.verified},
             {"unverified_reason",
              p.alive && !p.verified ? json(p.unverified_reason) : json(nullptr)}};
        struct stat st;
        if (p.alive && ::stat(fmt::format("/proc/{}", p.pid).c_str(), &st) == 0) {
          e["uid"] = st.st_uid;
          e["user"] = UserOf(st.st_uid);
        }
        std::array<uint64_t, ttshm::kNumTypes> zero{};
        e["memory"] = Memory(zero);
        e["started_unix_ms"] = 0;
        e["capture_estimate"] = Memory(zero);
        e["counters"] = {{"unknown_frees", 0}, {"duplicate_allocs", 0}, {"dropped_events", 0}};
      }
      e["devices"].push_back(r.device_id);
      for (int t = 0; t < ttshm::kNumTypes; ++t) {
        auto& u = e["memory"][std::string(ttshm::FigureKey(t))]["used_bytes"];
        u = u.get<uint64_t>() + p.used[t];
      }
    }
    d["processes"] = std::move(procs);
    // Processes that hold the device open (the driver's list) but have no slot here.
    json silent = json::array();
    for (pid_t pid : ttshm::DriverPids(proc_root + "/driver/tenstorrent", r.device_id))
      if (std::find(slots.begin(), slots.end(), pid) == slots.end()) silent.push_back(pid);
    d["open_without_report"] = std::move(silent);
    devices.push_back(std::move(d));
  }
  json procs = json::array();
  for (auto& [pid, e] : processes) procs.push_back(std::move(e));
  return {{"version", 1},
          {"source", "tt-metal-shm"},
          {"shm_dir", dir},
          {"devices", std::move(devices)},
          {"processes", std::move(procs)},
          {"problems", *problems}};
}

}  // namespace ttmem::cli
