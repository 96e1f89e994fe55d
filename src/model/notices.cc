#include "model/notices.h"

#include <nlohmann/json.hpp>

#include "model/tolerant_json.h"

namespace ttmem::model {
namespace {

using json = nlohmann::json;
using namespace tolerant;  // NOLINT: the model's readers

template <typename... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <typename... F>
Overloaded(F...) -> Overloaded<F...>;

json ByType(const std::array<uint64_t, proto::kNumMemTypes>& v) {
  json j = json::object();
  for (size_t t = 0; t < v.size(); ++t) j[std::string(proto::kMemTypeKeys[t])] = v[t];
  return j;
}

json ToJson(const Notice& n) {
  return std::visit(
      Overloaded{
          [](const StartNotice& s) -> json {
            return {{"event", "start"},
                    {"time_ns", s.time_ns},
                    {"daemon_pid", s.daemon_pid},
                    {"protocol_version", s.protocol_version},
                    {"pid_filter", s.pid_filter}};
          },
          [](const DeviceNotice& d) -> json {
            return {{"event", "device"},
                    {"device", d.device},
                    {"arch", d.arch},
                    {"unique_id", d.unique_id ? json(*d.unique_id) : json(nullptr)},
                    {"num_cores", d.num_cores},
                    {"capacity_bytes", ByType(d.capacity_bytes)},
                    {"bank_count", ByType(d.bank_count)},
                    {"bank_base", ByType(d.bank_base)}};
          },
          [](const ProcessStartNotice& p) -> json {
            json j = {{"event", "process_start"}, {"pid", p.pid},
                      {"time_ns", p.time_ns},     {"name", p.name},
                      {"cmdline", p.cmdline},     {"uid", p.uid},
                      {"user", p.user},           {"started_unix_ms", p.started_unix_ms}};
            if (p.existing) j.emplace("existing", true);
            if (p.ns_pid) j.emplace("ns_pid", *p.ns_pid);
            j.emplace("container", p.container ? json(*p.container) : json());
            if (p.container_claimed) j.emplace("container_claimed", *p.container_claimed);
            return j;
          },
          [](const ProcessEndNotice& p) -> json {
            return {{"event", "process_end"},
                    {"pid", p.pid},
                    {"time_ns", p.time_ns},
                    {"reclaimed_bytes", p.reclaimed_bytes}};
          },
          [](const OpNameNotice& o) -> json {
            return {{"event", "op_name"}, {"pid", o.pid}, {"id", o.id}, {"name", o.name}};
          },
          [](const LostNotice& l) -> json {
            return {{"event", "lost"},
                    {"count", l.count},
                    {"total", l.total},
                    {"notices_total", l.notices_total},
                    {"time_ns", l.time_ns}};
          },
          [](const FlushedNotice& f) -> json {
            return {{"event", "flushed"},
                    {"lost_total", f.lost_total},
                    {"notices_lost_total", f.notices_lost_total},
                    {"time_ns", f.time_ns}};
          },
          [](const UnknownNotice& u) -> json {
            return {{"event", u.event}};
          },
      },
      n);
}

// --- Tolerant reading ---------------------------------------------------------------------------

std::array<uint64_t, proto::kNumMemTypes> ByTypeOf(const json& j, const char* key) {
  std::array<uint64_t, proto::kNumMemTypes> out{};
  const json& v = Member(j, key);
  if (!v.is_object()) return out;
  for (size_t t = 0; t < out.size(); ++t)
    out[t] = U64(v, std::string(proto::kMemTypeKeys[t]).c_str());
  return out;
}

}  // namespace

std::string ToJsonText(const Notice& n) {
  return ToJson(n).dump(-1, ' ', false, json::error_handler_t::replace);
}

Notice ParseNotice(std::string_view text) {
  return ReadNotice(json::parse(text, nullptr, /*allow_exceptions=*/false));
}

Notice ReadNotice(const json& n) {
  if (!n.is_object()) return UnknownNotice{};
  const std::string event = Str(n, "event");
  if (event == "start")
    return StartNotice{U64(n, "time_ns"), I64(n, "daemon_pid"), I64(n, "protocol_version"),
                       I64(n, "pid_filter")};
  if (event == "device") {
    DeviceNotice d;
    d.device = static_cast<uint32_t>(U64(n, "device"));
    d.arch = Str(n, "arch");
    if (Member(n, "unique_id").is_number()) d.unique_id = U64(n, "unique_id");
    d.num_cores = U64(n, "num_cores");
    d.capacity_bytes = ByTypeOf(n, "capacity_bytes");
    d.bank_count = ByTypeOf(n, "bank_count");
    d.bank_base = ByTypeOf(n, "bank_base");
    return d;
  }
  if (event == "process_start") {
    ProcessStartNotice p;
    p.pid = static_cast<pid_t>(I64(n, "pid"));
    p.time_ns = U64(n, "time_ns");
    p.existing = Member(n, "existing").is_boolean() && Member(n, "existing").get<bool>();
    p.name = Str(n, "name");
    p.cmdline = Str(n, "cmdline");
    p.user = Str(n, "user");
    p.uid = U64(n, "uid");
    p.started_unix_ms = U64(n, "started_unix_ms");
    if (Member(n, "ns_pid").is_number_integer()) p.ns_pid = I64(n, "ns_pid");
    p.container = OptStr(n, "container");
    p.container_claimed = OptStr(n, "container_claimed");
    return p;
  }
  if (event == "process_end")
    return ProcessEndNotice{static_cast<pid_t>(I64(n, "pid")), U64(n, "time_ns"),
                            U64(n, "reclaimed_bytes")};
  if (event == "op_name")
    return OpNameNotice{static_cast<pid_t>(I64(n, "pid")), U64(n, "id"), Str(n, "name")};
  if (event == "lost")
    return LostNotice{U64(n, "count"), U64(n, "total"), U64(n, "notices_total"), U64(n, "time_ns")};
  if (event == "flushed")
    return FlushedNotice{U64(n, "lost_total"), U64(n, "notices_lost_total"), U64(n, "time_ns")};
  return UnknownNotice{event};
}

}  // namespace ttmem::model
