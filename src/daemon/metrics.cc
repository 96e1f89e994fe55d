#include "daemon/metrics.h"

#include <array>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include "protocol/mem_types.h"

namespace ttmem::daemon {

class SnapshotCollectable : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return families_;
  }
  void Set(std::vector<prometheus::MetricFamily> f) {
    std::lock_guard<std::mutex> lock(mu_);
    families_ = std::move(f);
  }

 private:
  mutable std::mutex mu_;
  std::vector<prometheus::MetricFamily> families_;
};

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void Add(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

std::vector<ClientMetric::Label> DeviceType(const std::string& dev, int type) {
  return {{"device", dev}, {"type", std::string(proto::kMemTypeKeys[static_cast<size_t>(type)])}};
}

// Figures the source does not count (null) are left out, as are unknown capacities.
void AddMemory(MetricFamily& used, MetricFamily* total, MetricFamily* buffers,
               const model::Memory& m, const std::string& dev) {
  for (int t = 0; t < proto::kNumMemTypes; ++t) {
    const model::Figures& f = m[t];
    if (f.used_bytes) Add(used, DeviceType(dev, t), static_cast<double>(*f.used_bytes));
    if (total != nullptr && f.total_bytes.value_or(0) > 0)
      Add(*total, DeviceType(dev, t), static_cast<double>(*f.total_bytes));
    if (buffers != nullptr && f.buffers)
      Add(*buffers, DeviceType(dev, t), static_cast<double>(*f.buffers));
  }
}

}  // namespace

MetricsExporter::MetricsExporter() : snapshot_(std::make_shared<SnapshotCollectable>()) {}
MetricsExporter::~MetricsExporter() = default;

bool MetricsExporter::Start(const std::string& listen, std::string* error) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size() ||
      listen.find_first_not_of("0123456789", colon + 1) != std::string::npos) {
    *error = fmt::format(
        "--metrics-listen {}: expected ADDR:PORT, e.g. 127.0.0.1:9464 (loopback only) or "
        ":9464 (all addresses)",
        listen);
    return false;
  }
  // civetweb: "PORT" for all addresses, "ADDR:PORT" ("[::1]:PORT" for IPv6) for one.
  const std::string bind = colon == 0 ? listen.substr(1) : listen;
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(bind, 1);
  } catch (const std::exception& e) {
    *error = fmt::format("--metrics-listen {}: cannot listen there ({}): is the port in use?",
                         listen, e.what());
    return false;
  }
  exposer_->RegisterCollectable(snapshot_);
  return true;
}

