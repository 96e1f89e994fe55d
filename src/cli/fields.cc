#include "cli/fields.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/text.h"
#include "protocol/mem_types.h"

namespace ttmem::cli {
namespace {

const char* const kDeviceScalars[] = {"id",        "arch",       "unique_id",
                                      "num_cores", "pcie_id",    "mmio_device",
                                      "board_id",  "board_type", "processes"};
const char* const kDeviceTypeFields[] = {"used_bytes", "total_bytes", "free_bytes", "used_percent",
                                         "buffers"};
const char* const kProcessScalars[] = {
    "pid", "name",    "user",           "uid",           "cmdline",
    "tag", "devices", "dropped_events", "unknown_frees", "duplicate_allocs"};
const char* const kProcessTypeFields[] = {"used_bytes", "buffers"};

std::string Quote(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string Opt(const std::optional<uint64_t>& v) {
  return v ? std::to_string(*v) : "";
}

int TypeOf(const std::string& key) {
  return proto::MemTypeFromKey(key).value_or(0);
}

// One row's context: a device (may be null) and a process with its usage on that device.
struct Row {
  const model::Device* device = nullptr;
  const model::Process* process = nullptr;
  const model::Memory* process_usage = nullptr;  // its memory on `device` (or over all)
};

std::string DeviceField(const model::Device& d, const std::string& f) {
  if (f == "id") return std::to_string(d.id);
  if (f == "arch") return d.arch.value_or("");
  if (f == "unique_id") return Opt(d.unique_id);
  if (f == "num_cores") return Opt(d.num_cores);
  if (f == "pcie_id") return Opt(d.pcie_id);
  if (f == "mmio_device") return Opt(d.mmio_device);
  if (f == "board_id") return Opt(d.board_id);
  if (f == "board_type") return d.board_type.value_or("");
  if (f == "processes") return std::to_string(d.processes.size());
  const auto dot = f.find('.');
  const model::Figures& m = d.memory[TypeOf(f.substr(0, dot))];
  const std::string what = f.substr(dot + 1);
  const uint64_t used = m.used_bytes.value_or(0);
  const bool known = m.total_bytes.has_value();
  const uint64_t total = m.total_bytes.value_or(0);
  if (what == "used_bytes") return Opt(m.used_bytes);
  if (what == "buffers") return Opt(m.buffers);
  if (what == "total_bytes") return known ? std::to_string(total) : "";
  if (what == "free_bytes") return known ? std::to_string(total > used ? total - used : 0) : "";
  // used_percent
  if (!known || total == 0) return "";
  return fmt::format("{:.1f}", 100.0 * static_cast<double>(used) / static_cast<double>(total));
}

std::string ProcessField(const Row& r, const std::string& f) {
  const model::Process& p = *r.process;
  if (f == "pid") return std::to_string(p.pid);
  if (f == "name") return p.name;
  if (f == "user") return p.user;
  if (f == "uid") return p.uid ? std::to_string(*p.uid) : "";
  if (f == "cmdline") return p.cmdline;
  if (f == "tag") return p.tag.value_or("");
  if (f == "devices") return fmt::format("{}", fmt::join(p.devices, " "));
  if (f == "dropped_events") return std::to_string(p.counters.dropped_events);
  if (f == "unknown_frees") return std::to_string(p.counters.unknown_frees);
  if (f == "duplicate_allocs") return std::to_string(p.counters.duplicate_allocs);
  if (r.process_usage == nullptr) return "0";
  const model::Memory& m = *r.process_usage;
  const auto dot = f.find('.');
  const std::string type = f.substr(0, dot), what = f.substr(dot + 1);
  if (type == "total") return std::to_string(model::UsedTotal(m));
  const model::Figures& x = m[TypeOf(type)];
  return Opt(what == "buffers" ? x.buffers : x.used_bytes);
}

// The rows: per device; per process (figures over its devices); or per (process, device).
std::vector<Row> Rows(const model::Status& status, bool per_process, bool per_device) {
  std::vector<Row> rows;
  if (!per_process) {
    for (const model::Device& d : status.devices) rows.push_back({&d, nullptr, nullptr});
    return rows;
  }
  if (!per_device) {
    // Process fields only: one row per process, its figures summed over its devices (of those
    // shown, with -d: a process on other devices only is left out).
    for (const model::Process& p : status.processes) {
      bool on_shown = p.devices.empty();
      for (uint32_t id : p.devices) on_shown = on_shown || status.FindDevice(id) != nullptr;
      if (on_shown) rows.push_back({nullptr, &p, &p.memory});
    }
    return rows;
  }
  std::map<pid_t, const model::Process*> by_pid;
  for (const model::Process& p : status.processes) by_pid[p.pid] = &p;
  std::map<pid_t, bool> listed;
  for (const model::Device& d : status.devices)
    for (const model::DeviceProcess& e : d.processes) {
      auto it = by_pid.find(e.pid);
      if (it == by_pid.end()) continue;
      rows.push_back({&d, it->second, &e.memory});
      listed[it->first] = true;
    }
  // Processes holding nothing on the devices shown: one row each, device fields empty. (With
  // -d, those on other devices only are left out.)
  for (const auto& [pid, p] : by_pid)
    if (!listed.count(pid) && p->devices.empty()) rows.push_back({nullptr, p, nullptr});
  return rows;
}

}  // namespace

std::vector<std::string> AllFields() {
  std::vector<std::string> out;
  for (const char* f : kDeviceScalars) out.push_back(fmt::format("device.{}", f));
  for (auto t : proto::kMemTypeKeys)
    for (const char* f : kDeviceTypeFields) out.push_back(fmt::format("device.{}.{}", t, f));
  for (const char* f : kProcessScalars) out.push_back(fmt::format("process.{}", f));
  for (auto t : proto::kMemTypeKeys)
    for (const char* f : kProcessTypeFields) out.push_back(fmt::format("process.{}.{}", t, f));
  out.push_back("process.total.used_bytes");
  return out;
}

std::vector<std::string> DefaultDeviceFields() {
  std::vector<std::string> out = {"device.id", "device.arch", "device.processes"};
  for (int t : proto::kShownMemTypes)
    for (auto f : {"used_bytes", "total_bytes"})
      out.push_back(fmt::format("device.{}.{}", proto::kMemTypeKeys[static_cast<size_t>(t)], f));
  return out;
}

bool ParseFields(const std::string& list, std::vector<std::string>* fields, std::string* error) {
  const std::vector<std::string> all = AllFields();
  fields->clear();
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    std::string f = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    f.erase(0, f.find_first_not_of(" \t"));
    f.erase(f.find_last_not_of(" \t") + 1);
    if (!f.empty()) {
      if (std::find(all.begin(), all.end(), f) == all.end()) {
        *error = fmt::format(
            "unknown field '{}' in --query (fields look like device.dram.used_bytes or "
            "process.pid; 'ttmem status --list-fields' lists them all)",
            f);
        return false;
      }
      fields->push_back(f);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (fields->empty()) {
    *error = "--query needs at least one field (e.g. --query device.id,device.dram.used_bytes)";
    return false;
  }
  return true;
}

std::string RenderCsv(const model::Status& status, const std::vector<std::string>& fields,
                      bool header) {
  const bool per_process = std::any_of(fields.begin(), fields.end(), [](const std::string& f) {
    return f.rfind("process.", 0) == 0;
  });
  const bool per_device = std::any_of(fields.begin(), fields.end(), [](const std::string& f) {
    return f.rfind("device.", 0) == 0;
  });
  const std::vector<Row> rows = Rows(status, per_process, per_device);
  std::string out;
  auto line = [&](auto cell) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i != 0) out += ',';
      out += Quote(base::TerminalSafe(cell(fields[i])));  // CSV lands on terminals too
    }
    out += '\n';
  };
  if (header) line([](const std::string& f) { return f; });
  for (const Row& r : rows)
    line([&](const std::string& f) -> std::string {
      if (f.rfind("device.", 0) == 0) return r.device ? DeviceField(*r.device, f.substr(7)) : "";
      return ProcessField(r, f.substr(8));
    });
  return out;
}

}  // namespace ttmem::cli
