#include "daemon/status_json.h"

#include <algorithm>

#include "protocol/mem_types.h"
#include "protocol/shm_abi.h"

namespace ttmem::daemon {
namespace {

using nlohmann::json;

json UsageJson(const ledger::TypeUsage& u, const ledger::DeviceInfo* info) {
  json m = json::object();
  for (int t = 0; t < ledger::kNumTypes; ++t) {
    json e = {{"used_bytes", u[t].bytes}, {"buffers", u[t].buffers}};
    // total_bytes is null until a process announced the device's capacity for this type.
    if (info != nullptr && info->capacity_bytes[t] != 0)
      e["total_bytes"] = info->capacity_bytes[t];
    else
      e["total_bytes"] = nullptr;
    m[std::string(proto::kMemTypeKeys[t])] = std::move(e);
  }
  return m;
}

json ProcessUsageJson(const ledger::TypeUsage& u) {
  json m = json::object();
  for (int t = 0; t < ledger::kNumTypes; ++t)
    m[std::string(proto::kMemTypeKeys[t])] = {{"used_bytes", u[t].bytes},
                                              {"buffers", u[t].buffers}};
  return m;
}

}  // namespace

json BuildStatus(const ledger::Ledger& ledger, const std::map<pid_t, ProcessMeta>& meta,
                 const DaemonMeta& daemon) {
  json out;
  out["version"] = 1;
  out["daemon"] = {{"pid", daemon.pid},
                   {"socket", daemon.socket},
                   {"uptime_ms", daemon.uptime_ms},
                   {"protocol_version", proto::kProtocolVersion}};

  json devices = json::array();
  for (const auto& [id, dev] : ledger.devices()) {
    const ledger::DeviceInfo* info = dev.info ? &*dev.info : nullptr;
    json d;
    d["id"] = id;
    d["arch"] = info != nullptr && !info->arch.empty() ? json(info->arch) : json(nullptr);
    d["unique_id"] =
        info != nullptr && info->unique_id != 0 ? json(info->unique_id) : json(nullptr);
    d["num_cores"] =
        info != nullptr && info->num_cores != 0 ? json(info->num_cores) : json(nullptr);
    d["memory"] = UsageJson(dev.usage, info);
    d["capture_estimate"] = ProcessUsageJson(dev.captured);
    json procs = json::array();
    for (const auto& [pid, p] : ledger.processes()) {
      auto it = p.usage.find(id);
      if (it == p.usage.end()) continue;
      bool any = false;
      for (const auto& u : it->second) any = any || u.buffers != 0;
      if (!any) continue;
      auto m = meta.find(pid);
      procs.push_back({{"pid", pid},
                       {"name", m != meta.end() ? m->second.name : ""},
                       {"memory", ProcessUsageJson(it->second)}});
    }
    d["processes"] = std::move(procs);
    devices.push_back(std::move(d));
  }
  out["devices"] = std::move(devices);

  json processes = json::array();
  for (const auto& [pid, p] : ledger.processes()) {
    auto m = meta.find(pid);
    ledger::TypeUsage total{};
    json devs = json::array();
    for (const auto& [dev_id, usage] : p.usage) {
      bool any = false;
      for (int t = 0; t < ledger::kNumTypes; ++t) {
        total[t].bytes += usage[t].bytes;
        total[t].buffers += usage[t].buffers;
        any = any || usage[t].buffers != 0;
      }
      if (any) devs.push_back(dev_id);
    }
    std::sort(devs.begin(), devs.end());
    json e;
    e["pid"] = pid;
    e["name"] = m != meta.end() ? m->second.name : "";
    e["cmdline"] = m != meta.end() ? m->second.cmdline : "";
    e["uid"] = m != meta.end() ? json(m->second.uid) : json(nullptr);
    e["user"] = m != meta.end() ? m->second.user : "";
    e["tag"] = m != meta.end() && !m->second.tag.empty() ? json(m->second.tag) : json(nullptr);
    e["started_unix_ms"] = m != meta.end() ? m->second.started_unix_ms : 0;
    e["devices"] = std::move(devs);
    e["memory"] = ProcessUsageJson(total);
    ledger::TypeUsage captured{};
    for (const auto& [dev_id, usage] : p.captured)
      for (int t = 0; t < ledger::kNumTypes; ++t) {
        captured[t].bytes += usage[t].bytes;
        captured[t].buffers += usage[t].buffers;
      }
    e["capture_estimate"] = ProcessUsageJson(captured);
    e["counters"] = {{"unknown_frees", p.counters.unknown_frees},
                     {"duplicate_allocs", p.counters.duplicate_allocs},
                     {"dropped_events", p.counters.dropped_events}};
    processes.push_back(std::move(e));
  }
  out["processes"] = std::move(processes);

  const ledger::Counters c = ledger.counters();
  out["counters"] = {{"unknown_frees", c.unknown_frees},
                     {"duplicate_allocs", c.duplicate_allocs},
                     {"dropped_events", c.dropped_events},
                     {"live_buffers", ledger.live_buffers()},
                     {"events_applied", daemon.events_applied},
                     {"clients_disconnected_for_errors", daemon.clients_disconnected_for_errors}};
  return out;
}

}  // namespace ttmem::daemon
