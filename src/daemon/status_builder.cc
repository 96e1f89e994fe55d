// The daemon's state as the status model: native processes from the ledger and their metadata,
// then what only tt-metal's statistics know (model/from_tt_shm.h), the driver's silent holders,
// counters and anomalies. Serialisation is the model's (model/status_json.cc).
#include "daemon/status_builder.h"

#include <unordered_map>

#include "model/from_tt_shm.h"
#include "protocol/mem_types.h"
#include "protocol/shm_abi.h"
#include "protocol/wire.h"

namespace ttmem::daemon {
namespace {

// Native devices by id: ids the daemon accepts are below proto::kMaxDevices (a flat table);
// any other (a ledger fed directly) goes to a map.
class ById {
 public:
  void Set(uint32_t id, size_t index) {
    if (id >= proto::kMaxDevices) {
      others_[id] = index;
      return;
    }
    if (id >= v_.size()) v_.resize(id + 1, 0);
    v_[id] = index;
  }
  size_t operator[](uint32_t id) const { return id < v_.size() ? v_[id] : others_.at(id); }

 private:
  std::vector<size_t> v_;
  std::map<uint32_t, size_t> others_;
};

// Sets every figure (total_bytes: unknown).
void Fill(model::Memory* m, const ledger::TypeUsage& u) {
  for (int t = 0; t < proto::kNumMemTypes; ++t) (*m)[t] = {u[t].bytes, u[t].buffers, std::nullopt};
}

model::Memory ToMemory(const ledger::TypeUsage& u) {
  model::Memory m{};
  Fill(&m, u);
  return m;
}

bool Any(const ledger::TypeUsage& u) {
  for (const ledger::Usage& x : u)
    if (x.buffers != 0) return true;
  return false;
}

void Add(ledger::TypeUsage& into, const ledger::TypeUsage& u) {
  for (int t = 0; t < proto::kNumMemTypes; ++t) {
    into[t].bytes += u[t].bytes;
    into[t].buffers += u[t].buffers;
  }
}

model::Device NativeDevice(uint32_t id, const ledger::Device& dev) {
  model::Device d;
  d.id = id;
  const ledger::DeviceInfo* info = dev.info ? &*dev.info : nullptr;
  if (info != nullptr && !info->arch.empty()) d.arch = info->arch;
  if (info != nullptr && info->unique_id_valid) d.unique_id = info->unique_id;
  if (info != nullptr && info->num_cores != 0) d.num_cores = info->num_cores;
  if (info != nullptr && info->topology) {
    const ledger::Topology& t = *info->topology;
    d.pcie_id = t.pcie_id;
    d.mmio_device = t.mmio_device;
    if (t.board_id != 0) d.board_id = t.board_id;
    if (!t.board_type.empty()) d.board_type = t.board_type;
  }
  d.memory = ToMemory(dev.usage);
  // total_bytes is null until a process announced the capacity for this type.
  for (int t = 0; t < proto::kNumMemTypes; ++t)
    if (info != nullptr && info->capacity_bytes[t] != 0)
      d.memory[t].total_bytes = info->capacity_bytes[t];
  d.capture_estimate = ToMemory(dev.captured);
  return d;
}

model::Process NativeProcess(pid_t pid, const ledger::Process& p, const ProcessMeta& pm) {
  model::Process out;
  out.pid = pid;
  out.name = pm.name;
  out.cmdline = pm.cmdline;
  if (pm.version != 0) out.uid = pm.uid;  // no metadata: unknown
  out.user = pm.user;
  if (!pm.tag.empty()) out.tag = pm.tag;
  out.started_unix_ms = pm.started_unix_ms;
  out.ns_pid = pm.ns_pid;
  if (pm.container && pm.container->claimed) {
    out.container_claimed = pm.container->id;
  } else if (pm.container) {
    out.container = pm.container->id;
    out.container_runtime = pm.container->runtime;
    if (!pm.container->pod.empty()) out.pod = pm.container->pod;
  }
  ledger::TypeUsage total{}, captured{};
  for (const auto& [dev_id, usage] : p.usage) {  // in device order
    Add(total, usage);
    if (Any(usage)) out.devices.push_back(dev_id);
  }
  for (const auto& [dev_id, usage] : p.captured) Add(captured, usage);
  out.memory = ToMemory(total);
  out.capture_estimate = ToMemory(captured);
  out.counters = {p.counters.unknown_frees, p.counters.duplicate_allocs, p.counters.dropped_events};
  out.revision = {p.version, pm.version};
  return out;
}

// Native processes: each under the devices it uses and in "processes", in pid order.
// A process `memo` already holds (written at this revision) gets entries with only its pid and
// revision: the writer copies their text. Entries are reused from the previous build where there
// are (`s`'s vectors are kept between replies): only changed processes' entries are written whole.
void AddNative(const ledger::Ledger& ledger, const std::map<pid_t, ProcessMeta>& meta,
               const model::JsonMemo* memo, ById& by_id, model::Status* s) {
  static const ProcessMeta kNoMeta{};
  std::vector<size_t> used(s->devices.size(), 0);  // per device: entries filled so far
  for (const auto& [pid, p] : ledger.processes())
    for (const auto& [dev_id, usage] : p.usage) used[by_id[dev_id]] += Any(usage) ? 1 : 0;
  for (size_t i = 0; i < used.size(); ++i) {
    s->devices[i].processes.reserve(used[i]);
    used[i] = 0;
  }
  s->processes.reserve(ledger.processes().size());
  size_t procs = 0;
  for (const auto& [pid, p] : ledger.processes()) {
    auto m = meta.find(pid);
    const ProcessMeta& pm = m != meta.end() ? m->second : kNoMeta;
    const model::Revision revision{p.version, pm.version};
    const bool known = memo != nullptr && memo->Holds(pid, revision);
    model::Process& mp =
        procs < s->processes.size() ? s->processes[procs] : s->processes.emplace_back();
    ++procs;
    if (known) {  // the rest of a reused entry is stale, and never read
      mp.pid = pid;
      mp.revision = revision;
    } else {
      mp = NativeProcess(pid, p, pm);
    }
    for (const auto& [dev_id, usage] : p.usage) {
      if (!Any(usage)) continue;
      const size_t i = by_id[dev_id];
      std::vector<model::DeviceProcess>& entries = s->devices[i].processes;
      model::DeviceProcess& e =
          used[i] < entries.size() ? entries[used[i]] : entries.emplace_back();
      ++used[i];
      // Every field is set (a reused entry holds another's): pid and revision; the rest only
      // when the writer will read it.
      e.pid = pid;
      e.revision = revision;
      if (known) continue;
      e.name = pm.name;
      e.source.reset();
      e.stale = e.unverified = false;
      Fill(&e.memory, usage);
    }
  }
  s->processes.resize(procs);
  for (size_t i = 0; i < used.size(); ++i) s->devices[i].processes.resize(used[i]);
}

// tt-metal's statistics: slots of processes that do not report natively go under the native
// device with the same chip id (and into its figures), or a device of their own.
void AddShm(const ledger::Ledger& ledger, const std::vector<ttshm::Region>& shm, ById& by_id,
            model::Status* s) {
  auto native_pid = [&](pid_t pid) { return ledger.processes().count(pid) != 0; };
  std::vector<model::Device> own;
  for (const ttshm::Region& r : shm) {
    const std::optional<uint32_t> native = NativeDeviceOfChip(ledger, r.chip_id);
    if (!native) {
      own.push_back(model::ShmDevice(r));  // every slot, natively reporting or not
      own.back().capture_estimate = model::Memory{};
      continue;
    }
    model::Device& d = s->devices[by_id[*native]];
    for (const ttshm::Process& p : r.processes) {
      if (native_pid(p.pid)) continue;  // reports natively: counted there
      d.processes.push_back(model::ShmDeviceProcess(p));
      model::AddMemory(&d.memory, model::ShmMemory(p.used));
    }
  }
  for (model::Device& d : own) s->devices.push_back(std::move(d));
  for (model::Process& p : model::ShmProcesses(shm, native_pid))
    s->processes.push_back(std::move(p));
}

// Processes that hold a device open (the driver's lists) but report nothing anywhere.
std::vector<model::DriverOpen> OpenWithoutReport(const ledger::Ledger& ledger,
                                                 const std::vector<ttshm::Region>* shm,
                                                 const DriverPidLists& driver) {
  std::vector<model::DriverOpen> out;
  for (const auto& [id, pids] : driver) {
    model::DriverOpen o{id, {}};
    for (pid_t pid : pids) {
      bool known = ledger.processes().count(pid) != 0;
      if (shm != nullptr)
        for (const ttshm::Region& r : *shm)
          for (const ttshm::Process& p : r.processes) known = known || p.pid == pid;
      if (!known) o.pids.push_back(pid);
    }
    if (!o.pids.empty()) out.push_back(std::move(o));
  }
  return out;
}

// Who holds each placed chip's PCIe device open, as the driver lists them (reporting or not).
void AddOpenBy(const DriverPidLists& driver, model::Status* s) {
  for (model::Device& d : s->devices) {
    if (!d.pcie_id) continue;
    auto it = driver.find(*d.pcie_id);
    if (it != driver.end() && !it->second.empty()) d.open_by = it->second;
  }
}

model::Counters CountersOf(const ledger::Ledger& ledger, const DaemonMeta& daemon) {
  const ledger::Counters c = ledger.counters();
  model::Counters k;
  k.unknown_frees = c.unknown_frees;
  k.duplicate_allocs = c.duplicate_allocs;
  k.dropped_events = c.dropped_events;
  k.live_buffers = ledger.live_buffers();
  k.events_applied = daemon.events_applied;
  k.clients_disconnected_for_errors = daemon.clients_disconnected_for_errors;
  k.device_info_conflicts = daemon.device_info_conflicts;
  k.failed_queries = daemon.failed_queries;
  k.coverage_anomalies = daemon.coverage_anomalies.size();
  return k;
}

}  // namespace

std::optional<uint32_t> NativeDeviceOfChip(const ledger::Ledger& ledger, uint64_t chip_id) {
  std::optional<uint32_t> native;
  for (const auto& [id, dev] : ledger.devices())
    if (dev.info && dev.info->unique_id_valid && dev.info->unique_id == chip_id) native = id;
  return native;
}

void BuildStatusInto(const ledger::Ledger& ledger, const std::map<pid_t, ProcessMeta>& meta,
                     const DaemonMeta& daemon, const std::vector<ttshm::Region>* shm,
                     const DriverPidLists* driver, const model::JsonMemo* unfilled,
                     model::Status* out) {
  model::Status& s = *out;
  // Each native device keeps the entry vector of the device that had its place before.
  std::vector<std::vector<model::DeviceProcess>> kept;
  for (model::Device& d : s.devices) kept.push_back(std::move(d.processes));
  std::vector<model::Process> processes = std::move(s.processes);
  s = model::Status{};
  s.processes = std::move(processes);
  s.daemon =
      model::DaemonInfo{daemon.pid, daemon.socket, daemon.uptime_ms, proto::kProtocolVersion};
  s.devices.reserve(ledger.devices().size() + (shm != nullptr ? shm->size() : 0));
  ById by_id;
  for (const auto& [id, dev] : ledger.devices()) {
    by_id.Set(id, s.devices.size());
    model::Device& d = s.devices.emplace_back(NativeDevice(id, dev));
    if (kept.size() >= s.devices.size()) d.processes = std::move(kept[s.devices.size() - 1]);
  }
  AddNative(ledger, meta, unfilled, by_id, &s);
  if (driver != nullptr) AddOpenBy(*driver, &s);
  if (shm != nullptr) AddShm(ledger, *shm, by_id, &s);
  s.open_without_report =
      OpenWithoutReport(ledger, shm, driver != nullptr ? *driver : DriverPidLists{});
  s.coverage_anomalies.emplace();
  for (const CoverageAnomaly& a : daemon.coverage_anomalies)
    s.coverage_anomalies->push_back({a.figures.pid, a.figures.device, a.figures.type,
                                     a.figures.native_bytes, a.figures.tt_metal_bytes,
                                     a.since_unix_ms});
  s.counters = CountersOf(ledger, daemon);
}

model::Status BuildStatus(const ledger::Ledger& ledger, const std::map<pid_t, ProcessMeta>& meta,
                          const DaemonMeta& daemon, const std::vector<ttshm::Region>* shm,
                          const DriverPidLists* driver) {
  model::Status s;
  BuildStatusInto(ledger, meta, daemon, shm, driver, nullptr, &s);
  return s;
}

void StatusReplies::Write(const ledger::Ledger& ledger, const std::map<pid_t, ProcessMeta>& meta,
                          const DaemonMeta& daemon, std::string* out,
                          const std::vector<ttshm::Region>* shm, const DriverPidLists* driver) {
  // The model is never seen outside: the entries the memo holds are left unfilled.
  BuildStatusInto(ledger, meta, daemon, shm, driver, &memo_, &scratch_);
  model::WriteJson(scratch_, out, &memo_);
}

}  // namespace ttmem::daemon
