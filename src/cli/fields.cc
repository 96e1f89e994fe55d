#include "cli/fields.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "base/text.h"
#include "protocol/mem_types.h"

namespace ttmem::cli {
namespace {

using nlohmann::json;

const char* const kDeviceScalars[] = {"id", "arch", "unique_id", "num_cores", "processes"};
const char* const kDeviceTypeFields[] = {"used_bytes", "total_bytes", "free_bytes", "used_percent",
                                         "buffers"};
const char* const kProcessScalars[] = {
    "pid", "name",    "user",           "uid",           "cmdline",
    "tag", "devices", "dropped_events", "unknown_frees", "duplicate_allocs"};
const char* const kProcessTypeFields[] = {"used_bytes", "buffers"};

std::string Scalar(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string Quote(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string DeviceList(const json& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : " ") + Scalar(id);
  return out;
}

// One row's context: a device (may be null) and a process with its usage on that device.
struct Row {
  const json* device = nullptr;
  const json* process = nullptr;        // entry of "processes"
  const json* process_usage = nullptr;  // its "memory" on `device`
};

std::string DeviceField(const json& d, const std::string& f) {
  if (f == "processes") return std::to_string(d["processes"].size());
  auto dot = f.find('.');
  if (dot == std::string::npos) return Scalar(d.value(f, json()));
  const json& m = d["memory"][f.substr(0, dot)];
  const std::string what = f.substr(dot + 1);
  const uint64_t used = m.value("used_bytes", uint64_t{0});
  const bool known = m.contains("total_bytes") && m["total_bytes"].is_number();
  const uint64_t total = known ? m["total_bytes"].get<uint64_t>() : 0;
  if (what == "used_bytes" || what == "buffers") return Scalar(m.value(what, json()));
  if (what == "total_bytes") return known ? std::to_string(total) : "";
  if (what == "free_bytes") return known ? std::to_string(total > used ? total - used : 0) : "";
  // used_percent
  if (!known || total == 0) return "";
  return fmt::format("{:.1f}", 100.0 * static_cast<double>(used) / static_cast<double>(total));
}

std::string ProcessField(const Row& r, const std::string& f) {
  const json& p = *r.process;
  if (f == "devices") return DeviceList(p["devices"]);
  if (f == "dropped_events" || f == "unknown_frees" || f == "duplicate_allocs")
    return Scalar(p["counters"].value(f, json()));
  auto dot = f.find('.');
  if (dot == std::string::npos) return Scalar(p.value(f, json()));
  if (r.process_usage == nullptr) return "0";
  const json& m = *r.process_usage;
  const std::string type = f.substr(0, dot), what = f.substr(dot + 1);
  if (type == "total") {
    uint64_t sum = 0;
    for (const auto& [k, v] : m.items()) sum += v.value("used_bytes", uint64_t{0});
    return std::to_string(sum);
  }
  return Scalar(m[type].value(what, json()));
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

std::string RenderCsv(const json& status, const std::vector<std::string>& fields, bool header) {
  const bool per_process = std::any_of(fields.begin(), fields.end(), [](const std::string& f) {
    return f.rfind("process.", 0) == 0;
  });
  const bool per_device = std::any_of(fields.begin(), fields.end(), [](const std::string& f) {
    return f.rfind("device.", 0) == 0;
  });
  std::vector<Row> rows;
  if (!per_process) {
    for (const auto& d : status["devices"]) rows.push_back({&d, nullptr, nullptr});
  } else if (!per_device) {
    // Process fields only: one row per process, its figures summed over its devices (of those
    // shown, with -d: a process on other devices only is left out).
    std::map<uint64_t, bool> shown;
    for (const auto& d : status["devices"]) shown[d.value("id", uint64_t{0})] = true;
    for (const auto& p : status["processes"]) {
      bool on_shown = p["devices"].empty();
      for (const auto& id : p["devices"])
        on_shown = on_shown || (id.is_number_unsigned() && shown.count(id.get<uint64_t>()) != 0);
      if (on_shown) rows.push_back({nullptr, &p, &p["memory"]});
    }
  } else {
    std::map<int64_t, const json*> by_pid;
    for (const auto& p : status["processes"]) by_pid[p.value("pid", int64_t{0})] = &p;
    std::map<int64_t, bool> listed;
    for (const auto& d : status["devices"])
      for (const auto& e : d["processes"]) {
        auto it = by_pid.find(e.value("pid", int64_t{0}));
        if (it == by_pid.end()) continue;
        rows.push_back({&d, it->second, &e["memory"]});
        listed[it->first] = true;
      }
    // Processes holding nothing on the devices shown: one row each, device fields empty. (With
    // -d, those on other devices only are left out.)
    for (const auto& [pid, p] : by_pid)
      if (!listed.count(pid) && (*p)["devices"].empty()) rows.push_back({nullptr, p, nullptr});
  }
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