int MetricsExporter::port() const {
  if (!exposer_) return 0;
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

namespace {

// The families made from the devices: their memory, capture estimates, each process's share and
// what stale tt-metal slots hold.
struct DeviceFamilies {
  MetricFamily used =
      Family("ttmem_device_memory_used_bytes",
             "Device memory in use, by device and memory type (all processes).", MetricType::Gauge);
  MetricFamily total = Family("ttmem_device_memory_total_bytes",
                              "Device memory capacity, by device and memory type (as announced).",
                              MetricType::Gauge);
  MetricFamily buffers =
      Family("ttmem_device_buffers", "Live buffers, by device and memory type.", MetricType::Gauge);
  MetricFamily capture =
      Family("ttmem_device_capture_estimate_bytes",
             "Graph-capture estimates (hooked allocations, no device memory).", MetricType::Gauge);
  MetricFamily proc =
      Family("ttmem_process_memory_used_bytes",
             "Device memory a process holds, by device and memory type.", MetricType::Gauge);
  MetricFamily stale = Family("ttmem_stale_memory_bytes",
                              "Device memory tt-metal's own statistics attribute to processes "
                              "that no longer exist (stale slots), by device and memory type.",
                              MetricType::Gauge);
};

struct Who {
  std::string comm, user, container;
};

// One device's processes: their shares, and what stale slots hold (every type tt-metal counts, 0
// included, on a device where any stale slot is; absent elsewhere: nothing of tt-metal's is
// known there).
void AddDeviceProcesses(const model::Device& d, const std::string& dev,
                        const std::map<pid_t, Who>& who, DeviceFamilies& f) {
  std::array<uint64_t, proto::kNumMemTypes> held_by_dead{};
  bool any_dead = false;
  static const Who kNobody;
  for (const model::DeviceProcess& p : d.processes) {
    if (p.stale) {
      any_dead = true;
      for (int t = 0; t < proto::kNumMemTypes; ++t)
        held_by_dead[t] += p.memory[t].used_bytes.value_or(0);
    }
    auto it = who.find(p.pid);
    const Who& w = it == who.end() ? kNobody : it->second;
    for (int t = 0; t < proto::kNumMemTypes; ++t)
      if (p.memory[t].used_bytes) {
        std::vector<ClientMetric::Label> labels = DeviceType(dev, t);
        labels.push_back({"pid", std::to_string(p.pid)});
        labels.push_back({"comm", w.comm.empty() ? p.name : w.comm});
        labels.push_back({"user", w.user});
        labels.push_back({"container", w.container});  // "" outside any container
        Add(f.proc, std::move(labels), static_cast<double>(*p.memory[t].used_bytes));
      }
  }
  if (any_dead)
    for (int t : proto::kShmFigureTypes)
      Add(f.stale, DeviceType(dev, t), static_cast<double>(held_by_dead[t]));
}

DeviceFamilies DeviceMetrics(const model::Status& status) {
  DeviceFamilies f;
  std::map<pid_t, Who> who;
  for (const model::Process& p : status.processes)
    who[p.pid] = {p.name, p.user, p.container.value_or("")};
  for (const model::Device& d : status.devices) {
    const std::string dev = std::to_string(d.id);
    AddMemory(f.used, &f.total, &f.buffers, d.memory, dev);
    if (d.capture_estimate) AddMemory(f.capture, nullptr, nullptr, *d.capture_estimate, dev);
    AddDeviceProcesses(d, dev, who, f);
  }
  return f;
}

// The daemon's counters, in the order /metrics has always listed them (after the devices').
std::vector<MetricFamily> CounterMetrics(const model::Status& status) {
  auto procs = Family("ttmem_processes", "Processes reporting to ttmemd.", MetricType::Gauge);
  auto events = Family("ttmem_events_total", "Allocation and free events applied by ttmemd.",
                       MetricType::Counter);
  auto dropped =
      Family("ttmem_events_dropped_total",
             "Events off the fast path: overflowed into the resync log (totals exact) plus "
             "refused for bad arguments (lost).",
             MetricType::Counter);
  auto anomalies = Family("ttmem_anomalies_total",
                          "Reports that did not add up: frees of unknown buffers, duplicate "
                          "allocations.",
                          MetricType::Counter);
  auto disconnected = Family("ttmem_clients_disconnected_for_errors_total",
                             "Clients disconnected for malformed reports.", MetricType::Counter);
  auto conflicts = Family("ttmem_device_info_conflicts_total",
                          "Device announcements refused: another user's live announcement stands.",
                          MetricType::Counter);
  auto failed =
      Family("ttmem_failed_queries_total",
             "Queries answered with an error because answering them failed.", MetricType::Counter);
  Add(procs, {}, static_cast<double>(status.processes.size()));
  const model::Counters c = status.counters.value_or(model::Counters{});
  Add(events, {}, static_cast<double>(c.events_applied));
  Add(dropped, {}, static_cast<double>(c.dropped_events));
  Add(anomalies, {{"kind", "unknown_free"}}, static_cast<double>(c.unknown_frees));
  Add(anomalies, {{"kind", "duplicate_alloc"}}, static_cast<double>(c.duplicate_allocs));
  // Lasting differences between libttmem's and tt-metal's own figures (docs/tt-metal.md).
  Add(anomalies, {{"kind", "coverage"}}, static_cast<double>(c.coverage_anomalies));
  Add(disconnected, {}, static_cast<double>(c.clients_disconnected_for_errors));
  Add(conflicts, {}, static_cast<double>(c.device_info_conflicts));
  Add(failed, {}, static_cast<double>(c.failed_queries));
  return {std::move(procs),        std::move(events),    std::move(dropped), std::move(anomalies),
          std::move(disconnected), std::move(conflicts), std::move(failed)};
}

}  // namespace

void MetricsExporter::Update(
    const model::Status& status,
    const std::map<std::pair<uint32_t, std::string>, uint64_t>& largest_free) {
  DeviceFamilies d = DeviceMetrics(status);
  auto free_block = Family("ttmem_device_largest_free_block_bytes",
                           "Largest free block of one bank, by device and memory type "
                           "(interleaved types with announced bank geometry).",
                           MetricType::Gauge);
  for (const auto& [k, v] : largest_free)
    Add(free_block, {{"device", std::to_string(k.first)}, {"type", k.second}},
        static_cast<double>(v));
  auto coverage = Family("ttmem_coverage_anomalies",
                         "Process/device/type figures where libttmem and tt-metal's statistics "
                         "disagree lastingly now.",
                         MetricType::Gauge);
  Add(coverage, {},
      static_cast<double>(status.coverage_anomalies ? status.coverage_anomalies->size() : 0));
  std::vector<MetricFamily> all;
  for (MetricFamily* f : {&d.used, &d.total, &d.buffers, &d.capture, &d.proc, &free_block})
    all.push_back(std::move(*f));
  for (MetricFamily& f : CounterMetrics(status)) all.push_back(std::move(f));
  all.push_back(std::move(d.stale));
  all.push_back(std::move(coverage));
  snapshot_->Set(std::move(all));
}

}  // namespace ttmem::daemon
